"""README's first command, run as a user would: it must replay the
walkthrough steps that hold supports today and leave nothing behind."""

import os
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_main_job_replays_the_walkthrough(tmp_path):
    env = {**os.environ, "HOLD_ROOT": str(tmp_path / "root"), "HOLD_RUNROOT": str(tmp_path / "run")}
    try:
        result = subprocess.run(["bash", os.path.join(ROOT, "scripts", "main-job")],
                                capture_output=True, text=True, timeout=1200, env=env)
    finally:
        from hold.testing import HoldCLI, temporary_paths
        cli = HoldCLI(temporary_paths(str(tmp_path)))
        cli.cleanup()
    out = result.stdout
    assert result.returncode == 0, out[-3000:] + result.stderr[-3000:]
    assert "A /srv/www/index.html" in out                  # section 1: the writable layer
    assert "site content" in out                           # commit + history
    assert out.count("Hello, Volume!") >= 2                # section 2: data outlives containers
    assert "volume is in use" in out + result.stderr
    assert "from the container" in out                     # section 3: bind mounts both ways
    assert "Read-only file system" in out
    assert "PRIMARY" in out and "new primary:" in out     # section 5: election on loss
    assert "replica set report: 3 members, 1000 values read back" in out
    assert "1005 documents after re-creating every container" in out
    assert "hold-main-job" not in subprocess.run(["ls", "/tmp"], capture_output=True,
                                                  text=True).stdout
