"""hold build against Docker's classic builder, in one run.

The same 10-instruction Dockerfile (FROM, ENV, WORKDIR, COPY, RUN, RUN,
COPY, LABEL, EXPOSE, CMD) over the same context, built by each engine on
private roots (see peers.py) from the same busybox base:

- **cold**: ``build --no-cache`` (every step runs; RUN steps start real
  containers, COPY steps hash and copy the context);
- **cached**: the same build again with the cache (every step reused).

Docker runs with DOCKER_BUILDKIT=0 (the legacy builder, as on these
machines) and ``--network none`` (its daemon has no bridge here).  Each
measure is the median of ``-n`` builds, after one warm-up build.  The
Markdown table (with hold/docker ratios) is printed and written to
bench/results/build_latest.md.

    python3 bench/build_bench.py [-n 5] [--engines docker,hold]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

from peers import EngineError, Peers

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")

DOCKERFILE = """\
FROM {image}
ENV APP_HOME=/app
WORKDIR /app
COPY data/ ./data/
RUN mkdir -p /app/out && cp -r /app/data /app/out/ && ls /app/out/data | wc -l > /app/out/count
RUN echo built > /app/out/marker && rm -f /bin/vi
COPY hello.txt ./
LABEL bench=build
EXPOSE 8080
CMD ["cat", "/app/hello.txt"]
"""
INSTRUCTIONS = 10


def make_context(base: str, image: str) -> str:
    """A context of 100 small files and one 1 MiB file, plus the Dockerfile."""
    context = tempfile.mkdtemp(prefix="ctx-", dir=base)
    data = os.path.join(context, "data")
    os.makedirs(data)
    for i in range(100):
        with open(os.path.join(data, f"f{i:03}.txt"), "w") as f:
            f.write(f"file {i}\n" * 20)
    with open(os.path.join(data, "big.bin"), "wb") as f:
        f.write(os.urandom(1 << 20))
    with open(os.path.join(context, "hello.txt"), "w") as f:
        f.write("hello from the build bench\n")
    with open(os.path.join(context, "Dockerfile"), "w") as f:
        f.write(DOCKERFILE.format(image=image))
    assert len([l for l in DOCKERFILE.splitlines() if l.strip()]) == INSTRUCTIONS
    return context


def build_argv(engine, context: str, tag: str, cached: bool) -> list[str]:
    argv = engine.cli() + ["build", "-q", "-t", tag]
    if engine.name == "docker":
        argv += ["--network", "none"]
    if not cached:
        argv.append("--no-cache")
    return argv + [context]


def time_builds(engine, context: str, runs: int, cached: bool) -> list[float]:
    argv = build_argv(engine, context, "bench:build", cached)
    times = []
    for _ in range(runs + 1):                      # the first is a warm-up
        start = time.perf_counter()
        proc = subprocess.run(argv, env=engine.env, capture_output=True, text=True,
                              timeout=600)
        elapsed = time.perf_counter() - start
        if proc.returncode != 0:
            raise EngineError(f"{engine.name} build exited {proc.returncode}: "
                              f"{proc.stderr.strip()[-400:]}")
        times.append(elapsed)
    return times[1:]


def check_result(engine) -> None:
    """The image the builds made prints what the Dockerfile says."""
    out = engine.call(["run", "--rm", *engine.run_flags(), "bench:build"]).stdout
    if out != "hello from the build bench\n":
        raise EngineError(f"{engine.name}: the built image printed {out!r}")


def bench_engine(peers: Peers, name: str, runs: int) -> dict:
    result = {"engine": name, "cold": None, "cached": None, "notes": []}
    try:
        engine = peers.start(name)
    except (EngineError, OSError, subprocess.SubprocessError) as exc:
        result["notes"].append(f"skipped: {exc}")
        return result
    engine.env["DOCKER_BUILDKIT"] = "0"
    try:
        context = make_context(engine.base, engine.image)
        for kind, cached in (("cold", False), ("cached", True)):
            try:
                times = time_builds(engine, context, runs, cached)
                result[kind] = statistics.median(times)
                result[f"{kind}_min"] = min(times)
            except (EngineError, OSError, subprocess.SubprocessError) as exc:
                result["notes"].append(f"{kind} skipped: {exc}")
        check_result(engine)
    except (EngineError, OSError, subprocess.SubprocessError) as exc:
        result["notes"].append(str(exc))
    finally:
        peers.stop(engine)
    return result


def _fmt(value) -> str:
    return "-" if value is None else f"{value:.3f}"


def _ratio(a, b) -> str:
    return "-" if a is None or b is None or b <= 0 else f"{a / b:.2f}"


def render(results: list[dict], runs: int) -> str:
    lines = [
        f"# hold build vs docker build (classic builder) ({time.strftime('%Y-%m-%d %H:%M %Z')})",
        "",
        f"Machine: {platform.node()}, Linux {platform.release()}, {os.cpu_count()} CPUs. "
        f"One {INSTRUCTIONS}-instruction Dockerfile (FROM busybox; ENV, WORKDIR, COPY of "
        "101 files / 1.1 MB, two RUNs, COPY, LABEL, EXPOSE, CMD), wall time of `build -q` "
        f"from the CLI, median of {runs} builds after one warm-up. Cold: `--no-cache`; "
        "cached: every step from the cache. Docker: DOCKER_BUILDKIT=0, `--network none`.",
        "",
        "| engine | cold median (s) | cold min (s) | cached median (s) | cached min (s) | notes |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        notes = "; ".join(n.replace("|", "/").replace("\n", " ")[:300] for n in r["notes"])
        lines.append(f"| {r['engine']} | {_fmt(r['cold'])} | {_fmt(r.get('cold_min'))} | "
                     f"{_fmt(r['cached'])} | {_fmt(r.get('cached_min'))} | {notes} |")
    by = {r["engine"]: r for r in results}
    if "hold" in by and "docker" in by:
        hold, docker = by["hold"], by["docker"]
        lines += ["", "| ratio | cold | cached |", "|---|---|---|",
                  f"| hold/docker | {_ratio(hold['cold'], docker['cold'])} | "
                  f"{_ratio(hold['cached'], docker['cached'])} |"]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--runs", type=int, default=5)
    parser.add_argument("--engines", default="docker,hold")
    parser.add_argument("--output", default=os.path.join(RESULTS, "build_latest.md"))
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print("build_bench.py needs root (daemons, mounts, namespaces)", file=sys.stderr)
        return 2
    results = []
    with Peers() as peers:
        for name in args.engines.split(","):
            print(f"== {name}", file=sys.stderr, flush=True)
            results.append(bench_engine(peers, name.strip(), args.runs))
    report = render(results, args.runs)
    sys.stdout.write(report)
    os.makedirs(os.path.dirname(args.output), exist_ok=True)
    with open(args.output, "w") as f:
        f.write(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
