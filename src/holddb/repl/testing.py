"""Test helpers for replica sets: N real holddb members on loopback ports.

``LocalReplicaSet(workdir, members=3)`` makes one ``HolddbProcess`` per
member (``--replSet NAME``, its own dbpath and log under ``workdir``);
``start()`` starts them, ``initiate()`` runs replSetInitiate on the first
and waits for one PRIMARY and the rest SECONDARY; ``kill(i)`` is a SIGKILL,
``restart(i)`` starts member ``i`` again on the same port and dbpath;
``close()`` kills every member still running (use it in a ``finally`` or
as a context manager: no process outlives its test).
"""

from __future__ import annotations

import time
from typing import Any

from holddb.testing import HolddbProcess, free_port

__all__ = ["LocalReplicaSet"]


class LocalReplicaSet:
    def __init__(self, workdir: str, members: int = 3, *, name: str = "replSet0",
                 settings: dict | None = None) -> None:
        self.workdir = workdir
        self.name = name
        self.settings = settings
        self.ports = [free_port() for _ in range(members)]
        self.processes = [self._process(i) for i in range(members)]

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

    def restart(self, index: int) -> None:
        self.processes[index].kill()
        self.processes[index] = self._process(index)
        self.processes[index].start()

    def close(self) -> None:
        for process in self.processes:
            process.kill()

    def __enter__(self) -> "LocalReplicaSet":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.close()
