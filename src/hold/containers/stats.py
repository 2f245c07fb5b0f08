"""`hold stats`: a container's resource usage, read from its cgroup.

Every container has its own cgroup (``runtime.cgroups``), so usage is the
kernel's own accounting, not a sum over processes:

    CPU %       (container CPU time delta / host CPU time delta) x online
                CPUs x 100, between two readings: Docker's formula, so 100%
                is one CPU busy.  One reading cannot give a rate, hence
                ``sample`` reads twice ``interval`` apart.
    MEM         memory.current / memory.usage_in_bytes minus the inactive
                file cache (as Docker's CLI counts it); LIMIT is the
                cgroup's limit, or the host's memory when there is none.
    NET I/O     rx / tx bytes of the container's interfaces, from
                /proc/PID/net/dev of its first process (its network
                namespace); lo is not counted, nor is a --network host
                container's traffic (the host's, not its own).
    BLOCK I/O   io.stat (v2) or blkio's service bytes (v1).
    PIDS        pids.current, or the cgroup's member count.

A container that is not running reads as zeros, as Docker shows it.
``Reading`` is one snapshot; ``Sample`` the row Docker's formatter shows,
with Docker's field names (Container, Name, ID, CPUPerc, MemUsage, MemPerc,
NetIO, BlockIO, PIDs) so ``--format`` templates carry over.
"""

from __future__ import annotations

import os
import time

__all__ = ["Reading", "StatsRow", "read", "sample", "render_row", "host_cpu_ns"]

_CLK_TCK = os.sysconf("SC_CLK_TCK")


def host_cpu_ns() -> int:
    """The host's total CPU time (all CPUs, all states) from /proc/stat, in ns."""
    with open("/proc/stat", encoding="ascii") as f:
        first = f.readline().split()
    return sum(int(x) for x in first[1:]) * 1_000_000_000 // _CLK_TCK


def online_cpus() -> int:
    return os.sysconf("SC_NPROCESSORS_ONLN") or len(os.sched_getaffinity(0))


def host_memory() -> int:
    with open("/proc/meminfo", encoding="ascii") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    return 0


class Reading:
    """One snapshot of a container's usage (all zeros if not running)."""

    __slots__ = ("container", "running", "cpu_ns", "system_ns", "memory", "memory_limit",
                 "net_rx", "net_tx", "blk_read", "blk_write", "pids")

    def __init__(self, container, running: bool = False):
        self.container, self.running = container, running
        self.cpu_ns = self.system_ns = self.memory = self.memory_limit = 0
        self.net_rx = self.net_tx = self.blk_read = self.blk_write = self.pids = 0


def read(service, container) -> Reading:
    """Read a container's usage now."""
    reading = Reading(container, container.running)
    if not container.running:
        return reading
    group = service.cgroup(container)
    usage = group.usage() if group.exists() else {}
    reading.system_ns = host_cpu_ns()
    reading.cpu_ns = usage.get("cpu_ns") or 0
    reading.memory = usage.get("memory") or 0
    reading.memory_limit = usage.get("memory_limit") or host_memory()
    reading.blk_read = usage.get("blk_read") or 0
    reading.blk_write = usage.get("blk_write") or 0
    reading.pids = usage.get("pids") or 0
    reading.net_rx, reading.net_tx = _net_io(container.state.get("Pid") or 0)
    return reading


def _net_io(pid: int) -> tuple[int, int]:
    """rx and tx bytes of every interface but lo in ``pid``'s network
    namespace; (0, 0) when that namespace is the host's own."""
    if not pid:
        return 0, 0
    try:
        if os.stat(f"/proc/{pid}/ns/net").st_ino == os.stat("/proc/self/ns/net").st_ino:
            return 0, 0
        with open(f"/proc/{pid}/net/dev", encoding="ascii") as f:
            lines = f.readlines()[2:]
    except OSError:
        return 0, 0
    rx = tx = 0
    for line in lines:
        name, _, counters = line.partition(":")
        if name.strip() == "lo":
            continue
        fields = counters.split()
        if len(fields) >= 9:
            rx += int(fields[0])
            tx += int(fields[8])
    return rx, tx


def cpu_percent(before: Reading, after: Reading) -> float:
    """Docker's CPU %: the container's share of the host's CPU time between
    two readings, scaled so one busy CPU is 100%."""
    cpu_delta = after.cpu_ns - before.cpu_ns
    system_delta = after.system_ns - before.system_ns
    if cpu_delta <= 0 or system_delta <= 0 or not after.running:
        return 0.0
    return cpu_delta / system_delta * online_cpus() * 100.0


class StatsRow:
    """One row, Docker's field names as attributes.

    Not a dict: a template that names a field Docker does not have must
    fail ("can't evaluate field X"), as Docker's does, where a map would
    quietly print "<no value>"."""

    def __init__(self, fields: dict):
        self.__dict__.update(fields)

    def to_dict(self) -> dict:
        return dict(vars(self))


def render_row(before: Reading | None, after: Reading, given: str | None,
               trunc: bool = True) -> StatsRow:
    """The row Docker's stats formatter shows, with its field names.

    ``given`` is the name or id the user typed (Docker's ``.Container``);
    without one, the short id."""
    from hold.cli.formatting import bytes_size, human_size
    c = after.container
    cpu = cpu_percent(before, after) if before is not None else 0.0
    limit = after.memory_limit if after.running else 0
    mem_perc = after.memory / limit * 100.0 if limit else 0.0
    return StatsRow({
        "Container": given or c.id[:12],
        "Name": c.name,
        "ID": c.id[:12] if trunc else c.id,
        "CPUPerc": f"{cpu:.2f}%",
        "MemUsage": f"{bytes_size(after.memory)} / {bytes_size(limit)}",
        "MemPerc": f"{mem_perc:.2f}%",
        "NetIO": f"{human_size(after.net_rx)} / {human_size(after.net_tx)}",
        "BlockIO": f"{human_size(after.blk_read)} / {human_size(after.blk_write)}",
        "PIDs": str(after.pids),
    })


def sample(service, containers, interval: float = 0.5) -> list[tuple[Reading, Reading]]:
    """Two readings of each container, ``interval`` seconds apart (one
    sleep for all of them): what a CPU % needs."""
    first = [read(service, c) for c in containers]
    if any(r.running for r in first):
        time.sleep(interval)
    return [(r, read(service, r.container)) for r in first]
