"""Fixtures for the volume tests (CLI helpers are in hold.volumes.testing)."""

import pytest


@pytest.fixture
def image_with_content(bb):
    """bb-content:latest: /srv/app holds files with owners, modes, an xattr,
    a symlink and a hard link, committed from a container."""
    r = bb("run", "--network", "none", "--name", "maker", "bb", "sh", "-c",
           "mkdir -p /srv/app/sub && echo one > /srv/app/a.txt && "
           "echo two > /srv/app/sub/b.txt && chown 65534:65534 /srv/app/sub/b.txt && "
           "chmod 0640 /srv/app/sub/b.txt && chmod 0750 /srv/app/sub && "
           "ln -s a.txt /srv/app/link && ln /srv/app/a.txt /srv/app/hard && "
           "chown 65534:65534 /srv/app && chmod 0711 /srv/app")
    assert r.returncode == 0, r.stderr
    bb.ok("commit", "maker", "bb-content:latest")
    bb.ok("rm", "maker")
    return bb


@pytest.fixture
def host_dir(tmp_path):
    """A host directory to bind (not tmp_path itself: that holds the data root)."""
    path = tmp_path / "host"
    path.mkdir()
    return path
