"""`hold cp`: copy files between a container and the host, as `docker cp`.

Words (Docker's, from its archive package):

    source info       (path, exists, is a directory, rebase name)
    destination info  (path after following a final symlink, exists, is a
                      directory)
    rebase name       the name the copied entry must carry when ``-L`` (or a
                      trailing ``/``) made its path differ from what the
                      user asked for
    asserts directory a path ending in ``/`` or ``/.``

The rules (``_prepare``), with SRC a file or a directory and DEST:

    DEST is an existing directory   SRC is copied into it (SRC/. : its
                                    contents are)
    DEST exists, is not a dir       a file replaces it; a directory: error
                                    "cannot copy directory"
    DEST does not exist             created with SRC's content and DEST's
                                    name; DEST ending in "/" with a file
                                    SRC: error "no such directory"

Container paths are absolute from the container's root (relative ones
too, as Docker's daemon does); symlinks in them resolve inside the
container (``_worker``, ``hold.inroot``).  Ownership, as Docker really behaves
(its documentation says otherwise, moby#45793): files copied in keep the
uid/gid the tar carries (the host files' owners), and ``-a`` gives them to
the container's configured user (``--user``; kept when it has none).
Files copied out belong to whoever runs ``hold cp``.

Nothing is changed when a rule refuses: every check runs before a byte is
written.
"""

from __future__ import annotations

import os
import posixpath
from dataclasses import dataclass

from hold.containers._tarstream import CopyError, TarWriter, archive, extract
from hold.containers._worker import Worker
from hold.errors import Conflict, HoldError, InvalidArgument, NotFound, SystemError_

__all__ = ["copy_from_container", "copy_to_container", "CopyResult"]

CHUNK = 1 << 20


@dataclass
class CopyResult:
    size: int          # bytes of the tar stream moved
    destination: str   # as Docker shows it in "Successfully copied ... to DEST"


@dataclass
class _Info:
    path: str
    exists: bool = False
    is_dir: bool = False
    rebase_name: str = ""


# -- Go path semantics (Docker's rules are written in them) ------------------------

def _current_dir(path: str) -> bool:
    return posixpath.basename(path.rstrip("/") or "/") == "." or path == "."


def _asserts_dir(path: str) -> bool:
    return path.endswith("/") or _current_dir(path)


def _preserve_trailing(cleaned: str, original: str) -> str:
    if _current_dir(original) and not _current_dir(cleaned):
        cleaned = cleaned.rstrip("/") + "/."
    elif original.endswith("/") and not cleaned.endswith("/"):
        cleaned += "/"
    return cleaned


def _clean(path: str) -> str:
    cleaned = posixpath.normpath(path)
    return cleaned[1:] if cleaned.startswith("//") else cleaned


def _split_dir_entry(path: str) -> tuple[str, str]:
    cleaned = _clean(path)
    if _current_dir(path):
        cleaned += "/."
    return posixpath.dirname(cleaned) or ".", posixpath.basename(cleaned) or "/"


def container_path(path: str) -> str:
    """Absolute, cleaned, with the user's trailing "/" or "/." kept."""
    return _preserve_trailing(_clean("/" + path), path)


def _local_path(path: str) -> str:
    return _preserve_trailing(_clean(os.path.abspath(path)), path)


def _go_error(op: str, path: str, exc: OSError) -> str:
    text = exc.strerror or str(exc)
    return f"{op} {path}: {text[:1].lower()}{text[1:]}"


def _translate(exc: CopyError, ref: str) -> HoldError:
    if exc.kind == "notfound":
        return NotFound(f"Could not find the file {exc} in container {ref}")
    if exc.kind == "conflict":
        return Conflict(str(exc))
    if exc.kind == "invalid":
        return InvalidArgument(str(exc))
    return SystemError_(str(exc))


def _prepare(src: _Info, dst: _Info) -> tuple[str, str | None]:
    """Docker's PrepareArchiveCopy: (directory to extract into, the name the
    source's entries must take there, or None to keep theirs)."""
    dst_dir, dst_base = _split_dir_entry(dst.path)
    _, src_base = _split_dir_entry(src.path)
    if dst.exists and dst.is_dir:
        return dst.path, None
    if dst.exists and src.is_dir:
        raise InvalidArgument("cannot copy directory")
    if not dst.exists and not src.is_dir and _asserts_dir(dst.path):
        raise InvalidArgument("no such directory")
    return dst_dir, dst_base if (src.rebase_name or src_base) != dst_base else None


# -- jobs run inside the container (see _worker) ------------------------------------

def _resolve_source(rootfd: int, path: str):
    """(dir fd, name) of the entry ``path`` names: its parent resolved
    inside the root, its last component not followed, unless the path ends
    in "/" or "/." (then the directory it leads to)."""
    from hold.inroot import open_dir_in_root, split_parent
    import errno
    try:
        if _asserts_dir(path):
            return open_dir_in_root(rootfd, _clean(path)), "."
        parent, name = split_parent(path)
        fd = open_dir_in_root(rootfd, parent)
        if not name:
            return fd, "."
        try:
            os.stat(name, dir_fd=fd, follow_symlinks=False)
        except BaseException:
            os.close(fd)
            raise
        return fd, name
    except (FileNotFoundError, NotADirectoryError) as exc:
        if exc.errno == errno.ENOTDIR and _asserts_dir(path):
            raise CopyError(f"lstat {path}: not a directory", "invalid") from exc
        raise CopyError(_clean(path), "notfound") from exc


def _stat_job(path: str):
    def job(report, _skip) -> None:
        import stat as st_mod
        from hold.rootpath import resolve_inside
        rootfd = os.open("/", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        fd, name = _resolve_source(rootfd, path)
        st = os.stat(name, dir_fd=fd, follow_symlinks=False)
        target = ""
        if st_mod.S_ISLNK(st.st_mode):
            target = resolve_inside(path, _readlink_or_none, lambda m: CopyError(m, "invalid"))
        report(stat={"exists": True, "is_dir": st_mod.S_ISDIR(st.st_mode),
                     "is_link": bool(target), "link_target": target,
                     "irregular": _irregular(st.st_mode)})
    return job


def _readlink_or_none(path: str) -> str | None:
    try:
        return os.readlink(path)
    except OSError:
        return None


def _irregular(mode: int) -> str:
    import stat as st_mod
    if st_mod.S_ISCHR(mode) or st_mod.S_ISBLK(mode):
        return "got a device"
    if not (st_mod.S_ISREG(mode) or st_mod.S_ISDIR(mode) or st_mod.S_ISLNK(mode)):
        return "got an irregular file"
    return ""


def _archive_job(path: str, arcname: str):
    def job(report, skip_devs, data_w) -> None:
        import stat as st_mod
        rootfd = os.open("/", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        fd, name = _resolve_source(rootfd, path)
        st = os.stat(name, dir_fd=fd, follow_symlinks=False)
        report(stat={"is_dir": st_mod.S_ISDIR(st.st_mode)})
        writer = TarWriter(data_w)
        archive(writer, fd, name, arcname, skip_devs)
        writer.close()
        os.close(data_w)
        report(ok={"size": writer.size})
    return job


def _extract_job(dst_dir: str, rename, user: str | None):
    def job(report, _skip, data_r) -> None:
        import errno
        from hold.inroot import open_dir_in_root
        rootfd = os.open("/", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            os.close(open_dir_in_root(rootfd, dst_dir))
        except FileNotFoundError as exc:
            raise CopyError(dst_dir, "notfound") from exc
        except NotADirectoryError as exc:
            raise CopyError("extraction point is not a directory", "invalid") from exc
        owner = None
        if user:
            from hold.runtime.init import resolve_user
            owner = resolve_user(user)[:2]
        report(ready={})
        with os.fdopen(data_r, "rb") as stream:
            try:
                extract(stream, rootfd, dst_dir, rename=rename, owner=owner, chown=True)
            except OSError as exc:
                if exc.errno == errno.EROFS:
                    raise CopyError("mounted volume is marked read-only", "invalid") from exc
                raise
        report(ok={})
    return job


# -- the two directions ---------------------------------------------------------------

def _stat_in(engine, container, path: str) -> dict | None:
    """The container's view of ``path``; None when it does not exist."""
    with Worker(engine, container, _stat_job(path)) as worker:
        try:
            return worker.message()["stat"]
        except CopyError:
            return None     # as Docker: "assume the parent exists", extraction says more


def _rebase(path: str, resolved: str) -> tuple[str, str]:
    """Docker's GetRebaseName: the resolved path, with the user's trailing
    "/" or "/." kept, and the name to rebase to when the last component
    changed."""
    if _current_dir(path) and not _current_dir(resolved):
        resolved = resolved.rstrip("/") + "/."
    if path.endswith("/") and not resolved.endswith("/"):
        resolved += "/"
    base = lambda p: posixpath.basename(p.rstrip("/")) or "/"  # noqa: E731
    return resolved, (base(path) if base(path) != base(resolved) else "")


def copy_from_container(engine, ref: str, src: str, dest: str, *, follow_link: bool = False,
                        stdout_fd: int = 1) -> CopyResult:
    container = engine.containers.get(ref)
    src_path = container_path(src)
    local = dest if dest == "-" else _local_path(dest)
    if dest != "-":
        _validate_output_path(local)
    rebase_name = ""
    if follow_link:
        info = _stat_in(engine, container, src_path)
        if info and info["is_link"]:
            src_path, rebase_name = _rebase(src_path, info["link_target"])
    arcname = _split_dir_entry(src_path)[1]
    if arcname == "/":
        arcname = "."
    data_r, data_w = os.pipe2(os.O_CLOEXEC)
    with Worker(engine, container, _archive_job(src_path, arcname), (data_w,),
                close_in_child=(data_r,)) as worker:
        try:
            src_stat = worker.message()["stat"]
            with os.fdopen(data_r, "rb") as stream:
                counter = _Counting(stream)
                if dest == "-":
                    _pump(counter, stdout_fd)
                else:
                    _extract_local(counter, _Info(src_path, True, src_stat["is_dir"],
                                                  rebase_name), local, arcname)
                counter.drain()
            worker.message()
        except CopyError as exc:
            raise _translate(exc, ref) from exc
    return CopyResult(counter.size, local)


def _validate_output_path(path: str) -> None:
    parent = posixpath.dirname(_clean(path))
    if parent not in ("", ".") and not os.path.exists(parent):
        raise InvalidArgument(f'invalid output path: directory "{parent}" does not exist')
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise InvalidArgument(_go_error("stat", path, exc)) from exc
    reason = _irregular(st.st_mode)
    if reason:
        raise InvalidArgument(f'invalid output path: "{path}" must be a directory or a '
                              f"regular file: {reason}")


def _destination_info(path: str) -> _Info:
    """Docker's CopyInfoDestinationPath on the host: a final symlink is
    followed (up to 10 times); a missing path needs an existing parent."""
    original = path
    for _ in range(11):
        try:
            os.lstat(path)
        except FileNotFoundError:
            parent = _split_dir_entry(path)[0]
            try:
                if not os.path.isdir(parent) and os.stat(parent):
                    raise InvalidArgument("not a directory")
            except OSError as exc:
                raise InvalidArgument(_go_error("stat", parent, exc)) from exc
            return _Info(path)
        except OSError as exc:
            raise InvalidArgument(_go_error("lstat", path, exc)) from exc
        if not os.path.islink(path):
            return _Info(path, True, os.path.isdir(path))
        target = os.readlink(path)
        path = target if target.startswith("/") else \
            posixpath.join(_split_dir_entry(path)[0], target)
    raise InvalidArgument(f"too many symlinks in {original}")


def _extract_local(stream, src: _Info, dest: str, arcname: str) -> None:
    dst = _destination_info(dest)
    dst_dir, new_base = _prepare(src, dst)
    entry_base = src.rebase_name or arcname
    rename = (arcname, new_base or entry_base) if (new_base or entry_base) != arcname else None
    rootfd = os.open(dst_dir, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        extract(stream, rootfd, "/", rename=rename, chown=False)
    except OSError as exc:
        raise SystemError_(_go_error("copy to", dest, exc), errno=exc.errno) from exc
    finally:
        os.close(rootfd)


def copy_to_container(engine, ref: str, src: str, dest: str, *, follow_link: bool = False,
                      keep_archive_owner: bool = False, stdin_fd: int = 0) -> CopyResult:
    """``keep_archive_owner`` is ``-a``: chown to the container's user."""
    container = engine.containers.get(ref)
    dst = _Info(container_path(dest))
    info = _stat_in(engine, container, dst.path)
    if info and info["is_link"]:
        dst.path = info["link_target"]
        info = _stat_in(engine, container, dst.path)
    if info and info["irregular"]:
        raise InvalidArgument(f'destination "{ref}:{dest}" must be a directory or a regular '
                              f"file: {info['irregular']}")
    if info:
        dst.exists, dst.is_dir = True, info["is_dir"]
    user = container.config["Config"].get("User") if keep_archive_owner else None
    if src == "-":
        if not dst.is_dir:
            raise InvalidArgument(f'destination "{ref}:{dest}" must be a directory')
        return _send(engine, container, ref, _clean(dst.path), None, user,
                     lambda out: _pump_counted(_Reader(stdin_fd), out), dst.path)
    src_info = _source_info(src, follow_link)
    dst_dir, new_base = _prepare(src_info, dst)
    _, src_base = _split_dir_entry(src_info.path)
    name = new_base or src_info.rebase_name or src_base
    if name == "/":
        name = "."

    def produce(out_fd: int) -> int:
        writer = TarWriter(out_fd)
        parent, base = _split_dir_entry(src_info.path)
        fd = os.open(parent if base != "." else src_info.path.rstrip("/") or "/",
                     os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            archive(writer, fd, base if base not in (".", "/") else ".", name)
        finally:
            os.close(fd)
        writer.close()
        return writer.size
    return _send(engine, container, ref, _clean(dst_dir), None, user, produce, dst.path)


def _source_info(path: str, follow_link: bool) -> _Info:
    """Docker's CopyInfoSourcePath on the host."""
    import stat as st_mod
    path = _local_path(path)
    if follow_link:
        resolved, rebase = _rebase(path, os.path.realpath(path))
    else:
        parent, base = posixpath.split(path)
        resolved = os.path.realpath(parent or "/").rstrip("/") + "/" + base
        rebase = ""
        if path.endswith("/"):
            _, rebase = _rebase(path, os.path.realpath(path))
    try:
        st = os.stat(resolved) if _asserts_dir(resolved) else os.lstat(resolved)
    except OSError as exc:
        raise NotFound(_go_error("lstat", resolved, exc)) from exc
    return _Info(resolved, True, st_mod.S_ISDIR(st.st_mode), rebase)


def _send(engine, container, ref, dst_dir, rename, user, produce, shown) -> CopyResult:
    data_r, data_w = os.pipe2(os.O_CLOEXEC)
    size = 0
    with Worker(engine, container, _extract_job(dst_dir, rename, user), (data_r,),
                close_in_child=(data_w,)) as worker:
        try:
            worker.message()                       # ready: the destination is there
            try:
                size = produce(data_w)
            except BrokenPipeError:
                pass                               # the worker failed: it says why
            finally:
                os.close(data_w)
            worker.message()
        except CopyError as exc:
            raise _translate(exc, ref) from exc
        except OSError as exc:
            raise SystemError_(_go_error("copy from", "host", exc), errno=exc.errno) from exc
    return CopyResult(size, f"{ref}:{shown}")


# -- streams ------------------------------------------------------------------------------

class _Counting:
    """A read-only stream that counts what passes (for "Successfully copied")."""

    def __init__(self, raw):
        self.raw, self.size = raw, 0

    def read(self, n: int = -1) -> bytes:
        data = self.raw.read(n)
        self.size += len(data)
        return data

    def drain(self) -> None:
        while self.read(CHUNK):
            pass


class _Reader:
    def __init__(self, fd: int):
        self.fd = fd

    def read(self, n: int = CHUNK) -> bytes:
        return os.read(self.fd, n if n > 0 else CHUNK)


def _pump(stream, out_fd: int) -> None:
    while data := stream.read(CHUNK):
        view = memoryview(data)
        while view:
            view = view[os.write(out_fd, view):]


def _pump_counted(stream, out_fd: int) -> int:
    counter = _Counting(stream)
    _pump(counter, out_fd)
    return counter.size
