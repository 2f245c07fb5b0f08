"""Copy-up: fill a new, empty volume with what the image has at its target.

Docker copies the image's files into an empty volume mounted over a
directory that has content, the first time the container starts (unless
``nocopy``), and never touches a volume that has data.  hold reads the
image's content straight from the layers, without mounting anything, by
walking the overlay union itself::

    layers (top first)  upperdir, init layer, image layers
    whiteout            a 0/0 character device: the name is deleted below
    opaque dir          trusted.overlay.opaque=y: lower layers' entries hidden
    non-directory       hides every lower entry of the same name

Ownership, modes, timestamps, xattrs (except overlay's own trusted.overlay.*),
symlinks, device nodes, fifos and hard links inside the copied tree are
kept.  The copy is made in ``<volume>/.hold-copyup`` and its entries renamed
into place at the end, so a copy cut short by a crash is redone on the next
start instead of leaving a half-filled volume that would never be filled.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat

from hold.volumes.cleanup import FileLock

__all__ = ["copy_up", "is_empty", "STAGING"]

STAGING = ".hold-copyup"
_OPAQUE = "trusted.overlay.opaque"


def is_empty(path: str) -> bool:
    try:
        return all(name == STAGING for name in os.listdir(path))
    except FileNotFoundError:
        return True


def _whiteout(st: os.stat_result) -> bool:
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def _opaque(path: str) -> bool:
    try:
        return os.getxattr(path, _OPAQUE, follow_symlinks=False) == b"y"
    except OSError:
        return False


def _stack(dirs: list[str], name: str) -> list[str]:
    """The entries for ``name`` across ``dirs`` (top first) that the union
    shows: one non-directory, or directories down to an opaque one."""
    stack: list[str] = []
    for d in dirs:
        path = os.path.join(d, name)
        try:
            st = os.lstat(path)
        except (FileNotFoundError, NotADirectoryError):
            continue
        if _whiteout(st):
            break
        is_dir = stat.S_ISDIR(st.st_mode)
        if not stack:
            stack.append(path)
            if not is_dir or _opaque(path):
                break
        elif is_dir:
            stack.append(path)
            if _opaque(path):
                break
        else:
            break
    return stack


def source_dirs(layers: list[str], target: str) -> list[str]:
    """The directories, top first, that make up ``target`` in the union."""
    dirs = list(layers)
    for part in [p for p in target.split("/") if p]:
        stack = _stack(dirs, part)
        if not stack or not os.path.isdir(stack[0]) or os.path.islink(stack[0]):
            return []
        dirs = stack
    return dirs


def _copy_meta(src: str, dst: str, st: os.stat_result) -> None:
    os.lchown(dst, st.st_uid, st.st_gid)
    if not stat.S_ISLNK(st.st_mode):
        os.chmod(dst, stat.S_IMODE(st.st_mode))
    try:
        names = os.listxattr(src, follow_symlinks=False)
    except OSError:
        names = []
    for name in names:
        if name.startswith("trusted.overlay."):
            continue
        try:
            os.setxattr(dst, name, os.getxattr(src, name, follow_symlinks=False),
                        follow_symlinks=False)
        except OSError as exc:
            if exc.errno not in (errno.EOPNOTSUPP, errno.EPERM, errno.ENOTSUP):
                raise
    os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)


def _copy_entry(src: str, dst: str, st: os.stat_result, links: dict) -> None:
    key = (st.st_dev, st.st_ino)
    if not stat.S_ISDIR(st.st_mode) and st.st_nlink > 1 and key in links:
        os.link(links[key], dst)
        return
    if stat.S_ISLNK(st.st_mode):
        os.symlink(os.readlink(src), dst)
    elif stat.S_ISREG(st.st_mode):
        shutil.copyfile(src, dst, follow_symlinks=False)
    elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode) or stat.S_ISFIFO(st.st_mode):
        os.mknod(dst, st.st_mode, st.st_rdev)
    elif stat.S_ISSOCK(st.st_mode):
        return
    _copy_meta(src, dst, st)
    if st.st_nlink > 1:
        links[key] = dst


def _merge(dirs: list[str], dest: str, links: dict) -> None:
    names: list[str] = []
    seen: set[str] = set()
    for d in dirs:
        for name in sorted(os.listdir(d)):
            if name not in seen:
                seen.add(name)
                names.append(name)
    for name in names:
        stack = _stack(dirs, name)
        if not stack:
            continue
        top = stack[0]
        st = os.lstat(top)
        target = os.path.join(dest, name)
        if stat.S_ISDIR(st.st_mode):
            os.mkdir(target, 0o700)
            _merge(stack, target, links)
            _copy_meta(top, target, st)
        else:
            _copy_entry(top, target, st, links)


def copy_up(layers: list[str], target: str, volume_dir: str, lock_path: str) -> bool:
    """Copy the union's ``target`` into the empty ``volume_dir``; True if
    something was copied.  A volume with data is left alone."""
    dirs = source_dirs(layers, target)
    if not dirs:
        return False
    with FileLock(lock_path):
        if not is_empty(volume_dir):
            return False
        staging = os.path.join(volume_dir, STAGING)
        if os.path.lexists(staging):
            from hold.store import remove_tree
            remove_tree(staging)
        os.mkdir(staging, 0o700)
        _merge(dirs, staging, {})
        entries = os.listdir(staging)
        for name in entries:
            os.rename(os.path.join(staging, name), os.path.join(volume_dir, name))
        os.rmdir(staging)
        _copy_meta(dirs[0], volume_dir, os.lstat(dirs[0]))
        return bool(entries)
