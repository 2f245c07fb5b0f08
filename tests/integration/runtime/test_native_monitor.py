"""Detached containers under the native idle monitor, end to end.

Every test runs real containers through the CLI.  ``monitor_exe`` tells
which idle monitor a container got: the native one runs
``<root>/bin/hold-monitor-<key>``, the Python one the interpreter.
"""

from __future__ import annotations

import json
import os
import re
import socket
import sys
import time

import pytest

from hold.runtime import native

needs_cc = pytest.mark.skipif(native._compiler() is None, reason="no C compiler")
TIME = re.compile(r'"time":"[^"]*"')

# Everything the logs must carry through unchanged: several lines, quotes
# and backslashes, control characters, bytes that are not UTF-8, stderr,
# 20000 short lines, one 200 kB line, and a last line without its newline.
NOISY = ("sleep 1; printf 'multi\\nline\\n'; printf 'q\"uote \\\\ back\\ttab\\001\\033[0m\\r\\n'; "
         "printf '\\377\\376 bad \\303 \\342\\202\\n'; echo to-err >&2; seq 1 20000; "
         "head -c 200000 /dev/zero | tr '\\0' x; echo; printf 'partial-end'")


def env(**changes: str) -> dict:
    result = dict(os.environ)
    result.pop("HOLD_MONITOR", None)
    result.update(changes)
    return result


def state(bb, name: str) -> dict:
    return json.loads(bb.ok("inspect", name))[0]["State"]


def monitor_pid(bb, name: str) -> int:
    cid = bb.ok("inspect", "-f", "{{.Id}}", name).strip()
    with open(os.path.join(bb.paths.runroot, "containers", cid, "monitor.pid")) as f:
        return int(f.read())


def monitor_exe(bb, name: str, timeout: float = 30) -> str:
    """The idle monitor's executable once the monitor has re-executed
    (the forked CLI it starts as runs the interpreter too, so wait for
    the re-exec's command line)."""
    pid = monitor_pid(bb, name)
    deadline = time.time() + timeout
    while time.time() < deadline:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmdline = f.read()
        if b"cid=" in cmdline:
            return os.readlink(f"/proc/{pid}/exe")
        time.sleep(0.05)
    raise AssertionError("the monitor never became an idle monitor")


def is_native(bb, exe: str) -> bool:
    return exe.startswith(os.path.join(bb.paths.root, "bin", "hold-monitor-"))


@pytest.fixture
def nbb(bb):
    """``bb`` with the native monitor built (as the first detached run would)."""
    native.monitor_binary(bb.paths.root, required=True)
    return bb


def raw_log(bb, name: str) -> dict[str, list[str]]:
    cid = bb.ok("inspect", "-f", "{{.Id}}", name).strip()
    lines: dict[str, list[str]] = {}
    with open(os.path.join(bb.paths.container_dir(cid), "json.log"), encoding="utf-8") as f:
        for line in f:
            lines.setdefault(json.loads(line)["stream"], []).append(TIME.sub("T", line))
    return lines


@needs_cc
def test_detached_containers_get_the_native_monitor_by_default(bb):
    bb.ok("run", "-d", "--name", "idle", "bb", "sleep", "60", env=env())
    exe = monitor_exe(bb, "idle")           # the first run builds it: allow for that
    assert is_native(bb, exe)
    with open(f"/proc/{monitor_pid(bb, 'idle')}/comm") as f:
        assert f.read().strip() == "hold-monitor"
    bb.ok("stop", "-t", "1", "idle")
    st = state(bb, "idle")
    assert not st["Running"] and st["ExitCode"] == 137


@needs_cc
def test_logs_are_the_python_monitors_byte_for_byte(nbb):
    nbb.ok("run", "-d", "--name", "py", "bb", "sh", "-c", NOISY, env=env(HOLD_MONITOR="python"))
    nbb.ok("run", "-d", "--name", "nat", "bb", "sh", "-c", NOISY, env=env(HOLD_MONITOR="native"))
    assert not is_native(nbb, monitor_exe(nbb, "py"))
    assert is_native(nbb, monitor_exe(nbb, "nat"))
    assert nbb.ok("wait", "py", "nat").split() == ["0", "0"]
    assert raw_log(nbb, "nat") == raw_log(nbb, "py")
    assert '"log":"q\\"uote \\\\ back\\ttab\\u0001\\u001b[0m\\r\\n"' in raw_log(nbb, "nat")["stdout"][2]
    shown = nbb("logs", "nat")          # (text mode: the \r\n reads as \n)
    assert shown.stdout == nbb("logs", "py").stdout
    assert shown.stdout.startswith("multi\nline\nq\"uote \\ back\ttab\x01\x1b[0m\n"
                                   "\ufffd\ufffd bad \ufffd \ufffd\n1\n2\n")
    assert shown.stdout.endswith("20000\n" + "x" * 200000 + "\npartial-end")
    assert shown.stderr == "to-err\n"


@needs_cc
def test_tty_output_is_logged_like_the_python_monitor(nbb):
    """With -t the output is one pty master; its end reads as EIO, not EOF."""
    script = "sleep 1; printf 'tty line\\n\\001 raw'; sleep 0.2"
    nbb.ok("run", "-d", "-t", "--name", "tpy", "bb", "sh", "-c", script,
           env=env(HOLD_MONITOR="python"))
    nbb.ok("run", "-d", "-t", "--name", "tnat", "bb", "sh", "-c", script)
    assert is_native(nbb, monitor_exe(nbb, "tnat"))
    assert nbb.ok("wait", "tpy", "tnat").split() == ["0", "0"]
    assert raw_log(nbb, "tnat") == raw_log(nbb, "tpy")
    cid = nbb.ok("inspect", "-f", "{{.Id}}", "tnat").strip()
    with open(os.path.join(nbb.paths.container_dir(cid), "json.log")) as f:
        assert [json.loads(line)["log"] for line in f] == ["tty line\r\n", "\x01 raw"]


@needs_cc
def test_exit_codes_are_recorded(nbb):
    nbb.ok("run", "-d", "--name", "seven", "bb", "sh", "-c", "sleep 0.5; exit 7")
    assert is_native(nbb, monitor_exe(nbb, "seven"))
    assert nbb.ok("wait", "seven").strip() == "7"
    st = state(nbb, "seven")
    assert st["ExitCode"] == 7 and st["Status"] == "exited" and st["FinishedAt"]


@needs_cc
def test_kill_and_stop(nbb):
    nbb.ok("run", "-d", "--name", "victim", "bb", "sleep", "60")
    nbb.ok("run", "-d", "--name", "trap", "bb", "sh", "-c",
           "trap 'echo got-term; exit 3' TERM; while true; do sleep 0.1; done")
    assert is_native(nbb, monitor_exe(nbb, "victim"))
    assert is_native(nbb, monitor_exe(nbb, "trap"))
    nbb.ok("kill", "victim")
    assert state(nbb, "victim")["ExitCode"] == 137
    nbb.ok("stop", "trap")
    assert state(nbb, "trap")["ExitCode"] == 3
    assert nbb.ok("logs", "trap") == "got-term\n"


@needs_cc
def test_restart_policy_on_failure(nbb):
    nbb.ok("run", "-d", "--name", "flaky", "--restart", "on-failure:2", "bb", "sh", "-c",
           "sleep 0.5; echo try; exit 1")
    assert is_native(nbb, monitor_exe(nbb, "flaky"))
    deadline = time.time() + 20
    while time.time() < deadline and state(nbb, "flaky")["RestartCount"] < 2:
        time.sleep(0.1)
    nbb("wait", "flaky")
    st = state(nbb, "flaky")
    assert st["RestartCount"] == 2 and st["Status"] == "exited" and st["ExitCode"] == 1
    assert nbb.ok("logs", "flaky") == "try\n" * 3


def pss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/smaps_rollup") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("Pss:"))


@pytest.mark.parametrize("kind", ["native", "python"])
def test_a_restarted_container_gets_an_idle_monitor_again(bb, kind):
    """After a policy restart the monitor drops the interpreter that
    recorded the exit and is the idle monitor again, restart count kept."""
    if kind == "native":
        if native._compiler() is None:
            pytest.skip("no C compiler")
        native.monitor_binary(bb.paths.root, required=True)
    bb.ok("run", "-d", "--name", "again", "--restart", "on-failure:1", "bb", "sh", "-c",
          "if [ -e /ran ]; then echo second; sleep 60; else touch /ran; echo first; exit 1; fi",
          env=env(HOLD_MONITOR=kind))
    deadline = time.time() + 20
    while time.time() < deadline and state(bb, "again")["RestartCount"] < 1:
        time.sleep(0.1)
    pid = monitor_pid(bb, "again")
    while time.time() < deadline:       # the idle monitor's arguments name the new run
        second = f"pid={state(bb, 'again')['Pid']}\0".encode()
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            if second in f.read():
                break
        time.sleep(0.05)
    exe = os.readlink(f"/proc/{pid}/exe")
    assert is_native(bb, exe) == (kind == "native")
    assert pss_kb(pid) < (1000 if kind == "native" else 6000)
    assert state(bb, "again")["Running"]
    assert bb.ok("logs", "again") == "first\nsecond\n"
    bb.ok("stop", "-t", "0", "again")
    st = state(bb, "again")
    assert st["ExitCode"] == 137 and st["RestartCount"] == 1 and st["Status"] == "exited"


@needs_cc
def test_restart_always_stops_on_manual_stop(nbb):
    nbb.ok("run", "-d", "--name", "always1", "--restart", "always", "bb", "sleep", "60")
    assert is_native(nbb, monitor_exe(nbb, "always1"))
    nbb.ok("stop", "-t", "0", "always1")
    time.sleep(0.5)
    assert state(nbb, "always1")["Status"] == "exited"


@needs_cc
def test_rm_removes_the_container_after_exit(nbb):
    nbb.ok("run", "-d", "--rm", "--name", "gone", "bb", "sh", "-c", "sleep 1")
    assert is_native(nbb, monitor_exe(nbb, "gone"))
    deadline = time.time() + 20
    while time.time() < deadline and "gone" in nbb.ok("ps", "-a", "--format", "{{.Names}}"):
        time.sleep(0.1)
    assert "gone" not in nbb.ok("ps", "-a", "--format", "{{.Names}}")


@needs_cc
def test_logs_follow(nbb):
    nbb.ok("run", "-d", "--name", "follow1", "bb", "sh", "-c", "echo a; sleep 1; echo b")
    assert is_native(nbb, monitor_exe(nbb, "follow1"))
    assert nbb.ok("logs", "-f", "follow1", timeout=20) == "a\nb\n"


@needs_cc
def test_detached_stdin_stays_open(nbb):
    nbb.ok("run", "-d", "-i", "--name", "reader", "bb", "sh", "-c", "cat; echo got-eof")
    assert is_native(nbb, monitor_exe(nbb, "reader"))
    time.sleep(1)
    assert state(nbb, "reader")["Running"]
    assert "got-eof" not in nbb.ok("logs", "reader")
    nbb.ok("stop", "-t", "0", "reader")


@needs_cc
def test_published_port_proxy_stops_with_the_container(nbb):
    nbb.ok("run", "-d", "--name", "pub", "-p", "127.0.0.1::80", "bb", "sleep", "60")
    assert is_native(nbb, monitor_exe(nbb, "pub"))
    port = int(nbb.ok("port", "pub", "80").strip().rsplit(":", 1)[1])
    socket.create_connection(("127.0.0.1", port), timeout=5).close()
    nbb.ok("stop", "-t", "0", "pub")
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()


def test_without_a_compiler_the_python_monitor_does_the_work(bb, tmp_path):
    no_cc = env(PATH=str(tmp_path / "empty"))     # (no `ip` either: --network none)
    bb.ok("run", "-d", "--name", "plain", "--network", "none", "bb", "sh", "-c", "echo hi; sleep 1; exit 4", env=no_cc)
    assert os.path.realpath(monitor_exe(bb, "plain")) == os.path.realpath(sys.executable)
    assert bb.ok("wait", "plain").strip() == "4"
    assert bb.ok("logs", "plain") == "hi\n"
    assert not os.path.exists(os.path.join(bb.paths.root, "bin"))   # no failure recorded
    r = bb("run", "-d", "--name", "forced", "--network", "none", "bb", "true", env=env(PATH=no_cc["PATH"],
                                                                   HOLD_MONITOR="native"))
    assert r.returncode == 125
    assert "native monitor is unavailable: no C compiler" in r.stderr
    assert r.stderr.count("\n") == 1


@needs_cc
def test_hold_monitor_python_forces_the_python_monitor(nbb):
    nbb.ok("run", "-d", "--name", "old", "bb", "sleep", "60", env=env(HOLD_MONITOR="python"))
    assert os.path.realpath(monitor_exe(nbb, "old")) == os.path.realpath(sys.executable)
    nbb.ok("kill", "old")
    assert state(nbb, "old")["ExitCode"] == 137


def test_unknown_monitor_kind_is_refused(bb):
    r = bb("run", "-d", "--name", "odd", "bb", "true", env=env(HOLD_MONITOR="rust"))
    assert r.returncode == 125 and "accepted: python, native" in r.stderr
