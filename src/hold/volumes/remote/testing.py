"""Real servers for the remote drivers' tests, started on loopback.

``SambaServer`` runs Debian's ``smbd`` in the foreground with a generated
smb.conf whose every directory (private, state, lock, cache, pid, passdb)
lives in one temporary directory, on a free 127.0.0.1 port, with one share
and one user (the host account ``nobody`` with a random password in the
private passdb; the host's own Samba configuration is never read)::

    with SambaServer(workdir) as samba:
        samba.unc              //127.0.0.1:PORT/data
        samba.share_dir        the share as the server sees it on disk
        samba.password_file    a 0600 file holding the user's password
        samba.get(path)        a file's bytes read back through SMB (smbclient)

smbd runs in its own session; ``stop`` kills the whole process group, so
no helper it forked (samba-dcerpcd, per-connection children) outlives it.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time

__all__ = ["SambaServer", "free_port", "fuse_mounts_under"]

_CONF = """\
[global]
  server role = standalone server
  smb ports = {port}
  interfaces = 127.0.0.1
  bind interfaces only = yes
  disable netbios = yes
  server min protocol = SMB2_02
  private dir = {d}/private
  lock directory = {d}/lock
  state directory = {d}/state
  cache directory = {d}/cache
  pid directory = {d}/pid
  ncalrpc dir = {d}/ncalrpc
  passdb backend = tdbsam:{d}/private/passdb.tdb
  log file = {d}/log.%m
  log level = 1
  load printers = no
  printing = bsd
  printcap name = /dev/null
  disable spoolss = yes
  map to guest = never
  usershare path =
  registry shares = no

[{share}]
  path = {share_dir}
  read only = no
  valid users = {user}
  create mask = 0644
  directory mask = 0755
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fuse_mounts_under(prefix: str) -> list[str]:
    """FUSE mountpoints at or under ``prefix`` (host mount table)."""
    found = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            fstype = fields[fields.index("-") + 1]
            if fstype.startswith("fuse") and (fields[4] == prefix
                                              or fields[4].startswith(prefix.rstrip("/") + "/")):
                found.append(fields[4])
    return found


class SambaServer:
    """A private smbd; see the module docstring."""

    user = "nobody"

    def __init__(self, workdir: str | None = None, share: str = "data"):
        self.workdir = tempfile.mkdtemp(prefix="hold-samba-", dir=workdir)
        self.share = share
        self.share_dir = os.path.join(self.workdir, "share")
        self.password = secrets.token_hex(12)
        self.password_file = os.path.join(self.workdir, "password")
        self.port = 0
        self.process: subprocess.Popen | None = None

    @property
    def unc(self) -> str:
        return f"//127.0.0.1:{self.port}/{self.share}"

    @property
    def conf(self) -> str:
        return os.path.join(self.workdir, "smb.conf")

    def start(self) -> "SambaServer":
        d = os.path.join(self.workdir, "samba")
        for sub in ("private", "lock", "state", "cache", "pid", "ncalrpc"):
            os.makedirs(os.path.join(d, sub), mode=0o700)
        os.chmod(self.workdir, 0o711)          # the share's user passes through
        os.mkdir(self.share_dir, 0o755)
        os.chown(self.share_dir, 65534, 65534)
        self.port = free_port()
        with open(self.conf, "w") as f:
            f.write(_CONF.format(port=self.port, d=d, share=self.share,
                                 share_dir=self.share_dir, user=self.user))
        fd = os.open(self.password_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(self.password + "\n")
        subprocess.run(["smbpasswd", "-c", self.conf, "-a", "-s", self.user],
                       input=f"{self.password}\n{self.password}\n", text=True,
                       check=True, capture_output=True)
        log = open(os.path.join(self.workdir, "smbd.out"), "wb")
        self.process = subprocess.Popen(
            ["smbd", "--foreground", "--no-process-group", f"--configfile={self.conf}"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True)
        log.close()
        self._wait_ready()
        return self

    def _wait_ready(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"smbd exited: {self.log()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"smbd did not listen on {self.port}: {self.log()}")

    def log(self) -> str:
        try:
            with open(os.path.join(self.workdir, "smbd.out"), errors="replace") as f:
                return f.read()[-2000:]
        except OSError:
            return ""

    def smbclient(self, command: str) -> subprocess.CompletedProcess:
        """Run smbclient commands against the share as the share's user."""
        auth = os.path.join(self.workdir, "auth")
        if not os.path.exists(auth):
            fd = os.open(auth, os.O_WRONLY | os.O_CREAT, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(f"username = {self.user}\npassword = {self.password}\n")
        return subprocess.run(
            ["smbclient", f"//127.0.0.1/{self.share}", "-p", str(self.port), "-A", auth,
             "-s", self.conf, "-m", "SMB3", "-c", command],
            capture_output=True, text=True, timeout=60)

    def get(self, path: str) -> bytes:
        """A file's bytes as the SMB protocol serves them (smbclient get)."""
        local = os.path.join(self.workdir, "fetched")
        result = self.smbclient(f'get "{path}" "{local}"')
        if result.returncode != 0:
            raise FileNotFoundError(f"smbclient get {path}: {result.stdout}{result.stderr}")
        try:
            with open(local, "rb") as f:
                return f.read()
        finally:
            os.unlink(local)

    def stop(self) -> None:
        if self.process is not None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
            try:                                    # children of the group
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.process = None
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> "SambaServer":
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc) -> None:
        self.stop()
