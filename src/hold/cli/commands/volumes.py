"""`hold volume create|inspect|ls|rm|prune`: Docker's output, messages and
exit codes (a failed volume command exits 1, a bad flag 125, a malformed
--format of inspect 64).

Parsing and printing only; the work is ``VolumeService``'s.
"""

from __future__ import annotations

import json
import os
import sys

from hold.cli.args import CommandParser, FlagError, UsageError, key_values
from hold.cli.formatting import TemplateParseError, check_template
from hold.errors import HoldError, InvalidArgument

LS_TABLE = "table {{.Driver}}\t{{.Name}}"
LS_HEADERS = {"Driver": "DRIVER", "Name": "VOLUME NAME", "Scope": "SCOPE",
              "Mountpoint": "MOUNTPOINT", "Labels": "LABELS", "Links": "LINKS",
              "Size": "SIZE", "CreatedAt": "CREATED"}
SUBCOMMANDS = """\
Usage:  hold volume COMMAND

Manage volumes

Commands:
  clone       Copy a volume into a new one (hold)
  create      Create a volume
  export      Write a volume's content as a tar archive (hold)
  import      Fill an empty volume from a tar archive (hold)
  inspect     Display detailed information on one or more volumes
  ls          List volumes
  prune       Remove unused local volumes
  rename      Rename a volume no container uses (hold)
  rm          Remove one or more volumes

Run 'hold volume COMMAND --help' for more information on a command.
"""


def _service(ctx):
    from hold.volumes.service import VolumeService
    return VolumeService(ctx.engine.store, ctx.paths)


def cmd_volume(ctx, argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        sys.stdout.write(SUBCOMMANDS)
        return 0
    handlers = {"create": cmd_create, "inspect": cmd_inspect, "ls": cmd_ls,
                "list": cmd_ls, "rm": cmd_rm, "remove": cmd_rm, "prune": cmd_prune,
                "export": cmd_export, "import": cmd_import, "clone": cmd_clone,
                "rename": cmd_rename}
    handler = handlers.get(argv[0])
    if handler is None:
        raise InvalidArgument(f"hold volume: '{argv[0]}' is not a hold volume command "
                              f"(accepted: {', '.join(sorted(handlers))})\n"
                              "See 'hold volume --help'")
    try:
        return handler(ctx, argv[1:])
    except (FlagError, UsageError, TemplateParseError):
        raise     # hold.cli.main gives them their own exit codes
    except HoldError as exc:
        sys.stderr.write(f"Error response from daemon: {exc}\n")
        return 1


def cmd_create(ctx, argv: list[str]) -> int:
    p = CommandParser("volume create", "hold volume create [OPTIONS] [VOLUME]",
                      "Create a volume")
    p.add_argument("-d", "--driver", default="local")
    p.add_argument("-o", "--opt", action="append", default=[])
    p.add_argument("--label", action="append", default=[])
    p.add_argument("--name", dest="name_flag")
    p.add_argument("name", nargs="?")
    ns = p.parse_args(argv)
    if ns.name and ns.name_flag and ns.name != ns.name_flag:
        raise UsageError("conflicting options: cannot specify a volume-name through "
                         "both --name and as a positional arg")
    volume = _service(ctx).create(ns.name or ns.name_flag, driver=ns.driver,
                                  options=key_values(ns.opt, "--opt"),
                                  labels=key_values(ns.label, "--label"))
    print(volume.name)
    return 0


def cmd_inspect(ctx, argv: list[str]) -> int:
    p = CommandParser("volume inspect", "hold volume inspect [OPTIONS] VOLUME [VOLUME...]",
                      "Display detailed information on one or more volumes")
    p.add_argument("-f", "--format", default="")
    p.add_argument("-s", "--size", action="store_true",
                   help="Add UsageData (size and reference count)")
    p.add_argument("volumes", nargs="+")
    ns = p.parse_args(argv)
    check_template(ns.format)
    service = _service(ctx)
    documents, failed = [], False
    for name in ns.volumes:
        try:
            documents.append(service.inspect(name, size=ns.size))
        except HoldError as exc:
            if not isinstance(exc, _not_found()):
                raise
            sys.stderr.write(f"Error: No such volume: {name}\n")
            failed = True
    if ns.format:
        from hold.cli.formatting import apply_format
        for document in documents:
            print(apply_format(ns.format, document))
    else:
        print(json.dumps(documents, indent=4))
    return 1 if failed else 0


def _not_found():
    from hold.errors import VolumeNotFound
    return VolumeNotFound


def _row(volume, links: int | None = None, scope: str = "local") -> dict:
    return {"Name": volume.name, "Driver": volume.driver, "Scope": scope,
            "Mountpoint": volume.mountpoint, "CreatedAt": volume.created,
            "Labels": ",".join(f"{k}={v}" for k, v in sorted(volume.labels.items())),
            "Links": "N/A" if links is None else str(links), "Size": "N/A"}


def cmd_ls(ctx, argv: list[str]) -> int:
    p = CommandParser("volume ls", "hold volume ls [OPTIONS]", "List volumes")
    p.add_argument("-q", "--quiet", action="store_true")
    p.add_argument("-f", "--filter", action="append", default=[])
    p.add_argument("--format", default="")
    ns = p.parse_args(argv)
    from hold import filters
    from hold.volumes.service import LIST_FILTERS
    wanted = filters.parse_filters(ns.filter, LIST_FILTERS)
    service = _service(ctx)
    volumes = service.list(wanted)
    if ns.quiet:
        sys.stdout.write("".join(v.name + "\n" for v in volumes))
        return 0
    links = None
    if "Links" in ns.format:
        links = {v.name: len(service.users(v.name)) for v in volumes}
    scopes = {d: service.driver(d).capabilities().scope for d in {v.driver for v in volumes}}
    rows = [_row(v, links[v.name] if links else None, scopes[v.driver]) for v in volumes]
    from hold.cli.formatting import format_json_lines, format_rows
    fmt = ns.format or LS_TABLE
    sys.stdout.write(format_json_lines(rows) if fmt == "json"
                     else format_rows(fmt, rows, headers=LS_HEADERS, default_table=LS_TABLE))
    return 0


def cmd_rm(ctx, argv: list[str]) -> int:
    p = CommandParser("volume rm", "hold volume rm [OPTIONS] VOLUME [VOLUME...]",
                      "Remove one or more volumes. You cannot remove a volume that is "
                      "in use by a container.")
    p.add_argument("-f", "--force", action="store_true",
                   help="Force the removal of one or more volumes (a missing volume is "
                        "not an error; a volume in use is still refused)")
    p.add_argument("volumes", nargs="+")
    ns = p.parse_args(argv)
    service = _service(ctx)
    failed = False
    for name in ns.volumes:
        try:
            service.remove(name, force=ns.force)
            print(name)
        except HoldError as exc:
            sys.stderr.write(f"Error response from daemon: {exc}\n")
            failed = True
    return 1 if failed else 0


def cmd_prune(ctx, argv: list[str]) -> int:
    p = CommandParser("volume prune", "hold volume prune [OPTIONS]",
                      "Remove unused local volumes")
    p.add_argument("-a", "--all", action="store_true",
                   help="Remove all unused volumes, not just anonymous ones")
    p.add_argument("-f", "--force", action="store_true", help="Do not prompt for confirmation")
    p.add_argument("--filter", action="append", default=[])
    ns = p.parse_args(argv)
    from hold import filters
    from hold.volumes.service import PRUNE_FILTERS
    wanted = filters.parse_filters(ns.filter, PRUNE_FILTERS)
    if not ns.force:
        what = "all local volumes" if ns.all else "anonymous local volumes"
        sys.stdout.write(f"WARNING! This will remove {what} not used by at least one "
                         "container.\nAre you sure you want to continue? [y/N] ")
        sys.stdout.flush()
        if sys.stdin.readline().strip().lower() not in ("y", "yes"):
            return 0
    removed, reclaimed = _service(ctx).prune(all_volumes=ns.all, filters=wanted)
    if removed:
        print("Deleted Volumes:")
        for name in removed:
            print(name)
        print()
    from hold.cli.formatting import human_size
    print(f"Total reclaimed space: {human_size(reclaimed)}")
    return 0


# -- hold additions: export, import, clone, rename ---------------------------------

def cmd_export(ctx, argv: list[str]) -> int:
    p = CommandParser("volume export", "hold volume export [OPTIONS] VOLUME",
                      "Write a volume's content to a tar archive (STDOUT by default)")
    p.add_argument("-o", "--output", help="Write to a file, instead of STDOUT")
    p.add_argument("volume")
    ns = p.parse_args(argv)
    from hold.volumes.transfer import export_volume
    service = _service(ctx)
    service.get(ns.volume)
    if ns.output is None:
        if sys.stdout.isatty():
            raise InvalidArgument("refusing to write a tar archive to a terminal: "
                                  "use -o FILE or redirect STDOUT")
        export_volume(service, ns.volume, sys.stdout.buffer)
        sys.stdout.buffer.flush()
        return 0
    tmp = ns.output + ".hold-tmp"
    try:
        with open(tmp, "wb") as out:
            export_volume(service, ns.volume, out)
        os.rename(tmp, ns.output)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return 0


def cmd_import(ctx, argv: list[str]) -> int:
    p = CommandParser("volume import", "hold volume import VOLUME [FILE|-]",
                      "Fill an empty volume (created if missing) from a tar archive")
    p.add_argument("volume")
    p.add_argument("file", nargs="?", default="-")
    ns = p.parse_args(argv)
    from hold.volumes.transfer import import_volume
    if ns.file == "-":
        import_volume(_service(ctx), ns.volume, sys.stdin.buffer)
        return 0
    try:
        source = open(ns.file, "rb")
    except OSError as exc:
        raise InvalidArgument(f"open {ns.file}: {exc.strerror.lower()}") from exc
    with source:
        import_volume(_service(ctx), ns.volume, source)
    return 0


def cmd_clone(ctx, argv: list[str]) -> int:
    p = CommandParser("volume clone", "hold volume clone SOURCE TARGET",
                      "Create volume TARGET with a copy of SOURCE's data")
    p.add_argument("source")
    p.add_argument("target")
    ns = p.parse_args(argv)
    from hold.volumes.transfer import clone_volume
    clone_volume(_service(ctx), ns.source, ns.target)
    print(ns.target)
    return 0


def cmd_rename(ctx, argv: list[str]) -> int:
    p = CommandParser("volume rename", "hold volume rename VOLUME NEW_NAME",
                      "Rename a volume that no container uses")
    p.add_argument("volume")
    p.add_argument("new_name")
    ns = p.parse_args(argv)
    from hold.volumes.transfer import rename_volume
    rename_volume(_service(ctx), ns.volume, ns.new_name)
    return 0
