"""The s3 driver against a real S3 server (moto) on loopback: the shared
suite, objects where the docs say, secrets and errors, containers."""

from __future__ import annotations

import os

import pytest

from hold.errors import InvalidArgument, SystemError_
from hold.testing import leftovers, temporary_paths
from hold.volumes.conformance import DriverConformance
from hold.volumes.remote.s3 import S3Driver


@pytest.fixture
def s3_paths(tmp_path):
    paths = temporary_paths(str(tmp_path / "hold"))
    yield paths
    assert leftovers(paths, networks=False) == []


@pytest.fixture
def key_file(tmp_path, s3):
    path = tmp_path / "s3.key"
    path.write_text(s3.secret_key + "\n")
    return str(path)


def s3_options(s3, key_file) -> dict:
    return {"bucket": "hold/volumes", "endpoint": s3.endpoint,
            "access-key-id": s3.access_key, "secret-access-key-file": key_file}


class TestS3Driver(DriverConformance):
    @pytest.fixture
    def driver(self, s3_paths, s3, key_file):
        self.options = s3_options(s3, key_file)
        driver = S3Driver(s3_paths)
        yield driver
        for volume in driver.list():
            driver.remove(volume.name)


def _keys(s3, prefix):
    listing = s3.client().list_objects_v2(Bucket="hold", Prefix=prefix)
    return sorted(o["Key"] for o in listing.get("Contents", []))


def test_objects_are_under_the_volumes_prefix(s3_paths, s3, key_file):
    driver = S3Driver(s3_paths)
    driver.create("objs", s3_options(s3, key_file))
    assert driver.get("objs").status["Prefix"] == "hold/volumes/objs/"
    path = driver.mount("objs", "c1")
    os.makedirs(os.path.join(path, "sub"))
    with open(os.path.join(path, "sub", "a.txt"), "w") as f:
        f.write("object")
    driver.unmount("objs", "c1")                     # waits for the upload
    assert _keys(s3, "volumes/objs/") == ["volumes/objs/sub/a.txt"]
    body = s3.client().get_object(Bucket="hold", Key="volumes/objs/sub/a.txt")["Body"]
    assert body.read() == b"object"
    driver.remove("objs")
    assert _keys(s3, "volumes/objs/") == []


def test_bad_options_and_wrong_endpoint(s3_paths, s3, key_file):
    driver = S3Driver(s3_paths)
    for bad, word in (({"secret-access-key": "x"}, "secret-access-key-file"),
                      ({"bucket": "Bad_Bucket"}, "bucket"),
                      ({"endpoint": "ftp://x"}, "endpoint"),
                      ({"colour": "x"}, "accepts")):
        with pytest.raises(InvalidArgument, match=word):
            driver.create("bad", {**s3_options(s3, key_file), **bad})
    from hold.volumes.remote.testing import free_port
    with pytest.raises(SystemError_, match="refused"):
        driver.create("nowhere", {**s3_options(s3, key_file),
                                  "endpoint": f"http://127.0.0.1:{free_port()}"})
    assert driver.list() == []


def test_containers_share_an_s3_volume(bb, s3, key_file):
    opts = [x for k, v in s3_options(s3, key_file).items() for x in ("-o", f"{k}={v}")]
    r = bb("volume", "create", "-d", "s3", *opts, "bucketed")
    assert r.returncode == 0, r.stderr
    bb.ok("run", "--rm", "--network", "none", "-v", "bucketed:/data", "bb",
          "sh", "-c", "echo to-s3 > /data/f")
    assert bb.ok("run", "--rm", "--network", "none", "-v", "bucketed:/data", "bb",
                 "cat", "/data/f") == "to-s3\n"
    assert _keys(s3, "volumes/bucketed/") == ["volumes/bucketed/f"]
    inspect = bb.ok("volume", "inspect", "bucketed")
    assert s3.secret_key not in inspect
    bb.ok("volume", "rm", "bucketed")
