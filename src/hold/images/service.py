"""ImageService: the one door to images for the CLI, the API and containers.

Lifecycle of an image::

    import_tarball / commit      layer tar spooled and unpacked OUTSIDE any
                                 transaction (tmp/ -> rename to layers/<hex>),
                                 then one transaction records layer, image,
                                 image_layers and tag rows
    tag / get / list / inspect   metadata only
    remove / prune               one transaction deletes rows and RENAMES the
                                 image's unreferenced layer dirs and blobs
                                 into tmp/; they are deleted after commit

Because removal renames under the write lock and creation checks, under the
same lock, that every layer it records is still on disk, a concurrent
``rmi`` and ``import`` of the same layer cannot leave an image whose layer
is gone: the import sees the layer vanish and unpacks it again.  A process
killed at any point leaves at worst files in tmp/ and unreferenced layer
dirs, which ``prune`` and ``hold system check`` remove.

Heavy modules (hashlib, tarfile, tempfile) are imported inside the methods
that write: ``hold run`` only calls ``get``.
"""

from __future__ import annotations

import errno
import json
import os

from hold.errors import Conflict, ImageNotFound, InvalidArgument, SystemError_
from hold.images.model import Image
from hold.images.reference import Reference, is_full_id, is_id_prefix, parse_reference

__all__ = ["ImageService"]

_ATTEMPTS = 3
ORPHAN_LAYER_GRACE_S = 3600


class _host_errors:
    """OSErrors of the host (disk full, I/O error, permissions) become
    SystemError_ with their errno, once, at the service boundary."""

    def __init__(self, doing: str):
        self.doing = doing

    def __enter__(self):
        return self

    def __exit__(self, kind, exc, tb):
        if kind is not None and issubclass(kind, OSError):
            raise SystemError_(f"{self.doing}: {exc.strerror or exc}",
                               errno=exc.errno) from exc
        return False


class _LayerGone(Exception):
    """A layer this operation relied on was removed by a rival process."""


class ImageService:
    def __init__(self, store, paths, *, allow_devices: bool = False):
        self.store = store
        self.paths = paths
        self.allow_devices = allow_devices

    # ------------------------------------------------------------- reading

    def get(self, ref: str) -> Image:
        """The image ``ref`` names: ``name[:tag]``, ``sha256:<hex>``, a full
        or abbreviated id.  ImageNotFound or InvalidArgument otherwise."""
        image_id, _ = self._resolve(ref)
        return self._load(image_id, ref)

    def list(self) -> list[Image]:
        """Every image, newest first."""
        tags: dict[str, list[str]] = {}
        for row in self.store.query("SELECT name, image_id FROM tags ORDER BY name"):
            tags.setdefault(row["image_id"], []).append(row["name"])
        images = [self._from_row(row, tags.get(row["id"], []))
                  for row in self.store.query("SELECT * FROM images")]
        images.sort(key=lambda image: (image.created, image.id), reverse=True)
        return images

    def children(self, image_id: str) -> list[str]:
        return [r[0] for r in self.store.query(
            "SELECT id FROM images WHERE parent=?", (image_id,))]

    def containers_using(self, image_id: str, db=None) -> list[dict]:
        """Containers (any state) created from the image: id, name, running."""
        rows = (db.execute if db else self.store.query)(
            "SELECT id, name, state FROM containers WHERE image_id=?", (image_id,))
        return [{"id": r["id"], "name": r["name"], "running": _is_running(r["state"])}
                for r in (rows.fetchall() if db else rows)]

    def layer_sizes(self, diff_ids: list[str]) -> dict[str, int]:
        marks = ",".join("?" * len(diff_ids))
        return {r["diff_id"]: r["size"] for r in self.store.query(
            f"SELECT diff_id, size FROM layers WHERE diff_id IN ({marks})", diff_ids)}

    def inspect(self, ref: str) -> dict:
        from hold.images._inspect import inspect_document
        return inspect_document(self.get(ref))

    def history(self, ref: str) -> list[dict]:
        from hold.images._inspect import history_rows
        return history_rows(self, self.get(ref))

    def _resolve(self, ref: str, db=None) -> tuple[str, str | None]:
        """``(image id, the tag matched or None)`` for a reference."""
        query = (lambda sql, p: db.execute(sql, p).fetchall()) if db else self.store.query
        if is_full_id(ref):
            found = self._by_prefix(query, ref)
            if found:
                return found, None
            raise ImageNotFound(f"No such image: {ref}", ref=ref)
        try:
            parsed = parse_reference(ref)
        except InvalidArgument:
            if not is_id_prefix(ref):
                raise
            parsed = None
        if parsed and not parsed.digest:
            # "sha256:abc" is also repository "sha256", tag "abc": tags first,
            # as Docker looks them up before id prefixes
            rows = query("SELECT image_id FROM tags WHERE name=?", (parsed.familiar,))
            if rows:
                return rows[0][0], parsed.familiar
        if is_id_prefix(ref):
            found = self._by_prefix(query, ref)
            if found:
                return found, None
        shown = parsed.familiar if parsed and not ref.startswith("sha256:") else ref
        raise ImageNotFound(f"No such image: {shown}", ref=ref)

    @staticmethod
    def _by_prefix(query, ref: str) -> str | None:
        prefix = "sha256:" + ref.removeprefix("sha256:")
        rows = query("SELECT id FROM images WHERE id LIKE ? LIMIT 2", (prefix + "%",))
        if len(rows) > 1:
            raise InvalidArgument(f"short id {ref!r} is ambiguous: it matches "
                                  "more than one image; give more digits", ref=ref)
        return rows[0][0] if rows else None

    def _load(self, image_id: str, ref: str) -> Image:
        rows = self.store.query("SELECT * FROM images WHERE id=?", (image_id,))
        if not rows:
            raise ImageNotFound(f"No such image: {ref}", ref=ref)
        tags = [r[0] for r in self.store.query(
            "SELECT name FROM tags WHERE image_id=? ORDER BY name", (image_id,))]
        return self._from_row(rows[0], tags)

    def _from_row(self, row, tags: list[str]) -> Image:
        config = json.loads(row["config"])
        diff_ids = list((config.get("rootfs") or {}).get("diff_ids") or ())
        return Image(id=row["id"], config=config, tags=tags, diff_ids=diff_ids,
                     layer_dirs=[self.paths.layer_dir(d) for d in diff_ids],
                     created=config.get("created") or row["created"],
                     size=row["size"], parent=row["parent"],
                     manifest=json.loads(row["manifest"]),
                     last_tagged=row["last_tagged"])

    # ------------------------------------------------------------- writing

    def import_tarball(self, source, reference: str | None = None,
                       changes=(), message: str = "") -> Image:
        """A one-layer image from a root filesystem tarball (``docker import``).

        ``source`` is a path, ``"-"`` for stdin, or a binary stream.  The
        reference, the changes and the source are validated before anything
        is written.
        """
        from hold.images.config import apply_changes
        from hold.images.layers import spool_tar
        target = self._tag_target(reference) if reference else None
        container_config = apply_changes({}, changes)
        stream, what, close = _open_source(source)
        with _host_errors(f"import {what}"):
            os.makedirs(self.paths.tmp, exist_ok=True)
            try:
                tar_path, diff_id, tar_size = spool_tar(stream, self.paths.tmp, what)
            finally:
                close()
        with _host_errors(f"import {what}"):
            return self._import_layer(tar_path, diff_id, tar_size, target,
                                      container_config, message)

    def _import_layer(self, tar_path, diff_id, tar_size, target, container_config,
                      message) -> Image:
        from hold.images.config import history_entry, new_config, now_rfc3339
        try:
            for _ in range(_ATTEMPTS):
                size = self._ensure_layer(tar_path, diff_id)
                created = now_rfc3339()
                comment = message or "Imported from -"
                config = new_config([diff_id], container_config, created,
                                    [history_entry(created, comment=comment)],
                                    comment=comment)
                try:
                    return self._create_image(config, parent="", target=target,
                                              new_layers={diff_id: (size, tar_size)})
                except _LayerGone:
                    continue
            raise SystemError_(f"layer {diff_id} was removed by another hold "
                               f"process {_ATTEMPTS} times during import; retry")
        finally:
            os.unlink(tar_path)

    def layer_from_upperdir(self, upperdir: str) -> tuple[str, int]:
        """Store an overlay upperdir as a layer: ``(diff_id, size)``.

        The layer is recorded but belongs to no image until ``commit`` uses
        it; ``prune`` removes such layers after ORPHAN_LAYER_GRACE_S.
        """
        if not os.path.isdir(upperdir):
            raise InvalidArgument(f"upperdir {upperdir!r} is not a directory")
        with _host_errors(f"store the layer of {upperdir}"):
            return self._layer_from_upperdir(upperdir)

    def _layer_from_upperdir(self, upperdir: str) -> tuple[str, int]:
        import hashlib
        import tempfile
        from hold.images.layers import pack_upperdir
        os.makedirs(self.paths.tmp, exist_ok=True)
        fd, tar_path = tempfile.mkstemp(dir=self.paths.tmp, prefix="commit-", suffix=".tar")
        try:
            with os.fdopen(fd, "wb") as raw:
                out = _HashingWriter(raw, hashlib.sha256())
                pack_upperdir(upperdir, out)
            diff_id = "sha256:" + out.hasher.hexdigest()
            for _ in range(_ATTEMPTS):
                size = self._ensure_layer(tar_path, diff_id)
                try:
                    with self.store.transaction() as db:
                        self._record_layers(db, {diff_id: (size, out.size)})
                    return diff_id, size
                except _LayerGone:
                    continue
            raise SystemError_(f"layer {diff_id} kept vanishing; retry the commit")
        finally:
            os.unlink(tar_path)

    def commit(self, parent: Image | None, diff_id: str | None,
               config_changes=(), comment: str = "", author: str = "",
               created_by: str = "", reference: str | None = None,
               container_config: dict | None = None) -> Image:
        """A new image: ``parent``'s layers plus ``diff_id`` (from
        ``layer_from_upperdir``; None adds an empty-layer history entry).

        The config starts from ``container_config`` (default: the parent's)
        and ``config_changes`` (Dockerfile lines, as ``--change``) apply on top.
        """
        from hold.images.config import (apply_changes, history_entry,
                                        new_config, now_rfc3339)
        target = self._tag_target(reference) if reference else None
        base = container_config if container_config is not None else \
            (parent.container_config if parent else {})
        run_config = apply_changes(base, config_changes)
        created = now_rfc3339()
        diff_ids = list(parent.diff_ids if parent else ()) + ([diff_id] if diff_id else [])
        history = list((parent.config.get("history") or ()) if parent else ())
        history.append(history_entry(created, created_by, comment,
                                     empty_layer=not diff_id))
        config = new_config(diff_ids, run_config, created, history, author, comment)
        try:
            return self._create_image(config, parent=parent.id if parent else "",
                                      target=target, new_layers={})
        except _LayerGone as exc:
            raise Conflict(f"commit: layer {exc} was removed by another hold "
                           "process; retry") from None

    def tag(self, ref: str, new_ref: str) -> None:
        """Point ``new_ref`` (``name[:tag]``) at the image ``ref`` names."""
        from hold.images.config import now_rfc3339
        target = self._tag_target(new_ref)
        with self.store.transaction() as db:
            image_id, _ = self._resolve(ref, db)
            _set_tag(db, target, image_id, now_rfc3339())

    @staticmethod
    def _tag_target(text: str) -> Reference:
        target = parse_reference(text)
        if target.digest:
            raise InvalidArgument(f"refusing to create a tag with a digest "
                                  f"reference: {text!r}", ref=text)
        return target

    def _ensure_layer(self, tar_path: str, diff_id: str) -> int:
        """Unpack ``tar_path`` to layers/<hex> unless there, keep it as a blob;
        returns the layer size.  Safe against a rival doing the same."""
        import tempfile
        from hold.images.layers import layer_size, unpack_layer
        from hold.store import remove_tree
        layer_dir = self.paths.layer_dir(diff_id)
        if os.path.isdir(layer_dir):
            size = layer_size(tar_path)
        else:
            tmp = tempfile.mkdtemp(dir=self.paths.tmp, prefix="layer-")
            try:
                os.chmod(tmp, 0o755)
                size = unpack_layer(tar_path, tmp, allow_devices=self.allow_devices)
                os.makedirs(os.path.dirname(layer_dir), exist_ok=True)
                try:
                    os.rename(tmp, layer_dir)
                except OSError as exc:
                    if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                        raise
            finally:
                remove_tree(tmp)
        blob = self.paths.blob(diff_id)
        os.makedirs(os.path.dirname(blob), exist_ok=True)
        try:
            os.link(tar_path, blob)
        except FileExistsError:
            pass
        return size

    def _record_layers(self, db, new_layers: dict[str, tuple[int, int]]) -> None:
        from hold.images.config import now_rfc3339
        for diff_id, (size, tar_size) in new_layers.items():
            if not (os.path.isdir(self.paths.layer_dir(diff_id))
                    and os.path.exists(self.paths.blob(diff_id))):
                raise _LayerGone(diff_id)
            db.execute("INSERT OR IGNORE INTO layers(diff_id, size, created, tar_size)"
                       " VALUES (?,?,?,?)", (diff_id, size, now_rfc3339(), tar_size))

    def _create_image(self, config: dict, parent: str, target: Reference | None,
                      new_layers: dict[str, tuple[int, int]]) -> Image:
        from hold.images.config import config_bytes
        data = config_bytes(config)
        with self.store.transaction() as db:
            self._record_layers(db, new_layers)
            image_id = self._insert_image(db, data, config, parent,
                                          [target] if target else [])
        return self._load(image_id, image_id)

    def _insert_image(self, db, data: bytes, config: dict, parent: str,
                      targets: list[Reference]) -> str:
        """Rows and blobs of the image whose config bytes are ``data``, inside
        the caller's transaction; its layers must be recorded already."""
        import hashlib
        from hold.images.config import manifest_for
        from hold.store import atomic_write
        image_id = "sha256:" + hashlib.sha256(data).hexdigest()
        diff_ids = config["rootfs"]["diff_ids"]
        layers = {}
        for diff_id in diff_ids:
            row = db.execute("SELECT size, tar_size FROM layers WHERE diff_id=?",
                             (diff_id,)).fetchone()
            if row is None:
                raise _LayerGone(diff_id)
            layers[diff_id] = (row["size"], row["tar_size"])
        manifest = manifest_for(image_id, len(data),
                                [(d, layers[d][1]) for d in diff_ids])
        manifest_data = json.dumps(manifest, sort_keys=True,
                                   separators=(",", ":")).encode()
        for digest, blob in ((image_id, data), (
                "sha256:" + hashlib.sha256(manifest_data).hexdigest(), manifest_data)):
            path = self.paths.blob(digest)
            if not os.path.exists(path):
                os.makedirs(os.path.dirname(path), exist_ok=True)
                atomic_write(path, blob)
        created = config.get("created") or "1970-01-01T00:00:00Z"
        inserted = db.execute(
            "INSERT OR IGNORE INTO images(id, config, manifest, created, size, parent)"
            " VALUES (?,?,?,?,?,?)",
            (image_id, data.decode(), manifest_data.decode(), created,
             sum(layers[d][0] for d in set(diff_ids)), parent)).rowcount
        if inserted:
            db.executemany("INSERT INTO image_layers(image_id, position, diff_id)"
                           " VALUES (?,?,?)",
                           [(image_id, i, d) for i, d in enumerate(diff_ids)])
        for target in targets:
            _set_tag(db, target, image_id, created)
        return image_id

    def import_images(self, images: list[tuple[bytes, list[str]]],
                      layer_tars: dict[str, tuple[str, int]]) -> list[Image]:
        """Record images whose config bytes arrived from elsewhere (``load``,
        ``pull``): each ``(config bytes, ["name:tag", ...])``; ``layer_tars``
        maps every diff id the configs name to ``(uncompressed tar path, its
        size)``, the caller having checked each tar hashes to its diff id.

        The config bytes are kept exactly, so the image id is the one the
        source had.  Every layer is unpacked (safe unpacker) into tmp/ before
        anything is placed or recorded: an unsafe member in any layer leaves
        the store as it was.  The caller owns the tar files.
        """
        parsed = []
        for data, refs in images:
            config = _parse_config(data)
            missing = [d for d in config["rootfs"]["diff_ids"] if d not in layer_tars]
            if missing:
                raise InvalidArgument(f"image config names layer {missing[0]}, "
                                      "which the input does not hold")
            parsed.append((data, config, [self._tag_target(r) for r in refs]))
        with _host_errors("load image layers"):
            staged = self._stage_layers(layer_tars)
            try:
                for _ in range(_ATTEMPTS):
                    new_layers = self._place_layers(layer_tars, staged)
                    try:
                        with self.store.transaction() as db:
                            self._record_layers(db, new_layers)
                            ids = [self._insert_image(db, data, config, "", targets)
                                   for data, config, targets in parsed]
                        return [self._load(i, i) for i in ids]
                    except _LayerGone:
                        continue
            finally:
                from hold.store import remove_tree
                for tmp, _size in staged.values():
                    if tmp:
                        remove_tree(tmp)
        raise SystemError_(f"layers were removed by another hold process "
                           f"{_ATTEMPTS} times during the load; retry")

    def _stage_layers(self, layer_tars) -> dict[str, tuple[str, int]]:
        """Unpack each layer not on disk into tmp/: ``{diff_id: (tmp dir or
        "", size)}``.  On any failure every staged dir is removed."""
        import tempfile
        from hold.images.layers import unpack_layer
        from hold.store import remove_tree
        staged: dict[str, tuple[str, int]] = {}
        os.makedirs(self.paths.tmp, exist_ok=True)
        try:
            for diff_id, (tar_path, _tar_size) in layer_tars.items():
                if os.path.isdir(self.paths.layer_dir(diff_id)):
                    staged[diff_id] = ("", -1)
                    continue
                tmp = tempfile.mkdtemp(dir=self.paths.tmp, prefix="layer-")
                staged[diff_id] = (tmp, -1)
                os.chmod(tmp, 0o755)
                size = unpack_layer(tar_path, tmp, allow_devices=self.allow_devices)
                staged[diff_id] = (tmp, size)
        except BaseException:
            for tmp, _size in staged.values():
                if tmp:
                    remove_tree(tmp)
            raise
        return staged

    def _place_layers(self, layer_tars, staged) -> dict[str, tuple[int, int]]:
        """Rename staged dirs into layers/ (re-unpacking one a rival removed
        since) and link the blobs: ``{diff_id: (size, tar size)}``."""
        from hold.images.layers import layer_size
        placed = {}
        for diff_id, (tar_path, tar_size) in layer_tars.items():
            tmp, size = staged[diff_id]
            layer_dir = self.paths.layer_dir(diff_id)
            if tmp and os.path.isdir(tmp) and not os.path.isdir(layer_dir):
                os.makedirs(os.path.dirname(layer_dir), exist_ok=True)
                try:
                    os.rename(tmp, layer_dir)
                except OSError as exc:
                    if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                        raise
            if os.path.isdir(layer_dir):
                if size < 0:
                    size = layer_size(tar_path)
                blob = self.paths.blob(diff_id)
                os.makedirs(os.path.dirname(blob), exist_ok=True)
                try:
                    os.link(tar_path, blob)
                except FileExistsError:
                    pass
            else:
                size = self._ensure_layer(tar_path, diff_id)
            placed[diff_id] = (size, tar_size)
        return placed

    # ------------------------------------------------------------ removing

    def remove(self, ref: str, force: bool = False) -> list[tuple[str, str]]:
        """``docker rmi``: rows of ("Untagged", name) and ("Deleted", id)."""
        from hold.images._remove import remove_image
        with _host_errors(f"remove image {ref}"):
            return remove_image(self, ref, force)

    def prune(self, all_unused: bool = False, labels=()) -> tuple[list[tuple[str, str]], int]:
        """Remove dangling (or, with ``all_unused``, all unused) images:
        ``(records, bytes reclaimed)``."""
        from hold.images._remove import prune_images
        return prune_images(self, all_unused, labels)

    def leftovers(self, repair: bool = False, min_age_s: float = 600) -> list[str]:
        """Layer dirs and blobs no image or layer row accounts for (left by
        a killed process); removed when ``repair``.  For ``system check``."""
        from hold.images._remove import find_leftovers
        return find_leftovers(self, repair, min_age_s)


def _parse_config(data: bytes) -> dict:
    """An image config from foreign bytes, checked for what hold relies on."""
    try:
        config = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidArgument(f"image config is not valid JSON: {exc}") from None
    rootfs = config.get("rootfs") if isinstance(config, dict) else None
    diff_ids = rootfs.get("diff_ids") if isinstance(rootfs, dict) else None
    if not isinstance(diff_ids, list) or not all(
            isinstance(d, str) and d.startswith("sha256:") and len(d) == 71
            for d in diff_ids):
        raise InvalidArgument("image config has no valid rootfs.diff_ids "
                              "(a list of sha256 digests)")
    if config.get("os", "linux") != "linux":
        raise InvalidArgument(f"image is for os {config.get('os')!r}: hold runs "
                              "linux images only")
    return config


def _set_tag(db, target: Reference, image_id: str, when: str) -> None:
    db.execute("INSERT INTO tags(name, image_id) VALUES (?,?) "
               "ON CONFLICT(name) DO UPDATE SET image_id=excluded.image_id",
               (target.familiar, image_id))
    db.execute("UPDATE images SET last_tagged=? WHERE id=?", (when, image_id))


def _is_running(state_json: str) -> bool:
    try:
        state = json.loads(state_json or "{}")
    except ValueError:
        return False
    if not isinstance(state, dict):
        return False
    status = str(state.get("Status") or state.get("status") or "").lower()
    return bool(state.get("Running") or state.get("running")) or status in (
        "running", "paused", "restarting")


def _open_source(source):
    """``(stream, name for errors, close)`` for a path, "-" or a stream."""
    import sys
    if hasattr(source, "read"):
        return source, "input", lambda: None
    if source == "-":
        return sys.stdin.buffer, "stdin", lambda: None
    if source.startswith(("http://", "https://")):
        raise InvalidArgument(f"importing from a URL is not supported: {source!r}; "
                              "download it and import the file")
    try:
        f = open(source, "rb")
    except FileNotFoundError:
        raise InvalidArgument(f"open {source}: no such file or directory") from None
    except IsADirectoryError:
        raise InvalidArgument(f"open {source}: is a directory, expected a tarball") from None
    except PermissionError:
        raise InvalidArgument(f"open {source}: permission denied") from None
    return f, source, f.close


class _HashingWriter:
    def __init__(self, raw, hasher):
        self.raw, self.hasher, self.size = raw, hasher, 0

    def write(self, data) -> int:
        self.hasher.update(data)
        self.size += len(data)
        return self.raw.write(data)

    def flush(self) -> None:
        self.raw.flush()
