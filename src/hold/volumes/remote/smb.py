"""The ``smb`` volume driver: volumes kept on an SMB share.

    hold volume create -d smb -o share=//HOST[:PORT]/SHARE[/PATH] \\
        -o username=U -o password-file=F [-o vers= uid= gid= file_mode=
        dir_mode= domain=] NAME

Each volume is its own directory on the share, named after the volume
(``SHARE/PATH/NAME``): ``create`` logs in and makes it (a wrong password or
an unreachable server fails there, leaving nothing behind), ``remove``
deletes it on the server.  Options are those of ``smbshare.SmbShare``.

On the host::

    <root>/volumes/<name>/      0700
      _data/                    the mountpoint (the share's directory while
                                at least one container uses the volume)
      smb.json                  the options (no secret: password-file's
                                value is only where the password came from)
      secret                    0600, the password
      mounts.json               mount ids (container ids) of current users
      fuse.pid, fuse.log, cache/   the rclone process, when FUSE is used

Mount lifecycle: the first ``mount`` mounts the directory on ``_data``;
later ones add their mount id; the ``unmount`` of the last id unmounts
(rclone uploads what it still holds first).  A FUSE server that died is
noticed by the next ``mount``, which clears the dead mount and mounts
again; a container still holding the dead mount sees ENOTCONN.
"""

from __future__ import annotations

import json
import os
from typing import Mapping

from hold.errors import HoldError, InvalidArgument, SystemError_, VolumeNotFound
from hold.volumes.driver import Capabilities, DriverVolume
from hold.volumes.remote.smbshare import SmbShare, read_secret

__all__ = ["SmbDriver"]


class SmbDriver:
    """Volumes as directories of SMB shares; see the module docstring."""

    name = "smb"

    def __init__(self, paths):
        self.paths = paths
        self.base = os.path.join(paths.root, "volumes")

    # -- the driver interface ------------------------------------------------

    def capabilities(self) -> Capabilities:
        return Capabilities(scope="global")

    def create(self, name: str, options: Mapping[str, str]) -> None:
        share = SmbShare.parse(options)
        vdir = self._vdir(name)
        if os.path.exists(os.path.join(vdir, "smb.json")):
            if self._options(name) != dict(options):
                raise InvalidArgument(f"create {name}: the volume exists with other "
                                      "options", volume=name)
            return
        if "password-file" not in options:
            raise InvalidArgument("the smb driver needs password-file=FILE "
                                  "(or password-file=- for stdin)", option="password-file")
        share.password = read_secret(options["password-file"])
        os.makedirs(self.base, mode=0o700, exist_ok=True)
        try:
            os.makedirs(vdir, mode=0o700)
        except FileExistsError:
            raise SystemError_(f"create {name}: {vdir} exists but is no smb volume "
                               "(run `hold system check`)", volume=name) from None
        try:
            os.mkdir(os.path.join(vdir, "_data"), 0o755)
            client = share.client()
            client.check(vdir)
            client.mkdir(name, vdir)
            self._write_secret(vdir, share.password)
            from hold.store import atomic_write_json
            atomic_write_json(os.path.join(vdir, "smb.json"), dict(options))
        except BaseException:
            from hold.store import remove_tree
            remove_tree(vdir)
            raise

    def remove(self, name: str) -> None:
        share = self._share(name)
        vdir = self._vdir(name)
        client = share.client()
        with self._lock(name):
            if client.state(self._data(name), vdir) != "absent":
                client.unmount(self._data(name), vdir)
            failure = None
            try:
                client.purge(name, vdir)
            except HoldError as exc:
                failure = exc
            from hold.store import remove_tree
            remove_tree(vdir)
        if failure is not None:
            raise SystemError_(f"remove {name}: the volume is gone from this host but its "
                               f"directory {share.join(name)} on {share.unc} may remain: "
                               f"{failure}", volume=name) from failure

    def mount(self, name: str, mount_id: str) -> str:
        share = self._share(name)
        vdir, data = self._vdir(name), self._data(name)
        client = share.client()
        with self._lock(name):
            ids = self._mount_ids(vdir)
            state = client.state(data, vdir)
            if state == "dead":             # its FUSE server died: clear, mount again
                client.unmount(data, vdir)
                state = "absent"
            if state == "absent":
                client.mount(name, data, vdir)
            ids.add(mount_id)
            self._save_mount_ids(vdir, ids)
        return data

    def unmount(self, name: str, mount_id: str) -> None:
        vdir, data = self._vdir(name), self._data(name)
        if not os.path.exists(os.path.join(vdir, "smb.json")):
            return
        client = self._share(name).client()
        with self._lock(name):
            ids = self._mount_ids(vdir)
            ids.discard(mount_id)
            self._save_mount_ids(vdir, ids)
            if not ids and client.state(data, vdir) != "absent":
                client.unmount(data, vdir)

    def path(self, name: str) -> str:
        self._options(name)
        return self._data(name)

    def get(self, name: str) -> DriverVolume:
        share = self._share(name)
        client = share.client()
        state = client.state(self._data(name), self._vdir(name))
        status = {"Share": share.unc, "Directory": share.join(name), "Client": client.kind,
                  "Mounted": state, "Durability": client.durability,
                  "Users": len(self._mount_ids(self._vdir(name)))}
        return DriverVolume(name=name, mountpoint=self._data(name), status=status)

    def list(self) -> list[DriverVolume]:
        try:
            names = sorted(os.listdir(self.base))
        except FileNotFoundError:
            return []
        return [DriverVolume(name=n, mountpoint=self._data(n)) for n in names
                if os.path.exists(os.path.join(self.base, n, "smb.json"))]

    # -- helpers -------------------------------------------------------------

    def _vdir(self, name: str) -> str:
        return os.path.join(self.base, name)

    def _data(self, name: str) -> str:
        return os.path.join(self.base, name, "_data")

    def _options(self, name: str) -> dict[str, str]:
        try:
            with open(os.path.join(self._vdir(name), "smb.json")) as f:
                return json.load(f)
        except (FileNotFoundError, NotADirectoryError):
            raise VolumeNotFound(name) from None

    def _share(self, name: str) -> SmbShare:
        share = SmbShare.parse(self._options(name))
        try:
            with open(os.path.join(self._vdir(name), "secret")) as f:
                share.password = f.read()
        except OSError as exc:
            raise SystemError_(f"volume {name}: its password is missing: {exc.strerror}",
                               errno=exc.errno, volume=name) from exc
        return share

    @staticmethod
    def _write_secret(vdir: str, secret: str) -> None:
        path = os.path.join(vdir, "secret")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secret)

    def _lock(self, name: str):
        from hold.volumes.cleanup import FileLock
        return FileLock(os.path.join(self._vdir(name), ".lock"))

    @staticmethod
    def _mount_ids(vdir: str) -> set[str]:
        try:
            with open(os.path.join(vdir, "mounts.json")) as f:
                return set(json.load(f))
        except FileNotFoundError:
            return set()

    @staticmethod
    def _save_mount_ids(vdir: str, ids: set[str]) -> None:
        from hold.store import atomic_write_json
        atomic_write_json(os.path.join(vdir, "mounts.json"), sorted(ids))
