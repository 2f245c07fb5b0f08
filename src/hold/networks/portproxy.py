"""Published ports: a userland proxy per container (like docker-proxy).

``start_proxy`` runs before the container is let go: the proxy binds every
published host port first and reports over a pipe, so a port already in use
fails the start with a clear error instead of a container that silently
cannot be reached.  The monitor stops the proxy when the container exits.

TCP: each accepted connection is joined to a new connection to the
container's address.  UDP: each client address gets its own socket towards
the container, so replies find their way back.
"""

from __future__ import annotations

import json
import os
import selectors
import socket
import sys

from hold.errors import Conflict


def start_proxy(ports: list[dict]) -> int:
    """Fork and exec the proxy for ``ports``; its pid once every port is bound."""
    ready_r, ready_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(ready_r)
            devnull = os.open("/dev/null", os.O_RDWR)
            for fd in (0, 1, 2):
                os.dup2(devnull, fd)
            os.set_inheritable(ready_w, True)
            import signal
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGPIPE):
                signal.signal(sig, signal.SIG_DFL)     # the monitor ignores them
            package_parent = os.path.dirname(os.path.dirname(os.path.dirname(
                os.path.abspath(__file__))))
            code = ("import sys;sys.path.insert(0,sys.argv[1]);"
                    "from hold.networks.portproxy import serve;serve(sys.argv[2], int(sys.argv[3]))")
            os.execv(sys.executable, [sys.executable, "-S", "-I", "-c", code, package_parent,
                                      json.dumps(ports), str(ready_w)])
        finally:
            os._exit(1)
    os.close(ready_w)
    with os.fdopen(ready_r, "rb") as ready:
        report = ready.read().decode()
    if report != "ok":
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass
        raise Conflict(report or "the port proxy failed to start")
    return pid


def stop_proxy(pid: int) -> None:
    import signal
    try:
        os.kill(pid, signal.SIGTERM)
        os.waitpid(pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass


def serve(ports_json: str, ready_fd: int) -> None:
    import ctypes
    name = ctypes.create_string_buffer(b"hold-proxy")
    ctypes.CDLL(None).prctl(15, ctypes.c_ulong(ctypes.addressof(name)), 0, 0, 0)
    sel = selectors.DefaultSelector()
    try:
        for port in json.loads(ports_json):
            _listen(sel, port)
    except OSError as exc:
        reason = ("port is already allocated" if exc.errno == 98
                  else (exc.strerror or str(exc)).lower())
        os.write(ready_fd, f"Bind for {_where(exc)} failed: {reason}".encode())
        os._exit(1)
    os.write(ready_fd, b"ok")
    os.close(ready_fd)
    while True:
        for key, _ in sel.select():
            try:
                key.data(sel, key.fileobj)
            except OSError:
                _close_pair(sel, key.fileobj)


def _where(exc) -> str:
    return getattr(exc, "where", "?")


def _listen(sel, port: dict) -> None:
    family = socket.AF_INET6 if ":" in port["host_ip"] else socket.AF_INET
    kind = socket.SOCK_STREAM if port["proto"] == "tcp" else socket.SOCK_DGRAM
    sock = socket.socket(family, kind)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((port["host_ip"], port["host_port"]))
    except OSError as exc:
        exc.where = f"{port['host_ip']}:{port['host_port']}"
        raise
    sock.setblocking(False)
    target = (port["container_ip"], port["container_port"])
    if kind == socket.SOCK_STREAM:
        sock.listen(128)
        sel.register(sock, selectors.EVENT_READ, lambda s, l: _accept(s, l, target))
    else:
        clients: dict = {}
        sel.register(sock, selectors.EVENT_READ,
                     lambda s, l: _udp_from_client(s, l, target, clients))


_peers: dict = {}


def _accept(sel, listener, target) -> None:
    client, _ = listener.accept()
    upstream = socket.create_connection(target, timeout=5)
    for a, b in ((client, upstream), (upstream, client)):
        a.setblocking(False)
        _peers[a] = b
        sel.register(a, selectors.EVENT_READ, _relay)


def _relay(sel, sock) -> None:
    data = sock.recv(65536)
    peer = _peers.get(sock)
    if not data or peer is None:
        _close_pair(sel, sock)
        return
    peer.setblocking(True)
    peer.sendall(data)
    peer.setblocking(False)


def _close_pair(sel, sock) -> None:
    for s in (sock, _peers.pop(sock, None)):
        if s is None:
            continue
        _peers.pop(s, None)
        try:
            sel.unregister(s)
        except (KeyError, ValueError):
            pass
        s.close()


def _udp_from_client(sel, listener, target, clients) -> None:
    data, client = listener.recvfrom(65536)
    upstream = clients.get(client)
    if upstream is None:
        upstream = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        upstream.connect(target)
        upstream.setblocking(False)
        clients[client] = upstream
        sel.register(upstream, selectors.EVENT_READ,
                     lambda s, u: listener.sendto(u.recv(65536), client))
    upstream.send(data)
