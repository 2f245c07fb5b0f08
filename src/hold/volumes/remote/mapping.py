"""Host share mappings: ``hold storage map|ls|unmap`` (the chapter's
"global mapping", like ``net use`` or an fstab line).

A **mapping** mounts a whole share (or a directory of it) on a host path,
ready to be bind-mounted into any container; unlike a volume it has no
container users and stays until ``unmap``.  A **persistent** mapping is
mounted again by ``restore()`` (run by every ``hold`` command when the data
root has mappings) when it is found unmounted: after a reboot or a crashed
FUSE server.

    <root>/storage/.lock                 serialises map/unmap/restore
    <root>/storage/<sha256(path)[:16]>/  0700, one per mapping
      mapping.json                       path, options (no secret),
                                         persistent, created, made_dir
      secret                             0600, the password
      fuse.pid, fuse.log, cache/         the rclone process, with FUSE

The host path must be absent (it is created, and removed by ``unmap``) or
an empty directory; it may not be a path bind mounts refuse (binds.py).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from dataclasses import dataclass

from hold.errors import Conflict, InvalidArgument, NotFound
from hold.volumes.remote._driver import write_private
from hold.volumes.remote._rclone import UPLOAD_STALL_TIMEOUT
from hold.volumes.remote.smbshare import SmbShare, read_secret

__all__ = ["Mapping", "MappingService"]

MAP_OPTIONS = ("vers", "uid", "gid", "file_mode", "dir_mode", "domain")


@dataclass
class Mapping:
    path: str
    options: dict
    persistent: bool
    created: str
    made_dir: bool = False
    state: str = ""

    @property
    def share(self) -> str:
        return self.options["share"]


class MappingService:
    def __init__(self, paths):
        self.paths = paths
        self.base = os.path.join(paths.root, "storage")

    def _dir(self, path: str) -> str:
        return os.path.join(self.base, hashlib.sha256(path.encode()).hexdigest()[:16])

    def _lock(self):
        from hold.volumes.cleanup import FileLock
        return FileLock(os.path.join(self.base, ".lock"))

    def map(self, unc: str, path: str, *, username: str, password_file: str,
            persistent: bool = False, options: dict | None = None) -> Mapping:
        """Mount ``unc`` on ``path``; a wrong password or an unreachable
        server fails before anything is mounted or recorded."""
        for key in options or {}:
            if key not in MAP_OPTIONS:
                raise InvalidArgument(f'invalid option: "{key}" (hold storage map accepts: '
                                      f'{", ".join(MAP_OPTIONS)})', option=key)
        path = self._host_path(path)
        record = {"share": unc, "username": username, **(options or {})}
        share = SmbShare.parse(record, who="hold storage map")
        share.password = read_secret(password_file, what="--password-file")
        with self._lock():
            state_dir = self._dir(path)
            if os.path.exists(os.path.join(state_dir, "mapping.json")):
                raise Conflict(f"{path} is already mapped (hold storage unmap {path})",
                               path=path)
            made_dir = self._prepare(path)
            os.makedirs(state_dir, mode=0o700, exist_ok=True)
            try:
                client = share.client()
                client.check(state_dir)
                client.mount("", path, state_dir)
            except BaseException:
                shutil.rmtree(state_dir, ignore_errors=True)
                if made_dir:
                    os.rmdir(path)
                raise
            mapping = Mapping(path, record, persistent,
                              time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), made_dir)
            write_private(os.path.join(state_dir, "secret"), share.password)
            from hold.store import atomic_write_json
            atomic_write_json(os.path.join(state_dir, "mapping.json"), mapping.__dict__)
        mapping.state = "mounted"
        return mapping

    def list(self) -> list[Mapping]:
        mappings = []
        try:
            names = sorted(os.listdir(self.base))
        except FileNotFoundError:
            return []
        for name in names:
            try:
                with open(os.path.join(self.base, name, "mapping.json")) as f:
                    mapping = Mapping(**json.load(f))
            except (OSError, ValueError, TypeError):
                continue
            share, state_dir = self._share(mapping)
            mapping.state = share.client().state(mapping.path, state_dir)
            mappings.append(mapping)
        return sorted(mappings, key=lambda m: m.path)

    def unmap(self, path: str, *, force: bool = False,
              stall_timeout: float = UPLOAD_STALL_TIMEOUT, report=None) -> None:
        """Unmount and forget a mapping.  Pending uploads are waited for
        (``report(n)`` hears how many are left); if they stall for
        ``stall_timeout`` seconds the mapping stays as it was and the error
        says so.  ``force`` unmounts without waiting, dropping them."""
        path = os.path.abspath(path)
        with self._lock():
            mapping = self._get(path)
            share, state_dir = self._share(mapping)
            client = share.client()
            if client.state(path, state_dir) != "absent":
                client.unmount(path, state_dir, force=force, stall_timeout=stall_timeout,
                               hint="; retry once it is back, or pass --force to drop them",
                               report=report)
            if mapping.made_dir:
                try:
                    os.rmdir(path)
                except OSError:
                    pass
            shutil.rmtree(state_dir, ignore_errors=True)

    def restore(self) -> list[str]:
        """Mount persistent mappings found unmounted (a dead FUSE server is
        cleared first); returns their paths.  Failures are left for ``ls``
        to show as "absent"."""
        from hold.errors import HoldError
        restored = []
        for mapping in self.list():
            if not mapping.persistent or mapping.state == "mounted":
                continue
            with self._lock():
                share, state_dir = self._share(mapping)
                client = share.client()
                try:
                    if client.state(mapping.path, state_dir) == "dead":
                        client.unmount(mapping.path, state_dir)
                    os.makedirs(mapping.path, exist_ok=True)
                    client.mount("", mapping.path, state_dir)
                    restored.append(mapping.path)
                except HoldError:
                    continue
        return restored

    # -- helpers -----------------------------------------------------------------

    def _host_path(self, path: str) -> str:
        if not path:
            raise InvalidArgument("hold storage map needs a host path")
        path = os.path.abspath(path)
        from hold.volumes.binds import sensitive_reason
        why = sensitive_reason(path, self.paths)
        if why:
            raise InvalidArgument(f"refusing to map a share on {path}: {why}", path=path)
        return path

    @staticmethod
    def _prepare(path: str) -> bool:
        """True when the directory was made here (and unmap removes it)."""
        if not os.path.lexists(path):
            os.makedirs(path, 0o755)
            return True
        if os.path.islink(path) or not os.path.isdir(path):
            raise InvalidArgument(f"{path} exists and is not a directory")
        if os.listdir(path):
            raise InvalidArgument(f"{path} is not empty: a share is mapped on an empty "
                                  "or new directory")
        return False

    def _get(self, path: str) -> Mapping:
        try:
            with open(os.path.join(self._dir(path), "mapping.json")) as f:
                return Mapping(**json.load(f))
        except FileNotFoundError:
            raise NotFound(f"{path} is not a mapped share (see hold storage ls)",
                           path=path) from None

    def _share(self, mapping: Mapping) -> tuple[SmbShare, str]:
        state_dir = self._dir(mapping.path)
        share = SmbShare.parse(mapping.options, who="hold storage map")
        try:
            with open(os.path.join(state_dir, "secret")) as f:
                share.password = f.read()
        except OSError:
            pass
        return share, state_dir

