"""Volume, bind-mount and writable-layer I/O: hold against the host and Docker.

Every measure runs as one busybox shell script, the same for each place
the data can live:

- **host**: the script run directly by the host's ``/bin/busybox sh`` in a
  directory under the benchmark's temporary base (the reference: the issue's
  target is hold's volumes and binds within 5% of it),
- **volume**: ``run --rm --network none -v vbench:/data IMG sh -c SCRIPT``,
  a named local volume (created first with ``volume create``),
- **bind**: ``-v <base>/<engine>-bind:/data``, a host directory bind mount,
- **layer**: no mount; ``/data`` is made inside the container's writable
  (overlay) layer,

for hold (a, b, c) and Docker 20.10 (the same three) in the same run.  All
of them sit on the same host file system (the temporary base under /tmp,
Docker's data root and hold's --root are under it too).

The script, with busybox tools only:

- **sequential write**: ``dd if=/dev/zero of=big bs=1M count=MB conv=fsync``
  (the time includes the final fsync);
- **sequential read, direct**: ``dd if=big of=/dev/null bs=1M iflag=direct``
  (O_DIRECT: from the disk, not the page cache; the guest's disk may still
  be cached by the hypervisor);
- **sequential read, cached**: the same file read ``--passes`` times without
  O_DIRECT, straight after the write: from the page cache (caches cannot be
  dropped inside a container), so this row measures the read path (overlay,
  bind) rather than the disk;
- **small files**: N files of 4 KiB, each ``dd bs=4k count=1 conv=fsync``
  (create + write + fsync, one dd process per file); files per second;
- **baseline**: N times ``dd if=/dev/zero of=/dev/null bs=4k count=1``: the
  process start-up that the small-file loop also pays, per process.

Timing is inside the script, not the whole ``run``: busybox ``ts %.s``
(``echo | ts %.s`` prints the wall clock in microseconds) is read before
and after each block; the cost of one reading (the median of four gaps
between back-to-back readings, ~1 ms) is subtracted.  (busybox
``adjtimex`` would do too, but hold's seccomp profile refuses adjtimex
without CAP_SYS_TIME, even the read-only call Docker's profile allows.)
Without ``ts``, ``/proc/uptime`` (10 ms) is used and the output says so.
The wall time of each whole ``run`` is reported apart.  The disk is
synced (untimed) before each place's run and before its write block.

Each round also runs the host place a second time (``host again``, at
the other end of the round): ``host again / host`` is the run's noise
floor, against which the 5% target is judged.

Rounds alternate the order of the eight places (forward, backward, ...) so
a noisy neighbour weighs on all of them; medians over rounds are reported,
with hold/host and hold/docker ratios.  No round starts after ``--budget``
seconds.  The Markdown table is printed and written to
bench/results/volume_latest.md.  Everything (containers, volumes, bind and
host directories, dockerd, mounts, the temporary base) is removed at the
end, also on failure or SIGTERM.

    python3 bench/volume_bench.py [--rounds 5] [--mb 256] [--files 500] [--passes 4]
"""

from __future__ import annotations

import argparse
import os
import platform
import signal
import statistics
import subprocess
import sys
import time

from peers import EngineError, Peers

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
VOLUME = "vbench"

# {dir} is where the data lives; every block prints "NAME START END" (seconds).
SCRIPT = r"""
set -e
if echo | ts %.s >/dev/null 2>&1; then
  now() {{ echo | ts %.s; }}
  echo "clocksrc ts"
else
  now() {{ cut -d' ' -f1 /proc/uptime; }}
  echo "clocksrc uptime"
fi
mkdir -p {dir}
cd {dir}
rm -rf vb.$$
mkdir vb.$$
cd vb.$$
echo "fs $(stat -f -c %T:%t .)"
c1=$(now); c2=$(now); c3=$(now); c4=$(now); c5=$(now); echo "clock $c1 $c2 $c3 $c4 $c5"
sync
a=$(now); dd if=/dev/zero of=big bs=1M count={mb} conv=fsync 2>/dev/null; b=$(now)
echo "write $a $b $(stat -c %s big)"
a=$(now); dd if=big of=/dev/null bs=1M iflag=direct 2>/dev/null; b=$(now)
echo "direct $a $b"
a=$(now); p=0; while [ $p -lt {passes} ]; do dd if=big of=/dev/null bs=1M 2>/dev/null; p=$((p+1)); done; b=$(now)
echo "cached $a $b"
rm big
sync
a=$(now); i=0; while [ $i -lt {files} ]; do dd if=/dev/zero of=f$i bs=4k count=1 conv=fsync 2>/dev/null; i=$((i+1)); done; b=$(now)
echo "small $a $b $(ls | wc -l)"
a=$(now); i=0; while [ $i -lt {files} ]; do dd if=/dev/zero of=/dev/null bs=4k count=1 2>/dev/null; i=$((i+1)); done; b=$(now)
echo "spawn $a $b"
cd ..
rm -rf vb.$$
echo done
"""

PLACES = ["host", "host again", "hold volume", "hold bind", "hold layer",
          "docker volume", "docker bind", "docker layer"]

ROWS = [  # key, label, format, higher is better
    ("write", "sequential write, {mb} MiB `dd bs=1M conv=fsync` (MiB/s)", ".0f", True),
    ("direct", "sequential read, `dd bs=1M iflag=direct` (O_DIRECT, MiB/s)", ".0f", True),
    ("cached", "sequential read, page cache, {passes} x `dd bs=1M` (MiB/s)", ".0f", True),
    ("small", "small files, {files} x 4 KiB `dd conv=fsync` (files/s)", ".0f", True),
    ("spawn", "baseline: `dd` 4 KiB to /dev/null, per process (ms)", ".2f", False),
    ("wall", "whole `run --rm` (or host `sh`) wall time (s)", ".2f", False),
]


class Place:
    """One place data can live in, its command line and its samples."""

    def __init__(self, name: str, argv_for, engine=None):
        self.name = name
        self.argv_for = argv_for        # script -> argv
        self.engine = engine
        self.samples: dict[str, list[float]] = {k: [] for k, *_ in ROWS}
        self.by_round: dict[int, dict[str, float]] = {}    # round -> key -> value
        self.notes: list[str] = []
        self.info: dict[str, str] = {}

    def median(self, key: str):
        values = self.samples[key]
        return statistics.median(values) if values else None

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    def once(self, script: str, mb: int, files: int, passes: int, round_no: int) -> None:
        os.sync()       # start from a clean disk: no other place's writes or discards pending
        begun = time.monotonic()
        argv = self.argv_for(script)
        env = self.engine.env if self.engine else None
        proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300)
        wall = time.monotonic() - begun
        if proc.returncode != 0 or "done" not in proc.stdout.split():
            raise EngineError(f"exited {proc.returncode}: out {proc.stdout.strip()[-300:]!r} "
                              f"err {proc.stderr.strip()[-300:]!r}")
        marks: dict[str, list[str]] = {}
        for line in proc.stdout.splitlines():
            fields = line.split()
            if fields:
                marks[fields[0]] = fields[1:]
        self.info["clock"] = marks.get("clocksrc", ["?"])[0]
        self.info["fs"] = marks.get("fs", ["?"])[0]
        ticks = [float(t) for t in marks["clock"]]
        clock = statistics.median(b - a for a, b in zip(ticks, ticks[1:]))

        def span(key: str) -> float:
            a, b = float(marks[key][0]), float(marks[key][1])
            return max(b - a - clock, 1e-6)

        size = int(marks["write"][2])
        if size != mb << 20:
            raise EngineError(f"wrote {size} bytes, not {mb} MiB")
        if int(marks["small"][2]) != files:
            raise EngineError(f"{marks['small'][2]} of {files} small files made")
        values = {"write": mb / span("write"), "direct": mb / span("direct"),
                  "cached": mb * passes / span("cached"), "small": files / span("small"),
                  "spawn": span("spawn") * 1000 / files, "wall": wall, "clock": clock * 1000}
        for key, value in values.items():
            self.samples.setdefault(key, []).append(value)
        self.by_round[round_no] = values

    def paired(self, other: "Place", key: str) -> list[float]:
        """This place's value over ``other``'s, for each round both have."""
        return [self.by_round[r][key] / other.by_round[r][key]
                for r in sorted(self.by_round) if r in other.by_round and r >= 0
                and other.by_round[r][key]]


def engine_places(engine, base: str) -> list[Place]:
    """volume, bind and layer places of one engine (makes the volume and dir)."""
    engine.call(["volume", "create", VOLUME])
    bind = os.path.join(base, f"{engine.name}-bind")
    os.makedirs(bind, exist_ok=True)

    def runner(mounts: list[str]):
        return lambda script: (engine.cli() + ["run", "--rm", "--network", "none", *mounts,
                                               engine.image, "sh", "-c", script])

    return [Place(f"{engine.name} volume", runner(["-v", f"{VOLUME}:/data"]), engine),
            Place(f"{engine.name} bind", runner(["-v", f"{bind}:/data"]), engine),
            Place(f"{engine.name} layer", runner([]), engine)]


def version_of(engine) -> str:
    args = {"docker": ["version", "--format", "{{.Server.Version}}"]}.get(
        engine.name, ["--version"])
    proc = engine.call(args, check=False, timeout=30)
    if proc.returncode != 0 or not proc.stdout.strip():
        return "?"
    return proc.stdout.strip().splitlines()[0].split()[-1]


def attempt(place: Place, args, directory: str, round_no: int, *, mb=None, files=None,
            passes=None) -> bool:
    mb, files, passes = mb or args.mb, files or args.files, passes or args.passes
    script = SCRIPT.format(dir=directory, mb=mb, files=files, passes=passes)
    try:
        place.once(script, mb, files, passes, round_no)
        return True
    except (EngineError, OSError, subprocess.SubprocessError, ValueError, KeyError,
            IndexError) as exc:
        place.note(f"{type(exc).__name__}: {exc}")
        return False


def measure(peers: Peers, args, started: float):
    """Set up the places, warm each up, then the rounds."""
    failed: list[str] = []
    versions: dict[str, str] = {}
    host_dir = os.path.join(peers.base, "host")
    os.makedirs(host_dir)
    host = Place("host", lambda script: ["/bin/busybox", "sh", "-c", script])
    host.info["mount"] = _fs_of(host_dir)
    again_dir = os.path.join(peers.base, "host-again")
    os.makedirs(again_dir)
    again = Place("host again", host.argv_for)
    places = [host]
    for name in [n.strip() for n in args.engines.split(",") if n.strip()]:
        print(f"== {name}: start, import, volume", file=sys.stderr, flush=True)
        try:
            engine = peers.start(name)
            versions[name] = version_of(engine)
            places += engine_places(engine, peers.base)
        except (EngineError, OSError, subprocess.SubprocessError) as exc:
            failed.append(f"{name}: skipped: {exc}")
            print(f"{name}: skipped: {exc}", file=sys.stderr)
    places.append(again)    # the other end of each round: the noise floor
    dirs = {p.name: "/data" for p in places}
    dirs.update({"host": host_dir, "host again": again_dir})
    # Warm-up: image and busybox in the page cache, first mounts, the volume's first use.
    print("== warm-up", file=sys.stderr, flush=True)
    for p in places:
        if attempt(p, args, dirs[p.name], -1, mb=16, files=20, passes=1):
            for values in p.samples.values():
                values.clear()
            p.by_round.clear()
    load = [_load()]
    rounds, last = 0, 0.0
    while rounds < args.rounds:
        if rounds and time.monotonic() - started + last > args.budget:
            print(f"== time budget: {rounds} rounds", file=sys.stderr)
            break
        print(f"== round {rounds + 1}/{args.rounds}", file=sys.stderr, flush=True)
        begun = time.monotonic()
        for p in (places if rounds % 2 == 0 else list(reversed(places))):
            attempt(p, args, dirs[p.name], rounds)
        rounds += 1
        last = time.monotonic() - begun
    load.append(_load())
    return places, versions, failed, rounds, tuple(load)


def _ratio(a, b) -> str:
    return f"{a / b:.2f}" if a is not None and b else "-"


def render(places: list[Place], versions: dict[str, str], args, elapsed: float,
           rounds: int, load: tuple[str, str]) -> str:
    by = {p.name: p for p in places}
    names = [n for n in PLACES if n in by]
    clocks = sorted({p.info.get("clock", "?") for p in places})
    clock_text = (
        "busybox `ts %.s` (µs wall clock) inside the container, read before and after "
        "each block, minus the cost of one reading (median of four back to back)"
        if clocks == ["ts"] else
        f"clock sources {clocks} (`uptime` is /proc/uptime, 10 ms)")
    heads = {"host": "host dir", "host again": "host dir, again"}
    for n in names:
        if not n.startswith("host"):
            engine, kind = n.split()
            heads[n] = f"{engine} {versions.get(engine, '')} {kind}".replace("  ", " ")
    lines = [
        f"# Volume, bind and writable-layer I/O: hold vs host vs Docker "
        f"({time.strftime('%Y-%m-%d %H:%M %Z')})",
        "",
        f"Machine: {platform.node()}, Linux {platform.release()}, {os.cpu_count()} CPUs; "
        f"everything on the same host file system ({by['host'].info.get('mount', '?')}). "
        f"One busybox script per place and round: `host` is the host's /bin/busybox in a "
        f"directory; `volume` is `-v {VOLUME}:/data` (named local volume), `bind` is "
        f"`-v <host dir>:/data`, `layer` is /data in the container's writable layer; "
        f"every container is `run --rm --network none`. Timed with {clock_text}; the whole "
        f"`run` is only in the last row. Medians of {rounds} rounds, the places in "
        f"alternating order. Set-up and measures took {elapsed:.0f} s; load average "
        f"{load[0]} before, {load[1]} after (other work on the machine makes every figure "
        f"noisy, fsync-bound rows most). Both engines put each container in a cgroup "
        f"of its own; no limits are set, so none throttles I/O.",
        "",
        "| measure | " + " | ".join(heads[n] for n in names) + " |",
        "|---|" + "---|" * len(names),
    ]
    for key, label, spec, _higher in ROWS:
        cells = [by[n].median(key) for n in names]
        lines.append(f"| {label.format(mb=args.mb, passes=args.passes, files=args.files)} | "
                     + " | ".join("-" if v is None else format(v, spec) for v in cells) + " |")
    kinds = [k for k in ("volume", "bind", "layer") if f"hold {k}" in by]
    if kinds:
        cols = [("host again / host", "host again", "host")] if "host again" in by else []
        for k in kinds:
            if "host" in by:
                cols.append((f"hold {k} / host", f"hold {k}", "host"))
            if f"docker {k}" in by:
                cols.append((f"hold {k} / docker {k}", f"hold {k}", f"docker {k}"))
        lines += ["", "Ratios of the medians (for MiB/s and files/s above 1 means hold is "
                  "faster; for ms and s, slower):", "",
                  "| measure | " + " | ".join(c[0] for c in cols) + " |",
                  "|---|" + "---|" * len(cols)]
        for key, label, _spec, _higher in ROWS:
            lines.append(f"| {label.format(mb=args.mb, passes=args.passes, files=args.files)} | "
                         + " | ".join(_ratio(by[a].median(key), by[b].median(key))
                                      for _, a, b in cols) + " |")
        if "host" in by:
            lines += ["", "Target (issue 4): hold volumes and binds within 5% of the host "
                      "directory. Per I/O row: hold/host as the ratio of the medians, in "
                      "brackets the per-round paired ratios (min-max), then `best` the ratio "
                      "of the best rounds (interference from other work only ever slows a "
                      "round down). `ok`: the median ratio is at least 0.95; `below`: under "
                      "0.95 by more than the host's own noise (the largest per-round gap "
                      "between `host again` and `host`); `noise`: under 0.95 but within it.",
                      ""]
            for k in ("volume", "bind"):
                if f"hold {k}" not in by:
                    continue
                verdicts = []
                for key, _label, _spec, _higher in ROWS[:4]:
                    hold, host = by[f"hold {k}"], by["host"]
                    h, d = hold.median(key), host.median(key)
                    if h is None or not d:
                        verdicts.append(f"{key} -")
                        continue
                    r = h / d
                    pairs = hold.paired(host, key)
                    spread = f" [{min(pairs):.2f}-{max(pairs):.2f}]" if pairs else ""
                    best = max(hold.samples[key]) / max(host.samples[key])
                    floor = by["host again"].paired(host, key) if "host again" in by else []
                    noise = max((abs(1 - x) for x in floor), default=0.0)
                    verdict = "ok" if r >= 0.95 else ("noise" if 1 - r <= noise else "below")
                    verdicts.append(f"{key} {r:.2f}{spread} best {best:.2f} {verdict}")
                lines.append(f"- hold {k}: " + "; ".join(verdicts))
            if "host again" in by:
                again, host = by["host again"], by["host"]
                floor = "; ".join(
                    f"{key} {statistics.median(pairs):.2f} [{min(pairs):.2f}-{max(pairs):.2f}] "
                    f"best {max(again.samples[key]) / max(host.samples[key]):.2f}"
                    for key, *_ in ROWS[:4] if (pairs := again.paired(host, key)))
                lines.append(f"- noise floor, host again / host (median of the paired "
                             f"ratios): {floor}")
                wide = [key for key, *_ in ROWS[:4]
                        if max((abs(1 - x) for x in again.paired(host, key)), default=0) > 0.05]
                if wide:
                    lines.append(f"- in this run the host differs from itself by more than 5% "
                                 f"in some round on: {', '.join(wide)}; a 5% verdict there "
                                 f"needs a quieter machine or more rounds (`--rounds`, "
                                 f"`--budget`).")
    lines += ["", "Per-round values (write, direct, cached MiB/s; small files/s; "
              "one clock reading ms):", ""]
    for n in names:
        p = by[n]
        s = p.samples

        def fmt(key, spec=".0f"):
            return "/".join(format(v, spec) for v in s.get(key, [])) or "-"
        lines.append(f"- {n} ({p.info.get('fs', '?')}): write {fmt('write')}; direct "
                     f"{fmt('direct')}; cached {fmt('cached')}; small {fmt('small')}; "
                     f"clock {fmt('clock', '.2f')}")
        for note in p.notes:
            lines.append(f"  - note: {note.replace(chr(10), ' ')[:400]}")
    return "\n".join(lines) + "\n"


def _fs_of(path: str) -> str:
    proc = subprocess.run(["findmnt", "-n", "-o", "SOURCE,FSTYPE", "-T", path],
                          capture_output=True, text=True)
    return " ".join(proc.stdout.split()) or "?"


def _load() -> str:
    with open("/proc/loadavg") as f:
        return f.read().split()[0]


def _terminate(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--mb", type=int, default=256, help="MiB written and read per round")
    parser.add_argument("--files", type=int, default=500, help="small files per round")
    parser.add_argument("--passes", type=int, default=4, help="cached read passes")
    parser.add_argument("--engines", default="hold,docker")
    parser.add_argument("--budget", type=float, default=150,
                        help="seconds after which no further round starts")
    parser.add_argument("--output", default=os.path.join(RESULTS, "volume_latest.md"))
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print("volume_bench.py needs root (daemons, mounts)", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _terminate)
    started = time.monotonic()
    peers = Peers()
    try:
        peers.__enter__()
        places, versions, failed, rounds, load = measure(peers, args, started)
        elapsed = time.monotonic() - started
    except KeyboardInterrupt as exc:
        print(f"== interrupted ({exc or 'SIGINT'})", file=sys.stderr)
        return 130
    finally:
        # Do not let a second Ctrl-C or SIGTERM cut the clean-up short.
        previous = {sig: signal.signal(sig, signal.SIG_IGN)
                    for sig in (signal.SIGINT, signal.SIGTERM)}
        if peers.base:     # never before the base exists: kill_under("") matches all
            print("== cleaning up", file=sys.stderr, flush=True)
            peers.__exit__(None, None, None)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    report = render(places, versions, args, elapsed, rounds, load)
    if failed:
        report += "\n" + "\n".join(f"- {f.replace(chr(10), ' ')[:400]}" for f in failed) + "\n"
    sys.stdout.write(report)
    print(f"== done in {time.monotonic() - started:.0f} s, cleaned up", file=sys.stderr)
    os.makedirs(os.path.dirname(args.output), exist_ok=True)
    with open(args.output, "w") as f:
        f.write(report)
    ok = all(p.samples["write"] for p in places)
    return 0 if ok and not failed else 1


if __name__ == "__main__":
    sys.exit(main())
