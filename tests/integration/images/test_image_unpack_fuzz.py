"""Random archives against the unpacker: whatever the members, nothing
outside the layer directory changes, and a failure is always one of our
errors (never a bare OSError)."""

from __future__ import annotations

import io
import os
import shutil
import tarfile
import tempfile

from hypothesis import HealthCheck, given, settings, strategies as st

from hold.errors import HoldError
from hold.images.layers import unpack_layer

COMPONENTS = ["a", "b", "..", ".", "", ".wh.a", ".wh..wh..opq", ".wh..", "c"]


def _names():
    return st.lists(st.sampled_from(COMPONENTS), min_size=1, max_size=4).map(
        lambda parts: "/".join(parts)) | st.sampled_from(["/a", "/", "./a/b", "a/"])


def _member():
    kinds = st.sampled_from(["file", "dir", "symlink", "hardlink", "fifo", "chr"])
    return st.tuples(kinds, _names(), st.sampled_from(
        ["a", "b", "..", "../..", "/", "OUTSIDE", "OUTSIDE/victim", "a/b", "/a", ""]))


def _tar(members, outside: str) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for kind, name, target in members:
            target = target.replace("OUTSIDE", outside)
            info = tarfile.TarInfo(name or ".")
            info.mode = 0o755
            data = None
            if kind == "file":
                data = b"x"
                info.size = 1
            elif kind == "dir":
                info.type = tarfile.DIRTYPE
            elif kind == "symlink":
                info.type, info.linkname = tarfile.SYMTYPE, target
            elif kind == "hardlink":
                info.type, info.linkname = tarfile.LNKTYPE, target
            elif kind == "fifo":
                info.type = tarfile.FIFOTYPE
            else:
                info.type, info.devmajor, info.devminor = tarfile.CHRTYPE, 1, 3
            tar.addfile(info, io.BytesIO(data) if data else None)
    return buf.getvalue()


def _snapshot(root: str) -> list:
    found = []
    for here, dirs, files in os.walk(root):
        for name in sorted(dirs + files):
            path = os.path.join(here, name)
            st_ = os.lstat(path)
            found.append((path, st_.st_mode, st_.st_size, st_.st_mtime_ns))
    return found


@settings(max_examples=int(os.environ.get("HOLD_FUZZ_EXAMPLES", "300")), deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(_member(), min_size=1, max_size=8))
def test_random_archives_never_escape(members):
    sandbox = tempfile.mkdtemp(prefix="hold-fuzz-")
    try:
        outside = os.path.join(sandbox, "outside")
        os.makedirs(os.path.join(outside, "a"))
        with open(os.path.join(outside, "victim"), "w") as f:
            f.write("original")
        dest = os.path.join(sandbox, "layer")
        os.mkdir(dest)
        tar_path = os.path.join(sandbox, "in.tar")
        with open(tar_path, "wb") as f:
            f.write(_tar(members, outside))
        before = _snapshot(outside)
        try:
            unpack_layer(tar_path, dest)
        except HoldError as exc:
            assert "\n" not in str(exc)
        assert _snapshot(outside) == before
        assert sorted(os.listdir(sandbox)) == ["in.tar", "layer", "outside"]
    finally:
        shutil.rmtree(sandbox)
