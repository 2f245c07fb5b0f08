"""An SMB share through the kernel's cifs client (hosts that have one).

``mount -t cifs //HOST/SHARE/PATH MP -o credentials=FILE,port=,vers=,...``
with the credentials in a 0600 file of the state directory (never on the
command line).  Server-side mkdir/purge mount the share's PATH on a
private directory for the moment of the operation.  fsync reaches the
server (cache=strict, mount.cifs's default).
"""

from __future__ import annotations

import os
import shutil

from hold.errors import SystemError_
from hold.volumes.remote.smbshare import run_quiet

__all__ = ["KernelCifs", "cifs_mount_options"]


def cifs_mount_options(share, credentials: str) -> str:
    opts = [f"credentials={credentials}", f"port={share.port}"]
    for key in ("vers", "uid", "gid", "file_mode", "dir_mode"):
        value = getattr(share, key)
        if value and value != "default":
            opts.append(f"{key}={value}")
    return ",".join(opts)


class KernelCifs:
    kind = "cifs"
    durability = "kernel cifs mount: fsync reaches the server"

    def __init__(self, share):
        self.share = share

    def _credentials(self, state_dir: str) -> str:
        os.makedirs(state_dir, mode=0o700, exist_ok=True)
        path = os.path.join(state_dir, "cifs.credentials")
        fd = os.open(path + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(f"username={self.share.username}\npassword={self.share.password}\n")
            if self.share.domain:
                f.write(f"domain={self.share.domain}\n")
        os.replace(path + ".tmp", path)
        return path

    def _unc(self, subpath: str) -> str:
        s = self.share
        return f"//{s.host}/{s.share}" + (f"/{s.join(subpath)}" if s.join(subpath) else "")

    def state(self, mountpoint: str, state_dir: str) -> str:
        from hold.volumes.local import is_mountpoint
        return "mounted" if is_mountpoint(mountpoint) else "absent"

    def mount(self, subpath: str, mountpoint: str, state_dir: str) -> None:
        options = cifs_mount_options(self.share, self._credentials(state_dir))
        run_quiet(["mount", "-t", "cifs", self._unc(subpath), mountpoint, "-o", options],
                  None, what=f"mount {self.share.unc}", secrets=(self.share.password,))

    def unmount(self, mountpoint: str, state_dir: str, *, force: bool = False,
                stall_timeout: float = 0.0, hint: str = "", report=None) -> None:
        """The kernel client flushes at unmount; it keeps no upload queue
        of its own, so the rclone client's wait options have nothing to do."""
        from hold.runtime import _linux as L
        from hold.volumes.local import is_mountpoint
        if is_mountpoint(mountpoint):
            try:
                L.umount2(mountpoint, L.MNT_DETACH)
            except OSError as exc:
                raise SystemError_(f"unmount {mountpoint}: {exc.strerror}",
                                   errno=exc.errno) from exc

    def _with_root(self, state_dir: str, action) -> None:
        scratch = os.path.join(state_dir, "admin")
        os.makedirs(scratch, mode=0o700, exist_ok=True)
        self.mount("", scratch, state_dir)
        try:
            action(scratch)
        finally:
            self.unmount(scratch, state_dir)
            os.rmdir(scratch)

    def check(self, state_dir: str = "") -> None:
        if state_dir:
            self._with_root(state_dir, os.listdir)

    def mkdir(self, subpath: str, state_dir: str) -> None:
        self._with_root(state_dir, lambda root: os.makedirs(os.path.join(root, subpath),
                                                            exist_ok=True))

    def purge(self, subpath: str, state_dir: str) -> None:
        self._with_root(state_dir, lambda root: shutil.rmtree(os.path.join(root, subpath),
                                                              ignore_errors=True))
