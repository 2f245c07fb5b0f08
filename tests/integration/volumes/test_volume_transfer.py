"""hold additions: volume export / import / clone / rename."""

import os
import subprocess

import pytest

from hold.volumes.testing import inspect_volume, run, volume_names

FILL = ("mkdir /d/x && echo a > /d/x/f && chown 65534:65534 /d/x/f && chmod 0604 /d/x/f "
        "&& ln -s x/f /d/l && ln /d/x/f /d/hard && setfattr -n user.k -v v /d/x/f 2>/dev/null;"
        " true")


def _tree(path):
    result = {}
    for top, dirs, files in os.walk(path):
        for name in dirs + files:
            full = os.path.join(top, name)
            st = os.lstat(full)
            rel = os.path.relpath(full, path)
            content = None
            if os.path.islink(full):
                content = os.readlink(full)
            elif os.path.isfile(full):
                with open(full, "rb") as f:
                    content = f.read()
            result[rel] = (st.st_mode, st.st_uid, st.st_gid, content)
    return result


@pytest.fixture
def filled(bb):
    bb.ok("volume", "create", "orig")
    r = run(bb, "-v", "orig:/d", "bb", "sh", "-c", FILL)
    assert r.returncode == 0, r.stderr
    return bb


def test_export_import_round_trip_through_a_file(filled, tmp_path):
    bb, archive = filled, str(tmp_path / "orig.tar")
    bb.ok("volume", "export", "-o", archive, "orig")
    bb.ok("volume", "import", "copy", archive)
    a = inspect_volume(bb, "orig")["Mountpoint"]
    b = inspect_volume(bb, "copy")["Mountpoint"]
    assert _tree(a) == _tree(b)
    assert os.stat(os.path.join(b, "hard")).st_ino == os.stat(os.path.join(b, "x", "f")).st_ino
    assert not os.path.exists(archive + ".hold-tmp")


def test_export_import_through_pipes(filled):
    bb = filled
    exported = subprocess.run(bb.base + ["volume", "export", "orig"], capture_output=True,
                              check=True).stdout
    subprocess.run(bb.base + ["volume", "import", "piped", "-"], input=exported, check=True)
    assert _tree(inspect_volume(bb, "orig")["Mountpoint"]) == \
        _tree(inspect_volume(bb, "piped")["Mountpoint"])


def test_import_never_overwrites_data(filled, tmp_path):
    bb, archive = filled, str(tmp_path / "o.tar")
    bb.ok("volume", "export", "-o", archive, "orig")
    before = _tree(inspect_volume(bb, "orig")["Mountpoint"])
    r = bb("volume", "import", "orig", archive)
    assert r.returncode == 1 and "is not empty" in r.stderr
    assert _tree(inspect_volume(bb, "orig")["Mountpoint"]) == before


def test_import_refuses_unsafe_archives(hold, tmp_path):
    import io
    import tarfile
    bad = tmp_path / "bad.tar"
    with tarfile.open(bad, "w") as tar:
        info = tarfile.TarInfo("../../escape")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    r = hold("volume", "import", "victim", str(bad))
    assert r.returncode == 1 and "escape" in r.stderr
    assert not (tmp_path / "escape").exists()
    assert os.listdir(inspect_volume(hold, "victim")["Mountpoint"]) == []


def test_clone(filled):
    bb = filled
    assert bb.ok("volume", "clone", "orig", "twin") == "twin\n"
    assert _tree(inspect_volume(bb, "orig")["Mountpoint"]) == \
        _tree(inspect_volume(bb, "twin")["Mountpoint"])
    r = bb("volume", "clone", "orig", "twin")
    assert r.returncode == 1 and "already exists" in r.stderr
    r = bb("volume", "clone", "nosuch", "other")
    assert r.returncode == 1 and "no such volume" in r.stderr
    assert sorted(volume_names(bb)) == ["orig", "twin"]


def test_rename_only_when_unused(filled):
    bb = filled
    bb.ok("create", "--network", "none", "--name", "user", "-v", "orig:/d", "bb", "true")
    r = bb("volume", "rename", "orig", "newname")
    assert r.returncode == 1 and "volume is in use" in r.stderr and "user" in r.stderr
    bb.ok("rm", "user")
    bb.ok("volume", "rename", "orig", "newname")
    assert volume_names(bb) == ["newname"]
    assert run(bb, "-v", "newname:/d", "bb", "cat", "/d/x/f").stdout == "a\n"
    bb.ok("volume", "create", "other")
    r = bb("volume", "rename", "newname", "other")
    assert r.returncode == 1 and "already exists" in r.stderr
    r = bb("volume", "rename", "newname", "b/ad")
    assert r.returncode == 1 and "invalid characters" in r.stderr
