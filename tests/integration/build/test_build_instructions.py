"""Every instruction's effect on the image, ARG/--build-arg, multi-stage, ONBUILD."""

from __future__ import annotations

import io
import os
import tarfile

EVERYTHING = """\
FROM bb
ARG VERSION=1.0
ARG TARGETARCH
ENV APP=/opt/app NAME="my app"
ENV LEGACY value with spaces
LABEL org.version=$VERSION "quoted key"="v w"
EXPOSE 80 53/udp
VOLUME ["/data"]
VOLUME /logs /cache
WORKDIR $APP
RUN echo "$VERSION $NAME $TARGETARCH" > built.txt
USER nobody
STOPSIGNAL SIGQUIT
HEALTHCHECK --interval=5s --timeout=2s --retries=3 CMD wget -q -O- http://localhost/
ONBUILD RUN echo triggered > /onbuild.txt
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["echo hi"]
"""


def test_every_instruction_shapes_the_config(bb, context, h):
    ctx = context({"Dockerfile": EVERYTHING})
    bb.ok("build", "-t", "all", "--build-arg", "VERSION=2.5", ctx)
    doc = h.inspect(bb, "all")
    config = doc["Config"]
    assert "APP=/opt/app" in config["Env"] and "NAME=my app" in config["Env"]
    assert "LEGACY=value with spaces" in config["Env"]
    assert not any(e.startswith("VERSION=") for e in config["Env"])   # ARGs never persist
    assert config["Labels"] == {"org.version": "2.5", "quoted key": "v w"}
    assert config["ExposedPorts"] == {"80/tcp": {}, "53/udp": {}}
    assert config["Volumes"] == {"/data": {}, "/logs": {}, "/cache": {}}
    assert config["WorkingDir"] == "/opt/app"
    assert config["User"] == "nobody"
    assert config["StopSignal"] == "SIGQUIT"
    assert config["OnBuild"] == ["RUN echo triggered > /onbuild.txt"]
    assert config["Entrypoint"] == ["/bin/sh", "-c"] and config["Cmd"] == ["echo hi"]
    raw = _raw_config(bb, "all")
    assert raw["Healthcheck"] == {"Test": ["CMD-SHELL", "wget -q -O- http://localhost/"],
                                  "Interval": 5_000_000_000, "Timeout": 2_000_000_000,
                                  "Retries": 3}
    assert bb.ok("run", "--rm", "--entrypoint", "cat", "all", "built.txt").split()[:3] == \
        ["2.5", "my", "app"]
    created_by = [row[0] for row in h.history(bb, "all")]
    assert created_by[0] == '/bin/sh -c #(nop)  CMD ["echo hi"]'
    assert created_by[1] == '/bin/sh -c #(nop)  ENTRYPOINT ["/bin/sh" "-c"]'
    assert "/bin/sh -c #(nop)  VOLUME [/logs /cache]" in created_by
    assert "/bin/sh -c #(nop)  ARG VERSION=1.0" in created_by
    run_row = next(c for c in created_by if "built.txt" in c)
    assert run_row.startswith("|2 TARGETARCH=") and " VERSION=2.5 /bin/sh -c " in run_row
    assert bb.ok("run", "--rm", "all") == "hi\n"


def _raw_config(hold, ref):
    from hold.engine import Engine
    return Engine(hold.paths).images.get(ref).container_config


def test_onbuild_triggers_run_in_the_child_build(bb, context, h):
    bb.ok("build", "-t", "parent", context({"Dockerfile": "FROM bb\n"
                                            "ONBUILD COPY marker /marker\n"}))
    out = bb.ok("build", "-t", "child", context({"Dockerfile": "FROM parent\n",
                                                 "marker": "from child context\n"}))
    assert "# Executing 1 build trigger" in out
    assert bb.ok("run", "--rm", "child", "cat", "/marker") == "from child context\n"
    assert h.inspect(bb, "child")["Config"]["OnBuild"] is None


def test_meta_arg_in_from_and_build_arg_override(bb, context, h):
    bb.ok("tag", "bb", "other")
    ctx = context({"Dockerfile": "ARG BASE=bb\nFROM ${BASE}\nARG BASE\nRUN echo $BASE > /b\n"})
    bb.ok("build", "-t", "m1", ctx)
    assert bb.ok("run", "--rm", "m1", "cat", "/b") == "bb\n"
    bb.ok("build", "-t", "m2", "--build-arg", "BASE=other", ctx)
    assert bb.ok("run", "--rm", "m2", "cat", "/b") == "other\n"


def test_build_arg_from_environment_and_unconsumed_warning(bb, context):
    ctx = context({"Dockerfile": "FROM bb\nARG FROMENV\nRUN echo $FROMENV > /v\n"})
    env = dict(os.environ, FROMENV="env-value")
    result = bb("build", "-t", "envarg", "--build-arg", "FROMENV", "--build-arg",
                "UNUSED=1", ctx, env=env)
    assert result.returncode == 0, result.stderr
    assert "[Warning] One or more build-args [UNUSED] were not consumed" in result.stderr
    assert bb.ok("run", "--rm", "envarg", "cat", "/v") == "env-value\n"


def test_env_overrides_arg_and_substitution_forms(bb, context):
    ctx = context({"Dockerfile": "FROM bb\nARG X=arg\nENV X=env\n"
                                 "ENV A=${X} B=${UNSET:-dflt} C=${X:+alt} D=\\$X\n"})
    bb.ok("build", "-t", "subst", ctx)
    env = bb.ok("run", "--rm", "subst", "env").split()
    assert {"A=env", "B=dflt", "C=alt", "D=$X"} <= set(env)


def test_multi_stage_copy_from_and_target(bb, context, h):
    ctx = context({"Dockerfile": """\
FROM bb AS builder
RUN mkdir -p /out/sub && echo artefact > /out/sub/a.txt && echo two > /out/b.txt
FROM scratch AS plain
COPY --from=builder /out /
FROM bb AS final
COPY --from=0 /out/sub/a.txt /copied/
COPY --from=plain /b.txt /copied/b.txt
"""})
    out = bb.ok("build", "-t", "ms", ctx)
    assert "Step 6/7" in out
    assert bb.ok("run", "--rm", "ms", "cat", "/copied/a.txt", "/copied/b.txt") == \
        "artefact\ntwo\n"
    assert "Step 3/" in bb.ok("build", "-t", "mid", "--target", "PLAIN", ctx)
    layers = h.inspect(bb, "mid")["RootFS"]["Layers"]
    assert len(layers) == 1                                   # scratch + one COPY
    bb.ok("build", "-t", "firstonly", "--target", "builder", ctx)
    assert bb.ok("run", "--rm", "firstonly", "cat", "/out/b.txt") == "two\n"


def test_from_earlier_stage_and_scratch_image(bb, context):
    ctx = context({"Dockerfile": "FROM bb AS base\nENV STAGE=base\n"
                                 "FROM base\nRUN echo $STAGE > /s\n"})
    bb.ok("build", "-t", "chained", ctx)
    assert bb.ok("run", "--rm", "chained", "cat", "/s") == "base\n"


def test_add_extracts_local_tarballs_and_copies_other_files(bb, context):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        data = b"inside the tar\n"
        info = tarfile.TarInfo("pkg/file.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    ctx = context({"Dockerfile": "FROM bb\nADD bundle.tar.gz /opt/\nADD plain.txt /opt/\n",
                   "bundle.tar.gz": buf.getvalue(), "plain.txt": "plain\n"})
    bb.ok("build", "-t", "added", ctx)
    assert bb.ok("run", "--rm", "added", "cat", "/opt/pkg/file.txt", "/opt/plain.txt") == \
        "inside the tar\nplain\n"
    assert bb.ok("run", "--rm", "added", "ls", "/opt") == "pkg\nplain.txt\n"
