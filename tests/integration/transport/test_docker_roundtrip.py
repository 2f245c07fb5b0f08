"""Images between hold and a real Docker engine, both ways, through
``docker save`` / ``hold load`` and ``hold save`` / ``docker load``."""

from __future__ import annotations

import gzip
import json
import os

DOCKERFILE = """\
FROM dbb:latest
RUN echo from-docker > /hello && rm /bin/vi && mkdir -p /data && echo d > /data/f
ENV GREETING=hi
WORKDIR /data
CMD ["cat", "/hello"]
"""


def docker_build(docker, tmp_path, tag: str, dockerfile: str) -> str:
    context = tmp_path / f"ctx-{tag.replace(':', '-')}"
    context.mkdir()
    (context / "Dockerfile").write_text(dockerfile)
    docker(["build", "-q", "--network", "none", "-t", tag, str(context)])
    return docker(["inspect", "--format", "{{.Id}}", tag]).stdout.decode().strip()


def test_docker_save_loads_and_runs_in_hold(docker, hold, tmp_path):
    image_id = docker_build(docker, tmp_path, "fromdocker:v1", DOCKERFILE)
    archive = tmp_path / "docker.tar"
    docker(["save", "-o", str(archive), "fromdocker:v1"])
    out = hold.ok("load", "-i", str(archive))
    assert out == "Loaded image: fromdocker:v1\n"
    assert hold.ok("image", "inspect", "--format", "{{.Id}}", "fromdocker:v1").strip() == image_id
    assert hold.ok("run", "--rm", "fromdocker:v1") == "from-docker\n"
    assert hold.ok("run", "--rm", "fromdocker:v1", "sh", "-c",
                   "echo $GREETING; pwd; cat f; test -e /bin/vi || echo no-vi") == \
        "hi\n/data\nd\nno-vi\n"
    layers = json.loads(hold.ok("image", "inspect", "fromdocker:v1"))[0]["RootFS"]["Layers"]
    docker_layers = json.loads(docker(["image", "inspect", "fromdocker:v1"]).stdout)[0][
        "RootFS"]["Layers"]
    assert layers == docker_layers and len(layers) == 2


def test_gzipped_docker_save_from_stdin(docker, hold, tmp_path):
    data = docker(["save", "dbb:latest"]).stdout
    import subprocess
    proc = subprocess.run(hold.base + ["load"], input=gzip.compress(data),
                          capture_output=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == b"Loaded image: dbb:latest\n"
    assert hold.ok("run", "--rm", "dbb", "echo", "ok") == "ok\n"


def test_hold_save_loads_and_runs_in_docker(docker, bb, tmp_path):
    context = tmp_path / "ctx"
    context.mkdir()
    (context / "Dockerfile").write_text(
        "FROM bb:latest\nRUN echo from-hold > /hello && rm /bin/vi\n"
        "ENV WHO=hold\nCMD [\"sh\", \"-c\", \"cat /hello; echo $WHO; "
        "test -e /bin/vi || echo no-vi\"]\n")
    bb.ok("build", "-q", "-t", "fromhold:v1", str(context))
    hold_id = bb.ok("image", "inspect", "--format", "{{.Id}}", "fromhold:v1").strip()
    archive = tmp_path / "hold.tar"
    bb.ok("save", "-o", str(archive), "fromhold:v1")
    loaded = docker(["load", "-i", str(archive)]).stdout.decode()
    assert "Loaded image: fromhold:v1" in loaded
    assert docker(["inspect", "--format", "{{.Id}}", "fromhold:v1"]).stdout.decode().strip() \
        == hold_id
    run = docker(["run", "--rm", "--network", "none", "fromhold:v1"])
    assert run.stdout.decode() == "from-hold\nhold\nno-vi\n"
    docker(["rmi", "fromhold:v1"])


def test_hold_save_to_stdout_loads_in_docker(docker, bb, tmp_path):
    import subprocess
    proc = subprocess.run(bb.base + ["save", "bb:latest"], capture_output=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    docker(["tag", "dbb:latest", "keep:me"])
    loaded = docker(["load"], input=proc.stdout).stdout.decode()
    assert "Loaded image: bb:latest" in loaded
    assert docker(["run", "--rm", "--network", "none", "bb:latest", "echo", "yes"]
                  ).stdout == b"yes\n"
    docker(["rmi", "bb:latest", "keep:me"])


def test_docker_loads_multi_image_archive_saved_by_hold(docker, bb, tmp_path):
    bb.ok("tag", "bb:latest", "other/bb:two")
    image_id = bb.ok("image", "inspect", "--format", "{{.Id}}", "bb").strip()
    archive = tmp_path / "two.tar"
    bb.ok("save", "-o", str(archive), "bb:latest", "other/bb:two", image_id)
    loaded = docker(["load", "-i", str(archive)]).stdout.decode()
    assert "Loaded image: bb:latest" in loaded and "Loaded image: other/bb:two" in loaded
    docker(["rmi", "bb:latest", "other/bb:two"])


def test_round_trip_hold_docker_hold_keeps_the_id(docker, bb, tmp_path):
    hold_id = bb.ok("image", "inspect", "--format", "{{.Id}}", "bb").strip()
    first = tmp_path / "first.tar"
    bb.ok("save", "-o", str(first), "bb")
    docker(["load", "-i", str(first)])
    second = tmp_path / "second.tar"
    docker(["save", "-o", str(second), "bb:latest"])
    docker(["rmi", "bb:latest"])
    bb.ok("rmi", "bb")
    assert bb.ok("load", "-i", str(second)) == "Loaded image: bb:latest\n"
    assert bb.ok("image", "inspect", "--format", "{{.Id}}", "bb").strip() == hold_id
    assert not os.listdir(bb.paths.tmp)
