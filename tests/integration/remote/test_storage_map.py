"""The chapter's "global mapping": a share mapped on the host, a directory
of it bind-mounted into a container, and what the container writes read
back through the SMB server itself."""

from __future__ import annotations

import os
import signal
import time

import pytest

from hold.volumes.remote.testing import fuse_mounts_under


@pytest.fixture(autouse=True)
def unmap_all(bb):
    """Unmap what a failing test left mapped, before the data root goes."""
    yield
    for path in bb("storage", "ls", "-q").stdout.split():
        bb("storage", "unmap", path)


def _wait_for(read, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while True:
        try:
            return read()
        except FileNotFoundError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def map_share(bb, samba, path, *extra):
    return bb("storage", "map", samba.unc, str(path), "--username", samba.user,
              "--password-file", samba.password_file, *extra)


def test_map_bind_into_a_container_and_read_through_smb(bb, samba, tmp_path):
    mapped = tmp_path / "share"
    r = map_share(bb, samba, mapped)
    assert r.returncode == 0, r.stderr
    assert fuse_mounts_under(str(mapped)) == [str(mapped)]
    os.mkdir(mapped / "ContainerData")
    bb.ok("run", "--rm", "--network", "none",
          "--mount", f"type=bind,source={mapped}/ContainerData,target=/data",
          "bb", "sh", "-c", "ps > /data/processes.txt")
    served = _wait_for(lambda: samba.get("ContainerData/processes.txt"))
    assert b"PID" in served and b"ps" in served
    with open(os.path.join(samba.share_dir, "ContainerData", "processes.txt"), "rb") as f:
        assert f.read() == served
    listing = bb.ok("storage", "ls")
    assert str(mapped) in listing and samba.unc in listing and "mounted" in listing
    assert samba.password not in listing
    bb.ok("storage", "unmap", str(mapped))
    assert fuse_mounts_under(str(tmp_path)) == [] and not mapped.exists()
    assert bb.ok("storage", "ls", "-q") == ""


def test_persistent_mapping_comes_back_after_its_fuse_server_dies(bb, samba, tmp_path):
    mapped = tmp_path / "persist"
    assert map_share(bb, samba, mapped, "--persistent").returncode == 0
    (mapped / "before").write_text("x")
    _wait_for(lambda: samba.get("before"))              # uploaded: the kill loses nothing
    state = [d for d in os.listdir(os.path.join(bb.paths.root, "storage"))
             if not d.startswith(".")]
    with open(os.path.join(bb.paths.root, "storage", state[0], "fuse.pid")) as f:
        pid = int(f.read().split()[0])
    os.kill(pid, signal.SIGKILL)
    time.sleep(0.3)
    bb.ok("ps")                                           # any hold command restores it
    assert _wait_for(lambda: (mapped / "before").read_text()) == "x"
    assert "persist" in bb.ok("storage", "ls")
    bb.ok("storage", "unmap", str(mapped))
    assert fuse_mounts_under(str(tmp_path)) == []


def test_map_errors_leave_nothing(bb, samba, tmp_path):
    wrong = tmp_path / "wrong"
    wrong.write_text("nope\n")
    target = tmp_path / "denied"
    r = bb("storage", "map", samba.unc, str(target), "--username", samba.user,
           "--password-file", str(wrong))
    assert r.returncode != 0 and "logon" in r.stderr and not target.exists()
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "file").write_text("x")
    r = map_share(bb, samba, busy)
    assert r.returncode != 0 and "not empty" in r.stderr
    r = map_share(bb, samba, "/etc")
    assert r.returncode != 0 and "refusing" in r.stderr
    assert bb.ok("storage", "ls", "-q") == ""


def test_password_from_stdin(bb, samba, tmp_path):
    mapped = tmp_path / "fromstdin"
    r = bb("storage", "map", samba.unc, str(mapped), "--username", samba.user,
           "--password-file", "-", input=samba.password + "\n")
    assert r.returncode == 0, r.stderr
    (mapped / "hello").write_text("hi")
    assert _wait_for(lambda: samba.get("hello")) == b"hi"
    bb.ok("storage", "unmap", str(mapped))


def test_unmap_gives_up_on_stalled_uploads_and_keeps_the_mapping(bb, samba, tmp_path):
    """A share that stops answering makes unmap fail after the stall bound,
    with the mapping and its cached file left alone; once the server is
    back the same unmap uploads the file and succeeds."""
    mapped = tmp_path / "stalled"
    assert map_share(bb, samba, mapped).returncode == 0
    (mapped / "warmup").write_text("w")
    _wait_for(lambda: samba.get("warmup"))        # a live SMB session to hang on
    os.killpg(samba.process.pid, signal.SIGSTOP)  # the server hangs mid-session
    try:
        (mapped / "late").write_text("pending")   # closed: queued for upload in 1s
        r = bb("storage", "unmap", "-t", "3", str(mapped))
        assert r.returncode == 1                  # per-path failure, as `docker rm`
        assert "pending upload(s) made no progress for 3s" in r.stderr
        assert "fuse.log" in r.stderr             # where rclone said why
        assert "waiting for 1 pending upload(s)" in r.stderr
        assert fuse_mounts_under(str(tmp_path)) == [str(mapped)]
        assert "mounted" in bb.ok("storage", "ls")
    finally:
        os.killpg(samba.process.pid, signal.SIGCONT)
    bb.ok("storage", "unmap", str(mapped))        # waits for the upload this time
    assert samba.get("late") == b"pending"
    assert fuse_mounts_under(str(tmp_path)) == []


def test_unmap_bad_timeout_and_unknown_path_change_nothing(bb, samba, tmp_path):
    mapped = tmp_path / "kept"
    assert map_share(bb, samba, mapped).returncode == 0
    for bad in ("0", "-1", "soon"):
        r = bb("storage", "unmap", "-t", bad, str(mapped))
        assert r.returncode != 0 and "timeout" in r.stderr
    r = bb("storage", "unmap", str(tmp_path / "never-mapped"))
    assert r.returncode != 0
    assert fuse_mounts_under(str(tmp_path)) == [str(mapped)]
    bb.ok("storage", "unmap", "--force", str(mapped))
    assert fuse_mounts_under(str(tmp_path)) == [] and not mapped.exists()


def test_unmap_retries_uploads_at_once_when_the_share_takes_them_again(bb, samba, tmp_path):
    """After failed tries rclone waits twice as long each time (up to 5 min);
    unmap must not inherit that wait: once the server takes the file again,
    the held-back upload goes at once and unmap succeeds well inside its
    stall bound.  (The server refuses by a directory it may not write.)"""
    mapped = tmp_path / "flaky"
    assert map_share(bb, samba, mapped).returncode == 0
    (mapped / "d").mkdir()
    on_server = os.path.join(samba.share_dir, "d")
    _wait_for(lambda: os.listdir(on_server))
    os.chmod(on_server, 0o555)                    # the share's user may not write there
    try:
        (mapped / "d" / "late").write_text("pending")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            queue = _upload_queue(bb)
            if queue and queue[0]["tries"] >= 3 and queue[0]["expiry"] > 5:
                break                             # rclone's next try is far off
            time.sleep(0.2)
        assert queue and queue[0]["expiry"] > 5, [(q["tries"], q["expiry"]) for q in queue]
    finally:
        os.chmod(on_server, 0o755)
    r = bb("storage", "unmap", "-t", "4", str(mapped))
    assert r.returncode == 0, r.stderr
    assert samba.get("d/late") == b"pending"
    assert fuse_mounts_under(str(tmp_path)) == []


def _upload_queue(bb) -> list[dict]:
    """rclone's upload queue of the one mapping, from its rc socket."""
    from hold.volumes.remote._rclone import _rc_socket
    from hold.volumes.remote._unixhttp import post_json
    state_dir = next(p for p in (os.path.join(bb.paths.root, "storage", n)
                                 for n in os.listdir(os.path.join(bb.paths.root, "storage")))
                     if os.path.isdir(p))
    status, body = post_json(_rc_socket(state_dir), "/vfs/queue", {})
    return body.get("queue", []) if status == 200 else []
