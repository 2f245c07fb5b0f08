"""COPY and ADD: write sources into a step's upperdir, as overlay will see them.

The step's upperdir sits over the image's layers (``ImageView``), so
writing into it is what a copy inside the container would do, without
starting one:

- a destination path is resolved in the image, following the image's own
  symlinks inside the image root (``/bin -> usr/bin`` in a merged-/usr
  Debian stays a symlink; the file lands in /usr/bin);
- a parent directory that exists in the image is recreated in the upper
  layer with the image's mode and owner (overlay merges it, nothing is
  hidden); a new one is 0755, owned by ``--chown`` or root;
- files keep their mode and mtime; they are owned by root, or by
  ``--chown``; a directory source copies its contents, not itself.

Layer dirs are only ever lstat'ed, and never followed through a symlink, so
a hostile image cannot make the builder read or write on the host.
"""

from __future__ import annotations

import os
import posixpath
import shutil
import stat

from hold.errors import InvalidArgument

__all__ = ["ImageView", "copy_sources", "destination", "ensure_dir", "extract_archive",
           "is_archive", "resolve_owner"]


class ImageView:
    """The merged view of an image's layers (top first) plus an upperdir."""

    def __init__(self, dirs_top_first: list[str]):
        self.dirs = list(dirs_top_first)

    @classmethod
    def of(cls, image, upper: str | None = None) -> "ImageView":
        """The view of ``image`` (None: scratch), with ``upper`` on top."""
        layers = list(reversed(image.layer_dirs)) if image else []
        return cls(([upper] if upper else []) + layers)

    def lstat(self, path: str) -> os.stat_result | None:
        """lstat of an absolute image path whose parents hold no symlink."""
        parts = [p for p in path.split("/") if p]
        for layer in self.dirs:
            found = _lstat_in(layer, parts)
            if found == "whiteout":
                return None
            if found is not None:
                return found
        return None

    def resolve(self, path: str) -> str:
        """``path`` with the image's symlinks followed inside the image root."""
        from hold.rootpath import resolve_inside

        def link_of(candidate: str) -> str | None:
            st = self.lstat(candidate)
            return self.readlink(candidate) if st is not None and stat.S_ISLNK(st.st_mode) else None
        return resolve_inside(path, link_of, InvalidArgument)

    def readlink(self, path: str) -> str:
        parts = [p for p in path.split("/") if p]
        for layer in self.dirs:
            found = _lstat_in(layer, parts)
            if found is not None and found != "whiteout":
                return os.readlink(os.path.join(layer, *parts))
        raise InvalidArgument(f"{path}: not a symlink")

    def read_file(self, path: str) -> bytes | None:
        parts = [p for p in path.split("/") if p]
        for layer in self.dirs:
            found = _lstat_in(layer, parts)
            if found == "whiteout":
                return None
            if found is not None:
                if not stat.S_ISREG(found.st_mode):
                    return None
                with open(os.path.join(layer, *parts), "rb") as f:
                    return f.read()
        return None


    # -- reading a stage's files (COPY --from) ----------------------------

    def sources(self, pattern: str, keyword: str) -> list:
        """Like ``BuildContext.sources``, over this image's merged tree."""
        import fnmatch
        from hold.build.context import Source
        path = posixpath.normpath("/" + pattern.lstrip("/"))
        parent, base = posixpath.split(path)
        if set("*?[") & set(parent):
            raise InvalidArgument(f"{keyword} --from: wildcards are supported in the "
                                  f"last path component only: {pattern}")
        if set("*?[") & set(base):
            parent = self.resolve(parent)
            names = sorted(n for n in self.listdir(parent) if fnmatch.fnmatchcase(n, base))
            paths = [posixpath.join(parent, n) for n in names]
        else:
            paths = [path]
        found = []
        for image_path in paths:
            resolved = self.resolve(image_path)
            st = self.lstat(resolved)
            if st is None:
                raise InvalidArgument(f"{keyword} failed: stat {pattern}: file does not "
                                      "exist in the source stage or image")
            source = Source(posixpath.basename(image_path) or "/",
                            self.host_path(resolved), st)
            source.image_path = resolved
            found.append(source)
        if not found:
            raise InvalidArgument(f"{keyword} failed: no source files were specified "
                                  f"(nothing matches {pattern!r})")
        return found

    def host_path(self, path: str) -> str:
        parts = [p for p in path.split("/") if p]
        for layer in self.dirs:
            found = _lstat_in(layer, parts)
            if found is not None and found != "whiteout":
                return os.path.join(layer, *parts)
        raise InvalidArgument(f"{path}: no such file in the image")

    def listdir(self, path: str) -> dict[str, tuple[str, os.stat_result]]:
        """Merged directory listing: name -> (host path, lstat)."""
        parts = [p for p in path.split("/") if p]
        seen: dict[str, tuple[str, os.stat_result] | None] = {}
        for layer in self.dirs:
            found = _lstat_in(layer, parts)
            if found == "whiteout":
                break
            if found is None:
                continue
            if not stat.S_ISDIR(found.st_mode):
                break
            directory = os.path.join(layer, *parts)
            for name in os.listdir(directory):
                if name in seen:
                    continue
                st = os.lstat(os.path.join(directory, name))
                whiteout = stat.S_ISCHR(st.st_mode) and st.st_rdev == 0
                seen[name] = None if whiteout else (os.path.join(directory, name), st)
            if _opaque(directory):
                break
        return {name: entry for name, entry in seen.items() if entry is not None}

    def walk(self, source):
        """Entries below a directory source, parents first, sorted."""
        stack = [""]
        while stack:
            sub = stack.pop()
            entries = self.listdir(posixpath.join(source.image_path, sub))
            children = []
            for name in sorted(entries):
                rel = f"{sub}/{name}" if sub else name
                host, st = entries[name]
                yield rel, host, st
                if stat.S_ISDIR(st.st_mode):
                    children.append(rel)
            stack.extend(reversed(children))


def _opaque(directory: str) -> bool:
    try:
        return os.getxattr(directory, "trusted.overlay.opaque",
                           follow_symlinks=False) == b"y"
    except OSError:
        return False


def _lstat_in(layer: str, parts: list[str]):
    """lstat of ``parts`` in one layer dir: a stat, "whiteout", or None."""
    current = layer
    for i, part in enumerate(parts):
        current = os.path.join(current, part)
        try:
            st = os.lstat(current)
        except (FileNotFoundError, NotADirectoryError):
            return None
        if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
            return "whiteout"
        if i < len(parts) - 1 and not stat.S_ISDIR(st.st_mode):
            return None
    return os.lstat(current) if parts else os.lstat(layer)


def resolve_owner(spec: str, view: ImageView) -> tuple[int, int]:
    """``--chown=user[:group]`` (names or ids) against the image's
    /etc/passwd and /etc/group.  Without a group, a uid is also the gid and
    a user name also names the group, as Docker's classic builder has it."""
    user, _, group = spec.partition(":")
    if not user:
        raise InvalidArgument(f"--chown={spec}: the user is empty")
    uid = _lookup(user, view, "/etc/passwd", "user")
    gid = _lookup(group or user, view, "/etc/group", "group")
    return uid, gid


def _lookup(name: str, view: ImageView, db: str, what: str) -> int:
    if name.isdigit():
        return int(name)
    data = view.read_file(db) or b""
    for line in data.decode(errors="replace").splitlines():
        fields = line.split(":")
        if len(fields) > 2 and fields[0] == name and fields[2].isdigit():
            return int(fields[2])
    kind = "uid" if what == "user" else "gid"
    raise InvalidArgument(f"unable to convert uid/gid chown string to host mapping: "
                          f"can't find {kind} for {what} {name}: no such {what}: {name} "
                          f"(in the image's {db})")


def ensure_dir(view: ImageView, upper: str, path: str, owner: tuple[int, int]) -> str:
    """Create ``path`` (absolute, resolved) in ``upper`` with its parents; the host path."""
    current = upper
    image_path = ""
    for part in [p for p in path.split("/") if p]:
        image_path += "/" + part
        current = os.path.join(current, part)
        st = os.lstat(current) if os.path.lexists(current) else None
        if st is not None and stat.S_ISDIR(st.st_mode):
            continue
        if st is not None:
            os.unlink(current)              # a file in this step's own layer
        below = view.lstat(image_path) if st is None else None
        os.mkdir(current)
        if below is not None and stat.S_ISDIR(below.st_mode):
            os.chmod(current, stat.S_IMODE(below.st_mode))
            os.chown(current, below.st_uid, below.st_gid)
            os.utime(current, ns=(below.st_atime_ns, below.st_mtime_ns))
        else:
            os.chmod(current, 0o755)
            os.chown(current, *owner)
    return current


def destination(view: ImageView, dest: str, workdir: str, many: bool,
                keyword: str) -> tuple[str, bool]:
    """The absolute, resolved destination, and whether it is a directory."""
    absolute = posixpath.join(workdir or "/", dest)
    as_dir = dest.endswith("/") or dest in (".", "..") or dest.endswith(("/.", "/.."))
    resolved = view.resolve(absolute)
    st = view.lstat(resolved)
    if st is not None and stat.S_ISDIR(st.st_mode):
        as_dir = True
    if many and not as_dir:
        raise InvalidArgument(f"When using {keyword} with more than one source file, "
                              "the destination must be a directory and end with a /")
    return resolved, as_dir


def copy_sources(context, sources, view: ImageView, upper: str, dest: str, workdir: str,
                 owner: tuple[int, int], chmod: int | None, keyword: str) -> None:
    """Copy context sources into ``upper`` at ``dest`` (Docker's rules)."""
    many = len(sources) > 1
    target, as_dir = destination(view, dest, workdir, many, keyword)
    for source in sources:
        if source.is_dir:
            host_dir = ensure_dir(view, upper, target, owner)
            _copy_tree(context, source, host_dir, owner, chmod)
            continue
        name = posixpath.join(target, posixpath.basename(source.rel)) if as_dir else target
        parent = ensure_dir(view, upper, posixpath.dirname(name), owner)
        _copy_entry(source.path, source.st, os.path.join(parent, posixpath.basename(name)),
                    owner, chmod)


def _copy_tree(context, source, host_dir: str, owner, chmod) -> None:
    for rel, path, st in context.walk(source):
        _copy_entry(path, st, os.path.join(host_dir, rel), owner, chmod)


def _copy_entry(path: str, st: os.stat_result, target: str, owner, chmod) -> None:
    mode = st.st_mode
    if os.path.lexists(target) and not (stat.S_ISDIR(mode) and os.path.isdir(target)
                                        and not os.path.islink(target)):
        if os.path.isdir(target) and not os.path.islink(target):
            shutil.rmtree(target)
        else:
            os.unlink(target)
    if stat.S_ISDIR(mode):
        if not os.path.isdir(target):
            os.mkdir(target)
    elif stat.S_ISLNK(mode):
        os.symlink(os.readlink(path), target)
        os.lchown(target, *owner)
        return
    elif stat.S_ISREG(mode):
        shutil.copyfile(path, target, follow_symlinks=False)
    else:
        raise InvalidArgument(f"cannot copy {path}: only regular files, directories "
                              "and symlinks can be copied from the build context")
    os.chown(target, *owner)
    os.chmod(target, chmod if chmod is not None else stat.S_IMODE(mode))
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))


# ----------------------------------------------------------------- ADD tar

def is_archive(path: str) -> bool:
    """A tar, plain or gzip/bzip2/xz-compressed, that ADD unpacks."""
    import tarfile
    try:
        with tarfile.open(path, "r:*") as tar:
            return tar.next() is not None
    except (tarfile.TarError, OSError, EOFError):
        return False


def extract_archive(source_path: str, view: ImageView, upper: str, target: str,
                    tmp_dir: str) -> None:
    """Unpack a local tar into ``target`` (absolute, resolved) of ``upper``,
    through hold's safe unpacker (no member can leave the directory)."""
    from hold.images.layers import spool_tar, unpack_layer
    from hold.store import remove_tree
    import tempfile
    with open(source_path, "rb") as stream:
        tar_path, _, _ = spool_tar(stream, tmp_dir, os.path.basename(source_path))
    scratch = tempfile.mkdtemp(dir=tmp_dir, prefix="add-")
    try:
        unpack_layer(tar_path, scratch)
        host_dir = ensure_dir(view, upper, target, (0, 0))
        _merge(scratch, host_dir)
    finally:
        os.unlink(tar_path)
        remove_tree(scratch)


def _merge(src: str, dst: str) -> None:
    for name in os.listdir(src):
        s, d = os.path.join(src, name), os.path.join(dst, name)
        if os.path.isdir(s) and not os.path.islink(s) and os.path.isdir(d) \
                and not os.path.islink(d):
            _merge(s, d)
            shutil.copystat(s, d, follow_symlinks=False)
            st = os.lstat(s)
            os.chown(d, st.st_uid, st.st_gid)
            continue
        if os.path.lexists(d):
            if os.path.isdir(d) and not os.path.islink(d):
                shutil.rmtree(d)
            else:
                os.unlink(d)
        os.rename(s, d)
