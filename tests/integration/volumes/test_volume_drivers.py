"""The driver conformance suite against ``local`` and the fake driver, and
what only the local driver does (device mounts, owner and mode options)."""

from __future__ import annotations

import os

import pytest

from hold.testing import leftovers, temporary_paths
from hold.volumes.conformance import DriverConformance
from hold.volumes.local import LocalDriver, is_mountpoint
from hold.volumes.testing import FakeDriver


@pytest.fixture
def local_paths(tmp_path):
    paths = temporary_paths(str(tmp_path / "hold"))
    yield paths
    assert leftovers(paths) == []


class TestLocalDriver(DriverConformance):
    @pytest.fixture
    def driver(self, local_paths):
        return LocalDriver(local_paths)


class TestLocalDriverTmpfsVolumes(DriverConformance):
    """The same suite with the storage a host tmpfs mounted on first use."""

    options = {"type": "tmpfs", "device": "tmpfs", "o": "size=4m"}
    persistent = False

    @pytest.fixture
    def driver(self, local_paths):
        return LocalDriver(local_paths)


class TestLocalDriverQuotaVolumes(DriverConformance):
    """The same suite with each volume its own loop-mounted ext4 (size=)."""

    options = {"size": "8m"}

    @pytest.fixture
    def driver(self, local_paths):
        return LocalDriver(local_paths)


class TestFakeDriver(DriverConformance):
    @pytest.fixture
    def driver(self, tmp_path):
        return FakeDriver(str(tmp_path / "fake"))


def test_local_device_mount_released_by_last_unmount(local_paths):
    driver = LocalDriver(local_paths)
    driver.create("ram", {"type": "tmpfs", "o": "size=1m"})
    path = driver.mount("ram", "c1")
    assert is_mountpoint(path)
    driver.mount("ram", "c2")
    driver.unmount("ram", "c1")
    assert is_mountpoint(path)
    driver.unmount("ram", "c2")
    assert not is_mountpoint(path)
    driver.mount("ram", "c3")
    driver.remove("ram")                # unmounts first, never deletes through a mount
    assert not os.path.exists(os.path.dirname(path))


def test_local_bind_style_volume_keeps_host_data_on_remove(local_paths, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "precious").write_text("x")
    driver = LocalDriver(local_paths)
    driver.create("bindish", {"type": "none", "device": str(src), "o": "bind"})
    path = driver.mount("bindish", "c1")
    assert os.listdir(path) == ["precious"]
    driver.remove("bindish")
    assert (src / "precious").read_text() == "x"


def test_local_owner_and_mode_options(local_paths):
    driver = LocalDriver(local_paths)
    driver.create("owned", {"uid": "65534", "gid": "65534", "mode": "0750"})
    st = os.stat(driver.path("owned"))
    assert (st.st_uid, st.st_gid, st.st_mode & 0o7777) == (65534, 65534, 0o750)
    driver.remove("owned")


@pytest.mark.parametrize("options, message", [
    ({"size": "1G", "type": "tmpfs"}, "cannot be combined"),
    ({"device": "/dev/x"}, "needs type="),
    ({"type": "ext4"}, "needs device="),
    ({"mode": "rwx"}, "octal mode"),
])
def test_local_option_errors(local_paths, options, message):
    with pytest.raises(Exception) as err:
        LocalDriver(local_paths).create("bad", options)
    assert message in str(err.value)
    assert not os.path.exists(os.path.join(local_paths.root, "volumes", "bad"))


@pytest.mark.parametrize("device", ["/etc", "/", "/proc/1"])
def test_local_bind_style_volume_cannot_smuggle_sensitive_paths(local_paths, device):
    with pytest.raises(Exception) as err:
        LocalDriver(local_paths).create("sneaky", {"type": "none", "device": device,
                                                   "o": "bind"})
    assert "refusing a volume that binds" in str(err.value)
    assert not os.path.exists(os.path.join(local_paths.root, "volumes", "sneaky"))
