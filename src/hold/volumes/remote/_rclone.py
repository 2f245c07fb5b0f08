"""Remote storage through rclone: FUSE mounts and server-side mkdir/purge.

    RcloneClient   what every backend shares (mount flags, upload waits)
    RcloneSmb      an SMB share: ``RCLONE_SMB_HOST``, ``_PORT``, ``_USER``,
                   ``_PASS`` (obscured by ``rclone obscure -`` from stdin),
                   ``_DOMAIN``; remote ``:smb:SHARE/PATH``
    RcloneS3       an S3 bucket: ``RCLONE_S3_PROVIDER``, ``_ENDPOINT``,
                   ``_REGION``, ``_ACCESS_KEY_ID``, ``_SECRET_ACCESS_KEY``;
                   remote ``:s3:BUCKET/PATH``
    RcloneAzureBlob  an Azure Blob container: ``RCLONE_AZUREBLOB_ACCOUNT``,
                   ``_KEY``, ``_ENDPOINT``; remote ``:azureblob:CONTAINER/PATH``

rclone is configured only through its environment and an on-the-fly
remote, with ``--config ""`` so no rclone.conf is read or written.  A
process's environment is readable by root only (/proc/PID/environ is 0400).

Mount flags and why:

    --vfs-cache-mode writes   files opened for writing go through a local
                              cache (random writes, O_RDWR, SQLite's
                              journal work); uploads follow the close
    --vfs-write-back 1s       ... one second after the last close
    --allow-other             non-root users in containers can use it
    --dir-cache-time 10s      other clients' changes show within seconds
    --uid/--gid/--file-perms/--dir-perms   from uid= gid= file_mode= dir_mode=
"""

from __future__ import annotations

import os
import time

from hold.errors import SystemError_
from hold.volumes.remote._fuse import FuseProcess
from hold.volumes.remote.smbshare import WRITE_BACK, rclone_binary, run_quiet

__all__ = ["RcloneClient", "RcloneSmb", "RcloneS3", "RcloneAzureBlob"]

_QUICK = ["--contimeout", "10s", "--timeout", "30s", "--retries", "1",
          "--low-level-retries", "2"]


#: how long uploads may make no progress before an unmount gives up
UPLOAD_STALL_TIMEOUT = 60.0


class RcloneClient:
    """Subclasses give ``where`` (for messages), ``_backend_env()``,
    ``_remote(subpath)``, ``_secrets()`` and the mount's uid, gid,
    file_mode, dir_mode."""

    kind = "rclone"
    #: what `volume inspect` says under Status
    durability = ("rclone FUSE mount with a write cache: a file reaches the server "
                  f"about {WRITE_BACK} after its last close; fsync does not reach it")
    where = ""
    uid = gid = file_mode = dir_mode = ""

    def __init__(self):
        self.rclone = rclone_binary()

    def _backend_env(self) -> dict[str, str]:
        raise NotImplementedError

    def _remote(self, subpath: str) -> str:
        raise NotImplementedError

    def _secrets(self) -> tuple[str, ...]:
        return ()

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("RCLONE_")}
        env.update(self._backend_env())
        return env

    def _run(self, args: list[str], what: str) -> str:
        env = self._env()
        return run_quiet([self.rclone, *args, "--config", "", *_QUICK], env,
                         what=f"{what} on {self.where}", secrets=self._secrets())

    # -- on the server, without a mount ------------------------------------------

    def check(self, state_dir: str = "") -> None:
        """Log in and list the remote path: a wrong password or an
        unreachable server fails here, before anything is mounted."""
        try:
            self._run(["lsf", "--max-depth", "1", "--dirs-only", self._remote("")],
                      "connect")
        except SystemError_ as exc:
            if "directory not found" not in str(exc):     # logged in; mkdir makes it
                raise

    def mkdir(self, subpath: str, state_dir: str = "") -> None:
        self._run(["mkdir", self._remote(subpath)], "mkdir")

    def purge(self, subpath: str, state_dir: str = "") -> None:
        try:
            self._run(["purge", self._remote(subpath)], "purge")
        except SystemError_ as exc:
            if "not found" not in str(exc) and "doesn't exist" not in str(exc):
                raise

    # -- FUSE mounts -------------------------------------------------------------

    def process(self, mountpoint: str, state_dir: str) -> FuseProcess:
        return FuseProcess(mountpoint, state_dir, secrets=self._secrets())

    def state(self, mountpoint: str, state_dir: str) -> str:
        return FuseProcess(mountpoint, state_dir).state()

    def mount(self, subpath: str, mountpoint: str, state_dir: str) -> None:
        s = self
        argv = [self.rclone, "mount", self._remote(subpath), mountpoint, "--config", "",
                "--vfs-cache-mode", "writes", "--vfs-write-back", WRITE_BACK,
                "--cache-dir", os.path.join(state_dir, "cache"), "--allow-other",
                "--dir-cache-time", "10s", "--contimeout", "10s", "--log-level", "NOTICE",
                "--rc", "--rc-no-auth", "--rc-addr", "unix://" + _rc_socket(state_dir)]
        for flag, value in (("--uid", s.uid), ("--gid", s.gid)):
            if value:
                argv += [flag, value]
        if s.file_mode:
            argv += ["--file-perms", s.file_mode.zfill(4)]
        if s.dir_mode:
            argv += ["--dir-perms", s.dir_mode.zfill(4)]
        if s.file_mode or s.dir_mode:
            argv += ["--umask", "0000"]
        _remove_socket(_rc_socket(state_dir))           # left by a server that died
        self.process(mountpoint, state_dir).start(argv, self._env(),
                                                  what=f"mount {self.where}")

    def unmount(self, mountpoint: str, state_dir: str, *, force: bool = False,
                stall_timeout: float = UPLOAD_STALL_TIMEOUT, hint: str = "",
                report=None) -> None:
        """Wait for pending uploads (rclone would exit without them), then
        unmount and let the process end.  ``force`` drops what is pending."""
        process = self.process(mountpoint, state_dir)
        if process.pid() and not force:
            wait_for_uploads(_rc_socket(state_dir), what=f"unmount {self.where}",
                             stall_timeout=stall_timeout, hint=hint, report=report,
                             log=process.logfile)
        process.stop()
        _remove_socket(_rc_socket(state_dir))



class RcloneSmb(RcloneClient):
    def __init__(self, share):
        super().__init__()
        self.share = share
        self.where = share.unc
        self.uid, self.gid = share.uid, share.gid
        self.file_mode, self.dir_mode = share.file_mode, share.dir_mode
        self._obscured = ""

    def _backend_env(self) -> dict[str, str]:
        if not self._obscured:
            self._obscured = run_quiet([self.rclone, "obscure", "-"], None,
                                       what="rclone obscure", stdin=self.share.password,
                                       secrets=(self.share.password,)).strip()
        env = dict(RCLONE_SMB_HOST=self.share.host, RCLONE_SMB_PORT=str(self.share.port),
                   RCLONE_SMB_USER=self.share.username, RCLONE_SMB_PASS=self._obscured)
        if self.share.domain:
            env["RCLONE_SMB_DOMAIN"] = self.share.domain
        return env

    def _remote(self, subpath: str) -> str:
        return f":smb:{self.share.share}/{self.share.join(subpath)}".rstrip("/")

    def _secrets(self) -> tuple[str, ...]:
        return (self.share.password, self._obscured)


class RcloneS3(RcloneClient):
    """``bucket`` may carry a path (``BUCKET/PATH``); see s3.py's options."""

    def __init__(self, *, bucket: str, endpoint: str = "", region: str = "",
                 access_key_id: str = "", secret_access_key: str = "", provider: str = "",
                 uid: str = "", gid: str = "", file_mode: str = "", dir_mode: str = ""):
        super().__init__()
        self.bucket = bucket.strip("/")
        self.endpoint, self.region = endpoint, region
        self.access_key_id, self.secret_access_key = access_key_id, secret_access_key
        self.provider = provider or ("Other" if endpoint else "AWS")
        self.where = f"s3://{self.bucket}" + (f" at {endpoint}" if endpoint else "")
        self.uid, self.gid, self.file_mode, self.dir_mode = uid, gid, file_mode, dir_mode

    def _backend_env(self) -> dict[str, str]:
        env = {"RCLONE_S3_PROVIDER": self.provider, "RCLONE_S3_ENV_AUTH": "false"}
        for key, value in (("ENDPOINT", self.endpoint), ("REGION", self.region),
                           ("ACCESS_KEY_ID", self.access_key_id),
                           ("SECRET_ACCESS_KEY", self.secret_access_key)):
            if value:
                env["RCLONE_S3_" + key] = value
        return env

    def _remote(self, subpath: str) -> str:
        return f":s3:{self.bucket}/{subpath.strip('/')}".rstrip("/")

    def _secrets(self) -> tuple[str, ...]:
        return (self.secret_access_key,)



class RcloneAzureBlob(RcloneClient):
    """``container`` may carry a path (``CONTAINER/PATH``); see azureblob.py."""

    def __init__(self, *, container: str, account: str, key: str = "", endpoint: str = "",
                 uid: str = "", gid: str = "", file_mode: str = "", dir_mode: str = ""):
        super().__init__()
        self.container = container.strip("/")
        self.account, self.key, self.endpoint = account, key, endpoint
        self.where = f"azureblob://{account}/{self.container}" + (
            f" at {endpoint}" if endpoint else "")
        self.uid, self.gid, self.file_mode, self.dir_mode = uid, gid, file_mode, dir_mode

    def _backend_env(self) -> dict[str, str]:
        env = {"RCLONE_AZUREBLOB_ACCOUNT": self.account, "RCLONE_AZUREBLOB_ENV_AUTH": "false"}
        if self.key:
            env["RCLONE_AZUREBLOB_KEY"] = self.key
        if self.endpoint:
            env["RCLONE_AZUREBLOB_ENDPOINT"] = self.endpoint
        return env

    def _remote(self, subpath: str) -> str:
        return f":azureblob:{self.container}/{subpath.strip('/')}".rstrip("/")

    def _secrets(self) -> tuple[str, ...]:
        return (self.key,)


def _rc_socket(state_dir: str) -> str:
    """rclone's rc socket, in the state dir unless that path is too long
    for a unix socket (108 bytes): then /run/hold-fuse/<hash>.sock (0700)."""
    path = os.path.join(state_dir, "rc.sock")
    if len(path.encode()) < 100:
        return path
    import hashlib
    os.makedirs("/run/hold-fuse", mode=0o700, exist_ok=True)
    digest = hashlib.sha256(os.path.realpath(state_dir).encode()).hexdigest()[:24]
    return f"/run/hold-fuse/{digest}.sock"


def _remove_socket(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def pending_uploads(rc_socket: str) -> tuple[int, int, str] | None:
    """(uploads queued or running, bytes rclone has moved, its last error)
    from the rc socket; None when the server does not answer (dead, or an
    rclone without rc): then there is nothing left to wait for."""
    from hold.volumes.remote._unixhttp import post_json
    try:
        status, stats = post_json(rc_socket, "/vfs/stats", {}, timeout=10)
        if status != 200 or not isinstance(stats, dict):
            return None
        cache = stats.get("diskCache") or {}
        pending = int(cache.get("uploadsInProgress") or 0) + int(cache.get("uploadsQueued") or 0)
        moved, error = 0, ""
        if pending:
            status, core = post_json(rc_socket, "/core/stats", {}, timeout=10)
            if status == 200 and isinstance(core, dict):
                moved, error = int(core.get("bytes") or 0), str(core.get("lastError") or "")
        return pending, moved, error
    except (OSError, ValueError):
        return None


SETTLE_SECONDS = 0.5


def upload_now(rc_socket: str) -> None:
    """Make every upload rclone holds back eligible now.

    An unmount wants the write cache flushed, not rclone's write-back
    delay or its retry backoff: a failed upload waits twice as long each
    time (up to 5 minutes), so a few quick failures on a dropped connection
    (Samba closing it: "connection error: EOF") put the next try past the
    stall bound, and the unmount gave up on uploads that would have worked.
    An rclone without ``vfs/queue`` (before 1.64) keeps its own timing."""
    from hold.volumes.remote._unixhttp import post_json
    try:
        status, queue = post_json(rc_socket, "/vfs/queue", {}, timeout=10)
        if status != 200 or not isinstance(queue, dict):
            return
        for item in queue.get("queue") or []:
            if not item.get("uploading") and float(item.get("expiry") or 0) > 0:
                post_json(rc_socket, "/vfs/queue-set-expiry",
                          {"id": item["id"], "expiry": -1}, timeout=10)
    except (OSError, ValueError, TypeError, KeyError):
        pass


def wait_for_uploads(rc_socket: str, *, what: str, stall_timeout: float = UPLOAD_STALL_TIMEOUT,
                     hint: str = "", report=None, log: str = "") -> None:
    """Until rclone's VFS has no upload queued or running.

    The bound is on *stalled* time, not total time: a large upload to a
    slow share may take long and still finish, but one that has moved no
    byte and finished no file for ``stall_timeout`` seconds (the share is
    unreachable, rclone retrying forever) ends the wait with an error and
    leaves the mount in place, so the files stay in rclone's cache and
    nothing is lost.  ``report(pending)`` is called when the count changes
    (progress for the user).  Held-back uploads are made eligible once a
    second (``upload_now``), so the wait is for the share, not for rclone's
    timers.  ``log`` (rclone's log file) is named in the error."""
    last = None
    stalled_since, last_push, idle_since = time.monotonic(), 0.0, None
    while True:
        state = pending_uploads(rc_socket)
        if state is None:
            return
        if state[0] == 0:
            # The kernel hands rclone a closed file (FUSE RELEASE) after
            # close() has returned, and only then is its upload queued: one
            # empty reading can come too early, and the unmount after it
            # would drop the file.  Nothing queued for a while is done.
            idle_since = idle_since or time.monotonic()
            if time.monotonic() - idle_since >= SETTLE_SECONDS:
                return
            time.sleep(0.05)
            continue
        idle_since = None
        if time.monotonic() - last_push >= 1.0:
            upload_now(rc_socket)
            last_push = time.monotonic()
        pending, moved, error = state
        if (pending, moved) != last:
            if report is not None and (last is None or pending != last[0]):
                report(pending)
            last, stalled_since = (pending, moved), time.monotonic()
        elif time.monotonic() - stalled_since > stall_timeout:
            cause = f" (rclone: {error})" if error else ""
            where_logged = f" (rclone's log: {log})" if log else ""
            raise SystemError_(
                f"{what}: {pending} pending upload(s) made no progress for "
                f"{stall_timeout:g}s{cause}; the share may be unreachable. It stays mounted "
                f"and the files stay in its write cache{where_logged}{hint}")
        time.sleep(0.1)
