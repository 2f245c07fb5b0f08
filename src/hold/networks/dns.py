"""Name resolution for a user-defined network: a small DNS server on its
gateway address (as Podman's aardvark-dns), one process per network.

It answers A queries for the running containers attached to its network,
by container name, by alias, and by short id, reading the store on every
query so a container started later, or restarted with a new address, is
seen at once.  Other names are forwarded to the host's resolvers (or the
asking container's ``--dns`` servers), except on an ``--internal`` network,
which never looks outside.

``ensure_resolver`` starts it on demand (when a container on the network
starts); it exits by itself once no running container is left on the
network for a few seconds, so nothing outlives the last container even
when hold itself is killed.
"""

from __future__ import annotations

import json
import os
import socket
import struct
import sys

IDLE_CHECKS = 3
CHECK_SECONDS = 1.5
TTL = 1


def _pidfile(runroot: str, network_id: str) -> str:
    return os.path.join(runroot, "networks", network_id, "dns.pid")


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        with open(f"/proc/{pid}/comm") as f:
            return fields[0] != "Z" and f.read().strip() == "hold-dns"
    except (OSError, IndexError):
        return False


def ensure_resolver(paths, network_id: str, gateway: str) -> None:
    """Start the network's resolver unless one is running."""
    pidfile = _pidfile(paths.runroot, network_id)
    try:
        with open(pidfile) as f:
            if _alive(int(f.read().strip())):
                return
    except (OSError, ValueError):
        pass
    os.makedirs(os.path.dirname(pidfile), exist_ok=True)
    ready_r, ready_w = os.pipe()
    middle = os.fork()
    if middle == 0:
        try:
            os.setsid()
            if os.fork() == 0:
                _exec_server(paths, network_id, gateway, ready_w)
        finally:
            os._exit(0)
    os.close(ready_w)
    os.waitpid(middle, 0)
    with os.fdopen(ready_r, "rb") as ready:
        ready.read()          # EOF once the server has bound its sockets (or died)


def _exec_server(paths, network_id: str, gateway: str, ready_w: int) -> None:
    devnull = os.open("/dev/null", os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.set_inheritable(ready_w, True)
    import signal
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGPIPE):
        signal.signal(sig, signal.SIG_DFL)
    package_parent = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    code = ("import sys;sys.path.insert(0,sys.argv[1]);"
            "from hold.networks.dns import serve;serve(*sys.argv[2:])")
    os.execv(sys.executable, [sys.executable, "-S", "-I", "-c", code, package_parent,
                              paths.db, paths.runroot, network_id, gateway, str(ready_w)])


def stop_resolver(paths, network_id: str) -> None:
    import signal
    pidfile = _pidfile(paths.runroot, network_id)
    try:
        with open(pidfile) as f:
            pid = int(f.read().strip())
        if _alive(pid):
            os.kill(pid, signal.SIGTERM)
    except (OSError, ValueError):
        pass
    import shutil
    shutil.rmtree(os.path.dirname(pidfile), ignore_errors=True)


# -- the server process ---------------------------------------------------------

def serve(db_path: str, runroot: str, network_id: str, gateway: str, ready_fd: str) -> None:
    import ctypes
    import selectors
    libc = ctypes.CDLL(None)
    name = ctypes.create_string_buffer(b"hold-dns")
    libc.prctl(15, ctypes.c_ulong(ctypes.addressof(name)), 0, 0, 0)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    import time
    for attempt in range(40):
        try:
            udp.bind((gateway, 53))
            tcp.bind((gateway, 53))
            tcp.listen(16)
            break
        except OSError:
            # A rival serves this network, or a resolver of a removed network
            # that had the same gateway is still on its way out: wait for it.
            if _rival_alive(runroot, network_id) or attempt == 39:
                os._exit(0)
            time.sleep(0.1)
    pidfile = _pidfile(runroot, network_id)
    with open(pidfile, "w") as f:
        f.write(f"{os.getpid()}\n")
    os.close(int(ready_fd))
    records = _Records(db_path, network_id)
    sel = selectors.DefaultSelector()
    sel.register(udp, selectors.EVENT_READ, "udp")
    sel.register(tcp, selectors.EVENT_READ, "tcp")
    idle = 0
    while idle < IDLE_CHECKS:
        events = sel.select(CHECK_SECONDS)
        for key, _ in events:
            try:
                if key.data == "udp":
                    query, peer = udp.recvfrom(4096)
                    udp.sendto(records.answer(query, peer[0]), peer)
                else:
                    _serve_tcp(tcp, records)
            except Exception:   # noqa: BLE001 - one bad query never stops the resolver
                continue
        if not events:
            if not records.network_exists():
                break
            idle = idle + 1 if not records.anyone_running() else 0
    try:
        os.unlink(pidfile)
    except OSError:
        pass
    os._exit(0)


def _rival_alive(runroot: str, network_id: str) -> bool:
    try:
        with open(_pidfile(runroot, network_id)) as f:
            pid = int(f.read().strip())
    except (OSError, ValueError):
        return False
    return pid != os.getpid() and _alive(pid)


def _serve_tcp(listener, records) -> None:
    conn, peer = listener.accept()
    conn.settimeout(2)
    with conn:
        size = struct.unpack("!H", _recv_exact(conn, 2))[0]
        reply = records.answer(_recv_exact(conn, size), peer[0])
        conn.sendall(struct.pack("!H", len(reply)) + reply)


def _recv_exact(conn, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            raise OSError("short read")
        data += chunk
    return data


class _Records:
    """Answers for one network, read fresh from the store per query."""

    def __init__(self, db_path: str, network_id: str):
        import sqlite3
        self.db = sqlite3.connect(db_path, timeout=5)
        self.network_id = network_id
        row = self.db.execute("SELECT name, config FROM networks WHERE id=?", (network_id,)).fetchone()
        self.network_name = row[0] if row else ""
        self.internal = bool(row and json.loads(row[1]).get("Internal"))

    def _members(self, network_id: str | None = None):
        network_id = network_id or self.network_id
        name_row = self.db.execute("SELECT name FROM networks WHERE id=?", (network_id,)).fetchone()
        network_name = name_row[0] if name_row else ""
        rows = self.db.execute(
            "SELECT c.id, c.name, c.config, c.state, l.ip FROM leases l "
            "JOIN containers c ON c.id = l.container_id WHERE l.network_id=?",
            (network_id,)).fetchall()
        for cid, name, config, state, ip in rows:
            if json.loads(state).get("Running"):
                config = json.loads(config)
                aliases = ((config.get("Networks") or {}).get(network_name) or {}).get("Aliases") or []
                yield cid, name, config, ip, aliases

    def network_exists(self) -> bool:
        try:
            return self.db.execute("SELECT 1 FROM networks WHERE id=?",
                                   (self.network_id,)).fetchone() is not None
        except Exception:   # noqa: BLE001 - a gone store: the network is gone too
            return False

    def anyone_running(self) -> bool:
        try:
            return any(True for _ in self._members())
        except Exception:   # noqa: BLE001 - a gone store means nobody is left
            return False

    def _networks_of_asker(self, peer_ip: str) -> list[str]:
        """The user-defined networks the asking container is on: Docker
        resolves names across all of them, and no others."""
        asker = self.db.execute("SELECT container_id FROM leases WHERE network_id=? AND ip=?",
                                (self.network_id, peer_ip)).fetchone()
        if asker is None:
            return [self.network_id]
        rows = self.db.execute(
            "SELECT l.network_id FROM leases l JOIN networks n ON n.id = l.network_id "
            "WHERE l.container_id=? AND n.name != 'bridge'", (asker[0],)).fetchall()
        return [r[0] for r in rows] or [self.network_id]

    def lookup(self, qname: str, peer_ip: str = "") -> tuple[list[str], bool]:
        """(addresses, known): ``known`` is True when the name is ours."""
        name = qname.rstrip(".").lower()
        found = []
        for network_id in self._networks_of_asker(peer_ip):
            for cid, cname, _config, ip, aliases in self._members(network_id):
                names = {cname.lower(), cid[:12], *(a.lower() for a in aliases)}
                if name in names and ip not in found:
                    found.append(ip)
        return found, bool(found)

    def upstream_for(self, peer_ip: str) -> list[str]:
        for _cid, _name, config, ip, _aliases in self._members():
            if ip == peer_ip and config.get("HostConfig", {}).get("Dns"):
                return list(config["HostConfig"]["Dns"])
        return _host_nameservers()

    def answer(self, query: bytes, peer_ip: str) -> bytes:
        try:
            qid, flags, qdcount = struct.unpack("!HHH", query[:6])
            qname, end = _read_name(query, 12)
            qtype, _qclass = struct.unpack("!HH", query[end:end + 4])
        except (struct.error, IndexError, ValueError):
            return b""
        question = query[12:end + 4]
        addresses, known = self.lookup(qname, peer_ip)
        if known or self.internal:
            answers = [a for a in addresses] if qtype in (1, 255) else []
            rcode = 0 if known else 3
            return _reply(qid, flags, question, answers, rcode)
        forwarded = _forward(query, self.upstream_for(peer_ip))
        return forwarded if forwarded else _reply(qid, flags, question, [], 2)


def _read_name(packet: bytes, offset: int) -> tuple[str, int]:
    labels = []
    while True:
        length = packet[offset]
        if length == 0:
            return ".".join(labels), offset + 1
        if length & 0xC0:
            raise ValueError("compressed question names are not expected")
        labels.append(packet[offset + 1:offset + 1 + length].decode("ascii", "replace"))
        offset += 1 + length


def _reply(qid: int, qflags: int, question: bytes, addresses: list[str], rcode: int) -> bytes:
    flags = 0x8000 | (qflags & 0x0100) | 0x0080 | 0x0400 | rcode   # QR, RD copied, RA, AA
    header = struct.pack("!HHHHHH", qid, flags, 1, len(addresses), 0, 0)
    body = b"".join(struct.pack("!HHHIH", 0xC00C, 1, 1, TTL, 4) + socket.inet_aton(a)
                    for a in addresses)
    return header + question + body


def _host_nameservers() -> list[str]:
    servers = []
    try:
        with open("/etc/resolv.conf") as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 2 and parts[0] == "nameserver":
                    servers.append(parts[1])
    except OSError:
        pass
    return servers


def _forward(query: bytes, servers: list[str]) -> bytes | None:
    for server in servers[:3]:
        try:
            with socket.socket(socket.AF_INET6 if ":" in server else socket.AF_INET,
                               socket.SOCK_DGRAM) as s:
                s.settimeout(2)
                s.sendto(query, (server, 53))
                return s.recv(4096)
        except OSError:
            continue
    return None
