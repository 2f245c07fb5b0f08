"""``hold save`` / ``hold load`` on their own: formats, and every bad input
(one line, exit 1 as Docker's, nothing changed, nothing left in tmp/)."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import pty
import subprocess
import tarfile

import pytest


def state(hold):
    layers = os.path.join(hold.paths.root, "layers")
    return (hold.ok("images", "-a", "--no-trunc", "--format", "{{.ID}} {{.Repository}}:{{.Tag}}"),
            sorted(os.listdir(layers)) if os.path.isdir(layers) else [])


def fails(hold, *args, needle, stdin: bytes | None = None):
    before = state(hold)
    proc = subprocess.run(hold.base + list(args), input=stdin, capture_output=True,
                          timeout=120, stdin=None if stdin is not None else subprocess.DEVNULL)
    err = proc.stderr.decode()
    assert proc.returncode == 1, (proc.stdout, err)
    assert needle in err, err
    assert err.startswith("Error: ") and err.count("\n") == 1, err
    assert state(hold) == before
    assert not os.listdir(hold.paths.tmp) if os.path.isdir(hold.paths.tmp) else True
    return err


def read_archive(path) -> dict[str, bytes]:
    with tarfile.open(path) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar if m.isreg()}


def write_archive(path, members: dict[str, bytes]) -> str:
    with tarfile.open(path, "w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return str(path)


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def saved(bb, tmp_path) -> tuple[dict[str, bytes], dict]:
    path = tmp_path / "bb.tar"
    bb.ok("save", "-o", str(path), "bb:latest")
    members = read_archive(path)
    return members, json.loads(members["manifest.json"])[0]


# ------------------------------------------------------------- good input

def test_save_layout_is_docker_and_oci(bb, tmp_path):
    members, entry = saved(bb, tmp_path)
    assert entry["RepoTags"] == ["bb:latest"]
    assert json.loads(members["oci-layout"]) == {"imageLayoutVersion": "1.0.0"}
    index = json.loads(members["index.json"])
    (descriptor,) = index["manifests"]
    assert descriptor["annotations"]["io.containerd.image.name"] == "docker.io/library/bb:latest"
    assert descriptor["annotations"]["org.opencontainers.image.ref.name"] == "latest"
    for name, data in members.items():
        if name.startswith("blobs/sha256/"):
            assert sha(data) == "sha256:" + name.rsplit("/", 1)[1]
    again = tmp_path / "again.tar"
    bb.ok("save", "-o", str(again), "bb:latest")
    assert open(again, "rb").read() == open(tmp_path / "bb.tar", "rb").read()


def test_save_by_id_has_no_tags_and_load_prints_the_id(bb, tmp_path):
    image_id = bb.ok("image", "inspect", "--format", "{{.Id}}", "bb").strip()
    path = tmp_path / "byid.tar"
    bb.ok("save", "-o", str(path), image_id[7:19])
    bb.ok("rmi", "bb")
    assert bb.ok("load", "-i", str(path)) == f"Loaded image ID: {image_id}\n"


def test_save_repository_name_saves_every_tag(bb, tmp_path):
    bb.ok("tag", "bb", "bb:two")
    path = tmp_path / "all.tar"
    bb.ok("save", "-o", str(path), "bb")
    (entry,) = json.loads(read_archive(path)["manifest.json"])
    assert sorted(entry["RepoTags"]) == ["bb:latest", "bb:two"]


def test_oci_layout_with_gzip_layers_and_a_multi_arch_index(bb, tmp_path):
    """A plain OCI image layout (no manifest.json), as skopeo or buildx
    write it: gzip layers, an index naming a foreign platform first."""
    from hold.images.config import host_architecture
    members, entry = saved(bb, tmp_path)
    config = members[entry["Config"]]
    layer = gzip.compress(members[entry["Layers"][0]])
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": sha(config), "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": sha(layer), "size": len(layer)}]}).encode()
    other = "s390x" if host_architecture() != "s390x" else "amd64"
    inner = json.dumps({"schemaVersion": 2,
                        "mediaType": "application/vnd.oci.image.index.v1+json",
                        "manifests": [
                            {"mediaType": "application/vnd.oci.image.manifest.v1+json",
                             "digest": sha(b"x"), "size": 1,
                             "platform": {"os": "linux", "architecture": other}},
                            {"mediaType": "application/vnd.oci.image.manifest.v1+json",
                             "digest": sha(manifest), "size": len(manifest),
                             "platform": {"os": "linux",
                                          "architecture": host_architecture()}}]}).encode()
    index = json.dumps({"schemaVersion": 2, "manifests": [
        {"mediaType": "application/vnd.oci.image.index.v1+json", "digest": sha(inner),
         "size": len(inner), "annotations": {
             "org.opencontainers.image.ref.name": "example.com/team/oci:1.0"}}]}).encode()
    blobs = {f"blobs/sha256/{sha(d)[7:]}": d for d in (config, layer, manifest, inner)}
    path = write_archive(tmp_path / "oci.tar", {"oci-layout": b'{"imageLayoutVersion":"1.0.0"}',
                                                "index.json": index, **blobs})
    assert bb.ok("load", "-i", path) == "Loaded image: example.com/team/oci:1.0\n"
    assert bb.ok("run", "--rm", "example.com/team/oci:1.0", "echo", "oci") == "oci\n"
    assert bb.ok("image", "inspect", "--format", "{{.Id}}", "example.com/team/oci:1.0") \
        == bb.ok("image", "inspect", "--format", "{{.Id}}", "bb")


def test_legacy_layout_with_symlinked_layer(bb, tmp_path):
    """Docker 20.10's own layout: <v1>/layer.tar; a layer two images share
    is stored once and the second image's layer.tar is a symlink to it."""
    members, entry = saved(bb, tmp_path)
    layer = members[entry["Layers"][0]]
    configs = []
    for word in ("one", "two"):
        config = json.loads(members[entry["Config"]])
        config["config"] = {"Cmd": ["echo", word]}
        configs.append(json.dumps(config).encode())
    manifest = [{"Config": f"{sha(c)[7:]}.json", "RepoTags": [f"legacy:{w}"],
                 "Layers": [f"{d}/layer.tar"]}
                for c, w, d in zip(configs, ("one", "two"), ("aaa", "bbb"))]
    path = tmp_path / "legacy.tar"
    with tarfile.open(path, "w") as tar:
        for name, blob in ((f"{sha(configs[0])[7:]}.json", configs[0]),
                           (f"{sha(configs[1])[7:]}.json", configs[1]),
                           ("aaa/layer.tar", layer),
                           ("manifest.json", json.dumps(manifest).encode())):
            info = tarfile.TarInfo(name)
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
        link = tarfile.TarInfo("bbb/layer.tar")
        link.type, link.linkname = tarfile.SYMTYPE, "../aaa/layer.tar"
        tar.addfile(link)
    assert bb.ok("load", "-i", str(path)) == "Loaded image: legacy:one\nLoaded image: legacy:two\n"
    assert bb.ok("run", "--rm", "legacy:two") == "two\n"


def test_load_refuses_a_symlink_out_of_the_archive(bb, tmp_path):
    members, entry = saved(bb, tmp_path)
    path = tmp_path / "out.tar"
    with tarfile.open(path, "w") as tar:
        for name, blob in members.items():
            if name != entry["Layers"][0]:
                info = tarfile.TarInfo(name)
                info.size = len(blob)
                tar.addfile(info, io.BytesIO(blob))
        link = tarfile.TarInfo(entry["Layers"][0])
        link.type, link.linkname = tarfile.SYMTYPE, "../../../../etc/passwd"
        tar.addfile(link)
    fails(bb, "load", "-i", str(path), needle="could escape")


# -------------------------------------------------------------- bad input

def test_save_unknown_image_writes_nothing(bb, tmp_path):
    fails(bb, "save", "-o", str(tmp_path / "x.tar"), "bb", "nosuch:1", needle="No such image")
    assert not os.path.exists(tmp_path / "x.tar")
    assert os.listdir(tmp_path) == ["hold"] or "x.tar" not in os.listdir(tmp_path)


def test_save_to_a_missing_directory(bb, tmp_path):
    fails(bb, "save", "-o", str(tmp_path / "no" / "x.tar"), "bb", needle="does not exist")


def test_save_refuses_a_terminal(bb):
    primary, secondary = pty.openpty()
    try:
        proc = subprocess.run(bb.base + ["save", "bb"], stdout=secondary,
                              stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, timeout=60)
    finally:
        os.close(secondary)
        os.close(primary)
    assert proc.returncode == 1
    assert b"cowardly refusing to save to a terminal" in proc.stderr


def test_load_rejects_bad_archives(bb, tmp_path):
    members, entry = saved(bb, tmp_path)
    fails(bb, "load", "-i", str(tmp_path / "missing.tar"), needle="no such file")
    fails(bb, "load", stdin=b"", needle="input is empty")
    fails(bb, "load", stdin=b"this is not a tar archive at all" * 40,
          needle="not a tar archive")
    data = open(tmp_path / "bb.tar", "rb").read()
    truncated = tmp_path / "truncated.tar"
    truncated.write_bytes(data[:len(data) // 2])
    fails(bb, "load", "-i", str(truncated), needle="")
    no_manifest = write_archive(tmp_path / "none.tar", {"hello": b"x"})
    fails(bb, "load", "-i", no_manifest, needle="neither manifest.json")
    bad_json = write_archive(tmp_path / "json.tar", {**members, "manifest.json": b"[{"})
    fails(bb, "load", "-i", bad_json, needle="manifest.json is not valid JSON")


def test_load_rejects_digest_mismatch(bb, tmp_path):
    members, entry = saved(bb, tmp_path)
    layer_name = entry["Layers"][0]
    tampered = bytearray(members[layer_name])
    at = tampered.index(b"root:x:0:0")
    tampered[at:at + 4] = b"ROOT"
    path = write_archive(tmp_path / "tampered.tar", {**members, layer_name: bytes(tampered)})
    fails(bb, "load", "-i", path, needle="digest mismatch")
    # the same bytes in a legacy-named member: caught by the diff id check
    legacy = {k: v for k, v in members.items() if not k.startswith("blobs/")}
    legacy["c.json"] = members[entry["Config"]]
    legacy["l/layer.tar"] = bytes(tampered)
    legacy["manifest.json"] = json.dumps([{"Config": "c.json", "RepoTags": ["t:1"],
                                           "Layers": ["l/layer.tar"]}]).encode()
    path = write_archive(tmp_path / "legacy.tar", legacy)
    fails(bb, "load", "-i", path, needle="but the image config names diff id")


def test_load_rejects_an_unsafe_layer_and_writes_nothing_outside(bb, tmp_path):
    members, entry = saved(bb, tmp_path)
    evil = io.BytesIO()
    with tarfile.open(fileobj=evil, mode="w") as tar:
        info = tarfile.TarInfo("../../../../escaped")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"hi"))
    evil = evil.getvalue()
    good = members[entry["Layers"][0]]
    config = json.loads(members[entry["Config"]])
    config["rootfs"]["diff_ids"] = [sha(good), sha(evil)]
    data = json.dumps(config).encode()
    path = write_archive(tmp_path / "evil.tar", {
        "c.json": data, "a/layer.tar": good, "b/layer.tar": evil,
        "manifest.json": json.dumps([{"Config": "c.json", "RepoTags": ["evil:1"],
                                      "Layers": ["a/layer.tar", "b/layer.tar"]}]).encode()})
    bb.ok("rmi", "bb")          # so the good layer would be new, and must not stay
    fails(bb, "load", "-i", path, needle="could escape the layer")
    assert not os.path.exists(os.path.join(bb.paths.root, "escaped"))
    assert not os.path.exists("/escaped")


def test_load_rejects_a_layer_count_mismatch(bb, tmp_path):
    members, entry = saved(bb, tmp_path)
    manifest = [dict(entry, Layers=entry["Layers"] * 2)]
    path = write_archive(tmp_path / "count.tar",
                         {**members, "manifest.json": json.dumps(manifest).encode()})
    fails(bb, "load", "-i", path, needle="has 2 layers but its config names 1")


def test_load_without_input_on_a_terminal(bb):
    primary, secondary = pty.openpty()
    try:
        proc = subprocess.run(bb.base + ["load"], stdin=secondary, capture_output=True,
                              timeout=60)
    finally:
        os.close(secondary)
        os.close(primary)
    assert proc.returncode == 1 and b"stdin is empty" in proc.stderr


@pytest.mark.parametrize("ref", ["Bad:Name", "a:b:c"])
def test_load_rejects_bad_repo_tags(bb, tmp_path, ref):
    members, entry = saved(bb, tmp_path)
    path = write_archive(tmp_path / "tags.tar", {**members, "manifest.json": json.dumps(
        [dict(entry, RepoTags=[ref])]).encode()})
    fails(bb, "load", "-i", path, needle="")


def test_concurrent_loads_of_one_archive(bb, tmp_path):
    path = tmp_path / "bb.tar"
    bb.ok("save", "-o", str(path), "bb:latest")
    bb.ok("rmi", "bb")          # the layer goes too: the loads race to unpack it
    assert os.listdir(os.path.join(bb.paths.root, "layers")) == []
    procs = [subprocess.Popen(bb.base + ["load", "-i", str(path)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE) for _ in range(4)]
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        assert out == b"Loaded image: bb:latest\n"
    assert len(os.listdir(os.path.join(bb.paths.root, "layers"))) == 1
    assert os.listdir(bb.paths.tmp) == []
