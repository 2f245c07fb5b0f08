"""README's first command, run as a user would (the `hold` and `mongo`
commands, not library calls): the walkthrough's sections 1-3 and the
replica set of section 5, with its data on local volumes, with `--storage
smb` on a Samba share mapped on the host, and with `--storage s3` on
volumes of the s3 driver.  Both runs share one
data root, so the Debian base and the node images are built once."""

import os
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def walkthrough_env(tmp_path_factory):
    base = tmp_path_factory.mktemp("walkthrough")
    env = {**os.environ, "HOLD_ROOT": str(base / "root"), "HOLD_RUNROOT": str(base / "run")}
    yield env
    from hold.testing import HoldCLI, leftovers, temporary_paths
    paths = temporary_paths(str(base))
    HoldCLI(paths).cleanup()
    assert leftovers(paths) == []


def _run(script, env, *args):
    result = subprocess.run(["bash", os.path.join(ROOT, "scripts", script), *args],
                            capture_output=True, text=True, timeout=1200, env=env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-8000:]
    return result.stdout + result.stderr


def test_main_job_replays_the_walkthrough(walkthrough_env):
    out = _run("main-job", walkthrough_env)
    assert "A /srv/www/index.html" in out                  # section 1: the writable layer
    assert "site content" in out                           # commit + history
    assert out.count("Hello, Volume!") >= 2                # section 2: data outlives containers
    assert "volume is in use" in out
    assert "from the container" in out                     # section 3: bind mounts both ways
    assert "Read-only file system" in out
    assert "PRIMARY" in out and "new primary:" in out     # section 5: election on loss
    assert "replica set report: 3 members, 1000 values read back" in out
    assert "1005 documents after re-creating every container" in out


def test_replica_set_on_an_smb_share(walkthrough_env):
    out = _run("replica-set", walkthrough_env, "--storage", "smb")
    assert "hold storage map //127.0.0.1:" in out
    assert "1005 documents after re-creating every container" in out
    assert "on the Samba server's own share directory" in out and "holddb.sqlite" in out
    assert "smbd panicked" not in out
    mounts = open("/proc/self/mountinfo").read()
    assert "hold-replica-set" not in mounts


def test_replica_set_on_object_storage(walkthrough_env):
    out = _run("replica-set", walkthrough_env, "--storage", "s3")
    assert "volume create -d s3 -o bucket=mongo" in out
    assert "1005 documents after re-creating every container" in out
    assert "in the S3 server's bucket: s3://mongo/mongodata1-db/holddb.sqlite" in out


def test_bad_storage_flag_is_refused_and_changes_nothing(walkthrough_env):
    result = subprocess.run(["bash", os.path.join(ROOT, "scripts", "replica-set"),
                             "--storage", "floppy"], capture_output=True, text=True,
                            env=walkthrough_env)
    assert result.returncode == 2 and "--storage takes local, smb or s3" in result.stderr
