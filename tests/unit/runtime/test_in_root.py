"""in_root: a mount target inside a container rootfs never escapes it."""

import os

from hold.runtime.init import in_root


def test_plain_and_dotdot(tmp_path):
    root = str(tmp_path)
    assert in_root(root, "/a/b") == os.path.join(root, "a/b")
    assert in_root(root, "/../../etc") == os.path.join(root, "etc")


def test_absolute_symlink_resolves_inside(tmp_path):
    root = tmp_path
    (root / "real").mkdir()
    os.symlink("/real", root / "link")
    os.symlink("/etc", root / "evil")
    assert in_root(str(root), "/link/x") == str(root / "real" / "x")
    assert in_root(str(root), "/evil/passwd") == str(root / "etc" / "passwd")


def test_relative_symlink_cannot_climb_out(tmp_path):
    os.symlink("../../../../etc", tmp_path / "up")
    assert in_root(str(tmp_path), "/up/shadow") == str(tmp_path / "etc" / "shadow")
