"""Test helpers that ship with the package: start a real holddb subprocess.

``HolddbProcess(dbpath)`` runs ``python -m holddb.main`` on a free loopback
port; ``start()`` returns once the port accepts connections; ``stop()``
sends SIGTERM and waits (``kill()`` sends SIGKILL, for crash tests).  Use it
as a context manager so that no process outlives its test.  ``host`` and
``wrapper`` place it elsewhere: ``wrapper=["ip", "netns", "exec", NS]`` with
the address it has in that namespace (``holddb.repl.netns_testing``); the
wrapper must exec the server, so that the pid is the server's.

``find_mongosh()`` locates the shell installed by ``.ci/install-holddb.sh``
(``/opt/hold-cache/mongosh``), or on PATH; None when absent.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from typing import Any

__all__ = ["HolddbProcess", "free_port", "find_mongosh", "MONGOSH_PREFIX"]

MONGOSH_PREFIX = os.environ.get("HOLDDB_MONGOSH_PREFIX", "/opt/hold-cache/mongosh")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def find_mongosh() -> str | None:
    candidate = os.path.join(MONGOSH_PREFIX, "node_modules", ".bin", "mongosh")
    if os.access(candidate, os.X_OK):
        return candidate
    return shutil.which("mongosh")


class HolddbProcess:
    """One holddb server process on 127.0.0.1 (or ``host``) with its own dbpath."""

    def __init__(self, dbpath: str, *, port: int | None = None, extra_args: list[str] | None = None,
                 logpath: str | None = None, host: str = "127.0.0.1",
                 wrapper: list[str] | None = None) -> None:
        self.dbpath = dbpath
        self.host = host
        self.wrapper = list(wrapper or [])
        self.port = port or free_port()
        self.extra_args = list(extra_args or [])
        self.logpath = logpath or os.path.join(os.path.dirname(dbpath.rstrip("/")) or ".",
                                               f"holddb-{self.port}.log")
        self.process: subprocess.Popen | None = None

    @property
    def uri(self) -> str:
        return f"mongodb://{self.host}:{self.port}/"

    def start(self, timeout: float = 20.0) -> "HolddbProcess":
        cmd = [*self.wrapper, sys.executable, "-m", "holddb.main", "--port", str(self.port),
               "--bind_ip", self.host, "--dbpath", self.dbpath,
               "--logpath", self.logpath, "--logappend", *self.extra_args]
        self.process = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                err = self.process.stderr.read().decode(errors="replace") if self.process.stderr else ""
                raise RuntimeError(f"holddb exited with {self.process.returncode}: {err}")
            try:
                with socket.create_connection((self.host, self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"holddb did not listen on port {self.port} within {timeout}s")

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM and wait; SIGKILL if it does not exit in ``timeout``."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        code = self.process.returncode
        self._close_pipes()
        return code

    def kill(self) -> None:
        """SIGKILL: the crash a durability test wants."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self._close_pipes()

    def _close_pipes(self) -> None:
        if self.process is not None and self.process.stderr is not None:
            self.process.stderr.close()

    def __enter__(self) -> "HolddbProcess":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
