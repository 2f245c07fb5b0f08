"""README's first command, run as a user would: it must replay the
walkthrough steps that hold supports today and leave nothing behind."""

import os
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_main_job_replays_the_walkthrough():
    result = subprocess.run(["bash", os.path.join(ROOT, "scripts", "main-job")],
                            capture_output=True, text=True, timeout=600)
    out = result.stdout
    assert result.returncode == 0, out[-3000:] + result.stderr[-3000:]
    assert "A /srv/www/index.html" in out                  # section 1: the writable layer
    assert "site content" in out                           # commit + history
    assert out.count("Hello, Volume!") >= 2                # section 2: data outlives containers
    assert "volume is in use" in out + result.stderr
    assert "from the container" in out                     # section 3: bind mounts both ways
    assert "Read-only file system" in out
    assert "hello from mongo-node1" in out                 # section 5: DNS by name
    assert "hold-main-job" not in subprocess.run(["ls", "/tmp"], capture_output=True,
                                                  text=True).stdout
