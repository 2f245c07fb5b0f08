"""The image commands: import, images / image ls, image inspect, tag,
rmi / image rm, history, image prune.

Each ``cmd_*(ctx, argv) -> int`` parses its flags, calls
``ctx.engine.images`` (an ``ImageService``) and prints what Docker prints.
Tables go through Go templates exactly as Docker's CLI renders them (its
default table is itself a ``table {{.Repository}}\\t...`` template), so
``--format`` and the default output share one path.
"""

from __future__ import annotations

import sys

from hold.cli.args import CommandParser, FlagError
from hold.errors import HoldError, InvalidArgument

IMAGES_TABLE = "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
IMAGES_DIGEST_TABLE = ("table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}"
                       "\t{{.CreatedSince}}\t{{.Size}}")
IMAGES_HEADERS = {"Repository": "REPOSITORY", "Tag": "TAG", "ID": "IMAGE ID",
                  "Digest": "DIGEST", "CreatedSince": "CREATED",
                  "CreatedAt": "CREATED AT", "Size": "SIZE",
                  "Containers": "CONTAINERS", "SharedSize": "SHARED SIZE",
                  "UniqueSize": "UNIQUE SIZE", "VirtualSize": "VIRTUAL SIZE"}
HISTORY_TABLE = ("table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}"
                 "\t{{.Comment}}")
HISTORY_HEADERS = {"ID": "IMAGE", "CreatedSince": "CREATED", "CreatedAt": "CREATED AT",
                   "CreatedBy": "CREATED BY", "Size": "SIZE", "Comment": "COMMENT"}
IMAGE_SUBCOMMANDS = """\
Usage:  hold image COMMAND

Manage images

Commands:
  history     Show the history of an image
  import      Import the contents from a tarball to create a filesystem image
  inspect     Display detailed information on one or more images
  ls          List images
  prune       Remove unused images
  rm          Remove one or more images
  tag         Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE

Run 'hold image COMMAND --help' for more information on a command.
"""


def _images(ctx):
    return ctx.engine.images


# ----------------------------------------------------------------- import

def cmd_import(ctx, argv: list[str]) -> int:
    parser = CommandParser(
        "import", "hold import [OPTIONS] file|- [REPOSITORY[:TAG]]",
        "Import the contents from a tarball to create a filesystem image")
    parser.add_argument("-c", "--change", action="append", default=[],
                        help="Apply Dockerfile instruction to the created image")
    parser.add_argument("-m", "--message", default="",
                        help="Set commit message for imported image")
    parser.add_argument("--platform", default="",
                        help="Set platform if server is multi-platform capable")
    parser.add_argument("source")
    parser.add_argument("reference", nargs="?")
    ns = parser.parse_args(argv)
    if ns.platform and not ns.platform.startswith("linux"):
        raise InvalidArgument(f"unsupported platform {ns.platform!r}: hold "
                              "runs linux images only")
    image = _images(ctx).import_tarball(ns.source, ns.reference,
                                        changes=ns.change, message=ns.message)
    print(image.id)
    return 0


# ----------------------------------------------------------------- images

def cmd_images(ctx, argv: list[str]) -> int:
    return _list_images(ctx, argv, "images")


def _list_images(ctx, argv: list[str], command: str) -> int:
    parser = CommandParser(command, f"hold {command} [OPTIONS] [REPOSITORY[:TAG]]",
                           "List images")
    parser.add_argument("-a", "--all", action="store_true",
                        help="Show all images (default hides intermediate images)")
    parser.add_argument("-q", "--quiet", action="store_true", help="Only show image IDs")
    parser.add_argument("--no-trunc", action="store_true", help="Don't truncate output")
    parser.add_argument("--digests", action="store_true", help="Show digests")
    parser.add_argument("--format", default="", help="Format output using a Go template")
    parser.add_argument("-f", "--filter", action="append", default=[],
                        help="Filter output based on conditions provided")
    parser.add_argument("reference", nargs="?")
    ns = parser.parse_args(argv)
    from hold.cli.commands._image_views import image_rows
    filters = _parse_filters(ns.filter, ("dangling", "reference", "label", "before", "since"))
    if ns.reference:
        filters.setdefault("reference", []).append(ns.reference)
    rows = image_rows(_images(ctx), filters, show_all=ns.all, no_trunc=ns.no_trunc)
    if ns.quiet:
        for row in rows:
            print(row["ID"])
        return 0
    template = ns.format or (IMAGES_DIGEST_TABLE if ns.digests else IMAGES_TABLE)
    _print_formatted(template, rows, IMAGES_HEADERS)
    return 0


def _parse_filters(items: list[str], accepted: tuple[str, ...]) -> dict[str, list[str]]:
    filters: dict[str, list[str]] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise InvalidArgument(f"bad format of filter (expected name=value): {item!r}")
        if key not in accepted:
            raise InvalidArgument(f"invalid filter '{key}' (accepted: {', '.join(accepted)})")
        filters.setdefault(key, []).append(value)
    return filters


# ------------------------------------------------------------------ image

def cmd_image(ctx, argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        sys.stdout.write(IMAGE_SUBCOMMANDS)
        return 0
    sub, rest = argv[0], argv[1:]
    handlers = {"ls": lambda: _list_images(ctx, rest, "image ls"),
                "list": lambda: _list_images(ctx, rest, "image ls"),
                "inspect": lambda: cmd_image_inspect(ctx, rest),
                "rm": lambda: _remove(ctx, rest, "image rm"),
                "remove": lambda: _remove(ctx, rest, "image rm"),
                "tag": lambda: cmd_tag(ctx, rest),
                "history": lambda: cmd_history(ctx, rest),
                "import": lambda: cmd_import(ctx, rest),
                "prune": lambda: cmd_image_prune(ctx, rest),
                "build": lambda: _build(ctx, rest),
                "save": lambda: _transport(ctx, "cmd_save", rest),
                "load": lambda: _transport(ctx, "cmd_load", rest),
                "pull": lambda: _transport(ctx, "cmd_pull", rest),
                "push": lambda: _transport(ctx, "cmd_push", rest),
                "bootstrap": lambda: _bootstrap(ctx, rest)}
    if sub not in handlers:
        raise InvalidArgument(f"hold image: '{sub}' is not a hold image command "
                              f"(accepted: {', '.join(sorted(handlers))})\n"
                              "See 'hold image --help'")
    return handlers[sub]()


def cmd_image_inspect(ctx, argv: list[str]) -> int:
    parser = CommandParser("image inspect", "hold image inspect [OPTIONS] IMAGE [IMAGE...]",
                           "Display detailed information on one or more images")
    parser.add_argument("-f", "--format", default="", help="Format output using a Go template")
    parser.add_argument("images", nargs="+", metavar="IMAGE")
    ns = parser.parse_args(argv)
    import json
    from hold.cli.formatting import check_template
    check_template(ns.format)
    service = _images(ctx)
    documents, missing = [], []
    for ref in ns.images:
        try:
            documents.append(service.inspect(ref))
        except HoldError as exc:
            missing.append(exc)
    if ns.format:
        from hold.cli.formatting import apply_format
        for document in documents:
            print(apply_format(ns.format, document))
    else:
        print(json.dumps(documents, indent=4))
    if missing:
        for exc in missing[:-1]:
            sys.stderr.write(f"Error: {exc}\n")
        raise missing[-1]
    return 0


def cmd_image_prune(ctx, argv: list[str]) -> int:
    parser = CommandParser("image prune", "hold image prune [OPTIONS]", "Remove unused images")
    parser.add_argument("-a", "--all", action="store_true",
                        help="Remove all unused images, not just dangling ones")
    parser.add_argument("-f", "--force", action="store_true",
                        help="Do not prompt for confirmation")
    parser.add_argument("--filter", action="append", default=[],
                        help="Provide filter values (e.g. 'label=<key>=<value>')")
    ns = parser.parse_args(argv)
    filters = _parse_filters(ns.filter, ("label",))
    if not ns.force:
        what = ("all images without at least one container associated to them"
                if ns.all else "all dangling images")
        sys.stdout.write(f"WARNING! This will remove {what}.\n"
                         "Are you sure you want to continue? [y/N] ")
        sys.stdout.flush()
        if sys.stdin.readline().strip().lower() not in ("y", "yes"):
            return 0
    records, reclaimed = _images(ctx).prune(ns.all, filters.get("label", ()))
    if records:
        print("Deleted Images:")
        for kind, what in records:
            print(f"{kind.lower()}: {what}")
        print()
    print(f"Total reclaimed space: {_human_size(reclaimed)}")
    return 0


# ------------------------------------------------------------ tag and rmi

def cmd_tag(ctx, argv: list[str]) -> int:
    parser = CommandParser("tag", "hold tag SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]",
                           "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE")
    parser.add_argument("source")
    parser.add_argument("target")
    ns = parser.parse_args(argv)
    _images(ctx).tag(ns.source, ns.target)
    return 0


def cmd_rmi(ctx, argv: list[str]) -> int:
    return _remove(ctx, argv, "rmi")


def _remove(ctx, argv: list[str], command: str) -> int:
    parser = CommandParser(command, f"hold {command} [OPTIONS] IMAGE [IMAGE...]",
                           "Remove one or more images")
    parser.add_argument("-f", "--force", action="store_true", help="Force removal of the image")
    parser.add_argument("--no-prune", action="store_true",
                        help="Do not delete untagged parents")
    parser.add_argument("images", nargs="+", metavar="IMAGE")
    ns = parser.parse_args(argv)
    service = _images(ctx)
    failures: list[HoldError] = []
    for ref in ns.images:
        try:
            records = service.remove(ref, force=ns.force)
        except HoldError as exc:
            if len(ns.images) == 1:
                raise
            failures.append(exc)
            sys.stderr.write(f"Error: {exc}\n")
            continue
        for kind, what in records:
            print(f"{kind}: {what}")
    return 1 if failures else 0


# ---------------------------------------------------------------- history

def cmd_history(ctx, argv: list[str]) -> int:
    argv, human = _take_bool_flag(argv, ("-H", "--human"), default=True)
    parser = CommandParser("history", "hold history [OPTIONS] IMAGE",
                           "Show the history of an image")
    parser.add_argument("-H", "--human", action="store_true",
                        help="Print sizes and dates in human readable format (default true)")
    parser.add_argument("-q", "--quiet", action="store_true", help="Only show image IDs")
    parser.add_argument("--no-trunc", action="store_true", help="Don't truncate output")
    parser.add_argument("--format", default="", help="Format output using a Go template")
    parser.add_argument("image")
    ns = parser.parse_args(argv)
    from hold.cli.commands._image_views import history_view
    rows = history_view(_images(ctx).history(ns.image), human=human,
                        no_trunc=ns.no_trunc)
    if ns.quiet:
        for row in rows:
            print(row["ID"])
        return 0
    _print_formatted(ns.format or HISTORY_TABLE, rows, HISTORY_HEADERS)
    return 0


def _take_bool_flag(argv: list[str], names: tuple[str, ...], default: bool):
    """Pull ``--flag=true|false`` out of argv (argparse cannot take an
    optional value without eating the next word, pflag's bools can)."""
    value, rest = default, []
    for i, arg in enumerate(argv):
        if arg == "--":
            rest.extend(argv[i:])
            break
        name, sep, text = arg.partition("=")
        if name in names:
            if not sep:
                value = True
                continue
            if text.lower() not in ("true", "false", "1", "0", "t", "f"):
                raise FlagError(f'invalid argument "{text}" for "{arg}" flag: '
                                "expected true or false")
            value = text.lower() in ("true", "1", "t")
            continue
        rest.append(arg)
    return rest, value


# ------------------------------------------------------------- rendering

def _print_formatted(fmt: str, rows: list[dict], headers: dict[str, str]) -> None:
    """Docker's ``--format``: ``json``, ``table TEMPLATE`` or ``TEMPLATE``."""
    from hold.cli.formatting import format_json_lines, format_rows
    sys.stdout.write(format_json_lines(rows) if fmt == "json"
                     else format_rows(fmt, rows, headers=headers))


def _human_size(size: float) -> str:
    from hold.cli.formatting import human_size
    return human_size(size)


def _build(ctx, argv: list[str]) -> int:
    from hold.cli.commands.build import cmd_build
    return cmd_build(ctx, argv)


def _bootstrap(ctx, argv: list[str]) -> int:
    from hold.cli.commands.build import cmd_bootstrap
    return cmd_bootstrap(ctx, argv)


def _transport(ctx, name: str, argv: list[str]) -> int:
    from hold.cli.commands import transport
    return getattr(transport, name)(ctx, argv)
