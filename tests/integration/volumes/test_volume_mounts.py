"""Volumes in containers: walkthrough section 2 on real mounts."""

import json
import os

import pytest

from hold.volumes.testing import inspect_volume, run, volume_names


def test_walkthrough_named_volume_shared_between_containers(bb):
    bb.ok("volume", "create", "test-named-volume")
    r = run(bb, "--mount", "source=test-named-volume,target=/data", "bb",
            "sh", "-c", 'echo "Hello, Volume!" > /data/test.txt')
    assert r.returncode == 0, r.stderr
    mountpoint = inspect_volume(bb, "test-named-volume")["Mountpoint"]
    with open(os.path.join(mountpoint, "test.txt")) as f:
        assert f.read() == "Hello, Volume!\n"
    r = run(bb, "--mount", "source=test-named-volume,target=/srv/data", "bb",
            "cat", "/srv/data/test.txt")
    assert r.stdout == "Hello, Volume!\n", r.stderr
    assert volume_names(bb) == ["test-named-volume"]       # --rm keeps named volumes


def test_short_forms(bb):
    assert run(bb, "-v", "short:/d", "bb", "sh", "-c", "echo 1 > /d/f").returncode == 0
    assert run(bb, "-v", "short:/e:ro", "bb", "cat", "/e/f").stdout == "1\n"
    r = run(bb, "-v", "short:/e:ro", "bb", "sh", "-c", "echo 2 > /e/f")
    assert r.returncode != 0 and "Read-only file system" in r.stderr
    assert volume_names(bb) == ["short"]                   # auto-created, named, kept


def test_anonymous_volumes_go_with_rm_named_stay(bb):
    r = run(bb, "--mount", "target=/anon", "-v", "/anon2", "-v", "named:/n", "bb",
            "sh", "-c", "touch /anon/x /anon2/y /n/z")
    assert r.returncode == 0, r.stderr
    assert volume_names(bb) == ["named"]


def test_anonymous_volume_is_64_hex_and_flagged_in_inspect(bb):
    bb.ok("create", "--network", "none", "--name", "c1", "--mount", "target=/a",
          "-v", "n1:/b", "bb", "true")
    mounts = json.loads(bb.ok("inspect", "c1"))[0]["Mounts"]
    by_dest = {m["Destination"]: m for m in mounts}
    anon, named = by_dest["/a"], by_dest["/b"]
    assert len(anon["Name"]) == 64 and anon["Anonymous"] is True
    assert named["Name"] == "n1" and named["Anonymous"] is False
    for m in (anon, named):
        assert m["Type"] == "volume" and m["Driver"] == "local" and m["RW"] is True
        assert m["Source"] == inspect_volume(bb, m["Name"])["Mountpoint"]
        assert set(m) >= {"Type", "Name", "Source", "Destination", "Driver", "Mode",
                          "RW", "Propagation"}


def test_rm_v_removes_anonymous_volumes_only(bb):
    bb.ok("run", "--network", "none", "--name", "c2", "-v", "/anon", "-v", "kept:/k",
          "bb", "true")
    assert len(volume_names(bb)) == 2
    bb.ok("rm", "-v", "c2")
    assert volume_names(bb) == ["kept"]


def test_rm_without_v_keeps_anonymous_volumes(bb):
    bb.ok("run", "--network", "none", "--name", "c3", "-v", "/anon", "bb", "true")
    bb.ok("rm", "c3")
    assert len(volume_names(bb)) == 1
    assert bb.ok("volume", "ls", "-q", "--filter", "dangling=true").strip()


def test_anonymous_volume_shared_by_volumes_from_survives_rm(bb):
    bb.ok("create", "--network", "none", "--name", "owner", "-v", "/shared", "bb", "true")
    r = run(bb, "--volumes-from", "owner", "bb", "sh", "-c", "echo s > /shared/f")
    assert r.returncode == 0, r.stderr
    (name,) = volume_names(bb)                  # the --rm container did not take it
    r = run(bb, "--volumes-from", "owner:ro", "bb", "sh", "-c", "cat /shared/f; touch /shared/g")
    assert r.stdout == "s\n" and "Read-only file system" in r.stderr
    bb.ok("rm", "-v", "owner")
    assert volume_names(bb) == []


def test_volumes_from_missing_container(bb):
    r = run(bb, "--volumes-from", "ghost", "bb", "true")
    assert r.returncode == 125 and "No such container: ghost" in r.stderr


def test_copy_up_fills_a_new_volume_keeping_owner_mode_links(image_with_content):
    bb = image_with_content
    r = run(bb, "-v", "filled:/srv/app", "bb-content", "sh", "-c",
            "cat /srv/app/a.txt /srv/app/sub/b.txt /srv/app/link")
    assert r.stdout == "one\ntwo\none\n", r.stderr
    mp = inspect_volume(bb, "filled")["Mountpoint"]
    st = os.stat(os.path.join(mp, "sub", "b.txt"))
    assert (st.st_uid, st.st_gid, st.st_mode & 0o7777) == (65534, 65534, 0o640)
    assert os.stat(os.path.join(mp, "sub")).st_mode & 0o7777 == 0o750
    assert os.readlink(os.path.join(mp, "link")) == "a.txt"
    assert os.stat(os.path.join(mp, "hard")).st_ino == os.stat(os.path.join(mp, "a.txt")).st_ino
    root = os.stat(mp)
    assert (root.st_uid, root.st_mode & 0o7777) == (65534, 0o711)


def test_copy_up_never_overwrites_a_volume_with_data(image_with_content):
    bb = image_with_content
    bb.ok("volume", "create", "mine")
    with open(os.path.join(inspect_volume(bb, "mine")["Mountpoint"], "own.txt"), "w") as f:
        f.write("mine\n")
    r = run(bb, "-v", "mine:/srv/app", "bb-content", "ls", "/srv/app")
    assert r.stdout.split() == ["own.txt"], r.stderr


def test_copy_up_skipped_with_nocopy(image_with_content):
    bb = image_with_content
    r = run(bb, "--mount", "source=empty,target=/srv/app,volume-nocopy", "bb-content",
            "ls", "-A", "/srv/app")
    assert r.returncode == 0 and r.stdout == ""
    r = run(bb, "-v", "empty2:/srv/app:nocopy", "bb-content", "ls", "-A", "/srv/app")
    assert r.returncode == 0 and r.stdout == ""


def test_copy_up_into_anonymous_volume(image_with_content):
    r = run(image_with_content, "-v", "/srv/app", "bb-content", "cat", "/srv/app/a.txt")
    assert r.stdout == "one\n"


def test_image_volume_paths_get_anonymous_volumes(bb):
    bb.ok("run", "--network", "none", "--name", "mk", "bb", "sh", "-c",
          "mkdir -p /var/db && echo seed > /var/db/seed")
    bb.ok("commit", "-c", "VOLUME /var/db", "mk", "bb-vol:latest")
    bb.ok("rm", "mk")
    bb.ok("run", "--network", "none", "--name", "uses", "bb-vol", "sh", "-c",
          "cat /var/db/seed && echo more > /var/db/more")
    (name,) = volume_names(bb)
    assert len(name) == 64
    assert sorted(os.listdir(inspect_volume(bb, name)["Mountpoint"])) == ["more", "seed"]
    bb.ok("rm", "-v", "uses")
    assert volume_names(bb) == []
    r = run(bb, "-v", "explicit:/var/db", "bb-vol", "cat", "/var/db/seed")
    assert r.stdout == "seed\n"
    assert volume_names(bb) == ["explicit"]    # no extra anonymous volume at /var/db


def test_volume_subpath(bb):
    bb.ok("volume", "create", "sub")
    mp = inspect_volume(bb, "sub")["Mountpoint"]
    os.makedirs(os.path.join(mp, "a", "b"))
    with open(os.path.join(mp, "a", "b", "f"), "w") as f:
        f.write("deep\n")
    os.symlink("/", os.path.join(mp, "escape"))
    os.symlink("../../..", os.path.join(mp, "a", "up"))
    r = run(bb, "--mount", "source=sub,target=/x,volume-subpath=a/b", "bb", "cat", "/x/f")
    assert r.stdout == "deep\n", r.stderr
    for link in ("escape", "a/up"):      # both resolve to the volume's root, not the host's
        r = run(bb, "--mount", f"source=sub,target=/x,volume-subpath={link}", "bb", "ls", "/x")
        assert sorted(r.stdout.split()) == ["a", "escape"], (link, r.stdout, r.stderr)
    r = run(bb, "--mount", "source=sub,target=/x,volume-subpath=missing", "bb", "true")
    assert r.returncode != 0 and "does not exist in volume sub" in r.stderr


def test_volume_subpath_swap_race_never_escapes(bb):
    """A container swaps the subpath's directory for a symlink to / as fast
    as it can while others mount the subpath: none may see the host."""
    bb.ok("volume", "create", "racy")
    mp = inspect_volume(bb, "racy")["Mountpoint"]
    os.makedirs(os.path.join(mp, "d"))
    open(os.path.join(mp, "d", "inside"), "w").close()
    os.symlink("/", os.path.join(mp, "link"))
    bb.ok("run", "-d", "--network", "none", "--name", "swapper", "-v", "racy:/v", "bb", "sh",
          "-c", "cd /v; while :; do mv d t; mv link d; mv d link; mv t d; done")
    seen = set()
    try:
        for _ in range(15):
            r = run(bb, "--mount", "source=racy,target=/m,volume-subpath=d", "bb", "ls", "/m")
            listing = frozenset(r.stdout.split())
            seen.add(listing)
            assert listing <= {"inside", "d", "t", "link"}, (listing, r.stderr)
    finally:
        bb.ok("rm", "-f", "swapper")

def test_tmpfs_mounts(bb):
    r = run(bb, "--tmpfs", "/t:size=1m,mode=1770", "bb", "sh", "-c",
            "stat -c %a /t; df -k /t | tail -1")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "1770" and lines[1].split()[1] == "1024"
    r = run(bb, "--mount", "type=tmpfs,target=/m,tmpfs-size=2m", "bb", "sh", "-c",
            "df -k /m | tail -1")
    assert r.stdout.split()[1] == "2048"
    assert volume_names(bb) == []


def test_local_driver_tmpfs_volume_shared_while_mounted(bb):
    bb.ok("volume", "create", "-o", "type=tmpfs", "-o", "device=tmpfs", "-o", "o=size=1m",
          "ram")
    assert run(bb, "-v", "ram:/r", "bb", "sh", "-c", "echo hi > /r/f").returncode == 0
    bb.ok("create", "--network", "none", "--name", "keeper", "-v", "ram:/r", "bb", "true")
    r = bb("start", "-a", "keeper")
    r = run(bb, "-v", "ram:/r", "bb", "sh", "-c", "df -k /r | tail -1")
    assert r.stdout.split()[1] == "1024", r.stderr
    bb.ok("rm", "keeper")
    bb.ok("volume", "rm", "ram")


@pytest.mark.parametrize("args, message", [
    (["--mount", "type=volume,x=y,target=/d"],
     """invalid argument "type=volume,x=y,target=/d" for "--mount" flag: unexpected key 'x' in 'x=y'"""),
    (["--mount", "source=v"], "target is required"),
    (["-v", "a:b:c:d"], "invalid volume specification: 'a:b:c:d'"),
    (["-v", "good:/d", "--mount", "source=good2,target=/d"], "Duplicate mount point: /d"),
    (["-v", "rel/path:/x"], "includes invalid characters for a local volume name"),
    (["-v", "good:relative"], "mount path must be absolute"),
    (["--mount", "source=good,target=/x,volume-driver=nosuch"], "plugin 'nosuch' not found"),
    (["--mount", "source=good,target=/x,volume-opt=bogus=1"], 'invalid option: "bogus"'),
    (["--tmpfs", "/t:bogus"], "invalid tmpfs option: 'bogus'"),
    (["--volumes-from", "x:rx"], "invalid mode: rx"),
])
def test_bad_mount_specs_create_nothing(bb, args, message):
    r = bb("run", "--network", "none", "--name", "never", *args, "bb", "true")
    assert r.returncode == 125 and message in r.stderr, r.stderr
    assert bb.ok("ps", "-aq") == ""
    assert volume_names(bb) == []
    assert not os.listdir(os.path.join(bb.paths.root, "containers")) \
        if os.path.isdir(os.path.join(bb.paths.root, "containers")) else True


def test_name_conflict_removes_volumes_it_made(bb):
    bb.ok("create", "--network", "none", "--name", "taken", "bb", "true")
    r = bb("create", "--network", "none", "--name", "taken", "-v", "fresh:/f", "-v", "/a",
           "bb", "true")
    assert r.returncode == 1 and "already in use" in r.stderr   # create: 1, as Docker
    assert volume_names(bb) == []


def test_size_quota_gives_enospc_inside(bb):
    bb.ok("volume", "create", "-o", "size=8m", "-o", "uid=65534", "-o", "mode=0750", "small")
    r = run(bb, "-v", "small:/q", "bb", "sh", "-c",
            "stat -c '%u %a' /q; ls -A /q; dd if=/dev/zero of=/q/big bs=1M count=20")
    assert r.returncode != 0 and "No space left on device" in r.stderr
    assert r.stdout.splitlines() == ["65534 750"]          # owner, mode, no lost+found
    r = run(bb, "-v", "small:/q", "bb", "sh", "-c", "ls -l /q/big | awk '{print $5}'")
    assert 4 << 20 < int(r.stdout) < 8 << 20              # data kept, capped by the quota
    usage = json.loads(bb.ok("volume", "inspect", "--size", "small"))[0]["UsageData"]
    assert usage["Size"] > 4 << 20                        # the image file's allocation
    bb.ok("volume", "rm", "small")


@pytest.mark.parametrize("opts, message", [
    (["-o", "size=lots"], 'invalid option size="lots"'),
    (["-o", "size=1k"], "at least 4m"),
    (["-o", "size=8m", "-o", "type=tmpfs"], "cannot be combined with type="),
])
def test_size_quota_errors(hold, opts, message):
    r = hold("volume", "create", *opts, "vq")
    assert r.returncode == 1 and message in r.stderr
    assert volume_names(hold) == []
    assert not os.path.exists(os.path.join(hold.paths.root, "volumes", "vq"))


def test_copy_up_honours_whiteouts_and_opaque_dirs(bb):
    """Copy-up reads the union of the layers: a file deleted in an upper
    layer is not copied, a directory recreated there hides the lower one."""
    bb.ok("run", "--network", "none", "--name", "l1", "bb", "sh", "-c",
          "mkdir -p /srv/app /srv/opq && touch /srv/app/a /srv/app/b /srv/opq/old")
    bb.ok("commit", "l1", "layered:1")
    bb.ok("run", "--network", "none", "--name", "l2", "layered:1", "sh", "-c",
          "rm /srv/app/b && touch /srv/app/c && rm -rf /srv/opq && mkdir /srv/opq && "
          "touch /srv/opq/new")
    bb.ok("commit", "l2", "layered:2")
    bb.ok("rm", "l1", "l2")
    r = run(bb, "-v", "/srv/app", "-v", "/srv/opq", "layered:2", "sh", "-c",
            "ls /srv/app; echo --; ls /srv/opq")
    assert r.stdout.split() == ["a", "c", "--", "new"], r.stderr


def test_copy_up_includes_the_containers_own_changes_before_first_start(image_with_content):
    """What the container's writable layer holds at first start is copied too
    (Docker copies from the container's view)."""
    bb = image_with_content
    bb.ok("create", "--network", "none", "--name", "fresh", "-v", "seen:/srv/app",
          "bb-content", "ls", "/srv/app")
    upper = os.path.join(bb.paths.root, "containers",
                         bb.ok("inspect", "-f", "{{.Id}}", "fresh").strip(), "upper")
    assert os.path.isdir(upper)
    bb.ok("start", "-a", "fresh")
    assert "a.txt" in bb.ok("logs", "fresh").split()
    bb.ok("rm", "fresh")


def test_copy_up_redone_after_a_crash_mid_copy(image_with_content):
    bb = image_with_content
    bb.ok("volume", "create", "crashed")
    mp = inspect_volume(bb, "crashed")["Mountpoint"]
    staging = os.path.join(mp, ".hold-copyup")          # what a killed copy leaves
    os.makedirs(os.path.join(staging, "half"))
    r = run(bb, "-v", "crashed:/srv/app", "bb-content", "ls", "-A", "/srv/app")
    assert sorted(r.stdout.split()) == ["a.txt", "hard", "link", "sub"], r.stderr


def test_concurrent_first_starts_copy_once(image_with_content):
    import subprocess
    bb = image_with_content
    bb.ok("volume", "create", "shared-new")
    procs = [subprocess.Popen(bb.base + ["run", "--rm", "--network", "none", "-v",
                                         "shared-new:/srv/app", "bb-content", "cat",
                                         "/srv/app/a.txt"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(5)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 and out == "one\n" for p, (out, _) in zip(procs, outs)), outs
    mp = inspect_volume(bb, "shared-new")["Mountpoint"]
    assert sorted(os.listdir(mp)) == ["a.txt", "hard", "link", "sub"]


def test_tmpfs_data_options_and_flags(bb):
    r = run(bb, "--tmpfs", "/t:uid=65534,nr_inodes=100,nosuid", "bb", "stat", "-c", "%u", "/t")
    assert r.stdout == "65534\n", r.stderr
    r = run(bb, "--tmpfs", "/t:ro", "bb", "touch", "/t/x")
    assert r.returncode != 0 and "Read-only file system" in r.stderr
    r = run(bb, "--tmpfs", "/t:noexec,suid,noatime", "bb", "sh", "-c",
            "mount | grep ' /t '; cp /bin/busybox /t/bb; /t/bb true || echo refused")
    assert "noexec" in r.stdout and "nosuid" not in r.stdout and "noatime" in r.stdout
    assert "refused" in r.stdout
    assert bb.ok("ps", "-aq") == ""


def test_built_image_volume_instruction(bb, tmp_path):
    """Walkthrough: VOLUME in a Dockerfile gives every container an anonymous,
    pre-filled volume there; --rm takes it away again."""
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM bb\nRUN mkdir -p /data && echo seeded > /data/seed\n"
                                    "VOLUME /data\n")
    bb.ok("build", "-t", "withvol", str(ctx))
    r = run(bb, "withvol", "sh", "-c", "cat /data/seed; grep ' /data ' /proc/self/mountinfo")
    assert r.stdout.startswith("seeded\n") and " /data " in r.stdout, r.stderr
    assert volume_names(bb) == []
    bb.ok("run", "--network", "none", "--name", "keeps", "withvol", "true")
    (name,) = volume_names(bb)
    assert len(name) == 64
    bb.ok("rm", "-v", "keeps")
    assert volume_names(bb) == []


def test_volume_pruned_while_a_container_is_created_fails_cleanly(bb, monkeypatch):
    """A prune -a between resolving the mounts and writing the record takes
    the still-unused new volume: the create must fail, not record a dangling
    reference."""
    from hold.containers.config import RunOptions
    from hold.engine import Engine
    from hold.errors import Conflict
    from hold.volumes.service import VolumeService
    original = VolumeService.resolve_mounts

    def racing(self, *args, **kw):
        result = original(self, *args, **kw)
        self.prune(all_volumes=True)
        return result
    monkeypatch.setattr(VolumeService, "resolve_mounts", racing)
    engine = Engine(bb.paths)
    with pytest.raises(Conflict, match="was removed while the container was being created"):
        engine.containers.create("bb", RunOptions(command=["true"], network="none",
                                                  volumes=["racy:/r"]))
    assert bb.ok("ps", "-aq") == "" and volume_names(bb) == []


def test_copy_up_past_a_quota_is_a_clean_error(bb):
    bb.ok("run", "--network", "none", "--name", "big", "bb", "sh", "-c",
          "mkdir /fat && dd if=/dev/zero of=/fat/blob bs=1M count=12 2>/dev/null")
    bb.ok("commit", "big", "fat:1")
    bb.ok("rm", "big")
    bb.ok("volume", "create", "-o", "size=8m", "tiny")
    r = bb("run", "--rm", "--network", "none", "-v", "tiny:/fat", "fat:1", "true")
    assert r.returncode == 125 and "No space left on device" in r.stderr
    assert "Traceback" not in r.stderr
    bb.ok("volume", "rm", "tiny")
