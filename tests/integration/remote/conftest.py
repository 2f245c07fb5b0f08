"""Fixtures for the remote-storage tests: a real Samba server on a free
loopback port, and the leak check for FUSE mounts and rclone processes
(every mount a test makes must be gone when it ends)."""

from __future__ import annotations

import os
import subprocess

import pytest

from hold.volumes.remote.testing import SambaServer, fuse_mounts_under


@pytest.fixture(scope="module")
def samba():
    # in /tmp, not in pytest's 0700 tmp dirs: the share's user must reach it
    with SambaServer() as server:
        yield server
        assert server.panics() == [], "smbd panicked: " + "; ".join(server.panics()[:3])


def _rclone_pids_under(prefix: str) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
            with open(f"/proc/{entry}/stat") as f:
                zombie = f.read().rsplit(")", 1)[1].split()[0] == "Z"
        except OSError:
            continue
        if not zombie and argv and argv[0].endswith(b"rclone") and any(
                a.decode(errors="replace").startswith(prefix) for a in argv):
            found.append(int(entry))
    return found


@pytest.fixture(autouse=True)
def no_fuse_leftovers(tmp_path):
    """Fail a test that leaves a FUSE mount or an rclone process under its
    tmp_path, after clearing them (fusermount -u -z, SIGKILL)."""
    yield
    prefix = str(tmp_path)
    mounts = fuse_mounts_under(prefix)
    for point in mounts:
        subprocess.run(["fusermount", "-u", "-z", point], capture_output=True)
    pids = _rclone_pids_under(prefix)
    for pid in pids:
        try:
            os.kill(pid, 9)
        except ProcessLookupError:
            pass
    assert not mounts and not pids, f"left behind: mounts {mounts}, rclone {pids}"


@pytest.fixture(scope="module")
def sshd():
    from hold.volumes.remote.testing import SshServer
    with SshServer() as server:
        yield server


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    """moto's S3 server with a bucket ``hold``."""
    from hold.volumes.remote.testing import MotoServer
    with MotoServer(str(tmp_path_factory.mktemp("moto"))) as server:
        server.client().create_bucket(Bucket="hold")
        yield server


@pytest.fixture(scope="module")
def azurite(tmp_path_factory):
    from hold.volumes.remote.testing import AzuriteServer
    with AzuriteServer(str(tmp_path_factory.mktemp("azurite"))) as server:
        yield server
