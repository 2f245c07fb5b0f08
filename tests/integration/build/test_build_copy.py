"""COPY semantics: globs, directories, --chown/--chmod, .dockerignore, symlinks."""

from __future__ import annotations

import os


def test_globs_directories_and_destinations(bb, context):
    ctx = context({"Dockerfile": """\
FROM bb
COPY *.txt /globbed/
COPY dir /dircontents
COPY dir/ /also/
COPY one.txt /renamed.txt
WORKDIR /w
COPY one.txt rel/
COPY ["two.txt", "/json form/"]
""", "one.txt": "1\n", "two.txt": "2\n", "skip.md": "x\n",
        "dir/a": "a\n", "dir/sub/b": "b\n"})
    bb.ok("build", "-t", "cp", ctx)
    run = lambda cmd: bb.ok("run", "--rm", "cp", "sh", "-c", cmd)  # noqa: E731
    assert run("ls /globbed") == "one.txt\ntwo.txt\n"
    assert run("ls /dircontents; cat /dircontents/sub/b") == "a\nsub\nb\n"
    assert run("ls /also") == "a\nsub\n"
    assert run("cat /renamed.txt /w/rel/one.txt '/json form/two.txt'") == "1\n1\n2\n"


def test_many_sources_need_a_directory_destination(bb, context, h):
    before = h.all_images(bb)
    ctx = context({"Dockerfile": "FROM bb\nCOPY a b /notadir\n", "a": "", "b": ""})
    result = bb("build", ctx)
    assert result.returncode != 0
    assert "destination must be a directory and end with a /" in result.stderr
    assert h.all_images(bb) == before and h.build_leftovers(bb) == []


def test_chown_and_chmod(bb, context):
    ctx = context({"Dockerfile": "FROM bb\nCOPY --chown=nobody:nogroup f /by-name\n"
                                 "COPY --chown=1234 f /by-id\nCOPY --chmod=600 f /mode\n"
                                 "COPY --chown=7:8 d /newdir/inner/\n",
                   "f": "x\n", "d/x": "y\n"})
    os.chmod(os.path.join(ctx, "f"), 0o640)
    bb.ok("build", "-t", "own", ctx)
    out = bb.ok("run", "--rm", "own", "stat", "-c", "%n %u %g %a", "/by-name", "/by-id",
                "/mode", "/newdir/inner/x", "/newdir/inner", "/tmp")
    assert out.splitlines() == ["/by-name 65534 65534 640", "/by-id 1234 1234 640",
                                "/mode 0 0 600", "/newdir/inner/x 7 8 644",
                                "/newdir/inner 7 8 755", "/tmp 0 0 1777"]


def test_copy_into_an_existing_directory_keeps_its_metadata(bb, context):
    ctx = context({"Dockerfile": "FROM bb\nCOPY f /tmp/f\n", "f": "x\n"})
    bb.ok("build", "-t", "keep", ctx)
    assert bb.ok("run", "--rm", "keep", "stat", "-c", "%a", "/tmp") == "1777\n"


def test_dockerignore_hides_files_from_copy(bb, context):
    ctx = context({"Dockerfile": "FROM bb\nCOPY . /app/\n",
                   ".dockerignore": "*.log\nsecret/\n!keep.log\n",
                   "a.log": "", "keep.log": "", "main.py": "", "secret/key": ""})
    bb.ok("build", "-t", "ign", ctx)
    listing = bb.ok("run", "--rm", "ign", "find", "/app").split()
    assert sorted(listing) == ["/app", "/app/.dockerignore", "/app/Dockerfile",
                               "/app/keep.log", "/app/main.py"]
    result = bb("build", context({"Dockerfile": "FROM bb\nCOPY a.log /\n",
                                  ".dockerignore": "*.log\n", "a.log": ""}))
    assert result.returncode != 0 and "excluded by .dockerignore" in result.stderr


def test_symlinks_inside_a_copied_directory_stay_links(bb, context):
    ctx = context({"Dockerfile": "FROM bb\nCOPY d /d\n", "d/real": "r\n"})
    os.symlink("real", os.path.join(ctx, "d/link"))
    os.symlink("/etc/passwd", os.path.join(ctx, "d/abs"))
    bb.ok("build", "-t", "links", ctx)
    assert bb.ok("run", "--rm", "links", "sh", "-c", "readlink /d/link; readlink /d/abs") \
        == "real\n/etc/passwd\n"


def test_symlink_within_the_context_is_followed_at_the_top(bb, context):
    ctx = context({"Dockerfile": "FROM bb\nCOPY alias /copied\n", "target.txt": "t\n"})
    os.symlink("target.txt", os.path.join(ctx, "alias"))
    bb.ok("build", "-t", "alias", ctx)
    assert bb.ok("run", "--rm", "alias", "cat", "/copied") == "t\n"


def test_copy_through_an_image_symlink_lands_in_its_target(bb, context):
    ctx = context({"Dockerfile": "FROM bb\nRUN mkdir -p /usr/real && ln -s usr/real /linked\n"
                                 "COPY f /linked/f\n", "f": "via link\n"})
    bb.ok("build", "-t", "vialink", ctx)
    assert bb.ok("run", "--rm", "vialink", "sh", "-c",
                 "readlink /linked; cat /usr/real/f") == "usr/real\nvia link\n"


def test_dockerignore_exception_inside_an_excluded_directory(bb, context):
    ctx = context({"Dockerfile": "FROM bb\nCOPY . /app/\n",
                   ".dockerignore": "docs\n!docs/keep.md\nDockerfile\n.dockerignore\n",
                   "docs/keep.md": "k\n", "docs/drop.md": "d\n", "main.py": ""})
    bb.ok("build", "-t", "exc", ctx)
    assert sorted(bb.ok("run", "--rm", "exc", "find", "/app").split()) == [
        "/app", "/app/docs", "/app/docs/keep.md", "/app/main.py"]
