"""Bind mounts: walkthrough section 3 on real mounts."""

import json
import os

import pytest

from hold.volumes.testing import run


def test_changes_visible_both_ways(bb, tmp_path):
    src = tmp_path / "share"
    src.mkdir()
    (src / "from-host").write_text("host\n")
    r = run(bb, "--mount", f"type=bind,source={src},target=/hostusers", "bb", "sh", "-c",
            "cat /hostusers/from-host; echo box > /hostusers/from-box")
    assert r.stdout == "host\n", r.stderr
    assert (src / "from-box").read_text() == "box\n"


def test_bind_hides_image_directory(bb, host_dir):
    r = run(bb, "-v", f"{host_dir}:/bin/extra", "bb", "true")
    assert r.returncode == 0
    r = run(bb, "--mount", f"type=bind,src={host_dir},dst=/etc", "bb",
            "/bin/ls", "/etc")
    assert "passwd" not in r.stdout.split()


def test_mount_bind_missing_source_is_an_error(bb, tmp_path):
    missing = tmp_path / "missing"
    r = bb("run", "--network", "none", "--mount", f"type=bind,source={missing},target=/x",
           "bb", "true")
    assert r.returncode == 125
    assert (f'invalid mount config for type "bind": bind source path does not exist: '
            f"{missing}") in r.stderr
    assert not missing.exists() and bb.ok("ps", "-aq") == ""


def test_short_bind_creates_missing_source(bb, tmp_path):
    missing = tmp_path / "made" / "here"
    r = run(bb, "-v", f"{missing}:/x", "bb", "touch", "/x/f")
    assert r.returncode == 0, r.stderr
    assert missing.is_dir() and (missing / "f").exists()


def test_relative_host_path_with_mount_is_refused(bb):
    r = bb("run", "--network", "none", "--mount", "type=bind,source=rel/dir,target=/x",
           "bb", "true")
    assert r.returncode == 125 and "relative host paths are not accepted" in r.stderr


def test_readonly_bind_write_fails_with_erofs(bb, host_dir):
    (host_dir / "f").write_text("keep\n")
    for spec in (["--mount", f"type=bind,source={host_dir},target=/ro,readonly"],
                 ["-v", f"{host_dir}:/ro:ro"]):
        r = run(bb, *spec, "bb", "sh", "-c", "cat /ro/f; echo x > /ro/f")
        assert r.stdout == "keep\n"
        assert r.returncode != 0 and "Read-only file system" in r.stderr
    assert (host_dir / "f").read_text() == "keep\n"


def test_bind_mount_of_a_file(bb, tmp_path):
    conf = tmp_path / "app.conf"
    conf.write_text("setting=1\n")
    r = run(bb, "-v", f"{conf}:/etc/app.conf:ro", "bb", "cat", "/etc/app.conf")
    assert r.stdout == "setting=1\n", r.stderr


def test_propagation_mode_is_recorded_and_applied(bb, host_dir):
    """A shared host mount bound rslave shows its master inside; rprivate
    does not, and a mount made on the host later appears only with rslave."""
    import subprocess
    subprocess.run(["mount", "--bind", str(host_dir), str(host_dir)], check=True)
    try:
        subprocess.run(["mount", "--make-rshared", str(host_dir)], check=True)
        for mode, shows_master in (("rslave", True), ("rprivate", False)):
            name = f"prop-{mode}"
            bb.ok("create", "--network", "none", "--name", name, "--mount",
                  f"type=bind,source={host_dir},target=/p,bind-propagation={mode}", "bb",
                  "cat", "/proc/self/mountinfo")
            (mount,) = json.loads(bb.ok("inspect", name))[0]["Mounts"]
            assert mount["Type"] == "bind" and mount["Propagation"] == mode
            assert mount["Source"] == str(host_dir) and mount["RW"] is True
            bb.ok("start", "-a", name)
            line = [l for l in bb.ok("logs", name).splitlines() if l.split()[4] == "/p"]
            assert line and ("master:" in line[0]) == shows_master, line
            bb.ok("rm", name)
    finally:
        subprocess.run(["umount", "-l", str(host_dir)], check=True)


@pytest.mark.parametrize("source", ["/", "/etc", "/proc", "/sys", "/dev", "/boot",
                                    "/proc/sys", "/var/lib/hold", "/run/hold", "/var"])
def test_sensitive_sources_refused_without_override(bb, source):
    r = bb("run", "--network", "none", "-v", f"{source}:/host", "bb", "true")
    assert r.returncode == 125
    assert "refusing to bind-mount" in r.stderr and "--allow-sensitive-mounts" in r.stderr
    assert bb.ok("ps", "-aq") == ""


def test_engine_roots_refused(bb):
    for source in (bb.paths.root, bb.paths.runroot, os.path.dirname(bb.paths.root)):
        r = bb("run", "--network", "none", "--mount",
               f"type=bind,source={source},target=/x", "bb", "true")
        assert r.returncode == 125 and "data root" in r.stderr or "runtime root" in r.stderr


def test_symlink_to_etc_is_caught(bb, tmp_path):
    link = tmp_path / "innocent"
    link.symlink_to("/etc")
    r = bb("run", "--network", "none", "-v", f"{link}:/x", "bb", "true")
    assert r.returncode == 125 and "refusing to bind-mount" in r.stderr


def test_override_flag_allows_it(bb):
    r = run(bb, "--allow-sensitive-mounts", "-v", "/etc:/hostetc:ro", "bb",
            "test", "-f", "/hostetc/hostname")
    assert r.returncode == 0, r.stderr


def test_files_under_etc_are_allowed(bb):
    r = run(bb, "-v", "/etc/hostname:/h:ro", "bb", "cat", "/h")
    assert r.returncode == 0 and r.stdout.strip()


def test_bind_nonrecursive_is_refused_not_ignored(bb, host_dir):
    r = bb("run", "--rm", "--network", "none", "--mount",
           f"type=bind,source={host_dir},target=/x,bind-nonrecursive", "bb", "true")
    assert r.returncode == 125 and "bind-nonrecursive is not supported yet" in r.stderr


def test_failed_create_makes_no_host_dir(bb, tmp_path):
    wanted = tmp_path / "not-yet"
    r = bb("run", "--rm", "--network", "none", "-v", f"{wanted}:/a", "--mount",
           "source=vv,target=/b,volume-opt=bogus=1", "bb", "true")
    assert r.returncode == 125 and 'invalid option: "bogus"' in r.stderr
    assert not wanted.exists()
    assert bb.ok("volume", "ls", "-q") == ""


def test_volumes_from_inherits_binds_and_tmpfs_and_explicit_wins(bb, host_dir):
    (host_dir / "f").write_text("bound\n")
    bb.ok("create", "--network", "none", "--name", "src", "-v", f"{host_dir}:/b",
          "--tmpfs", "/t", "-v", "named:/n", "bb", "true")
    r = run(bb, "--volumes-from", "src:ro", "bb", "sh", "-c",
            "cat /b/f; grep -E ' /(b|t|n) ' /proc/self/mountinfo | awk '{print $5, $6}'")
    lines = r.stdout.splitlines()
    assert lines[0] == "bound", r.stderr
    assert sorted(l.split()[0] for l in lines[1:]) == ["/b", "/n", "/t"]
    assert all(l.split()[1].startswith("ro") for l in lines[1:])
    r = run(bb, "--volumes-from", "src", "-v", "other:/b", "bb", "ls", "/b")
    assert r.stdout == "", r.stderr                  # the explicit volume replaced the bind
