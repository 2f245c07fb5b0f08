"""Bad input: a clear error, a non-zero exit, and no image, scratch dir or mount left.

The ``hold`` fixture itself fails a test that leaves a mount or a monitor.
"""

from __future__ import annotations

import os

import pytest


def _fails(bb, h, ctx, *flags, expect: str, code: int | None = None):
    before = h.all_images(bb)
    result = bb("build", "-t", "never", *flags, ctx)
    assert result.returncode != 0, result.stdout
    if code is not None:
        assert result.returncode == code
    assert expect in result.stderr, result.stderr
    assert result.stderr.count("Error:") == 1
    assert h.all_images(bb) == before, "a failed build left an image"
    assert h.build_leftovers(bb) == []
    assert bb("images", "-q", "never").stdout == ""
    return result


@pytest.mark.parametrize("dockerfile, expect", [
    ("FROM bb\nRUN true\nFROBNICATE x\n", "Dockerfile line 3: unknown instruction: FROBNICATE"),
    ("FROM bb\nCOPY onlyone\n", "Dockerfile line 2: COPY: COPY requires at least two"),
    ("RUN true\n", "Dockerfile line 1: RUN: no build stage"),
    ("FROM bb\nEXPOSE notaport\n", "Dockerfile line 2: EXPOSE: invalid port"),
    ("FROM nosuchimage\n", "FROM nosuchimage: no such image"),
    ("", "no FROM instruction"),
])
def test_malformed_dockerfiles(bb, context, h, dockerfile, expect):
    _fails(bb, h, context({"Dockerfile": dockerfile}), expect=expect)


def test_missing_file(bb, context, h):
    _fails(bb, h, context({"Dockerfile": "FROM bb\nRUN echo made-a-layer\n"
                                         "COPY nothere.txt /\n"}),
           expect="Dockerfile line 3: COPY: COPY failed: file not found in build context")


def test_copy_from_outside_the_context_via_dotdot(bb, context, h, tmp_path):
    (tmp_path / "secret.txt").write_text("secret\n")
    _fails(bb, h, context({"Dockerfile": "FROM bb\nCOPY ../secret.txt /\n"}),
           expect="forbidden path outside the build context: ../secret.txt")


def test_copy_from_outside_the_context_via_symlink(bb, context, h, tmp_path):
    (tmp_path / "secret.txt").write_text("secret\n")
    ctx = context({"Dockerfile": "FROM bb\nCOPY link /\n"})
    os.symlink(str(tmp_path / "secret.txt"), os.path.join(ctx, "link"))
    _fails(bb, h, ctx, expect="forbidden path outside the build context: link")
    ctx = context({"Dockerfile": "FROM bb\nCOPY sub/passwd /\n"})
    os.symlink("/etc", os.path.join(ctx, "sub"))
    _fails(bb, h, ctx, expect="forbidden path outside the build context: sub/passwd")


def test_failing_run_reports_docker_message_and_its_exit_code(bb, context, h):
    ctx = context({"Dockerfile": "FROM bb\nENV A=1\nRUN echo before\nRUN false\nRUN echo after\n"})
    result = _fails(bb, h, ctx, expect="The command '/bin/sh -c false' returned a "
                                       "non-zero code: 1", code=1)
    assert "after" not in result.stdout
    result = _fails(bb, h, context({"Dockerfile": "FROM bb\nRUN exit 3\n"}),
                    expect="returned a non-zero code: 3", code=3)


def test_run_of_a_missing_command(bb, context, h):
    _fails(bb, h, context({"Dockerfile": 'FROM bb\nRUN ["/no/such/binary"]\n'}),
           expect="/no/such/binary")


def test_unknown_target(bb, context, h):
    _fails(bb, h, context({"Dockerfile": "FROM bb AS one\nRUN true\n"}), "--target", "two",
           expect="failed to reach build target two in Dockerfile")


@pytest.mark.parametrize("flag, expect", [
    ("=value", "invalid argument '=value' for --build-arg"),
    ("1BAD=x", "invalid --build-arg '1BAD'"),
    ("A-B=x", "invalid --build-arg 'A-B'"),
])
def test_bad_build_args(bb, context, h, flag, expect):
    _fails(bb, h, context({"Dockerfile": "FROM bb\n"}), "--build-arg", flag, expect=expect)


def test_bad_tags_context_and_dockerfile_flag(bb, context, h):
    ctx = context({"Dockerfile": "FROM bb\n"})
    _fails(bb, h, ctx, "-t", "UPPER:case", expect="invalid reference format")
    _fails(bb, h, ctx, "-f", os.path.join(ctx, "Nope"), expect="Cannot locate specified "
                                                               "Dockerfile")
    result = bb("build", os.path.join(ctx, "missing-dir"))
    assert result.returncode != 0 and "unable to prepare context" in result.stderr
    result = bb("build", "https://example.com/repo.git")
    assert result.returncode != 0 and "local directory" in result.stderr


def test_add_from_url_is_refused(bb, context, h):
    _fails(bb, h, context({"Dockerfile": "FROM bb\nADD https://example.com/x.tgz /\n"}),
           expect="needs network access")


def test_buildkit_only_run_flags_are_refused(bb, context, h):
    _fails(bb, h, context({"Dockerfile": "FROM bb\nRUN --mount=type=cache,target=/c true\n"}),
           expect="Dockerfile line 2: RUN --mount needs BuildKit")


def test_failed_build_keeps_earlier_cache_and_images(bb, context, h):
    ctx = context({"Dockerfile": "FROM bb\nRUN echo kept > /k\n", "x": ""})
    bb.ok("build", "-t", "good", ctx)
    before = h.all_images(bb)
    with open(os.path.join(ctx, "Dockerfile"), "a") as f:
        f.write("RUN false\n")
    result = bb("build", "-t", "good", ctx)
    assert result.returncode == 1 and "Using cache" in result.stdout
    assert h.all_images(bb) == before
    assert bb.ok("run", "--rm", "good", "cat", "/k") == "kept\n"


def test_interrupted_build_kills_its_container_and_cleans_up(bb, context, h):
    import signal
    import subprocess
    import time
    ctx = context({"Dockerfile": "FROM bb\nRUN echo started; sleep 3141\n"})
    before = h.all_images(bb)
    proc = subprocess.Popen(bb.base + ["build", ctx], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    line = ""
    while "started" not in line and time.monotonic() < deadline:
        line = proc.stdout.readline()
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=30) == 130
    proc.stdout.close()
    proc.stderr.close()
    assert h.all_images(bb) == before and h.build_leftovers(bb) == []
    assert h.processes_running("sleep 3141") == []


@pytest.mark.parametrize("sig, code", [("SIGINT", 130), ("SIGTERM", 143)])
def test_signal_at_any_moment_of_a_run_step_leaves_nothing(bb, context, h, sig, code):
    import signal
    import subprocess
    import time
    ctx = context({"Dockerfile": "FROM bb\nRUN sleep 2718\n"})
    before = h.all_images(bb)
    for delay in (0.15, 0.3, 0.45, 0.6):
        proc = subprocess.Popen(bb.base + ["build", ctx], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        time.sleep(delay)
        proc.send_signal(getattr(signal, sig))
        assert proc.wait(timeout=30) in (code, 1, 0 - getattr(signal, sig)), delay
        assert h.all_images(bb) == before and h.build_leftovers(bb) == [], delay
        assert h.processes_running("sleep 2718") == [], delay
