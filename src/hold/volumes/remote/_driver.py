"""What every remote volume driver shares: state on the host, mount ids,
the mount lifecycle and supervision.  A driver supplies a *client* for
one volume's options; the client talks to the server::

    client.kind, client.durability           words for `volume inspect`
    client.check(state_dir)                  log in (fails before anything
                                             is made: wrong password, no server)
    client.mkdir(subpath, state_dir)         the volume's directory, on the server
    client.purge(subpath, state_dir)         ... deleted
    client.mount(subpath, mountpoint, state_dir) / client.unmount(mountpoint, state_dir)
    client.state(mountpoint, state_dir)      "mounted" | "dead" | "absent"

On the host::

    <root>/volumes/<name>/      0700
      _data/                    the mountpoint
      <driver>.json             the options (never a secret)
      secret files              0600, written by ``save_secrets``
      mounts.json               mount ids (container ids) of current users
      fuse.pid, fuse.log, ...   the FUSE server, when one is used

Mount lifecycle: the first ``mount`` mounts the volume's directory on
``_data``; later ones add their mount id; the ``unmount`` of the last id
unmounts.  A FUSE server found dead by a ``mount`` is cleared and the
volume mounted again.
"""

from __future__ import annotations

import json
import os
from typing import Mapping

from hold.errors import HoldError, InvalidArgument, SystemError_, VolumeNotFound
from hold.volumes.driver import Capabilities, DriverVolume

__all__ = ["RemoteDriver"]


class RemoteDriver:
    """Base of the remote volume drivers; subclasses define ``name``,
    ``validate(options)``, ``save_secrets(options, vdir)``,
    ``client(options, vdir)`` and ``describe(options, name)``."""

    name = ""

    def __init__(self, paths):
        self.paths = paths
        self.base = os.path.join(paths.root, "volumes")

    # -- for subclasses ------------------------------------------------------------

    def validate(self, options: Mapping[str, str]) -> None:
        raise NotImplementedError

    def save_secrets(self, options: Mapping[str, str], vdir: str) -> None:
        raise NotImplementedError

    def client(self, options: Mapping[str, str], vdir: str):
        raise NotImplementedError

    def describe(self, options: Mapping[str, str], name: str) -> dict:
        return {}

    # -- the driver interface ------------------------------------------------------

    def capabilities(self) -> Capabilities:
        return Capabilities(scope="global")

    def create(self, name: str, options: Mapping[str, str]) -> None:
        self.validate(options)
        vdir = self._vdir(name)
        if os.path.exists(self._record(name)):
            if self._options(name) != dict(options):
                raise InvalidArgument(f"create {name}: the volume exists with other "
                                      "options", volume=name)
            return
        os.makedirs(self.base, mode=0o700, exist_ok=True)
        try:
            os.makedirs(vdir, mode=0o700)
        except FileExistsError:
            raise SystemError_(f"create {name}: {vdir} exists but is no {self.name} volume "
                               "(run `hold system check`)", volume=name) from None
        try:
            os.mkdir(os.path.join(vdir, "_data"), 0o755)
            self.save_secrets(options, vdir)
            client = self.client(options, vdir)
            client.check(vdir)
            client.mkdir(name, vdir)
            from hold.store import atomic_write_json
            atomic_write_json(self._record(name), dict(options))
        except BaseException:
            from hold.store import remove_tree
            remove_tree(vdir)
            raise

    def remove(self, name: str) -> None:
        options = self._options(name)
        vdir, data = self._vdir(name), self._data(name)
        client = self.client(options, vdir)
        with self._lock(name):
            if client.state(data, vdir) != "absent":
                client.unmount(data, vdir)
            failure = None
            try:
                client.purge(name, vdir)
            except HoldError as exc:
                failure = exc
            from hold.store import remove_tree
            remove_tree(vdir)
        if failure is not None:
            where = self.describe(options, name)
            raise SystemError_(f"remove {name}: the volume is gone from this host but its "
                               f"data on the server may remain ({where}): {failure}",
                               volume=name) from failure

    def mount(self, name: str, mount_id: str) -> str:
        options = self._options(name)
        vdir, data = self._vdir(name), self._data(name)
        client = self.client(options, vdir)
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
        if not os.path.exists(self._record(name)):
            return
        client = self.client(self._options(name), vdir)
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
        options = self._options(name)
        vdir = self._vdir(name)
        client = self.client(options, vdir)
        status = {**self.describe(options, name), "Client": client.kind,
                  "Mounted": client.state(self._data(name), vdir),
                  "Durability": client.durability, "Users": len(self._mount_ids(vdir))}
        return DriverVolume(name=name, mountpoint=self._data(name), status=status)

    def list(self) -> list[DriverVolume]:
        try:
            names = sorted(os.listdir(self.base))
        except FileNotFoundError:
            return []
        return [DriverVolume(name=n, mountpoint=self._data(n)) for n in names
                if os.path.exists(self._record(n))]

    # -- helpers -------------------------------------------------------------------

    def _vdir(self, name: str) -> str:
        return os.path.join(self.base, name)

    def _data(self, name: str) -> str:
        return os.path.join(self.base, name, "_data")

    def _record(self, name: str) -> str:
        return os.path.join(self.base, name, f"{self.name}.json")

    def _options(self, name: str) -> dict[str, str]:
        try:
            with open(self._record(name)) as f:
                return json.load(f)
        except (FileNotFoundError, NotADirectoryError):
            raise VolumeNotFound(name) from None

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


def write_private(path: str, data: bytes | str) -> None:
    """A file readable by root only (0600), written whole."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb" if isinstance(data, bytes) else "w") as f:
        f.write(data)
