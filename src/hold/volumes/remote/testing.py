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
        samba.panics()         the PANIC lines smbd logged (none, or a bug)

Only ``private`` is 0700; the other directories are 0755 as in a packaged
Samba.  smbd's per-connection children serve requests as the share's user;
with ``lock`` at 0700 they evidently cannot check each other through
``lock/msg.lock/PID``, take live processes for dead and break their
share-mode locks: under concurrent clients (rclone's connection pool) smbd
then panics ("Could not unlock share mode"), and the broken record makes
every later open of that directory panic too, so a mount's uploads fail
for good with "connection error: EOF".

smbd runs in its own session; ``stop`` kills the whole process group, so
no helper it forked (samba-dcerpcd, per-connection children) outlives it.

``MotoServer`` is an S3 server (moto, from PyPI) on a free loopback port;
``RclonePlugin`` runs ``rclone serve docker`` (a real third-party Docker
volume plugin) on a socket in a given plugin directory, its volumes under
its own base directory; ``stop`` unmounts whatever it left mounted.
``SshServer`` is a private ``sshd -D`` on a free loopback port with its own
host key, a client key pair (``identity``) allowed to log in as root, and
an ``export`` directory (the sshfs driver's tests).  ``AzuriteServer`` is
Azure Blob Storage's emulator (npm ``azurite``) with its well-known
development account.
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

__all__ = ["SambaServer", "MotoServer", "RclonePlugin", "SshServer", "AzuriteServer",
           "free_port", "fuse_mounts_under"]

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


class _ServerContext:
    """``with Server(...) as s``: start() on enter (stop() if start fails
    half-way), stop() on exit."""

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc) -> None:
        self.stop()

class SambaServer(_ServerContext):
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
        os.mkdir(d)
        os.chmod(d, 0o755)
        for sub in ("private", "lock", "state", "cache", "pid", "ncalrpc"):
            os.mkdir(os.path.join(d, sub))
            os.chmod(os.path.join(d, sub), 0o700 if sub == "private" else 0o755)
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

    def panics(self) -> list[str]:
        """smbd's PANIC lines, from every log it wrote: a healthy server has none."""
        import glob
        found = []
        for path in sorted(glob.glob(os.path.join(self.workdir, "samba", "log.*"))):
            with open(path, errors="replace") as f:
                found += [line.strip() for line in f if "PANIC" in line]
        return found

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


class _Process:
    """A server in its own session, stopped with its whole group."""

    def __init__(self, argv: list[str], log: str, env: dict | None = None):
        with open(log, "wb") as out:
            self.process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out,
                                            stderr=subprocess.STDOUT, env=env,
                                            start_new_session=True)
        self.log = log

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
            try:
                os.killpg(self.process.pid, sig)
            except ProcessLookupError:
                break
            try:
                self.process.wait(timeout=wait)
                break
            except subprocess.TimeoutExpired:
                continue
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait()


def _wait_for(check, what: str, server: _Process, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if not server.alive():
            with open(server.log, errors="replace") as f:
                raise RuntimeError(f"{what} exited: {f.read()[-2000:]}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} not ready after {timeout:.0f}s")
        time.sleep(0.1)


class MotoServer(_ServerContext):
    """moto's S3 server on 127.0.0.1 (any access key works)."""

    access_key, secret_key = "hold-test", "hold-test-secret"

    def __init__(self, workdir: str):
        self.workdir = workdir
        self.port = 0
        self.server: _Process | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "MotoServer":
        self.port = free_port()
        self.server = _Process(["moto_server", "-H", "127.0.0.1", "-p", str(self.port)],
                               os.path.join(self.workdir, "moto.log"))

        def listening():
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return True
            except OSError:
                return False
        _wait_for(listening, "moto_server", self.server)
        return self

    def client(self):
        import boto3
        return boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1",
                            aws_access_key_id=self.access_key,
                            aws_secret_access_key=self.secret_key)

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None


class RclonePlugin(_ServerContext):
    """``rclone serve docker`` answering on ``<plugin_dir>/<name>.sock``."""

    def __init__(self, workdir: str, plugin_dir: str, name: str = "rclone"):
        self.workdir = workdir
        self.socket = os.path.join(plugin_dir, name + ".sock")
        self.base_dir = os.path.join(workdir, "rclone-volumes")
        self.server: _Process | None = None

    def start(self) -> "RclonePlugin":
        from hold.volumes.remote.smbshare import rclone_binary
        os.makedirs(os.path.dirname(self.socket), exist_ok=True)
        self.server = _Process(
            [rclone_binary(), "serve", "docker", "--socket-addr", self.socket,
             "--base-dir", self.base_dir, "--cache-dir", os.path.join(self.workdir, "cache"),
             "--config", "", "--forget-state", "--no-spec"],
            os.path.join(self.workdir, "rclone-plugin.log"))
        _wait_for(lambda: os.path.exists(self.socket), "rclone serve docker", self.server)
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None
        for point in fuse_mounts_under(self.base_dir):
            subprocess.run(["fusermount", "-u", "-z", point], capture_output=True)
        try:
            os.unlink(self.socket)
        except FileNotFoundError:
            pass


_SSHD_CONF = """\
Port {port}
ListenAddress 127.0.0.1
HostKey {d}/host_ed25519
PidFile {d}/sshd.pid
AuthorizedKeysFile {d}/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
Subsystem sftp internal-sftp
"""


class SshServer(_ServerContext):
    """A private sshd; see the module docstring."""

    user = "root"

    def __init__(self, workdir: str | None = None):
        self.workdir = tempfile.mkdtemp(prefix="hold-sshd-", dir=workdir)
        self.export = os.path.join(self.workdir, "export")
        self.identity = os.path.join(self.workdir, "id_ed25519")
        self.port = 0
        self.server: _Process | None = None

    @property
    def sshcmd(self) -> str:
        return f"{self.user}@127.0.0.1:{self.export}"

    def start(self) -> "SshServer":
        d = self.workdir
        os.mkdir(self.export, 0o755)
        for key in ("host_ed25519", "id_ed25519"):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f",
                            os.path.join(d, key)], check=True, capture_output=True)
        shutil.copy(self.identity + ".pub", os.path.join(d, "authorized_keys"))
        self.port = free_port()
        with open(os.path.join(d, "sshd_config"), "w") as f:
            f.write(_SSHD_CONF.format(port=self.port, d=d))
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)   # sshd's privsep dir
        self.server = _Process(["/usr/sbin/sshd", "-D", "-e", "-f",
                                os.path.join(d, "sshd_config")],
                               os.path.join(d, "sshd.log"))

        def listening():
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return True
            except OSError:
                return False
        _wait_for(listening, "sshd", self.server)
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None
        shutil.rmtree(self.workdir, ignore_errors=True)


class AzuriteServer(_ServerContext):
    """azurite-blob on a free loopback port, data in ``workdir``."""

    account = "devstoreaccount1"
    # Azurite's published development key (the same in every installation)
    key = ("Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/"
           "K1SZFPTOtr/KBHBeksoGMGw==")

    def __init__(self, workdir: str):
        self.workdir = workdir
        self.port = 0
        self.server: _Process | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}/{self.account}"

    def start(self) -> "AzuriteServer":
        self.port = free_port()
        data = os.path.join(self.workdir, "azurite")
        os.makedirs(data, exist_ok=True)
        self.server = _Process(["azurite-blob", "--blobHost", "127.0.0.1", "--blobPort",
                                str(self.port), "--location", data, "--silent",
                                "--skipApiVersionCheck"],
                               os.path.join(self.workdir, "azurite.log"))

        def listening():
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return True
            except OSError:
                return False
        _wait_for(listening, "azurite-blob", self.server)
        return self

    def rclone(self, *args: str) -> str:
        """An rclone command against the emulator (the tests' own view)."""
        from hold.volumes.remote.smbshare import rclone_binary
        env = {k: v for k, v in os.environ.items() if not k.startswith("RCLONE_")}
        env.update(RCLONE_AZUREBLOB_ACCOUNT=self.account, RCLONE_AZUREBLOB_KEY=self.key,
                   RCLONE_AZUREBLOB_ENDPOINT=self.endpoint)
        return subprocess.run([rclone_binary(), "--config", "", *args], env=env,
                              capture_output=True, text=True, check=True).stdout

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None

