"""The pure parts of hold.images.transport: names, digests, platforms,
credentials, challenges, deterministic compression."""

from __future__ import annotations

import base64
import gzip
import json
import os

import pytest

from hold.errors import InvalidArgument, Unsupported


def test_public_surface():
    import hold.images.transport as transport
    assert sorted(transport.__all__) == ["AuthFile", "load_archive", "pull", "push",
                                         "save_images", "save_to_file"]
    for name in transport.__all__:
        assert getattr(transport, name) is not None


# ------------------------------------------------------------ archives

@pytest.mark.parametrize("ref, expected", [
    ("bb", True), ("team/app", True), ("reg:5000/team/app", True),
    ("bb:latest", False), ("reg:5000/app:v1", False), ("bb@sha256:" + "a" * 64, False)])
def test_name_only(ref, expected):
    from hold.images.transport._save import _name_only
    assert _name_only(ref) is expected


def test_digest_in_member_names():
    from hold.images.transport._load import _digest_in_name
    hexpart = "ab" * 32
    assert _digest_in_name(f"blobs/sha256/{hexpart}") == f"sha256:{hexpart}"
    assert _digest_in_name(f"{hexpart}.json") == f"sha256:{hexpart}"
    assert _digest_in_name("config.json") is None
    assert _digest_in_name(f"{hexpart}/layer.tar") is None


def test_oci_ref_annotations():
    from hold.images.transport._load import _oci_refs
    name = "io.containerd.image.name"
    ref = "org.opencontainers.image.ref.name"
    assert _oci_refs({name: "docker.io/library/bb:1", ref: "1"}) == ["docker.io/library/bb:1"]
    assert _oci_refs({ref: "example.com/a:b"}) == ["example.com/a:b"]
    assert _oci_refs({ref: "latest"}) == []      # a bare tag names no repository
    assert _oci_refs({}) == []


def test_blob_paths_refuse_odd_digests():
    from hold.images.transport._load import _blob_path
    assert _blob_path("sha256:" + "0" * 64) == "blobs/sha256/" + "0" * 64
    for bad in ("sha256:../../etc", "md5:" + "0" * 32, None, "sha256:" + "G" * 64):
        with pytest.raises(InvalidArgument):
            _blob_path(bad)


def test_choose_platform():
    from hold.images.config import host_architecture
    from hold.images.transport._load import choose_platform
    arch = host_architecture()
    other = "s390x" if arch != "s390x" else "amd64"
    manifests = [{"digest": "a", "platform": {"os": "linux", "architecture": other}},
                 {"digest": "w", "platform": {"os": "windows", "architecture": arch}},
                 {"digest": "b", "platform": {"os": "linux", "architecture": arch}}]
    assert choose_platform(manifests, "x")["digest"] == "b"
    with pytest.raises(Unsupported, match=f"no image for linux/{arch}.*linux/{other}"):
        choose_platform(manifests[:2], "x")


# ------------------------------------------------------------ registry

@pytest.mark.parametrize("host, insecure", [
    ("localhost:5000", True), ("127.0.0.1:5000", True), ("127.1.2.3", True),
    ("[::1]:5000", True), ("registry.example.com", False), ("10.0.0.1:5000", False)])
def test_plain_http_only_for_loopback(host, insecure):
    from hold.images.transport.registry import is_insecure
    assert is_insecure(host) is insecure


def test_challenge_parsing():
    from hold.images.transport.registry import _parse_challenge
    params = _parse_challenge('realm="https://auth.example/token",service="reg",'
                              'scope="repository:a/b:pull"')
    assert params == {"realm": "https://auth.example/token", "service": "reg",
                      "scope": "repository:a/b:pull"}


def test_platform_flag():
    from hold.images.config import host_architecture
    from hold.images.transport._pull import _platform
    assert _platform("") == {}
    assert _platform(f"linux/{host_architecture()}")["architecture"] == host_architecture()
    for bad in ("windows/amd64", "linux", "linux/a/b/c"):
        with pytest.raises(InvalidArgument):
            _platform(bad)


def test_gzip_compression_is_deterministic(tmp_path):
    from hold.images.transport._push import compress_layer
    src = tmp_path / "layer.tar"
    src.write_bytes(os.urandom(1000) * 50)
    first = compress_layer(str(src), str(tmp_path / "a.gz"), "gzip")
    second = compress_layer(str(src), str(tmp_path / "b.gz"), "gzip")
    assert first == second
    assert gzip.decompress((tmp_path / "a.gz").read_bytes()) == src.read_bytes()
    with pytest.raises(InvalidArgument, match="accepted: gzip, zstd"):
        compress_layer(str(src), str(tmp_path / "c"), "lz4")


# ------------------------------------------------------------- auth file

def test_auth_file_round_trip(tmp_path):
    from hold.images.transport.auth import AuthFile
    auth = AuthFile(str(tmp_path / "cfg" / "auth.json"))
    assert auth.get("127.0.0.1:5000") is None
    auth.store("http://127.0.0.1:5000/v2/", "me", "pa:ss")
    assert auth.get("127.0.0.1:5000") == ("me", "pa:ss")
    data = json.loads((tmp_path / "cfg" / "auth.json").read_text())
    assert base64.b64decode(data["auths"]["127.0.0.1:5000"]["auth"]) == b"me:pa:ss"
    assert oct(os.stat(tmp_path / "cfg" / "auth.json").st_mode & 0o777) == "0o600"
    assert auth.remove("127.0.0.1:5000") is True
    assert auth.remove("127.0.0.1:5000") is False
    assert auth.get("127.0.0.1:5000") is None


def test_auth_file_reads_docker_config_shape(tmp_path):
    from hold.images.transport.auth import AuthFile
    path = tmp_path / "auth.json"
    path.write_text(json.dumps({"auths": {
        "https://index.docker.io/v1/": {"auth": base64.b64encode(b"hub:pw").decode()},
        "reg.example:443": {"username": "u", "password": "p"}},
        "credsStore": "desktop"}))
    auth = AuthFile(str(path))
    assert auth.get("docker.io") == ("hub", "pw")
    assert auth.get("reg.example:443") == ("u", "p")
    auth.store("reg.example:443", "u2", "p2")
    assert json.loads(path.read_text())["credsStore"] == "desktop"   # left alone


def test_auth_file_env_and_bad_json(tmp_path, monkeypatch):
    from hold.images.transport.auth import AuthFile
    monkeypatch.setenv("HOLD_CONFIG", str(tmp_path))
    auth = AuthFile()
    assert auth.path == str(tmp_path / "auth.json")
    (tmp_path / "auth.json").write_text("{nope")
    with pytest.raises(InvalidArgument, match="not valid JSON"):
        auth.get("x")
