"""`hold volume create|inspect|ls|rm|prune`: output, JSON, messages, exit codes."""

import json
import os
import subprocess
import time

import pytest

from hold.volumes.testing import inspect_volume, run, volume_names


def test_create_and_inspect_walkthrough(hold):
    assert hold.ok("volume", "create", "test-named-volume") == "test-named-volume\n"
    doc = inspect_volume(hold, "test-named-volume")
    assert sorted(doc) == ["CreatedAt", "Driver", "Labels", "Mountpoint", "Name",
                           "Options", "Scope"]
    assert doc["Driver"] == "local" and doc["Scope"] == "local"
    assert doc["Name"] == "test-named-volume" and doc["Labels"] == {} and doc["Options"] == {}
    assert doc["Mountpoint"] == os.path.join(hold.paths.root, "volumes",
                                             "test-named-volume", "_data")
    assert os.path.isdir(doc["Mountpoint"])
    assert doc["CreatedAt"].endswith("Z")
    hold.ok("volume", "rm", "test-named-volume")


def test_create_without_name_is_anonymous_64_hex(hold):
    name = hold.ok("volume", "create").strip()
    assert len(name) == 64 and all(c in "0123456789abcdef" for c in name)
    assert "com.docker.volume.anonymous" in inspect_volume(hold, name)["Labels"]


def test_create_labels_options_and_existing_name(hold):
    hold.ok("volume", "create", "--label", "tier=db", "--label", "x", "-o", "mode=0700", "vol1")
    doc = inspect_volume(hold, "vol1")
    assert doc["Labels"] == {"tier": "db", "x": ""} and doc["Options"] == {"mode": "0700"}
    assert os.stat(doc["Mountpoint"]).st_mode & 0o777 == 0o700
    assert hold.ok("volume", "create", "vol1") == "vol1\n"      # idempotent, as Docker


@pytest.mark.parametrize("args, message", [
    (["a"], '"a" includes invalid characters for a local volume name'),
    (["a/b"], 'only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed'),
    (["-o", "bogus=1", "vv"], 'invalid option: "bogus"'),
    (["-d", "nosuchdriver", "vv"], "plugin 'nosuchdriver' not found"),
    (["-o", "uid=x", "vv"], 'invalid option uid="x"'),
])
def test_create_errors_change_nothing(hold, args, message):
    r = hold("volume", "create", *args)
    assert r.returncode == 1 and message in r.stderr, r.stderr
    assert r.stderr.startswith("Error response from daemon: ")
    assert volume_names(hold) == []
    assert not os.path.exists(os.path.join(hold.paths.root, "volumes", "vv"))


def test_inspect_missing_and_format(hold):
    hold.ok("volume", "create", "here")
    r = hold("volume", "inspect", "here", "nothere")
    assert r.returncode == 1 and "No such volume: nothere" in r.stderr
    assert [d["Name"] for d in json.loads(r.stdout)] == ["here"]
    assert hold.ok("volume", "inspect", "-f", "{{.Driver}} {{.Name}}", "here") == "local here\n"


def test_inspect_size(hold):
    hold.ok("volume", "create", "sized")
    mp = inspect_volume(hold, "sized")["Mountpoint"]
    with open(os.path.join(mp, "f"), "wb") as f:
        f.write(b"x" * 10000)
    usage = json.loads(hold.ok("volume", "inspect", "--size", "sized"))[0]["UsageData"]
    assert usage["Size"] >= 10000 and usage["RefCount"] == 0


def test_ls_table_quiet_filters_and_format(bb):
    bb.ok("volume", "create", "--label", "tier=db", "db-data")
    bb.ok("volume", "create", "web-data")
    bb.ok("create", "--network", "none", "--name", "user", "-v", "db-data:/d", "bb", "true")
    table = bb.ok("volume", "ls")
    assert table.splitlines()[0].split() == ["DRIVER", "VOLUME", "NAME"]
    assert "local     db-data" in table
    assert bb.ok("volume", "ls", "-q", "--filter", "dangling=true").split() == ["web-data"]
    assert bb.ok("volume", "ls", "-q", "--filter", "dangling=false").split() == ["db-data"]
    assert bb.ok("volume", "ls", "-q", "--filter", "label=tier=db").split() == ["db-data"]
    assert bb.ok("volume", "ls", "-q", "--filter", "name=web").split() == ["web-data"]
    assert bb.ok("volume", "ls", "-q", "--filter", "driver=local").split() == \
        ["db-data", "web-data"]
    assert bb.ok("volume", "ls", "-q", "--filter", "driver=other").split() == []
    assert bb.ok("volume", "ls", "--format", "{{.Name}}:{{.Links}}").split() == \
        ["db-data:1", "web-data:0"]
    rows = [json.loads(line) for line in bb.ok("volume", "ls", "--format", "json").splitlines()]
    assert {r["Name"] for r in rows} == {"db-data", "web-data"}


@pytest.mark.parametrize("flt, message", [
    ("dangling=maybe", "invalid filter 'dangling=[maybe]'"),
    ("colour=red", "invalid filter 'colour'"),
    ("nonsense", "bad format of filter"),
])
def test_ls_bad_filters(hold, flt, message):
    r = hold("volume", "ls", "--filter", flt)
    assert r.returncode != 0 and message in r.stderr


def test_rm_refuses_while_a_stopped_container_uses_it_and_names_it(bb):
    bb.ok("volume", "create", "keep")
    bb.ok("run", "--network", "none", "--name", "stopped-user", "-v", "keep:/data", "bb", "true")
    for args in (["volume", "rm", "keep"], ["volume", "rm", "-f", "keep"]):
        r = bb(*args)
        assert r.returncode == 1
        assert "volume is in use" in r.stderr and "stopped-user" in r.stderr
        cid = bb.ok("inspect", "-f", "{{.Id}}", "stopped-user").strip()
        assert cid in r.stderr
    assert volume_names(bb) == ["keep"]
    bb.ok("rm", "stopped-user")
    bb.ok("run", "-d", "--network", "none", "--name", "running-user", "-v", "keep:/data",
          "bb", "sleep", "60")
    r = bb("volume", "rm", "-f", "keep")
    assert r.returncode == 1 and "running-user" in r.stderr
    assert bb.ok("volume", "prune", "-f", "-a").endswith("Total reclaimed space: 0B\n")
    bb.ok("rm", "-f", "running-user")
    assert bb.ok("volume", "rm", "keep") == "keep\n"
    assert volume_names(bb) == []


def test_rm_missing(hold):
    r = hold("volume", "rm", "nosuch")
    assert r.returncode == 1 and "no such volume" in r.stderr
    assert hold("volume", "rm", "-f", "nosuch").returncode == 0


def test_prune_anonymous_only_unless_all(bb):
    bb.ok("volume", "create", "named")
    anon = bb.ok("volume", "create").strip()
    used = bb.ok("volume", "create").strip()
    bb.ok("create", "--network", "none", "--name", "holder", "-v", f"{used}:/u", "bb", "true")
    mp = inspect_volume(bb, anon)["Mountpoint"]
    with open(os.path.join(mp, "data"), "wb") as f:
        f.write(b"y" * 5000)
    out = bb.ok("volume", "prune", "-f")
    assert out.startswith(f"Deleted Volumes:\n{anon}\n\nTotal reclaimed space: ")
    assert "kB" in out
    assert sorted(volume_names(bb)) == sorted(["named", used])
    out = bb.ok("volume", "prune", "-f", "-a")
    assert out == "Deleted Volumes:\nnamed\n\nTotal reclaimed space: 0B\n"
    assert volume_names(bb) == [used]


def test_prune_label_filter_and_confirmation(hold):
    hold.ok("volume", "create", "--label", "keep=yes", "a1")
    hold.ok("volume", "create", "--label", "keep=no", "a2")
    out = hold.ok("volume", "prune", input="n\n")
    assert out.startswith("WARNING! This will remove anonymous local volumes not used by at "
                          "least one container.\nAre you sure you want to continue? [y/N] ")
    assert sorted(volume_names(hold)) == ["a1", "a2"]
    out = hold.ok("volume", "prune", "-a", "--filter", "label=keep=no", input="y\n")
    assert "Deleted Volumes:\na2\n" in out
    assert volume_names(hold) == ["a1"]
    r = hold("volume", "prune", "-f", "--filter", "dangling=true")
    assert r.returncode != 0 and "invalid filter 'dangling'" in r.stderr


def test_two_prunes_cannot_both_run(hold):
    """Hold the prune lock as a running prune would; a second one refuses."""
    from hold.volumes.cleanup import FileLock
    hold.ok("volume", "create", "x1")
    lock = os.path.join(hold.paths.root, "volumes", ".prune.lock")
    with FileLock(lock):
        r = hold("volume", "prune", "-f", "-a")
    assert r.returncode == 1 and "a prune operation is already running" in r.stderr
    assert volume_names(hold) == ["x1"]
    assert "x1" in hold.ok("volume", "prune", "-f", "-a")


def test_concurrent_prunes_remove_each_volume_once(hold):
    for i in range(6):
        hold.ok("volume", "create")
    procs = [subprocess.Popen(hold.base + ["volume", "prune", "-f"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(3)]
    outs = [p.communicate(timeout=60) for p in procs]
    deleted = [line for out, _ in outs for line in out.splitlines() if len(line) == 64]
    assert sorted(deleted) == sorted(set(deleted)) and len(deleted) == 6
    for (out, err), p in zip(outs, procs):
        assert p.returncode == 0 or "a prune operation is already running" in err
    assert volume_names(hold) == []


def test_volume_help_and_unknown_subcommand(hold):
    assert "Manage volumes" in hold.ok("volume", "--help")
    r = hold("volume", "bogus")
    assert r.returncode == 1 and "is not a hold volume command" in r.stderr
    r = hold("volume", "ls", "--bogus")
    assert r.returncode == 125 and "unknown flag" in r.stderr


def test_leftovers_found_and_repaired(bb):
    from hold.engine import Engine
    from hold.volumes.service import VolumeService
    bb.ok("volume", "create", "recorded")
    bb.ok("volume", "create", "-o", "type=tmpfs", "-o", "o=size=1m", "ramv")
    bb.ok("create", "--network", "none", "--name", "rr", "-v", "ramv:/r", "bb", "true")
    bb.ok("start", "-a", "rr")                          # ramv is now mounted on the host
    service = VolumeService(Engine(bb.paths).store, bb.paths)
    orphan = os.path.join(bb.paths.root, "volumes", "orphan", "_data")
    os.makedirs(orphan)
    open(os.path.join(orphan, "f"), "w").close()
    os.rename(os.path.join(bb.paths.root, "volumes", "recorded"),
              os.path.join(bb.paths.root, "volumes", "elsewhere"))
    report = service.leftovers()
    assert sorted(os.path.basename(p) for p in report["dirs"]) == ["elsewhere", "orphan"]
    assert report["missing"] == ["recorded"]
    service.leftovers(repair=True)
    assert service.leftovers() == {"dirs": [], "missing": []}
    assert os.path.isdir(inspect_volume(bb, "recorded")["Mountpoint"])
    assert sorted(volume_names(bb)) == ["ramv", "recorded"]
    bb.ok("rm", "rr")
    bb.ok("run", "-d", "--network", "none", "--name", "sleeper", "-v", "ramv:/r", "bb",
          "sleep", "60")
    assert service.active_mountpoints() == {os.path.join(bb.paths.root, "volumes", "ramv",
                                                         "_data")}
    bb.ok("rm", "-f", "sleeper")
    assert service.active_mountpoints() == set()
    bb.ok("volume", "rm", "ramv")


def test_disk_usage_rows(bb):
    from hold.engine import Engine
    from hold.volumes.service import VolumeService
    bb.ok("volume", "create", "du1")
    bb.ok("create", "--network", "none", "--name", "du-user", "-v", "du1:/d", "-v", "/anon",
          "bb", "true")
    with open(os.path.join(inspect_volume(bb, "du1")["Mountpoint"], "f"), "wb") as f:
        f.write(b"z" * 20000)
    rows = VolumeService(Engine(bb.paths).store, bb.paths).disk_usage()
    by_name = {r["Name"]: r for r in rows}
    assert by_name["du1"]["Links"] == 1 and by_name["du1"]["Size"] >= 20000
    assert by_name["du1"]["Anonymous"] is False
    (anon,) = [r for r in rows if r["Anonymous"]]
    assert anon["Links"] == 1


def test_kill_9_during_create_and_rm_leaves_a_repairable_store(hold):
    """hold killed at any instruction of volume create/rm: records and
    directories may disagree only in ways leftovers() finds and repairs."""
    import random
    import signal
    from hold.engine import Engine
    from hold.volumes.service import VolumeService
    hold.ok("volume", "create", "warmup")
    rng = random.Random(4)
    for i in range(12):
        args = ["volume", "create", f"k{i}"] if i % 3 else ["volume", "rm", f"k{i - 1}"]
        proc = subprocess.Popen(hold.base + args, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.05, 0.25))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    service = VolumeService(Engine(hold.paths).store, hold.paths)
    service.leftovers(repair=True)
    assert service.leftovers() == {"dirs": [], "missing": []}
    base = os.path.join(hold.paths.root, "volumes")
    dirs = sorted(n for n in os.listdir(base) if not n.startswith("."))
    assert dirs == sorted(volume_names(hold))
    for name in dirs:
        assert os.path.isdir(inspect_volume(hold, name)["Mountpoint"])


def test_parallel_creates_of_one_name_make_one_volume(hold):
    procs = [subprocess.Popen(hold.base + ["volume", "create", "same"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(8)]
    outs = [p.communicate(timeout=60) for p in procs]
    assert all(p.returncode == 0 and out == "same\n" for p, (out, _) in zip(procs, outs)), outs
    assert volume_names(hold) == ["same"]


def test_parallel_runs_sharing_a_new_named_volume(bb):
    procs = [subprocess.Popen(bb.base + ["run", "--rm", "--network", "none", "-v",
                                         "together:/t", "bb", "sh", "-c", f"echo {i} > /t/{i}"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i in range(6)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    assert volume_names(bb) == ["together"]
    assert sorted(os.listdir(inspect_volume(bb, "together")["Mountpoint"])) == \
        [str(i) for i in range(6)]
