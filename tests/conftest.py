"""Fixtures shared by every test: a busybox root filesystem tarball (built
once per session), throw-away hold roots, and the leak check that fails a
test which leaves a mount or a monitor behind."""

from __future__ import annotations

import os
import shutil

import pytest

from hold.testing import HoldCLI, busybox_rootfs_tar, leftovers, temporary_paths


def pytest_collection_modifyitems(config, items):
    if os.geteuid() == 0:
        return
    skip = pytest.mark.skip(reason="needs root (real namespaces and mounts)")
    for item in items:
        if "integration" in str(item.fspath) or "e2e" in str(item.fspath):
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def host_dev_null_intact():
    """Fail the test that turns the host's /dev/null into a plain file (it
    happened once on a shared machine), and repair it for the next test."""
    yield
    import stat
    st = os.stat("/dev/null")
    if not stat.S_ISCHR(st.st_mode):
        os.unlink("/dev/null")
        os.mknod("/dev/null", 0o666 | stat.S_IFCHR, os.makedev(1, 3))
        os.chmod("/dev/null", 0o666)
        pytest.fail("this test replaced the host's /dev/null with a regular file")


@pytest.fixture(scope="session")
def busybox_tar(tmp_path_factory) -> str:
    return busybox_rootfs_tar(str(tmp_path_factory.mktemp("busybox") / "busybox.tar"))


@pytest.fixture
def hold(tmp_path) -> HoldCLI:
    """A hold CLI on a fresh, empty data root; checked for leaks after."""
    paths = temporary_paths(str(tmp_path / "hold"))
    cli = HoldCLI(paths)
    yield cli
    cli.cleanup()
    leaks = leftovers(paths)
    shutil.rmtree(str(tmp_path / "hold"), ignore_errors=True)
    assert not leaks, f"test left behind: {leaks}"


@pytest.fixture
def bb(hold, busybox_tar) -> HoldCLI:
    """``hold`` with the busybox image imported as bb:latest."""
    hold.ok("import", busybox_tar, "bb:latest")
    return hold
