"""``volume-subpath``: mount a directory inside a volume, never outside it.

The Kubernetes subPath CVE class: a container that can write the volume
swaps a path component for a symlink (``a -> /``) between the moment the
engine checks the path and the moment it mounts it, and the mount lands on
the host's root.  hold closes that window by never using the path twice:

1. ``openat2(volume_fd, subpath, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)``
   opens the directory with the kernel resolving every component, symlinks
   included, as if the volume were ``/``; ``..`` and absolute links stay in
   the volume.  (Kernels without openat2: a component-by-component walk with
   ``O_PATH | O_NOFOLLOW`` that follows symlinks itself, same rule; both
   are ``hold.inroot``'s, which ``hold cp`` uses too.)
2. the opened directory is bind-mounted through ``/proc/self/fd/N`` onto
   ``<runroot>/containers/<id>/subpaths/<n>``, which no container can
   touch; the runtime binds that stable path into the container.  The fd
   pins what was resolved, so a later swap changes nothing.

The staging mount is undone when the container is removed
(``cleanup.release_mounts``) or started again.
"""

from __future__ import annotations

import os

from hold.errors import NotFound, SystemError_

__all__ = ["open_beneath", "stage_subpath", "unstage_subpaths"]


def open_beneath(root: str, path: str) -> int:
    """An O_PATH fd of directory ``path`` resolved inside ``root``."""
    from hold.inroot import open_dir_in_root
    rootfd = os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        return open_dir_in_root(rootfd, path)
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
