"""Supervised FUSE mounts: one helper process per mountpoint.

Every remote mount on a host without the kernel's own client is a FUSE
file system served by a user-space process (rclone, sshfs).  This module
starts that process, waits until the kernel shows the mount, records the
process and tears both down again::

    <state dir>/                 one per mountpoint, root only (0700)
      fuse.pid                   the serving process (its start time too,
                                 so a recycled pid is never mistaken for it)
      fuse.log                   its log (secrets are never on its command
                                 line, only in its environment or in a
                                 0600 config file)

States of a mountpoint, as ``state()`` reports them:

    "mounted"   the kernel shows a FUSE mount there and its process lives
    "dead"      the kernel still shows the mount but the process is gone
                (every access fails with ENOTCONN): ``stop`` clears it
    "absent"    nothing mounted

``start`` refuses a "mounted" point (the caller decides whether to reuse
it); callers hold their own lock around start/stop.  Failures are
``SystemError_`` naming the mountpoint and carrying the log's last line.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from typing import Mapping, Sequence

from hold.errors import SystemError_

__all__ = ["FuseProcess", "fuse_mounts", "mount_state", "detach", "stale_mounts"]

_OCTAL = re.compile(r"\\([0-7]{3})")


def _unescape(field: str) -> str:
    return _OCTAL.sub(lambda m: chr(int(m.group(1), 8)), field)


def fuse_mounts() -> dict[str, str]:
    """mountpoint -> fstype of every FUSE mount in this mount namespace."""
    found = {}
    try:
        with open("/proc/self/mountinfo") as f:
            for line in f:
                fields = line.split()
                fstype = fields[fields.index("-") + 1]
                if fstype == "fuse" or fstype.startswith(("fuse.", "fuseblk")):
                    found[_unescape(fields[4])] = fstype
    except OSError:
        pass
    return found


def mount_state(mountpoint: str, pidfile: str) -> str:
    """"mounted", "dead" or "absent"; see the module docstring."""
    if os.path.realpath(mountpoint) not in fuse_mounts():
        return "absent"
    return "mounted" if _recorded_pid(pidfile) else "dead"


def detach(mountpoint: str) -> None:
    """Unmount a FUSE mount, lazily if it is busy or its server is dead."""
    if os.path.realpath(mountpoint) not in fuse_mounts():
        return
    for argv in (["fusermount", "-u", mountpoint], ["fusermount", "-u", "-z", mountpoint]):
        if subprocess.run(argv, capture_output=True).returncode == 0:
            return
    from hold.runtime import _linux as L
    try:
        L.umount2(mountpoint, L.MNT_DETACH)
    except OSError as exc:
        raise SystemError_(f"unmount {mountpoint}: {exc.strerror}", errno=exc.errno) from exc


def stale_mounts(prefix: str) -> list[str]:
    """FUSE mounts under ``prefix`` whose server process is gone (for
    ``hold system check``): a pidfile next to them names a dead process,
    or none exists and the mount does not answer."""
    stale = []
    for point in fuse_mounts():
        if not point.startswith(prefix.rstrip("/") + "/"):
            continue
        try:
            os.stat(point)
        except OSError:
            stale.append(point)
    return sorted(stale)


def _reap(pid: int) -> None:
    """Collect ``pid`` if it is our own child (a zombie otherwise)."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def _start_time(pid: int) -> str:
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[19]


def _recorded_pid(pidfile: str) -> int:
    """The pid in ``pidfile`` if that very process still runs, else 0."""
    try:
        with open(pidfile) as f:
            pid_text, _, started = f.read().strip().partition(" ")
        pid = int(pid_text)
        if _start_time(pid) != started:
            return 0
        with open(f"/proc/{pid}/stat") as f:
            if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                return 0
        return pid
    except (OSError, ValueError, IndexError):
        return 0


class FuseProcess:
    """The process serving one FUSE mountpoint, recorded in ``state_dir``."""

    def __init__(self, mountpoint: str, state_dir: str, *, secrets: Sequence[str] = ()):
        self.mountpoint = mountpoint
        self.state_dir = state_dir
        self.pidfile = os.path.join(state_dir, "fuse.pid")
        self.logfile = os.path.join(state_dir, "fuse.log")
        self.secrets = [s for s in secrets if s]

    def state(self) -> str:
        return mount_state(self.mountpoint, self.pidfile)

    def pid(self) -> int:
        return _recorded_pid(self.pidfile)

    def start(self, argv: Sequence[str], env: Mapping[str, str], *,
              timeout: float = 30.0, what: str = "") -> None:
        """Run ``argv`` (which mounts on ``self.mountpoint`` and stays in the
        foreground) in its own session; return once the mount is visible."""
        if self.state() != "absent":
            raise SystemError_(f"{self.mountpoint} is already mounted")
        os.makedirs(self.state_dir, mode=0o700, exist_ok=True)
        log_fd = os.open(self.logfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            proc = subprocess.Popen(list(argv), env=dict(env), stdin=subprocess.DEVNULL,
                                    stdout=log_fd, stderr=log_fd, start_new_session=True,
                                    close_fds=True)
        except OSError as exc:
            raise SystemError_(f"{what or 'mount'}: cannot run {argv[0]}: {exc.strerror}",
                               errno=exc.errno) from exc
        finally:
            os.close(log_fd)
        with open(self.pidfile + ".tmp", "w") as f:
            f.write(f"{proc.pid} {_start_time(proc.pid)}\n")
        os.replace(self.pidfile + ".tmp", self.pidfile)
        deadline = time.monotonic() + timeout
        point = os.path.realpath(self.mountpoint)
        while point not in fuse_mounts():
            if proc.poll() is not None:
                self._forget()
                raise SystemError_(f"{what or 'mount'} failed: {self.last_error()}",
                                   mountpoint=self.mountpoint)
            if time.monotonic() > deadline:
                self.stop()
                raise SystemError_(f"{what or 'mount'}: no mount after {timeout:.0f}s: "
                                   f"{self.last_error()}", mountpoint=self.mountpoint)
            time.sleep(0.05)
        proc.returncode = 0     # detached on purpose: no ResourceWarning at exit

    def stop(self, timeout: float = 30.0) -> None:
        """Unmount, then wait for the server to finish (rclone uploads what
        it still holds before exiting) and make sure it is gone."""
        pid = self.pid()
        detach(self.mountpoint)
        if pid:
            deadline = time.monotonic() + timeout
            while _recorded_pid(self.pidfile) and time.monotonic() < deadline:
                _reap(pid)
                time.sleep(0.05)
            for sig in (signal.SIGTERM, signal.SIGKILL):
                if not _recorded_pid(self.pidfile):
                    break
                os.kill(pid, sig)
                end = time.monotonic() + 5
                while _recorded_pid(self.pidfile) and time.monotonic() < end:
                    _reap(pid)
                    time.sleep(0.05)
            _reap(pid)
        self._forget()

    def last_error(self) -> str:
        """The log's last meaningful line, secrets masked."""
        try:
            with open(self.logfile, errors="replace") as f:
                lines = [line.strip() for line in f if line.strip()]
        except OSError:
            return "no log"
        errors = [line for line in lines if "ERROR" in line or "CRITICAL" in line
                  or "Fatal" in line or "error" in line.lower()]
        line = (errors or lines or ["the mount process exited"])[-1]
        for secret in self.secrets:
            line = line.replace(secret, "********")
        return line

    def _forget(self) -> None:
        try:
            os.unlink(self.pidfile)
        except FileNotFoundError:
            pass
