"""Flag parsing, limit validation and host detection for runtime/cgroups.py."""

import os

import pytest

from hold.errors import InvalidArgument, Unsupported
from hold.runtime import cgroups
from hold.runtime.cgroups import CgroupHost, Limits

MB = 1 << 20


@pytest.mark.parametrize("text,expected", [
    ("512m", 512 * MB), ("1g", 1 << 30), ("1G", 1 << 30), ("8192k", 8 * MB),
    ("1.5GiB", 3 << 29), ("7340032", 7340032), ("64MB", 64 * MB), ("64mb", 64 * MB),
    ("1 g", 1 << 30), ("10mib", 10 * MB), ("0", 0), (64 * MB, 64 * MB), ("2t", 2 << 40),
])
def test_parse_memory_like_docker(text, expected):
    assert cgroups.parse_memory(text) == expected


@pytest.mark.parametrize("text", ["", "m", "abc", "-1", "1x", "1.2.3m", "1kk", ".5g", "12 "
                                  "m b", "1gb2"])
def test_parse_memory_rejects_garbage(text):
    with pytest.raises(InvalidArgument) as info:
        cgroups.parse_memory(text)
    assert "invalid size" in str(info.value)


@pytest.mark.parametrize("text", ["1024k", "5m", "6291455"])
def test_parse_memory_minimum_is_6mb(text):
    with pytest.raises(InvalidArgument, match="^Minimum memory limit allowed is 6MB$"):
        cgroups.parse_memory(text)
    assert cgroups.parse_memory("6m") == 6 * MB


def test_parse_memory_swap():
    assert cgroups.parse_memory_swap("-1") == -1
    assert cgroups.parse_memory_swap("1g") == 1 << 30


def test_parse_cpus():
    available = len(os.sched_getaffinity(0))
    assert cgroups.parse_cpus("0.5") == 0.5
    assert cgroups.parse_cpus(str(available)) == available
    message = (f"range of CPUs is from 0.01 to {available}.00, as there are only "
               f"{available} CPUs available")
    for bad in ("0", "-1", str(available + 0.5), "0.001", "nan"):
        with pytest.raises(InvalidArgument) as info:
            cgroups.parse_cpus(bad)
        assert str(info.value) == message
    with pytest.raises(InvalidArgument, match="not a number"):
        cgroups.parse_cpus("one")


def test_parse_pids():
    assert cgroups.parse_pids("100") == 100
    assert cgroups.parse_pids(5) == 5
    assert cgroups.parse_pids("0") == cgroups.parse_pids("-1") == -1
    for bad in ("x", "1.5", "-2"):
        with pytest.raises(InvalidArgument):
            cgroups.parse_pids(bad)


def test_limits_validation_follows_docker():
    with pytest.raises(InvalidArgument, match="always set the Memory limit"):
        Limits(memory_swap=64 * MB)
    with pytest.raises(InvalidArgument, match="larger than memory limit"):
        Limits(memory=64 * MB, memory_swap=32 * MB)
    assert Limits(memory=64 * MB, memory_swap=-1).controllers() == ["memory"]
    assert Limits(cpus=1.5, pids_limit=10).controllers() == ["cpu", "pids"]
    assert Limits(pids_limit=-1).controllers() == []
    assert Limits(memory=8 * MB) == Limits(memory=8 * MB)
    assert Limits(cpus=2.0).as_dict() == {"memory": 0, "memory_swap": 0, "cpus": 2.0,
                                          "pids_limit": 0}


def test_check_names_the_flag_when_a_controller_is_missing():
    host = CgroupHost(version=1, hierarchies={"cpu": "/x"}, controllers=frozenset({"cpu"}))
    host.check(Limits(cpus=1.0))
    with pytest.raises(Unsupported) as info:
        host.check(Limits(memory=64 * MB))
    assert str(info.value) == "--memory: this host has no usable memory cgroup controller"
    with pytest.raises(Unsupported, match="^--pids-limit: "):
        host.check(Limits(pids_limit=5))
    assert host.warnings(Limits(memory=64 * MB))  # no swap accounting
    assert not host.warnings(Limits(memory=64 * MB, memory_swap=-1))


def test_container_names_are_checked():
    host = CgroupHost(version=0)
    for bad in ("", "..", "a/b", ".hidden", "x" * 129, "sp ace"):
        with pytest.raises(InvalidArgument):
            cgroups.ContainerCgroup(bad, host)
    cgroups.ContainerCgroup("abc_1.2-3", host)
    with pytest.raises(InvalidArgument):
        cgroups.ContainerCgroup("abc", host, parent="../escape")


def _mountinfo(tmp_path, lines):
    path = tmp_path / "mountinfo"
    path.write_text("".join(f"{i} 1 0:{i} / {line}\n" for i, line in enumerate(lines, 30)))
    return str(path)


def test_detect_hybrid(tmp_path):
    base = tmp_path / "cg"
    for sub in ("memory", "cpu,cpuacct", "pids", "systemd", "unified"):
        (base / sub).mkdir(parents=True)
    (base / "memory" / "memory.memsw.limit_in_bytes").write_text("0")
    (base / "unified" / "cgroup.controllers").write_text("")
    info = _mountinfo(tmp_path, [
        f"{base}/memory rw - cgroup cgroup rw,memory",
        f"{base}/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct",
        f"{base}/pids rw - cgroup cgroup rw,pids",
        f"{base}/systemd rw - cgroup cgroup rw,xattr,name=systemd",
        f"{base}/unified rw - cgroup2 cgroup2 rw",
        "/proc rw - proc proc rw",
    ])
    host = cgroups.detect(info)
    assert host.version == 1
    assert host.controllers == {"memory", "cpu", "pids"}
    assert host.swap_accounting
    assert host.hierarchies["cpuacct"] == host.hierarchies["cpu"] == f"{base}/cpu,cpuacct"
    assert host.unified == f"{base}/unified"
    paths = cgroups.ContainerCgroup("c1", host).paths()
    assert len(paths) == 5  # cpu and cpuacct share one mount
    assert paths["memory"] == f"{base}/memory/hold/c1"


def test_detect_pure_v2(tmp_path):
    root = tmp_path / "cg"
    root.mkdir()
    (root / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    host = cgroups.detect(_mountinfo(tmp_path, [f"{root} rw - cgroup2 cgroup2 rw"]))
    assert host.version == 2
    assert host.controllers == {"cpu", "memory", "pids"}
    assert cgroups.ContainerCgroup("c1", host).paths() == {"unified": f"{root}/hold/c1"}


def test_detect_without_cgroups(tmp_path):
    host = cgroups.detect(_mountinfo(tmp_path, ["/proc rw - proc proc rw"]))
    assert host.version == 0 and not host.controllers
    with pytest.raises(Unsupported, match="--cpus"):
        host.check(Limits(cpus=1.0))
    assert cgroups.detect(str(tmp_path / "missing")).version == 0


def test_check_available_takes_the_dict_form():
    host = CgroupHost(version=1, controllers=frozenset({"pids"}))
    cgroups.check_available({"pids_limit": 5}, host)
    with pytest.raises(Unsupported, match="^--cpus: "):
        cgroups.check_available({"cpus": 1.0}, host)
    with pytest.raises(InvalidArgument):
        cgroups.check_available({"memory_swap": 64 * MB}, host)
