/*
 * hold-monitor: the native idle monitor of a detached container.
 *
 * A detached container's monitor spends almost all its life waiting.  The
 * Python light monitor (hold/runtime/_light.py) does that wait in a minimal
 * interpreter, which alone keeps ~2.7 MB of private memory per container.
 * This program does exactly the same idle work in a few pages, and hands
 * over to Python (monitor.resume_after_exit, through _light.main) once the
 * container has exited, when recording the exit, restarting or --rm
 * cleanup need the real code.  The Python monitor exec()s this program in
 * place of `python -S -I`, so the PID (the container's parent, the
 * subreaper, the pid in monitor.pid) never changes.
 *
 * Arguments, as _light.main takes them, then "--" and the Python command
 * that runs _light.main (interpreter, flags, -c code, package parent):
 *
 *   hold-monitor cid=ID runroot=DIR pid=PID log=PATH proxy=PID
 *                outputs=FD:stream,FD:stream held=FD,FD  -- PYTHON ARGS...
 *
 * What it does, matching _light.pump line for line (the tests compare the
 * two monitors' logs byte for byte, timestamps aside):
 *   - names itself "hold-monitor" (ps, top, `hold system check`);
 *   - watches the container through a pidfd (a waitpid poll where the
 *     kernel has no pidfd_open);
 *   - appends one Docker json-file line per line of output: the bytes are
 *     decoded as UTF-8 with each maximal invalid subpart replaced by U+FFFD
 *     (Python's errors="replace"), and escaped as _light.log_entry does;
 *     all lines of one read share one timestamp; a line without its newline
 *     waits for the rest, or is logged as it is when its stream ends;
 *   - after the container has exited, drains its outputs for up to 2 s of
 *     silence, stops the port proxy, and exec()s PYTHON ARGS cid= runroot=
 *     exited=CODE, which records the exit and does what follows.
 * The held= fds (the -d -i stdin pipe's write end) are left open, as the
 * Python monitor leaves them, so the container never sees EOF on stdin.
 *
 * If its arguments make no sense it becomes the Python light monitor
 * instead (exec PYTHON ARGS with its own arguments): a container must never
 * be left without a monitor.  Signal dispositions are inherited from the
 * Python monitor (SIGINT/TERM/HUP/QUIT ignored, SIGCHLD default) and kept.
 *
 * Memory: no stdio, no malloc while idle; two static 64 KiB buffers (read
 * and log output) whose pages are only touched once output flows; a line
 * longer than one read is kept in a heap buffer until its newline comes.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

#define MAX_OUTPUTS 8
#define READ_SIZE 65536         /* the Python monitor's os.read size */
#define OUT_SIZE 65536
#define DRAIN_MS 2000           /* _light.DRAIN_SECONDS */
#define WAITPID_POLL_MS 250     /* only without pidfd_open */
#define KEEP_PARTIAL 4096       /* a partial-line buffer above this is freed when emptied */
#define MAX_ENTRY 16384         /* _light.MAX_ENTRY: Docker's longest json-file entry */
#define TIME_LEN 30             /* 2006-01-02T15:04:05.123456789Z */

struct output {
    int fd;
    const char *stream;
    size_t stream_len;
    char *partial;              /* a line still waiting for its newline */
    size_t len, cap;
};

static struct output outputs[MAX_OUTPUTS];
static int n_outputs;
static int log_fd = -1;
static char read_buf[READ_SIZE];
static char out_buf[OUT_SIZE];
static size_t out_len;

/* -- writing the log ---------------------------------------------------- */

static void write_all(const char *data, size_t len)
{
    /* A log that cannot be written (disk full) loses lines, never the
     * monitor: the exit must still be recorded. */
    while (len > 0 && log_fd >= 0) {
        ssize_t n = write(log_fd, data, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return;
        }
        data += n;
        len -= (size_t)n;
    }
}

static void flush_out(void)
{
    write_all(out_buf, out_len);
    out_len = 0;
}

/* Civil date from days since 1970-01-01 (proleptic Gregorian), so that no
 * time zone machinery (which may read /etc/localtime and allocate) runs. */
static void civil_from_days(long days, int *year, int *month, int *day)
{
    long z = days + 719468;
    long era = (z >= 0 ? z : z - 146096) / 146097;
    long doe = z - era * 146097;
    long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    long doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    long mp = (5 * doy + 2) / 153;
    *day = (int)(doy - (153 * mp + 2) / 5 + 1);
    *month = (int)(mp < 10 ? mp + 3 : mp - 9);
    *year = (int)(yoe + era * 400 + (*month <= 2));
}

static char *put_digits(char *p, long value, int width)
{
    for (int i = width - 1; i >= 0; i--) {
        p[i] = (char)('0' + value % 10);
        value /= 10;
    }
    return p + width;
}

/* RFC 3339 with nanoseconds in UTC, as _light.rfc3339_nano writes it. */
static void rfc3339_nano(char out[TIME_LEN])
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    long days = (long)(ts.tv_sec / 86400), secs = (long)(ts.tv_sec % 86400);
    if (secs < 0) {
        secs += 86400;
        days -= 1;
    }
    int year, month, day;
    civil_from_days(days, &year, &month, &day);
    char *p = out;
    p = put_digits(p, year, 4);
    *p++ = '-';
    p = put_digits(p, month, 2);
    *p++ = '-';
    p = put_digits(p, day, 2);
    *p++ = 'T';
    p = put_digits(p, secs / 3600, 2);
    *p++ = ':';
    p = put_digits(p, secs / 60 % 60, 2);
    *p++ = ':';
    p = put_digits(p, secs % 60, 2);
    *p++ = '.';
    p = put_digits(p, ts.tv_nsec, 9);
    *p = 'Z';
}

/* Length of the well-formed UTF-8 sequence at s, or 0 when it is not one;
 * then *bad is the length of its maximal invalid subpart (at least 1),
 * which Python's decoder replaces by a single U+FFFD. */
static size_t utf8_sequence(const unsigned char *s, size_t n, size_t *bad)
{
    unsigned char c = s[0], lo = 0x80, hi = 0xBF;
    size_t need;
    if (c < 0x80)
        return 1;
    if (c < 0xC2 || c > 0xF4) {
        *bad = 1;
        return 0;
    }
    if (c < 0xE0) {
        need = 2;
    } else if (c < 0xF0) {
        need = 3;
        if (c == 0xE0)
            lo = 0xA0;          /* no overlong forms */
        else if (c == 0xED)
            hi = 0x9F;          /* no surrogates */
    } else {
        need = 4;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F;          /* nothing above U+10FFFF */
    }
    for (size_t i = 1; i < need; i++) {
        unsigned char min = i == 1 ? lo : 0x80, max = i == 1 ? hi : 0xBF;
        if (i >= n || s[i] < min || s[i] > max) {
            *bad = i;
            return 0;
        }
    }
    return need;
}

static const char hex_digits[] = "0123456789abcdef";

/* Escape data as _light.log_entry does: JSON's short escapes, \u00XX for
 * the other control characters, everything else as (repaired) UTF-8.
 * Writes at most 6 bytes per input byte; returns the end. */
static char *escape(char *p, const char *data, size_t len)
{
    const unsigned char *s = (const unsigned char *)data;
    size_t i = 0;
    while (i < len) {
        unsigned char c = s[i];
        if (c >= 0x80) {
            size_t bad = 1, ok = utf8_sequence(s + i, len - i, &bad);
            if (ok) {
                memcpy(p, s + i, ok);
                p += ok;
                i += ok;
            } else {
                memcpy(p, "\xEF\xBF\xBD", 3);
                p += 3;
                i += bad;
            }
            continue;
        }
        i++;
        switch (c) {
        case '"':  *p++ = '\\'; *p++ = '"'; continue;
        case '\\': *p++ = '\\'; *p++ = '\\'; continue;
        case '\b': *p++ = '\\'; *p++ = 'b'; continue;
        case '\t': *p++ = '\\'; *p++ = 't'; continue;
        case '\n': *p++ = '\\'; *p++ = 'n'; continue;
        case '\f': *p++ = '\\'; *p++ = 'f'; continue;
        case '\r': *p++ = '\\'; *p++ = 'r'; continue;
        }
        if (c < 0x20) {
            memcpy(p, "\\u00", 4);
            p[4] = hex_digits[c >> 4];
            p[5] = hex_digits[c & 15];
            p += 6;
        } else {
            *p++ = (char)c;
        }
    }
    return p;
}

static char *put(char *p, const char *s, size_t n)
{
    memcpy(p, s, n);
    return p + n;
}

/* One json-file line for data (plus "\n" when newline), into the output
 * buffer; an entry bigger than the buffer is built apart and written in
 * one write, so that a follower never sees a torn entry it cannot wait out. */
static void log_entry(const char *data, size_t len, int newline,
                      const struct output *o, const char *now)
{
    static const char head[] = "{\"log\":\"", mid[] = "\",\"stream\":\"",
                      tail[] = "\",\"time\":\"", end[] = "\"}\n";
    size_t bound = sizeof head + sizeof mid + sizeof tail + sizeof end
                   + o->stream_len + TIME_LEN + 2 + 6 * len;
    char *big = NULL, *start, *p;
    if (bound > OUT_SIZE - out_len)
        flush_out();
    if (bound > OUT_SIZE) {
        big = malloc(bound);
        if (big == NULL)
            return;             /* out of memory: this line is lost, not the monitor */
        start = big;
    } else {
        start = out_buf + out_len;
    }
    p = put(start, head, sizeof head - 1);
    p = escape(p, data, len);
    if (newline)
        p = put(p, "\\n", 2);
    p = put(p, mid, sizeof mid - 1);
    p = put(p, o->stream, o->stream_len);
    p = put(p, tail, sizeof tail - 1);
    p = put(p, now, TIME_LEN);
    p = put(p, end, sizeof end - 1);
    if (big) {
        write_all(big, (size_t)(p - big));
        free(big);
    } else {
        out_len += (size_t)(p - start);
    }
}

/* -- reading the container's output ------------------------------------- */

static int keep_partial(struct output *o, const char *data, size_t len)
{
    if (o->len + len > o->cap) {
        size_t cap = o->cap ? o->cap : 256;
        while (cap < o->len + len)
            cap *= 2;
        char *grown = realloc(o->partial, cap);
        if (grown == NULL)
            return -1;
        o->partial = grown;
        o->cap = cap;
    }
    memcpy(o->partial + o->len, data, len);
    o->len += len;
    return 0;
}

static void drop_partial(struct output *o)
{
    o->len = 0;
    if (o->cap > KEEP_PARTIAL) {
        free(o->partial);
        o->partial = NULL;
        o->cap = 0;
    }
}

static void close_output(struct output *o)
{
    if (o->len) {
        char now[TIME_LEN];
        rfc3339_nano(now);
        log_entry(o->partial, o->len, 0, o, now);
        flush_out();
    }
    drop_partial(o);
    free(o->partial);
    o->partial = NULL;
    o->cap = 0;
    close(o->fd);
    o->fd = -1;
}

/* A line (or a line's start, newline 0) as entries of at most MAX_ENTRY
 * bytes from its start; only the last gets the newline (_light.split_entries). */
static void log_line(const char *data, size_t len, int newline,
                     const struct output *o, const char *now)
{
    while (len > MAX_ENTRY) {
        log_entry(data, MAX_ENTRY, 0, o, now);
        data += MAX_ENTRY;
        len -= MAX_ENTRY;
    }
    if (len || newline)
        log_entry(data, len, newline, o, now);
}

/* Read what the fd has; log its complete lines, and the MAX_ENTRY pieces
 * of a longer line still waiting for its newline, so that the partial
 * buffer never holds more than MAX_ENTRY bytes past a read.  0 once the
 * stream ended. */
static int pump(struct output *o)
{
    ssize_t n;
    do {
        n = read(o->fd, read_buf, sizeof read_buf);
    } while (n < 0 && errno == EINTR);
    if (n <= 0)                 /* EOF, or EIO: the pty's last holder closed it */
        return 0;
    char now[TIME_LEN];
    int stamped = 0;
    const char *p = read_buf, *end = read_buf + n;
    const char *nl;
    while ((nl = memchr(p, '\n', (size_t)(end - p))) != NULL) {
        if (!stamped) {
            rfc3339_nano(now);
            stamped = 1;
        }
        if (o->len) {
            if (keep_partial(o, p, (size_t)(nl - p)) == 0)
                log_line(o->partial, o->len, 1, o, now);
            drop_partial(o);
        } else {
            log_line(p, (size_t)(nl - p), 1, o, now);
        }
        p = nl + 1;
    }
    if (p < end && keep_partial(o, p, (size_t)(end - p)) != 0)
        drop_partial(o);
    if (o->len > MAX_ENTRY) {   /* keep the last 1..MAX_ENTRY bytes, log the rest */
        size_t keep = o->len % MAX_ENTRY ? o->len % MAX_ENTRY : MAX_ENTRY;
        if (!stamped)
            rfc3339_nano(now);
        log_line(o->partial, o->len - keep, 0, o, now);
        memmove(o->partial, o->partial + (o->len - keep), keep);
        o->len = keep;
    }
    flush_out();
    return 1;
}

/* -- the container's exit ------------------------------------------------ */

static long monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int exit_code(int status)
{
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return 125;
}

/* The container's exit code once it has exited: -1 while it runs. */
static int reap(pid_t pid, int options)
{
    int status;
    pid_t got;
    do {
        got = waitpid(pid, &status, options);
    } while (got < 0 && errno == EINTR);
    if (got == 0)
        return -1;
    return got < 0 ? 125 : exit_code(status);  /* 125: not ours to reap */
}

/* Log the container's output until it has exited and is drained. */
static int watch(pid_t pid)
{
    int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    int code = -1, open_outputs = n_outputs;
    long deadline = -1;
    struct pollfd fds[MAX_OUTPUTS + 1];
    struct output *owner[MAX_OUTPUTS + 1];

    while (open_outputs > 0 || code < 0) {
        int nfds = 0, timeout;
        for (int i = 0; i < n_outputs; i++) {
            if (outputs[i].fd < 0)
                continue;
            fds[nfds].fd = outputs[i].fd;
            fds[nfds].events = POLLIN;
            owner[nfds++] = &outputs[i];
        }
        if (code < 0 && pidfd >= 0) {
            fds[nfds].fd = pidfd;
            fds[nfds].events = POLLIN;
            owner[nfds++] = NULL;
        }
        if (deadline >= 0) {
            long left = deadline - monotonic_ms();
            timeout = left > 0 ? (int)left : 0;
        } else {
            timeout = pidfd >= 0 ? -1 : WAITPID_POLL_MS;
        }
        int ready = poll(fds, (nfds_t)nfds, timeout);
        if (ready < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (ready == 0 && deadline >= 0)
            break;              /* 2 s without output after the exit */
        for (int i = 0; i < nfds; i++) {
            if (!fds[i].revents)
                continue;
            if (owner[i] == NULL) {
                code = reap(pid, 0);
                deadline = monotonic_ms() + DRAIN_MS;
            } else if (!pump(owner[i])) {
                close_output(owner[i]);
                open_outputs--;
            }
        }
        if (code < 0 && pidfd < 0 && (code = reap(pid, WNOHANG)) >= 0)
            deadline = monotonic_ms() + DRAIN_MS;
    }
    for (int i = 0; i < n_outputs; i++)
        if (outputs[i].fd >= 0)
            close_output(&outputs[i]);
    if (code < 0)
        code = reap(pid, 0);    /* poll failed: wait for the exit without logging */
    if (pidfd >= 0)
        close(pidfd);
    return code;
}

static void stop_proxy(pid_t proxy)
{
    if (proxy > 0 && kill(proxy, SIGTERM) == 0)
        while (waitpid(proxy, NULL, 0) < 0 && errno == EINTR)
            ;
}

/* -- arguments and the hand-over ----------------------------------------- */

static const char *arg(int argc, char **argv, const char *key)
{
    size_t n = strlen(key);
    for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
        if (strncmp(argv[i], key, n) == 0 && argv[i][n] == '=')
            return argv[i] + n + 1;
    return NULL;
}

static const char *arg_item(int argc, char **argv, const char *key)
{
    const char *value = arg(argc, argv, key);
    return value ? value - strlen(key) - 1 : NULL;
}

/* A non-negative decimal number; -1 when s is not one. */
static long number(const char *s, const char **rest)
{
    long value = 0;
    const char *p = s;
    if (s == NULL || *s < '0' || *s > '9')
        return -1;
    while (*p >= '0' && *p <= '9') {
        if (value > 100000000)
            return -1;
        value = value * 10 + (*p++ - '0');
    }
    if (rest)
        *rest = p;
    else if (*p)
        return -1;
    return value;
}

/* outputs=FD:stream,FD:stream, parsed in place (the stream names end at
 * the comma, which is overwritten). */
static int parse_outputs(char *spec)
{
    char *p = spec;
    while (*p) {
        const char *rest;
        long fd = number(p, &rest);
        if (fd < 0 || *rest != ':' || n_outputs == MAX_OUTPUTS)
            return -1;
        char *stream = (char *)rest + 1, *comma = strchr(stream, ',');
        if (comma)
            *comma = '\0';
        outputs[n_outputs].fd = (int)fd;
        outputs[n_outputs].stream = stream;
        outputs[n_outputs].stream_len = strlen(stream);
        n_outputs++;
        p = comma ? comma + 1 : stream + strlen(stream);
    }
    return 0;
}

static int python_start(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--") == 0)
            return i + 1 < argc ? i + 1 : -1;
    return -1;
}

/* exec the Python command with extra arguments appended. */
static void exec_python(int argc, char **argv, int start, char **extra, int n_extra)
{
    int n = argc - start;
    char *args[n + n_extra + 1];
    for (int i = 0; i < n; i++)
        args[i] = argv[start + i];
    for (int i = 0; i < n_extra; i++)
        args[n + i] = extra[i];
    args[n + n_extra] = NULL;
    execv(args[0], args);
}

/* Arguments this program cannot use: be the Python light monitor. */
static void become_python_monitor(int argc, char **argv, int start)
{
    if (start > 0)
        exec_python(argc, argv, start, argv + 1, start - 2);
    _exit(125);
}

int main(int argc, char **argv)
{
    prctl(PR_SET_NAME, "hold-monitor", 0, 0, 0);
    int start = python_start(argc, argv);
    long pid = number(arg(argc, argv, "pid"), NULL);
    const char *proxy_text = arg(argc, argv, "proxy");
    long proxy = proxy_text && *proxy_text ? number(proxy_text, NULL) : 0;
    char *cid = (char *)arg_item(argc, argv, "cid");
    char *runroot = (char *)arg_item(argc, argv, "runroot");
    const char *log_path = arg(argc, argv, "log");
    char *spec = (char *)arg(argc, argv, "outputs");
    if (start < 0 || pid <= 0 || proxy < 0 || !cid || !runroot || !log_path || !spec)
        become_python_monitor(argc, argv, start);
    /* parse_outputs writes into argv: a copy keeps the original for the
     * Python monitor should it be needed. */
    static char spec_copy[256];
    size_t spec_len = strlen(spec);
    if (spec_len >= sizeof spec_copy)
        become_python_monitor(argc, argv, start);
    memcpy(spec_copy, spec, spec_len + 1);
    if (parse_outputs(spec_copy) != 0)
        become_python_monitor(argc, argv, start);

    log_fd = open(log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    int code = watch((pid_t)pid);
    if (log_fd >= 0)
        close(log_fd);
    stop_proxy((pid_t)proxy);

    char exited[16] = "exited=";
    int width = code >= 100 ? 3 : code >= 10 ? 2 : 1;
    put_digits(exited + 7, code, width);
    char *extra[] = {cid, runroot, exited};
    exec_python(argc, argv, start, extra, 3);
    _exit(125);                 /* no interpreter: nothing can record the exit */
}
