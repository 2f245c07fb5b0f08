"""`hold cp` / `hold container cp`: parse Docker's grammar, call
hold.containers.copy, print Docker's one line of progress.

Which side is the container follows Docker's splitCpArg: an absolute path
is local; otherwise ``NAME:PATH`` names a container unless NAME starts with
"." (``./file:with-colon`` is a local file).  Docker prints "Successfully
copied SIZE to DEST" on stderr only when stdout is a terminal (or ``-q``
is given as false); a tar stream on stdout never gets it.
"""

from __future__ import annotations

import sys

from hold.cli.args import CommandParser, FlagError, UsageError
from hold.errors import InvalidArgument

USAGE = ("hold cp [OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-\n"
         "\thold cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH")


def split_cp_arg(arg: str) -> tuple[str, str]:
    """(container, path); container "" for a local path."""
    if arg.startswith("/"):
        return "", arg
    container, sep, path = arg.partition(":")
    if not sep or container.startswith("."):
        return "", arg
    return container, path


def _quiet_value(value: str | None) -> bool | None:
    if value is None:
        return None
    if value.lower() in ("", "true", "1", "t"):
        return True
    if value.lower() in ("false", "0", "f"):
        return False
    raise FlagError(f'invalid argument "{value}" for "-q, --quiet" flag: '
                    "strconv.ParseBool: parsing \"" + value + "\": invalid syntax")


def cmd_cp(ctx, argv: list[str]) -> int:
    p = CommandParser("cp", USAGE)
    p.add_argument("-a", "--archive", action="store_true")
    p.add_argument("-L", "--follow-link", action="store_true")
    p.add_argument("-q", "--quiet", nargs="?", const="true", default=None)
    p.add_argument("paths", nargs="*")
    ns = p.parse_args(argv)
    if len(ns.paths) != 2:
        raise UsageError("\"hold cp\" requires exactly 2 arguments.\n"
                         "See 'hold cp --help'.\n\nUsage:  " + USAGE)
    source, destination = ns.paths
    if not source:
        raise InvalidArgument("source can not be empty")
    if not destination:
        raise InvalidArgument("destination can not be empty")
    quiet = _quiet_value(ns.quiet)
    if quiet is None:
        quiet = not sys.stdout.isatty()
    src_container, src_path = split_cp_arg(source)
    dst_container, dst_path = split_cp_arg(destination)
    if src_container and dst_container:
        raise InvalidArgument("copying between containers is not supported")
    if not src_container and not dst_container:
        raise InvalidArgument("must specify at least one container source")
    from hold.containers import copy
    if src_container:
        sys.stdout.flush()
        result = copy.copy_from_container(ctx.engine, src_container, src_path, dst_path,
                                          follow_link=ns.follow_link)
        if dst_path == "-":
            return 0
    else:
        result = copy.copy_to_container(ctx.engine, dst_container, src_path, dst_path,
                                        follow_link=ns.follow_link,
                                        keep_archive_owner=ns.archive)
    if not quiet:
        from hold.cli.formatting import human_size
        sys.stderr.write(f"Successfully copied {human_size(result.size)} to "
                         f"{result.destination}\n")
    return 0


__all__ = ["cmd_cp", "split_cp_arg"]
