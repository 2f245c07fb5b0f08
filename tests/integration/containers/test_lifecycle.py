"""create/start/stop/kill/restart/rm/wait/rename and the writable layer."""

import json
import time


def state(bb, name):
    return json.loads(bb.ok("inspect", name))[0]["State"]


def test_create_then_start(bb):
    cid = bb.ok("create", "--name", "c1", "bb", "sleep", "60").strip()
    assert len(cid) == 64
    assert state(bb, "c1")["Status"] == "created"
    assert bb.ok("start", "c1").strip() == "c1"
    assert state(bb, "c1")["Running"] is True
    bb.ok("stop", "-t", "0", "c1")
    assert state(bb, "c1")["Status"] == "exited"


def test_stop_sends_sigterm_then_kill(bb):
    bb.ok("run", "-d", "--name", "trap", "bb", "sh", "-c",
          "trap 'echo got-term; exit 3' TERM; while true; do sleep 0.1; done")
    time.sleep(0.3)
    bb.ok("stop", "trap")
    st = state(bb, "trap")
    assert st["ExitCode"] == 3
    assert "got-term" in bb.ok("logs", "trap")


def test_kill_with_signal(bb):
    bb.ok("run", "-d", "--name", "kill1", "bb", "sleep", "60")
    bb.ok("kill", "kill1")
    assert state(bb, "kill1")["ExitCode"] == 137


def test_writable_layer_survives_stop_start(bb):
    bb.ok("run", "-d", "--name", "writer", "bb", "sleep", "60")
    bb.ok("exec", "writer", "sh", "-c", "echo kept > /data.txt")
    bb.ok("stop", "-t", "0", "writer")
    bb.ok("start", "writer")
    assert bb.ok("exec", "writer", "cat", "/data.txt") == "kept\n"


def test_restart(bb):
    bb.ok("run", "-d", "--name", "restarter", "bb", "sleep", "60")
    first = state(bb, "restarter")["StartedAt"]
    bb.ok("restart", "-t", "0", "restarter")
    st = state(bb, "restarter")
    assert st["Running"] and st["StartedAt"] != first


def test_restart_policy_on_failure(bb):
    bb.ok("run", "-d", "--name", "flaky", "--restart", "on-failure:2", "bb", "sh", "-c", "exit 1")
    assert bb.ok("wait", "flaky").strip() == "1"
    deadline = time.time() + 10
    while time.time() < deadline and state(bb, "flaky")["RestartCount"] < 2:
        time.sleep(0.1)
    bb("wait", "flaky")
    st = state(bb, "flaky")
    assert st["RestartCount"] == 2 and st["Status"] == "exited"


def test_restart_policy_always_stops_on_manual_stop(bb):
    bb.ok("run", "-d", "--name", "always1", "--restart", "always", "bb", "sleep", "60")
    bb.ok("stop", "-t", "0", "always1")
    time.sleep(0.5)
    assert state(bb, "always1")["Status"] == "exited"


def test_wait_prints_exit_code(bb):
    bb.ok("run", "-d", "--name", "waiter", "bb", "sh", "-c", "sleep 0.2; exit 5")
    assert bb.ok("wait", "waiter").strip() == "5"


def test_rename(bb):
    bb.ok("create", "--name", "old", "bb", "true")
    bb.ok("rename", "old", "new")
    assert bb.ok("ps", "-a", "--format", "{{.Names}}").split() == ["new"]


def test_rm_running_needs_force(bb):
    bb.ok("run", "-d", "--name", "busy", "bb", "sleep", "60")
    r = bb("rm", "busy")
    assert r.returncode != 0 and "container is running" in r.stderr
    assert state(bb, "busy")["Running"]
    bb.ok("rm", "-f", "busy")
    assert bb.ok("ps", "-aq") == ""


def test_logs_tail_and_timestamps(bb):
    bb.ok("run", "--name", "logs1", "bb", "sh", "-c", "for i in 1 2 3 4; do echo line$i; done")
    assert bb.ok("logs", "--tail", "2", "logs1") == "line3\nline4\n"
    stamped = bb.ok("logs", "-t", "logs1").splitlines()
    assert stamped[0].endswith(" line1") and stamped[0][:4].isdigit()


def test_logs_follow_ends_when_container_stops(bb):
    bb.ok("run", "-d", "--name", "follow1", "bb", "sh", "-c", "echo a; sleep 0.5; echo b")
    assert bb.ok("logs", "-f", "follow1", timeout=20) == "a\nb\n"


def test_output_without_newlines_is_logged_in_docker_sized_entries(bb):
    """100 kB with no newline, from a detached (idle-monitor) and an attached
    container: `logs` gives back every byte, and the json-file holds
    entries of at most 16 KiB, as Docker's does, instead of one line the
    monitor would have to keep in memory whole."""
    script = "head -c 100000 /dev/zero | tr '\\0' a"
    bb.ok("run", "-d", "--name", "nonl-d", "bb", "sh", "-c", script)
    bb.ok("wait", "nonl-d")
    bb.ok("run", "--name", "nonl-a", "bb", "sh", "-c", script)
    for name in ("nonl-d", "nonl-a"):
        assert bb.ok("logs", name) == "a" * 100000
        path = bb.ok("inspect", "--format", "{{.LogPath}}", name).strip()
        with open(path, encoding="utf-8") as handle:
            entries = [json.loads(line)["log"] for line in handle]
        assert [len(e) for e in entries] == [16384] * 6 + [100000 - 6 * 16384]


def test_container_prune(bb):
    bb.ok("run", "--name", "done1", "bb", "true")
    bb.ok("run", "-d", "--name", "alive", "bb", "sleep", "60")
    out = bb.ok("container", "prune", "-f")
    assert "Deleted Containers:" in out and "Total reclaimed space:" in out
    assert bb.ok("ps", "-a", "--format", "{{.Names}}").split() == ["alive"]
