"""``hold pull``: an image from a registry into the layer store.

    manifest (by tag or digest; digest-checked)
      -> an index?  pick the host's platform (or --platform), fetch that
      -> config blob (digest-checked), its rootfs.diff_ids
      -> each layer: "Already exists" when its diff id is stored, else
         download (resumed on a dropped connection, digest- and size-checked),
         decompress (gzip, zstd, ...) and check the diff id
      -> ImageService.import_images: safe unpack, then one transaction

Progress lines are Docker's non-terminal ones::

    v1: Pulling from team/app
    a1b2c3d4e5f6: Pulling fs layer
    a1b2c3d4e5f6: Download complete
    a1b2c3d4e5f6: Pull complete
    Digest: sha256:...
    Status: Downloaded newer image for 127.0.0.1:5000/team/app:v1
    127.0.0.1:5000/team/app:v1

Downloads go to tmp/ and are removed whatever happens; a failed pull
records nothing.
"""

from __future__ import annotations

import json
import os
import threading

from hold.errors import InvalidArgument
from hold.images.reference import parse_reference
from hold.images.transport.registry import INDEX_TYPES, RegistryClient

__all__ = ["pull"]

CONCURRENT_DOWNLOADS = 3
_OUTPUT = threading.Lock()     # progress lines from several download threads


def _say(out, line: str) -> None:
    if out is not None:
        with _OUTPUT:
            out.write(("\r\x1b[K" if _is_tty(out) else "") + line + "\n")
            out.flush()


def _is_tty(out) -> bool:
    try:
        return out.isatty()
    except (AttributeError, ValueError):
        return False


def _progress_bar(out, short: str, total):
    """On a terminal, Docker's one-line bar for the layer being downloaded
    (``a1b2c3d4e5f6: Downloading [=====>     ]  1.2MB/3.4MB``); else None."""
    if out is None or not _is_tty(out) or not total:
        return None
    import time
    last = [0.0]

    def show(done: int) -> None:
        now = time.monotonic()
        if now - last[0] < 0.1 and done < total:
            return
        last[0] = now
        filled = min(50, done * 50 // total)
        bar = "=" * filled + (">" if filled < 50 else "") + " " * (49 - filled)
        out.write(f"\r\x1b[K{short}: Downloading [{bar}]  "
                  f"{_human(done)}/{_human(total)}")
        out.flush()
    return show


def _human(size: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if size >= scale:
            return f"{size / scale:.1f}{unit}"
    return f"{size}B"


def client_for(ref, push: bool = False) -> RegistryClient:
    from hold.images.transport.auth import AuthFile
    return RegistryClient(ref.domain, ref.path, AuthFile().get(ref.domain), push=push)


def pull(service, name: str, out=None, platform: str = "") -> str:
    """Pull ``name`` (``[host/]path[:tag|@digest]``); returns the canonical
    reference Docker prints last."""
    ref = parse_reference(name)
    wanted = _platform(platform)
    client = client_for(ref)
    tag_or_digest = ref.digest or ref.tag
    canonical = f"{ref.domain}/{ref.path}" + (f"@{ref.digest}" if ref.digest else f":{ref.tag}")
    if not ref.digest and ":" not in name.rpartition("/")[2]:
        _say(out, f"Using default tag: {ref.tag}")
    body, media, digest = client.get_manifest(tag_or_digest)
    _say(out, f"{tag_or_digest}: Pulling from {ref.path}")
    top_digest = digest
    if media in INDEX_TYPES:
        from hold.images.transport._load import choose_platform
        index = json.loads(body)
        choice = _choose(index.get("manifests") or [], wanted, choose_platform,
                         f"{ref.familiar}")
        body, media, digest = client.get_manifest(choice["digest"])
        if media in INDEX_TYPES:
            raise InvalidArgument(f"{ref.familiar}: an index inside an index is not supported")
    layers, config_desc = _checked_manifest(json.loads(body), ref.familiar)
    os.makedirs(service.paths.tmp, exist_ok=True)
    spooled: list[str] = []
    try:
        config = _fetch_small(service, client, config_desc, spooled)
        from hold.images.service import _parse_config
        diff_ids = _parse_config(config)["rootfs"]["diff_ids"]
        if len(diff_ids) != len(layers):
            raise InvalidArgument(f"{ref.familiar}: manifest has {len(layers)} layers "
                                  f"but the config names {len(diff_ids)}")
        before = _existing_id(service, ref)
        layer_tars, fetched = _fetch_layers(service, client, layers, diff_ids, spooled, out)
        tags = [] if ref.digest else [ref.familiar]
        (image,) = service.import_images([(config, tags)], layer_tars)
        for short in fetched:
            _say(out, f"{short}: Pull complete")
    finally:
        for path in spooled:
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
    _say(out, f"Digest: {top_digest}")
    shown = ref.familiar if not ref.digest else f"{ref.familiar_name}@{ref.digest}"
    if before == image.id:
        _say(out, f"Status: Image is up to date for {shown}")
    else:
        _say(out, f"Status: Downloaded newer image for {shown}")
    _say(out, canonical)
    return canonical


def _checked_manifest(manifest, what: str) -> tuple[list[dict], dict]:
    """``(layer descriptors, config descriptor)`` of an image manifest, each
    with a sha256 digest; InvalidArgument naming what is malformed."""
    def valid(descriptor) -> bool:
        return isinstance(descriptor, dict) and isinstance(descriptor.get("digest"), str) \
            and descriptor["digest"].startswith("sha256:") and len(descriptor["digest"]) == 71 \
            and isinstance(descriptor.get("size", 0), int)
    layers = manifest.get("layers") if isinstance(manifest, dict) else None
    config = manifest.get("config") if isinstance(manifest, dict) else None
    if not isinstance(layers, list) or not all(valid(d) for d in layers) or not valid(config):
        raise InvalidArgument(f"{what}: malformed image manifest (expected a config "
                              "and layers, each with a sha256 digest and a size)")
    return layers, config


def _platform(text: str) -> dict:
    if not text:
        return {}
    parts = text.split("/")
    if parts[0] != "linux" or len(parts) not in (2, 3):
        raise InvalidArgument(f"invalid platform {text!r}: expected linux/ARCH[/VARIANT]")
    from hold.images.config import host_architecture
    if parts[1] != host_architecture():
        raise InvalidArgument(f"platform {text!r}: hold runs images for this machine "
                              f"(linux/{host_architecture()}) only")
    return {"os": "linux", "architecture": parts[1], "variant": parts[2] if len(parts) > 2 else ""}


def _choose(manifests, wanted: dict, choose_platform, what: str) -> dict:
    if wanted.get("variant"):
        exact = [m for m in manifests
                 if (m.get("platform") or {}).get("variant") == wanted["variant"]]
        manifests = exact or manifests
    return choose_platform(manifests, what)


def _existing_id(service, ref) -> str:
    if ref.digest:
        return ""
    rows = service.store.query("SELECT image_id FROM tags WHERE name=?", (ref.familiar,))
    return rows[0][0] if rows else ""


def _fetch_small(service, client, descriptor: dict, spooled: list[str]) -> bytes:
    import tempfile
    digest = descriptor.get("digest")
    if not isinstance(digest, str) or not digest.startswith("sha256:"):
        raise InvalidArgument(f"manifest names a config without a sha256 digest: {digest!r}")
    fd, path = tempfile.mkstemp(dir=service.paths.tmp, prefix="pull-")
    os.close(fd)
    spooled.append(path)
    client.fetch_blob(digest, path, descriptor.get("size"))
    with open(path, "rb") as f:
        return f.read()


def _fetch_layers(service, client, layers, diff_ids, spooled, out):
    """``({diff_id: (uncompressed tar path, size)}, [short ids fetched])``;
    stored layers are reused, the others downloaded CONCURRENT_DOWNLOADS
    at a time (Docker's default), each in its own thread."""
    from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
    result: dict[str, tuple[str, int]] = {}
    todo, seen = [], set()
    for layer, diff_id in zip(layers, diff_ids):
        digest = layer.get("digest") or ""
        short = digest.removeprefix("sha256:")[:12]
        media = str(layer.get("mediaType") or "")
        if "foreign" in media or "nondistributable" in media:
            raise InvalidArgument(f"layer {digest} is a foreign layer ({media}); "
                                  "hold pulls only distributable layers")
        if diff_id in seen:
            continue
        seen.add(diff_id)
        blob = service.paths.blob(diff_id)
        if os.path.isdir(service.paths.layer_dir(diff_id)) and os.path.exists(blob):
            result[diff_id] = (blob, os.path.getsize(blob))
            _say(out, f"{short}: Already exists")
        else:
            todo.append((layer, diff_id, digest, short))
            _say(out, f"{short}: Pulling fs layer")
    stop = threading.Event()
    with ThreadPoolExecutor(max_workers=CONCURRENT_DOWNLOADS) as pool:
        futures = [pool.submit(_fetch_layer, service, client, item, spooled, out, stop)
                   for item in todo]
        try:
            done, _ = wait(futures, return_when=FIRST_EXCEPTION)
            failed = [f for f in done if f.exception() is not None]
            if failed:
                raise failed[0].exception()
        except BaseException:
            stop.set()              # the other downloads give up at their next chunk,
            for future in futures:  # or at once: their connections are hung up
                future.cancel()
            client.abort()
            raise
    for (_layer, diff_id, _digest, _short), future in zip(todo, futures):
        result[diff_id] = future.result()
    return result, [short for _l, _d, _g, short in todo]


class _Stopped(Exception):
    """Another download failed or the user interrupted: give up."""


def _fetch_layer(service, client, item, spooled, out, stop) -> tuple[str, int]:
    """Download one layer blob, decompress it, check its diff id."""
    import tempfile
    from hold.images.layers import spool_tar
    layer, diff_id, digest, short = item
    bar = _progress_bar(out, short, layer.get("size"))

    def progress(done: int) -> None:
        if stop.is_set():
            raise _Stopped()
        if bar is not None:
            with _OUTPUT:
                bar(done)
    fd, packed = tempfile.mkstemp(dir=service.paths.tmp, prefix="pull-")
    os.close(fd)
    spooled.append(packed)
    client.fetch_blob(digest, packed, layer.get("size"), progress)
    _say(out, f"{short}: Verifying Checksum")
    _say(out, f"{short}: Download complete")
    with open(packed, "rb") as f:
        tar_path, got, size = spool_tar(f, service.paths.tmp, f"layer {digest}")
    spooled.append(tar_path)
    os.unlink(packed)
    if got != diff_id:
        raise InvalidArgument(f"layer {digest}: uncompressed content is {got} "
                              f"but the image config names diff id {diff_id}")
    return tar_path, size
