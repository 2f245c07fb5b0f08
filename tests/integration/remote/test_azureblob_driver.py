"""The azureblob driver against Azurite on loopback: the shared suite,
blobs where the docs say, errors, containers."""

from __future__ import annotations

import os

import pytest

from hold.errors import InvalidArgument, SystemError_
from hold.testing import leftovers, temporary_paths
from hold.volumes.conformance import DriverConformance
from hold.volumes.remote.azureblob import AzureBlobDriver


@pytest.fixture
def az_paths(tmp_path):
    paths = temporary_paths(str(tmp_path / "hold"))
    yield paths
    assert leftovers(paths, networks=False) == []


@pytest.fixture
def key_file(tmp_path, azurite):
    path = tmp_path / "azure.key"
    path.write_text(azurite.key + "\n")
    return str(path)


def az_options(azurite, key_file) -> dict:
    return {"container": "hold/volumes", "account": azurite.account,
            "key-file": key_file, "endpoint": azurite.endpoint}


class TestAzureBlobDriver(DriverConformance):
    @pytest.fixture
    def driver(self, az_paths, azurite, key_file):
        self.options = az_options(azurite, key_file)
        driver = AzureBlobDriver(az_paths)
        yield driver
        for volume in driver.list():
            driver.remove(volume.name)


def test_blobs_are_under_the_volumes_prefix(az_paths, azurite, key_file):
    driver = AzureBlobDriver(az_paths)
    driver.create("blobs", az_options(azurite, key_file))
    path = driver.mount("blobs", "c1")
    with open(os.path.join(path, "a.txt"), "w") as f:
        f.write("blob")
    driver.unmount("blobs", "c1")
    assert azurite.rclone("cat", ":azureblob:hold/volumes/blobs/a.txt") == "blob"
    driver.remove("blobs")
    assert azurite.rclone("lsf", ":azureblob:hold/volumes") == ""


def test_wrong_key_and_bad_options(az_paths, azurite, key_file, tmp_path):
    driver = AzureBlobDriver(az_paths)
    wrong = tmp_path / "wrong.key"
    wrong.write_text("d3Jvbmc=\n")
    with pytest.raises(SystemError_):
        driver.create("denied", {**az_options(azurite, key_file), "key-file": str(wrong)})
    for bad, word in (({"key": "x"}, "key-file"), ({"container": "No_Such"}, "container"),
                      ({"colour": "x"}, "accepts")):
        with pytest.raises(InvalidArgument, match=word):
            driver.create("bad", {**az_options(azurite, key_file), **bad})
    assert driver.list() == []


def test_containers_share_an_azureblob_volume(bb, azurite, key_file):
    opts = [x for k, v in az_options(azurite, key_file).items() for x in ("-o", f"{k}={v}")]
    r = bb("volume", "create", "-d", "azureblob", *opts, "azvol")
    assert r.returncode == 0, r.stderr
    bb.ok("run", "--rm", "--network", "none", "-v", "azvol:/data", "bb",
          "sh", "-c", "echo to-azure > /data/f")
    assert bb.ok("run", "--rm", "--network", "none", "-v", "azvol:/data", "bb",
                 "cat", "/data/f") == "to-azure\n"
    assert azurite.rclone("cat", ":azureblob:hold/volumes/azvol/f") == "to-azure\n"
    assert azurite.key not in bb.ok("volume", "inspect", "azvol")
    bb.ok("volume", "rm", "azvol")
