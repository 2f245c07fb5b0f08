/* A UDP echo server for the published-port tests: busybox has none. */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
int main(int argc, char **argv) {
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET; a.sin_port = htons(atoi(argv[1]));
    if (bind(s, (struct sockaddr *)&a, sizeof a) < 0) return 1;
    for (;;) {
        char buf[2048]; struct sockaddr_in p; socklen_t pl = sizeof p;
        int n = recvfrom(s, buf, sizeof buf, 0, (struct sockaddr *)&p, &pl);
        if (n < 0) continue;
        char out[2100] = "echo:"; memcpy(out + 5, buf, n);
        sendto(s, out, n + 5, 0, (struct sockaddr *)&p, pl);
    }
}
