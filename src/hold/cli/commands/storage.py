"""`hold storage map|ls|unmap`: SMB shares mounted on the host, ready for
bind mounts into containers (the chapter's "global mapping").

Parsing and printing only; the work is ``hold.volumes.remote.mapping``'s.
Every subcommand first mounts again the persistent mappings it finds
unmounted (after a reboot or a crashed FUSE server).
"""

from __future__ import annotations

import sys

from hold.cli.args import CommandParser, key_values
from hold.errors import InvalidArgument

SUBCOMMANDS = """\
Usage:  hold storage COMMAND

Map remote shares on the host (hold)

Commands:
  map         Mount an SMB share on a host directory
  ls          List mapped shares
  unmap       Unmount a mapped share

Run 'hold storage COMMAND --help' for more information on a command.
"""


def _service(ctx):
    from hold.volumes.remote.mapping import MappingService
    service = MappingService(ctx.paths)
    service.restore()
    return service


def cmd_storage(ctx, argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        sys.stdout.write(SUBCOMMANDS)
        return 0
    handlers = {"map": cmd_map, "ls": cmd_ls, "list": cmd_ls, "unmap": cmd_unmap}
    handler = handlers.get(argv[0])
    if handler is None:
        raise InvalidArgument(f"hold storage: '{argv[0]}' is not a hold storage command "
                              f"(accepted: map, ls, unmap)\nSee 'hold storage --help'")
    return handler(ctx, argv[1:])


def cmd_map(ctx, argv: list[str]) -> int:
    p = CommandParser("storage map", "hold storage map [OPTIONS] //HOST[:PORT]/SHARE[/PATH] "
                      "HOST_PATH", "Mount an SMB share on a host directory")
    p.add_argument("--username", "-u", required=True)
    p.add_argument("--password-file", required=True,
                   help="File holding the password, or - to read it from stdin")
    p.add_argument("--persistent", action="store_true",
                   help="Mount it again when found unmounted (reboot, crash)")
    p.add_argument("-o", "--opt", action="append", default=[],
                   help="vers=, uid=, gid=, file_mode=, dir_mode=, domain=")
    p.add_argument("share")
    p.add_argument("path")
    ns = p.parse_args(argv)
    mapping = _service(ctx).map(ns.share, ns.path, username=ns.username,
                                password_file=ns.password_file, persistent=ns.persistent,
                                options=key_values(ns.opt, "--opt"))
    print(mapping.path)
    return 0


def cmd_ls(ctx, argv: list[str]) -> int:
    p = CommandParser("storage ls", "hold storage ls [OPTIONS]", "List mapped shares")
    p.add_argument("-q", "--quiet", action="store_true", help="Only show host paths")
    ns = p.parse_args(argv)
    mappings = _service(ctx).list()
    if ns.quiet:
        for m in mappings:
            print(m.path)
        return 0
    rows = [("HOST PATH", "SHARE", "USER", "STATE", "PERSISTENT")]
    rows += [(m.path, m.share, m.options.get("username", ""), m.state,
              "yes" if m.persistent else "no") for m in mappings]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("   ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
    return 0


def cmd_unmap(ctx, argv: list[str]) -> int:
    p = CommandParser("storage unmap", "hold storage unmap [OPTIONS] HOST_PATH [HOST_PATH...]",
                      "Unmount a mapped share")
    p.add_argument("-f", "--force", action="store_true",
                   help="Unmount without waiting for pending uploads (they are lost)")
    p.add_argument("-t", "--timeout", type=float, default=None, metavar="SECONDS",
                   help="Give up when pending uploads make no progress for this long "
                        "(default 60)")
    p.add_argument("paths", nargs="+")
    ns = p.parse_args(argv)
    if ns.timeout is not None and not ns.timeout > 0:
        raise InvalidArgument(f"invalid --timeout {ns.timeout:g}: must be a positive "
                              "number of seconds")
    from hold.cli.output import each
    from hold.volumes.remote._rclone import UPLOAD_STALL_TIMEOUT

    def unmap(path):
        def report(pending: int) -> None:
            sys.stderr.write(f"{path}: waiting for {pending} pending upload(s)\n")
            sys.stderr.flush()
        service.unmap(path, force=ns.force, report=report,
                      stall_timeout=UPLOAD_STALL_TIMEOUT if ns.timeout is None else ns.timeout)
        return path

    service = _service(ctx)
    return each(ns.paths, unmap)
