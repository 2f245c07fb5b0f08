"""Real cgroups on this host: limits written, enforced, and removed without a trace."""

import os
import secrets
import signal
import time

import pytest

from hold.errors import Unsupported
from hold.runtime import cgroups
from hold.runtime.cgroups import ContainerCgroup, Limits

pytestmark = [pytest.mark.root,
              pytest.mark.skipif(os.geteuid() != 0, reason="needs root")]

MB = 1 << 20
HOST = cgroups.detect()


def needs(*controllers):
    missing = [c for c in controllers if c not in HOST.controllers]
    return pytest.mark.skipif(bool(missing), reason=f"no usable {missing} controller")


@pytest.fixture
def parent():
    """A parent cgroup name of this test's own, so that no test ever touches
    (or is touched by) the hold/ cgroups of containers running meanwhile;
    the test fails if anything under it is left behind."""
    name = f"holdtest-{os.getpid()}-{secrets.token_hex(4)}"
    yield name
    left = [os.path.join(p, name) for p in set(HOST.hierarchies.values())
            if os.path.exists(os.path.join(p, name))]
    for child in {e.name for path in left for e in os.scandir(path) if e.is_dir()}:
        leftover = ContainerCgroup(child, HOST, name)  # clean up first, then fail
        leftover.kill_all()
        leftover.remove()
    for path in left:
        if os.path.exists(path):
            os.rmdir(path)
    assert not left, f"cgroups left behind: {left}"


@pytest.fixture
def cgroup(parent):
    """A container cgroup under the test's parent, killed and removed even on failure."""
    made = ContainerCgroup("c1", HOST, parent)
    yield made
    made.kill_all(signal.SIGKILL)
    made.remove()


def _parked_child(cgroup: ContainerCgroup, body=None) -> tuple[int, int]:
    """Fork a child, move it into ``cgroup``, let it run ``body`` (or sleep).

    Returns (pid, write end of its go pipe): the child waits for one byte
    (or EOF) before running, so the parent can place it first.
    """
    go_read, go_write = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            os.close(go_write)
            os.read(go_read, 1)
            code = body() if body else 0
            if not body:
                time.sleep(60)
        except BaseException:  # noqa: BLE001
            code = 98
        os._exit(code)
    os.close(go_read)
    cgroup.add(pid)
    return pid, go_write


def _exit_code(pid: int, timeout: float = 20.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.01)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    raise AssertionError(f"child {pid} did not finish")


def _value(cgroup, controller, v1_file, v2_file):
    key = "unified" if HOST.version == 2 else controller
    with open(os.path.join(cgroup.paths().get(key) or cgroup._path_of(controller),
                           v2_file if HOST.version == 2 else v1_file)) as f:
        return f.read().strip()


@needs("memory", "pids")
def test_limits_written_and_child_placed(cgroup):
    cgroup.create(Limits(memory=32 * MB, pids_limit=10))
    assert _value(cgroup, "memory", "memory.limit_in_bytes", "memory.max") == str(32 * MB)
    assert _value(cgroup, "pids", "pids.max", "pids.max") == "10"
    if HOST.version == 1 and HOST.swap_accounting:
        assert _value(cgroup, "memory", "memory.memsw.limit_in_bytes", "") == str(64 * MB)
    pid, go = _parked_child(cgroup)
    try:
        assert cgroup.pids() == [pid]
        with open(f"/proc/{pid}/cgroup") as f:
            assert f"/{cgroup.parent}/{cgroup.name}" in f.read()
        stats = cgroup.stats()
        assert stats["pids_current"] == 1
        assert 0 <= stats["memory_usage"] <= 32 * MB  # v1 leaves old charges behind
        assert stats["memory_limit"] == 32 * MB
    finally:
        cgroup.kill_all()
        os.close(go)
        assert _exit_code(pid) == -signal.SIGKILL
    assert cgroup.pids() == []


@needs("pids")
def test_fork_loop_hits_the_pids_limit(cgroup):
    cgroup.create(Limits(pids_limit=10))

    def fork_until_refused():
        hold_read, hold_write = os.pipe()
        children, refused = [], False
        for _ in range(30):  # bounded: never more than 30 forks
            try:
                child = os.fork()
            except BlockingIOError:  # EAGAIN: the pids controller said no
                refused = True
                break
            if child == 0:
                os.close(hold_write)
                os.read(hold_read, 1)
                os._exit(0)
            children.append(child)
        os.close(hold_write)
        for child in children:
            os.waitpid(child, 0)
        return 10 + len(children) if refused else 1

    pid, go = _parked_child(cgroup, fork_until_refused)
    os.close(go)
    assert _exit_code(pid) == 19  # itself plus 9 children made, the 10th refused


@needs("cpu")
def test_cpu_quota(cgroup):
    cgroup.create(Limits(cpus=0.5))
    if HOST.version == 2:
        assert _value(cgroup, "cpu", "", "cpu.max") == "50000 100000"
    else:
        assert _value(cgroup, "cpu", "cpu.cfs_quota_us", "") == "50000"
        assert _value(cgroup, "cpu", "cpu.cfs_period_us", "") == "100000"


@needs("memory")
def test_memory_limit_is_enforced(cgroup):
    cgroup.create(Limits(memory=32 * MB, memory_swap=32 * MB if HOST.swap_accounting else 0))

    def allocate():
        blob = b"x" * (128 * MB)  # written, so really resident
        return len(blob) and 0

    pid, go = _parked_child(cgroup, allocate)
    os.close(go)
    assert _exit_code(pid) == -signal.SIGKILL  # the OOM killer, inside the cgroup only


def test_kill_all_reaches_every_process_and_remove_waits(cgroup):
    cgroup.create(Limits())
    children = [_parked_child(cgroup) for _ in range(3)]
    for _, go in children:
        os.close(go)
    assert sorted(cgroup.pids()) == sorted(pid for pid, _ in children)
    cgroup.kill_all(signal.SIGTERM)
    for pid, _ in children:
        assert _exit_code(pid) == -signal.SIGTERM
    cgroup.remove()
    assert not cgroup.exists()
    cgroup.remove()  # already gone: fine


def test_remove_takes_nested_cgroups_too(cgroup):
    cgroup.create(Limits())
    for path in cgroup.paths().values():
        os.mkdir(os.path.join(path, "inner"))
    cgroup.remove()
    assert not cgroup.exists()


def test_cleanup_orphans_spares_the_living(parent):
    alive, running, empty = (ContainerCgroup(n, HOST, parent)
                             for n in ("alive", "running", "empty"))
    try:
        for made in (alive, running, empty):
            made.create(Limits())
        pid, go = _parked_child(running)
        os.close(go)
        # Young cgroups are never touched: they may be half made.
        assert cgroups.cleanup_orphans(["alive"], HOST, parent=parent) == []
        # Old enough: the empty orphan goes, the one with processes stays...
        assert cgroups.cleanup_orphans(["alive"], HOST, parent=parent, min_age=0) == ["empty"]
        assert running.exists() and not empty.exists()
        # ...unless the caller knows every container and says to kill.
        removed = cgroups.cleanup_orphans(["alive"], HOST, parent=parent, min_age=0,
                                          kill_running=True)
        assert removed == ["running"]
        assert _exit_code(pid) == -signal.SIGKILL
        assert alive.exists() and not running.exists()
    finally:
        for made in (alive, running, empty):
            made.kill_all()
            made.remove()


def test_unsupported_controller_creates_nothing(parent):
    host = cgroups.CgroupHost(version=HOST.version, hierarchies=HOST.hierarchies,
                              controllers=frozenset())
    made = ContainerCgroup("unsupported", host, parent)
    with pytest.raises(Unsupported, match="--memory: this host has no usable memory"):
        made.create(Limits(memory=32 * MB))
    assert not made.exists()


@pytest.mark.skipif(not HOST.unified, reason="no writable cgroup2 hierarchy")
def test_v2_paths_on_the_unified_hierarchy(parent):
    """The v2 code path (cgroup.freeze, cgroup.kill) on this host's cgroup2 mount,
    which has no controllers in hybrid mode but all of v2's core files."""
    host = cgroups.CgroupHost(version=2, hierarchies={"unified": HOST.unified})
    made = ContainerCgroup("v2", host, parent)
    try:
        made.create(Limits())
        def ignore_term():
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            time.sleep(60)
            return 0

        first, second = _parked_child(made), _parked_child(made, ignore_term)
        for _, go in (first, second):
            os.close(go)
        assert made.pids() == sorted([first[0], second[0]])
        assert made.stats()["pids_current"] is None  # no pids controller here
        _wait_until_ignoring_sigterm(second[0])
        made.kill_all(signal.SIGTERM)  # freeze, signal, thaw
        assert _exit_code(first[0]) == -signal.SIGTERM
        assert made.pids() == [second[0]]
        made.kill_all(signal.SIGKILL)  # cgroup.kill
        assert _exit_code(second[0]) == -signal.SIGKILL
    finally:
        made.kill_all()
        made.remove()
    assert not made.exists()


def _wait_until_ignoring_sigterm(pid: int) -> None:
    for _ in range(500):
        with open(f"/proc/{pid}/status") as f:
            ignored = int(f.read().split("SigIgn:")[1].split()[0], 16)
        if ignored & (1 << (signal.SIGTERM - 1)):
            return
        time.sleep(0.01)
    raise AssertionError("child never ignored SIGTERM")
