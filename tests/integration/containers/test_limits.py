"""--memory, --cpus, --pids-limit through real cgroups."""

import json
import os

from hold.runtime import cgroups


def _cgroup(cid, cli):
    return cgroups.ContainerCgroup(cid, cgroups.detect(), cgroups.parent_for_root(cli.paths.root))


def test_limits_are_written_and_removed_with_the_container(bb):
    bb.ok("run", "-d", "--name", "limited", "-m", "64m", "--cpus", "0.5",
          "--pids-limit", "50", "bb", "sleep", "60")
    cid = json.loads(bb.ok("inspect", "limited"))[0]["Id"]
    group = _cgroup(cid, bb)
    paths = group.paths()
    host = cgroups.detect()
    if host.version == 1:
        assert open(os.path.join(paths["memory"], "memory.limit_in_bytes")).read().strip() == str(64 << 20)
        assert open(os.path.join(paths["pids"], "pids.max")).read().strip() == "50"
        assert open(os.path.join(paths["cpu"], "cpu.cfs_quota_us")).read().strip() == "50000"
    inside = bb.ok("exec", "limited", "cat", "/proc/self/cgroup")
    assert cid in inside
    bb.ok("rm", "-f", "limited")
    assert not group.exists()


def test_pids_limit_stops_a_fork_bomb(bb):
    import time
    bb.ok("run", "-d", "--name", "bomb", "--pids-limit", "10", "bb", "sh", "-c",
          "(i=0; while [ $i -lt 30 ]; do sleep 30 & i=$((i+1)); done) 2>/dev/null; "
          "exec sleep 30")
    cid = json.loads(bb.ok("inspect", "bomb"))[0]["Id"]
    time.sleep(1.0)
    count = len(_cgroup(cid, bb).pids())
    assert 0 < count <= 10
    bb.ok("rm", "-f", "bomb")


def test_bad_limits_are_refused_before_anything_exists(bb):
    for args in (["-m", "1k"], ["--cpus", "999"], ["--pids-limit", "x"],
                 ["-m", "10m", "--memory-swap", "5m"]):
        r = bb("run", *args, "--name", "never", "bb", "true")
        assert r.returncode == 125, (args, r.stderr)
    assert bb.ok("ps", "-aq") == ""
