"""`hold cp`: both directions, running and stopped containers, volumes,
Docker's path rules, tar streams, -a / -L, symlink escapes, errors.

Every escape test plants a symlink in the container that would reach the
host if it were followed from the host's view, and checks the host file
is untouched and the container's own file is what changed.
"""

import io
import os
import subprocess
import tarfile
import uuid

import pytest


def run_bytes(cli, *args, data: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(cli.base + list(args), input=data, capture_output=True,
                          stdin=None if data is not None else subprocess.DEVNULL, timeout=120)


def fail(cli, *args, **kw) -> str:
    """Run, require exit 1 (Docker's for every failed cp), return stderr."""
    result = cli(*args, **kw)
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    return result.stderr


@pytest.fixture
def host(tmp_path):
    d = tmp_path / "host"
    d.mkdir()
    (d / "f.txt").write_text("hello\n")
    (d / "tree" / "sub").mkdir(parents=True)
    (d / "tree" / "a.txt").write_text("a\n")
    (d / "tree" / "sub" / "b.txt").write_text("b\n")
    os.symlink("a.txt", d / "tree" / "link")
    return d


@pytest.fixture
def stopped(bb):
    bb.ok("create", "--name", "c1", "bb", "sleep", "1000")
    return bb


@pytest.fixture
def running(bb):
    bb.ok("run", "-d", "--name", "c1", "bb", "sleep", "1000")
    return bb


def no_cp_dirs_left(cli):
    run = os.path.join(cli.paths.runroot, "containers")
    for cid in os.listdir(run) if os.path.isdir(run) else ():
        assert not [n for n in os.listdir(os.path.join(run, cid)) if n.startswith("cp-")]


# -- both directions ------------------------------------------------------------

@pytest.mark.parametrize("state", ["stopped", "running"])
def test_file_in_and_out(request, state, host, tmp_path):
    cli = request.getfixturevalue(state)
    cli.ok("cp", str(host / "f.txt"), "c1:/tmp/")
    cli.ok("cp", str(host / "f.txt"), "c1:/tmp/renamed.txt")
    assert "A /tmp/f.txt" in cli.ok("diff", "c1").splitlines()
    assert "A /tmp/renamed.txt" in cli.ok("diff", "c1").splitlines()
    cli.ok("cp", "c1:/tmp/renamed.txt", str(tmp_path / "back.txt"))
    assert (tmp_path / "back.txt").read_text() == "hello\n"
    cli.ok("cp", "c1:/etc/passwd", str(tmp_path))        # into an existing dir
    assert (tmp_path / "passwd").read_text().startswith("root:x:0:0")
    no_cp_dirs_left(cli)


def test_running_container_sees_the_copy_at_once(running, host):
    running.ok("cp", str(host / "tree"), "c1:/opt")
    assert running.ok("exec", "c1", "cat", "/opt/sub/b.txt") == "b\n"
    assert running.ok("exec", "c1", "readlink", "/opt/link") == "a.txt\n"


def test_running_container_mounts_are_seen(bb, host, tmp_path):
    bind = tmp_path / "bind"
    bind.mkdir()
    bb.ok("run", "-d", "--name", "c1", "--tmpfs", "/scratch", "-v", f"{bind}:/bound",
          "bb", "sh", "-c", "echo t > /scratch/t; sleep 1000")
    bb.ok("exec", "c1", "sh", "-c", "while [ ! -f /scratch/t ]; do sleep 0.05; done")
    bb.ok("cp", "c1:/scratch/t", str(tmp_path / "t"))
    assert (tmp_path / "t").read_text() == "t\n"
    bb.ok("cp", str(host / "f.txt"), "c1:/bound/")
    assert (bind / "f.txt").read_text() == "hello\n"
    assert "/bound/f.txt" not in bb.ok("diff", "c1")      # the bind, not the layer


def test_proc_of_a_running_container_is_not_walked(running):
    names = tarfile.open(fileobj=io.BytesIO(run_bytes(running, "cp", "c1:/proc", "-").stdout)).getnames()
    assert names == ["proc"]


@pytest.mark.parametrize("state", ["stopped", "running"])
def test_into_a_volume(request, state, host):
    cli = request.getfixturevalue("bb")
    if state == "running":
        cli.ok("run", "-d", "--name", "c1", "-v", "data:/data", "bb", "sleep", "1000")
    else:
        cli.ok("create", "--name", "c1", "-v", "data:/data", "bb", "sleep", "1000")
    cli.ok("cp", str(host / "f.txt"), "c1:/data/")
    mountpoint = cli.ok("volume", "inspect", "-f", "{{.Mountpoint}}", "data").strip()
    assert open(os.path.join(mountpoint, "f.txt")).read() == "hello\n"
    assert "/data/f.txt" not in cli.ok("diff", "c1")
    out = cli.ok("run", "--rm", "-v", "data:/data", "bb", "cat", "/data/f.txt")
    assert out == "hello\n"


def test_read_only_bind_refuses_writes(bb, host, tmp_path):
    bind = tmp_path / "ro"
    bind.mkdir()
    bb.ok("create", "--name", "c1", "-v", f"{bind}:/ro:ro", "bb", "true")
    err = fail(bb, "cp", str(host / "f.txt"), "c1:/ro/")
    assert "read-only" in err
    assert os.listdir(bind) == []


# -- Docker's path rules ------------------------------------------------------------

def test_directory_rules(stopped, host, tmp_path):
    cli = stopped
    cli.ok("cp", str(host / "tree"), "c1:/tmp/")                          # into existing dir
    cli.ok("cp", str(host / "tree"), "c1:/new")                              # created as /new
    cli.ok("cp", str(host / "tree") + "/.", "c1:/tmp/")                      # contents only
    lines = cli.ok("diff", "c1").splitlines()
    for path in ("/tmp/tree/sub/b.txt", "/new/sub/b.txt", "/tmp/sub/b.txt", "/tmp/a.txt"):
        assert f"A {path}" in lines, lines
    out = tmp_path / "out"
    out.mkdir()
    cli.ok("cp", "c1:/new/.", str(out))
    assert sorted(os.listdir(out)) == ["a.txt", "link", "sub"]
    cli.ok("cp", "c1:/new", str(out))
    assert os.path.isdir(out / "new" / "sub")
    cli.ok("cp", "c1:/new", str(tmp_path / "fresh"))
    assert (tmp_path / "fresh" / "sub" / "b.txt").read_text() == "b\n"
    assert os.readlink(tmp_path / "fresh" / "link") == "a.txt"


def test_tar_streams_both_ways(stopped, host):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("pkg/hello.txt")
        info.size, info.uid, info.gid, info.mode = 3, 42, 43, 0o640
        tar.addfile(info, io.BytesIO(b"hi\n"))
    result = run_bytes(stopped, "cp", "-", "c1:/tmp", data=buf.getvalue())
    assert result.returncode == 0, result.stderr
    out = run_bytes(stopped, "cp", "c1:/tmp/pkg", "-")
    assert out.returncode == 0 and out.stderr == b""
    tar = tarfile.open(fileobj=io.BytesIO(out.stdout))
    member = tar.getmember("pkg/hello.txt")
    assert (member.uid, member.gid, member.mode) == (42, 43, 0o640)
    assert tar.extractfile(member).read() == b"hi\n"
    assert len(out.stdout) == 512 * 5        # dir + file header + data + 2 end blocks: no padding
    dot = tarfile.open(fileobj=io.BytesIO(run_bytes(stopped, "cp", "c1:/tmp/pkg/.", "-").stdout))
    assert dot.getnames() == [".", "./hello.txt"]


def test_ownership_as_docker_really_does(bb, host):
    os.chown(host / "f.txt", 1234, 5678)
    bb.ok("create", "--name", "c1", "bb", "true")
    bb.ok("create", "--name", "c2", "--user", "nobody", "bb", "true")
    bb.ok("cp", str(host / "f.txt"), "c1:/tmp/plain")
    bb.ok("cp", "-a", str(host / "f.txt"), "c1:/tmp/archive")
    bb.ok("cp", "-a", str(host / "f.txt"), "c2:/tmp/archive")
    owners = {}
    for ref, path in (("c1", "/tmp/plain"), ("c1", "/tmp/archive"), ("c2", "/tmp/archive")):
        tar = tarfile.open(fileobj=io.BytesIO(run_bytes(bb, "cp", f"{ref}:{path}", "-").stdout))
        member = tar.getmembers()[0]
        owners[(ref, path)] = (member.uid, member.gid)
    assert owners[("c1", "/tmp/plain")] == (1234, 5678)       # kept without -a
    assert owners[("c1", "/tmp/archive")] == (1234, 5678)     # -a, no --user: kept
    assert owners[("c2", "/tmp/archive")] == (65534, 65534)   # -a: the container's user


def test_copied_out_files_belong_to_the_caller(stopped, tmp_path):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("owned")
        info.uid = info.gid = 777
        tar.addfile(info, io.BytesIO(b""))
    run_bytes(stopped, "cp", "-", "c1:/tmp", data=buf.getvalue())
    stopped.ok("cp", "c1:/tmp/owned", str(tmp_path / "owned"))
    st = os.stat(tmp_path / "owned")
    assert (st.st_uid, st.st_gid) == (os.geteuid(), os.getegid())


def test_follow_link(running, tmp_path):
    running.ok("exec", "c1", "sh", "-c", "mkdir /d && echo x > /d/x && ln -s /d /link && "
               "ln -s d/x /flink")
    running.ok("cp", "c1:/link", str(tmp_path / "asis"))
    assert os.readlink(tmp_path / "asis") == "/d"
    running.ok("cp", "-L", "c1:/link", str(tmp_path / "followed"))
    assert (tmp_path / "followed" / "x").read_text() == "x\n"
    running.ok("cp", "-L", "c1:/flink", str(tmp_path / "file"))
    assert (tmp_path / "file").read_text() == "x\n"
    local = tmp_path / "local-link"
    os.symlink(tmp_path / "file", local)
    running.ok("cp", str(local), "c1:/tmp/l1")
    running.ok("cp", "-L", str(local), "c1:/tmp/l2")
    assert running.ok("exec", "c1", "readlink", "/tmp/l1").strip() == str(tmp_path / "file")
    assert running.ok("exec", "c1", "cat", "/tmp/l2") == "x\n"


# -- symlink escapes ----------------------------------------------------------------

@pytest.fixture
def marker():
    """A host directory and file that a container's symlinks aim at."""
    name = f"/tmp/hold-cp-escape-{uuid.uuid4().hex[:8]}"
    os.makedirs(name)
    with open(f"{name}/secret", "w") as f:
        f.write("host secret\n")
    yield name
    import shutil
    shutil.rmtree(name, ignore_errors=True)


@pytest.mark.parametrize("state", ["stopped", "running"])
def test_symlink_escapes_stay_in_the_container(bb, state, marker, host, tmp_path):
    plant = (f"mkdir -p {marker} && echo container > {marker}/secret && "
             f"ln -s {marker} /abs && ln -s ../../../../../..{marker} /tmp/rel && "
             f"ln -s {marker}/secret /tmp/final")
    if state == "running":
        bb.ok("run", "-d", "--name", "c1", "bb", "sleep", "1000")
        bb.ok("exec", "c1", "sh", "-c", plant)
    else:
        bb.ok("run", "--name", "c1", "bb", "sh", "-c", plant)
    # reads resolve to the container's files
    for src in ("c1:/abs/secret", "c1:/tmp/rel/secret", "c1:/abs/../abs/secret"):
        out = tmp_path / uuid.uuid4().hex
        bb.ok("cp", src, str(out))
        assert out.read_text() == "container\n", src
    out = tmp_path / "followed"
    bb.ok("cp", "-L", "c1:/tmp/final", str(out))
    assert out.read_text() == "container\n"
    # writes through every kind of link land in the container
    bb.ok("cp", str(host / "f.txt"), "c1:/abs/new1")
    bb.ok("cp", str(host / "f.txt"), "c1:/tmp/rel/new2")
    bb.ok("cp", str(host / "f.txt"), "c1:/tmp/final")            # a final symlink is followed
    bb.ok("cp", str(host / "tree") + "/.", "c1:/tmp/rel/")
    assert sorted(os.listdir(marker)) == ["secret"]
    assert open(f"{marker}/secret").read() == "host secret\n"
    lines = bb.ok("diff", "c1").splitlines()
    for path in ("new1", "new2", "a.txt"):
        assert f"A {marker}/{path}" in lines, lines
    if state == "running":
        assert bb.ok("exec", "c1", "cat", f"{marker}/secret") == "hello\n"


def test_tar_stream_cannot_escape(running, marker):
    running.ok("exec", "c1", "mkdir", "-p", marker)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        link = tarfile.TarInfo("up")
        link.type, link.linkname = tarfile.SYMTYPE, "/../../../.." + marker
        tar.addfile(link)
        info = tarfile.TarInfo("up/planted")
        tar.addfile(info, io.BytesIO(b""))
    result = run_bytes(running, "cp", "-", "c1:/tmp", data=buf.getvalue())
    assert result.returncode == 0, result.stderr
    assert os.listdir(marker) == ["secret"]
    assert running.ok("exec", "c1", "ls", marker) == "planted\n"
    bad = io.BytesIO()
    with tarfile.open(fileobj=bad, mode="w") as tar:
        tar.addfile(tarfile.TarInfo("../../../.." + marker + "/dotdot"), io.BytesIO(b""))
    result = run_bytes(running, "cp", "-", "c1:/tmp", data=bad.getvalue())
    assert result.returncode == 1 and b"outside the destination" in result.stderr
    assert os.listdir(marker) == ["secret"]


# -- errors ---------------------------------------------------------------------------

def test_errors_say_what_and_change_nothing(stopped, host, tmp_path):
    cli = stopped
    cli.ok("cp", str(host / "f.txt"), "c1:/tmp/file")
    before = cli.ok("diff", "c1")
    cases = [
        (("c1:/nonexist", str(tmp_path / "x")), "Error: Could not find the file /nonexist in container c1"),
        (("nope:/x", str(tmp_path / "x")), "Error: No such container: nope"),
        ((str(host / "f.txt"), "nope:/x"), "Error: No such container: nope"),
        (("c1:/tmp/file", "c1:/x"), "Error: copying between containers is not supported"),
        (("a", "b"), "Error: must specify at least one container source"),
        ((str(host / "tree"), "c1:/tmp/file"), "Error: cannot copy directory"),
        ((str(host / "f.txt"), "c1:/newdir/"), "Error: no such directory"),
        ((str(host / "f.txt"), "c1:/nodir/x"), "Error: Could not find the file /nodir in container c1"),
        (("-", "c1:/tmp/file"), 'Error: destination "c1:/tmp/file" must be a directory'),
        (("-", "c1:/tmp/none"), 'Error: destination "c1:/tmp/none" must be a directory'),
        ((str(host / "missing"), "c1:/tmp"), f"Error: lstat {host}/missing: no such file or directory"),
        (("c1:/tmp/file", str(tmp_path / "nodir" / "x")),
         f'Error: invalid output path: directory "{tmp_path}/nodir" does not exist'),
        (("c1:/tmp", str(host / "f.txt")), "Error: cannot copy directory"),
        (("c1:/tmp/file/", str(tmp_path / "y")), "Error: lstat /tmp/file/: not a directory"),
        (("c1:/tmp/file",), 'Error: "hold cp" requires exactly 2 arguments'),
    ]
    for args, message in cases:
        err = fail(cli, "cp", *args)
        assert err.startswith(message), (args, err)
    assert cli.ok("diff", "c1") == before
    assert not os.path.exists(tmp_path / "x") and not os.path.exists(tmp_path / "y")
    assert (host / "f.txt").read_text() == "hello\n"
    no_cp_dirs_left(cli)


def test_progress_line_only_on_a_terminal(stopped, host):
    result = stopped("cp", str(host / "f.txt"), "c1:/tmp/x")
    assert result.stderr == "" and result.stdout == ""
    command = " ".join(stopped.base + ["cp", str(host / "f.txt"), "c1:/tmp/y"])
    tty = subprocess.run(["script", "-qec", command, "/dev/null"], capture_output=True,
                         text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert "Successfully copied 2.05kB to c1:/tmp/y" in tty.stdout, tty
    quiet = subprocess.run(["script", "-qec", command + " -q", "/dev/null"],
                           capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert "Successfully" not in quiet.stdout


def test_container_cp_alias(stopped, host):
    stopped.ok("container", "cp", str(host / "f.txt"), "c1:/tmp/")
    assert "A /tmp/f.txt" in stopped.ok("diff", "c1")
