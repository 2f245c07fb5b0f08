"""Removing images: ``docker rmi`` semantics and ``image prune``.

``rmi NAME:TAG`` untags; the image itself goes only when that was its last
tag.  ``rmi ID`` untags (when the image has one tag) and deletes.  Conflicts
follow Docker's two kinds:

- hard, never forced: the image has child images (``commit`` made some on
  top of it) or a running container uses it;
- soft, ``-f`` overrides: a stopped container uses it, or an id names an
  image tagged in several repositories.

One difference from Docker, on purpose: ``rmi -f`` of an image a stopped
container still uses untags it but keeps the image (it shows as
``<none>``) instead of deleting it, because the container's root
filesystem is made of that image's layers.  It goes once the container
does (``rmi`` or ``image prune``).

Everything happens in one transaction; layer dirs and blobs the removal
frees are renamed into tmp/ under it and deleted after the commit.
"""

from __future__ import annotations

import os
import uuid

from hold.errors import Conflict, ImageInUse
from hold.images.reference import short_id

__all__ = ["remove_image", "prune_images"]


def remove_image(service, ref: str, force: bool) -> list[tuple[str, str]]:
    doomed: list[str] = []
    with service.store.transaction() as db:
        image_id, matched_tag = service._resolve(ref, db)
        records = _remove(service, db, ref, image_id, matched_tag, force, doomed)
    _delete(doomed)
    return records


def _tags(db, image_id: str) -> list[str]:
    return [r[0] for r in db.execute(
        "SELECT name FROM tags WHERE image_id=? ORDER BY name", (image_id,))]


def _untag_all(db, image_id: str, records: list) -> None:
    for name in _tags(db, image_id):
        db.execute("DELETE FROM tags WHERE name=?", (name,))
        records.append(("Untagged", name))


def _remove(service, db, ref, image_id, matched_tag, force, doomed) -> list:
    records: list[tuple[str, str]] = []
    tags = _tags(db, image_id)
    quiet = False
    if matched_tag:
        users = service.containers_using(image_id, db)
        if not force and len(tags) == 1 and users:
            raise ImageInUse(
                f'conflict: unable to remove repository reference "{ref}" (must '
                f"force) - container {users[0]['id'][:12]} is using its referenced "
                f"image {short_id(image_id)}", image=image_id)
        db.execute("DELETE FROM tags WHERE name=?", (matched_tag,))
        records.append(("Untagged", matched_tag))
        if len(tags) > 1:
            return records
        quiet = True
    elif len(tags) == 1:
        conflict = _conflict(service, db, image_id, force, check_refs=False)
        if conflict:
            raise conflict
        _untag_all(db, image_id, records)
    conflict = _conflict(service, db, image_id, force, check_refs=True)
    if conflict:
        dangling = not _tags(db, image_id) and not _children(db, image_id)
        if quiet and (not dangling or conflict.context.get("used")):
            return records
        raise conflict
    _untag_all(db, image_id, records)
    if service.containers_using(image_id, db):
        return records  # forced past a stopped container: keep its layers
    _delete_image(service, db, image_id, doomed)
    records.append(("Deleted", image_id))
    return records


def _children(db, image_id: str) -> list[str]:
    return [r[0] for r in db.execute("SELECT id FROM images WHERE parent=?", (image_id,))]


def _conflict(service, db, image_id: str, force: bool, check_refs: bool):
    """The first conflict that stops deleting the image, or None."""
    def error(kind, hard, message, used=False):
        how = "cannot be forced" if hard else "must be forced"
        return kind(f"conflict: unable to delete {short_id(image_id)} ({how}) - "
                    f"{message}", image=image_id, used=used)

    if _children(db, image_id):
        return error(Conflict, True, "image has dependent child images")
    users = service.containers_using(image_id, db)
    running = [u for u in users if u["running"]]
    if running:
        return error(ImageInUse, True, "image is being used by running container "
                     f"{running[0]['id'][:12]}", used=True)
    if force:
        return None
    if check_refs and _tags(db, image_id):
        return error(Conflict, False, "image is referenced in multiple repositories")
    if users:
        return error(ImageInUse, False, "image is being used by stopped container "
                     f"{users[0]['id'][:12]}", used=True)
    return None


def _delete_image(service, db, image_id: str, doomed: list[str]) -> int:
    """Delete the image's rows and move its now-unreferenced files aside;
    returns the bytes of layers freed."""
    import hashlib
    paths = service.paths
    diff_ids = [r[0] for r in db.execute(
        "SELECT diff_id FROM image_layers WHERE image_id=?", (image_id,))]
    row = db.execute("SELECT manifest FROM images WHERE id=?", (image_id,)).fetchone()
    db.execute("DELETE FROM image_layers WHERE image_id=?", (image_id,))
    db.execute("DELETE FROM images WHERE id=?", (image_id,))
    _move_aside(paths, paths.blob(image_id), doomed)
    if row is not None:
        digest = "sha256:" + hashlib.sha256(row[0].encode()).hexdigest()
        _move_aside(paths, paths.blob(digest), doomed)
    freed = 0
    for diff_id in dict.fromkeys(diff_ids):
        if db.execute("SELECT 1 FROM image_layers WHERE diff_id=? LIMIT 1",
                      (diff_id,)).fetchone():
            continue
        freed += _delete_layer(paths, db, diff_id, doomed)
    return freed


def _delete_layer(paths, db, diff_id: str, doomed: list[str]) -> int:
    row = db.execute("SELECT size FROM layers WHERE diff_id=?", (diff_id,)).fetchone()
    db.execute("DELETE FROM layers WHERE diff_id=?", (diff_id,))
    _move_aside(paths, paths.layer_dir(diff_id), doomed)
    _move_aside(paths, paths.blob(diff_id), doomed)
    return row[0] if row else 0


def _move_aside(paths, path: str, doomed: list[str]) -> None:
    os.makedirs(paths.tmp, exist_ok=True)
    aside = os.path.join(paths.tmp, f"removing-{uuid.uuid4().hex}")
    try:
        os.rename(path, aside)
    except FileNotFoundError:
        return
    doomed.append(aside)


def _delete(doomed: list[str]) -> None:
    from hold.store import remove_tree
    for path in doomed:
        if os.path.isdir(path) and not os.path.islink(path):
            remove_tree(path)
        else:
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass


def prune_images(service, all_unused: bool, labels=()) -> tuple[list, int]:
    """Remove dangling images (no tag, no child, no container), or with
    ``all_unused`` every image no container uses; repeat while removing one
    frees its parent.  Also removes layers no image has used for
    ORPHAN_LAYER_GRACE_S (left by a commit that never finished)."""
    records: list[tuple[str, str]] = []
    reclaimed = 0
    progressed = True
    while progressed:
        progressed = False
        for image in service.list():
            if (image.tags and not all_unused) or not _labels_match(image, labels):
                continue
            doomed: list[str] = []
            with service.store.transaction() as db:
                if (not db.execute("SELECT 1 FROM images WHERE id=?", (image.id,)).fetchone()
                        or _children(db, image.id)
                        or service.containers_using(image.id, db)
                        or (_tags(db, image.id) and not all_unused)):
                    continue
                _untag_all(db, image.id, records)
                reclaimed += _delete_image(service, db, image.id, doomed)
                records.append(("Deleted", image.id))
            _delete(doomed)
            progressed = True
    reclaimed += _prune_orphan_layers(service)
    return records, reclaimed


def _prune_orphan_layers(service) -> int:
    import time
    from datetime import datetime, timezone
    from hold.images.service import ORPHAN_LAYER_GRACE_S
    cutoff = datetime.fromtimestamp(time.time() - ORPHAN_LAYER_GRACE_S, timezone.utc)
    cutoff_text = cutoff.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    doomed: list[str] = []
    freed = 0
    with service.store.transaction() as db:
        rows = db.execute(
            "SELECT diff_id FROM layers WHERE created < ? AND diff_id NOT IN "
            "(SELECT diff_id FROM image_layers)", (cutoff_text,)).fetchall()
        for row in rows:
            freed += _delete_layer(service.paths, db, row[0], doomed)
    _delete(doomed)
    return freed


def _labels_match(image, labels) -> bool:
    have = image.container_config.get("Labels") or {}
    for wanted in labels:
        key, sep, value = wanted.partition("=")
        if key not in have or (sep and have[key] != value):
            return False
    return True


def find_leftovers(service, repair: bool = False, min_age_s: float = 600) -> list[str]:
    """Layer dirs and blobs no row accounts for: what a hold process killed
    between unpacking and recording (or mid-removal) leaves behind.  Only
    entries whose inode changed more than ``min_age_s`` ago count, so an
    import in flight is never touched.  With ``repair`` they are removed,
    each re-checked under the write lock first."""
    import time
    paths = service.paths
    layers_root = os.path.join(paths.root, "layers")
    blobs_root = os.path.dirname(paths.blob("sha256:x"))
    cutoff = time.time() - min_age_s

    def old_entries(directory: str) -> list[str]:
        found = []
        for name in sorted(_listdir(directory)):
            try:
                if os.lstat(os.path.join(directory, name)).st_ctime < cutoff:
                    found.append(name)
            except FileNotFoundError:
                pass
        return found

    def known(db) -> tuple[set[str], set[str]]:
        import hashlib
        layer_hex = {r[0][7:] for r in db.execute("SELECT diff_id FROM layers")}
        blob_hex = set(layer_hex)
        for image_id, manifest in db.execute("SELECT id, manifest FROM images"):
            blob_hex.add(image_id[7:])
            blob_hex.add(hashlib.sha256(manifest.encode()).hexdigest())
        return layer_hex, blob_hex

    candidates = [(layers_root, n) for n in old_entries(layers_root)] + \
                 [(blobs_root, n) for n in old_entries(blobs_root)]
    if not candidates:
        return []
    doomed: list[str] = []
    found: list[str] = []
    with service.store.transaction() as db:
        layer_hex, blob_hex = known(db)
        for directory, name in candidates:
            wanted = layer_hex if directory == layers_root else blob_hex
            if name in wanted:
                continue
            found.append(os.path.join(directory, name))
            if repair:
                _move_aside(paths, os.path.join(directory, name), doomed)
    _delete(doomed)
    return found


def _listdir(path: str) -> list[str]:
    try:
        return os.listdir(path)
    except FileNotFoundError:
        return []
