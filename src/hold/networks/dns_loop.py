"""The resolver's event loop: one thread, and no query ever waits on another.

Names of the network's containers are answered at once from the store.
Other names go upstream, and an upstream can be slow or silent: each
forwarded query is its own non-blocking socket in the loop, with its own
deadline, tried on the next server when that passes and answered SERVFAIL
when none is left.  A resolver that forwarded in line (as this one once
did) stalls every container on the network behind one silent upstream:
the replica set's client then saw "Temporary failure in name resolution"
for members that were up, because their peers kept asking for a member
that was not up yet.

TCP (RFC 7766) is served the same way, one buffered connection per asker.
"""

from __future__ import annotations

import selectors
import socket
import sqlite3
import struct
import time

from hold.networks import dns_wire
from hold.networks.dns_records import NetworkRecords

FORWARD_TIMEOUT = 2.0     # seconds per upstream server
MAX_UPSTREAM_SERVERS = 3  # as glibc's resolver, the first three
MAX_FORWARDS = 256        # queries in flight upstream; past this, SERVFAIL at once
MAX_TCP_CLIENTS = 64
TCP_DEADLINE = 1.0 + FORWARD_TIMEOUT * MAX_UPSTREAM_SERVERS


class _Forward:
    """One query in flight upstream."""
    __slots__ = ("query", "question", "servers", "deliver", "sock", "deadline")

    def __init__(self, query, question, servers, deliver):
        self.query, self.question, self.deliver = query, question, deliver
        self.servers = list(servers[:MAX_UPSTREAM_SERVERS])
        self.sock, self.deadline = None, 0.0


class _TcpClient:
    __slots__ = ("peer_ip", "buffer", "deadline")

    def __init__(self, peer_ip: str):
        self.peer_ip, self.buffer = peer_ip, b""
        self.deadline = time.monotonic() + TCP_DEADLINE


class Resolver:
    def __init__(self, udp: socket.socket, tcp: socket.socket, records: NetworkRecords,
                 upstream_port: int = 53):
        self.udp, self.tcp, self.records = udp, tcp, records
        self.upstream_port = upstream_port
        udp.setblocking(False)
        tcp.setblocking(False)
        self.sel = selectors.DefaultSelector()
        self.sel.register(udp, selectors.EVENT_READ, self._on_udp)
        self.sel.register(tcp, selectors.EVENT_READ, self._on_accept)
        self.forwards: dict[socket.socket, _Forward] = {}
        self.clients: dict[socket.socket, _TcpClient] = {}

    def poll(self, seconds: float) -> None:
        """Serve for ``seconds``."""
        end = time.monotonic() + seconds
        while (now := time.monotonic()) < end:
            wake = min([end, *(f.deadline for f in self.forwards.values()),
                        *(c.deadline for c in self.clients.values())])
            for key, _ in self.sel.select(max(0.0, wake - now)):
                try:
                    key.data(key.fileobj)
                except Exception:   # noqa: BLE001 - one bad packet never stops the resolver
                    pass
            try:
                self._expire(time.monotonic())
            except Exception:       # noqa: BLE001 - nor does one failed retry
                pass

    def close(self) -> None:
        for sock in [*self.forwards, *self.clients, self.udp, self.tcp]:
            sock.close()
        self.sel.close()

    # -- a query, from either transport ----------------------------------------

    def _handle(self, query: bytes, peer_ip: str, deliver) -> None:
        question = dns_wire.parse_query(query)
        if question is None:
            return
        try:
            found = self.records.lookup(question.name, peer_ip)
            if found.ours or self.records.internal:
                # A stopped container's name is ours too: NXDOMAIN, never asked upstream.
                rcode = dns_wire.NOERROR if found.addresses else dns_wire.NXDOMAIN
                deliver(dns_wire.reply(question, found.addresses, rcode))
                return
            servers = self.records.upstream_for(peer_ip)
        except sqlite3.Error:
            servers = []
        if servers and len(self.forwards) < MAX_FORWARDS:
            self._send_upstream(_Forward(query, question, servers, deliver))
        else:
            deliver(dns_wire.reply(question, [], dns_wire.SERVFAIL))

    # -- forwarding ------------------------------------------------------------

    def _send_upstream(self, fwd: _Forward) -> None:
        while fwd.servers:
            server = fwd.servers.pop(0)
            try:
                sock = socket.socket(socket.AF_INET6 if ":" in server else socket.AF_INET,
                                     socket.SOCK_DGRAM)
            except OSError:            # out of file descriptors: this one fails, not the loop
                continue
            try:
                sock.setblocking(False)
                sock.connect((server, self.upstream_port))
                sock.send(fwd.query)
            except OSError:
                sock.close()
                continue
            fwd.sock, fwd.deadline = sock, time.monotonic() + FORWARD_TIMEOUT
            self.forwards[sock] = fwd
            self.sel.register(sock, selectors.EVENT_READ, self._on_upstream)
            return
        fwd.deliver(dns_wire.reply(fwd.question, [], dns_wire.SERVFAIL))

    def _on_upstream(self, sock: socket.socket) -> None:
        fwd = self.forwards[sock]
        try:
            answer = sock.recv(65535)
        except OSError:                # refused: that server is not there
            self._next_server(fwd)
            return
        if dns_wire.answers_query(fwd.query, answer):
            self._drop(sock)
            fwd.deliver(answer)

    def _next_server(self, fwd: _Forward) -> None:
        self._drop(fwd.sock)
        self._send_upstream(fwd)

    def _drop(self, sock: socket.socket) -> None:
        self.forwards.pop(sock, None)
        self.sel.unregister(sock)
        sock.close()

    def _expire(self, now: float) -> None:
        for fwd in [f for f in self.forwards.values() if f.deadline <= now]:
            self._next_server(fwd)
        for conn in [c for c, state in self.clients.items() if state.deadline <= now]:
            self._close_client(conn)

    # -- UDP -------------------------------------------------------------------

    def _on_udp(self, udp: socket.socket) -> None:
        for _ in range(64):            # drain a burst, then let others in
            try:
                query, peer = udp.recvfrom(4096)
            except BlockingIOError:
                return
            self._handle(query, peer[0], lambda reply, peer=peer: self._send_udp(reply, peer))

    def _send_udp(self, reply: bytes, peer) -> None:
        try:
            self.udp.sendto(reply, peer)
        except OSError:
            pass

    # -- TCP -------------------------------------------------------------------

    def _on_accept(self, listener: socket.socket) -> None:
        try:
            conn, peer = listener.accept()
        except BlockingIOError:
            return
        if len(self.clients) >= MAX_TCP_CLIENTS:
            conn.close()
            return
        conn.setblocking(False)
        self.clients[conn] = _TcpClient(peer[0])
        self.sel.register(conn, selectors.EVENT_READ, self._on_tcp_data)

    def _on_tcp_data(self, conn: socket.socket) -> None:
        state = self.clients[conn]
        try:
            chunk = conn.recv(65537)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        if not chunk:
            self._close_client(conn)
            return
        state.buffer += chunk
        if len(state.buffer) < 2:
            return
        size = struct.unpack("!H", state.buffer[:2])[0]
        if len(state.buffer) < 2 + size:
            return
        self.sel.unregister(conn)      # one query per connection; the reply closes it
        self._handle(state.buffer[2:2 + size], state.peer_ip,
                     lambda reply: self._send_tcp(conn, reply))

    def _send_tcp(self, conn: socket.socket, reply: bytes) -> None:
        if conn not in self.clients:   # gave up on it already
            return
        try:                           # a fresh socket's buffer takes any DNS reply whole
            conn.send(struct.pack("!H", len(reply)) + reply)
        except OSError:
            pass
        self._close_client(conn)

    def _close_client(self, conn: socket.socket) -> None:
        self.clients.pop(conn, None)
        try:
            self.sel.unregister(conn)
        except (KeyError, ValueError):
            pass
        conn.close()
