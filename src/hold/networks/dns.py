"""Name resolution for a user-defined network: a small DNS server on its
gateway address (as Podman's aardvark-dns), one process per network.

It answers A queries for the containers attached to its network, by
container name, by alias, and by short id, reading the store on every query
so a container started later, or restarted with a new address, is seen at
once.  Other names are forwarded to the host's resolvers (or the asking
container's ``--dns`` servers) without holding up anyone else's query
(``dns_loop``), except on an ``--internal`` network, which never looks
outside.

``ensure_resolver`` starts it on demand (when a container on the network
starts); it exits by itself once no running container is left on the
network for a few seconds, so nothing outlives the last container even
when hold itself is killed.  Starting and exiting take the network's
``dns.lock``, and every ``ensure_resolver`` touches the pidfile: a resolver
never exits under a container that has just been promised one.

    dns.py          start on demand, stop, the process's life (this file)
    dns_loop.py     the event loop: local answers, forwarding, UDP and TCP
    dns_records.py  the store's view of one network's names
    dns_wire.py     DNS messages
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
import time

IDLE_CHECKS = 3
CHECK_SECONDS = 1.5
WANTED_SECONDS = 10.0   # a resolver stays this long after an ensure_resolver, busy or not


def _pidfile(runroot: str, network_id: str) -> str:
    return os.path.join(runroot, "networks", network_id, "dns.pid")


@contextlib.contextmanager
def _locked(runroot: str, network_id: str):
    """The network's resolver lock: held to decide to start or to exit."""
    import fcntl
    directory = os.path.dirname(_pidfile(runroot, network_id))
    os.makedirs(directory, exist_ok=True)
    fd = os.open(os.path.join(directory, "dns.lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        with open(f"/proc/{pid}/comm") as f:
            return fields[0] != "Z" and f.read().strip() == "hold-dns"
    except (OSError, IndexError):
        return False


def resolver_pid(runroot: str, network_id: str) -> int | None:
    """The pid of the network's running resolver, or None."""
    return _running_pid(_pidfile(runroot, network_id))


def _running_pid(pidfile: str) -> int | None:
    try:
        with open(pidfile) as f:
            pid = int(f.read().strip())
    except (OSError, ValueError):
        return None
    return pid if _alive(pid) else None


def ensure_resolver(paths, network_id: str, gateway: str) -> None:
    """Start the network's resolver unless one is running, and keep it
    from exiting before the container that asked is up."""
    pidfile = _pidfile(paths.runroot, network_id)
    with _locked(paths.runroot, network_id):
        if _running_pid(pidfile):
            os.utime(pidfile)
            return
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
            ready.read()      # EOF once the server has bound its sockets (or died)


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
    pid = _running_pid(pidfile)
    if pid:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    import shutil
    shutil.rmtree(os.path.dirname(pidfile), ignore_errors=True)


# -- the server process ---------------------------------------------------------

def serve(db_path: str, runroot: str, network_id: str, gateway: str, ready_fd: str) -> None:
    import ctypes
    from hold.networks.dns_loop import Resolver
    from hold.networks.dns_records import NetworkRecords
    libc = ctypes.CDLL(None)
    name = ctypes.create_string_buffer(b"hold-dns")
    libc.prctl(15, ctypes.c_ulong(ctypes.addressof(name)), 0, 0, 0)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
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
    records = NetworkRecords(db_path, network_id)
    resolver = Resolver(udp, tcp, records)
    idle = 0
    while True:
        resolver.poll(CHECK_SECONDS)
        try:
            if not records.network_exists():
                break
            idle = 0 if records.anyone_running() else idle + 1
            if idle >= IDLE_CHECKS and _exit_if_unwanted(runroot, network_id, records, resolver):
                os._exit(0)
        except Exception:   # noqa: BLE001 - a resolver unsure whether it is needed stays
            idle = 0
    _retire(resolver, pidfile)
    os._exit(0)


def _retire(resolver, pidfile: str) -> None:
    """Stop answering, then drop the pidfile if it is still this process's."""
    resolver.close()
    if _running_pid(pidfile) == os.getpid():
        os.unlink(pidfile)


def _exit_if_unwanted(runroot: str, network_id: str, records, resolver) -> bool:
    """Under the lock: nobody running and no recent ensure_resolver ->
    close the sockets and drop the pidfile (then the caller exits)."""
    pidfile = _pidfile(runroot, network_id)
    with _locked(runroot, network_id):
        try:
            wanted = time.time() - os.stat(pidfile).st_mtime < WANTED_SECONDS
        except OSError:
            wanted = False
        if wanted or records.anyone_running():
            return False
        _retire(resolver, pidfile)
        return True


def _rival_alive(runroot: str, network_id: str) -> bool:
    return resolver_pid(runroot, network_id) not in (None, os.getpid())
