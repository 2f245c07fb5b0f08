"""Layer tars <-> layer directories, never writing outside the layer.

Words:

- a **layer tar** is an uncompressed tar diff in OCI form: a deleted path
  is a file ``.wh.NAME``, a directory whose lower content is hidden holds
  ``.wh..wh..opq``.  Its **diff id** is ``sha256:`` of these bytes.
- a **layer dir** is that tar unpacked in overlayfs's own form, ready to
  be a lowerdir: ``.wh.NAME`` becomes a character device 0/0 named NAME,
  ``.wh..wh..opq`` becomes the xattr ``trusted.overlay.opaque=y``.

Flow of an import::

    source (file, stdin; gzip/bzip2/xz/zstd or plain)
      -> spool_tar()        uncompressed tar in tmp/, hashed on the way
      -> unpack_layer()     into an empty dir in tmp/ (the caller renames it
                            to layers/<hex> once complete)

and of a commit: ``pack_upperdir()`` writes an overlay upperdir back as an
OCI layer tar (sorted, so equal content gives an equal diff id).

Safety rules of ``unpack_layer`` (each breach is an ``UnsafeArchive`` that
names the member and the reason):

- member names are cleaned like Docker does (a leading ``/`` and ``.``
  components dropped), and any ``..`` component is refused;
- every write goes through directory file descriptors opened with
  ``O_NOFOLLOW``: a symlink is stored as a symlink, never followed, and a
  member whose parent is a symlink planted by the archive is refused;
- a hard link must point at an earlier member of the same archive;
- device nodes: only the harmless character devices in ``SAFE_DEVICES``
  (null, zero, full, random, urandom, tty, console, ptmx, and 0/0, which
  is overlay's whiteout) unless ``allow_devices=True``.  Block devices and
  other character devices could hand a container the host's hardware, so
  they are refused by default.
"""

from __future__ import annotations

import errno
import os
import stat

from hold.errors import InvalidArgument, UnsafeArchive

__all__ = ["spool_tar", "unpack_layer", "pack_upperdir", "layer_size",
           "SAFE_DEVICES", "WHITEOUT_PREFIX", "OPAQUE_MARKER", "OPAQUE_XATTR"]

WHITEOUT_PREFIX = ".wh."
OPAQUE_MARKER = ".wh..wh..opq"
OPAQUE_XATTR = "trusted.overlay.opaque"
SAFE_DEVICES = {(0, 0): "whiteout", (1, 3): "null", (1, 5): "zero",
                (1, 7): "full", (1, 8): "random", (1, 9): "urandom",
                (5, 0): "tty", (5, 1): "console", (5, 2): "ptmx"}
_UNEXPORTABLE = ("trusted.overlay.redirect", "trusted.overlay.metacopy")
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_CHUNK = 1 << 20
_MAGIC = ((b"\x1f\x8b", "gzip"), (b"BZh", "bzip2"), (b"\xfd7zXZ\x00", "xz"),
          (b"\x28\xb5\x2f\xfd", "zstd"))


# ------------------------------------------------------------------ spool

class _Peeked:
    """A read()-able stream with some bytes already read from its head."""

    def __init__(self, head: bytes, rest):
        self.head, self.rest = head, rest

    def read(self, n: int = -1) -> bytes:
        if self.head:
            data, self.head = (self.head, b"") if n < 0 or n >= len(self.head) \
                else (self.head[:n], self.head[n:])
            return data
        return self.rest.read(n)


def _read_head(source, n: int) -> bytes:
    head = b""
    while len(head) < n:
        chunk = source.read(n - len(head))
        if not chunk:
            break
        head += chunk
    return head


def _decompressed(stream, kind: str):
    if kind == "gzip":
        import gzip
        return gzip.GzipFile(fileobj=stream, mode="rb")
    if kind == "bzip2":
        import bz2
        return bz2.BZ2File(stream, mode="rb")
    if kind == "xz":
        import lzma
        return lzma.LZMAFile(stream, mode="rb")
    if kind == "zstd":
        try:
            import zstandard
        except ImportError:
            return _ZstdProcess(stream)
        return zstandard.ZstdDecompressor().stream_reader(stream, read_across_frames=True)
    return stream


class _ZstdProcess:
    """Decompress zstd with the zstd program when the module is missing."""

    def __init__(self, stream):
        import shutil
        import subprocess
        import threading
        if not shutil.which("zstd"):
            raise InvalidArgument("input is zstd-compressed but neither the "
                                  "zstandard module nor the zstd program is installed")
        self.proc = subprocess.Popen(["zstd", "-dcq"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.feeder = threading.Thread(target=self._feed, args=(stream,), daemon=True)
        self.feeder.start()

    def _feed(self, stream) -> None:
        try:
            while chunk := stream.read(_CHUNK):
                self.proc.stdin.write(chunk)
        except (BrokenPipeError, OSError):
            pass
        finally:
            try:
                self.proc.stdin.close()
            except OSError:
                pass

    def read(self, n: int = -1) -> bytes:
        data = self.proc.stdout.read(n)
        if not data:
            self.feeder.join()
            if self.proc.wait() != 0:
                raise OSError(self.proc.stderr.read().decode(errors="replace").strip()
                              or "zstd failed")
        return data


def spool_tar(source, tmp_dir: str, what: str) -> tuple[str, str, int]:
    """Copy ``source`` (a binary stream) to a tar in ``tmp_dir``, decompressed.

    Returns ``(path, diff_id, size)``.  ``what`` names the input in errors.
    The caller owns (and must remove) the returned file.
    """
    import hashlib
    import tempfile
    head = _read_head(source, 6)
    if not head:
        raise InvalidArgument(f"{what}: input is empty, expected a tar archive")
    kind = next((k for magic, k in _MAGIC if head.startswith(magic)), "tar")
    hasher, size = hashlib.sha256(), 0
    fd, path = tempfile.mkstemp(dir=tmp_dir, prefix="import-", suffix=".tar")
    try:
        with os.fdopen(fd, "wb") as out:
            stream = _decompressed(_Peeked(head, source), kind)
            while chunk := stream.read(_CHUNK):
                hasher.update(chunk)
                out.write(chunk)
                size += len(chunk)
    except BaseException as exc:
        os.unlink(path)
        if isinstance(exc, InvalidArgument) or not isinstance(exc, Exception) or (
                isinstance(exc, OSError) and exc.errno is not None):
            raise  # ours, an interrupt, or the host's (disk full, EIO)
        # gzip/bz2/lzma/zstd decoders each have their own error classes
        raise InvalidArgument(f"{what}: corrupt {kind} data: {exc}") from exc
    _check_is_tar(path, what)
    return path, "sha256:" + hasher.hexdigest(), size


def _check_is_tar(path: str, what: str) -> None:
    import tarfile
    try:
        with tarfile.open(path, "r:") as tar:
            tar.next()
    except tarfile.TarError as exc:
        os.unlink(path)
        raise InvalidArgument(f"{what}: not a tar archive (plain, gzip, bzip2, "
                              f"xz or zstd are accepted): {exc}") from exc


def layer_size(tar_path: str) -> int:
    """Docker's layer size: bytes of regular files and symlink targets."""
    import tarfile
    total = 0
    with tarfile.open(tar_path, "r:") as tar:
        for member in tar:
            total += _member_size(member)
    return total


def _member_size(member) -> int:
    if member.isreg():
        return member.size
    if member.issym():
        return len(member.linkname.encode(errors="surrogateescape"))
    return 0


# ----------------------------------------------------------------- unpack

def clean_parts(name: str, member: str) -> list[str]:
    """Path components of a member name; refuses any ``..``."""
    parts = []
    for part in name.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            raise UnsafeArchive(f"tar member {member!r}: path contains '..', "
                                "which could escape the layer", member=member)
        parts.append(part)
    return parts


def unpack_layer(tar_path: str, dest: str, allow_devices: bool = False) -> int:
    """Unpack an OCI layer tar into the empty directory ``dest``.

    Returns the layer size (see ``layer_size``).  On any error ``dest`` may
    hold part of the archive: unpack into a temporary directory and rename
    it into place only on success.
    """
    import tarfile
    root_fd = os.open(dest, _DIR_FLAGS)
    try:
        unpacker = _Unpacker(root_fd, allow_devices)
        try:
            with tarfile.open(tar_path, "r:") as tar:
                for member in tar:
                    try:
                        unpacker.add(tar, member)
                    except OSError as exc:
                        raise _member_error(member.name, exc) from exc
        except tarfile.TarError as exc:
            raise InvalidArgument(f"corrupt tar archive: {exc}") from exc
        unpacker.finish()
        return unpacker.size
    finally:
        os.close(root_fd)


_HOST_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EROFS, errno.ENOMEM,
                errno.EMFILE, errno.ENFILE}


def _member_error(name: str, exc: OSError):
    """An OSError while writing one member: the host's fault (disk full,
    I/O error) or the archive's (an entry the kernel will not create)."""
    from hold.errors import SystemError_
    reason = exc.strerror or str(exc)
    if exc.errno in _HOST_ERRNOS:
        return SystemError_(f"unpacking tar member {name!r}: {reason}", errno=exc.errno)
    return InvalidArgument(f"tar member {name!r} cannot be created: {reason}",
                           member=name)


class _Unpacker:
    def __init__(self, root_fd: int, allow_devices: bool):
        self.root_fd = root_fd
        self.allow_devices = allow_devices
        self.dir_times: list[tuple[list[str], int]] = []
        self.size = 0

    def open_dir(self, parts: list[str], member: str, create: bool = True) -> int:
        """An fd of the directory ``parts`` below the root, never following a
        symlink; missing directories are made (0755) when ``create``."""
        fd = os.dup(self.root_fd)
        try:
            for depth, part in enumerate(parts):
                try:
                    child = os.open(part, _DIR_FLAGS, dir_fd=fd)
                except FileNotFoundError:
                    if not create:
                        raise
                    os.mkdir(part, 0o755, dir_fd=fd)
                    child = os.open(part, _DIR_FLAGS, dir_fd=fd)
                except OSError as exc:
                    if exc.errno not in (errno.ELOOP, errno.ENOTDIR):
                        raise
                    where = "/".join(parts[:depth + 1])
                    st = os.stat(part, dir_fd=fd, follow_symlinks=False)
                    kind = "a symlink" if stat.S_ISLNK(st.st_mode) else "not a directory"
                    raise UnsafeArchive(
                        f"tar member {member!r}: parent {where!r} is {kind}; "
                        "refusing to write through it", member=member) from None
                os.close(fd)
                fd = child
            return fd
        except BaseException:
            os.close(fd)
            raise

    def add(self, tar, member) -> None:
        parts = clean_parts(member.name, member.name)
        if not parts:
            if not member.isdir():
                raise UnsafeArchive(f"tar member {member.name!r}: the layer root "
                                    "must be a directory", member=member.name)
            self._meta(self.root_fd, None, member)
            self.dir_times.append(([], int(member.mtime)))
            return
        base = parts[-1]
        parent = self.open_dir(parts[:-1], member.name)
        try:
            if base.startswith(WHITEOUT_PREFIX):
                self._whiteout(parent, base, member)
            else:
                self._create(parent, base, parts, tar, member)
        finally:
            os.close(parent)

    def _whiteout(self, parent: int, base: str, member) -> None:
        if base == OPAQUE_MARKER:
            os.setxattr(f"/proc/self/fd/{parent}", OPAQUE_XATTR, b"y")
            return
        if base.startswith(WHITEOUT_PREFIX + WHITEOUT_PREFIX):
            return  # aufs metadata (.wh..wh.plnk, ...): meaningless here
        name = base[len(WHITEOUT_PREFIX):]
        if name in ("", ".", ".."):
            raise UnsafeArchive(f"tar member {member.name!r}: whiteout of {name!r} "
                                "would hide a directory above it", member=member.name)
        _remove_entry(parent, name)
        os.mknod(name, stat.S_IFCHR, os.makedev(0, 0), dir_fd=parent)
        os.chown(name, member.uid, member.gid, dir_fd=parent, follow_symlinks=False)

    def _create(self, parent: int, base: str, parts: list[str], tar, member) -> None:
        try:
            existing = os.stat(base, dir_fd=parent, follow_symlinks=False)
        except FileNotFoundError:
            existing = None
        if existing and not (member.isdir() and stat.S_ISDIR(existing.st_mode)):
            _remove_entry(parent, base)
        self.size += _member_size(member)
        if member.isreg():
            self._regular(parent, base, tar, member)
        elif member.isdir():
            if not existing or not stat.S_ISDIR(existing.st_mode):
                os.mkdir(base, 0o700, dir_fd=parent)
            fd = os.open(base, _DIR_FLAGS, dir_fd=parent)
            try:
                self._meta(fd, None, member)
            finally:
                os.close(fd)
            self.dir_times.append((parts, int(member.mtime)))
        elif member.issym():
            os.symlink(member.linkname, base, dir_fd=parent)
            self._meta(parent, base, member, symlink=True)
        elif member.islnk():
            self._hardlink(parent, base, member)
        elif member.ischr() or member.isblk():
            self._device(parent, base, member)
        elif member.isfifo():
            os.mkfifo(base, 0o600, dir_fd=parent)
            self._meta(parent, base, member)
        else:
            raise UnsafeArchive(f"tar member {member.name!r}: unsupported entry "
                                f"type {member.type!r}", member=member.name)

    def _regular(self, parent: int, base: str, tar, member) -> None:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(base, flags, 0o600, dir_fd=parent)
        with os.fdopen(fd, "wb") as out:
            source = tar.extractfile(member)
            while chunk := source.read(_CHUNK):
                out.write(chunk)
            out.flush()
            self._meta(fd, None, member)

    def _hardlink(self, parent: int, base: str, member) -> None:
        target = clean_parts(member.linkname, member.name)
        if not target:
            raise UnsafeArchive(f"tar member {member.name!r}: hard link to the "
                                "layer root", member=member.name)
        try:
            target_dir = self.open_dir(target[:-1], member.name, create=False)
        except FileNotFoundError:
            target_dir = None
        try:
            st = None
            if target_dir is not None:
                try:
                    st = os.stat(target[-1], dir_fd=target_dir, follow_symlinks=False)
                except FileNotFoundError:
                    pass
            if st is None:
                raise UnsafeArchive(
                    f"tar member {member.name!r}: hard link target "
                    f"{member.linkname!r} is not an earlier member of the "
                    "archive", member=member.name)
            if stat.S_ISDIR(st.st_mode):
                raise UnsafeArchive(f"tar member {member.name!r}: hard link to "
                                    f"directory {member.linkname!r}", member=member.name)
            os.link(target[-1], base, src_dir_fd=target_dir, dst_dir_fd=parent,
                    follow_symlinks=False)
        finally:
            if target_dir is not None:
                os.close(target_dir)

    def _device(self, parent: int, base: str, member) -> None:
        numbers = (member.devmajor, member.devminor)
        kind = "character" if member.ischr() else "block"
        if not self.allow_devices and not (member.ischr() and numbers in SAFE_DEVICES):
            raise UnsafeArchive(
                f"tar member {member.name!r}: {kind} device {numbers[0]}:{numbers[1]} "
                "is not allowed in a layer (accepted: character devices "
                f"{', '.join(sorted(set(SAFE_DEVICES.values()) - {'whiteout'}))})",
                member=member.name)
        kind_bit = stat.S_IFCHR if member.ischr() else stat.S_IFBLK
        os.mknod(base, kind_bit | 0o600, os.makedev(*numbers), dir_fd=parent)
        self._meta(parent, base, member)

    def _meta(self, fd: int, name: str | None, member, symlink: bool = False) -> None:
        """Owner, mode, xattrs and (except directories) mtime of an entry:
        ``fd`` is the entry itself when ``name`` is None, else its parent."""
        if name is None:
            os.chown(fd, member.uid, member.gid)
            os.chmod(fd, member.mode & 0o7777)
            target = fd
        else:
            os.chown(name, member.uid, member.gid, dir_fd=fd, follow_symlinks=False)
            if not symlink:
                os.chmod(name, member.mode & 0o7777, dir_fd=fd)
            target = f"/proc/self/fd/{fd}/{name}"
        for key, value in member.pax_headers.items():
            # overlay's own xattrs (opaque, redirect, metacopy) come only
            # from OCI whiteouts, never from an archive's headers
            if key.startswith("SCHILY.xattr.") and not key.startswith(
                    "SCHILY.xattr.trusted.overlay."):
                _set_xattr(target, key[len("SCHILY.xattr."):],
                           value.encode("utf-8", "surrogateescape"))
        if not member.isdir():
            mtime = int(member.mtime) * 10**9
            if name is None:
                os.utime(fd, ns=(mtime, mtime))
            else:
                os.utime(name, ns=(mtime, mtime), dir_fd=fd, follow_symlinks=False)

    def finish(self) -> None:
        """Directory mtimes last, once nothing more is written below them."""
        for parts, mtime in reversed(self.dir_times):
            try:
                fd = self.open_dir(parts, "/".join(parts) or ".", create=False)
            except (UnsafeArchive, FileNotFoundError):
                continue  # a later member replaced it; never follow a link
            try:
                os.utime(fd, ns=(mtime * 10**9,) * 2)
            finally:
                os.close(fd)


def _set_xattr(target, key: str, value: bytes) -> None:
    try:
        if isinstance(target, int):
            os.setxattr(target, key, value)
        else:
            os.setxattr(target, key, value, follow_symlinks=False)
    except OSError as exc:
        # Not every filesystem takes every namespace (user.* on symlinks,
        # security.* under some LSMs); Docker ignores these too.
        if exc.errno not in (errno.ENOTSUP, errno.EPERM):
            raise


def _remove_entry(parent: int, name: str) -> None:
    try:
        st = os.stat(name, dir_fd=parent, follow_symlinks=False)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        import shutil
        shutil.rmtree(name, dir_fd=parent)
    else:
        os.unlink(name, dir_fd=parent)


# ------------------------------------------------------------------- pack

def pack_upperdir(upperdir: str, out) -> None:
    """Write the overlay upperdir ``upperdir`` to ``out`` as an OCI layer tar.

    Entries are sorted by name, owners kept numerically (no user names),
    mtimes kept to the second, atime/ctime dropped: the same tree always
    gives the same bytes.  Overlay whiteouts become ``.wh.`` files, the
    opaque xattr becomes ``.wh..wh..opq``, other ``trusted.overlay.*``
    xattrs are dropped and sockets skipped.  An entry carrying overlay's
    redirect or metacopy xattr has content this tree does not hold, so it
    is an ``Unsupported`` error rather than a silently wrong layer.
    """
    import tarfile
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        links: dict[tuple[int, int], str] = {}
        for rel, path, st in _walk_sorted(upperdir):
            _pack_entry(tar, rel, path, st, links)


def _walk_sorted(dir_path: str, rel_dir: str = ""):
    """Every entry below ``dir_path``, depth first, siblings sorted by name."""
    for name in sorted(os.listdir(dir_path)):
        path = os.path.join(dir_path, name)
        rel = f"{rel_dir}/{name}" if rel_dir else name
        st = os.lstat(path)
        yield rel, path, st
        if stat.S_ISDIR(st.st_mode):
            yield from _walk_sorted(path, rel)


def _pack_entry(tar, rel: str, path: str, st, links: dict) -> None:
    import tarfile
    mode = st.st_mode
    if stat.S_ISSOCK(mode):
        return
    info = tarfile.TarInfo(rel)
    info.uid, info.gid = st.st_uid, st.st_gid
    info.mode = stat.S_IMODE(mode)
    info.mtime = int(st.st_mtime)
    info.uname = info.gname = ""
    if stat.S_ISCHR(mode) and os.major(st.st_rdev) == 0 and os.minor(st.st_rdev) == 0:
        head, _, name = rel.rpartition("/")
        info.name = f"{head}/{WHITEOUT_PREFIX}{name}" if head else WHITEOUT_PREFIX + name
        info.type, info.mode, info.size = tarfile.REGTYPE, 0o600, 0
        tar.addfile(info)
        return
    info.pax_headers = _xattr_headers(path)
    if stat.S_ISDIR(mode):
        info.type = tarfile.DIRTYPE
        tar.addfile(info)
        if _is_opaque(path):
            marker = tarfile.TarInfo(f"{rel}/{OPAQUE_MARKER}")
            marker.uid, marker.gid, marker.mtime = info.uid, info.gid, info.mtime
            marker.mode, marker.uname, marker.gname = 0o600, "", ""
            tar.addfile(marker)
    elif stat.S_ISREG(mode):
        key = (st.st_dev, st.st_ino)
        if st.st_nlink > 1 and key in links:
            info.type, info.linkname = tarfile.LNKTYPE, links[key]
            tar.addfile(info)
            return
        links[key] = rel
        info.type, info.size = tarfile.REGTYPE, st.st_size
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        with os.fdopen(fd, "rb") as f:
            tar.addfile(info, f)
    elif stat.S_ISLNK(mode):
        info.type, info.linkname = tarfile.SYMTYPE, os.readlink(path)
        tar.addfile(info)
    elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        info.type = tarfile.CHRTYPE if stat.S_ISCHR(mode) else tarfile.BLKTYPE
        info.devmajor, info.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
        tar.addfile(info)
    elif stat.S_ISFIFO(mode):
        info.type = tarfile.FIFOTYPE
        tar.addfile(info)


def _is_opaque(path: str) -> bool:
    try:
        return os.getxattr(path, OPAQUE_XATTR, follow_symlinks=False) == b"y"
    except OSError:
        return False


def _xattr_headers(path: str) -> dict[str, str]:
    headers = {}
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError:
        return headers
    for name in sorted(names):
        if name in _UNEXPORTABLE:
            from hold.errors import Unsupported
            raise Unsupported(
                f"cannot turn {path} into a layer: it carries overlayfs's {name} "
                "xattr (a renamed directory or a metadata-only copy-up, whose "
                "content lives in a lower layer); the container's overlay must be "
                "mounted with redirect_dir=off,metacopy=off")
        if name.startswith("trusted.overlay."):
            continue
        try:
            value = os.getxattr(path, name, follow_symlinks=False)
        except OSError:
            continue
        headers["SCHILY.xattr." + name] = value.decode("utf-8", "surrogateescape")
    return headers
