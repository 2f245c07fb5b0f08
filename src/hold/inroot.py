"""Opening paths *inside* a root directory, never outside it.

``hold cp`` reads and writes trees that a container controls: any path
component may be a symlink planted by the container (``/evil -> /etc``,
``up -> ../../..``), and a running container may swap a directory for a
symlink while we work.  Every open here is relative to a root fd and
resolves as if that root were ``/``:

- ``openat2(rootfd, path, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)``: the
  kernel follows symlinks with the root as ``/`` and clamps ``..`` at it.
  RESOLVE_NO_MAGICLINKS refuses ``/proc/PID/fd/N``-style links, the one
  kind of link that a chroot or a mount namespace does not confine (a
  container process holding an fd to a host file would otherwise hand it
  to us).
- kernels without openat2 (ENOSYS, or EPERM under an old seccomp filter):
  the same rule by hand, one ``O_PATH | O_NOFOLLOW`` component at a time,
  reading each symlink ourselves (``hold.rootpath`` semantics).  A magic
  link is then only ever *read* (its readlink text is treated as a plain
  path inside the root), never followed by the kernel.

Callers open a *parent* directory here and then act on the last component
with ``dir_fd=`` and O_NOFOLLOW / ``follow_symlinks=False``, so the entry
they create or replace is never reached through a symlink.  An fd pins
what was resolved: a later swap of a path component changes nothing.
"""

from __future__ import annotations

import ctypes
import errno
import os
import stat

__all__ = ["open_in_root", "open_dir_in_root", "ensure_dir_in_root", "split_parent"]

_SYS_OPENAT2 = 437
_RESOLVE_NO_MAGICLINKS = 0x02
_RESOLVE_IN_ROOT = 0x10
MAX_LINK_HOPS = 40

# Loaded at import: a joiner that has entered a container's mount namespace
# can no longer reach the host's libc by path.
_LIBC = ctypes.CDLL(None, use_errno=True)
_openat2_missing = False


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64),
                ("resolve", ctypes.c_uint64)]


def _openat2(rootfd: int, path: str, flags: int) -> int:
    how = _OpenHow(flags | os.O_CLOEXEC, 0, _RESOLVE_IN_ROOT | _RESOLVE_NO_MAGICLINKS)
    fd = _LIBC.syscall(ctypes.c_long(_SYS_OPENAT2), ctypes.c_int(rootfd),
                       ctypes.c_char_p(os.fsencode(path or ".")), ctypes.byref(how),
                       ctypes.c_size_t(ctypes.sizeof(how)))
    if fd < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err), path)
    return fd


def _components(path: str) -> list[str]:
    return [p for p in path.split("/") if p and p != "."]


def _walk(rootfd: int, path: str, flags: int) -> int:
    """RESOLVE_IN_ROOT by hand: O_PATH|O_NOFOLLOW per component, links read
    and spliced into the remaining components, ``..`` popped at most to the
    root.  The resolved object is then opened with ``flags`` relative to its
    parent with O_NOFOLLOW (no /proc needed: a chrooted worker has none)."""
    parts = _components(path)
    stack = [os.dup(rootfd)]
    names = [""]
    hops = 0
    try:
        while parts:
            part = parts.pop(0)
            if part == "..":
                if len(stack) > 1:
                    os.close(stack.pop())
                    names.pop()
                continue
            fd = os.open(part, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=stack[-1])
            if stat.S_ISLNK(os.fstat(fd).st_mode):
                os.close(fd)
                target = os.readlink(part, dir_fd=stack[-1])
                hops += 1
                if hops > MAX_LINK_HOPS:
                    raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), path)
                if target.startswith("/"):
                    while len(stack) > 1:
                        os.close(stack.pop())
                        names.pop()
                parts = _components(target) + parts
                continue
            stack.append(fd)
            names.append(part)
        if len(stack) == 1:
            return os.open(".", flags | os.O_CLOEXEC, dir_fd=stack[0])
        return os.open(names[-1], flags | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=stack[-2])
    finally:
        for fd in stack:
            os.close(fd)


def open_in_root(rootfd: int, path: str, flags: int = os.O_PATH) -> int:
    """An fd for ``path`` (symlinks followed, all inside the root)."""
    global _openat2_missing
    if not _openat2_missing:
        try:
            return _openat2(rootfd, path, flags)
        except OSError as exc:
            if exc.errno not in (errno.ENOSYS, errno.EPERM):
                raise
            _openat2_missing = True
    return _walk(rootfd, path, flags)


def open_dir_in_root(rootfd: int, path: str) -> int:
    """An O_PATH fd of directory ``path``; ENOTDIR if it is something else."""
    return open_in_root(rootfd, path, os.O_PATH | os.O_DIRECTORY)


def ensure_dir_in_root(rootfd: int, path: str, mode: int = 0o755) -> int:
    """Like ``mkdir -p`` inside the root; returns an O_PATH fd of the dir.
    Missing components are created with ``mkdirat`` relative to their
    already-resolved parent, so none can be created outside the root."""
    try:
        return open_dir_in_root(rootfd, path)
    except FileNotFoundError:
        pass
    parent, name = split_parent(path)
    if not name:
        return open_dir_in_root(rootfd, "/")
    parent_fd = ensure_dir_in_root(rootfd, parent, mode)
    try:
        try:
            os.mkdir(name, mode, dir_fd=parent_fd)
        except FileExistsError:
            pass
        return open_in_root(parent_fd, name, os.O_PATH | os.O_DIRECTORY) \
            if not _is_link(parent_fd, name) else open_dir_in_root(rootfd, path)
    finally:
        os.close(parent_fd)


def _is_link(dir_fd: int, name: str) -> bool:
    try:
        return stat.S_ISLNK(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode)
    except OSError:
        return False


def split_parent(path: str) -> tuple[str, str]:
    """("/a/b", "c") for "/a/b/c"; ("/", "") for the root itself."""
    parts = _components(path)
    if not parts:
        return "/", ""
    return "/" + "/".join(parts[:-1]), parts[-1]
