"""Moving images: save, load, pull, push, login, logout.

Each ``cmd_*(ctx, argv) -> int`` parses Docker's flags and calls
``hold.images.transport``; output is what Docker prints.
"""

from __future__ import annotations

import os
import sys

from hold.cli.args import CommandParser, UsageError
from hold.errors import InvalidArgument


def cmd_save(ctx, argv: list[str]) -> int:
    parser = CommandParser("save", "hold save [OPTIONS] IMAGE [IMAGE...]",
                           "Save one or more images to a tar archive "
                           "(streamed to STDOUT by default)")
    parser.add_argument("-o", "--output", default="",
                        help="Write to a file, instead of STDOUT")
    parser.add_argument("images", nargs="*", metavar="IMAGE")
    ns = parser.parse_args(argv)
    if not ns.images:
        raise UsageError('"hold save" requires at least 1 argument.\n'
                         "See 'hold save --help'.")
    from hold.images import transport
    service = ctx.engine.images
    if ns.output and ns.output != "-":
        transport.save_to_file(service, ns.images, ns.output)
        return 0
    if sys.stdout.isatty():
        raise InvalidArgument("cowardly refusing to save to a terminal. "
                              "Use the -o flag or redirect")
    from hold.images.transport._save import resolve
    resolve(service, ns.images)          # every name checked before a byte is written
    sys.stdout.flush()
    out = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    with out:
        transport.save_images(service, ns.images, out)
    return 0


def cmd_load(ctx, argv: list[str]) -> int:
    parser = CommandParser("load", "hold load [OPTIONS]",
                           "Load an image from a tar archive or STDIN")
    parser.add_argument("-i", "--input", default="",
                        help="Read from tar archive file, instead of STDIN")
    parser.add_argument("-q", "--quiet", action="store_true",
                        help="Suppress the load output")
    ns = parser.parse_args(argv)
    source = ns.input or "-"
    if source == "-" and sys.stdin.isatty():
        raise InvalidArgument("requested load from stdin, but stdin is empty")
    from hold.images import transport
    lines = transport.load_archive(ctx.engine.images, source)
    if not ns.quiet:
        for line in lines:
            print(line)
    return 0


def _progress_out():
    """Where pull/push progress goes: stdout, line by line."""
    return sys.stdout


def cmd_pull(ctx, argv: list[str]) -> int:
    parser = CommandParser("pull", "hold pull [OPTIONS] NAME[:TAG|@DIGEST]",
                           "Download an image from a registry")
    parser.add_argument("-q", "--quiet", action="store_true",
                        help="Suppress verbose output")
    parser.add_argument("-a", "--all-tags", action="store_true",
                        help="Download all tagged images in the repository")
    parser.add_argument("--platform", default="",
                        help="Set platform if server is multi-platform capable")
    parser.add_argument("name", metavar="NAME[:TAG|@DIGEST]")
    ns = parser.parse_args(argv)
    if ns.all_tags:
        raise InvalidArgument("--all-tags is not supported: pull one tag at a time")
    from hold.images import transport
    out = None if ns.quiet else _progress_out()
    ref = transport.pull(ctx.engine.images, ns.name, out, platform=ns.platform)
    if ns.quiet:
        print(ref)
    return 0


def cmd_push(ctx, argv: list[str]) -> int:
    parser = CommandParser("push", "hold push [OPTIONS] NAME[:TAG]",
                           "Upload an image to a registry")
    parser.add_argument("-q", "--quiet", action="store_true",
                        help="Suppress verbose output")
    parser.add_argument("-a", "--all-tags", action="store_true",
                        help="Push all tags of an image to the repository")
    parser.add_argument("--compression", default="gzip", choices=("gzip", "zstd"),
                        help="Layer compression: gzip (default) or zstd")
    parser.add_argument("name", metavar="NAME[:TAG]")
    ns = parser.parse_args(argv)
    from hold.images import transport
    service = ctx.engine.images
    names = [ns.name]
    if ns.all_tags:
        from hold.images.reference import parse_reference
        repo = parse_reference(ns.name).familiar_name
        names = sorted({t for image in service.list() for t in image.tags
                        if t.rpartition(":")[0] == repo}) or [ns.name]
    out = None if ns.quiet else _progress_out()
    for name in names:
        transport.push(service, name, out, compression=ns.compression)
    return 0


def cmd_login(ctx, argv: list[str]) -> int:
    parser = CommandParser("login", "hold login [OPTIONS] [SERVER]",
                           "Log in to a registry")
    parser.add_argument("-u", "--username", default="", help="Username")
    parser.add_argument("-p", "--password", default="", help="Password")
    parser.add_argument("--password-stdin", action="store_true",
                        help="Take the password from stdin")
    parser.add_argument("server", nargs="?", default="")
    ns = parser.parse_args(argv)
    if ns.password and ns.password_stdin:
        raise InvalidArgument("--password and --password-stdin are mutually exclusive")
    password = ns.password
    if ns.password_stdin:
        if not ns.username:
            raise InvalidArgument("Must provide --username with --password-stdin")
        password = sys.stdin.read().rstrip("\r\n")
    elif ns.password:
        sys.stderr.write("WARNING! Using --password via the CLI is insecure. "
                         "Use --password-stdin.\n")
    username = ns.username
    if not username or not password:
        if not sys.stdin.isatty():
            raise InvalidArgument("cannot perform an interactive login from a "
                                  "non TTY device; give --username and "
                                  "--password-stdin")
        import getpass
        username = username or input("Username: ").strip()
        password = password or getpass.getpass("Password: ")
    if not ns.server:
        raise InvalidArgument("hold has no default registry: name the server "
                              "(hold login HOST[:PORT])")
    from hold.images.transport.registry import login
    path = login(ns.server, username, password)
    print(f"WARNING! Your password will be stored unencrypted in {path}.\n"
          "Configure a credential helper to remove this warning. See\n"
          "https://docs.docker.com/engine/reference/commandline/login/#credentials-store\n")
    print("Login Succeeded")
    return 0


def cmd_logout(ctx, argv: list[str]) -> int:
    parser = CommandParser("logout", "hold logout [SERVER]",
                           "Log out from a registry")
    parser.add_argument("server", nargs="?", default="")
    ns = parser.parse_args(argv)
    if not ns.server:
        raise InvalidArgument("hold has no default registry: name the server "
                              "(hold logout HOST[:PORT])")
    from hold.images.transport.auth import AuthFile
    auth = AuthFile()
    if auth.remove(ns.server):
        print(f"Removing login credentials for {ns.server}")
    else:
        print(f"Not logged in to {ns.server}")
    return 0
