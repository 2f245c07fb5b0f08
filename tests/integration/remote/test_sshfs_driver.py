"""The sshfs driver against a real sshd on loopback: the shared suite,
durability (fsync reaches the server), errors, and containers."""

from __future__ import annotations

import os
import stat

import pytest

from hold.errors import InvalidArgument, SystemError_
from hold.testing import leftovers, temporary_paths
from hold.volumes.conformance import DriverConformance
from hold.volumes.remote.sshfs import SshfsDriver


@pytest.fixture
def ssh_paths(tmp_path):
    paths = temporary_paths(str(tmp_path / "hold"))
    yield paths
    assert leftovers(paths, networks=False) == []


def ssh_options(sshd) -> dict:
    return {"sshcmd": sshd.sshcmd, "port": str(sshd.port), "identity-file": sshd.identity}


class TestSshfsDriver(DriverConformance):
    @pytest.fixture
    def driver(self, ssh_paths, sshd):
        self.options = ssh_options(sshd)
        driver = SshfsDriver(ssh_paths)
        yield driver
        for volume in driver.list():
            driver.remove(volume.name)


def test_fsync_reaches_the_server(ssh_paths, sshd):
    driver = SshfsDriver(ssh_paths)
    driver.create("durable", ssh_options(sshd))
    assert "fsync reaches the server" in driver.get("durable").status["Durability"]
    path = driver.mount("durable", "c1")
    fd = os.open(os.path.join(path, "journal"), os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        os.write(fd, b"committed")
        os.fsync(fd)
        with open(os.path.join(sshd.export, "durable", "journal"), "rb") as f:
            assert f.read() == b"committed"            # before the close
    finally:
        os.close(fd)
    driver.unmount("durable", "c1")
    driver.remove("durable")
    assert not os.path.exists(os.path.join(sshd.export, "durable"))


def test_key_is_root_only_and_wrong_key_fails_at_create(ssh_paths, sshd, tmp_path):
    driver = SshfsDriver(ssh_paths)
    driver.create("keyed", ssh_options(sshd))
    vdir = os.path.join(ssh_paths.root, "volumes", "keyed")
    assert stat.S_IMODE(os.stat(os.path.join(vdir, "identity")).st_mode) == 0o600
    assert "PRIVATE" not in repr(driver.get("keyed"))
    driver.remove("keyed")
    import subprocess
    other = str(tmp_path / "other")
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", other], check=True)
    with pytest.raises(SystemError_) as err:
        driver.create("denied", dict(ssh_options(sshd), **{"identity-file": other}))
    assert "Permission denied" in str(err.value)
    assert driver.list() == []
    with pytest.raises(InvalidArgument, match="USER@HOST"):
        driver.create("bad", dict(ssh_options(sshd), sshcmd="nohost"))


def test_containers_share_an_sshfs_volume(bb, sshd):
    opts = [x for k, v in ssh_options(sshd).items() for x in ("-o", f"{k}={v}")]
    r = bb("volume", "create", "-d", "sshfs", *opts, "remote1")
    assert r.returncode == 0, r.stderr
    bb.ok("run", "--rm", "--network", "none", "-v", "remote1:/data", "bb",
          "sh", "-c", "echo over-ssh > /data/f && ln /data/f /data/g")
    assert bb.ok("run", "--rm", "--network", "none", "-v", "remote1:/data", "bb",
                 "cat", "/data/g") == "over-ssh\n"
    with open(os.path.join(sshd.export, "remote1", "f")) as f:
        assert f.read() == "over-ssh\n"
    bb.ok("volume", "rm", "remote1")
