"""``hold image bootstrap``: a Debian base image made from Debian's packages.

For users and tests without a registry: ``debian:<suite>`` is built by
mmdebstrap (preferred) or debootstrap from the Debian archive this host's
apt already uses, packed as one layer and imported like ``hold import``::

    debian:bookworm [--include python3,curl]
      -> key = sha256(suite, variant, sorted packages, architecture)
      -> <root>/build/bootstrap/<key> names an existing image?  tag it, done
      -> mmdebstrap --variant=minbase --include=... SUITE <tmp>/x.tar MIRROR
         (or debootstrap into <tmp>/dir, then tar it)
      -> ImageService.import_tarball(..., changes=['CMD ["bash"]'])

The archive is the first main-archive URI of the host's apt sources
(``/etc/apt/sources.list`` and ``sources.list.d``, one-line or deb822
form), or ``mirror=`` when given; the host's
``Acquire::Check-Valid-Until`` setting is passed on, so a host that pins a
dated snapshot of the archive bootstraps from the same snapshot.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import re
import shutil
import subprocess

from hold.errors import HoldError, InvalidArgument, SystemError_, Unsupported

__all__ = ["bootstrap", "host_mirror", "parse_target"]

_PACKAGE = re.compile(r"[a-z0-9][a-z0-9+.-]+\Z")
_SUITE = re.compile(r"[a-z][a-z0-9-]*\Z")
_VARIANTS = ("minbase", "buildd", "required", "important", "standard")
_FORMAT = 1          # bump when the way images are made changes


def parse_target(ref: str) -> str:
    """``debian:<suite>`` -> suite.  Only Debian is bootstrapped."""
    name, _, suite = ref.partition(":")
    if name != "debian" or not _SUITE.match(suite or "bookworm"):
        raise InvalidArgument(f"cannot bootstrap {ref!r}: expected debian:SUITE "
                              "(for example debian:bookworm)")
    return suite or "bookworm"


def host_mirror(sources_dir: str = "/etc/apt") -> str | None:
    """The first main-archive URI (not -security/-updates) in the host's apt sources."""
    candidates: list[tuple[str, list[str]]] = []
    files = [os.path.join(sources_dir, "sources.list")] + sorted(
        glob.glob(os.path.join(sources_dir, "sources.list.d", "*")))
    for path in files:
        try:
            with open(path, errors="replace") as f:
                text = f.read()
        except OSError:
            continue
        if path.endswith(".sources"):
            candidates += _deb822(text)
        else:
            for line in text.splitlines():
                words = re.sub(r"\[[^]]*\]", "", line).split()
                if len(words) >= 3 and words[0] == "deb":
                    candidates.append((words[1], [words[2]]))
    for uri, suites in candidates:
        if any(not s.endswith(("-security", "-updates", "-backports")) for s in suites) \
                and "security" not in uri:
            return uri
    return None


def _deb822(text: str) -> list[tuple[str, list[str]]]:
    found = []
    for stanza in re.split(r"\n\s*\n", text):
        fields = {}
        for line in stanza.splitlines():
            if ":" in line and not line.startswith(("#", " ")):
                key, _, value = line.partition(":")
                fields[key.strip().lower()] = value.strip()
        if "deb" in fields.get("types", "").split() and fields.get("uris"):
            found.append((fields["uris"].split()[0], fields.get("suites", "").split()))
    return found


def bootstrap(images, paths, ref: str = "debian:bookworm", include=(), tag: str | None = None,
              variant: str = "minbase", mirror: str | None = None, log=None):
    """Make (or reuse) the image; returns ``(Image, cached)``."""
    from hold.images.config import host_architecture
    suite = parse_target(ref)
    packages = sorted({p.strip() for p in include if p.strip()})
    for package in packages:
        if not _PACKAGE.match(package):
            raise InvalidArgument(f"--include: {package!r} is not a Debian package name")
    if variant not in _VARIANTS:
        raise InvalidArgument(f"--variant={variant}: accepted: {', '.join(_VARIANTS)}")
    if tag:
        from hold.images.reference import parse_reference
        parse_reference(tag)
    key = hashlib.sha256(json.dumps([_FORMAT, suite, variant, packages, mirror or "",
                                     host_architecture()]).encode()).hexdigest()
    marker = os.path.join(paths.root, "build", "bootstrap", key)
    cached = _cached(images, marker)
    if cached is not None:
        if tag:
            images.tag(cached.id, tag)
        return images.get(cached.id), True
    image = _make(images, paths, suite, variant, packages, mirror, tag, log)
    from hold.store import atomic_write
    os.makedirs(os.path.dirname(marker), exist_ok=True)
    atomic_write(marker, image.id.encode())
    return image, False


def _cached(images, marker: str):
    try:
        with open(marker) as f:
            return images.get(f.read().strip())
    except (OSError, HoldError):
        return None


def _make(images, paths, suite, variant, packages, mirror, tag, log):
    import tempfile
    from hold.store import remove_tree
    mirror = mirror or host_mirror()
    if not mirror:
        raise InvalidArgument("no Debian archive found in this host's apt sources; "
                              "give one with --mirror URI")
    os.makedirs(paths.tmp, exist_ok=True)
    scratch = tempfile.mkdtemp(dir=paths.tmp, prefix="bootstrap-")
    try:
        tar_path = os.path.join(scratch, "rootfs.tar")
        if shutil.which("mmdebstrap"):
            _mmdebstrap(suite, variant, packages, mirror, tar_path, log)
        elif shutil.which("debootstrap"):
            _debootstrap(suite, variant, packages, mirror, scratch, tar_path, log)
        else:
            raise Unsupported("hold image bootstrap needs mmdebstrap or debootstrap: "
                              "apt-get install mmdebstrap")
        comment = f"hold image bootstrap debian:{suite}" + (
            f" --include {','.join(packages)}" if packages else "")
        return images.import_tarball(tar_path, tag, changes=['CMD ["bash"]'],
                                     message=comment)
    finally:
        remove_tree(scratch)


def _apt_options() -> list[str]:
    try:
        dump = subprocess.run(["apt-config", "dump"], capture_output=True, text=True,
                              timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        return []
    if re.search(r'^Acquire::Check-Valid-Until "(false|0)";', dump, re.M):
        return ['Acquire::Check-Valid-Until "false"']
    return []


def _run(args: list[str], what: str, log) -> None:
    try:
        result = subprocess.run(args, stdin=subprocess.DEVNULL, stdout=log or subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
    except OSError as exc:
        raise SystemError_(f"{what}: {exc.strerror}", errno=exc.errno) from None
    if result.returncode != 0:
        tail = "\n".join((result.stdout or "").strip().splitlines()[-5:])
        raise SystemError_(f"{what} failed (exit {result.returncode})"
                           + (f":\n{tail}" if tail else ""))


def _mmdebstrap(suite, variant, packages, mirror, tar_path, log) -> None:
    args = ["mmdebstrap", f"--variant={variant}", "--format=tar"]
    args += [f"--aptopt={opt}" for opt in _apt_options()]
    if packages:
        args.append("--include=" + ",".join(packages))
    args += [suite, tar_path, f"deb {mirror} {suite} main"]
    _run(args, "mmdebstrap", log)


def _debootstrap(suite, variant, packages, mirror, scratch, tar_path, log) -> None:
    import tarfile
    root = os.path.join(scratch, "root")
    args = ["debootstrap", f"--variant={variant}"]
    if packages:
        args.append("--include=" + ",".join(packages))
    args += [suite, root, mirror]
    _run(args, "debootstrap", log)
    with tarfile.open(tar_path, "w", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(os.listdir(root)):
            tar.add(os.path.join(root, name), arcname=name)
