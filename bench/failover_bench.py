"""holddb failover timing: how long a writing client is without a primary
when the primary is killed (``kill -9``) or stopped (SIGTERM), in one run.

Issue 7's targets: a median under 2 s from ``kill -9`` of the primary to
the client's first acknowledged ``w: "majority"`` write, under 1 s for a
graceful stop, both at default settings.  MongoDB documents that the median
time before a replica set elects a new primary "should not typically
exceed 12 seconds" with its default settings; the table's last ratio is
against that.

What runs: a three-member set from ``holddb.repl.testing.LocalReplicaSet``
(real ``holddb`` processes on loopback ports, temporary dbpaths) initiated
with the default config (heartbeatIntervalMillis 2000,
electionTimeoutMillis 10000), and one pymongo replica-set client with
pymongo's defaults (streaming server monitoring with awaitable ``hello``,
heartbeatFrequencyMS 10000, retryWrites, serverSelectionTimeoutMS 30000)
inserting ``w: "majority"`` documents in a tight loop on a thread.  Each
round takes down the current primary -- in turn SIGKILL (``kill``),
SIGTERM (``term``) and SIGKILL with the port left silent (``silent``) --
and measures, from just before the signal, the time to the first insert
acknowledged by another member (command monitoring names the member that
answered; with SIGTERM the old primary may acknowledge writes while it
hands over, and those do not count).  The victim is then restarted on its
dbpath and the next round waits until it is SECONDARY again and writes
flow.  So the figure is what an application sees: the members' detection
and election, plus the driver noticing the new primary.

``kill`` on one host means the dead member's port refuses connections, a
certain sign.  ``silent`` is the same SIGKILL with the member's listening
socket kept open by the bench (``LocalReplicaSet.kill_silently``): its
connections are reset as the process dies, but new ones are accepted and
never answered -- what the others see when a container or host vanishes,
where nothing refuses.  The target is the same as for ``kill``.

Also reported, to tell those apart: the time to the new primary's
"Election succeeded" log line (server side, wall clock, millisecond
log resolution), and the longest pause between two acknowledged writes
around each failover.  At the end every acknowledged write is looked up on
the final primary: a lost one would be a safety bug, and the run fails.

The Markdown table is printed and written to
bench/results/failover_latest.md.  Every member is killed and the
temporary directory removed at the end, also on failure, Ctrl-C or SIGTERM.

    python3 bench/failover_bench.py [--rounds 10] [--modes kill,term,silent] [--keep]
"""

from __future__ import annotations

import argparse
import collections
import datetime
import json
import math
import os
import platform
import shutil
import signal
import statistics
import sys
import tempfile
import threading
import time

import pymongo
from pymongo import monitoring

SRC = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src"))
sys.path.insert(0, SRC)
# the members (``python -m holddb.main`` children) run this checkout's code too,
# whatever holddb the interpreter has installed
os.environ["PYTHONPATH"] = os.pathsep.join(
    [SRC] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])
from holddb.repl.testing import LocalReplicaSet  # noqa: E402

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
MODES = {"kill": ("kill -9 of the primary", 2.0), "term": ("graceful stop (SIGTERM)", 1.0),
         "silent": ("kill -9, port left silent", 2.0)}
MONGODB_MEDIAN_S = 12.0  # MongoDB's documented typical upper bound of the median
GIVE_UP_S = 60.0  # a round without a new primary by then is reported as failed


class _AnsweredBy(monitoring.CommandListener):
    """Remembers which member answered the writer's last insert: command
    events run on the writer's own thread, right before insert_one returns."""

    def __init__(self) -> None:
        self.address: tuple[str, int] | None = None

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        pass

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        if event.command_name == "insert":
            self.address = event.connection_id

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


class Writer:
    """One default pymongo client inserting w:"majority" documents back to back.

    ``acks`` holds (monotonic time, "host:port") for each acknowledged
    insert; ``ids`` every acknowledged ``_id`` (for the loss check).
    """

    def __init__(self, uri: str) -> None:
        self.listener = _AnsweredBy()
        self.client = pymongo.MongoClient(uri, event_listeners=[self.listener])
        self.coll = self.client.bench.failover.with_options(
            write_concern=pymongo.WriteConcern(w="majority"))
        self.acks: list[tuple[float, str]] = []
        self.ids: list[int] = []
        self.errors: list[str] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="failover-writer", daemon=True)

    def start(self) -> "Writer":
        self._thread.start()
        return self

    def _loop(self) -> None:
        n = 0
        while not self._stop.is_set():
            try:
                self.coll.insert_one({"_id": n, "at": time.time()})
            except pymongo.errors.DuplicateKeyError:
                # an attempt landed but its reply was lost and the retry met it: stored
                with self._lock:
                    self.ids.append(n)
                n += 1
                continue
            except pymongo.errors.PyMongoError as exc:  # failover in progress: go again
                with self._lock:
                    self.errors.append(f"{type(exc).__name__}: {str(exc)[:200]}")
                continue
            now = time.monotonic()
            host, port = self.listener.address or ("?", 0)
            with self._lock:
                self.acks.append((now, f"{host}:{port}"))
                self.ids.append(n)
            n += 1

    def first_ack_after(self, since: float, not_from: str) -> tuple[float, str] | None:
        """(time, member) of the first ack after ``since`` by another member."""
        first = None
        with self._lock:
            for at, host in reversed(self.acks):  # newest first; stop at ``since``
                if at < since:
                    break
                if host != not_from:
                    first = (at, host)
        return first

    def longest_pause(self, since: float, until: float) -> float:
        """The longest gap between consecutive acknowledgements that overlaps [since, until]."""
        with self._lock:
            times = [at for at, _ in self.acks]
        gaps = [b - a for a, b in zip(times, times[1:]) if b >= since and a <= until]
        return max(gaps, default=0.0)

    def wait_acks(self, count: int, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        start = len(self.acks)
        while len(self.acks) < start + count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"the writer made no progress: {self.errors[-3:]}")
            time.sleep(0.02)

    def close(self) -> None:
        """Stop the loop; an insert still waiting for a primary (pymongo's
        30 s server selection) is cut short by closing the client."""
        self._stop.set()
        self._thread.join(5.0)
        self.client.close()
        self._thread.join(5.0)


def _election_lines(replset: LocalReplicaSet) -> list[tuple[int, float]]:
    """(term, wall-clock seconds) of every "Election succeeded" log line."""
    out = []
    for index in range(len(replset.ports)):
        path = f"{replset.workdir}/member{index}.log"
        if not os.path.exists(path):
            continue
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                if '"Election succeeded' not in line:
                    continue
                doc = json.loads(line)
                when = datetime.datetime.fromisoformat(doc["t"]["$date"]).timestamp()
                out.append((int(doc["attr"]["term"]), when))
    return out


def _election_reason(replset: LocalReplicaSet, host: str) -> str | None:
    """Why ``host`` stood (replSetGetStatus.electionCandidateMetrics)."""
    try:
        with replset.direct(replset.hosts.index(host)) as client:
            status = client.admin.command("replSetGetStatus")
    except Exception:  # noqa: BLE001 -- already gone again: not worth failing a round
        return None
    return status.get("electionCandidateMetrics", {}).get("lastElectionReason")


def one_round(replset: LocalReplicaSet, writer: Writer, mode: str) -> dict:
    """Take the primary down one way; time the writer's first ack elsewhere."""
    victim = replset.primary_index()
    victim_host = replset.hosts[victim]
    terms_before = max((t for t, _ in _election_lines(replset)), default=0)
    writer.wait_acks(20)
    wall, start = time.time(), time.monotonic()
    if mode == "kill":
        replset.kill(victim)
    elif mode == "silent":
        replset.kill_silently(victim)
    else:
        replset.processes[victim].process.send_signal(signal.SIGTERM)
    deadline = start + GIVE_UP_S
    first = None
    while first is None and time.monotonic() < deadline:
        time.sleep(0.005)
        first = writer.first_ack_after(start, victim_host)
    if mode == "term":
        replset.stop(victim)  # it exits by itself; this reaps it (SIGKILL after 10 s)
    elected = [when for term, when in _election_lines(replset) if term > terms_before]
    result = {
        "mode": mode, "victim": victim,
        "write_s": None if first is None else first[0] - start,
        "elected_s": min(elected) - wall if elected else None,
        "pause_s": writer.longest_pause(start, first[0] if first else time.monotonic()),
        "reason": None if first is None else _election_reason(replset, first[1]),
    }
    replset.restart(victim)
    replset.wait_for_states(1, len(replset.ports) - 1, timeout=60)
    writer.wait_acks(50)
    return result


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile (p90 of 10 values is the 9th smallest)."""
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered) - 1e-9))
    return ordered[min(rank, len(ordered)) - 1]


def _s(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} s"


def render(results: list[dict], lost: int, acked: int, rounds: int) -> str:
    lines = [
        f"# holddb failover ({time.strftime('%Y-%m-%d %H:%M %Z')})",
        "",
        f"Machine: {platform.node()}, Linux {platform.release()}, {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.1f} at the end. Three holddb members on "
        f"loopback, default replica-set settings; one pymongo {pymongo.version} client "
        f"with default options inserting `w: \"majority\"` in a loop. Time from the signal "
        f"to the first insert acknowledged by the new primary; {rounds} rounds per mode.",
        "",
        "| failover | rounds | median | p90 | max | target (median) | median/target "
        "| median/MongoDB's 12 s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    extra = ["", "| failover | new primary elected (server log), median | max "
             "| longest write pause, median | why the new primary stood | failed rounds |",
             "|---|---|---|---|---|---|"]
    for mode, (label, target) in MODES.items():
        mine = [r for r in results if r["mode"] == mode]
        if not mine:
            continue
        times = [r["write_s"] for r in mine if r["write_s"] is not None]
        failed = len(mine) - len(times)
        if times:
            median = statistics.median(times)
            lines.append(
                f"| {label} | {len(times)} | {_s(median)} | {_s(percentile(times, 0.9))} "
                f"| {_s(max(times))} | < {target:.0f} s | {median / target:.2f} "
                f"| {median / MONGODB_MEDIAN_S:.2f} |")
        else:
            lines.append(f"| {label} | 0 | - | - | - | < {target:.0f} s | - | - |")
        elected = [r["elected_s"] for r in mine if r["elected_s"] is not None]
        pauses = [r["pause_s"] for r in mine]
        reasons = collections.Counter(str(r["reason"]) for r in mine if r["write_s"] is not None)
        extra.append(f"| {label} | {_s(statistics.median(elected) if elected else None)} "
                     f"| {_s(max(elected) if elected else None)} "
                     f"| {_s(statistics.median(pauses))} "
                     f"| {', '.join(f'{k} x{v}' for k, v in reasons.most_common())} "
                     f"| {failed} |")
    lines += extra
    lines += ["", "Per round (s, to the first acknowledged write): " + "; ".join(
        f"{r['mode']} {r['write_s']:.2f}" if r["write_s"] is not None else f"{r['mode']} failed"
        for r in results),
        "", f"Acknowledged writes: {acked}; missing on the final primary: {lost}."]
    return "\n".join(lines) + "\n"


def _terminate(*_: object) -> None:
    """SIGTERM unwinds through main's ``finally`` like Ctrl-C, so no member
    outlives the bench; a second SIGTERM must not cut that cleanup short."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    sys.exit(128 + signal.SIGTERM)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10, help="failovers per mode (default 10)")
    parser.add_argument("--modes", default="kill,term,silent",
                        help="comma-separated: kill (SIGKILL), term (SIGTERM), silent "
                             "(SIGKILL, the port kept open and silent)")
    parser.add_argument("--output", default=os.path.join(RESULTS, "failover_latest.md"))
    parser.add_argument("--keep", action="store_true",
                        help="keep the members' logs and dbpaths (the path is printed)")
    args = parser.parse_args(argv)
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    unknown = [m for m in modes if m not in MODES]
    if unknown or not modes or args.rounds < 1:
        parser.error(f"--modes takes {', '.join(MODES)}; --rounds at least 1")
    signal.signal(signal.SIGTERM, _terminate)
    workdir = tempfile.mkdtemp(prefix="holddb-failover-bench-")
    replset = LocalReplicaSet(workdir)
    writer = None
    results: list[dict] = []
    try:
        replset.start()
        replset.initiate()
        writer = Writer(replset.uri).start()
        writer.wait_acks(100)
        for index in range(args.rounds * len(modes)):
            mode = modes[index % len(modes)]
            result = one_round(replset, writer, mode)
            print(f"round {index + 1}: {mode} of member {result['victim']}: first write "
                  f"{_s(result['write_s'])}, elected {_s(result['elected_s'])} "
                  f"({result['reason']})",
                  file=sys.stderr, flush=True)
            results.append(result)
        writer.close()
        with replset.direct(replset.primary_index()) as client:
            stored = {doc["_id"] for doc in client.bench.failover.find({}, {"_id": 1})}
        lost = len(set(writer.ids) - stored)
        acked = len(writer.ids)
    finally:
        if writer is not None:
            writer.close()
        replset.close()
        if args.keep:
            print(f"logs and dbpaths kept in {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    report = render(results, lost, acked, args.rounds)
    sys.stdout.write(report)
    os.makedirs(os.path.dirname(args.output), exist_ok=True)
    with open(args.output, "w") as handle:
        handle.write(report)
    return 1 if lost else 0


if __name__ == "__main__":
    sys.exit(main())
