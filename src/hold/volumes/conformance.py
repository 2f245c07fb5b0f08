"""The conformance suite every volume driver passes (volumes/driver.py).

It ships in the package (like ``hold.testing``) so that every driver's tests,
ours and third parties', import the same suite.  It needs pytest.  Use it by
subclassing ``DriverConformance`` in a ``test_*.py`` file and
giving the class two things: a ``driver`` fixture (a fresh driver on fresh
storage, cleaned up after) and ``options``, a dict of options the driver
accepts (``{}`` is fine).  Remote-storage drivers run the same class
against their real servers.
"""

from __future__ import annotations

import os

import pytest

from hold.errors import InvalidArgument, VolumeNotFound
from hold.volumes.driver import Capabilities, DriverVolume, VolumeDriver

__all__ = ["DriverConformance"]


class DriverConformance:
    options: dict = {}
    #: False for storage that lives only while mounted (a tmpfs volume):
    #: the checks that data outlives the last unmount are skipped.
    persistent: bool = True

    def test_is_a_volume_driver(self, driver):
        assert isinstance(driver, VolumeDriver)
        assert isinstance(driver.name, str) and driver.name
        caps = driver.capabilities()
        assert isinstance(caps, Capabilities) and caps.scope in ("local", "global")

    def test_create_get_list_path(self, driver):
        driver.create("vol-a", self.options)
        got = driver.get("vol-a")
        assert isinstance(got, DriverVolume) and got.name == "vol-a"
        assert "vol-a" in [v.name for v in driver.list()]
        path = driver.mount("vol-a", "c1")
        try:
            assert os.path.isdir(path)
            assert driver.path("vol-a") in ("", path)
        finally:
            driver.unmount("vol-a", "c1")
        driver.remove("vol-a")

    def test_create_again_keeps_data(self, driver):
        if not self.persistent:
            pytest.skip("storage lives only while mounted")
        driver.create("vol-b", self.options)
        path = driver.mount("vol-b", "c1")
        with open(os.path.join(path, "f"), "w") as f:
            f.write("kept")
        driver.unmount("vol-b", "c1")
        driver.create("vol-b", self.options)
        path = driver.mount("vol-b", "c2")
        with open(os.path.join(path, "f")) as f:
            assert f.read() == "kept"
        driver.unmount("vol-b", "c2")
        driver.remove("vol-b")

    def test_data_survives_unmount_and_is_shared_by_mounts(self, driver):
        driver.create("vol-c", self.options)
        first = driver.mount("vol-c", "c1")
        second = driver.mount("vol-c", "c2")
        assert first == second
        with open(os.path.join(first, "shared"), "w") as f:
            f.write("both")
        driver.unmount("vol-c", "c1")
        with open(os.path.join(second, "shared")) as f:
            assert f.read() == "both"
        driver.unmount("vol-c", "c2")
        again = driver.mount("vol-c", "c3")
        if self.persistent:
            with open(os.path.join(again, "shared")) as f:
                assert f.read() == "both"
        driver.unmount("vol-c", "c3")
        driver.remove("vol-c")

    def test_remove_deletes_data(self, driver):
        driver.create("vol-d", self.options)
        path = driver.mount("vol-d", "c1")
        with open(os.path.join(path, "gone"), "w") as f:
            f.write("x")
        driver.unmount("vol-d", "c1")
        driver.remove("vol-d")
        assert "vol-d" not in [v.name for v in driver.list()]
        with pytest.raises(VolumeNotFound):
            driver.get("vol-d")
        driver.create("vol-d", self.options)
        path = driver.mount("vol-d", "c1")
        assert os.listdir(path) == []
        driver.unmount("vol-d", "c1")
        driver.remove("vol-d")

    @pytest.mark.parametrize("operation", ["get", "path", "remove", "mount"])
    def test_unknown_volume_is_not_found(self, driver, operation):
        call = getattr(driver, operation)
        with pytest.raises(VolumeNotFound):
            call("never-made", "c1") if operation == "mount" else call("never-made")

    def test_unknown_option_is_invalid_argument_naming_accepted(self, driver):
        with pytest.raises(InvalidArgument) as err:
            driver.create("vol-e", {"no-such-option": "1"})
        assert "no-such-option" in str(err.value) and "accepts" in str(err.value)
        assert "vol-e" not in [v.name for v in driver.list()]

    def test_list_has_exactly_the_volumes(self, driver):
        for name in ("l1", "l2", "l3"):
            driver.create(name, self.options)
        driver.remove("l2")
        names = [v.name for v in driver.list()]
        assert "l1" in names and "l3" in names and "l2" not in names
        driver.remove("l1")
        driver.remove("l3")
