"""unpack_layer and pack_upperdir against crafted tarballs: every way out of
the layer directory is refused, and every kind of entry comes through."""

from __future__ import annotations

import io
import os
import stat
import tarfile

import pytest

from hold.errors import UnsafeArchive
from hold.images.layers import OPAQUE_XATTR, pack_upperdir, unpack_layer


@pytest.fixture
def dest(tmp_path):
    path = tmp_path / "layer"
    path.mkdir()
    return str(path)


@pytest.fixture
def outside(tmp_path):
    """A directory beside the layer that nothing may ever write into."""
    path = tmp_path / "outside"
    path.mkdir()
    (path / "victim").write_text("original")
    return path


def refused(tar_path, dest, *needles):
    with pytest.raises(UnsafeArchive) as info:
        unpack_layer(tar_path, dest)
    message = str(info.value)
    for needle in needles:
        assert needle in message, message
    assert "\n" not in message
    return message


def test_dotdot_component_refused(make_tar, dest, outside):
    refused(make_tar(("file", "../outside/victim", b"pwned")), dest,
            "'../outside/victim'", "'..'")
    assert (outside / "victim").read_text() == "original"


def test_dotdot_in_the_middle_refused(make_tar, dest):
    refused(make_tar(("dir", "a"), ("file", "a/../../x", b"x")), dest, "'..'")


def test_absolute_names_are_kept_inside_like_docker(make_tar, dest, tmp_path):
    target = tmp_path / "abs-target"
    unpack_layer(make_tar(("file", str(target), b"inside")), dest)
    assert not target.exists()
    inside = os.path.join(dest, str(target).lstrip("/"))
    assert open(inside, "rb").read() == b"inside"


def test_write_through_planted_symlink_refused(make_tar, dest, outside):
    refused(make_tar(("symlink", "link", str(outside)), ("file", "link/victim", b"pwned")),
            dest, "'link/victim'", "parent 'link' is a symlink")
    assert (outside / "victim").read_text() == "original"


def test_write_through_relative_escaping_symlink_refused(make_tar, dest, outside):
    refused(make_tar(("symlink", "up", "../outside"), ("dir", "up/sub")), dest, "symlink")
    assert not (outside / "sub").exists()


def test_escaping_symlinks_are_stored_not_followed(make_tar, dest, outside):
    unpack_layer(make_tar(("symlink", "etc", "../../../../etc"),
                          ("symlink", "abs", str(outside / "victim"))), dest)
    assert os.readlink(os.path.join(dest, "etc")) == "../../../../etc"
    assert os.readlink(os.path.join(dest, "abs")) == str(outside / "victim")


def test_file_replacing_a_symlink_does_not_write_through_it(make_tar, dest, outside):
    unpack_layer(make_tar(("symlink", "x", str(outside / "victim")),
                          ("file", "x", b"mine")), dest)
    assert (outside / "victim").read_text() == "original"
    assert not os.path.islink(os.path.join(dest, "x"))
    assert open(os.path.join(dest, "x"), "rb").read() == b"mine"


def test_hardlink_out_of_the_archive_refused(make_tar, dest):
    refused(make_tar(("hardlink", "h", "../outside/victim")), dest, "'..'")
    refused(make_tar(("hardlink", "h", "/etc/passwd")), dest,
            "'h'", "not an earlier member")


def test_hardlink_through_symlink_refused(make_tar, dest):
    refused(make_tar(("symlink", "s", "/etc"), ("hardlink", "h", "s/passwd")), dest,
            "parent 's' is a symlink")


def test_hardlink_to_directory_refused(make_tar, dest):
    refused(make_tar(("dir", "d"), ("hardlink", "h", "d")), dest, "hard link to directory")


@pytest.mark.parametrize("kind, major, minor", [("blk", 8, 0), ("chr", 1, 1), ("chr", 4, 1)])
def test_dangerous_devices_refused(make_tar, dest, kind, major, minor):
    word = "block" if kind == "blk" else "character"
    refused(make_tar((kind, "dev/x", major, minor)), dest,
            "'dev/x'", f"{word} device {major}:{minor} is not allowed")


def test_devices_allowed_when_asked(make_tar, dest):
    unpack_layer(make_tar(("blk", "sda", 8, 0)), dest, allow_devices=True)
    st = os.lstat(os.path.join(dest, "sda"))
    assert stat.S_ISBLK(st.st_mode) and os.major(st.st_rdev) == 8


def test_safe_devices_and_fifo_kept(make_tar, dest):
    unpack_layer(make_tar(("dir", "dev"), ("chr", "dev/null", 1, 3, {"mode": 0o666}),
                          ("fifo", "dev/pipe")), dest)
    st = os.lstat(os.path.join(dest, "dev/null"))
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(1, 3)
    assert stat.S_IMODE(st.st_mode) == 0o666
    assert stat.S_ISFIFO(os.lstat(os.path.join(dest, "dev/pipe")).st_mode)


@pytest.mark.parametrize("name", [".wh..", ".wh...", ".wh.", "sub/.wh...", "sub/.wh.."])
def test_whiteout_of_dot_or_dotdot_refused(make_tar, dest, outside, name):
    refused(make_tar(("dir", "sub"), ("file", name)), dest, "whiteout of")
    assert (outside / "victim").exists() and os.path.isdir(dest)


def test_overlay_xattrs_in_headers_are_dropped(make_tar, dest):
    unpack_layer(make_tar(("dir", "d", {"pax_headers": {
        "SCHILY.xattr.trusted.overlay.redirect": "/elsewhere",
        "SCHILY.xattr.trusted.overlay.opaque": "y"}})), dest)
    assert not [x for x in os.listxattr(os.path.join(dest, "d")) if "overlay" in x]


def test_later_members_replace_earlier_ones(make_tar, dest):
    unpack_layer(make_tar(("dir", "a"), ("file", "a/x", b"1"), ("file", "a", b"file now"),
                          ("file", "b", b"1"), ("dir", "b"), ("symlink", "c", "b"),
                          ("dir", "c")), dest)
    assert open(os.path.join(dest, "a"), "rb").read() == b"file now"
    assert os.path.isdir(os.path.join(dest, "b"))
    assert os.path.isdir(os.path.join(dest, "c")) and not os.path.islink(os.path.join(dest, "c"))


def test_entries_the_kernel_refuses_are_named(make_tar, dest):
    from hold.errors import InvalidArgument
    with pytest.raises(InvalidArgument, match="tar member 'a' cannot be created"):
        unpack_layer(make_tar(("symlink", "a", "")), dest)


def test_member_under_a_file_refused(make_tar, dest):
    refused(make_tar(("file", "f", b"x"), ("file", "f/child", b"y")), dest,
            "parent 'f' is not a directory")


def test_ownership_modes_times_xattrs_hardlinks(make_tar, dest):
    unpack_layer(make_tar(
        ("dir", "bin", {"uid": 7, "gid": 8, "mode": 0o750, "mtime": 1_500_000_000}),
        ("file", "bin/su", b"#!", {"uid": 0, "gid": 0, "mode": 0o4755}),
        ("file", "bin/ping", b"elf", {"pax_headers": {
            "SCHILY.xattr.user.note": "hello",
            "SCHILY.xattr.security.capability":
                b"\x01\x00\x00\x02\x00\x20\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
                b"\x00\x00\x00\x00".decode("utf-8", "surrogateescape")}}),
        ("hardlink", "bin/su2", "bin/su"),
        ("symlink", "bin/sh", "busybox", {"uid": 5, "gid": 6}),
        ("file", "owned", b"", {"uid": 1234, "gid": 5678, "mtime": 1_234_567_890}),
    ), dest)
    d = os.lstat(os.path.join(dest, "bin"))
    assert (d.st_uid, d.st_gid, stat.S_IMODE(d.st_mode)) == (7, 8, 0o750)
    assert int(d.st_mtime) == 1_500_000_000
    su = os.lstat(os.path.join(dest, "bin/su"))
    assert stat.S_IMODE(su.st_mode) == 0o4755
    assert os.lstat(os.path.join(dest, "bin/su2")).st_ino == su.st_ino
    owned = os.lstat(os.path.join(dest, "owned"))
    assert (owned.st_uid, owned.st_gid, int(owned.st_mtime)) == (1234, 5678, 1_234_567_890)
    link = os.lstat(os.path.join(dest, "bin/sh"))
    assert (link.st_uid, link.st_gid) == (5, 6)
    ping = os.path.join(dest, "bin/ping")
    assert os.getxattr(ping, "user.note") == b"hello"
    assert os.getxattr(ping, "security.capability")[:4] == b"\x01\x00\x00\x02"


def test_oci_whiteouts_become_overlay_whiteouts(make_tar, dest):
    unpack_layer(make_tar(("dir", "etc"), ("file", "etc/.wh.passwd"),
                          ("dir", "var"), ("file", "var/.wh..wh..opq"),
                          ("file", "var/new", b"n"), ("file", ".wh..wh.plnk")), dest)
    white = os.lstat(os.path.join(dest, "etc/passwd"))
    assert stat.S_ISCHR(white.st_mode) and white.st_rdev == os.makedev(0, 0)
    assert os.getxattr(os.path.join(dest, "var"), OPAQUE_XATTR) == b"y"
    assert sorted(os.listdir(dest)) == ["etc", "var"]
    assert os.listdir(os.path.join(dest, "var")) == ["new"]


def _upperdir(root):
    os.makedirs(f"{root}/etc")
    os.makedirs(f"{root}/var/cache")
    with open(f"{root}/etc/hosts", "w") as f:
        f.write("127.0.0.1 localhost\n")
    os.link(f"{root}/etc/hosts", f"{root}/etc/hosts.bak")
    os.symlink("hosts", f"{root}/etc/h")
    os.mknod(f"{root}/etc/shadow", stat.S_IFCHR, os.makedev(0, 0))
    os.setxattr(f"{root}/var/cache", OPAQUE_XATTR, b"y")
    os.setxattr(f"{root}/etc/hosts", "user.k", b"v")
    os.chown(f"{root}/etc/hosts", 42, 43)
    for path in (f"{root}/etc/hosts", f"{root}/etc", f"{root}/var/cache", f"{root}/var"):
        os.utime(path, (1_700_000_000, 1_700_000_000))


def test_pack_upperdir_turns_overlay_whiteouts_into_oci(tmp_path):
    root = str(tmp_path / "upper")
    _upperdir(root)
    buf = io.BytesIO()
    pack_upperdir(root, buf)
    buf.seek(0)
    with tarfile.open(fileobj=buf) as tar:
        members = {m.name: m for m in tar.getmembers()}
    # sorted by the names in the upperdir: the whiteout sits where shadow was
    assert list(members) == ["etc", "etc/h", "etc/hosts", "etc/hosts.bak",
                             "etc/.wh.shadow", "var", "var/cache",
                             "var/cache/.wh..wh..opq"]
    assert members["etc/hosts.bak"].islnk() and members["etc/hosts.bak"].linkname == "etc/hosts"
    assert members["etc/.wh.shadow"].isreg() and members["etc/.wh.shadow"].size == 0
    assert members["etc/hosts"].pax_headers.get("SCHILY.xattr.user.k") == "v"
    assert (members["etc/hosts"].uid, members["etc/hosts"].mtime) == (42, 1_700_000_000)
    assert not any("trusted.overlay" in k for m in members.values() for k in m.pax_headers)


def test_pack_is_deterministic_and_round_trips(tmp_path):
    root = str(tmp_path / "upper")
    _upperdir(root)
    first, second = io.BytesIO(), io.BytesIO()
    pack_upperdir(root, first)
    os.utime(f"{root}/etc/hosts", (1, 1_700_000_000))  # atime must not matter
    pack_upperdir(root, second)
    assert first.getvalue() == second.getvalue()
    tar_path = tmp_path / "layer.tar"
    tar_path.write_bytes(first.getvalue())
    back = tmp_path / "back"
    back.mkdir()
    unpack_layer(str(tar_path), str(back))
    again = io.BytesIO()
    pack_upperdir(str(back), again)
    assert again.getvalue() == first.getvalue()


def test_pack_refuses_redirected_directories(tmp_path):
    from hold.errors import Unsupported
    root = tmp_path / "upper"
    (root / "moved").mkdir(parents=True)
    os.setxattr(root / "moved", "trusted.overlay.redirect", b"/old")
    with pytest.raises(Unsupported, match="redirect_dir=off"):
        pack_upperdir(str(root), io.BytesIO())
