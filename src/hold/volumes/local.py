"""The ``local`` volume driver: a directory under the data root.

    <root>/volumes/<name>/          0700, the volume's own directory
      _data/                        the mountpoint containers see (0755)
      opts.json                     the driver options, when any were given
      mounts.json                   mount ids of current users (host mounts only)
      disk.img                      with size=: the volume's own ext4 file system

Options (``--opt K=V``), as Docker's local driver takes them:

    type=, device=, o=   mount ``device`` of file system ``type`` with mount
                         options ``o`` on ``_data`` when a container first
                         mounts the volume (``type=tmpfs device=tmpfs
                         o=size=64m``, ``type=none device=/srv/x o=bind``,
                         ``type=nfs o=addr=... device=:/export``), released
                         when the last container using it is removed or the
                         volume is removed
    uid=, gid=, mode=    owner and (octal) mode of ``_data`` (hold only)
    size=                a real quota (hold only; Docker needs xfs project
                         quotas): the volume is an ext4 file system of that
                         size in ``disk.img`` (sparse), loop-mounted on
                         ``_data`` while containers use it; writes past it
                         fail with ENOSPC inside the container

An unknown key is ``InvalidArgument`` naming the accepted ones.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from typing import Mapping

from hold.errors import InvalidArgument, SystemError_, VolumeNotFound
from hold.volumes.driver import Capabilities, DriverVolume

__all__ = ["LocalDriver", "LOCAL_OPTIONS", "is_mountpoint"]

LOCAL_OPTIONS = ("type", "device", "o", "uid", "gid", "mode", "size")
MIN_SIZE = 4 << 20


_OCTAL = re.compile(r"\\([0-7]{3})")     # mountinfo writes space, tab, newline, \\ as \\ooo


def is_mountpoint(path: str) -> bool:
    """True if something is mounted exactly on ``path`` (host mount table)."""
    path = os.path.realpath(path)
    try:
        with open("/proc/self/mountinfo") as f:
            for line in f:
                point = _OCTAL.sub(lambda m: chr(int(m.group(1), 8)), line.split()[4])
                if point == path:
                    return True
    except OSError:
        return False
    return False


def _validate_options(options: Mapping[str, str]) -> dict[str, str]:
    opts = dict(options)
    for key in opts:
        if key not in LOCAL_OPTIONS:
            raise InvalidArgument(f'invalid option: "{key}" (the local driver accepts: '
                                  f'{", ".join(LOCAL_OPTIONS)})', option=key)
    if ("device" in opts or "o" in opts) and not opts.get("type"):
        if not (opts.get("o", "").split(",").count("bind")):
            raise InvalidArgument("the local driver needs type= with device= or o= "
                                  "(for example type=tmpfs device=tmpfs o=size=64m)")
    if opts.get("type") and not opts.get("device"):
        if opts["type"] != "tmpfs":
            raise InvalidArgument(f"the local driver needs device= with type={opts['type']}")
    if "size" in opts:
        _quota_size(opts)
    for key in ("uid", "gid"):
        if key in opts and not opts[key].isdigit():
            raise InvalidArgument(f'invalid option {key}="{opts[key]}": a number is needed')
    if "mode" in opts:
        try:
            int(opts["mode"], 8)
        except ValueError:
            raise InvalidArgument(f'invalid option mode="{opts["mode"]}": an octal mode '
                                  "such as 0755 is needed") from None
    return opts


def _quota_size(opts: dict) -> int:
    from hold.volumes.mountspec import parse_ram_size
    if opts.get("type") or opts.get("device") or opts.get("o"):
        raise InvalidArgument("size= makes the volume its own file system: it cannot be "
                              "combined with type=, device= or o=")
    try:
        size = parse_ram_size(opts["size"])
    except ValueError:
        raise InvalidArgument(f'invalid option size="{opts["size"]}": a size such as '
                              "512m or 2G is needed") from None
    if size < MIN_SIZE:
        raise InvalidArgument(f'invalid option size="{opts["size"]}": at least 4m')
    return size


def _device_backed(opts: dict) -> bool:
    return bool(opts.get("type") or opts.get("size")
                or "bind" in opts.get("o", "").split(","))


class LocalDriver:
    """Volumes as directories of the data root; see the module docstring."""

    name = "local"

    def __init__(self, paths):
        self.paths = paths
        self.base = os.path.join(paths.root, "volumes")

    # -- the driver interface ------------------------------------------------

    def capabilities(self) -> Capabilities:
        return Capabilities(scope="local")

    def create(self, name: str, options: Mapping[str, str]) -> None:
        opts = _validate_options(options)
        if "bind" in opts.get("o", "").split(","):
            self._refuse_sensitive_device(name, opts.get("device", ""))
        vdir = os.path.join(self.base, name)
        data = os.path.join(vdir, "_data")
        if os.path.isdir(data):
            return
        os.makedirs(self.base, mode=0o700, exist_ok=True)
        try:
            os.makedirs(vdir, mode=0o700, exist_ok=True)
            os.mkdir(data, 0o755)
            os.chmod(data, int(opts.get("mode", "755"), 8))
            if "uid" in opts or "gid" in opts:
                os.chown(data, int(opts.get("uid", -1)), int(opts.get("gid", -1)))
            if "size" in opts:
                self._make_filesystem(name, vdir, opts)
            if opts:
                from hold.store import atomic_write_json
                atomic_write_json(os.path.join(vdir, "opts.json"), opts)
        except FileExistsError:
            return
        except OSError as exc:
            from hold.store import remove_tree
            remove_tree(vdir)
            raise SystemError_(f"create {name}: {exc.strerror}", errno=exc.errno) from exc
        except BaseException:
            from hold.store import remove_tree
            remove_tree(vdir)
            raise

    def remove(self, name: str) -> None:
        vdir = os.path.join(self.base, name)
        if not os.path.isdir(vdir):
            raise VolumeNotFound(name)
        data = os.path.join(vdir, "_data")
        if is_mountpoint(data):
            self._umount(name, data)
        if is_mountpoint(data):     # never delete through a live mount
            raise SystemError_(f"remove {name}: {data} is still mounted")
        from hold.store import remove_tree
        try:
            remove_tree(vdir)
        except OSError as exc:
            raise SystemError_(f"remove {name}: {exc.strerror}", errno=exc.errno) from exc

    def mount(self, name: str, mount_id: str) -> str:
        data = self.path(name)
        opts = self._options(name)
        if not _device_backed(opts):
            return data
        with self._lock(name):
            ids = self._mount_ids(name)
            if not is_mountpoint(data):
                self._mount_device(name, data, opts)
            ids.add(mount_id)
            self._save_mount_ids(name, ids)
        return data

    def unmount(self, name: str, mount_id: str) -> None:
        data = self.path(name)
        if not os.path.exists(os.path.join(self.base, name, "mounts.json")):
            return
        with self._lock(name):
            ids = self._mount_ids(name)
            ids.discard(mount_id)
            self._save_mount_ids(name, ids)
            if not ids and is_mountpoint(data):
                self._umount(name, data)

    def path(self, name: str) -> str:
        data = os.path.join(self.base, name, "_data")
        if not os.path.isdir(data):
            raise VolumeNotFound(name)
        return data

    def get(self, name: str) -> DriverVolume:
        data = self.path(name)
        return DriverVolume(name=name, mountpoint=data, status={})

    def list(self) -> list[DriverVolume]:
        try:
            names = sorted(os.listdir(self.base))
        except FileNotFoundError:
            return []
        return [DriverVolume(name=n, mountpoint=os.path.join(self.base, n, "_data"))
                for n in names if os.path.isdir(os.path.join(self.base, n, "_data"))]

    # -- helpers -------------------------------------------------------------

    def options(self, name: str) -> dict[str, str]:
        return self._options(name)

    def _options(self, name: str) -> dict[str, str]:
        try:
            with open(os.path.join(self.base, name, "opts.json")) as f:
                return json.load(f)
        except FileNotFoundError:
            return {}

    def _refuse_sensitive_device(self, name: str, device: str) -> None:
        """A bind-style volume must not smuggle in what a bind mount may not
        (binds.py); there is no override here: bind such paths directly."""
        from hold.volumes.binds import OVERRIDE_FLAG, sensitive_reason
        if not device.startswith("/"):
            raise InvalidArgument(f"create {name}: device={device!r} must be an absolute "
                                  "host path for o=bind")
        why = sensitive_reason(device, self.paths)
        if why:
            raise InvalidArgument(f'create {name}: refusing a volume that binds "{device}": '
                                  f"{why}. Bind it into a container with {OVERRIDE_FLAG} "
                                  "instead if you really mean it", device=device)

    def _make_filesystem(self, name: str, vdir: str, opts: dict) -> None:
        """disk.img: a sparse ext4 image of the quota size, its root owned and
        moded as asked, without lost+found (so copy-up sees it empty)."""
        image = os.path.join(vdir, "disk.img")
        with open(image, "wb") as f:
            f.truncate(_quota_size(opts))
        owner = f"root_owner={opts.get('uid', '0')}:{opts.get('gid', '0')}"
        result = subprocess.run(["mkfs.ext4", "-q", "-F", "-m", "0", "-E", owner, image],
                                capture_output=True, text=True)
        if result.returncode != 0:
            raise SystemError_(f"create {name}: mkfs.ext4: {result.stderr.strip()}")
        data = os.path.join(vdir, "_data")
        self._mount_device(name, data, opts)
        try:
            os.rmdir(os.path.join(data, "lost+found"))
            os.chmod(data, int(opts.get("mode", "755"), 8))
        finally:
            self._umount(name, data)

    def _mount_device(self, name: str, data: str, opts: dict) -> None:
        fstype = opts.get("type") or "none"
        device = opts.get("device") or fstype
        argv = ["mount", "-t", fstype]
        if opts.get("size"):
            argv = ["mount", "-t", "ext4", "-o", "loop"]
            device = os.path.join(self.base, name, "disk.img")
        elif opts.get("o"):
            argv += ["-o", opts["o"]]
        result = subprocess.run(argv + [device, data], capture_output=True, text=True)
        if result.returncode != 0:
            raise SystemError_(f"error while mounting volume '{data}': "
                               f"{result.stderr.strip() or 'mount failed'}", volume=name)

    def _umount(self, name: str, data: str) -> None:
        from hold.runtime import _linux as L
        try:
            L.umount2(data, L.MNT_DETACH)
        except OSError as exc:
            raise SystemError_(f"unmount {name}: {exc.strerror}", errno=exc.errno) from exc

    def _lock(self, name: str):
        from hold.volumes.cleanup import FileLock
        return FileLock(os.path.join(self.base, name, ".lock"))

    def _mount_ids(self, name: str) -> set[str]:
        try:
            with open(os.path.join(self.base, name, "mounts.json")) as f:
                return set(json.load(f))
        except FileNotFoundError:
            return set()

    def _save_mount_ids(self, name: str, ids: set[str]) -> None:
        from hold.store import atomic_write_json
        atomic_write_json(os.path.join(self.base, name, "mounts.json"), sorted(ids))
