"""The writable layer: diff, commit, and removal of the layer with rm."""

import os


def test_diff_lists_added_changed_deleted(bb):
    bb.ok("run", "--name", "diff1", "bb", "sh", "-c",
          "echo new > /tmp/new.txt; rm /bin/ls; mkdir -p /opt/app; echo x > /etc/passwd")
    lines = bb.ok("diff", "diff1").splitlines()
    assert "A /tmp/new.txt" in lines
    assert "C /tmp" in lines
    assert "D /bin/ls" in lines
    assert "A /opt" in lines and "A /opt/app" in lines
    assert "C /etc/passwd" in lines
    assert lines == sorted(lines, key=lambda l: l[2:])
    assert not any("hosts" in l or "resolv" in l for l in lines)


def test_commit_makes_layer_with_whiteouts(bb):
    bb.ok("run", "--name", "commit1", "bb", "sh", "-c", "echo hi > /greeting; rm /bin/vi")
    image_id = bb.ok("commit", "-m", "my change", "commit1", "snap:v1").strip()
    assert image_id.startswith("sha256:")
    out = bb.ok("run", "--rm", "snap:v1", "sh", "-c", "cat /greeting; ls /bin/vi 2>&1 || true")
    assert out.startswith("hi\n") and "No such file" in out
    history = bb.ok("history", "snap:v1")
    assert "my change" in history


def test_rm_deletes_writable_layer(bb):
    cid = bb.ok("create", "--name", "gone", "bb", "true").strip()
    layer = os.path.join(bb.paths.root, "containers", cid)
    assert os.path.isdir(layer)
    bb.ok("rm", "gone")
    assert not os.path.exists(layer)
