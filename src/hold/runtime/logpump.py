"""Copy a container's output into Docker's json-file log (and to the user).

One line of output is one JSON object per log line, as Docker writes it::

    {"log":"hello\\n","stream":"stdout","time":"2026-11-24T20:30:00.123456789Z"}

Output is copied as it arrives; a line without its newline yet waits for
the rest (or for the end of the stream), so the log never splits a line in
two -- unless it is longer than 16 KiB: then, as Docker does, it becomes
entries of 16 KiB and only the last carries the newline.  When attached, the same bytes also go to the monitor's fds 1 and 2
(the user's terminal or pipes) unchanged.
"""

from __future__ import annotations

import errno
import os
import selectors
import time

from hold.runtime._light import log_entry, rfc3339_nano, split_entries

DRAIN_SECONDS = 2.0


class LogPump:
    def __init__(self, log_path: str, outputs: dict[int, str], echo: bool,
                 stdin_source: int | None = None, tty_master: int | None = None):
        self.log = open(log_path, "ab", buffering=0)
        self.outputs = dict(outputs)
        self.echo = echo
        self.stdin_source = stdin_source
        self.tty_master = tty_master
        self.partial: dict[int, bytes] = {fd: b"" for fd in outputs}

    def run_until_exit(self, pid: int) -> int:
        """Pump until ``pid`` has exited and its output is drained; its code."""
        from hold.runtime.monitor import pidfd_open
        sel = selectors.DefaultSelector()
        for fd in self.outputs:
            sel.register(fd, selectors.EVENT_READ, "out")
        pidfd = pidfd_open(pid)
        sel.register(pidfd, selectors.EVENT_READ, "exit")
        if self.stdin_source is not None and self.tty_master is not None:
            sel.register(self.stdin_source, selectors.EVENT_READ, "in")
        code = None
        deadline = None
        try:
            while self.outputs or code is None:
                timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
                events = sel.select(timeout)
                if not events and deadline is not None:
                    break
                for key, _ in events:
                    if key.data == "exit":
                        sel.unregister(pidfd)
                        code = _reap(pid)
                        deadline = time.monotonic() + DRAIN_SECONDS
                    elif key.data == "in":
                        if not self._forward_input(key.fd):
                            sel.unregister(key.fd)
                    elif not self._pump(key.fd):
                        sel.unregister(key.fd)
                        self._finish(key.fd)
        finally:
            os.close(pidfd)
            for fd in list(self.outputs):
                self._finish(fd)
            self.log.close()
            _reap_orphans()
        return code

    def _pump(self, fd: int) -> bool:
        try:
            data = os.read(fd, 65536)
        except OSError as exc:
            if exc.errno != errno.EIO:      # EIO: the pty's last holder closed it
                raise
            data = b""
        if not data:
            return False
        stream = self.outputs[fd]
        if self.echo:
            _write_all(2 if stream == "stderr" else 1, data)
        entries, self.partial[fd] = split_entries(self.partial[fd] + data)
        if entries:
            now = rfc3339_nano()
            self.log.write(b"".join(log_entry(entry, stream, now) for entry in entries))
        return True

    def _finish(self, fd: int) -> None:
        rest = self.partial.pop(fd, b"")
        if rest:
            self.log.write(log_entry(rest, self.outputs[fd], rfc3339_nano()))
        del self.outputs[fd]
        try:
            os.close(fd)
        except OSError:
            pass

    def _forward_input(self, fd: int) -> bool:
        try:
            data = os.read(fd, 65536)
        except OSError:
            return False
        if not data:
            return False
        _write_all(self.tty_master, data)
        return True


def _write_all(fd: int, data: bytes) -> None:
    try:
        while data:
            data = data[os.write(fd, data):]
    except OSError:
        pass        # the reader went away; the log still gets everything


def _reap(pid: int) -> int:
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


def _reap_orphans() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
