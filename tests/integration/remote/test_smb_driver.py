"""The smb driver against a real Samba server: the shared conformance
suite, then what only a remote driver does (login errors, secrets, the
FUSE server's supervision)."""

from __future__ import annotations

import os
import signal
import stat

import pytest

from hold.errors import InvalidArgument, SystemError_
from hold.testing import leftovers, temporary_paths
from hold.volumes.conformance import DriverConformance
from hold.volumes.remote.smb import SmbDriver
from hold.volumes.remote.testing import fuse_mounts_under


@pytest.fixture
def smb_paths(tmp_path):
    paths = temporary_paths(str(tmp_path / "hold"))
    yield paths
    assert leftovers(paths, networks=False) == []


def share_options(samba) -> dict:
    return {"share": samba.unc, "username": samba.user,
            "password-file": samba.password_file}


class TestSmbDriver(DriverConformance):
    @pytest.fixture
    def driver(self, smb_paths, samba):
        self.options = share_options(samba)
        driver = SmbDriver(smb_paths)
        yield driver
        for volume in driver.list():
            driver.remove(volume.name)


def test_volume_is_a_directory_on_the_share(smb_paths, samba):
    driver = SmbDriver(smb_paths)
    driver.create("ondisk", share_options(samba))
    path = driver.mount("ondisk", "c1")
    with open(os.path.join(path, "note.txt"), "w") as f:
        f.write("from the host")
    driver.unmount("ondisk", "c1")                      # waits for the upload
    with open(os.path.join(samba.share_dir, "ondisk", "note.txt")) as f:
        assert f.read() == "from the host"
    assert samba.get("ondisk/note.txt") == b"from the host"
    driver.remove("ondisk")
    assert not os.path.exists(os.path.join(samba.share_dir, "ondisk"))


def test_secret_is_root_only_and_never_reported(smb_paths, samba):
    driver = SmbDriver(smb_paths)
    driver.create("secretive", share_options(samba))
    vdir = os.path.join(smb_paths.root, "volumes", "secretive")
    mode = os.stat(os.path.join(vdir, "secret")).st_mode
    assert stat.S_IMODE(mode) == 0o600 and stat.S_IMODE(os.stat(vdir).st_mode) == 0o700
    for name in os.listdir(vdir):
        if name != "secret" and os.path.isfile(os.path.join(vdir, name)):
            with open(os.path.join(vdir, name), errors="replace") as f:
                assert samba.password not in f.read(), name
    assert samba.password not in repr(driver.get("secretive"))
    driver.mount("secretive", "c1")
    pid = int(open(os.path.join(vdir, "fuse.pid")).read().split()[0])
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        assert samba.password.encode() not in f.read()
    driver.unmount("secretive", "c1")
    driver.remove("secretive")


def test_wrong_password_fails_at_create_leaving_nothing(smb_paths, samba, tmp_path):
    wrong = tmp_path / "wrong"
    wrong.write_text("not-the-password\n")
    driver = SmbDriver(smb_paths)
    with pytest.raises(SystemError_) as err:
        driver.create("denied", dict(share_options(samba), **{"password-file": str(wrong)}))
    assert "logon" in str(err.value) and "not-the-password" not in str(err.value)
    assert not os.path.exists(os.path.join(smb_paths.root, "volumes", "denied"))


def test_unreachable_server_fails_at_create(smb_paths, samba):
    from hold.volumes.remote.testing import free_port
    driver = SmbDriver(smb_paths)
    options = dict(share_options(samba), share=f"//127.0.0.1:{free_port()}/data")
    with pytest.raises(SystemError_) as err:
        driver.create("nowhere", options)
    assert "refused" in str(err.value)
    assert driver.list() == []


def test_bad_options_are_invalid_arguments(smb_paths, samba):
    driver = SmbDriver(smb_paths)
    for bad, word in (({"password": "x"}, "password-file"),
                      ({"share": "server/share"}, "//HOST"),
                      ({"uid": "alice"}, "number"),
                      ({"vers": "9"}, "vers")):
        with pytest.raises(InvalidArgument) as err:
            driver.create("bad", dict(share_options(samba), **bad))
        assert word in str(err.value)
    assert driver.list() == []


def test_dead_fuse_server_is_remounted_on_next_use(smb_paths, samba):
    driver = SmbDriver(smb_paths)
    driver.create("phoenix", share_options(samba))
    path = driver.mount("phoenix", "c1")
    with open(os.path.join(path, "kept"), "w") as f:
        f.write("still here")
    driver.unmount("phoenix", "c1")
    path = driver.mount("phoenix", "c2")
    vdir = os.path.join(smb_paths.root, "volumes", "phoenix")
    pid = int(open(os.path.join(vdir, "fuse.pid")).read().split()[0])
    os.kill(pid, signal.SIGKILL)
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass
    assert driver.get("phoenix").status["Mounted"] == "dead"
    with pytest.raises(OSError):
        os.listdir(path)
    path = driver.mount("phoenix", "c3")                # clears the dead mount, mounts again
    with open(os.path.join(path, "kept")) as f:
        assert f.read() == "still here"
    driver.unmount("phoenix", "c2")
    driver.unmount("phoenix", "c3")
    assert fuse_mounts_under(smb_paths.root) == []
    driver.remove("phoenix")


def test_durability_statement_fsync_does_not_reach_the_server_through_rclone(
        smb_paths, samba):
    """What docs/cli/storage.md and Status say for rclone: fsync stays in
    the local write cache; the upload follows the close, and the last
    unmount waits for it."""
    driver = SmbDriver(smb_paths)
    driver.create("durable", share_options(samba))
    assert "fsync does not reach" in driver.get("durable").status["Durability"]
    path = driver.mount("durable", "c1")
    on_server = os.path.join(samba.share_dir, "durable", "journal")
    fd = os.open(os.path.join(path, "journal"), os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        os.write(fd, b"committed?")
        os.fsync(fd)
        assert not os.path.exists(on_server) or open(on_server, "rb").read() != b"committed?"
    finally:
        os.close(fd)
    driver.unmount("durable", "c1")
    assert open(on_server, "rb").read() == b"committed?"
    driver.remove("durable")
