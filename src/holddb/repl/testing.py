"""Test helpers for replica sets: N real holddb members on loopback ports.

``LocalReplicaSet(workdir, members=3)`` makes one ``HolddbProcess`` per
member (``--replSet NAME``, its own dbpath and log under ``workdir``);
``start()`` starts them, ``initiate()`` runs replSetInitiate on the first
and waits for one PRIMARY and the rest SECONDARY; ``kill(i)`` is a SIGKILL,
``restart(i)`` starts member ``i`` again on the same port and dbpath;
``close()`` kills every member still running (use it in a ``finally`` or
as a context manager: no process outlives its test).

``kill_silently(i)`` is a SIGKILL after which member ``i``'s port does not
refuse connections: its listening socket is kept open in this process
(``kill_keeping_port``), so that connects succeed and nothing ever answers.
That is what the others see when a member's host or container vanishes
(no RST; every request times out), as opposed to a killed process on a
live host whose port refuses at once.  ``restart(i)`` and ``close()``
release the port.
"""

from __future__ import annotations

import asyncio
import ctypes
import json
import os
import socket
import time
from typing import Any

from holddb.testing import HolddbProcess, free_port

__all__ = ["LocalReplicaSet", "kill_keeping_port", "raw_command"]

_SYS_PIDFD_GETFD = 438  # the same number on every Linux architecture (5.6+)


class LocalReplicaSet:
    def __init__(self, workdir: str, members: int = 3, *, name: str = "replSet0",
                 settings: dict | None = None, ports: list[int] | None = None) -> None:
        self.workdir = workdir
        self.name = name
        self.settings = settings
        self.ports = list(ports) if ports else [free_port() for _ in range(members)]
        self.processes = [self._process(i) for i in range(members)]
        self._held_ports: dict[int, socket.socket] = {}

    def _process(self, index: int) -> HolddbProcess:
        return HolddbProcess(f"{self.workdir}/db{index}", port=self.ports[index],
                             extra_args=["--replSet", self.name],
                             logpath=f"{self.workdir}/member{index}.log")

    @property
    def hosts(self) -> list[str]:
        return [f"127.0.0.1:{port}" for port in self.ports]

    @property
    def uri(self) -> str:
        return f"mongodb://{','.join(self.hosts)}/?replicaSet={self.name}"

    def config(self) -> dict:
        doc: dict[str, Any] = {"_id": self.name, "members": [
            {"_id": i, "host": host} for i, host in enumerate(self.hosts)]}
        if self.settings:
            doc["settings"] = dict(self.settings)
        return doc

    def start(self) -> "LocalReplicaSet":
        for process in self.processes:
            process.start()
        return self

    def direct(self, index: int, **kwargs: Any) -> Any:
        import pymongo
        kwargs.setdefault("serverSelectionTimeoutMS", 5000)
        return pymongo.MongoClient(self.processes[index].uri, directConnection=True, **kwargs)

    def initiate(self, timeout: float = 30.0) -> None:
        with self.direct(0) as client:
            client.admin.command("replSetInitiate", self.config())
        self.wait_for_states(1, len(self.ports) - 1, timeout=timeout)

    def states(self) -> dict[int, str]:
        """index -> "PRIMARY" / "SECONDARY" / ... / "DOWN", from each member's hello."""
        out = {}
        for index, process in enumerate(self.processes):
            if process.process is None or process.process.poll() is not None:
                out[index] = "DOWN"
                continue
            try:
                with self.direct(index, serverSelectionTimeoutMS=1000) as client:
                    hello = client.admin.command("hello")
            except Exception:  # noqa: BLE001 -- unreachable right now
                out[index] = "DOWN"
                continue
            out[index] = "PRIMARY" if hello.get("isWritablePrimary") else \
                "SECONDARY" if hello.get("secondary") else "OTHER"
        return out

    def wait_for_states(self, primaries: int, secondaries: int, timeout: float = 30.0) -> dict:
        deadline = time.monotonic() + timeout
        states: dict[int, str] = {}
        while time.monotonic() < deadline:
            states = self.states()
            values = list(states.values())
            if values.count("PRIMARY") == primaries and values.count("SECONDARY") == secondaries:
                return states
            time.sleep(0.1)
        raise TimeoutError(f"replica set did not reach {primaries} PRIMARY / {secondaries} "
                           f"SECONDARY within {timeout}s: {states}")

    def primary_index(self, timeout: float = 30.0) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for index, state in self.states().items():
                if state == "PRIMARY":
                    return index
            time.sleep(0.1)
        raise TimeoutError("no primary")

    def kill(self, index: int) -> None:
        self.processes[index].kill()

    def stop(self, index: int) -> None:
        self.processes[index].stop()

    def kill_silently(self, index: int) -> None:
        """SIGKILL member ``index``, its port kept silent until ``restart``."""
        self._held_ports[index] = kill_keeping_port(self.processes[index])

    def restart(self, index: int) -> None:
        self.processes[index].kill()
        held = self._held_ports.pop(index, None)
        if held is not None:
            held.close()
        self.processes[index] = self._process(index)
        self.processes[index].start()

    def close(self) -> None:
        for process in self.processes:
            process.kill()
        for held in self._held_ports.values():
            held.close()
        self._held_ports.clear()

    def elections(self) -> list[tuple[int, int]]:
        """(term, member) of every election won, from the members' logs,
        by term: what "at most one primary per term" is checked against."""
        won = []
        for index in range(len(self.processes)):
            with open(f"{self.workdir}/member{index}.log", encoding="utf-8") as handle:
                won += [(json.loads(line)["attr"]["term"], index) for line in handle
                        if '"Election succeeded' in line]
        return sorted(won)

    def __enter__(self) -> "LocalReplicaSet":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.close()


def kill_keeping_port(process: HolddbProcess) -> socket.socket:
    """SIGKILL ``process`` and return its listening socket, still open.

    The socket is copied out of the process first (``pidfd_getfd``, which
    needs ptrace rights over it: the same user, or root), so it never closes:
    the process's connections are reset by its death as usual, but new
    connections are accepted by the kernel into the backlog and never
    answered.  Close the returned socket to free the port."""
    proc = process.process
    if proc is None or proc.poll() is not None:
        raise RuntimeError("the process is not running")
    listener = _listening_fd(proc.pid, process.port)
    libc = ctypes.CDLL(None, use_errno=True)
    pidfd = os.pidfd_open(proc.pid)
    try:
        fd = libc.syscall(_SYS_PIDFD_GETFD, pidfd, listener, 0)
        if fd < 0:
            err = ctypes.get_errno()
            raise OSError(err, f"pidfd_getfd: {os.strerror(err)}")
    finally:
        os.close(pidfd)
    held = socket.socket(fileno=fd)
    try:
        process.kill()
    except BaseException:
        held.close()
        raise
    return held


def _listening_fd(pid: int, port: int) -> int:
    """The fd number of ``pid``'s socket listening on ``port`` (its netns's view)."""
    inodes = set()
    for table in ("tcp", "tcp6"):
        try:
            with open(f"/proc/{pid}/net/{table}", encoding="ascii") as handle:
                rows = handle.read().splitlines()[1:]
        except FileNotFoundError:
            continue
        for row in rows:
            fields = row.split()
            if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:  # LISTEN
                inodes.add(f"socket:[{fields[9]}]")
    for name in os.listdir(f"/proc/{pid}/fd"):
        try:
            if os.readlink(f"/proc/{pid}/fd/{name}") in inodes:
                return int(name)
        except OSError:
            continue
    raise RuntimeError(f"process {pid} has no socket listening on port {port}")


def raw_command(port: int, cmd: dict, db: str = "test", timeout: float = 30.0) -> dict:
    """Send ``cmd`` to the member on loopback ``port`` exactly as given: no
    ``$readPreference``, read concern or session a driver would add."""
    from holddb.repl._client import MemberClient

    async def run() -> dict:
        client = MemberClient(f"127.0.0.1:{port}")
        try:
            return await client.command(cmd, db=db, timeout=timeout)
        finally:
            client.close()
    return asyncio.run(run())
