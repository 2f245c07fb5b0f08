"""`hold version`, `hold info`, `hold system check|df|info`."""

from __future__ import annotations

import json
import os
import platform
import sys

from hold.cli.args import CommandParser
from hold.errors import InvalidArgument


def cmd_version(ctx, argv: list[str]) -> int:
    p = CommandParser("version", "hold version [OPTIONS]")
    p.add_argument("-f", "--format")
    ns = p.parse_args(argv)
    from hold import __version__
    info = {"Client": {"Version": __version__, "ApiVersion": "1.43",
                       "GoVersion": f"python{platform.python_version()}",
                       "Os": "linux", "Arch": _arch()}}
    if ns.format:
        from hold.cli.formatting import apply_format
        print(apply_format(ns.format, info))
        return 0
    print(f"Client:\n Version:    {__version__}\n API version: 1.43\n"
          f" Python:     {platform.python_version()}\n OS/Arch:    linux/{_arch()}")
    return 0


def _arch() -> str:
    machine = platform.machine()
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)


def cmd_info(ctx, argv: list[str]) -> int:
    p = CommandParser("info", "hold info [OPTIONS]")
    p.add_argument("-f", "--format")
    ns = p.parse_args(argv)
    engine = ctx.engine
    containers = engine.containers.list()
    running = sum(1 for c in containers if c.running)
    info = {
        "Containers": len(containers), "ContainersRunning": running,
        "ContainersPaused": 0, "ContainersStopped": len(containers) - running,
        "Images": len(engine.images.list()), "Driver": "overlay2",
        "DockerRootDir": ctx.paths.root, "RunRoot": ctx.paths.runroot,
        "LoggingDriver": "json-file", "CgroupDriver": "cgroupfs",
        "KernelVersion": platform.release(), "OperatingSystem": _os_name(),
        "OSType": "linux", "Architecture": platform.machine(),
        "NCPU": os.cpu_count(), "SecurityOptions": ["name=seccomp,profile=builtin"],
    }
    if ns.format:
        from hold.cli.formatting import apply_format
        print(apply_format(ns.format, info))
    else:
        for key, value in info.items():
            print(f" {key}: {value}")
    return 0


def _os_name() -> str:
    try:
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return "Linux"


def cmd_system(ctx, argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print("Usage:  hold system COMMAND\n\nCommands:\n  check   Find and repair leftovers\n"
              "  df      Show disk usage\n  info    Display system-wide information")
        return 0
    sub, rest = argv[0], argv[1:]
    if sub == "check":
        return _check(ctx, rest)
    if sub == "info":
        return cmd_info(ctx, rest)
    if sub == "df":
        return _df(ctx, rest)
    raise InvalidArgument(f'unknown command "{sub}" for "hold system"')


def _check(ctx, argv: list[str]) -> int:
    p = CommandParser("system check", "hold system check [OPTIONS]")
    p.add_argument("--json", action="store_true")
    ns = p.parse_args(argv)
    from hold.containers.check import check_and_repair
    report = check_and_repair(ctx.engine)
    if ns.json:
        print(json.dumps(report, indent=2))
    elif not any(report.values()):
        print("No problems found")
    else:
        for kind, items in report.items():
            for item in items:
                print(f"repaired {kind}: {item}")
    return 0


def _df(ctx, argv: list[str]) -> int:
    """Docker's `system df`: a summary per type, or with -v every image,
    container and volume (volumes with their sizes and link counts)."""
    p = CommandParser("system df", "hold system df [OPTIONS]")
    p.add_argument("-v", "--verbose", action="store_true")
    p.add_argument("--format")
    ns = p.parse_args(argv)
    from hold.cli.commands.container_info import _tree_size
    from hold.cli.formatting import human_size, render_table
    engine = ctx.engine
    images = engine.images.list()
    containers = engine.containers.list()
    volumes = engine.containers.volumes.disk_usage()
    used_images = {c.image_id for c in containers}
    sizes = {c.id: _tree_size(os.path.join(ctx.paths.container_dir(c.id), "upper"))
             for c in containers}
    unused_volumes = [v for v in volumes if not v["Links"]]
    rows = [
        _df_row("Images", len(images), len(used_images), sum(i.size for i in images),
                sum(i.size for i in images if i.id not in used_images), human_size),
        _df_row("Containers", len(containers), sum(1 for c in containers if c.running),
                sum(sizes.values()),
                sum(sizes[c.id] for c in containers if not c.running), human_size),
        _df_row("Local Volumes", len(volumes), len(volumes) - len(unused_volumes),
                sum(v["Size"] for v in volumes), sum(v["Size"] for v in unused_volumes),
                human_size),
    ]
    if ns.format:
        from hold.cli.commands.container_info import _print_formatted
        from hold.cli import formatting as fmt
        _print_formatted(fmt, ns.format, rows, {})
        return 0
    if not ns.verbose:
        sys.stdout.write(render_table(rows, [("Type", "TYPE"), ("TotalCount", "TOTAL"),
                                             ("Active", "ACTIVE"), ("Size", "SIZE"),
                                             ("Reclaimable", "RECLAIMABLE")]))
        return 0
    print("Images space usage:\n")
    sys.stdout.write(render_table(
        [{"Repository": (i.tags[0].rsplit(":", 1)[0] if i.tags else "<none>"),
          "Tag": (i.tags[0].rsplit(":", 1)[1] if i.tags else "<none>"), "ID": i.short_id,
          "Size": human_size(i.size),
          "Containers": sum(1 for c in containers if c.image_id == i.id)} for i in images],
        [("Repository", "REPOSITORY"), ("Tag", "TAG"), ("ID", "IMAGE ID"), ("Size", "SIZE"),
         ("Containers", "CONTAINERS")]))
    print("\nContainers space usage:\n")
    sys.stdout.write(render_table(
        [{"ID": c.short_id, "Image": c.image_ref, "Size": human_size(sizes[c.id]),
          "Status": c.state["Status"], "Names": c.name} for c in containers],
        [("ID", "CONTAINER ID"), ("Image", "IMAGE"), ("Size", "SIZE"), ("Status", "STATUS"),
         ("Names", "NAMES")]))
    print("\nLocal Volumes space usage:\n")
    sys.stdout.write(render_table(
        [{**v, "Size": human_size(v["Size"])} for v in volumes],
        [("Name", "VOLUME NAME"), ("Links", "LINKS"), ("Size", "SIZE")]))
    return 0


def _df_row(kind: str, total: int, active: int, size: int, reclaimable: int, human_size) -> dict:
    percent = f" ({100 * reclaimable // size}%)" if size else ""
    return {"Type": kind, "TotalCount": total, "Active": active, "Size": human_size(size),
            "Reclaimable": human_size(reclaimable) + percent}
