"""The native idle monitor against the Python one, outside any container.

A "container" here is a child process writing scripted output to two pipes
and exiting; the Python monitor (``_light.pump``) and the native monitor
(built into a temporary data root) watch identical children, and their
logs must be identical but for the timestamps.  The native monitor's
hand-over is pointed at a small script that records its arguments.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import sys
import time

import pytest

from hold.runtime import _light, native

pytestmark = pytest.mark.skipif(native._compiler() is None, reason="no C compiler")

TIME = re.compile(rb'"time":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z"')
RECORD_ARGS = "import sys, json; open(sys.argv[1], 'w').write(json.dumps(sys.argv[2:]))"


@pytest.fixture(scope="module")
def binary(tmp_path_factory):
    return native.monitor_binary(str(tmp_path_factory.mktemp("native-root")), required=True)


def _writer(script, out_w: int, err_w: int, code: int) -> None:
    """Child body: play the script (stream, bytes, pause after), then exit."""
    fds = {"stdout": out_w, "stderr": err_w}
    for stream, data, pause in script:
        while data:
            data = data[os.write(fds[stream], data):]
        if pause:
            time.sleep(pause)
    if code < 0:
        os.kill(os.getpid(), -code)
    os._exit(code)


def _spawn(script, code: int):
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(out_r)
        os.close(err_r)
        _writer(script, out_w, err_w, code)
    os.close(out_w)
    os.close(err_w)
    return pid, {out_r: "stdout", err_r: "stderr"}


def python_log(tmp_path, script, code: int = 0) -> tuple[bytes, int]:
    pid, outputs = _spawn(script, code)
    log = tmp_path / "python.log"
    got = _light.pump(pid, outputs, str(log))
    return log.read_bytes(), got


def native_log(tmp_path, binary: str, script, code: int = 0, proxy: int = 0,
               held: str = "") -> tuple[bytes, list[str]]:
    """Run the native monitor as the real one runs: exec'd by the process
    whose child the container is.  Returns the log and the hand-over args."""
    log = tmp_path / "native.log"
    handover = tmp_path / "handover.json"
    monitor = os.fork()
    if monitor == 0:
        try:
            pid, outputs = _spawn(script, code)
            for fd in outputs:
                os.set_inheritable(fd, True)
            args = ["cid=c1", f"runroot={tmp_path}", f"pid={pid}", f"log={log}",
                    f"proxy={proxy}", "outputs=" + ",".join(f"{fd}:{s}" for fd, s in outputs.items()),
                    f"held={held}"]
            os.execv(binary, [binary] + args + ["--", sys.executable, "-c", RECORD_ARGS,
                                               str(handover)])
        finally:
            os._exit(127)
    _, status = os.waitpid(monitor, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    return log.read_bytes(), json.loads(handover.read_text())


def by_stream(log: bytes) -> dict[bytes, list[bytes]]:
    """Log lines without their timestamps, per stream: how the two streams
    interleave depends on which pipe a poll finds ready first."""
    lines: dict[bytes, list[bytes]] = {}
    for line in TIME.sub(b"T", log).splitlines(keepends=True):
        lines.setdefault(b"stderr" if b'"stream":"stderr"' in line else b"stdout", []).append(line)
    return lines


def same_logs(tmp_path, binary, script, code=0) -> bytes:
    expected, py_code = python_log(tmp_path, script, code)
    got, handover = native_log(tmp_path, binary, script, code)
    assert by_stream(got) == by_stream(expected)
    assert got.count(b"\n") == expected.count(b"\n") and got.endswith(b"}\n")
    assert handover == ["cid=c1", f"runroot={tmp_path}", f"exited={py_code}"]
    return got


def test_lines_partial_lines_and_streams(tmp_path, binary):
    script = [("stdout", b"one\ntwo\nthr", 0.05), ("stdout", b"ee\n", 0.05),
              ("stderr", b"oops\n", 0.05), ("stdout", b"no newline at the end", 0)]
    got = same_logs(tmp_path, binary, script)
    entries = [json.loads(line) for line in got.splitlines()]
    assert [(e["log"], e["stream"]) for e in entries] == [
        ("one\n", "stdout"), ("two\n", "stdout"), ("three\n", "stdout"),
        ("oops\n", "stderr"), ("no newline at the end", "stdout")]


def test_escaping_of_every_byte_value(tmp_path, binary):
    every = bytes(range(256)).replace(b"\n", b"")
    same_logs(tmp_path, binary, [("stdout", every + b"\n" + b'q"uo\\te\t\r\x1b[0m\n', 0),
                                 ("stderr", every, 0)])


@pytest.mark.parametrize("data", [
    b"\xe2\x82\xac euro, \xf0\x9f\x90\x8d snake, \xc3\xa9",      # valid
    b"\xc0\xaf \xe0\x80\xaf \xf0\x80\x80\xaf",                   # overlong forms
    b"\xed\xa0\x80 \xed\xbf\xbf",                                # surrogates
    b"\xf4\x90\x80\x80 \xf5\x80 \xff\xfe",                       # beyond U+10FFFF
    b"\xe2\x82A \xf0\x9f\x90A \xe2A \xc3",                       # truncated, and at the end
    b"\x80\xbf\x80 \xf0\x9f\x90",                                # stray continuations
])
def test_invalid_utf8_is_replaced_like_python(tmp_path, binary, data):
    same_logs(tmp_path, binary, [("stdout", data + b"\n" + data, 0)])


def test_random_bytes(tmp_path, binary):
    rng = random.Random(1234)
    alphabet = b"ab\n\"\\\x00\x1f\x7f\x80\xbf\xc2\xdf\xe0\xe2\xed\xef\xf0\xf4\xf5\xff\x82\xa0\x9f\x90"
    script = [(rng.choice(["stdout", "stderr"]), bytes(rng.choice(alphabet) for _ in range(300)), 0)
              for _ in range(200)]
    same_logs(tmp_path, binary, script)


def test_large_output_and_long_lines(tmp_path, binary):
    many = b"".join(b"line %d\n" % i for i in range(30000))
    long_line = b"x" * 300000 + b"\xe2\x82\xac" * 50000 + b"\n"
    controls = b"\x01" * 100000 + b"\n"     # escapes to 6x: bigger than any buffer
    script = [("stdout", many, 0), ("stderr", long_line, 0), ("stdout", controls, 0),
              ("stdout", b"y" * 200000, 0)]
    same_logs(tmp_path, binary, script)


def test_lines_longer_than_an_entry_split_like_python(tmp_path, binary):
    from hold.runtime._light import MAX_ENTRY
    script = [("stdout", b"z" * (2 * MAX_ENTRY) + b"\n", 0.05),        # exact multiple
              ("stdout", b"w" * MAX_ENTRY, 0.05), ("stdout", b"\n", 0.05),  # newline late
              ("stderr", b"v" * (MAX_ENTRY + 1), 0.05), ("stderr", b"v\n", 0.05),
              ("stdout", b"\xe2\x82\xac" * 20000, 0)]                   # no newline, cut mid-char
    got = same_logs(tmp_path, binary, script)
    entries = [json.loads(line) for line in got.splitlines()]
    stdout = [e["log"] for e in entries if e["stream"] == "stdout"]
    assert stdout[:3] == ["z" * MAX_ENTRY, "z" * MAX_ENTRY + "\n", "w" * MAX_ENTRY + "\n"]
    stderr = [e["log"] for e in entries if e["stream"] == "stderr"]
    assert stderr == ["v" * MAX_ENTRY, "vv\n"]


@pytest.mark.parametrize("code, expected", [(0, 0), (3, 3), (-signal.SIGKILL, 137),
                                            (-signal.SIGTERM, 143)])
def test_exit_codes(tmp_path, binary, code, expected):
    _, handover = native_log(tmp_path, binary, [("stdout", b"bye\n", 0)], code)
    assert handover[-1] == f"exited={expected}"


def test_drains_after_exit_then_stops_waiting(tmp_path, binary):
    """Output that outlives the container is logged, but a pipe that stays
    open with nothing coming does not keep the monitor past 2 s."""
    pidfile = tmp_path / "straggler.pid"
    script = [("stdout", b"first\n", 0)]
    start = time.monotonic()
    monitor = os.fork()
    if monitor == 0:
        try:
            out_r, out_w = os.pipe()
            pid = os.fork()
            if pid == 0:
                if os.fork() == 0:      # a straggler holding the pipe
                    pidfile.write_text(str(os.getpid()))
                    time.sleep(0.3)
                    os.write(out_w, b"late\n")
                    time.sleep(30)
                    os._exit(0)
                _writer(script, out_w, out_w, 0)
            os.close(out_w)
            os.set_inheritable(out_r, True)
            os.execv(binary, [binary, "cid=c", f"runroot={tmp_path}", f"pid={pid}",
                              f"log={tmp_path / 'native.log'}", "proxy=0", f"outputs={out_r}:stdout",
                              "held=", "--", sys.executable, "-c", "pass"])
        finally:
            os._exit(127)
    try:
        os.waitpid(monitor, 0)
        elapsed = time.monotonic() - start
        logged = [json.loads(line)["log"] for line in (tmp_path / "native.log").read_text().splitlines()]
        assert logged == ["first\n", "late\n"]
        assert 2.0 <= elapsed < 6
    finally:
        os.kill(int(pidfile.read_text()), signal.SIGKILL)


def test_stops_the_port_proxy_and_keeps_held_fds(tmp_path, binary):
    proxy = os.fork()
    if proxy == 0:
        time.sleep(60)
        os._exit(0)
    held_r, held_w = os.pipe()
    try:
        _, handover = native_log(tmp_path, binary, [("stdout", b"x\n", 0)], proxy=proxy,
                                 held=str(held_w))
        # the proxy was the monitor's child in real life; here it is ours:
        # the monitor could signal it but not reap it
        _, status = os.waitpid(proxy, 0)
        assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGTERM
        assert handover[-1] == "exited=0"
    finally:
        os.close(held_r)
        os.close(held_w)


def test_bad_arguments_become_the_python_monitor(tmp_path, binary):
    """Never a container without a monitor: on arguments it cannot use,
    the native monitor execs the Python command with them."""
    record = tmp_path / "args.json"
    pid = os.fork()
    if pid == 0:
        try:
            os.execv(binary, [binary, "cid=c", "pid=nonsense", "--", sys.executable, "-c",
                              RECORD_ARGS, str(record)])
        finally:
            os._exit(127)
    os.waitpid(pid, 0)
    assert json.loads(record.read_text()) == ["cid=c", "pid=nonsense"]


def test_build_is_cached_and_atomic(tmp_path):
    root = str(tmp_path / "root")
    os.makedirs(os.path.join(root, "bin"))
    stale = os.path.join(root, "bin", "hold-monitor-0123456789abcdef")
    open(stale, "w").close()                                # an earlier source's build
    crashed = os.path.join(root, "bin", ".partial-0123456789abcdef.99999")
    open(crashed, "w").close()                              # a builder that died
    first = native.monitor_binary(root, required=True)
    assert not os.path.exists(stale) and not os.path.exists(crashed)
    assert os.path.basename(first).startswith("hold-monitor-")
    assert native.monitor_binary(root) == first
    assert sorted(os.listdir(os.path.join(root, "bin"))) == sorted(
        ["build.lock", os.path.basename(first)])            # nothing half-made left
    assert not os.path.exists(os.path.join(root, "tmp"))    # tmp/ is the CLI's, not ours


def test_no_compiler_means_python_or_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert native.monitor_binary(str(tmp_path / "root")) is None
    with pytest.raises(native.NativeMonitorUnavailable, match="no C compiler"):
        native.monitor_binary(str(tmp_path / "root"), required=True)
    assert not os.path.exists(tmp_path / "root" / "bin")    # nothing recorded: gcc may come


def test_a_failed_build_is_recorded_once(tmp_path, monkeypatch):
    bindir = tmp_path / "fakebin"
    bindir.mkdir()
    cc = bindir / "cc"
    cc.write_text("#!/bin/sh\necho 'cc: broken on purpose' >&2\nexit 1\n")
    cc.chmod(0o755)
    monkeypatch.setenv("PATH", str(bindir))
    root = tmp_path / "root"
    assert native.monitor_binary(str(root)) is None
    failed = [name for name in os.listdir(root / "bin") if name.endswith(".failed")]
    assert len(failed) == 1
    assert "broken on purpose" in (root / "bin" / failed[0]).read_text()
    cc.write_text("#!/bin/sh\nexit 1\n")        # not asked again for this source
    with pytest.raises(native.NativeMonitorUnavailable, match="broken on purpose"):
        native.monitor_binary(str(root), required=True)


def test_choice_from_environment(monkeypatch):
    monkeypatch.delenv("HOLD_MONITOR", raising=False)
    assert native.choice() == "auto"
    monkeypatch.setenv("HOLD_MONITOR", "Python")
    assert native.choice() == "python"
    monkeypatch.setenv("HOLD_MONITOR", "native")
    assert native.choice() == "native"
    monkeypatch.setenv("HOLD_MONITOR", "rust")
    with pytest.raises(native.NativeMonitorUnavailable, match="accepted: python, native"):
        native.choice()


def test_source_ships_with_the_package():
    assert os.path.isfile(native.SOURCE)
