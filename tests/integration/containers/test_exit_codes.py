"""hold's exit codes are Docker's, command by command.

The table is what Docker's CLI (28.x) was measured to exit with, and the
start of its first stderr line where hold words it the same way:

- every failed command exits 1;
- 125 only for a flag the parser rejects (any command) and for a `run`
  that fails before its container's command runs;
- 126 / 127 for a `run` or `exec` whose command cannot be executed / is
  not found;
- 64 for a malformed --format template of an inspect command.
"""

from __future__ import annotations

NOSUCH_CONTAINER = "No such container: nosuch"
NOSUCH_IMAGE = "No such image: nosuch:latest"


def table(tmp_path) -> list[tuple[list[str], int, str]]:
    """(hold arguments, exit code, text in the first stderr line)."""
    out = str(tmp_path / "out.tar")
    return [
        # no such object: 1
        *[([*cmd, "nosuch"], 1, NOSUCH_CONTAINER) for cmd in (
            ["top"], ["stats", "--no-stream"], ["logs"], ["port"], ["wait"], ["diff"],
            ["commit"], ["restart"], ["unpause"], ["start"], ["stop"], ["rm"],
            ["container", "inspect"])],
        (["exec", "nosuch", "true"], 1, NOSUCH_CONTAINER),
        (["rename", "nosuch", "other"], 1, NOSUCH_CONTAINER),
        (["cp", "nosuch:/x", str(tmp_path / "x")], 1, NOSUCH_CONTAINER),
        (["rmi", "nosuch"], 1, NOSUCH_IMAGE),
        (["history", "nosuch"], 1, NOSUCH_IMAGE),
        (["tag", "nosuch", "other"], 1, NOSUCH_IMAGE),
        (["image", "inspect", "nosuch"], 1, NOSUCH_IMAGE),
        (["save", "-o", out, "nosuch"], 1, NOSUCH_IMAGE),
        (["create", "nosuch"], 1, NOSUCH_IMAGE),
        (["inspect", "nosuch"], 1, "Error: No such object: nosuch"),
        (["network", "rm", "nosuch"], 1, "nosuch"),
        (["network", "inspect", "nosuch"], 1, "nosuch"),
        (["volume", "rm", "nosuch"], 1, "nosuch"),
        (["volume", "inspect", "nosuch"], 1, "nosuch"),
        # bad values, conflicts, host errors: 1
        (["network", "create", "--subnet", "bad", "never"], 1, "bad"),
        (["volume", "create", "-o", "bogus"], 1, '"bogus"'),
        (["load", "-i", "/nonexist"], 1, "open /nonexist: no such file or directory"),
        (["import", "/nonexist"], 1, "open /nonexist: no such file or directory"),
        (["tag", "bad::name", "other"], 1, "invalid reference format"),
        (["cp", "a", "b"], 1, "must specify at least one container source"),
        (["build", str(tmp_path / "nonexist")], 1, "unable to prepare context"),
        (["create", "--name", "up", "bb", "true"], 1, "is already in use"),
        (["exec", "stopped", "true"], 1, "is not running"),
        (["inspect", "--type", "bogus", "bb"], 1, 'unknown type: "bogus"'),
        # the wrong arguments: 1, even for run
        (["rm"], 1, "required"),
        (["logs", "a", "b"], 1, "unexpected argument: b"),
        (["exec", "up"], 1, "requires at least 2 arguments"),
        (["run"], 1, "required"),
        # unknown commands: 1
        (["frobnicate"], 1, "is not a hold command"),
        (["volume", "frobnicate"], 1, "is not a hold volume command"),
        (["container", "frobnicate"], 1, "unknown command"),
        # a flag the parser rejects: 125, printed bare as Docker does
        (["ps", "--bogus"], 125, "unknown flag: --bogus"),
        (["rm", "--bogus", "up"], 125, "unknown flag: --bogus"),
        (["volume", "ls", "--bogus"], 125, "unknown flag: --bogus"),
        (["run", "--bogus", "bb"], 125, "unknown flag: --bogus"),
        (["create", "--stop-timeout", "soon", "bb"], 125, "argument --stop-timeout"),
        # a malformed size or number, even before the image is looked up
        (["create", "-m", "bogus", "nosuch"], 125, "argument -m/--memory: invalid value 'bogus'"),
        (["create", "-m", "-1", "nosuch"], 125, "argument -m/--memory: invalid value '-1'"),
        (["create", "--memory-swap", "zz", "nosuch"], 125, "argument --memory-swap"),
        (["create", "--cpus", "x", "nosuch"], 125, "argument --cpus: invalid value 'x'"),
        (["create", "--pids-limit", "1.5", "nosuch"], 125, "argument --pids-limit"),
        # well-formed but out of range: the engine's error (create: 1)
        (["create", "-m", "1k", "bb"], 1, "Minimum memory limit allowed is 6MB"),
        (["create", "--memory-swap", "-1", "nosuch"], 1, NOSUCH_IMAGE),
        (["--bogus", "ps"], 125, "unknown flag: --bogus"),
        # run: 125 before the command runs, 126 / 127 for the command
        (["run", "nosuch"], 125, NOSUCH_IMAGE),
        (["container", "run", "nosuch"], 125, NOSUCH_IMAGE),
        (["run", "--mount", "type=bind,source=rel/dir,target=/x", "bb", "true"], 125,
         "relative host paths are not accepted"),
        (["run", "--name", "up", "bb", "true"], 125, "is already in use"),
        (["run", "--network", "none", "bb", "nosuchcmd"], 127, "executable file not found"),
        (["run", "--network", "none", "bb", "/etc/passwd"], 126, "permission denied"),
        # exec: 126 / 127 for the command
        (["exec", "up", "nosuchcmd"], 127, "executable file not found"),
        (["exec", "up", "/etc/passwd"], 126, "permission denied"),
        # inspect's malformed template: 64
        (["inspect", "--format", "{{.Bad", "bb"], 64, "failed to parse template"),
        (["inspect", "--format", "{{.Bad", "nosuch"], 64, "failed to parse template"),
        (["image", "inspect", "--format", "{{.Bad", "bb"], 64, "failed to parse template"),
        (["volume", "inspect", "--format", "{{.Bad", "nosuch"], 64, "failed to parse template"),
        (["network", "inspect", "--format", "{{.Bad", "none"], 64, "failed to parse template"),
        (["ps", "--format", "{{.Bad"], 1, "failed to parse template"),
    ]


def test_exit_codes_are_dockers(bb, tmp_path):
    bb.ok("run", "-d", "--network", "none", "--name", "up", "bb", "sleep", "300")
    bb.ok("create", "--network", "none", "--name", "stopped", "bb", "true")
    wrong = []
    for args, code, needle in table(tmp_path):
        r = bb(*args)
        first = r.stderr.splitlines()[0] if r.stderr else ""
        if r.returncode != code or needle not in first:
            wrong.append(f"hold {' '.join(args)}: exit {r.returncode} (want {code}): {first!r}")
    assert not wrong, "\n".join(wrong)
    names = bb.ok("ps", "-a", "--format", "{{.Names}}").split()
    assert sorted(n for n in names if n in ("up", "stopped")) == ["stopped", "up"]
    assert bb.ok("volume", "ls", "-q") == ""


def test_flag_errors_are_printed_bare(hold):
    r = hold("ps", "--bogus")
    assert r.stderr == "unknown flag: --bogus\nSee 'hold ps --help'.\n"


def test_build_run_failure_exits_with_the_commands_code(bb, tmp_path):
    (tmp_path / "Dockerfile").write_text("FROM bb\nRUN exit 3\n")
    r = bb("build", "--network", "none", str(tmp_path))
    assert r.returncode == 3
    assert "returned a non-zero code: 3" in r.stderr
