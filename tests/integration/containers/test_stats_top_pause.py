"""hold top, stats, pause and unpause, and the cgroup every container gets.

Real containers, real cgroups: the freezer is checked by a counter that
stops, top by the host PIDs the container really has, stats by a busy loop
and a memory limit.  Every bad input must fail with a clear message, a
non-zero exit and nothing changed; the ``bb`` fixture fails a test that
leaves a cgroup behind (hold.testing.leftovers).
"""

import json
import os
import signal
import subprocess
import time

import pytest

from hold.runtime import cgroups

COUNTER = "i=0; while true; do i=$((i+1)); echo $i; sleep 0.05; done"


def _cgroup(bb, cid):
    return cgroups.ContainerCgroup(cid, cgroups.detect(), cgroups.parent_for_root(bb.paths.root))


def _inspect(bb, name):
    return json.loads(bb.ok("inspect", name))[0]


def _last_count(bb, name) -> int:
    lines = bb.ok("logs", name).split()
    return int(lines[-1]) if lines else 0


def _start(bb, name, *command):
    bb.ok("run", "-d", "--name", name, "bb", *(command or ("sleep", "300")))
    return _inspect(bb, name)["Id"]


# -- the cgroup of every container ----------------------------------------------

def test_every_container_has_its_own_cgroup_until_it_is_removed(bb):
    cid = _start(bb, "plain")
    group = _cgroup(bb, cid)
    assert group.exists()
    pid = _inspect(bb, "plain")["State"]["Pid"]
    assert group.pids() == [pid]
    with open(f"/proc/{pid}/cgroup") as f:
        assert f"/{group.parent}/{cid}" in f.read()
    bb.ok("exec", "-d", "plain", "sleep", "300")
    deadline = time.time() + 5
    while len(group.pids()) < 2 and time.time() < deadline:
        time.sleep(0.05)
    assert len(group.pids()) == 2, "an exec'd process joins the container's cgroup"
    host = _inspect(bb, "plain")["HostConfig"]
    assert "Limits" not in host and host["AutoRemove"] is False
    bb.ok("stop", "-t", "0", "plain")
    assert not group.exists(), "a stopped container's cgroup is removed"
    bb.ok("start", "plain")
    assert group.exists()
    bb.ok("rm", "-f", "plain")
    assert not group.exists()


def test_run_rm_leaves_no_cgroup(bb):
    out = bb.ok("run", "--rm", "bb", "cat", "/proc/self/cgroup")
    parent = cgroups.parent_for_root(bb.paths.root)
    line = next(line for line in out.splitlines() if f"/{parent}/" in line)
    cid = line.rsplit("/", 1)[1]
    assert not _cgroup(bb, cid).exists()


def _kill_monitor_and_container(bb, name):
    cid = _inspect(bb, name)["Id"]
    os.kill(_monitor_pid(bb, cid), signal.SIGKILL)
    os.kill(_inspect(bb, name)["State"]["Pid"], signal.SIGKILL)
    group = _cgroup(bb, cid)
    deadline = time.time() + 5
    while group.pids() and time.time() < deadline:
        time.sleep(0.05)
    assert group.exists() and not group.pids()
    return cid, group


def test_system_check_removes_the_cgroup_a_killed_monitor_left(bb):
    _start(bb, "victim")
    cid, group = _kill_monitor_and_container(bb, "victim")
    report = json.loads(bb.ok("system", "check", "--json"))
    assert cid in report["containers"] and cid in report["cgroups"]
    assert not group.exists()


def test_rm_takes_the_cgroup_a_killed_monitor_left(bb):
    _start(bb, "victim")
    cid, group = _kill_monitor_and_container(bb, "victim")
    bb.ok("rm", "victim")
    assert not group.exists()


def test_system_check_removes_old_cgroups_of_no_container(bb):
    stray = cgroups.ContainerCgroup("f" * 64, cgroups.detect(),
                                    cgroups.parent_for_root(bb.paths.root))
    stray.create()
    try:
        report = json.loads(bb.ok("system", "check", "--json"))
        assert report["cgroups"] == [] and stray.exists(), "young: maybe a start under way"
        old = time.time() - 3600
        for path in stray.paths().values():
            os.utime(path, (old, old))
        report = json.loads(bb.ok("system", "check", "--json"))
        assert report["cgroups"] == ["f" * 64]
        assert not stray.exists()
    finally:
        stray.remove()


def _monitor_pid(bb, cid) -> int:
    with open(os.path.join(bb.paths.runroot, "containers", cid, "monitor.pid")) as f:
        return int(f.read())


# -- top ----------------------------------------------------------------------------

def test_top_lists_the_containers_processes_with_host_pids(bb):
    _start(bb, "web", "sh", "-c", "sleep 301 & exec sleep 300")
    pid = _inspect(bb, "web")["State"]["Pid"]
    out = bb.ok("top", "web").splitlines()
    assert out[0].split() == ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]
    rows = [line.split(None, 7) for line in out[1:]]
    assert {row[1] for row in rows} >= {str(pid)}
    assert sorted(row[7] for row in rows) == ["sleep 300", "sleep 301"]
    assert all(row[0] == "root" for row in rows)
    mine = str(os.getpid())
    assert mine not in {row[1] for row in rows}, "nothing of the host's"


def test_top_passes_ps_options_and_container_alias(bb):
    _start(bb, "opts")
    out = bb.ok("container", "top", "opts", "-o", "pid,comm").splitlines()
    assert out[0].split() == ["PID", "COMMAND"]
    assert [line.split()[1] for line in out[1:]] == ["sleep"]


@pytest.mark.parametrize("args, message", [
    (["nosuch"], "No such container: nosuch"),
    (["stopped"], "is not running"),
    (["running", "-o", "comm"], "Couldn't find PID field in ps output"),
    (["running", "--no-such-ps-flag"], "Error running ps"),
])
def test_top_bad_input(bb, args, message):
    bb.ok("create", "--name", "stopped", "bb", "true")
    _start(bb, "running")
    r = bb("top", *args)
    assert r.returncode != 0 and message in r.stderr, r.stderr
    assert r.stdout == ""


# -- stats --------------------------------------------------------------------------

def test_stats_no_stream_table(bb):
    cid = _start(bb, "busy", "sh", "-c", "while true; do :; done")
    _start(bb, "idle")
    out = bb.ok("stats", "--no-stream").splitlines()
    header = ["CONTAINER ID", "NAME", "CPU %", "MEM USAGE / LIMIT", "MEM %", "NET I/O",
              "BLOCK I/O", "PIDS"]
    assert [h.strip() for h in out[0].split("   ") if h.strip()] == header
    rows = {line.split()[1]: line.split() for line in out[1:]}
    assert set(rows) == {"busy", "idle"}
    busy = rows["busy"]
    assert busy[0] == cid[:12]
    assert float(busy[2].rstrip("%")) > 1.0, busy       # one CPU busy is ~100%
    assert busy[4] == "/" and busy[-1] == "1"
    assert float(rows["idle"][2].rstrip("%")) < 5.0


def test_stats_json_and_templates_use_dockers_field_names(bb):
    bb.ok("run", "-d", "--name", "capped", "-m", "64m", "bb", "sleep", "300")
    cid = _inspect(bb, "capped")["Id"]
    row = json.loads(bb.ok("stats", "--no-stream", "--format", "{{json .}}", "capped"))
    assert sorted(row) == ["BlockIO", "CPUPerc", "Container", "ID", "MemPerc", "MemUsage",
                           "Name", "NetIO", "PIDs"]
    assert row["Container"] == "capped" and row["Name"] == "capped"
    assert row["ID"] == cid[:12] and row["PIDs"] == "1"
    assert row["MemUsage"].endswith(" / 64MiB")
    assert row["NetIO"].count(" / ") == 1 and row["BlockIO"].count(" / ") == 1
    full = bb.ok("stats", "--no-stream", "--no-trunc", "--format", "{{.ID}}", cid[:8])
    assert full.strip() == cid
    table = bb.ok("stats", "--no-stream", "--format", "table {{.Container}}\t{{.PIDs}}",
                  "capped").splitlines()
    assert table[0].split() == ["CONTAINER", "PIDS"]
    assert table[1].split() == ["capped", "1"]
    plain = bb.ok("container", "stats", "--no-stream", "--format", "json", "capped")
    assert json.loads(plain)["Name"] == "capped"


def test_stats_all_and_stopped_containers_read_as_zeros(bb):
    bb.ok("create", "--name", "idle", "bb", "true")
    _start(bb, "up")
    names = bb.ok("stats", "--no-stream", "--format", "{{.Name}}").split()
    assert names == ["up"]
    names = bb.ok("stats", "--no-stream", "-a", "--format", "{{.Name}}").split()
    assert sorted(names) == ["idle", "up"]
    row = json.loads(bb.ok("stats", "--no-stream", "--format", "json", "idle"))
    assert (row["CPUPerc"], row["MemUsage"], row["MemPerc"], row["NetIO"], row["BlockIO"],
            row["PIDs"]) == ("0.00%", "0B / 0B", "0.00%", "0B / 0B", "0B / 0B", "0")


def test_stats_streams_until_interrupted(bb):
    _start(bb, "streamed")
    proc = subprocess.Popen(bb.base + ["stats", "--format", "{{.Name}} {{.PIDs}}"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines = [proc.stdout.readline().strip() for _ in range(3)]
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=10)
    assert lines == ["streamed 1"] * 3


@pytest.mark.parametrize("args, message", [
    (["--no-stream", "nosuch"], "No such container: nosuch"),
    (["--no-stream", "--format", "{{.Nope", "up"], "failed to parse template"),
    (["--no-stream", "--format", "{{.Nope}}", "up"], "failed to execute template"),
    (["--no-stream", "--bogus"], "unknown flag"),
])
def test_stats_bad_input(bb, args, message):
    _start(bb, "up")
    r = bb("stats", *args)
    assert r.returncode != 0 and message in r.stderr, r.stderr
    assert r.stdout == ""


# -- pause / unpause -----------------------------------------------------------------

def test_pause_freezes_and_unpause_thaws(bb):
    cid = _start(bb, "counter", "sh", "-c", COUNTER)
    time.sleep(0.3)
    assert bb.ok("pause", "counter").strip() == "counter"
    state = _inspect(bb, "counter")["State"]
    assert (state["Status"], state["Paused"], state["Running"]) == ("paused", True, True)
    assert _cgroup(bb, cid).frozen()
    status = bb.ok("ps", "--format", "{{.Status}}").strip()
    assert status.startswith("Up ") and status.endswith(" (Paused)"), status
    assert bb.ok("ps", "-q", "--filter", "status=paused").strip() == cid[:12]
    frozen_at = _last_count(bb, "counter")
    time.sleep(0.5)
    assert _last_count(bb, "counter") == frozen_at
    row = json.loads(bb.ok("stats", "--no-stream", "--format", "json", "counter"))
    assert row["CPUPerc"] == "0.00%"
    assert bb.ok("top", "counter").count("\n") >= 2, "top works on a paused container"
    assert bb.ok("container", "unpause", "counter").strip() == "counter"
    state = _inspect(bb, "counter")["State"]
    assert (state["Status"], state["Paused"], state["Running"]) == ("running", False, True)
    time.sleep(0.5)
    assert _last_count(bb, "counter") > frozen_at
    assert bb.ok("container", "pause", "counter").strip() == "counter"
    assert bb.ok("unpause", "counter").strip() == "counter"


@pytest.mark.parametrize("command, prepare, message", [
    ("pause", "stop", "is not running"),
    ("pause", "pause", "is already paused"),
    ("unpause", "run", "is not paused"),
    ("unpause", "stop", "is not paused"),
    ("pause", "none", "No such container: nosuch"),
    ("unpause", "none", "No such container: nosuch"),
])
def test_pause_unpause_bad_input_changes_nothing(bb, command, prepare, message):
    cid = _start(bb, "target")
    if prepare == "stop":
        bb.ok("stop", "-t", "0", "target")
    elif prepare == "pause":
        bb.ok("pause", "target")
    before = _inspect(bb, "target")["State"]
    ref = "nosuch" if prepare == "none" else "target"
    r = bb(command, ref)
    assert r.returncode == 1 and message in r.stderr, r.stderr
    assert r.stdout == ""
    after = _inspect(bb, "target")["State"]
    assert after == before
    assert _cgroup(bb, cid).frozen() == (prepare == "pause")


def test_exec_into_a_paused_container_is_refused(bb):
    _start(bb, "asleep")
    bb.ok("pause", "asleep")
    r = bb("exec", "asleep", "true")
    assert r.returncode != 0
    assert "is paused, unpause the container before exec" in r.stderr
    assert _inspect(bb, "asleep")["State"]["Paused"] is True


@pytest.mark.parametrize("how", [["stop", "-t", "1"], ["kill"], ["rm", "-f"]])
def test_a_paused_container_can_be_stopped_killed_and_removed(bb, how):
    cid = _start(bb, "frozen", "sh", "-c", "trap 'exit 3' TERM; " + COUNTER)
    bb.ok("pause", "frozen")
    started = time.time()
    bb.ok(*how, "frozen")
    assert time.time() - started < 10
    if how[0] != "rm":
        state = _inspect(bb, "frozen")["State"]
        assert (state["Status"], state["Paused"], state["Running"]) == ("exited", False, False)
        assert state["ExitCode"] == (3 if how[0] == "stop" else 137)
        bb.ok("rm", "frozen")
    assert bb.ok("ps", "-aq") == ""
    assert not _cgroup(bb, cid).exists()
