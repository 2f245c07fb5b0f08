"""Many hold processes at once share one store safely."""

from concurrent.futures import ThreadPoolExecutor

from hold.testing import leftovers


def test_twenty_parallel_run_rm_leave_nothing(bb):
    def one(i):
        return bb("run", "--rm", "--name", f"p{i}", "bb", "sh", "-c", f"echo {i}")
    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(one, range(20)))
    for i, r in enumerate(results):
        assert r.returncode == 0, r.stderr
        assert r.stdout == f"{i}\n"
    assert bb.ok("ps", "-aq") == ""
    assert leftovers(bb.paths, networks=False) == []


def test_parallel_creates_with_same_name_only_one_wins(bb):
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda _: bb("create", "--name", "same", "bb", "true"), range(8)))
    assert sum(r.returncode == 0 for r in results) == 1
    assert bb.ok("ps", "-a", "--format", "{{.Names}}").split() == ["same"]
