"""Session fixtures for the image tests: the busybox tarball compressed each
way hold accepts, and a builder of hand-made (often hostile) tarballs."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tarfile

import pytest

from hold.store import Paths, Store
from hold.testing import temporary_paths


@pytest.fixture(scope="session")
def compressed_busybox(busybox_tar, tmp_path_factory) -> dict[str, str]:
    """{"gzip": path, "bzip2": ..., "xz": ..., "zstd": ...} of busybox_tar."""
    out = tmp_path_factory.mktemp("compressed")
    made = {}
    for kind, program in (("gzip", "gzip"), ("bzip2", "bzip2"), ("xz", "xz"),
                          ("zstd", "zstd")):
        if not shutil.which(program):
            continue
        dest = str(out / f"busybox.tar.{kind}")
        with open(busybox_tar, "rb") as src, open(dest, "wb") as dst:
            subprocess.run([program, "-c"], stdin=src, stdout=dst, check=True)
        made[kind] = dest
    return made


class TarBuilder:
    """Write a tar of hand-described members: ``("file", name, data)``,
    ``("dir", name)``, ``("symlink", name, target)``, ``("hardlink", name,
    target)``, ``("chr"|"blk", name, major, minor)``, ``("fifo", name)``;
    keyword ``meta`` on a TarInfo via a dict as the last element."""

    def __init__(self, directory):
        self.directory = directory
        self.count = 0

    def __call__(self, *members) -> str:
        self.count += 1
        path = os.path.join(self.directory, f"crafted-{self.count}.tar")
        with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
            for member in members:
                meta = member[-1] if isinstance(member[-1], dict) else {}
                member = member[:-1] if meta else member
                kind, name = member[0], member[1]
                info = tarfile.TarInfo(name)
                info.mtime = 1_600_000_000
                info.mode = 0o755 if kind == "dir" else 0o644
                data = None
                if kind == "file":
                    data = member[2] if len(member) > 2 else b""
                    info.size = len(data)
                elif kind == "dir":
                    info.type = tarfile.DIRTYPE
                elif kind == "symlink":
                    info.type, info.linkname = tarfile.SYMTYPE, member[2]
                elif kind == "hardlink":
                    info.type, info.linkname = tarfile.LNKTYPE, member[2]
                elif kind in ("chr", "blk"):
                    info.type = tarfile.CHRTYPE if kind == "chr" else tarfile.BLKTYPE
                    info.devmajor, info.devminor = member[2], member[3]
                elif kind == "fifo":
                    info.type = tarfile.FIFOTYPE
                for key, value in meta.items():
                    setattr(info, key, value)
                tar.addfile(info, io.BytesIO(data) if data is not None else None)
        return path


@pytest.fixture
def make_tar(tmp_path) -> TarBuilder:
    return TarBuilder(str(tmp_path))


@pytest.fixture
def image_service(tmp_path):
    """An ImageService on a fresh root, used in-process (no CLI)."""
    from hold.images import ImageService
    paths: Paths = temporary_paths(str(tmp_path / "svc"))
    store = Store(paths.db)
    yield ImageService(store, paths)
    store.close()
