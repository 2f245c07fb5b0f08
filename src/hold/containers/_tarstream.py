"""The tar streams ``hold cp`` moves, written and extracted through fds.

Both sides of a copy speak one format, the one ``docker cp`` speaks: an
uncompressed tar (PAX headers where a name needs them) ending with two
zero blocks and no record padding, so sizes reported as "Successfully
copied 2.05kB" match Docker's.  Entry names are relative: ``base/...``
where ``base`` is the last component of the source (``.`` for a source
ending in ``/.``, which is how "copy the contents" travels).

Writing (``archive``) walks a tree with one directory fd per level and
opens every child with O_NOFOLLOW, so a symlink swapped in while we walk
is archived as a symlink, never followed.  Directories on a pseudo file
system (proc, sysfs, ... of a running container) are archived empty.

Extracting (``extract``) resolves each entry's parent directory inside the
root (``hold.inroot``) and creates the entry itself relative to that fd with
O_NOFOLLOW | O_EXCL, after unlinking what was there: no entry of a stream,
and no symlink already present, can make a write land outside the root.
As Docker's daemon does with AllowOverwriteDirWithFile=false, a directory
is never replaced by a non-directory or the reverse.
"""

from __future__ import annotations

import errno
import os
import stat
import tarfile

from hold.inroot import (ensure_dir_in_root, open_dir_in_root,
                                     open_in_root, split_parent)

__all__ = ["TarWriter", "archive", "extract", "CopyError"]

BLOCK = 512
CHUNK = 1 << 20


class CopyError(Exception):
    """A copy failed for a reason the user should read (one line)."""

    def __init__(self, message: str, kind: str = "error"):
        super().__init__(message)
        self.kind = kind


class TarWriter:
    """Appends tar entries to an fd; ``size`` counts the bytes written."""

    def __init__(self, out_fd: int):
        self.out_fd = out_fd
        self.size = 0

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            n = os.write(self.out_fd, view)
            view = view[n:]
        self.size += len(data)

    def add(self, info: tarfile.TarInfo, data_fd: int | None = None) -> None:
        self._write(info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape"))
        if data_fd is None or not info.isreg():
            return
        left = info.size
        while left > 0:
            chunk = os.read(data_fd, min(CHUNK, left))
            if not chunk:        # the file shrank under us: pad as tar requires
                chunk = b"\0" * min(CHUNK, left)
            self._write(chunk)
            left -= len(chunk)
        if info.size % BLOCK:
            self._write(b"\0" * (BLOCK - info.size % BLOCK))

    def close(self) -> None:
        self._write(b"\0" * (2 * BLOCK))


def _header(arcname: str, st: os.stat_result, linkname: str = "") -> tarfile.TarInfo | None:
    info = tarfile.TarInfo(arcname)
    mode = st.st_mode
    info.mode = stat.S_IMODE(mode)
    info.uid, info.gid = st.st_uid, st.st_gid
    info.mtime = int(st.st_mtime)
    if stat.S_ISREG(mode):
        info.type, info.size = tarfile.REGTYPE, st.st_size
    elif stat.S_ISDIR(mode):
        info.type = tarfile.DIRTYPE
    elif stat.S_ISLNK(mode):
        info.type, info.linkname = tarfile.SYMTYPE, linkname
    elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        info.type = tarfile.CHRTYPE if stat.S_ISCHR(mode) else tarfile.BLKTYPE
        info.devmajor, info.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
    elif stat.S_ISFIFO(mode):
        info.type = tarfile.FIFOTYPE
    else:
        return None              # sockets: tar has no type for them (Docker skips them)
    return info


def archive(writer: TarWriter, dir_fd: int, name: str, arcname: str,
            skip_devs: frozenset[int] = frozenset()) -> None:
    """Archive entry ``name`` of directory ``dir_fd`` (``"."``: the directory
    itself) as ``arcname`` and, for a directory, everything below it."""
    _add(writer, dir_fd, name, arcname, skip_devs, {})


def _add(writer, dir_fd, name, arcname, skip_devs, links) -> None:
    st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    if stat.S_ISLNK(st.st_mode):
        writer.add(_header(arcname, st, os.readlink(name, dir_fd=dir_fd)))
        return
    if stat.S_ISDIR(st.st_mode):
        writer.add(_header(arcname, st))
        if st.st_dev in skip_devs:
            return
        fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC,
                     dir_fd=dir_fd)
        try:
            for child in sorted(os.listdir(fd)):
                prefix = arcname.rstrip("/")
                _add(writer, fd, child, f"{prefix}/{child}" if prefix != "." else f"./{child}",
                     skip_devs, links)
        finally:
            os.close(fd)
        return
    key = (st.st_dev, st.st_ino)
    if not stat.S_ISDIR(st.st_mode) and st.st_nlink > 1 and key in links:
        info = _header(arcname, st)
        info.type, info.linkname, info.size = tarfile.LNKTYPE, links[key], 0
        writer.add(info)
        return
    info = _header(arcname, st)
    if info is None:
        return
    if st.st_nlink > 1:
        links[key] = arcname
    if not info.isreg():
        writer.add(info)
        return
    fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC,
                 dir_fd=dir_fd)
    try:
        now = os.fstat(fd)
        if (now.st_dev, now.st_ino) != key:     # swapped between lstat and open
            raise CopyError(f"{arcname} changed while it was being copied")
        writer.add(info, fd)
    finally:
        os.close(fd)


# -- extraction -------------------------------------------------------------

def _member_path(member: tarfile.TarInfo, rename: tuple[str, str] | None) -> list[str]:
    parts = [p for p in member.name.split("/") if p and p != "."]
    if rename:
        old, new = rename
        old_parts = [p for p in old.split("/") if p and p != "."]
        if parts[:len(old_parts)] == old_parts:
            parts = [p for p in new.split("/") if p and p != "."] + parts[len(old_parts):]
    if ".." in parts:
        raise CopyError(f"invalid tar entry {member.name!r}: it points outside the "
                        "destination ('..' is not accepted)")
    return parts


def extract(stream, rootfd: int, base: str, *, rename: tuple[str, str] | None = None,
            owner: tuple[int, int] | None = None, chown: bool = True) -> None:
    """Unpack the tar ``stream`` (a readable binary file) into directory
    ``base`` inside the root ``rootfd``.  Entries resolve against the root,
    not ``base``: a symlink unpacked earlier (``up -> /etc``) leads later
    entries to the root's /etc, as a tar run chrooted in the container would.

    ``rename`` (old, new) renames the leading component(s) of every entry,
    as Docker's RebaseArchiveEntries does; ``owner`` (uid, gid) overrides
    the entries' owners; ``chown=False`` leaves files owned by the caller
    (Docker's client extracts with NoLchown).
    """
    os.close(open_dir_in_root(rootfd, base))      # it must exist, and be a directory
    base_parts = [p for p in base.split("/") if p and p != "."]
    dirs: list[tuple[list[str], tarfile.TarInfo]] = []
    old_umask = os.umask(0)
    try:
        with tarfile.open(fileobj=stream, mode="r|", errorlevel=2) as tar:
            for member in tar:
                parts = _member_path(member, rename)
                if not parts:        # "./": the destination directory itself
                    continue
                parts = base_parts + parts
                _extract_one(tar, member, rootfd, parts, base_parts, rename, owner, chown)
                if member.isdir():
                    dirs.append((parts, member))
        # Directory modes and times last: entries written into a directory
        # change its mtime, and a read-only mode would stop the writes.
        for parts, member in reversed(dirs):
            fd = open_in_root(rootfd, "/".join(parts), os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
            try:
                _set_meta(fd, None, member, owner, chown)
            finally:
                os.close(fd)
    except tarfile.TarError as exc:
        raise CopyError(f"invalid tar stream: {exc}") from exc
    finally:
        os.umask(old_umask)


def _extract_one(tar, member, rootfd, parts, base_parts, rename, owner, chown) -> None:
    parent, name = split_parent("/".join(parts))
    parent_fd = ensure_dir_in_root(rootfd, parent)
    try:
        try:
            existing = os.stat(name, dir_fd=parent_fd, follow_symlinks=False)
        except FileNotFoundError:
            existing = None
        shown = "/" + "/".join(parts)
        if existing is not None:
            if stat.S_ISDIR(existing.st_mode):
                if member.isdir():
                    return
                raise CopyError(f'cannot overwrite directory "{shown}" with non-directory '
                                f'"{shown}"', "conflict")
            if member.isdir():
                raise CopyError(f'cannot overwrite non-directory "{shown}" with directory '
                                f'"{shown}"', "conflict")
            os.unlink(name, dir_fd=parent_fd)
        _create(tar, member, parent_fd, name, rootfd, base_parts, rename, owner, chown)
    finally:
        os.close(parent_fd)


def _create(tar, member, parent_fd, name, rootfd, base_parts, rename, owner, chown) -> None:
    if member.isreg():
        fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                     0o600, dir_fd=parent_fd)
        try:
            source = tar.extractfile(member)
            while chunk := source.read(CHUNK):
                _write_all(fd, chunk)
            _set_meta(fd, None, member, owner, chown)
        finally:
            os.close(fd)
    elif member.isdir():
        os.mkdir(name, 0o700, dir_fd=parent_fd)
    elif member.issym():
        os.symlink(member.linkname, name, dir_fd=parent_fd)
        _set_meta(None, (parent_fd, name), member, owner, chown)
    elif member.islnk():
        target_parts = base_parts + _member_path(tarfile.TarInfo(member.linkname), rename)
        tparent, tname = split_parent("/".join(target_parts))
        tfd = open_dir_in_root(rootfd, tparent)
        try:
            os.link(tname, name, src_dir_fd=tfd, dst_dir_fd=parent_fd, follow_symlinks=False)
        finally:
            os.close(tfd)
    elif member.ischr() or member.isblk() or member.isfifo():
        kind = (stat.S_IFCHR if member.ischr() else
                stat.S_IFBLK if member.isblk() else stat.S_IFIFO)
        # The final mode at once (the umask is 0 while extracting): a later
        # chmod by name could be redirected by a swapped-in symlink.
        os.mknod(name, kind | (member.mode & 0o777), os.makedev(member.devmajor, member.devminor),
                 dir_fd=parent_fd)
        _set_meta(None, (parent_fd, name), member, owner, chown)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _set_meta(fd, at, member, owner, chown) -> None:
    """Owner, then mode (chown clears set-id bits), then times.  By fd, or
    for links and nodes by (dir fd, name) without following the name."""
    uid, gid = owner if owner else (member.uid, member.gid)
    times = (int(member.mtime) * 10**9, int(member.mtime) * 10**9)
    if fd is not None:
        if chown or owner:
            os.fchown(fd, uid, gid)
        os.fchmod(fd, member.mode & 0o7777)
        os.utime(fd, ns=times)
        return
    dir_fd, name = at
    if chown or owner:
        os.chown(name, uid, gid, dir_fd=dir_fd, follow_symlinks=False)
    try:
        os.utime(name, ns=times, dir_fd=dir_fd, follow_symlinks=False)
    except OSError as exc:
        if exc.errno != errno.EOPNOTSUPP:
            raise
