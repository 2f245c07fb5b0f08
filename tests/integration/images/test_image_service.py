"""ImageService in-process: commit on a parent, layer sharing, conflicts
with child images, and the layer store under concurrent processes."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

import pytest

from hold.errors import Conflict, ImageNotFound, InvalidArgument


def test_get_by_every_kind_of_reference(image_service, busybox_tar):
    image = image_service.import_tarball(busybox_tar, "registry:5000/team/bb:v1")
    for ref in ("registry:5000/team/bb:v1", image.id, image.id[7:], image.id[:19],
                image.short_id, image.short_id[:4]):
        assert image_service.get(ref).id == image.id
    with pytest.raises(ImageNotFound, match="No such image: registry:5000/team/bb:latest"):
        image_service.get("registry:5000/team/bb")
    with pytest.raises(InvalidArgument, match="invalid reference format"):
        image_service.get("UP::per")
    image_service.tag("registry:5000/team/bb:v1", "sha256:latest")
    assert image_service.get("sha256:latest").id == image.id
    assert image_service.get("sha256:" + image.id[7:11]).id == image.id
    assert image.layer_dirs == [image_service.paths.layer_dir(image.diff_ids[0])]
    assert image.config["rootfs"]["diff_ids"] == image.diff_ids


def test_ambiguous_short_id(image_service, busybox_tar):
    ids = [image_service.import_tarball(busybox_tar).id for _ in range(20)]
    firsts = [i[7] for i in ids]
    shared = next((c for c in firsts if firsts.count(c) > 1), None)
    if shared is None:
        pytest.skip("no shared first hex digit this time")
    with pytest.raises(InvalidArgument, match="ambiguous"):
        image_service.get(shared)


def _make_upper(root):
    os.makedirs(f"{root}/srv/www")
    with open(f"{root}/srv/www/index.html", "w") as f:
        f.write("<h1>hi</h1>\n")
    os.makedirs(f"{root}/bin")
    os.mknod(f"{root}/bin/vi", stat.S_IFCHR, os.makedev(0, 0))  # deleted in the container


def test_commit_on_a_parent_shares_its_layers(image_service, busybox_tar, tmp_path):
    parent = image_service.import_tarball(busybox_tar, "base", changes=["CMD sh"])
    upper = str(tmp_path / "upper")
    _make_upper(upper)
    diff_id, size = image_service.layer_from_upperdir(upper)
    assert size == len("<h1>hi</h1>\n")
    assert image_service.layer_from_upperdir(upper) == (diff_id, size)  # deterministic
    layer = image_service.paths.layer_dir(diff_id)
    white = os.lstat(f"{layer}/bin/vi")
    assert stat.S_ISCHR(white.st_mode) and white.st_rdev == 0
    child = image_service.commit(parent, diff_id, config_changes=["WORKDIR /srv/www"],
                                 comment="add site", author="me",
                                 created_by="/bin/sh -c #(nop) COPY index.html .",
                                 reference="site:v1")
    assert child.parent == parent.id
    assert child.diff_ids == parent.diff_ids + [diff_id]
    assert child.layer_dirs[0] == parent.layer_dirs[0]
    assert child.container_config == {"Cmd": ["/bin/sh", "-c", "sh"], "WorkingDir": "/srv/www"}
    assert child.config["author"] == "me"
    history = image_service.history("site:v1")
    assert [h["Id"] for h in history] == [child.id, parent.id]
    assert history[0]["CreatedBy"].endswith("COPY index.html .")
    assert history[0]["Size"] == size and history[0]["Tags"] == ["site:v1"]
    doc = image_service.inspect("site:v1")
    assert doc["Parent"] == parent.id
    assert doc["GraphDriver"]["Data"]["LowerDir"] == parent.layer_dirs[0]
    assert doc["GraphDriver"]["Data"]["UpperDir"] == layer

    with pytest.raises(Conflict, match=r"\(cannot be forced\) - image has dependent child images"):
        image_service.remove(parent.id, force=True)
    assert image_service.remove("base") == [("Untagged", "base:latest")]
    assert image_service.get(parent.id)  # kept: it has a child
    records = image_service.remove("site:v1")
    assert records == [("Untagged", "site:v1"), ("Deleted", child.id)]
    assert not os.path.exists(layer)
    assert os.path.isdir(parent.layer_dirs[0])
    records, _ = image_service.prune()
    assert records == [("Deleted", parent.id)]
    assert os.listdir(os.path.join(image_service.paths.root, "layers")) == []


def test_commit_without_layer_records_empty_history_entry(image_service, busybox_tar):
    parent = image_service.import_tarball(busybox_tar, "base")
    child = image_service.commit(parent, None, config_changes=['ENV A=1'],
                                 created_by='/bin/sh -c #(nop)  ENV A=1')
    rows = image_service.history(child.id)
    assert rows[0]["Size"] == 0 and rows[1]["Size"] == parent.size
    assert child.config["history"][-1]["empty_layer"] is True


def test_bad_commit_changes_store_nothing(image_service, busybox_tar):
    parent = image_service.import_tarball(busybox_tar, "base")
    with pytest.raises(InvalidArgument, match="FROM is not a valid change command"):
        image_service.commit(parent, None, config_changes=["FROM x"])
    assert [i.id for i in image_service.list()] == [parent.id]


def _hold(paths, *args):
    return subprocess.Popen([sys.executable, "-m", "hold.cli.main", "--root", paths.root,
                             "--runroot", paths.runroot, *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_concurrent_imports_of_one_tarball_store_the_layer_once(image_service, busybox_tar):
    paths = image_service.paths
    procs = [_hold(paths, "import", busybox_tar, f"bb:{n}") for n in range(6)]
    results = [(p.wait(timeout=120), p.stdout.read(), p.stderr.read()) for p in procs]
    assert all(code == 0 for code, _, _ in results), results
    assert len(os.listdir(os.path.join(paths.root, "layers"))) == 1
    assert len(image_service.list()) == 6
    assert os.listdir(paths.tmp) == []


def test_rmi_racing_imports_never_leaves_an_image_without_its_layer(image_service, busybox_tar):
    paths = image_service.paths
    image_service.import_tarball(busybox_tar, "seed")
    procs = []
    for n in range(4):
        procs.append(_hold(paths, "import", busybox_tar, f"bb:{n}"))
        procs.append(_hold(paths, "rmi", "seed" if n == 0 else f"bb:{n - 1}"))
    for p in procs:
        p.wait(timeout=120)
    for image in image_service.list():
        for directory in image.layer_dirs:
            assert os.path.isdir(f"{directory}/bin"), image.tags
    assert os.listdir(paths.tmp) == []


def test_leftovers_of_a_killed_import_are_found_and_repaired(image_service, busybox_tar):
    image = image_service.import_tarball(busybox_tar, "bb")
    paths = image_service.paths
    stray_layer = paths.layer_dir("sha256:" + "f" * 64)
    os.makedirs(f"{stray_layer}/bin")
    stray_blob = paths.blob("sha256:" + "e" * 64)
    with open(stray_blob, "wb") as f:
        f.write(b"half")
    assert image_service.leftovers() == []  # too young: could be an import in flight
    found = image_service.leftovers(min_age_s=-1)
    assert sorted(found) == sorted([stray_layer, stray_blob])
    assert image_service.leftovers(repair=True, min_age_s=-1) == found
    assert not os.path.exists(stray_layer) and not os.path.exists(stray_blob)
    assert image_service.leftovers(min_age_s=-1) == []
    assert os.path.isdir(image.layer_dirs[0])
    assert os.listdir(paths.tmp) == []


@pytest.fixture(scope="session")
def many_files_tar(tmp_path_factory) -> str:
    """A tarball slow enough to unpack that a kill lands in the middle."""
    import io
    import tarfile
    path = str(tmp_path_factory.mktemp("many") / "many.tar")
    with tarfile.open(path, "w") as tar:
        for d in range(40):
            info = tarfile.TarInfo(f"d{d}")
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
            for f in range(100):
                data = (f"{d}-{f}\n" * 50).encode()
                info = tarfile.TarInfo(f"d{d}/f{f}")
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return path


def test_import_killed_at_any_point_leaves_no_half_made_layer(image_service, many_files_tar):
    import signal
    import time
    paths = image_service.paths
    for delay in (0.05, 0.1, 0.2, 0.3, 0.5, 0.8, 1.2, 1.6):
        proc = _hold(paths, "import", many_files_tar, "many")
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
        proc.stderr.close()
        for image in image_service.list():
            assert len(os.listdir(image.layer_dirs[0])) == 40
        layers = os.path.join(paths.root, "layers")
        for name in os.listdir(layers) if os.path.isdir(layers) else ():
            assert sum(len(fs) for _, _, fs in os.walk(os.path.join(layers, name))) == 4000
    image = image_service.import_tarball(many_files_tar, "many")
    assert sum(len(fs) for _, _, fs in os.walk(image.layer_dirs[0])) == 4000
    image_service.leftovers(repair=True, min_age_s=-1)
    assert image_service.get("many").id == image.id


def test_disk_full_is_a_clear_error_and_leaves_nothing(tmp_path, busybox_tar):
    from hold.errors import SystemError_
    from hold.images import ImageService
    from hold.store import Paths, Store
    small = tmp_path / "small"
    small.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1500k", "tmpfs", str(small)], check=True)
    try:
        paths = Paths(str(small / "root"), str(tmp_path / "run"))
        store = Store(paths.db)
        service = ImageService(store, paths)
        with pytest.raises(SystemError_, match="No space left on device") as info:
            service.import_tarball(busybox_tar, "bb")
        assert info.value.errno == 28
        assert service.list() == []
        assert os.listdir(paths.tmp) == []
        store.close()
    finally:
        subprocess.run(["umount", str(small)], check=True)
