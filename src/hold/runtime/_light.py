"""The idle monitor: what a detached container costs while it runs.

A detached monitor re-executes itself as ``python -S -I`` running
``main`` here, so an idle container costs an interpreter and this module,
not the CLI's heap.  It imports only ``os``, ``select`` and ``time``: the
log lines are written by hand (``log_entry``), the container is watched
through a pidfd.  When the container exits, the monitor hands over to
``hold.runtime.monitor.resume_after_exit`` (which imports what recording
the exit, restarting or removing needs: the cost is paid once, at the end).

Arguments come as ``key=value`` strings (no JSON parser needed)::

    cid= runroot= pid= log= outputs=FD:stream,FD:stream held=FD,FD proxy=PID

The native monitor (``runtime/native/hold-monitor.c``) does the same idle
work in C and, when the container has exited, execs this same command with
only ``cid= runroot= exited=CODE``: ``main`` then goes straight to the
hand-over, so both monitors end in one code path.
"""

from __future__ import annotations

import os
import select
import time

DRAIN_SECONDS = 2.0
#: Docker's json-file splits a longer line into entries of this size (the
#: last one carries the newline), so a container that writes without
#: newlines cannot make its monitor hold more than this per stream.
MAX_ENTRY = 16 * 1024
_ESCAPES = {i: f"\\u{i:04x}" for i in range(32)}
_ESCAPES.update({ord('"'): '\\"', ord("\\"): "\\\\", 8: "\\b", 9: "\\t", 10: "\\n",
                 12: "\\f", 13: "\\r"})


def rfc3339_nano(ts: float | None = None) -> str:
    ts = time.time() if ts is None else ts
    whole = int(ts)
    nanos = int((ts - whole) * 1e9)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{nanos:09d}Z"


def log_entry(data: bytes, stream: str, now: str) -> bytes:
    """One json-file line: {"log":"...","stream":"stdout","time":"..."}."""
    text = data.decode("utf-8", errors="replace").translate(_ESCAPES)
    return f'{{"log":"{text}","stream":"{stream}","time":"{now}"}}\n'.encode()


def split_entries(buffered: bytes) -> tuple[list[bytes], bytes]:
    """(whole log entries, the rest to keep) of a stream's pending bytes.

    Every line is cut into MAX_ENTRY pieces from its start and only its
    last piece gets the newline, whatever the reads' sizes were: a rest of
    exactly MAX_ENTRY bytes is kept until the next byte tells whether the
    line ends there."""
    *lines, rest = buffered.split(b"\n")
    entries = []
    for line in lines:
        while len(line) > MAX_ENTRY:
            entries.append(line[:MAX_ENTRY])
            line = line[MAX_ENTRY:]
        entries.append(line + b"\n")
    while len(rest) > MAX_ENTRY:
        entries.append(rest[:MAX_ENTRY])
        rest = rest[MAX_ENTRY:]
    return entries, rest


def main(argv: list[str]) -> None:
    args = dict(item.split("=", 1) for item in argv)
    with open("/proc/self/comm", "w") as f:
        f.write("hold-monitor")
    code = 125
    try:
        if "exited" in args:        # the native monitor logged, reaped, stopped the proxy
            code = int(args["exited"])
        else:
            outputs = {int(fd): stream for fd, stream in
                       (pair.split(":") for pair in args["outputs"].split(",") if pair)}
            code = pump(int(args["pid"]), outputs, args["log"])
            proxy = int(args.get("proxy") or 0)
            if proxy:
                _stop(proxy)
        from hold.runtime.monitor import resume_after_exit
        resume_after_exit(args["runroot"], args["cid"], code)
    finally:
        os._exit(0)


def pump(pid: int, outputs: dict[int, str], log_path: str) -> int:
    """Log the container's output until it has exited and is drained."""
    log = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
    pidfd = os.pidfd_open(pid)
    poller = select.poll()
    for fd in outputs:
        poller.register(fd, select.POLLIN)
    poller.register(pidfd, select.POLLIN)
    partial = {fd: b"" for fd in outputs}
    code = None
    deadline = None
    while outputs or code is None:
        timeout = None if deadline is None else max(0, int((deadline - time.monotonic()) * 1000))
        events = poller.poll(timeout)
        if not events and deadline is not None:
            break
        for fd, _ in events:
            if fd == pidfd:
                poller.unregister(pidfd)
                code = _reap(pid)
                deadline = time.monotonic() + DRAIN_SECONDS
                continue
            data = _read(fd)
            if data:
                entries, partial[fd] = split_entries(partial[fd] + data)
                if entries:
                    now = rfc3339_nano()
                    os.write(log, b"".join(log_entry(e, outputs[fd], now) for e in entries))
                continue
            poller.unregister(fd)
            _finish(log, fd, partial.pop(fd), outputs.pop(fd))
    for fd in list(outputs):
        _finish(log, fd, partial.pop(fd), outputs.pop(fd))
    os.close(pidfd)
    os.close(log)
    return code


def _read(fd: int) -> bytes:
    try:
        return os.read(fd, 65536)
    except OSError:             # EIO: the pty's last holder closed it
        return b""


def _finish(log: int, fd: int, rest: bytes, stream: str) -> None:
    if rest:
        os.write(log, log_entry(rest, stream, rfc3339_nano()))
    os.close(fd)


def _reap(pid: int) -> int:
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


def _stop(pid: int) -> None:
    try:
        os.kill(pid, 15)
        os.waitpid(pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass
