"""``hold load``: images from a ``docker save`` tar or an OCI image layout.

Accepted inputs (optionally gzip/bzip2/xz/zstd-compressed as a whole)::

    docker save, legacy     manifest.json, <id>.json, <v1 id>/layer.tar
                            (a layer.tar may be a symlink to another's)
    docker save, OCI-style  manifest.json naming blobs/sha256/<hex>, plus
                            index.json and oci-layout (Docker 25+)
    OCI image layout        index.json (+ oci-layout) and blobs/<alg>/<hex>;
                            a nested index picks the host's platform

``manifest.json`` is preferred when present, as Docker does.  Layers may be
compressed inside (gzip, zstd, ...).  What is checked before anything is
recorded: every blob named by digest hashes to it (size too, when a
descriptor gives one), every layer decompresses to the diff id its config
names, in order, and every layer unpacks safely.  The outer archive is
never extracted: members are read in place from a (spooled) tar file.
"""

from __future__ import annotations

import json
import os
import tarfile

from hold.errors import InvalidArgument, Unsupported
from hold.images.transport._save import MEDIA_INDEX

__all__ = ["load_archive", "ArchiveReader", "choose_platform"]

MEDIA_DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
_INDEX_TYPES = (MEDIA_INDEX, MEDIA_DOCKER_LIST)
_REF_ANNOTATION = "org.opencontainers.image.ref.name"
_NAME_ANNOTATION = "io.containerd.image.name"
_LINK_DEPTH = 16


def load_archive(service, source) -> list[str]:
    """Load every image of the archive ``source`` (a path, "-" or a
    stream); returns Docker's lines ("Loaded image: bb:latest")."""
    os.makedirs(service.paths.tmp, exist_ok=True)
    spooled: list[str] = []
    try:
        path = _tar_path(service, source, spooled)
        try:
            tar = tarfile.open(path, "r:")
        except tarfile.TarError as exc:
            raise InvalidArgument(f"invalid archive: not a tar file ({exc}); "
                                  "expected a `docker save` or OCI layout tarball") from None
        with tar:
            reader = ArchiveReader(tar)
            images = reader.images()
            layer_tars = {}
            for config, _refs, layers in images:
                diff_ids = json.loads(config)["rootfs"]["diff_ids"]
                for (opener, what, digest), diff_id in zip(layers, diff_ids):
                    if diff_id not in layer_tars:
                        layer_tars[diff_id] = spool_layer(
                            service, opener, what, digest, diff_id, spooled)
        loaded = service.import_images([(c, refs) for c, refs, _ in images], layer_tars)
    finally:
        for name in spooled:
            try:
                os.unlink(name)
            except FileNotFoundError:
                pass
    lines = []
    for image, (_c, refs, _l) in zip(loaded, images):
        if refs:
            from hold.images.reference import parse_reference
            lines += [f"Loaded image: {parse_reference(r).familiar}" for r in refs]
        else:
            lines.append(f"Loaded image ID: {image.id}")
    return lines


def _tar_path(service, source, spooled: list[str]) -> str:
    """A plain tar file to read ``source`` from: the file itself when it is
    an uncompressed regular file, else a decompressed copy in tmp/."""
    from hold.images.layers import spool_tar
    from hold.images.service import _open_source
    if isinstance(source, str) and source != "-":
        try:
            with open(source, "rb") as f:
                head = f.read(262)
        except FileNotFoundError:
            raise InvalidArgument(f"open {source}: no such file or directory") from None
        except IsADirectoryError:
            raise InvalidArgument(f"open {source}: is a directory, expected a tarball") from None
        if len(head) > 262 - 1 and head[257:262] == b"ustar":
            return source
    stream, what, close = _open_source(source)
    try:
        path, _digest, _size = spool_tar(stream, service.paths.tmp, what)
    finally:
        close()
    spooled.append(path)
    return path


class _Digesting:
    """Reads through, hashing and counting what passes."""

    def __init__(self, raw):
        import hashlib
        self.raw, self.hasher, self.size = raw, hashlib.sha256(), 0

    def read(self, n: int = -1) -> bytes:
        data = self.raw.read(n)
        self.hasher.update(data)
        self.size += len(data)
        return data

    def drain(self) -> None:
        while self.read(1 << 20):
            pass


def spool_layer(service, opener, what: str, digest: str | None, diff_id: str,
                spooled: list[str]) -> tuple[str, int]:
    """Decompress one layer into tmp/, checking its blob digest (when the
    archive names one) and its diff id.  ``(tar path, tar size)``."""
    from hold.images.layers import spool_tar
    raw = _Digesting(opener())
    path, got, size = spool_tar(raw, service.paths.tmp, what)
    spooled.append(path)
    raw.drain()
    if digest and "sha256:" + raw.hasher.hexdigest() != digest:
        raise InvalidArgument(f"{what}: digest mismatch: content is "
                              f"sha256:{raw.hasher.hexdigest()}, expected {digest}")
    if got != diff_id:
        raise InvalidArgument(f"{what}: layer content is {got} but the image "
                              f"config names diff id {diff_id}")
    return path, size


def choose_platform(manifests: list[dict], what: str) -> dict:
    """The descriptor for this host (linux, its architecture and variant)
    from an index's ``manifests``; Unsupported when there is none."""
    from hold.images.config import host_architecture
    arch = host_architecture()
    fits = [m for m in manifests if (m.get("platform") or {}).get("os", "linux") == "linux"
            and (m.get("platform") or {}).get("architecture", arch) == arch]
    if not fits:
        have = sorted({"{}/{}".format((m.get("platform") or {}).get("os", "?"),
                                      (m.get("platform") or {}).get("architecture", "?"))
                       for m in manifests})
        raise Unsupported(f"{what}: no image for linux/{arch} (it has: "
                          f"{', '.join(have) or 'nothing'})")
    if arch == "arm64":
        fits.sort(key=lambda m: (m.get("platform") or {}).get("variant", "v8") != "v8")
    return fits[0]


class ArchiveReader:
    """Members of an open tar, by cleaned name; symlinks resolved inside."""

    def __init__(self, tar):
        from hold.images.layers import clean_parts
        self.tar = tar
        self.members: dict[str, tarfile.TarInfo] = {}
        try:
            for member in tar:
                self.members["/".join(clean_parts(member.name, member.name))] = member
        except tarfile.TarError as exc:
            raise InvalidArgument(f"invalid archive: corrupt tar ({exc})") from None

    def member(self, name: str) -> tarfile.TarInfo:
        import posixpath
        from hold.images.layers import clean_parts
        key = "/".join(clean_parts(name, name))
        for _ in range(_LINK_DEPTH):
            member = self.members.get(key)
            if member is None:
                raise InvalidArgument(f"invalid archive: {name!r} is missing")
            if member.issym():
                target = posixpath.join(posixpath.dirname(key), member.linkname)
                key = "/".join(clean_parts(posixpath.normpath(target), name))
                continue
            if member.islnk():
                key = "/".join(clean_parts(member.linkname, name))
                continue
            if not member.isreg():
                raise InvalidArgument(f"invalid archive: {name!r} is not a file")
            return member
        raise InvalidArgument(f"invalid archive: {name!r}: too many links")

    def opener(self, name: str):
        member = self.member(name)
        return lambda: self.tar.extractfile(member)

    def read(self, name: str, limit: int = 64 << 20) -> bytes:
        member = self.member(name)
        if member.size > limit:
            raise InvalidArgument(f"invalid archive: {name!r} is too large for metadata")
        try:
            return self.tar.extractfile(member).read()
        except (tarfile.TarError, EOFError, OSError) as exc:
            raise InvalidArgument(f"invalid archive: reading {name!r}: {exc}") from None

    def read_json(self, name: str, expect=dict):
        try:
            value = json.loads(self.read(name))
        except (ValueError, UnicodeDecodeError) as exc:
            raise InvalidArgument(f"invalid archive: {name} is not valid JSON: {exc}") from None
        if not isinstance(value, expect):
            raise InvalidArgument(f"invalid archive: {name} is not a JSON "
                                  f"{'list' if expect is list else 'object'}")
        return value

    # --------------------------------------------------------- the images

    def images(self) -> list[tuple[bytes, list[str], list]]:
        """``[(config bytes, refs, [(opener, what, blob digest or None)])]``."""
        if "manifest.json" in self.members:
            found = self._docker_images()
        elif "index.json" in self.members:
            found = self._oci_images()
        elif "repositories" in self.members:
            raise Unsupported("archive is in the pre-1.10 docker save format (no "
                              "manifest.json); re-save it with a newer docker")
        else:
            raise InvalidArgument("invalid archive: it holds neither manifest.json "
                                  "(docker save) nor index.json (OCI image layout)")
        if not found:
            raise InvalidArgument("invalid archive: it holds no image")
        return found

    def _docker_images(self):
        found = []
        for n, entry in enumerate(self.read_json("manifest.json", list)):
            if not isinstance(entry, dict) or not isinstance(entry.get("Config"), str) \
                    or not isinstance(entry.get("Layers"), list):
                raise InvalidArgument(f"invalid archive: manifest.json entry {n} "
                                      "needs Config and Layers")
            config = self.read(entry["Config"])
            _check_named_digest(entry["Config"], config)
            refs = [r for r in entry.get("RepoTags") or () if isinstance(r, str)]
            layers = [(self.opener(p), f"layer {p}", _digest_in_name(p))
                      for p in entry["Layers"]]
            found.append(self._checked(config, refs, layers, entry["Config"]))
        return found

    def _oci_images(self):
        found = []
        index = self.read_json("index.json")
        for descriptor in index.get("manifests") or ():
            annotations = descriptor.get("annotations") or {}
            manifest = self._manifest(descriptor)
            config_desc = manifest.get("config") or {}
            config = self.blob(config_desc)
            refs = _oci_refs(annotations)
            layers = []
            for layer in manifest.get("layers") or ():
                _check_layer_type(layer)
                layers.append((self.opener(_blob_path(layer.get("digest"))),
                               f"layer {layer.get('digest')}", layer.get("digest")))
            found.append(self._checked(config, refs, layers, config_desc.get("digest")))
        return found

    def _manifest(self, descriptor: dict) -> dict:
        for _ in range(4):
            data = self.blob(descriptor)
            try:
                manifest = json.loads(data)
            except ValueError as exc:
                raise InvalidArgument(f"invalid archive: manifest "
                                      f"{descriptor.get('digest')} is not JSON: {exc}") from None
            media = manifest.get("mediaType") or descriptor.get("mediaType")
            if media in _INDEX_TYPES or ("manifests" in manifest and "layers" not in manifest):
                descriptor = choose_platform(manifest.get("manifests") or [],
                                             f"index {descriptor.get('digest')}")
                continue
            return manifest
        raise InvalidArgument("invalid archive: indexes nested too deeply")

    def blob(self, descriptor: dict) -> bytes:
        digest = descriptor.get("digest") if isinstance(descriptor, dict) else None
        data = self.read(_blob_path(digest))
        _check_digest(data, digest, f"blob {digest}")
        if isinstance(descriptor.get("size"), int) and descriptor["size"] != len(data):
            raise InvalidArgument(f"blob {digest}: size {len(data)}, descriptor "
                                  f"says {descriptor['size']}")
        return data

    @staticmethod
    def _checked(config: bytes, refs, layers, what):
        from hold.images.service import _parse_config
        diff_ids = _parse_config(config)["rootfs"]["diff_ids"]
        if len(diff_ids) != len(layers):
            raise InvalidArgument(f"invalid archive: image {what} has {len(layers)} "
                                  f"layers but its config names {len(diff_ids)}")
        return config, refs, layers


def _blob_path(digest) -> str:
    if not isinstance(digest, str) or ":" not in digest:
        raise InvalidArgument(f"invalid archive: bad digest {digest!r}")
    algo, _, hexpart = digest.partition(":")
    if algo != "sha256" or len(hexpart) != 64 or not all(c in "0123456789abcdef"
                                                         for c in hexpart):
        raise InvalidArgument(f"invalid archive: unsupported digest {digest!r} "
                              "(sha256:<64 hex> is accepted)")
    return f"blobs/{algo}/{hexpart}"


def _check_digest(data: bytes, digest: str, what: str) -> None:
    import hashlib
    got = "sha256:" + hashlib.sha256(data).hexdigest()
    if got != digest:
        raise InvalidArgument(f"{what}: digest mismatch: content is {got}")


def _digest_in_name(path: str) -> str | None:
    """The digest a member name claims: blobs/sha256/<hex> or <hex>.json."""
    import re
    match = re.fullmatch(r"(?:.*/)?blobs/sha256/([0-9a-f]{64})|([0-9a-f]{64})\.json",
                         path.strip("/"))
    return "sha256:" + (match.group(1) or match.group(2)) if match else None


def _check_named_digest(path: str, data: bytes) -> None:
    digest = _digest_in_name(path)
    if digest:
        _check_digest(data, digest, f"config {path}")


def _check_layer_type(layer: dict) -> None:
    media = str(layer.get("mediaType") or "")
    if "foreign" in media or "nondistributable" in media:
        raise Unsupported(f"layer {layer.get('digest')} is a foreign layer "
                          f"({media}), which an archive does not carry")


def _oci_refs(annotations: dict) -> list[str]:
    """Docker's rule: the containerd name annotation, else a ref.name that
    is a full reference; a bare tag names no repository."""
    name = annotations.get(_NAME_ANNOTATION)
    ref = annotations.get(_REF_ANNOTATION)
    if isinstance(name, str) and name:
        return [name]
    if isinstance(ref, str) and (":" in ref or "/" in ref):
        return [ref]
    return []
