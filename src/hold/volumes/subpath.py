"""``volume-subpath``: mount a directory inside a volume, never outside it.

The Kubernetes subPath CVE class: a container that can write the volume
swaps a path component for a symlink (``a -> /``) between the moment the
engine checks the path and the moment it mounts it, and the mount lands on
the host's root.  hold closes that window by never using the path twice:

1. ``openat2(volume_fd, subpath, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)``
   opens the directory with the kernel resolving every component, symlinks
   included, as if the volume were ``/``; ``..`` and absolute links stay in
   the volume.  (Kernels without openat2: a component-by-component walk with
   ``O_PATH | O_NOFOLLOW`` that follows symlinks itself, same rule.)
2. the opened directory is bind-mounted through ``/proc/self/fd/N`` onto
   ``<runroot>/containers/<id>/subpaths/<n>``, which no container can
   touch; the runtime binds that stable path into the container.  The fd
   pins what was resolved, so a later swap changes nothing.

The staging mount is undone when the container is removed
(``cleanup.release_mounts``) or started again.
"""

from __future__ import annotations

import ctypes
import errno
import os

from hold.errors import NotFound, SystemError_

__all__ = ["open_beneath", "stage_subpath", "unstage_subpaths"]

_SYS_OPENAT2 = 437
_RESOLVE_NO_MAGICLINKS = 0x02
_RESOLVE_IN_ROOT = 0x10
_FLAGS = os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64),
                ("resolve", ctypes.c_uint64)]


def _openat2(dirfd: int, path: str) -> int:
    libc = ctypes.CDLL(None, use_errno=True)
    how = _OpenHow(_FLAGS, 0, _RESOLVE_IN_ROOT | _RESOLVE_NO_MAGICLINKS)
    fd = libc.syscall(ctypes.c_long(_SYS_OPENAT2), ctypes.c_int(dirfd),
                      ctypes.c_char_p(os.fsencode(path)), ctypes.byref(how),
                      ctypes.c_size_t(ctypes.sizeof(how)))
    if fd < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err), path)
    return fd


def _walk(rootfd: int, path: str) -> int:
    """openat2's RESOLVE_IN_ROOT by hand, one O_NOFOLLOW component at a time."""
    parts = [p for p in path.split("/") if p and p != "."]
    stack = [os.dup(rootfd)]
    hops = 0
    try:
        while parts:
            part = parts.pop(0)
            if part == "..":
                if len(stack) > 1:
                    os.close(stack.pop())
                continue
            try:
                fd = os.open(part, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=stack[-1])
            except OSError:
                raise
            if os.path.islink(f"/proc/self/fd/{fd}") and _is_symlink(fd):
                target = os.readlink(part, dir_fd=stack[-1])
                os.close(fd)
                hops += 1
                if hops > 40:
                    raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), path)
                if target.startswith("/"):
                    while len(stack) > 1:
                        os.close(stack.pop())
                parts = [p for p in target.split("/") if p and p != "."] + parts
                continue
            stack.append(fd)
        result = stack.pop()
        if not os.path.isdir(f"/proc/self/fd/{result}"):
            os.close(result)
            raise OSError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), path)
        return result
    finally:
        for fd in stack:
            os.close(fd)


def _is_symlink(fd: int) -> bool:
    import stat
    return stat.S_ISLNK(os.fstat(fd).st_mode)


def open_beneath(root: str, path: str) -> int:
    """An O_PATH fd of directory ``path`` resolved inside ``root``."""
    rootfd = os.open(root, _FLAGS)
    try:
        try:
            return _openat2(rootfd, path)
        except OSError as exc:
            if exc.errno not in (errno.ENOSYS, errno.EPERM):
                raise
        return _walk(rootfd, path)
    finally:
        os.close(rootfd)


def _staging_dir(runroot: str, cid: str) -> str:
    return os.path.join(runroot, "containers", cid, "subpaths")


def stage_subpath(volume_path: str, subpath: str, *, volume: str, runroot: str,
                  cid: str, index: int) -> str:
    """Bind the resolved subpath onto a path only hold controls; return it."""
    from hold.runtime import _linux as L
    from hold.volumes.local import is_mountpoint
    try:
        fd = open_beneath(volume_path, subpath)
    except OSError as exc:
        raise NotFound(f"cannot access path {subpath}: volume subpath {subpath} does not "
                       f"exist in volume {volume} ({exc.strerror})") from exc
    try:
        target = os.path.join(_staging_dir(runroot, cid), str(index))
        os.makedirs(target, exist_ok=True)
        while is_mountpoint(target):
            L.umount2(target, L.MNT_DETACH)
        L.mount(f"/proc/self/fd/{fd}", target, None, L.MS_BIND)
    except OSError as exc:
        raise SystemError_(f"mounting volume subpath {subpath} of {volume}: {exc.strerror}",
                           errno=exc.errno) from exc
    finally:
        os.close(fd)
    return target


def unstage_subpaths(runroot: str, cid: str) -> None:
    """Undo every staging mount of the container (before its run dir goes)."""
    base = _staging_dir(runroot, cid)
    try:
        names = os.listdir(base)
    except FileNotFoundError:
        return
    from hold.runtime import _linux as L
    from hold.volumes.local import is_mountpoint
    for name in names:
        target = os.path.join(base, name)
        while is_mountpoint(target):
            try:
                L.umount2(target, L.MNT_DETACH)
            except OSError:
                break
