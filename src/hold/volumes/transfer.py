"""Backup, restore, clone and rename of volumes (hold additions to Docker).

    export(NAME) -> tar      the volume's tree as a tar (numeric owners,
                             modes, mtimes, xattrs, links; sorted, so equal
                             content gives equal bytes), to a file or stdout
    import(NAME, tar)        into a volume that is EMPTY (created if missing):
                             a volume with data is never overwritten; plain
                             or compressed input, from a file or stdin; the
                             same safe unpacker as image layers (nothing can
                             land outside the volume, no device nodes but the
                             harmless ones); staged and renamed into place
    clone(SRC, DST)          a new volume DST (same driver, options, labels)
                             holding a copy of SRC's data
    rename(OLD, NEW)         only while no container uses OLD; local driver

The tar formats are the image layer formats (images/layers.py): a volume
export is a valid single-layer rootfs tar.  Entry names beginning with
``.wh.`` are therefore read back as overlay whiteouts; volumes holding such
names do not round-trip.
"""

from __future__ import annotations

import os

from hold.errors import Conflict, InvalidArgument, SystemError_, Unsupported, VolumeInUse
from hold.volumes.cleanup import FileLock, users_of
from hold.volumes.copyup import STAGING, _copy_meta, _merge, is_empty
from hold.volumes.mountspec import validate_volume_name

__all__ = ["export_volume", "import_volume", "clone_volume", "rename_volume"]


class _Mounted:
    """The volume's host path for one short operation (mount/unmount pair)."""

    def __init__(self, service, name: str):
        self.volume = service.get(name)
        self.driver = service.driver(self.volume.driver)
        self.mount_id = "hold-" + os.urandom(8).hex()

    def __enter__(self) -> str:
        return self.driver.mount(self.volume.name, self.mount_id)

    def __exit__(self, *exc) -> None:
        self.driver.unmount(self.volume.name, self.mount_id)


def export_volume(service, name: str, out) -> None:
    """Write the volume's content to the binary stream ``out`` as a tar."""
    from hold.images.layers import pack_upperdir
    with _host_errors(f"export volume {name}"), _Mounted(service, name) as path:
        pack_upperdir(path, out)


def _host_errors(what: str):
    """OSError -> SystemError_ (errno kept), once, at this module's boundary."""
    import contextlib

    @contextlib.contextmanager
    def translate():
        try:
            yield
        except OSError as exc:
            if isinstance(exc, BrokenPipeError):
                raise
            raise SystemError_(f"{what}: {exc.strerror}", errno=exc.errno) from exc
    return translate()


def import_volume(service, name: str, source) -> None:
    """Fill the empty volume ``name`` (created if missing) from a tar stream."""
    with _host_errors(f"import into volume {name}"):
        _import(service, name, source)


def _import(service, name: str, source) -> None:
    from hold.images.layers import spool_tar, unpack_layer
    if not service.exists(name):
        service.create(name)
    os.makedirs(service.paths.tmp, exist_ok=True)
    spooled, _, _ = spool_tar(source, service.paths.tmp, f"import into volume {name}")
    try:
        with _Mounted(service, name) as path:
            lock = os.path.join(service.paths.runroot, "volumes", name + ".lock")
            with FileLock(lock):
                _refuse_data(name, path)
                staging = _fresh_staging(path)
                try:
                    unpack_layer(spooled, staging)
                except BaseException:
                    from hold.store import remove_tree
                    remove_tree(staging)
                    raise
                _move_into_place(staging, path)
    finally:
        os.unlink(spooled)


def _refuse_data(name: str, path: str) -> None:
    if not is_empty(path):
        raise Conflict(f"volume {name} is not empty: import only fills an empty volume "
                       "(hold never overwrites a volume's data; use a new volume name)",
                       name=name)


def _fresh_staging(path: str) -> str:
    staging = os.path.join(path, STAGING)
    if os.path.lexists(staging):
        from hold.store import remove_tree
        remove_tree(staging)
    os.mkdir(staging, 0o700)
    return staging


def _move_into_place(staging: str, path: str) -> None:
    for entry in os.listdir(staging):
        os.rename(os.path.join(staging, entry), os.path.join(path, entry))
    os.rmdir(staging)


def clone_volume(service, source: str, target: str) -> None:
    """A new volume ``target`` with a copy of ``source``'s data."""
    validate_volume_name(target)
    original = service.get(source)
    if service.exists(target):
        raise Conflict(f"clone {source} {target}: volume {target} already exists", name=target)
    from hold.volumes.service import ANONYMOUS_LABEL
    labels = {k: v for k, v in original.labels.items() if k != ANONYMOUS_LABEL}
    service.create(target, driver=original.driver, options=original.options, labels=labels)
    try:
        with _host_errors(f"clone {source} {target}"), \
                _Mounted(service, source) as src, _Mounted(service, target) as dst:
            staging = _fresh_staging(dst)
            _merge([src], staging, {})
            _move_into_place(staging, dst)
            _copy_meta(src, dst, os.lstat(src))
    except BaseException:
        service.remove(target)
        raise


def rename_volume(service, old: str, new: str) -> None:
    """Rename a local volume no container uses (its data stays in place)."""
    validate_volume_name(new)
    volume = service.get(old)
    if volume.driver != "local":
        raise Unsupported(f"rename {old}: only local volumes can be renamed "
                          f"(this one uses driver {volume.driver!r})")
    if old == new:
        raise InvalidArgument(f"rename {old}: the new name is the same as the old one")
    base = os.path.join(service.paths.root, "volumes")
    with FileLock(os.path.join(base, ".lock")):
        with service.store.transaction() as db:
            users = users_of(db, old)
            if users:
                raise VolumeInUse(f"rename {old}: volume is in use - [{', '.join(c for c, _ in users)}] "
                                  f"by container(s) {', '.join(n for _, n in users)}",
                                  name=old, containers=users)
            if db.execute("SELECT 1 FROM volumes WHERE name=?", (new,)).fetchone():
                raise Conflict(f"rename {old} {new}: volume {new} already exists", name=new)
            if os.path.lexists(os.path.join(base, new)):
                raise Conflict(f"rename {old} {new}: {os.path.join(base, new)} exists")
            os.rename(os.path.join(base, old), os.path.join(base, new))
            try:
                db.execute("UPDATE volumes SET name=? WHERE name=?", (new, old))
            except BaseException:
                os.rename(os.path.join(base, new), os.path.join(base, old))
                raise
