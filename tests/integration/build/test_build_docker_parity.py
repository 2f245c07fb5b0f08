"""hold build against the real Docker engine's classic builder, same Dockerfile,
same busybox base: `history` and the run config must match column for column.

Docker runs on a private socket and data root (bench/peers.py's DockerEngine);
the test is skipped where dockerd is not installed.  The only expected
difference is the value of the COPY content hash (Docker's is a tarsum)."""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import tempfile

import pytest

pytestmark = pytest.mark.skipif(shutil.which("dockerd") is None,
                                reason="needs dockerd (docker.io) for the comparison")

DOCKERFILE = """\
FROM bb
MAINTAINER Someone <someone@example.com>
ARG V=1
RUN rm -rf /srv/www/*
WORKDIR /srv/www
COPY index.html .
ENV A=1 B="x y"
LABEL a=b "c d"=e
EXPOSE 80 53/udp
VOLUME ["/data"]
VOLUME /logs
USER nobody
STOPSIGNAL SIGQUIT
ONBUILD RUN echo hi
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["echo hi"]
SHELL ["/bin/sh", "-xc"]
RUN echo $V > /tmp/v
WORKDIR /tmp
RUN true
"""
CONFIG_KEYS = ("Env", "Cmd", "Entrypoint", "ExposedPorts", "Volumes", "WorkingDir",
               "User", "Labels", "StopSignal", "OnBuild")


@pytest.fixture(scope="module")
def docker(busybox_tar):
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "..", "bench"))
    from peers import DockerEngine
    base = tempfile.mkdtemp(prefix="hb-", dir="/tmp")     # short: socket path limit
    engine = DockerEngine(base)
    engine.env["DOCKER_BUILDKIT"] = "0"
    try:
        engine.start()
        engine.import_image(busybox_tar)
        yield engine
    finally:
        engine.stop()
        shutil.rmtree(base, ignore_errors=True)


def _history(output: str) -> list[tuple[str, str]]:
    rows = []
    for line in output.splitlines():
        created_by, size = line.rsplit("|", 1)
        rows.append((re.sub(r"(file|dir|multi):[0-9a-f]{64}", r"\1:HASH", created_by), size))
    return rows


def test_history_and_config_match_docker(bb, docker, context):
    ctx = context({"Dockerfile": DOCKERFILE, "index.html": "<h1>Hello</h1>\n"})
    fmt = "{{.CreatedBy}}|{{.Size}}"
    docker.call(["build", "-t", "site", ctx])
    bb.ok("build", "-t", "site", ctx)
    theirs = _history(docker.call(["history", "--no-trunc", "--format", fmt, "site"]).stdout)
    ours = _history(bb.ok("history", "--no-trunc", "--format", fmt, "site"))
    assert ours[:-1] == theirs[:-1]          # the base's row differs: each imported it
    their_doc = json.loads(docker.call(["image", "inspect", "site"]).stdout)[0]
    our_doc = json.loads(bb.ok("image", "inspect", "site"))[0]
    for key in CONFIG_KEYS:
        assert our_doc["Config"].get(key) == their_doc["Config"].get(key), key
    assert len(our_doc["RootFS"]["Layers"]) == len(their_doc["RootFS"]["Layers"])
    assert our_doc["Author"] == their_doc["Author"] == "Someone <someone@example.com>"


COPY_DOCKERFILE = """\
FROM bb AS builder
RUN mkdir /out && echo art > /out/a
FROM bb
ARG WHO=nobody
COPY --from=builder /out/a /x/
COPY d /dd
COPY --chown=$WHO:nogroup d/a d/sub/ /multi/
COPY --chown=1234 d/a /num
ADD bundle.tgz /un/
ADD index.html /added.html
RUN stat -c '%n %u %g %a' /x /x/a /dd /dd/a /multi /multi/a /multi/b /num /un /un/d \
    /un/d/a /added.html
"""


def test_copy_and_add_match_docker(bb, docker, context):
    import io
    import tarfile
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in (("d/a", b"a\n"), ("d/sub/b", b"b\n")):
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
    ctx = context({"Dockerfile": COPY_DOCKERFILE, "index.html": "<h1>Hello</h1>\n",
                   "d/a": "a\n", "d/sub/b": "b\n", "bundle.tgz": buf.getvalue()})
    for path in ("d", "d/sub", "d/a", "d/sub/b"):
        os.chmod(os.path.join(ctx, path), 0o755 if "." not in path and
                 os.path.isdir(os.path.join(ctx, path)) else 0o644)
    their_out = docker.call(["build", "-t", "cp", ctx]).stdout
    our_out = bb.ok("build", "-t", "cp", ctx)
    stats = lambda out: [l for l in out.splitlines() if l.startswith("/")]  # noqa: E741,E731
    assert stats(our_out) == stats(their_out) and len(stats(our_out)) == 12
    fmt = "{{.CreatedBy}}|{{.Size}}"
    theirs = _history(docker.call(["history", "--no-trunc", "--format", fmt, "cp"]).stdout)
    ours = _history(bb.ok("history", "--no-trunc", "--format", fmt, "cp"))
    assert ours[:-1] == theirs[:-1]


def test_progress_lines_match_docker(bb, docker, context):
    ctx = context({"Dockerfile": "FROM bb\nRUN echo hi > /x\nWORKDIR /w\n"})
    theirs = docker.call(["build", ctx]).stdout
    ours = bb.ok("build", ctx)
    pattern = re.compile(r"^(Step \d+/\d+ : .*| ---> Running in|Successfully built)")

    def keep(text):
        return [m.group(1) for m in map(pattern.match, text.splitlines()) if m]
    # Docker also runs a container for metadata steps (WORKDIR); hold does not
    their_lines = keep(theirs)
    assert keep(ours) == [
        line for i, line in enumerate(their_lines)
        if not (line == " ---> Running in" and their_lines[i - 1].startswith("Step 3/"))]
    again = bb.ok("build", ctx)
    assert again.count(" ---> Using cache") == docker.call(["build", ctx]).stdout.count(
        " ---> Using cache") == 2
