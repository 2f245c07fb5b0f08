"""Remote volumes: I/O inside a hold container against the same mount on the host.

For each remote volume driver whose server can be started here, on
127.0.0.1 only (the helpers of ``hold.volumes.remote.testing``):

- **smb**: a private ``smbd`` (Samba), the volume mounted through rclone
  FUSE (or kernel cifs where the host has it),
- **sshfs**: a private ``sshd``, the volume mounted with Debian's sshfs,
- **s3**: moto's S3 server, through rclone FUSE,
- **azureblob**: Azurite, through rclone FUSE,

hold creates one volume (``hold volume create -d DRIVER ... NAME``), and a
detached ``sleep`` container that uses it keeps the volume mounted on the
host for the whole run (its ``Mountpoint``, ``<root>/volumes/NAME/_data``).
Then volume_bench.py's busybox script (the same text, imported from it:
sequential write ``dd bs=1M conv=fsync``, sequential read with O_DIRECT,
page-cache reads, small files of 4 KiB each written with ``conv=fsync``,
and the process-start baseline; timed inside the script with busybox
``ts %.s``) runs in three places per driver:

- **host**: the host's ``/bin/busybox sh`` in a directory of that very
  mountpoint (the same FUSE server process the containers use),
- **hold**: ``hold run --rm --network none -v NAME:/data IMG sh -c SCRIPT``
  (the container joins the existing mount: no mount cost in the timed
  blocks; the whole ``run``'s wall time is a separate row),
- **host again**: the host place once more, at the other end of the round:
  ``host again / host`` is the run's noise floor.

The issue's target: hold adds no cost, container within 10% of the host
on the same mount.  Rounds alternate the order of the places (all drivers,
forward, then backward, ...); medians over rounds, the container/host
ratio per driver, the per-round paired ratios and the best-round ratio.
No round starts after ``--budget`` seconds.  The Markdown table is printed
and written to bench/results/remote_latest.md.  Everything (containers,
volumes, FUSE mounts, smbd, sshd, moto, Azurite, rclone and sshfs
processes, the temporary base) is removed at the end, also on failure or
SIGTERM.

    python3 bench/remote_bench.py [--rounds 5] [--mb 64] [--files 200] [--passes 2]
        [--drivers smb,sshfs,s3,azureblob] [--budget 120]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import time

import volume_bench as vb
from peers import EngineError, Peers

RESULTS = vb.RESULTS
DRIVERS = ["smb", "sshfs", "s3", "azureblob"]
TARGET = 0.90       # container / host, the "within 10%"


class Remote:
    """One driver: its server, its hold volume, the holder, its three places."""

    def __init__(self, driver: str):
        self.driver = driver
        self.volume = f"rb{driver}"
        self.holder = f"rb-hold-{driver}"
        self.server = None
        self.mountpoint = ""
        self.info: dict[str, str] = {}
        self.places: list[vb.Place] = []

    def place(self, kind: str) -> vb.Place:
        return next(p for p in self.places if p.name == f"{self.driver} {kind}")


def _secret(path: str, value: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(value + "\n")


def _start_server(driver: str, base: str, workdir: str):
    """(server, ``volume create`` options) for ``driver``; the server started."""
    from hold.volumes.remote import testing
    if driver == "smb":
        server = testing.SambaServer(base).__enter__()     # stops itself on failure
        return server, {"share": server.unc, "username": server.user,
                        "password-file": server.password_file}
    if driver == "sshfs":
        server = testing.SshServer(base).__enter__()
        return server, {"sshcmd": server.sshcmd, "port": str(server.port),
                        "identity-file": server.identity}
    os.makedirs(workdir, exist_ok=True)
    key_file = os.path.join(workdir, "key")
    if driver == "s3":
        _secret(key_file, testing.MotoServer.secret_key)
        server = testing.MotoServer(workdir).__enter__()
        return server, {"bucket": "holdbench/volumes", "endpoint": server.endpoint,
                        "access-key-id": server.access_key, "secret-access-key-file": key_file}
    if driver == "azureblob":
        _secret(key_file, testing.AzuriteServer.key)
        server = testing.AzuriteServer(workdir).__enter__()
        return server, {"container": "holdbench/volumes", "account": server.account,
                        "key-file": key_file, "endpoint": server.endpoint}
    raise EngineError(f"unknown driver {driver}")


def setup(remote: Remote, hold, base: str, stoppers: list) -> None:
    """Server, volume, holder container, places.  Every step registers its undo."""
    from hold.volumes.remote.testing import fuse_mounts_under
    server, options = _start_server(remote.driver, base,
                                    os.path.join(base, f"srv-{remote.driver}"))
    remote.server = server
    stoppers.append((f"{remote.driver} server", server.stop))
    opts = [x for k, v in options.items() for x in ("-o", f"{k}={v}")]
    hold.call(["volume", "create", "-d", remote.driver, *opts, remote.volume], timeout=120)
    stoppers.append((f"volume {remote.volume}", lambda: hold.call(
        ["volume", "rm", "-f", remote.volume], check=False, timeout=120)))
    stoppers.append((f"container {remote.holder}", lambda: hold.call(
        ["rm", "-f", remote.holder], check=False, timeout=120)))
    hold.call(["run", "-d", "--name", remote.holder, "--network", "none",
               "-v", f"{remote.volume}:/data", hold.image, "sleep", "3600"], timeout=120)
    info = json.loads(hold.call(["volume", "inspect", remote.volume]).stdout)[0]
    remote.mountpoint = info["Mountpoint"]
    status = info.get("Status") or {}
    remote.info["client"] = str(status.get("Client", "?"))
    remote.info["mounted"] = str(status.get("Mounted", "?"))
    remote.info["mount"] = vb._fs_of(remote.mountpoint)
    if remote.info["client"] != "cifs" and remote.mountpoint not in fuse_mounts_under(
            remote.mountpoint):
        raise EngineError(f"{remote.volume}: no FUSE mount on {remote.mountpoint} "
                          f"with its holder running ({remote.info['mount']})")

    def host_argv(script: str) -> list[str]:
        return ["/bin/busybox", "sh", "-c", script]

    def hold_argv(script: str) -> list[str]:
        return hold.cli() + ["run", "--rm", "--network", "none",
                             "-v", f"{remote.volume}:/data", hold.image, "sh", "-c", script]

    d = remote.driver
    remote.places = [vb.Place(f"{d} host", host_argv), vb.Place(f"{d} hold", hold_argv, hold),
                     vb.Place(f"{d} host again", host_argv)]


def directory_of(remote: Remote, place: vb.Place) -> str:
    return "/data" if place.engine is not None else remote.mountpoint


def measure(remotes: list[Remote], args, started: float):
    print("== warm-up", file=sys.stderr, flush=True)
    for r in remotes:
        for p in r.places:
            if vb.attempt(p, args, directory_of(r, p), -1, mb=8, files=10, passes=1):
                for values in p.samples.values():
                    values.clear()
                p.by_round.clear()
    load = [vb._load()]
    order = [(r, p) for r in remotes for p in (r.places[0], r.places[1])]
    # host again at the other end of each round, per driver
    order += [(r, r.places[2]) for r in reversed(remotes)]
    rounds, last = 0, 0.0
    while rounds < args.rounds:
        if rounds and time.monotonic() - started + last > args.budget:
            print(f"== time budget: {rounds} rounds", file=sys.stderr)
            break
        print(f"== round {rounds + 1}/{args.rounds}", file=sys.stderr, flush=True)
        begun = time.monotonic()
        for r, p in (order if rounds % 2 == 0 else list(reversed(order))):
            vb.attempt(p, args, directory_of(r, p), rounds)
        rounds += 1
        last = time.monotonic() - begun
    load.append(vb._load())
    return rounds, tuple(load)


def _fmt(value, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def render(remotes: list[Remote], args, elapsed: float, rounds: int, load, failed) -> str:
    label = {key: text.format(mb=args.mb, passes=args.passes, files=args.files)
             for key, text, *_ in vb.ROWS}
    lines = [
        f"# Remote volumes: hold container vs the same mount on the host "
        f"({time.strftime('%Y-%m-%d %H:%M %Z')})",
        "",
        f"Machine: {platform.node()}, Linux {platform.release()}, {os.cpu_count()} CPUs. "
        f"Servers on 127.0.0.1 only. Per driver one hold volume, kept mounted by a "
        f"detached `sleep` container; `host` runs volume_bench.py's busybox script with "
        f"the host's /bin/busybox in that volume's mountpoint (the same FUSE server), "
        f"`hold` runs it in `hold run --rm --network none -v VOL:/data` (joining the "
        f"existing mount), `host again` is the host once more at the other end of the "
        f"round (the noise floor). Timed inside the script with busybox `ts %.s` minus "
        f"one clock reading; the whole run's wall time is only in its own row. Medians "
        f"of {rounds} rounds, the places in alternating order. Set-up and measures took "
        f"{elapsed:.0f} s; load average {load[0]} before, {load[1]} after.",
        "",
    ]
    for r in remotes:
        lines.append(f"- {r.driver}: client {r.info.get('client', '?')}, "
                     f"mount `{r.info.get('mount', '?')}`")
    if any(r.info.get("client") == "rclone" for r in remotes):
        lines += ["", "With rclone (`Client: rclone`) fsync returns once the bytes are in "
                  "rclone's local write cache (`--vfs-cache-mode writes`; docs/cli/storage.md, "
                  "Durability): its write and small-file rows measure the FUSE path and that "
                  "cache, not the server. sshfs's fsync reaches sshd."]
    lines += ["", "| driver | measure | host | hold container | hold / host | "
              "paired per round, median [min-max] | host again / host |",
              "|---|---|---|---|---|---|---|"]
    for r in remotes:
        host, cont, again = r.places
        for key, _text, spec, _higher in vb.ROWS:
            h, c = host.median(key), cont.median(key)
            pairs = cont.paired(host, key)
            floor = again.paired(host, key)
            lines.append(
                f"| {r.driver} | {label[key]} | {_fmt(h, spec)} | {_fmt(c, spec)} | "
                f"{vb._ratio(c, h)} | "
                + (f"{statistics.median(pairs):.2f} [{min(pairs):.2f}-{max(pairs):.2f}]"
                   if pairs else "-") + " | "
                + (f"{statistics.median(floor):.2f} [{min(floor):.2f}-{max(floor):.2f}]"
                   if floor else "-") + " |")
    lines += ["", f"Target (issue 8): hold adds no cost, the container within 10% of the "
              f"host on the same mount. Per I/O row: hold/host as the ratio of the "
              f"medians, `best` the ratio of the best rounds. `ok`: the median ratio is at "
              f"least {TARGET:.2f}; `noise`: under it but within the host's own spread "
              f"(the largest per-round gap between `host again` and `host`); `below`: "
              f"under it by more than that.", ""]
    for r in remotes:
        host, cont, again = r.places
        verdicts = []
        for key, *_ in vb.ROWS[:4]:
            h, c = host.median(key), cont.median(key)
            if c is None or not h:
                verdicts.append(f"{key} -")
                continue
            ratio = c / h
            best = max(cont.samples[key]) / max(host.samples[key])
            noise = max((abs(1 - x) for x in again.paired(host, key)), default=0.0)
            verdict = ("ok" if ratio >= TARGET else
                       "noise" if 1 - ratio <= noise else "below")
            verdicts.append(f"{key} {ratio:.2f} best {best:.2f} {verdict}")
        lines.append(f"- {r.driver}: " + "; ".join(verdicts))
    lines += ["", "Per-round values (write, direct, cached MiB/s; small files/s; "
              "wall s):", ""]
    for r in remotes:
        for p in r.places:
            s = p.samples

            def fmt(key, spec=".0f"):
                return "/".join(format(v, spec) for v in s.get(key, [])) or "-"
            lines.append(f"- {p.name}: write {fmt('write')}; direct {fmt('direct')}; "
                         f"cached {fmt('cached')}; small {fmt('small')}; "
                         f"wall {fmt('wall', '.2f')}")
            for note in p.notes:
                lines.append(f"  - note: {note.replace(chr(10), ' ')[:400]}")
    if failed:
        lines += [""] + [f"- {f.replace(chr(10), ' ')[:400]}" for f in failed]
    return "\n".join(lines) + "\n"


def cleanup(stoppers: list, peers: Peers) -> list[str]:
    """Undo in reverse order; then the base (processes, mounts, files)."""
    from hold.volumes.remote.testing import fuse_mounts_under
    problems = []
    for what, stop in reversed(stoppers):
        try:
            stop()
        except Exception as exc:        # keep going: everything else must still go
            problems.append(f"clean-up of {what}: {type(exc).__name__}: {exc}")
    stoppers.clear()
    if peers.base:      # never before the base exists: kill_under("") matches all
        for point in sorted(fuse_mounts_under(peers.base), key=len, reverse=True):
            subprocess.run(["fusermount", "-u", "-z", point], capture_output=True)
        peers.__exit__(None, None, None)
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--mb", type=int, default=64, help="MiB written and read per round")
    parser.add_argument("--files", type=int, default=200, help="small files per round")
    parser.add_argument("--passes", type=int, default=2, help="cached read passes")
    parser.add_argument("--drivers", default=",".join(DRIVERS))
    parser.add_argument("--budget", type=float, default=120,
                        help="seconds after which no further round starts")
    parser.add_argument("--output", default=os.path.join(RESULTS, "remote_latest.md"))
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print("remote_bench.py needs root (mounts, FUSE, servers)", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, vb._terminate)
    started = time.monotonic()
    peers = Peers()
    stoppers: list = []
    remotes: list[Remote] = []
    failed: list[str] = []
    try:
        peers.__enter__()
        os.chmod(peers.base, 0o711)     # smbd serves the share as `nobody`
        print("== hold: import", file=sys.stderr, flush=True)
        hold = peers.start("hold")
        for driver in [d.strip() for d in args.drivers.split(",") if d.strip()]:
            print(f"== {driver}: server, volume, holder", file=sys.stderr, flush=True)
            remote = Remote(driver)
            try:
                setup(remote, hold, peers.base, stoppers)
                remotes.append(remote)
            except (EngineError, RuntimeError, OSError, subprocess.SubprocessError,
                    ValueError, KeyError) as exc:
                failed.append(f"{driver}: skipped: {exc}")
                print(f"{driver}: skipped: {exc}", file=sys.stderr)
        if not remotes:
            raise EngineError("no remote driver could be set up")
        rounds, load = measure(remotes, args, started)
        elapsed = time.monotonic() - started
    except KeyboardInterrupt as exc:
        print(f"== interrupted ({exc or 'SIGINT'})", file=sys.stderr)
        return 130
    except EngineError as exc:
        print(f"== failed: {exc}", file=sys.stderr)
        for f in failed:
            print(f"   {f}", file=sys.stderr)
        return 1
    finally:
        # Do not let a second Ctrl-C or SIGTERM cut the clean-up short.
        previous = {sig: signal.signal(sig, signal.SIG_IGN)
                    for sig in (signal.SIGINT, signal.SIGTERM)}
        print("== cleaning up", file=sys.stderr, flush=True)
        failed += cleanup(stoppers, peers)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    report = render(remotes, args, elapsed, rounds, load, failed)
    sys.stdout.write(report)
    print(f"== done in {time.monotonic() - started:.0f} s, cleaned up", file=sys.stderr)
    os.makedirs(os.path.dirname(args.output), exist_ok=True)
    with open(args.output, "w") as f:
        f.write(report)
    ok = all(p.samples["write"] for r in remotes for p in r.places)
    return 0 if ok and not failed else 1


if __name__ == "__main__":
    sys.exit(main())
