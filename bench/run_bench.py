"""hold against Docker and Podman on this machine, in one run.

Two measures, each engine on private roots (see peers.py):

- **run latency**: wall time of ``run --rm --network none IMG true`` from
  the CLI, N times after two warm-up runs; the median is reported.
- **memory per idle container**: MemAvailable (/proc/meminfo, page cache
  dropped first) before and after starting ``--count`` detached ``sleep
  3600`` containers, divided by the count; the containers are removed
  afterwards.  As a cross-check less moved by the rest of the machine, the
  Pss of the engine's new processes (shims, conmon, monitors, container
  processes) per container; daemon growth shows only in the first figure.
  One detached container is started and removed first, so that one-time
  work (hold building its native idle monitor on first use, first page
  faults of a shim's binary) is not counted.  For hold, the notes say which
  idle monitor the containers got (native, or python where the native one
  could not be built or ``HOLD_MONITOR=python``).

Engines run one after the other, each stopped before the next starts, so
none pays for another's daemon.  An engine that fails is skipped with a
note.  The Markdown table is printed and written to bench/results/latest.md.

    python3 bench/run_bench.py [-n 20] [--count 50] [--engines docker,podman,hold]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time

from peers import EngineError, Peers

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")


def time_runs(engine, runs: int, warmup: int = 2) -> list[float]:
    """Seconds taken by each of ``runs`` ``run --rm IMG true``."""
    for _ in range(warmup):
        engine.run_rm(["true"])
    argv = engine.run_rm_argv(["true"])
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        proc = subprocess.run(argv, env=engine.env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True, timeout=120)
        elapsed = time.perf_counter() - start
        if proc.returncode != 0:
            raise EngineError(f"run --rm exited {proc.returncode}: {proc.stderr.strip()[-300:]}")
        times.append(elapsed)
    return times


def mem_available() -> int:
    """Bytes the kernel could give to new work without swapping."""
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no MemAvailable in /proc/meminfo")


def settled_available() -> int:
    """Median of a few MemAvailable samples after a short settle.

    The page cache is dropped first (when we may), so that files written
    and deleted around the measure do not move MemAvailable.
    """
    os.sync()
    try:
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3\n")
    except OSError:
        pass
    time.sleep(1.0)
    samples = []
    for _ in range(5):
        samples.append(mem_available())
        time.sleep(0.2)
    return int(statistics.median(samples))


def _pids() -> set[int]:
    return {int(p) for p in os.listdir("/proc") if p.isdigit()}


def _cmdline(pid: int) -> bytes:
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        return f.read()


def _parent(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[1])


def _belongs(pid: int, base: str) -> bool:
    """Is ``pid`` one of the engine's: a shim, conmon or monitor naming its
    directory, or an idle container process (``sleep 3600``) whose parent
    is one of those?  (Not by /proc/PID/root: a process that pivot_rooted
    in its own mount namespace shows "/" there, which once left every
    engine's container processes out of the Pss figure.)"""
    try:
        cmdline = _cmdline(pid)
        if base.encode() in cmdline:
            return True
        return cmdline == b"sleep\x003600\x00" and base.encode() in _cmdline(_parent(pid))
    except (OSError, ValueError):
        return False


def pss_of(pids) -> int:
    """Bytes of proportional set size of ``pids`` (shared pages split)."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1]) * 1024
                        break
        except OSError:
            continue
    return total


def monitor_kinds(pids) -> dict[str, int]:
    """How many of ``pids`` are hold idle monitors of each kind: the native
    one runs a built ``hold-monitor-<key>``, the Python one an interpreter."""
    kinds: dict[str, int] = {}
    for pid in pids:
        try:
            with open(f"/proc/{pid}/comm") as f:
                if f.read().strip() != "hold-monitor":
                    continue
            exe = os.path.basename(os.readlink(f"/proc/{pid}/exe"))
        except OSError:
            continue
        kind = "native" if exe.startswith("hold-monitor-") else "python"
        kinds[kind] = kinds.get(kind, 0) + 1
    return kinds


def idle_memory(engine, count: int) -> tuple[float, float, dict[str, int]]:
    """Bytes per idle ``sleep 3600`` container: (MemAvailable lost, Pss of
    the engine's processes that appeared; other people's are not counted),
    and the kinds of hold monitors among those processes."""
    names = [f"idle-{i}" for i in range(count)]
    engine.run_detached("idle-warmup", ["sleep", "3600"])
    time.sleep(2.0)             # hold's first detached run builds its native monitor
    engine.remove(["idle-warmup"])
    before = settled_available()
    pids_before = _pids()
    started = []
    try:
        for name in names:
            engine.run_detached(name, ["sleep", "3600"])
            started.append(name)
        time.sleep(2.0)
        after = settled_available()
        new = [p for p in _pids() - pids_before if _belongs(p, engine.base)]
        new_pss = pss_of(new)
        kinds = monitor_kinds(new)
    finally:
        if started:
            engine.remove(started)
    return (before - after) / count, new_pss / count, kinds


def bench_engine(peers: Peers, name: str, runs: int, count: int) -> dict:
    result = {"engine": name, "median_ms": None, "min_ms": None,
              "mem_mb": None, "pss_mb": None, "notes": []}
    try:
        engine = peers.start(name)
    except (EngineError, OSError, subprocess.SubprocessError) as exc:
        result["notes"].append(f"skipped: {exc}")
        return result
    try:
        result["version"] = version_of(engine)
        try:
            times = time_runs(engine, runs)
            result["median_ms"] = statistics.median(times) * 1000
            result["min_ms"] = min(times) * 1000
        except (EngineError, OSError, subprocess.SubprocessError) as exc:
            result["notes"].append(f"run latency skipped: {exc}")
        if count:
            try:
                avail, pss, kinds = idle_memory(engine, count)
                result["mem_mb"], result["pss_mb"] = avail / 1e6, pss / 1e6
                if kinds:
                    result["notes"].append("idle monitors: " + ", ".join(
                        f"{n} {kind}" for kind, n in sorted(kinds.items())))
            except (EngineError, OSError, subprocess.SubprocessError) as exc:
                result["notes"].append(f"idle memory skipped: {exc}")
    finally:
        peers.stop(engine)
    return result


def version_of(engine) -> str:
    args = {"docker": ["version", "--format", "{{.Server.Version}}"],
            "podman": ["version", "--format", "{{.Client.Version}}"]}.get(engine.name, ["--version"])
    proc = engine.call(args, check=False, timeout=30)
    if proc.returncode != 0 or not proc.stdout.strip():
        return "?"
    return proc.stdout.strip().splitlines()[0].split()[-1]


def _fmt(value, spec: str = ".1f") -> str:
    return "-" if value is None else format(value, spec)


def _ratio(a, b) -> str:
    """a/b, or "-" when either is missing or b is not positive (noise)."""
    return "-" if a is None or b is None or b <= 0 else f"{a / b:.2f}"


def render(results: list[dict], runs: int, count: int) -> str:
    lines = [
        f"# hold vs Docker vs Podman ({time.strftime('%Y-%m-%d %H:%M %Z')})",
        "",
        f"Machine: {platform.node()}, Linux {platform.release()}, {os.cpu_count()} CPUs. "
        f"Latency: median of {runs} runs of `run --rm --network none IMG true` "
        f"(wall, from the CLI). Memory: MemAvailable lost per idle `sleep 3600` "
        f"container, {count} containers; Pss: the proportional set size of the "
        f"engine's processes that appeared (shims, conmon, monitors, container "
        f"processes), per container; "
        f"daemon growth shows only in the first.",
        "",
        "| engine | version | run --rm median (ms) | min (ms) | memory per idle container (MB) "
        "| Pss of new processes per container (MB) | notes |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        notes = "; ".join(n.replace("|", "/").replace("\n", " ")[:300] for n in r["notes"])
        lines.append(f"| {r['engine']} | {r.get('version', '-')} | {_fmt(r['median_ms'])} | "
                     f"{_fmt(r['min_ms'])} | {_fmt(r['mem_mb'], '.2f')} | {_fmt(r['pss_mb'], '.2f')} "
                     f"| {notes} |")
    by = {r["engine"]: r for r in results}
    hold = by.get("hold")
    if hold:
        lines += ["", "| ratio | run --rm median | run --rm min | memory (MemAvailable) "
                  "| memory (Pss) |", "|---|---|---|---|---|"]
        for peer in ("docker", "podman"):
            if peer in by:
                cells = [_ratio(hold[k], by[peer][k])
                         for k in ("median_ms", "min_ms", "mem_mb", "pss_mb")]
                lines.append(f"| hold/{peer} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--runs", type=int, default=20)
    parser.add_argument("--count", type=int, default=50,
                        help="idle containers for the memory measure (0: skip)")
    parser.add_argument("--engines", default="docker,podman,hold")
    parser.add_argument("--output", default=os.path.join(RESULTS, "latest.md"))
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print("run_bench.py needs root (daemons, mounts, namespaces)", file=sys.stderr)
        return 2
    results = []
    with Peers() as peers:
        for name in args.engines.split(","):
            print(f"== {name}", file=sys.stderr, flush=True)
            results.append(bench_engine(peers, name.strip(), args.runs, args.count))
    report = render(results, args.runs, args.count)
    sys.stdout.write(report)
    os.makedirs(os.path.dirname(args.output), exist_ok=True)
    with open(args.output, "w") as f:
        f.write(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
