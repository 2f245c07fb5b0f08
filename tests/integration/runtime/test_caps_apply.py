"""caps.apply in a real forked child, checked by the kernel after execve."""

import os

import pytest

from hold.runtime import caps

pytestmark = [pytest.mark.root,
              pytest.mark.skipif(os.geteuid() != 0, reason="needs root")]

BUSYBOX = "/bin/busybox"


def _status_after_exec(keep: frozenset[str]) -> dict[str, int]:
    """Fork, apply ``keep``, exec busybox to print its own Cap* lines."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: never return into pytest
        try:
            os.close(read_fd)
            os.dup2(write_fd, 1)
            caps.apply(keep)
            os.execv(BUSYBOX, [BUSYBOX, "grep", "^Cap", "/proc/self/status"])
        except BaseException as exc:  # noqa: BLE001 - report and die
            os.write(2, f"child failed: {exc!r}\n".encode())
        os._exit(99)
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as pipe:
        out = pipe.read().decode()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, out
    return {line.split(":")[0]: int(line.split()[1], 16) for line in out.splitlines()}


def test_default_caps_after_execve():
    got = _status_after_exec(caps.DEFAULT_CAPS)
    want = caps.mask(caps.DEFAULT_CAPS)
    assert got["CapEff"] == want
    assert got["CapPrm"] == want
    assert got["CapBnd"] == want
    assert got["CapInh"] == 0
    assert got["CapAmb"] == 0


def test_resolved_set_with_drop_and_add():
    keep = caps.resolve(["NET_ADMIN"], ["CHOWN", "MKNOD"], False)
    got = _status_after_exec(keep)
    assert caps.names_from_mask(got["CapEff"]) == keep
    assert caps.names_from_mask(got["CapBnd"]) == keep


def test_drop_all_leaves_nothing():
    got = _status_after_exec(frozenset())
    assert got["CapEff"] == got["CapPrm"] == got["CapBnd"] == 0


def test_caps_newer_than_the_kernel_are_skipped():
    assert caps.last_cap() >= 36
    got = _status_after_exec(frozenset({"CAP_KILL", "CAP_CHECKPOINT_RESTORE"}))
    expected = {"CAP_KILL"} | ({"CAP_CHECKPOINT_RESTORE"} if caps.last_cap() >= 40 else set())
    assert caps.names_from_mask(got["CapEff"]) == expected
