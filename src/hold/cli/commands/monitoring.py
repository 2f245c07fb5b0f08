"""CLI faces of looking into and holding running containers: top, stats,
pause, unpause (also as `hold container top|stats|pause|unpause`).

Parsing and printing only; the work is in hold.containers.top, .stats and
.pause, all of which read or drive the container's own cgroup.
"""

from __future__ import annotations

import argparse
import sys

from hold.cli.args import CommandParser
from hold.cli.output import each
from hold.errors import HoldError

STATS_HEADERS = {"Container": "CONTAINER", "Name": "NAME", "ID": "CONTAINER ID",
                 "CPUPerc": "CPU %", "MemUsage": "MEM USAGE / LIMIT", "MemPerc": "MEM %",
                 "NetIO": "NET I/O", "BlockIO": "BLOCK I/O", "PIDs": "PIDS"}
DEFAULT_STATS = ("table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t"
                 "{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}")
NO_STREAM_INTERVAL = 0.5    # between the two readings a CPU % needs
STREAM_INTERVAL = 1.0       # Docker's daemon samples once a second too
TOP_MINWIDTH = 20           # docker top's tabwriter: minwidth 20, padding 3


def cmd_top(ctx, argv: list[str]) -> int:
    p = CommandParser("top", "hold top CONTAINER [ps OPTIONS]")
    p.add_argument("container")
    p.add_argument("ps_args", nargs=argparse.REMAINDER)
    ns = p.parse_args(argv)
    from hold.cli.formatting import tabwrite
    from hold.containers.top import top
    titles, rows = top(ctx.engine.containers, ns.container, ns.ps_args)
    text = "".join("\t".join(fields) + "\n" for fields in [titles] + rows)
    sys.stdout.write(tabwrite(text, minwidth=TOP_MINWIDTH))
    return 0


def cmd_pause(ctx, argv: list[str]) -> int:
    return _freezer(ctx, "pause", argv)


def cmd_unpause(ctx, argv: list[str]) -> int:
    return _freezer(ctx, "unpause", argv)


def _freezer(ctx, verb: str, argv: list[str]) -> int:
    """`pause` and `unpause`: one grammar, one cgroup-freezer verb each."""
    p = CommandParser(verb, f"hold {verb} CONTAINER [CONTAINER...]")
    p.add_argument("containers", nargs="+")
    ns = p.parse_args(argv)
    from hold.containers import pause as freezer
    act = getattr(freezer, verb)
    service = ctx.engine.containers
    return each(ns.containers, lambda ref: (act(service, ref), ref)[1])


def cmd_stats(ctx, argv: list[str]) -> int:
    p = CommandParser("stats", "hold stats [OPTIONS] [CONTAINER...]")
    p.add_argument("-a", "--all", action="store_true")
    p.add_argument("--no-stream", action="store_true")
    p.add_argument("--no-trunc", action="store_true")
    p.add_argument("--format")
    p.add_argument("containers", nargs="*")
    ns = p.parse_args(argv)
    from hold.cli import formatting as fmt
    from hold.containers.pause import require_cgroup
    from hold.containers.stats import render_row, sample
    service = ctx.engine.containers
    template = ns.format or DEFAULT_STATS
    if template.strip() == "table":
        template = DEFAULT_STATS
    fmt.format_rows(template, [], headers=STATS_HEADERS)     # a bad template fails now
    named = [(ref, service.get(ref)) for ref in ns.containers]   # No such container: ...
    for _, container in named:
        if container.running:
            require_cgroup(service, container, "stats")
    from hold.runtime.cgroups import detect
    if not detect().usable:
        raise _no_cgroups()

    def current():
        if named:
            return [(ref, service.get(c.id)) for ref, c in named]
        return [(None, c) for c in service.list() if ns.all or c.running]

    def render(targets, interval) -> str:
        refs = {c.id: ref for ref, c in targets}
        pairs = sample(service, [c for _, c in targets], interval)
        rows = [render_row(before, after, refs[after.container.id], not ns.no_trunc)
                for before, after in pairs]
        return fmt.format_rows(template, rows, headers=STATS_HEADERS)

    if ns.no_stream:
        sys.stdout.write(render(current(), NO_STREAM_INTERVAL))
        return 0
    tty = sys.stdout.isatty()
    while True:
        try:
            targets = current()
        except HoldError:           # a named container was removed meanwhile
            targets = [(ref, c) for ref, c in named if service._exists(c.id)]
        text = render(targets, STREAM_INTERVAL)
        sys.stdout.write(("\033[2J\033[H" + text) if tty else text)
        sys.stdout.flush()


def _no_cgroups() -> HoldError:
    from hold.errors import Unsupported
    return Unsupported("hold stats needs cgroups, and this host has no usable cgroup "
                       "filesystem (mounted and writable /sys/fs/cgroup)")
