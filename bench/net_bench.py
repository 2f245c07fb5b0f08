"""Container-to-container networking: hold against Docker, in one run.

Each engine (private roots, see peers.py) gets a user-defined bridge
network ``benchnet`` and two busybox containers on it: ``srv`` serves

- port 5000: ``nc -ll -p 5000 -e echo y`` (one short answer per connection),
- port 5001: ``nc -l -p 5001 > /dev/null`` in a loop (a sink; its stdin is a
  FIFO held open, because busybox nc ends the connection at EOF on stdin),

and ``cli`` (``sleep``) runs the measures with busybox tools, timed inside
the container (``/proc/uptime``, 10 ms resolution; each timed block lasts
a few hundred ms):

- **TCP request**: ``echo x | nc SRV 5000`` N times in sequence (connect,
  one round trip, close; each answer is checked); time per request.  Every
  request also forks and execs nc, the same cost for both engines.
- **ping**: ``ping -c 50 -i 0.2 SRV``; the median of the 50 RTTs and
  busybox's average.
- **throughput**: ``dd if=/dev/zero bs=1M count=500 | nc SRV 5001`` into the
  sink, timed to nc's exit (the sink has read everything by then).
- **name lookup**: ``nslookup srv`` against the network's resolver (hold's
  per-network DNS server; Docker's embedded 127.0.0.11), time per lookup.
- **baseline**: ``/bin/true`` N times, no network: the process start-up
  that the TCP-request and lookup loops also pay, per process.

Addresses are looked up once (``network inspect``) so that the first three
measures do not include name resolution.  The rounds alternate between the
engines (hold, docker, docker, hold, ...) so that a noisy neighbour on the
machine weighs on both; medians over the rounds are reported.  The pings
of both engines run at the same time, first.  Rounds stop early when the
next one would overrun ``--budget`` seconds (the run stays near 3 minutes
even on a loaded machine; busybox nc moves only ~40-100 MB/s here).  Docker runs
with --iptables=false --bridge=none: ``docker network create`` still makes a
bridge, without NAT.  All traffic stays on the machine's bridges.

The Markdown table is printed and written to bench/results/net_latest.md.
Everything (containers, networks and their bridges, dockerd, mounts, the
temporary directory) is removed at the end, also on failure or SIGTERM.

    python3 bench/net_bench.py [--rounds 5] [-n 200] [--mb 500] [--engines hold,docker]
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from peers import EngineError, Peers

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
NETWORK = "benchnet"
SERVER, CLIENT = "srv", "cli"
ECHO_PORT, SINK_PORT = 5000, 5001

SERVER_SCRIPT = (
    f"nc -ll -p {ECHO_PORT} -e echo y & "
    f"mkfifo /tmp/in; exec 3<>/tmp/in; "
    f"while :; do nc -l -p {SINK_PORT} <&3 >/dev/null; done")

# Each script prints "START END ..." from /proc/uptime (seconds, 10 ms).
REQUESTS_SCRIPT = """
a=$(cut -d' ' -f1 /proc/uptime)
ok=$(i=0; while [ $i -lt {n} ]; do echo x | nc {ip} {port}; i=$((i+1)); done | grep -c '^y$')
b=$(cut -d' ' -f1 /proc/uptime)
echo "$a $b $ok"
"""

THROUGHPUT_SCRIPT = """
a=$(cut -d' ' -f1 /proc/uptime)
dd if=/dev/zero bs=1M count={mb} 2>/tmp/dd.err | nc {ip} {port}
rc=$?
b=$(cut -d' ' -f1 /proc/uptime)
grep -q '^{mb}+0 records out' /tmp/dd.err && echo "$a $b $rc" || {{ cat /tmp/dd.err; echo "$a $b fail"; }}
"""

SPAWN_SCRIPT = """
a=$(cut -d' ' -f1 /proc/uptime)
i=0; while [ $i -lt {n} ]; do /bin/true; i=$((i+1)); done
b=$(cut -d' ' -f1 /proc/uptime)
echo "$a $b ok"
"""

LOOKUP_SCRIPT = """
a=$(cut -d' ' -f1 /proc/uptime)
ok=$(i=0; while [ $i -lt {n} ]; do nslookup {name} 2>/dev/null; i=$((i+1)); done | grep -c '^Address:* *{ip}$')
b=$(cut -d' ' -f1 /proc/uptime)
echo "$a $b $ok"
"""


class Bench:
    """One engine's network, two containers and its collected samples."""

    def __init__(self, engine):
        self.engine = engine
        self.name = engine.name
        self.ip = ""
        self.samples: dict[str, list[float]] = {
            "request_ms": [], "ping_median_ms": [], "ping_avg_ms": [],
            "throughput_mbs": [], "lookup_ms": [], "spawn_ms": []}
        self.notes: list[str] = []
        self.info: dict[str, str] = {}

    def setup(self) -> None:
        eng = self.engine
        self.info["bridge"] = eng.create_network(NETWORK)
        eng.run_on_network(SERVER, NETWORK, ["sh", "-c", SERVER_SCRIPT])
        eng.run_on_network(CLIENT, NETWORK, ["sleep", "3600"])
        self.ip = eng.ip_on(NETWORK, SERVER)
        deadline = time.monotonic() + 20
        while True:       # the server is up once it answers
            proc = eng.call(["exec", CLIENT, "sh", "-c", f"echo x | nc {self.ip} {ECHO_PORT}"],
                            check=False, timeout=30)
            if proc.stdout.strip() == "y":
                break
            if time.monotonic() > deadline:
                raise EngineError(f"{self.name}: srv does not answer on {self.ip}:{ECHO_PORT}: "
                                  f"{proc.stderr.strip()[-300:]}")
            time.sleep(0.2)
        link = eng.call(["exec", CLIENT, "ip", "-o", "link", "show", "eth0"], check=False).stdout
        mtu = re.search(r"mtu (\d+)", link)
        self.info["mtu"] = mtu.group(1) if mtu else "?"
        self.info["subnet"] = (eng.network_json(NETWORK).get("IPAM", {}).get("Config")
                               or [{}])[0].get("Subnet", "?")
        # Warm-up: ARP, page cache of nc/dd/nslookup, the resolver's first start.
        self.shell(REQUESTS_SCRIPT.format(n=10, ip=self.ip, port=ECHO_PORT))
        self.shell(THROUGHPUT_SCRIPT.format(mb=50, ip=self.ip, port=SINK_PORT))
        self.shell(LOOKUP_SCRIPT.format(n=2, name=SERVER, ip=re.escape(self.ip)))

    def shell(self, script: str, timeout: float = 120) -> list[str]:
        proc = self.engine.exec_in(CLIENT, ["sh", "-c", script], timeout=timeout)
        fields = proc.stdout.strip().splitlines()[-1].split() if proc.stdout.strip() else []
        if len(fields) < 3:
            raise EngineError(f"{self.name}: unexpected output {proc.stdout!r} {proc.stderr!r}")
        return fields

    def requests(self, n: int) -> None:
        a, b, ok = self.shell(REQUESTS_SCRIPT.format(n=n, ip=self.ip, port=ECHO_PORT))
        if int(ok) != n:
            raise EngineError(f"{self.name}: {ok} of {n} requests answered")
        self.samples["request_ms"].append((float(b) - float(a)) * 1000 / n)

    def throughput(self, mb: int) -> None:
        a, b, rc = self.shell(THROUGHPUT_SCRIPT.format(mb=mb, ip=self.ip, port=SINK_PORT))
        if rc != "0":
            raise EngineError(f"{self.name}: transfer failed (nc: {rc})")
        seconds = float(b) - float(a)
        if seconds > 0:   # else below the clock's resolution: not counted
            self.samples["throughput_mbs"].append(mb * 1.048576 / seconds)

    def spawns(self, n: int) -> None:
        a, b, _ = self.shell(SPAWN_SCRIPT.format(n=n))
        self.samples["spawn_ms"].append((float(b) - float(a)) * 1000 / n)

    def lookups(self, n: int) -> None:
        a, b, ok = self.shell(LOOKUP_SCRIPT.format(n=n, name=SERVER, ip=re.escape(self.ip)))
        if int(ok) != n:
            raise EngineError(f"{self.name}: {ok} of {n} lookups of {SERVER} gave {self.ip}")
        self.samples["lookup_ms"].append((float(b) - float(a)) * 1000 / n)

    def ping(self, count: int) -> None:
        proc = self.engine.exec_in(CLIENT, ["ping", "-c", str(count), "-i", "0.2", self.ip],
                                   timeout=count * 0.2 + 30)
        rtts = [float(t) for t in re.findall(r"time=([\d.]+) ms", proc.stdout)]
        avg = re.search(r"min/avg/max = [\d.]+/([\d.]+)/", proc.stdout)
        if len(rtts) < count or not avg:
            raise EngineError(f"{self.name}: ping: {len(rtts)} of {count} replies")
        self.samples["ping_median_ms"].append(statistics.median(rtts))
        self.samples["ping_avg_ms"].append(float(avg.group(1)))

    def median(self, key: str):
        values = self.samples[key]
        return statistics.median(values) if values else None


def attempt(bench: Bench, what: str, func, *args) -> None:
    """Run one measure; a failure becomes a note and the measure is dropped."""
    try:
        func(*args)
    except (EngineError, OSError, subprocess.SubprocessError, ValueError) as exc:
        note = f"{what}: {exc}"
        if note not in bench.notes:
            bench.notes.append(note)


def version_of(engine) -> str:
    args = {"docker": ["version", "--format", "{{.Server.Version}}"]}.get(engine.name, ["--version"])
    proc = engine.call(args, check=False, timeout=30)
    if proc.returncode != 0 or not proc.stdout.strip():
        return "?"
    return proc.stdout.strip().splitlines()[0].split()[-1]


ROWS = [  # key, label, format, lower is better
    ("request_ms", "TCP request: connect + `echo x` / `y` + close, per request (ms)", ".3f", True),
    ("ping_median_ms", "ping RTT, median of {ping} (ms)", ".3f", True),
    ("ping_avg_ms", "ping RTT, busybox avg of {ping} (ms)", ".3f", True),
    ("throughput_mbs", "throughput, {mb} MiB through busybox nc (MB/s)", ".0f", False),
    ("lookup_ms", "name lookup, `nslookup srv`, per lookup (ms)", ".2f", True),
    ("spawn_ms", "baseline, no network: `/bin/true` in a loop, per process (ms)", ".2f", True),
]


def render(benches: list[Bench], args, elapsed: float, rounds: int,
           load: tuple[str, str]) -> str:
    by = {b.name: b for b in benches}
    names = [b.name for b in benches]
    lines = [
        f"# Container-to-container network: {' vs '.join(names)} "
        f"({time.strftime('%Y-%m-%d %H:%M %Z')})",
        "",
        f"Machine: {platform.node()}, Linux {platform.release()}, {os.cpu_count()} CPUs. "
        f"Two busybox containers on one user-defined bridge network per engine; "
        f"measured inside the client container with busybox tools (`/proc/uptime`, "
        f"10 ms clock). Medians of {rounds} rounds, engines alternating; a round is "
        f"{args.requests} sequential TCP requests, one {args.mb} MiB transfer, "
        f"{args.lookups} name lookups and {args.requests} `/bin/true`; ping is one run of "
        f"{args.ping} at 0.2 s per engine, both at once. Set-up and measures took {elapsed:.0f} s; "
        f"load average {load[0]} before, {load[1]} after (other work on the machine "
        f"makes every figure noisy).",
        "",
        "| measure | " + " | ".join(f"{n} {by[n].info.get('version', '')}".strip() for n in names)
        + (" | hold/docker |" if "hold" in by and "docker" in by else " |"),
        "|---|" + "---|" * len(names) + ("---|" if "hold" in by and "docker" in by else ""),
    ]
    for key, label, spec, _lower in ROWS:
        values = [by[n].median(key) for n in names]
        cells = ["-" if v is None else format(v, spec) for v in values]
        row = f"| {label.format(ping=args.ping, mb=args.mb)} | " + " | ".join(cells) + " |"
        if "hold" in by and "docker" in by:
            h, d = by["hold"].median(key), by["docker"].median(key)
            row += f" {h / d:.2f} |" if h is not None and d else " - |"
        lines.append(row)
    lines += ["", "Per-round values:", ""]
    for b in benches:
        rounds = ", ".join(f"{r:.3f}" for r in b.samples["request_ms"]) or "-"
        tput = ", ".join(f"{t:.0f}" for t in b.samples["throughput_mbs"]) or "-"
        look = ", ".join(f"{t:.2f}" for t in b.samples["lookup_ms"]) or "-"
        spawn = ", ".join(f"{t:.2f}" for t in b.samples["spawn_ms"]) or "-"
        setup = ", ".join(f"{k} {v}" for k, v in b.info.items() if k != "version")
        lines.append(f"- {b.name} ({setup}): requests {rounds} ms; throughput {tput} MB/s; "
                     f"lookups {look} ms; /bin/true {spawn} ms")
        for note in b.notes:
            lines.append(f"  - note: {note.replace(chr(10), ' ')[:400]}")
    if "hold" in by and "docker" in by:
        lines += ["", "Ratios are hold/docker: below 1 is faster for hold in the time rows, "
                  "slower in the throughput row."]
    return "\n".join(lines) + "\n"


def _load() -> str:
    with open("/proc/loadavg") as f:
        return f.read().split()[0]


def _terminate(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def measure(peers: Peers, args, started: float):
    """Set both engines up, ping, then the rounds; (benches, failures, rounds, load)."""
    benches: list[Bench] = []
    failed: list[str] = []
    for name in [n.strip() for n in args.engines.split(",") if n.strip()]:
        print(f"== {name}: start, network, containers", file=sys.stderr, flush=True)
        try:
            engine = peers.start(name)
            bench = Bench(engine)
            bench.info["version"] = version_of(engine)
            bench.setup()
            benches.append(bench)
        except (EngineError, OSError, subprocess.SubprocessError) as exc:
            failed.append(f"{name}: skipped: {exc}")
            print(f"{name}: skipped: {exc}", file=sys.stderr)
    load = [_load()]
    print(f"== ping, {args.ping} x 0.2 s", file=sys.stderr, flush=True)
    with ThreadPoolExecutor(max_workers=max(1, len(benches))) as pool:
        for b in benches:
            pool.submit(attempt, b, "ping", b.ping, args.ping)
    rounds, last = 0, 0.0
    while benches and rounds < args.rounds:
        if rounds and time.monotonic() - started + last > args.budget:
            print(f"== time budget: {rounds} rounds", file=sys.stderr)
            break
        print(f"== round {rounds + 1}/{args.rounds}", file=sys.stderr, flush=True)
        begun = time.monotonic()
        order = benches if rounds % 2 == 0 else list(reversed(benches))
        for b in order:
            attempt(b, "requests", b.requests, args.requests)
            attempt(b, "throughput", b.throughput, args.mb)
            attempt(b, "lookups", b.lookups, args.lookups)
            attempt(b, "baseline", b.spawns, args.requests)
        rounds += 1
        last = time.monotonic() - begun
    load.append(_load())
    return benches, failed, rounds, tuple(load)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("-n", "--requests", type=int, default=200,
                        help="sequential TCP requests per round")
    parser.add_argument("--mb", type=int, default=500, help="MiB per transfer")
    parser.add_argument("--lookups", type=int, default=50, help="name lookups per round")
    parser.add_argument("--ping", type=int, default=50, help="pings (0.2 s apart)")
    parser.add_argument("--engines", default="hold,docker")
    parser.add_argument("--budget", type=float, default=150,
                        help="seconds after which no further round starts")
    parser.add_argument("--output", default=os.path.join(RESULTS, "net_latest.md"))
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print("net_bench.py needs root (daemons, mounts, bridges)", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _terminate)
    started = time.monotonic()
    peers = Peers()
    try:
        peers.__enter__()
        benches, failed, rounds, load = measure(peers, args, started)
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
    report = render(benches, args, elapsed, rounds, load)
    if failed:
        report += "\n" + "\n".join(f"- {f.replace(chr(10), ' ')[:400]}" for f in failed) + "\n"
    sys.stdout.write(report)
    print(f"== done in {time.monotonic() - started:.0f} s, cleaned up", file=sys.stderr)
    os.makedirs(os.path.dirname(args.output), exist_ok=True)
    with open(args.output, "w") as f:
        f.write(report)
    return 0 if benches and not failed else 1


if __name__ == "__main__":
    sys.exit(main())
