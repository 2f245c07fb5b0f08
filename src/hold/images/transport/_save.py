"""``hold save``: images to a tar in the layout newer Docker writes.

The archive is both a ``docker save`` archive and an OCI image layout, so
Docker 20.10 (which reads ``manifest.json``), Docker 25+ and OCI tools
(which read ``index.json``) all load it::

    blobs/sha256/<hex>    layer tars (uncompressed; digest = diff id),
                          image configs (digest = image id), OCI manifests
    index.json            one OCI manifest descriptor per tag (annotated
                          with io.containerd.image.name and
                          org.opencontainers.image.ref.name), or one without
                          annotations for an image saved by id
    manifest.json         [{"Config": "blobs/sha256/<id>", "RepoTags": [...],
                            "Layers": ["blobs/sha256/<diff id>", ...]}]
    oci-layout            {"imageLayoutVersion": "1.0.0"}
    repositories          {"name": {"tag": "<id hex>"}}

Every reference is resolved before a byte is written; ``save_to_file``
writes beside the target and renames, so a failed save leaves no file.
Members carry mtime 0 and sorted JSON, so saving the same images twice
gives the same bytes.
"""

from __future__ import annotations

import json
import os

from hold.errors import InvalidArgument, SystemError_
from hold.images.reference import DEFAULT_DOMAIN, parse_reference

__all__ = ["save_images", "save_to_file", "MEDIA_INDEX"]

MEDIA_INDEX = "application/vnd.oci.image.index.v1+json"
_ANNOTATION_NAME = "io.containerd.image.name"
_ANNOTATION_REF = "org.opencontainers.image.ref.name"


def _json(value) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def _name_only(ref: str) -> bool:
    """True when ``ref`` is a repository name with neither tag nor digest
    (Docker then saves every tag of that repository)."""
    return "@" not in ref and ":" not in ref.rpartition("/")[2]


def resolve(service, refs) -> list[tuple[object, list[str]]]:
    """``[(Image, [familiar tags to record])]`` in the order given, each
    image once.  ImageNotFound for the first reference that names none.

    A reference that matched a tag records that tag; an id records none
    (Docker writes ``"RepoTags": null`` then); a bare repository name that
    is no tag records every tag of that repository."""
    chosen: dict[str, tuple[object, list[str]]] = {}

    def add(image, tags):
        entry = chosen.setdefault(image.id, (image, []))
        entry[1].extend(t for t in tags if t not in entry[1])

    for ref in refs:
        if _name_only(ref):
            name = _repository(ref)
            matches = [i for i in service.list()
                       if any(t.rpartition(":")[0] == name for t in i.tags)] if name else []
            for image in reversed(matches):
                add(image, sorted(t for t in image.tags if t.rpartition(":")[0] == name))
            if matches:
                continue
        image_id, tag = service._resolve(ref)
        add(service.get(image_id), [tag] if tag else [])
    return list(chosen.values())


def _repository(ref: str) -> str:
    try:
        return parse_reference(ref).familiar_name
    except InvalidArgument:
        return ""


def save_images(service, refs, out) -> None:
    """Write the images ``refs`` name to the binary stream ``out``."""
    if not refs:
        raise InvalidArgument('"save" requires at least 1 argument')
    chosen = resolve(service, refs)
    import tarfile
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        _write_archive(service, tar, chosen)


def save_to_file(service, refs, path: str) -> None:
    """``save_images`` into ``path``, atomically: a failure leaves no file."""
    import tempfile
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise InvalidArgument(f"failed to save image: invalid output path: "
                              f'directory "{directory}" does not exist')
    if os.path.isdir(path):
        raise InvalidArgument(f"failed to save image: {path} is a directory")
    if not refs:
        raise InvalidArgument('"save" requires at least 1 argument')
    chosen = resolve(service, refs)
    try:
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".hold-save-")
    except OSError as exc:
        raise SystemError_(f"failed to save image: {path}: {exc.strerror}",
                           errno=exc.errno) from exc
    try:
        with os.fdopen(fd, "wb") as out:
            import tarfile
            with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
                _write_archive(service, tar, chosen)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except OSError as exc:
        raise SystemError_(f"failed to save image: {path}: {exc.strerror or exc}",
                           errno=exc.errno) from exc
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _write_archive(service, tar, chosen) -> None:
    written: set[str] = set()
    _add_dir(tar, "blobs")
    _add_dir(tar, "blobs/sha256")
    manifest_json, index_entries, repositories = [], [], {}
    for image, tags in chosen:
        config = _config_bytes(service, image)
        manifest = _json(image.manifest)
        manifest_digest = _digest(manifest)
        for diff_id in image.diff_ids:
            _add_blob_file(tar, service.paths.blob(diff_id), diff_id, written)
        _add_blob_bytes(tar, config, image.id, written)
        _add_blob_bytes(tar, manifest, manifest_digest, written)
        manifest_json.append({
            "Config": _blob_name(image.id), "RepoTags": tags or None,
            "Layers": [_blob_name(d) for d in image.diff_ids]})
        descriptor = {"mediaType": image.manifest.get("mediaType"),
                      "digest": manifest_digest, "size": len(manifest)}
        if not tags:
            index_entries.append(descriptor)
        for tag in tags:
            ref = parse_reference(tag)
            name = ref.domain + "/" + ref.path
            index_entries.append(dict(descriptor, annotations={
                _ANNOTATION_NAME: f"{name}:{ref.tag}", _ANNOTATION_REF: ref.tag}))
            repositories.setdefault(ref.familiar_name if ref.domain == DEFAULT_DOMAIN
                                    else name, {})[ref.tag] = image.id[7:]
    _add_bytes(tar, "index.json", _json({"schemaVersion": 2, "mediaType": MEDIA_INDEX,
                                         "manifests": index_entries}))
    _add_bytes(tar, "manifest.json", _json(manifest_json))
    _add_bytes(tar, "oci-layout", _json({"imageLayoutVersion": "1.0.0"}))
    if repositories:
        _add_bytes(tar, "repositories", _json(repositories))


def _config_bytes(service, image) -> bytes:
    """The exact config bytes (the image id is their digest)."""
    try:
        with open(service.paths.blob(image.id), "rb") as f:
            data = f.read()
    except FileNotFoundError:
        row = service.store.query("SELECT config FROM images WHERE id=?", (image.id,))
        data = row[0][0].encode() if row else b""
    if _digest(data) != image.id:
        raise SystemError_(f"image {image.short_id}: stored config does not match "
                           "its id; run `hold system check`")
    return data


def _digest(data: bytes) -> str:
    import hashlib
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _blob_name(digest: str) -> str:
    algo, _, hexpart = digest.partition(":")
    return f"blobs/{algo}/{hexpart}"


def _info(name: str, size: int = 0):
    import tarfile
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = size, 0, 0o644
    info.uname = info.gname = ""
    return info


def _add_dir(tar, name: str) -> None:
    import tarfile
    info = _info(name)
    info.type, info.mode = tarfile.DIRTYPE, 0o755
    tar.addfile(info)


def _add_bytes(tar, name: str, data: bytes) -> None:
    import io
    tar.addfile(_info(name, len(data)), io.BytesIO(data))


def _add_blob_bytes(tar, data: bytes, digest: str, written: set[str]) -> None:
    if digest not in written:
        written.add(digest)
        _add_bytes(tar, _blob_name(digest), data)


def _add_blob_file(tar, path: str, digest: str, written: set[str]) -> None:
    if digest in written:
        return
    written.add(digest)
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        raise SystemError_(f"layer {digest} has no stored tar (blob {path} is "
                           "missing); run `hold system check`") from None
    with f:
        tar.addfile(_info(_blob_name(digest), os.fstat(f.fileno()).st_size), f)
