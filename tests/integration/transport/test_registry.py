"""``hold push`` / ``hold pull`` / ``hold login`` against a real
docker-registry on 127.0.0.1 (open, htpasswd basic auth, token auth)."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import subprocess
import urllib.request

import pytest


def image_id(hold, ref: str) -> str:
    return hold.ok("image", "inspect", "--format", "{{.Id}}", ref).strip()


def state(hold):
    layers = os.path.join(hold.paths.root, "layers")
    return (hold.ok("images", "-a", "--no-trunc", "--format", "{{.ID}} {{.Repository}}:{{.Tag}}"),
            sorted(os.listdir(layers)) if os.path.isdir(layers) else [])


def fails(hold, *args, needle, stdin: str | None = None):
    before = state(hold)
    proc = hold(*args, input=stdin, env=dict(os.environ))
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    assert needle in proc.stderr, proc.stderr
    assert proc.stderr.startswith("Error: ") and proc.stderr.count("\n") == 1, proc.stderr
    assert state(hold) == before
    assert not os.listdir(hold.paths.tmp) if os.path.isdir(hold.paths.tmp) else True
    return proc.stderr


def run(hold, *args, stdin: str | None = None) -> str:
    """``hold ARGS`` with this test's environment (HOLD_CONFIG), checked."""
    return hold(*args, input=stdin, env=dict(os.environ), check=True).stdout


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def build_two_layers(bb, tmp_path, tag: str) -> str:
    context = tmp_path / "ctx"
    context.mkdir(exist_ok=True)
    (context / "Dockerfile").write_text(
        "FROM bb:latest\nRUN echo pushed > /hello && rm /bin/vi\nCMD [\"cat\", \"/hello\"]\n")
    bb.ok("build", "-q", "-t", tag, str(context))
    return image_id(bb, tag)


def test_push_then_pull_into_an_empty_root(registry, bb, hold_config, tmp_path, tmp_path_factory):
    from hold.testing import HoldCLI, temporary_paths
    ref = f"{registry.host}/team/app:v1"
    wanted = build_two_layers(bb, tmp_path, ref)
    out = run(bb, "push", ref)
    assert out.startswith(f"The push refers to repository [{registry.host}/team/app]\n")
    assert out.count(": Pushed\n") == 2
    assert out.splitlines()[-1].startswith("v1: digest: sha256:")
    again = run(bb, "push", ref)
    assert again.count(": Layer already exists\n") == 2

    other = HoldCLI(temporary_paths(str(tmp_path_factory.mktemp("other"))))
    try:
        pulled = run(other, "pull", ref)
        lines = pulled.splitlines()
        assert lines[0] == "v1: Pulling from team/app"
        assert sum(line.endswith(": Pull complete") for line in lines) == 2
        assert lines[-3].startswith("Digest: sha256:")
        assert lines[-2] == f"Status: Downloaded newer image for {ref}"
        assert lines[-1] == ref
        assert image_id(other, ref) == wanted
        assert other.ok("run", "--rm", ref) == "pushed\n"
        assert other.ok("run", "--rm", ref, "sh", "-c", "test -e /bin/vi || echo gone") == "gone\n"
        up_to_date = run(other, "pull", ref).splitlines()
        assert up_to_date[-2] == f"Status: Image is up to date for {ref}"
        assert sum(line.endswith(": Already exists") for line in up_to_date) == 2
    finally:
        other.cleanup()


def test_pull_reuses_stored_layers(registry, bb, hold_config, tmp_path):
    ref = f"{registry.host}/team/reuse:v1"
    build_two_layers(bb, tmp_path, ref)
    run(bb, "push", ref)
    bb.ok("rmi", ref)
    lines = run(bb, "pull", ref).splitlines()
    assert sum(line.endswith(": Already exists") for line in lines) == 2


def test_zstd_push_and_pull(registry, bb, hold_config, tmp_path_factory):
    import shutil
    if not shutil.which("zstd"):
        pytest.skip("zstd program missing")
    from hold.testing import HoldCLI, temporary_paths
    ref = f"{registry.host}/team/zstd:v1"
    bb.ok("tag", "bb", ref)
    run(bb, "push", "--compression", "zstd", ref)
    manifest = registry_manifest(registry, "team/zstd", "v1")
    assert manifest["layers"][0]["mediaType"].endswith("+zstd")
    other = HoldCLI(temporary_paths(str(tmp_path_factory.mktemp("z"))))
    try:
        run(other, "pull", ref)
        assert image_id(other, ref) == image_id(bb, ref)
        assert other.ok("run", "--rm", ref, "echo", "z") == "z\n"
    finally:
        other.cleanup()


def registry_manifest(registry, repo: str, ref: str) -> dict:
    request = urllib.request.Request(
        f"http://{registry.host}/v2/{repo}/manifests/{ref}",
        headers={"Accept": "application/vnd.oci.image.manifest.v1+json, "
                           "application/vnd.oci.image.index.v1+json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def registry_put(registry, path: str, data: bytes, media: str = "") -> None:
    headers = {"Content-Type": media} if media else {}
    request = urllib.request.Request(f"http://{registry.host}{path}", data=data,
                                     method="PUT", headers=headers)
    urllib.request.urlopen(request, timeout=10).close()


def registry_blob(registry, repo: str, data: bytes) -> str:
    start = urllib.request.Request(f"http://{registry.host}/v2/{repo}/blobs/uploads/",
                                   data=b"", method="POST")
    with urllib.request.urlopen(start, timeout=10) as response:
        location = response.headers["Location"]
    if location.startswith("/"):
        location = f"http://{registry.host}{location}"
    digest = sha(data)
    sep = "&" if "?" in location else "?"
    urllib.request.urlopen(urllib.request.Request(
        f"{location}{sep}digest={digest}", data=data, method="PUT",
        headers={"Content-Type": "application/octet-stream"}), timeout=10).close()
    return digest


def test_multi_arch_index_chooses_the_host_platform(registry, bb, hold_config,
                                                    tmp_path_factory):
    """An index naming another platform first and the host second."""
    from hold.images.config import host_architecture
    from hold.testing import HoldCLI, temporary_paths
    repo = "team/multi"
    host_ref = f"{registry.host}/{repo}:host"
    bb.ok("tag", "bb", host_ref)
    run(bb, "push", host_ref)
    host_manifest = registry_manifest(registry, repo, "host")
    host_bytes = json.dumps(host_manifest, separators=(",", ":")).encode()
    other_arch = "s390x" if host_architecture() != "s390x" else "amd64"
    other_config = json.dumps({"architecture": other_arch, "os": "linux",
                               "rootfs": {"type": "layers", "diff_ids": []}}).encode()
    config_digest = registry_blob(registry, repo, other_config)
    other_manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": config_digest, "size": len(other_config)},
        "layers": []}).encode()
    registry_put(registry, f"/v2/{repo}/manifests/{other_arch}", other_manifest,
                 "application/vnd.oci.image.manifest.v1+json")
    registry_put(registry, f"/v2/{repo}/manifests/host", host_bytes,
                 "application/vnd.oci.image.manifest.v1+json")
    index = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {"mediaType": "application/vnd.oci.image.manifest.v1+json",
             "digest": sha(other_manifest), "size": len(other_manifest),
             "platform": {"os": "linux", "architecture": other_arch}},
            {"mediaType": "application/vnd.oci.image.manifest.v1+json",
             "digest": sha(host_bytes), "size": len(host_bytes),
             "platform": {"os": "linux", "architecture": host_architecture()}}]}).encode()
    registry_put(registry, f"/v2/{repo}/manifests/multi", index,
                 "application/vnd.oci.image.index.v1+json")
    other = HoldCLI(temporary_paths(str(tmp_path_factory.mktemp("m"))))
    try:
        out = run(other, "pull", f"{registry.host}/{repo}:multi")
        assert f"Digest: {sha(index)}" in out
        assert image_id(other, f"{registry.host}/{repo}:multi") == image_id(bb, "bb")
        by_digest = run(other, "pull", f"{registry.host}/{repo}@{sha(host_bytes)}")
        assert by_digest.splitlines()[-1] == f"{registry.host}/{repo}@{sha(host_bytes)}"
    finally:
        other.cleanup()


# ------------------------------------------------------------ with Docker

def test_hold_push_docker_pull_and_run(registry, docker, bb, hold_config, tmp_path):
    ref = f"{registry.host}/cross/tohold:v1"
    wanted = build_two_layers(bb, tmp_path, ref)
    run(bb, "push", ref)
    docker(["pull", ref])
    assert docker(["inspect", "--format", "{{.Id}}", ref]).stdout.decode().strip() == wanted
    assert docker(["run", "--rm", "--network", "none", ref]).stdout == b"pushed\n"
    docker(["rmi", ref])


def test_docker_push_hold_pull_and_run(registry, docker, hold, hold_config, tmp_path):
    ref = f"{registry.host}/cross/fromdocker:v1"
    context = tmp_path / "dctx"
    context.mkdir()
    (context / "Dockerfile").write_text(
        "FROM dbb:latest\nRUN echo docker-pushed > /hello\nCMD [\"cat\", \"/hello\"]\n")
    docker(["build", "-q", "--network", "none", "-t", ref, str(context)])
    docker(["push", ref])
    wanted = docker(["inspect", "--format", "{{.Id}}", ref]).stdout.decode().strip()
    run(hold, "pull", ref)
    assert image_id(hold, ref) == wanted
    assert hold.ok("run", "--rm", ref) == "docker-pushed\n"
    docker(["rmi", ref])


# ------------------------------------------------------------------ auth

def test_basic_auth_login_push_pull(basic_registry, bb, hold_config):
    host = basic_registry.host
    ref = f"{host}/secure/app:v1"
    bb.ok("tag", "bb", ref)
    fails(bb, "push", ref, needle="unauthorized")
    fails(bb, "login", "-u", "tester", "--password-stdin", host, stdin="wrong\n",
          needle="unauthorized")
    assert not (hold_config / "auth.json").exists()
    out = run(bb, "login", "-u", "tester", "--password-stdin", host, stdin="s3cret\n")
    assert out.strip().endswith("Login Succeeded")
    auth = json.loads((hold_config / "auth.json").read_text())
    assert host in auth["auths"] and oct((hold_config / "auth.json").stat().st_mode & 0o777) == "0o600"
    run(bb, "push", ref)
    bb.ok("rmi", ref)
    run(bb, "pull", ref)
    assert run(bb, "logout", host) == f"Removing login credentials for {host}\n"
    bb.ok("rmi", ref)
    fails(bb, "pull", ref, needle="unauthorized")


def test_token_auth_login_push_pull(token_registry, bb, hold_config):
    host = token_registry.host
    ref = f"{host}/tok/app:v1"
    bb.ok("tag", "bb", ref)
    fails(bb, "push", ref, needle="unauthorized")
    fails(bb, "login", "-u", "tester", "--password-stdin", host, stdin="nope",
          needle="unauthorized")
    run(bb, "login", "-u", "tester", "--password-stdin", host, stdin="s3cret")
    run(bb, "push", ref)
    bb.ok("rmi", ref)
    run(bb, "pull", ref)
    assert bb.ok("run", "--rm", ref, "echo", "tok") == "tok\n"
    assert any("scope=repository%3Atok%2Fapp%3Apull%2Cpush" in r
               for r in token_registry.token_server.requests)


# ------------------------------------------------------------- bad input

def test_pull_errors(registry, bb, hold_config):
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    fails(bb, "pull", f"127.0.0.1:{dead}/x/y:1", needle="registry unreachable")
    fails(bb, "pull", f"{registry.host}/nosuch/repo:1", needle="not found")
    fails(bb, "push", f"{registry.host}/x/y:1", needle="No such image")
    fails(bb, "pull", f"{registry.host}/Bad/Name", needle="invalid reference format")
    fails(bb, "pull", "--platform", "linux/s390x" if os.uname().machine != "s390x"
          else "linux/amd64", f"{registry.host}/x/y:1", needle="this machine")


def test_pull_rejects_a_tampered_blob(registry, bb, hold_config, tmp_path):
    """The registry serves what its storage holds: corrupt a stored layer
    blob on disk and the pull must fail on the digest, recording nothing.
    (The layer is unique to this test: blobs are shared across repositories.)"""
    import io
    import tarfile
    ref = f"{registry.host}/team/tamper:v1"
    layer = tmp_path / "unique.tar"
    with tarfile.open(layer, "w") as tar:
        data = os.urandom(4096).hex().encode()
        info = tarfile.TarInfo("unique")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    bb.ok("import", str(layer), ref)
    run(bb, "push", ref)
    manifest = registry_manifest(registry, "team/tamper", "v1")
    digest = manifest["layers"][0]["digest"][7:]
    blob = os.path.join(registry.base, "data", "docker", "registry", "v2", "blobs",
                        "sha256", digest[:2], digest, "data")
    data = bytearray(open(blob, "rb").read())
    data[len(data) // 2] ^= 0xFF
    with open(blob, "wb") as f:
        f.write(data)
    bb.ok("rmi", ref)
    fails(bb, "pull", ref, needle="digest mismatch")


def test_gzip_layers_have_a_stable_digest(registry, bb, hold_config):
    ref = f"{registry.host}/team/stable:v1"
    bb.ok("tag", "bb", ref)
    run(bb, "push", ref)
    first = registry_manifest(registry, "team/stable", "v1")["layers"]
    run(bb, "push", ref)
    assert registry_manifest(registry, "team/stable", "v1")["layers"] == first
    assert first[0]["mediaType"].endswith("+gzip")
    blob = urllib.request.urlopen(
        f"http://{registry.host}/v2/team/stable/blobs/{first[0]['digest']}", timeout=10).read()
    assert sha(gzip.decompress(blob)) == json.loads(
        bb.ok("image", "inspect", ref))[0]["RootFS"]["Layers"][0]


def test_docker_manifest_list_pulls_the_host_image(registry, docker, hold, hold_config):
    """A Docker-typed manifest list, made by `docker manifest`, from Docker's
    own pushed image."""
    repo = f"{registry.host}/cross/listed"
    docker(["tag", "dbb:latest", f"{repo}:v1"])
    docker(["push", f"{repo}:v1"])
    made = docker(["manifest", "create", "--insecure", f"{repo}:list", f"{repo}:v1"],
                  check=False)
    if made.returncode != 0:
        pytest.skip(f"docker manifest is unavailable: {made.stderr.decode()[-200:]}")
    docker(["manifest", "push", "--insecure", f"{repo}:list"])
    request = urllib.request.Request(
        f"http://{registry.host}/v2/cross/listed/manifests/list",
        headers={"Accept": "application/vnd.docker.distribution.manifest.list.v2+json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.headers["Content-Type"] == \
            "application/vnd.docker.distribution.manifest.list.v2+json"
    run(hold, "pull", f"{repo}:list")
    assert image_id(hold, f"{repo}:list") == docker(
        ["inspect", "--format", "{{.Id}}", f"{repo}:v1"]).stdout.decode().strip()
    assert hold.ok("run", "--rm", f"{repo}:list", "echo", "listed") == "listed\n"
    docker(["rmi", f"{repo}:v1"])


def test_push_to_a_registry_that_is_down(bb, hold_config):
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    bb.ok("tag", "bb", f"127.0.0.1:{dead}/x/y:1")
    fails(bb, "push", f"127.0.0.1:{dead}/x/y:1", needle="registry unreachable")


def test_concurrent_pulls_of_one_image(registry, bb, hold_config, tmp_path_factory):
    """Several hold processes pulling the same image into one root: all
    succeed, the layer is stored once, nothing is left in tmp/."""
    from hold.testing import HoldCLI, temporary_paths
    ref = f"{registry.host}/team/race:v1"
    bb.ok("tag", "bb", ref)
    run(bb, "push", ref)
    other = HoldCLI(temporary_paths(str(tmp_path_factory.mktemp("race"))))
    try:
        procs = [subprocess.Popen(other.base + ["pull", ref], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, env=dict(os.environ))
                 for _ in range(4)]
        for proc in procs:
            out, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, err
        assert len(os.listdir(os.path.join(other.paths.root, "layers"))) == 1
        assert os.listdir(other.paths.tmp) == []
        assert other.ok("run", "--rm", ref, "echo", "raced") == "raced\n"
    finally:
        other.cleanup()
