"""``hold push``: an image's layers, config and manifest to a registry.

    each layer blob (stored uncompressed) -> compressed into tmp/ (gzip with
        mtime 0, or zstd): the same layer always gives the same digest, so
        a second push finds it there ("Layer already exists")
    HEAD the blob; if missing: POST an upload, PUT the bytes (monolithic)
    the config blob, byte for byte (its digest is the image id)
    PUT an OCI manifest under the tag

Output, as Docker prints it without a terminal::

    The push refers to repository [127.0.0.1:5000/team/app]
    a1b2c3d4e5f6: Preparing
    a1b2c3d4e5f6: Pushed          (or "Layer already exists")
    v1: digest: sha256:... size: 527
"""

from __future__ import annotations

import json
import os

from hold.errors import InvalidArgument
from hold.images.reference import parse_reference

__all__ = ["push", "compress_layer"]

_MEDIA = {"gzip": "application/vnd.oci.image.layer.v1.tar+gzip",
          "zstd": "application/vnd.oci.image.layer.v1.tar+zstd"}
MEDIA_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MEDIA_CONFIG = "application/vnd.oci.image.config.v1+json"


def _say(out, line: str) -> None:
    if out is not None:
        out.write(line + "\n")
        out.flush()


def compress_layer(tar_path: str, dest: str, compression: str) -> tuple[str, int]:
    """Compress ``tar_path`` into ``dest`` deterministically: ``(digest, size)``."""
    import hashlib
    if compression == "gzip":
        import gzip
        with open(tar_path, "rb") as src, open(dest, "wb") as raw:
            with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0,
                               compresslevel=6) as packed:
                while chunk := src.read(1 << 20):
                    packed.write(chunk)
    elif compression == "zstd":
        import shutil
        import subprocess
        if not shutil.which("zstd"):
            raise InvalidArgument("--compression=zstd needs the zstd program "
                                  "(apt-get install zstd)")
        with open(tar_path, "rb") as src, open(dest, "wb") as packed:
            proc = subprocess.run(["zstd", "-q", "-c", "-3", "--no-progress"], stdin=src,
                                  stdout=packed, stderr=subprocess.PIPE)
        if proc.returncode:
            from hold.errors import SystemError_
            raise SystemError_(f"zstd failed: {proc.stderr.decode(errors='replace').strip()}")
    else:
        raise InvalidArgument(f"unknown compression {compression!r} (accepted: gzip, zstd)")
    hasher = hashlib.sha256()
    with open(dest, "rb") as f:
        while chunk := f.read(1 << 20):
            hasher.update(chunk)
    return "sha256:" + hasher.hexdigest(), os.path.getsize(dest)


def push(service, name: str, out=None, compression: str = "gzip") -> str:
    """Push the image tagged ``name``; returns the manifest digest."""
    import tempfile
    from hold.images.transport._pull import client_for
    if compression not in _MEDIA:
        raise InvalidArgument(f"unknown compression {compression!r} (accepted: gzip, zstd)")
    ref = parse_reference(name)
    if ref.digest:
        raise InvalidArgument(f"cannot push a digest reference {name!r}: push a tag")
    image = service.get(ref.familiar)
    if ref.domain == "docker.io":
        raise InvalidArgument(f"refusing to push {ref.familiar} to Docker Hub from "
                              "hold; tag it with a registry host (HOST[:PORT]/NAME)")
    client = client_for(ref, push=True)
    _say(out, f"The push refers to repository [{ref.domain}/{ref.path}]")
    config = _config_bytes(service, image)
    os.makedirs(service.paths.tmp, exist_ok=True)
    descriptors = []
    for diff_id in reversed(image.diff_ids):
        _say(out, f"{diff_id[7:19]}: Preparing")
    for diff_id in reversed(image.diff_ids):
        fd, packed = tempfile.mkstemp(dir=service.paths.tmp, prefix="push-")
        os.close(fd)
        try:
            digest, size = compress_layer(service.paths.blob(diff_id), packed, compression)
            if client.blob_exists(digest):
                _say(out, f"{diff_id[7:19]}: Layer already exists")
            else:
                _say(out, f"{diff_id[7:19]}: Pushing")
                client.upload_blob(digest, packed)
                _say(out, f"{diff_id[7:19]}: Pushed")
        finally:
            os.unlink(packed)
        descriptors.append({"mediaType": _MEDIA[compression], "digest": digest,
                            "size": size})
    descriptors.reverse()
    if not client.blob_exists(image.id):
        fd, path = tempfile.mkstemp(dir=service.paths.tmp, prefix="push-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(config)
            client.upload_blob(image.id, path)
        finally:
            os.unlink(path)
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": MEDIA_MANIFEST,
        "config": {"mediaType": MEDIA_CONFIG, "digest": image.id, "size": len(config)},
        "layers": descriptors}, separators=(",", ":")).encode()
    digest = client.put_manifest(ref.tag, manifest, MEDIA_MANIFEST)
    _say(out, f"{ref.tag}: digest: {digest} size: {len(manifest)}")
    return digest


def _config_bytes(service, image) -> bytes:
    from hold.images.transport._save import _config_bytes as stored
    return stored(service, image)
