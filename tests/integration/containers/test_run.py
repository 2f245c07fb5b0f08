"""`hold run`: exit codes, streams, env, user, workdir, hostname, --rm."""

import json


def test_exit_code_propagates(bb):
    assert bb("run", "--rm", "bb", "sh", "-c", "exit 7").returncode == 7


def test_stdout_and_stderr_are_separate(bb):
    r = bb("run", "--rm", "bb", "sh", "-c", "echo out; echo err >&2")
    assert r.returncode == 0
    assert r.stdout == "out\n"
    assert r.stderr == "err\n"


def test_stdin_with_interactive(bb):
    r = bb("run", "--rm", "-i", "bb", "sh", "-c", "tr a-z A-Z", input="hello\n")
    assert r.stdout == "HELLO\n"


def test_stdin_closed_without_interactive(bb):
    r = bb("run", "--rm", "bb", "cat", input="ignored\n")
    assert r.returncode == 0 and r.stdout == ""


def test_env_workdir_user_hostname(bb, tmp_path):
    env_file = tmp_path / "env"
    env_file.write_text("# comment\nFROM_FILE=yes\n")
    r = bb("run", "--rm", "-e", "A=1", "--env-file", str(env_file), "-w", "/made/here",
           "-u", "nobody", "--hostname", "box", "bb",
           "sh", "-c", "echo $A $FROM_FILE; pwd; id -u; hostname; echo $HOME")
    assert r.stdout.split("\n")[:5] == ["1 yes", "/made/here", "65534", "box", "/home"], r.stderr


def test_killed_container_reports_128_plus_signal(bb):
    import subprocess
    import time
    proc = subprocess.Popen(bb.base + ["run", "--name", "victim", "bb", "sleep", "60"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 10
    while bb("kill", "victim").returncode != 0 and time.time() < deadline:
        time.sleep(0.05)
    assert proc.wait(timeout=20) == 137


def test_rm_removes_container(bb):
    bb.ok("run", "--rm", "--name", "gone", "bb", "true")
    assert bb.ok("ps", "-aq") == ""


def test_detached_rm_removes_when_it_exits(bb):
    bb.ok("run", "-d", "--rm", "--name", "short", "bb", "true")
    bb("wait", "short")
    assert "short" not in bb.ok("ps", "-a", "--format", "{{.Names}}")


def test_command_not_found_is_127_and_container_stays_created(bb):
    r = bb("run", "--name", "nf", "bb", "no-such-command")
    assert r.returncode == 127
    assert 'executable file not found in $PATH' in r.stderr
    state = json.loads(bb.ok("inspect", "nf"))[0]["State"]
    assert state["Status"] == "created" and state["ExitCode"] == 127


def test_not_executable_is_126(bb):
    r = bb("run", "--rm", "bb", "/etc/passwd")
    assert r.returncode == 126


def test_init_reaps_and_forwards(bb):
    r = bb("run", "--rm", "--init", "bb", "sh", "-c", "ps -o pid,comm | head -3")
    assert r.returncode == 0, r.stderr
    assert "docker-init" in r.stdout or "tini" in r.stdout


def test_entrypoint_override(bb):
    r = bb("run", "--rm", "--entrypoint", "echo", "bb", "a", "b")
    assert r.stdout == "a b\n"


def test_isolation_process_is_accepted_and_hyperv_refused(bb):
    assert bb("run", "--rm", "--isolation", "process", "bb", "true").returncode == 0
    r = bb("run", "--rm", "--isolation", "hyperv", "bb", "true")
    assert r.returncode != 0 and "hyperv" in r.stderr
    assert bb.ok("ps", "-aq") == ""
