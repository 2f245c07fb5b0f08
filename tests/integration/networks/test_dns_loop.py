"""The resolver's event loop on real loopback sockets, with a stand-in for
the store: local answers never wait on upstream, forwarding moves on from a
silent server, and TCP is served like UDP."""

import errno
import socket
import sqlite3
import struct
import threading
import time

import pytest

from hold.networks import dns_loop
from hold.networks.dns_loop import Resolver
from hold.networks.dns_records import Lookup
from hold.networks.dns_wire import parse_query, reply

SERVFAIL, NXDOMAIN = 2, 3


def query(name, qid=1, qtype=1):
    labels = b"".join(bytes([len(p)]) + p.encode() for p in name.split("."))
    return struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0) + labels + b"\0" + \
        struct.pack("!HH", qtype, 1)


def rcode(packet):
    return struct.unpack("!H", packet[2:4])[0] & 0xF


def answer_count(packet):
    return struct.unpack("!H", packet[6:8])[0]


class Records:
    """The store's view, as the loop sees it."""
    internal = False

    def __init__(self, upstream):
        self.upstream = upstream
        self.broken = False

    def lookup(self, name, peer_ip=""):
        if self.broken:
            raise sqlite3.OperationalError("database is locked")
        if name == "known":
            return Lookup(["10.89.0.5"], True)
        if name == "stopped":
            return Lookup([], True)
        return Lookup([], False)

    def upstream_for(self, peer_ip):
        return list(self.upstream)


class Upstream:
    """A UDP DNS server on loopback that answers (with one A record) or,
    when silent, reads and drops every query."""

    def __init__(self, address, silent, port=0):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((address, port))
        self.sock.settimeout(0.1)
        self.silent, self.seen = silent, 0
        self.stop = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @property
    def port(self):
        return self.sock.getsockname()[1]

    def _serve(self):
        while not self.stop:
            try:
                data, peer = self.sock.recvfrom(4096)
            except socket.timeout:
                continue
            self.seen += 1
            if not self.silent:
                self.sock.sendto(reply(parse_query(data), ["192.0.2.9"], 0), peer)

    def close(self):
        self.stop = True
        self.thread.join()
        self.sock.close()


def _retrying_port_clash(bind, tries=20):
    """bind() with another free port when the kernel's pick for the first
    socket is already taken for the next one (a port free for UDP need not
    be free for TCP, or on another loopback address)."""
    for _ in range(tries - 1):
        try:
            return bind()
        except OSError as e:
            if e.errno != errno.EADDRINUSE:
                raise
    return bind()


def _upstreams_on_one_port(upstreams):
    servers = []
    try:
        for address, silent in upstreams:
            servers.append(Upstream(address, silent, servers[0].port if servers else 0))
    except OSError:
        for up in servers:
            up.close()
        raise
    return servers


def _udp_and_tcp_on_one_port():
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        udp.bind(("127.0.0.1", 0))
        tcp.bind(udp.getsockname())
        tcp.listen(8)
    except OSError:
        udp.close()
        tcp.close()
        raise
    return udp, tcp


@pytest.fixture
def serve(monkeypatch):
    """serve(upstreams) -> (records, address): a Resolver polled in a
    thread; each upstream a (loopback address, silent) pair, all on one port."""
    monkeypatch.setattr(dns_loop, "FORWARD_TIMEOUT", 0.3)
    started = []

    def start(*upstreams):
        servers = _retrying_port_clash(lambda: _upstreams_on_one_port(upstreams))
        port = servers[0].port
        udp, tcp = _retrying_port_clash(_udp_and_tcp_on_one_port)
        records = Records([a for a, _ in upstreams])
        resolver = Resolver(udp, tcp, records, upstream_port=port)
        stop = threading.Event()
        thread = threading.Thread(target=lambda: [resolver.poll(0.05) for _ in iter(stop.is_set, True)],
                                  daemon=True)
        thread.start()
        started.append((stop, thread, resolver, servers))
        return records, udp.getsockname(), servers

    yield start
    for stop, thread, resolver, servers in started:
        stop.set()
        thread.join()
        resolver.close()
        for up in servers:
            up.close()


def ask(address, packet, timeout=2.0):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.sendto(packet, address)
        return s.recv(4096)


def test_local_names_are_answered_while_upstream_is_silent(serve):
    records, address, (silent,) = serve(("127.0.0.81", True))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as waiting:
        for i in range(50):              # fifty queries stuck upstream at once
            waiting.sendto(query(f"nowhere{i}", qid=i), address)
        for i in range(20):
            got = ask(address, query("known", qid=1000 + i), timeout=0.25)
            assert rcode(got) == 0 and got.endswith(bytes([10, 89, 0, 5]))
        waiting.settimeout(2)
        replies = [waiting.recv(4096) for _ in range(50)]
    assert {rcode(r) for r in replies} == {SERVFAIL}
    assert silent.seen == 50


def test_forwarding_moves_on_from_a_silent_server(serve):
    records, address, (silent, answering) = serve(("127.0.0.82", True), ("127.0.0.83", False))
    got = ask(address, query("example.org", qid=42))
    assert struct.unpack("!H", got[:2])[0] == 42 and got.endswith(bytes([192, 0, 2, 9]))
    assert (silent.seen, answering.seen) == (1, 1)


def test_a_stopped_containers_name_is_nxdomain_and_never_forwarded(serve):
    records, address, (up,) = serve(("127.0.0.84", False))
    assert rcode(ask(address, query("stopped"))) == NXDOMAIN
    assert rcode(ask(address, query("known", qtype=28))) == 0          # NODATA for AAAA
    assert answer_count(ask(address, query("known", qtype=28))) == 0
    assert up.seen == 0


def test_a_store_error_is_servfail_and_the_loop_goes_on(serve):
    records, address, _ = serve(("127.0.0.85", True))
    records.broken = True
    assert rcode(ask(address, query("known"))) == SERVFAIL
    records.broken = False
    assert rcode(ask(address, query("known"))) == 0


def test_garbage_gets_no_reply_and_changes_nothing(serve):
    records, address, _ = serve(("127.0.0.86", True))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.3)
        s.sendto(b"\xff" * 7, address)
        with pytest.raises(socket.timeout):
            s.recv(4096)
    assert rcode(ask(address, query("known"))) == 0


def test_tcp_queries_are_answered_and_a_silent_client_is_dropped(serve, monkeypatch):
    monkeypatch.setattr(dns_loop, "TCP_DEADLINE", 0.3)
    records, address, _ = serve(("127.0.0.87", False))
    idle = socket.create_connection(address, timeout=2)     # connects, never asks
    with socket.create_connection(address, timeout=2) as s:
        packet = query("known", qid=9)
        s.sendall(struct.pack("!H", len(packet)) + packet[:5])
        time.sleep(0.05)                                    # the rest in a second segment
        s.sendall(packet[5:])
        size = struct.unpack("!H", s.recv(2))[0]
        got = s.recv(size)
    assert rcode(got) == 0 and got.endswith(bytes([10, 89, 0, 5]))
    assert idle.recv(10) == b""                             # closed at its deadline
    idle.close()
