"""hold build: the chapter's Dockerfile, history, cache, RUN isolation, flags."""

from __future__ import annotations

import os
import re

CHAPTER = "FROM bb\nRUN rm -rf /srv/www/*\nWORKDIR /srv/www\nCOPY index.html .\n"


def test_chapter_dockerfile_builds_and_history_shows_its_rows(bb, context, h):
    ctx = context({"Dockerfile": CHAPTER, "index.html": "<h1>Hello</h1>\n"})
    out = bb.ok("build", "-t", "site", ctx)
    assert "Step 1/4 : FROM bb" in out
    assert "Step 3/4 : WORKDIR /srv/www" in out
    assert re.search(r"Step 2/4 : RUN rm -rf /srv/www/\*\n ---> Running in [0-9a-f]{12}\n", out)
    image_id = bb.ok("images", "-q", "site").strip()
    assert f"Successfully built {image_id}" in out
    assert out.endswith("Successfully tagged site:latest\n")
    rows = h.history(bb, "site")
    base = h.history(bb, "bb")
    assert len(rows) == len(base) + 3 and rows[3:] == base
    copy_row, workdir_row, run_row = rows[:3]
    assert re.fullmatch(r"/bin/sh -c #\(nop\) COPY file:[0-9a-f]{64} in \. ", copy_row[0])
    assert copy_row[1] == "15B"
    assert workdir_row == ("/bin/sh -c #(nop) WORKDIR /srv/www", "0B")
    assert run_row == ("/bin/sh -c rm -rf /srv/www/*", "0B")
    assert bb.ok("run", "--rm", "site", "sh", "-c", "pwd; cat index.html") == \
        "/srv/www\n<h1>Hello</h1>\n"
    table = bb.ok("history", "site").splitlines()
    assert table[0].split() == ["IMAGE", "CREATED", "CREATED", "BY", "SIZE", "COMMENT"]
    assert table[1].startswith(image_id)
    # bb has no /srv/www: as in Docker, the RUN changed nothing (an empty-layer
    # entry) and WORKDIR made the directory (a layer of 0B)
    assert len(h.inspect(bb, "site")["RootFS"]["Layers"]) == 3
    assert bb.ok("run", "--rm", "site", "stat", "-c", "%a %u", "/srv/www") == "755 0\n"


def test_rebuild_uses_cache_and_a_changed_file_rebuilds_from_its_step(bb, context):
    dockerfile = CHAPTER + "RUN cat index.html > copy.html\n"
    ctx = context({"Dockerfile": dockerfile, "index.html": "one\n"})
    first = bb.ok("build", "-q", "-t", "site", ctx).strip()
    again = bb.ok("build", "-t", "site", ctx)
    assert again.count(" ---> Using cache") == 4
    assert "Running in" not in again
    assert bb.ok("images", "-q", "--no-trunc", "site").strip() == first
    with open(os.path.join(ctx, "index.html"), "w") as f:
        f.write("two\n")
    changed = bb.ok("build", "-t", "site", ctx)
    assert changed.count(" ---> Using cache") == 2          # RUN rm and WORKDIR
    steps = changed.split("Step ")
    assert "Using cache" not in steps[4] and "Using cache" not in steps[5]
    assert bb.ok("run", "--rm", "site", "cat", "copy.html") == "two\n"
    no_cache = bb.ok("build", "--no-cache", "-t", "site", ctx)
    assert "Using cache" not in no_cache


def test_changing_only_a_file_mode_invalidates_the_copy(bb, context):
    ctx = context({"Dockerfile": "FROM bb\nCOPY run.sh /\n", "run.sh": "echo hi\n"})
    bb.ok("build", ctx)
    os.chmod(os.path.join(ctx, "run.sh"), 0o755)
    assert "Using cache" not in bb.ok("build", ctx)


def test_identical_layers_are_stored_once(bb, context, h):
    files = {"Dockerfile": "FROM bb\nCOPY f /f\n", "f": "same\n"}
    first, second = context(files), context(files)
    for ctx in (first, second):                 # COPY keeps mtimes: make them equal
        os.utime(os.path.join(ctx, "f"), (1_700_000_000, 1_700_000_000))
    bb.ok("build", "-t", "one", first)
    bb.ok("build", "--no-cache", "-t", "two", second)
    assert h.inspect(bb, "one")["RootFS"]["Layers"] == h.inspect(bb, "two")["RootFS"]["Layers"]
    layers = os.listdir(os.path.join(bb.paths.root, "layers"))
    assert len(layers) == 2


def test_quiet_prints_only_the_image_id(bb, context):
    ctx = context({"Dockerfile": "FROM bb\nRUN echo noisy\n"})
    out = bb.ok("build", "-q", ctx)
    assert re.fullmatch(r"sha256:[0-9a-f]{64}\n", out)


def test_run_output_streams_and_a_run_that_changes_nothing_is_a_0B_layer(bb, context, h):
    ctx = context({"Dockerfile": "FROM bb\nRUN echo from-run; echo to-stderr >&2\n"})
    result = bb("build", "-t", "quiet-run", ctx)
    assert result.returncode == 0, result.stderr
    assert "from-run" in result.stdout and "to-stderr" in result.stderr
    rows = h.history(bb, "quiet-run")
    assert rows[0] == ("/bin/sh -c echo from-run; echo to-stderr >&2", "0B")
    assert len(h.inspect(bb, "quiet-run")["RootFS"]["Layers"]) == 1


def test_run_is_isolated(bb, context):
    ctx = context({"Dockerfile": "FROM bb\nRUN hostname > /host; ls /sys/class/net > /nets;"
                                 " echo $$ > /pid; id -u > /uid\n"})
    bb.ok("build", "-t", "iso", ctx)
    out = bb.ok("run", "--rm", "iso", "cat", "/host", "/nets", "/pid", "/uid").split()
    assert re.fullmatch(r"[0-9a-f]{12}", out[0])
    assert out[1:] == ["lo", "1", "0"]


def test_run_exec_form_workdir_user_and_shell(bb, context):
    ctx = context({"Dockerfile": 'FROM bb\nWORKDIR /made/by/workdir\n'
                                 'RUN ["sh", "-c", "pwd > /where"]\n'
                                 'SHELL ["/bin/sh", "-xc"]\nRUN echo shell-changed\n'
                                 'USER nobody\nRUN id -un > /tmp/who\n'})
    result = bb("build", "-t", "forms", ctx)
    assert result.returncode == 0, result.stderr
    assert "+ echo shell-changed" in result.stderr
    assert bb.ok("run", "--rm", "forms", "cat", "/where", "/tmp/who") == \
        "/made/by/workdir\nnobody\n"
    rows = bb.ok("history", "--no-trunc", "--format", "{{.CreatedBy}}",
                 "forms").splitlines()
    assert rows[0] == "/bin/sh -xc id -un > /tmp/who"
    assert rows[1] == "/bin/sh -xc #(nop)  USER nobody"
    assert "sh -c pwd > /where" in rows


def test_several_tags_dockerfile_flag_and_label_flag(bb, context, h):
    ctx = context({"build/custom.Dockerfile": "FROM bb\nLABEL from=file\n"})
    out = bb.ok("build", "-t", "a:1", "-t", "b", "-f",
                os.path.join(ctx, "build/custom.Dockerfile"), "--label", "extra=yes", ctx)
    assert "Successfully tagged a:1" in out and "Successfully tagged b:latest" in out
    doc = h.inspect(bb, "a:1")
    assert doc["RepoTags"] == ["a:1", "b:latest"]
    assert doc["Config"]["Labels"] == {"from": "file", "extra": "yes"}
    assert h.history(bb, "b")[0] == ("/bin/sh -c #(nop)  LABEL extra=yes", "0B")


def test_run_deleting_files_is_a_layer_of_whiteouts(bb, context, h):
    bb.ok("build", "-t", "web", context({"Dockerfile": "FROM bb\nRUN mkdir -p /srv/www && "
                                                        "echo old > /srv/www/old.html\n"}))
    ctx = context({"Dockerfile": CHAPTER.replace("FROM bb", "FROM web"),
                   "index.html": "new\n"})
    bb.ok("build", "-t", "site", ctx)
    assert bb.ok("run", "--rm", "site", "ls", "/srv/www") == "index.html\n"
    assert len(h.inspect(bb, "site")["RootFS"]["Layers"]) == 4      # WORKDIR: dir exists
    blob = h.inspect(bb, "site")["RootFS"]["Layers"][2]
    import tarfile
    path = os.path.join(bb.paths.root, "blobs", "sha256", blob.removeprefix("sha256:"))
    with tarfile.open(path) as tar:
        assert "srv/www/.wh.old.html" in tar.getnames()


def test_copy_from_an_image_reference(bb, context):
    bb.ok("build", "-t", "tools", context({"Dockerfile": "FROM bb\nRUN echo tool > /tool\n"}))
    ctx = context({"Dockerfile": "FROM bb\nCOPY --from=tools /tool /copied\n"})
    bb.ok("build", "-t", "user", ctx)
    assert bb.ok("run", "--rm", "user", "cat", "/copied") == "tool\n"


def test_parallel_builds_share_one_store(bb, context, h):
    from concurrent.futures import ThreadPoolExecutor
    ctx = context({"Dockerfile": "FROM bb\nRUN echo $RANDOM > /r\nCOPY f /f\n", "f": "x\n"})
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda i: bb("build", "-t", f"p{i}", ctx), range(4)))
    for result in results:
        assert result.returncode == 0, result.stderr
    for i in range(4):
        assert bb.ok("run", "--rm", f"p{i}", "cat", "/f") == "x\n"
    assert h.build_leftovers(bb) == []


def test_dockerfile_from_stdin(bb, context):
    ctx = context({"f": "from stdin\n"})
    bb.ok("build", "-t", "stdin", "-f", "-", ctx, input="FROM bb\nCOPY f /f\n")
    assert bb.ok("run", "--rm", "stdin", "cat", "/f") == "from stdin\n"


def test_iidfile_and_platform_flags(bb, context, tmp_path):
    import platform as host
    ctx = context({"Dockerfile": "FROM bb\n"})
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(host.machine(), host.machine())
    iid = tmp_path / "iid"
    image_id = bb.ok("build", "-q", "--iidfile", str(iid), "--platform", f"linux/{arch}",
                     ctx).strip()
    assert iid.read_text() == image_id
    result = bb("build", "--platform", "windows/amd64", ctx)
    assert result.returncode == 1 and "this machine's platform" in result.stderr


def test_network_host_gives_run_the_hosts_interfaces(bb, context):
    ctx = context({"Dockerfile": "FROM bb\nRUN ls /sys/class/net > /nets\n"})
    bb.ok("build", "--network", "host", "-t", "hostnet", ctx)
    nets = set(bb.ok("run", "--rm", "hostnet", "cat", "/nets").split())
    stable = {n for n in os.listdir("/sys/class/net") if n == "lo" or n.startswith("eth")}
    assert stable <= nets and len(nets) > 1        # the host's, not a lone lo
    result = bb("build", "--network", "bridge0", ctx)
    assert result.returncode == 1 and "accepted: none, default, host" in result.stderr


def test_dockerfile_with_bom_and_crlf(bb, context):
    ctx = context({"Dockerfile": b"\xef\xbb\xbfFROM bb\r\nRUN echo ok > /ok\r\n"})
    bb.ok("build", "-t", "bom", ctx)
    assert bb.ok("run", "--rm", "bom", "cat", "/ok") == "ok\n"
