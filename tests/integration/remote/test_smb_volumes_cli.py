"""The walkthrough's volume flow on an SMB share, through the CLI and real
containers: what one container writes, a second one on a fresh mount
reads, and the bytes are on the Samba server (on its disk, and through the
SMB protocol)."""

from __future__ import annotations

import json
import os

from hold.volumes.remote.testing import fuse_mounts_under


def create_share_volume(bb, samba, name: str, *extra: str, password_file: str | None = None,
                        input: str | None = None):
    return bb("volume", "create", "-d", "smb", "-o", f"share={samba.unc}",
              "-o", f"username={samba.user}",
              "-o", f"password-file={password_file or samba.password_file}",
              *extra, name, input=input)


def test_containers_share_data_through_an_smb_volume(bb, samba):
    r = create_share_volume(bb, samba, "share1")
    assert r.returncode == 0, r.stderr
    bb.ok("run", "--rm", "--network", "none", "-v", "share1:/data", "bb",
          "sh", "-c", "echo written-by-first > /data/greeting && mkdir /data/sub")
    assert fuse_mounts_under(bb.paths.root) == []       # unmounted after the last user
    out = bb.ok("run", "--rm", "--network", "none", "-v", "share1:/data", "bb",
                "cat", "/data/greeting")
    assert out == "written-by-first\n"
    on_disk = os.path.join(samba.share_dir, "share1", "greeting")
    with open(on_disk, "rb") as f:
        assert f.read() == b"written-by-first\n"
    assert samba.get("share1/greeting") == b"written-by-first\n"
    bb.ok("volume", "rm", "share1")
    assert not os.path.exists(os.path.join(samba.share_dir, "share1"))


def test_non_root_container_user_can_write(bb, samba):
    assert create_share_volume(bb, samba, "open", "-o", "uid=1000", "-o", "gid=1000",
                               "-o", "file_mode=0664", "-o", "dir_mode=0775").returncode == 0
    out = bb.ok("run", "--rm", "--network", "none", "--user", "1000:1000",
                "-v", "open:/data", "bb", "sh", "-c",
                "echo mine > /data/by-user && stat -c '%u %a' /data/by-user")
    assert out.split() == ["1000", "664"]
    assert samba.get("open/by-user") == b"mine\n"
    bb.ok("volume", "rm", "open")


def test_password_never_printed_and_can_come_from_stdin(bb, samba):
    with open(samba.password_file) as f:
        password = f.read().strip()
    r = create_share_volume(bb, samba, "fromstdin", password_file="-", input=password + "\n")
    assert r.returncode == 0, r.stderr
    inspect = bb.ok("volume", "inspect", "fromstdin")
    listing = bb.ok("volume", "ls")
    document = json.loads(inspect)[0]
    assert document["Driver"] == "smb" and document["Options"]["password-file"] == "-"
    assert document["Scope"] == "global" and document["Status"]["Client"] == "rclone"
    assert "fsync does not reach" in document["Status"]["Durability"]
    bb.ok("run", "--rm", "--network", "none", "-v", "fromstdin:/data", "bb", "true")
    log = os.path.join(bb.paths.root, "volumes", "fromstdin", "fuse.log")
    with open(log) as f:
        logged = f.read()
    for text in (inspect, listing, logged):
        assert password not in text
    bb.ok("volume", "rm", "fromstdin")


def test_bad_options_and_wrong_password_are_clear_one_line_errors(bb, samba, tmp_path):
    r = bb("volume", "create", "-d", "smb", "-o", "share=//127.0.0.1/data",
           "-o", "username=u", "-o", "password=hunter2", "leaky")
    assert r.returncode != 0 and "password-file" in r.stderr and "hunter2" not in r.stderr
    r = bb("volume", "create", "-d", "smb", "-o", "shares=x", "typo")
    assert r.returncode != 0 and "accepts" in r.stderr and "share" in r.stderr
    wrong = tmp_path / "wrong"
    wrong.write_text("nope\n")
    r = create_share_volume(bb, samba, "denied", password_file=str(wrong))
    assert r.returncode != 0 and "logon" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert bb.ok("volume", "ls", "-q").split() == []


def test_mount_flag_creates_the_volume_with_its_driver(bb, samba):
    spec = (f"type=volume,source=bymount,target=/data,volume-driver=smb,"
            f"volume-opt=share={samba.unc},volume-opt=username={samba.user},"
            f"volume-opt=password-file={samba.password_file}")
    bb.ok("run", "--rm", "--network", "none", "--mount", spec, "bb",
          "sh", "-c", "echo via-mount > /data/m")
    assert samba.get("bymount/m") == b"via-mount\n"
    assert bb.ok("volume", "inspect", "-f", "{{.Driver}}", "bymount") == "smb\n"
    bb.ok("volume", "rm", "bymount")


def test_detached_rm_container_releases_the_mount_from_its_monitor(bb, samba):
    import time
    assert create_share_volume(bb, samba, "detached").returncode == 0
    cid = bb.ok("run", "-d", "--rm", "--network", "none", "-v", "detached:/data", "bb",
                "sh", "-c", "echo from-detached > /data/d; sleep 1").strip()
    assert fuse_mounts_under(bb.paths.root)               # mounted while it runs
    deadline = time.monotonic() + 60
    while cid in bb.ok("ps", "-aq", "--no-trunc") or fuse_mounts_under(bb.paths.root):
        assert time.monotonic() < deadline, "the monitor did not release the mount"
        time.sleep(0.2)
    assert samba.get("detached/d") == b"from-detached\n"
    bb.ok("volume", "rm", "detached")


def test_mount_lives_from_first_start_to_last_stop(bb, samba):
    assert create_share_volume(bb, samba, "kept").returncode == 0
    bb.ok("run", "-d", "--name", "user1", "--network", "none", "-v", "kept:/data", "bb",
          "sleep", "60")
    assert fuse_mounts_under(bb.paths.root)               # mounted while it runs
    bb.ok("stop", "-t", "0", "user1")
    assert fuse_mounts_under(bb.paths.root) == []         # its last user stopped
    bb.ok("start", "user1")                                # mounted again at start
    bb.ok("exec", "user1", "sh", "-c", "echo once > /data/k")
    assert fuse_mounts_under(bb.paths.root)
    bb.ok("rm", "-f", "user1")
    assert fuse_mounts_under(bb.paths.root) == []
    assert samba.get("kept/k") == b"once\n"
    bb.ok("volume", "rm", "kept")


def test_system_check_clears_a_dead_fuse_mount_and_next_use_remounts(bb, samba):
    import signal
    import time
    assert create_share_volume(bb, samba, "crashy").returncode == 0
    bb.ok("run", "-d", "--name", "user1", "--network", "none", "-v", "crashy:/data", "bb",
          "sh", "-c", "echo before > /data/c; exec sleep 60")
    deadline = time.monotonic() + 20
    while True:                         # uploaded (about 1s after the close)
        try:
            samba.get("crashy/c")
            break
        except FileNotFoundError:
            assert time.monotonic() < deadline
            time.sleep(0.2)
    with open(os.path.join(bb.paths.root, "volumes", "crashy", "fuse.pid")) as f:
        os.kill(int(f.read().split()[0]), signal.SIGKILL)
    bb.ok("stop", "-t", "0", "user1")                   # its user stops on a dead mount
    bb.ok("system", "check")
    assert fuse_mounts_under(bb.paths.root) == []
    assert bb.ok("run", "--rm", "--network", "none", "-v", "crashy:/data", "bb",
                 "cat", "/data/c") == "before\n"
    bb.ok("rm", "user1")
    assert fuse_mounts_under(bb.paths.root) == []
    bb.ok("volume", "rm", "crashy")
