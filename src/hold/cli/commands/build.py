"""`hold build`: parse the flags, run ``hold.build.builder.Builder``.

Output is the classic ``docker build`` progress (``Step 3/7 : ...``,
`` ---> Using cache``, ``Successfully built <id>``); ``-q`` prints only the
image id.  A failed build exits non-zero with one ``Error: ...`` line (a
failing RUN exits with the command's own code, as docker build does).
"""

from __future__ import annotations

import os

from hold.cli.args import CommandParser, key_values
from hold.errors import InvalidArgument


def _parser() -> CommandParser:
    parser = CommandParser("build", "hold build [OPTIONS] PATH",
                           "Build an image from a Dockerfile")
    parser.add_argument("-t", "--tag", action="append", default=[],
                        help='Name and optionally a tag in the "name:tag" format')
    parser.add_argument("-f", "--file", default="",
                        help="Name of the Dockerfile (default: PATH/Dockerfile)")
    parser.add_argument("--build-arg", action="append", default=[],
                        help="Set build-time variables")
    parser.add_argument("--no-cache", action="store_true",
                        help="Do not use cache when building the image")
    parser.add_argument("--target", default="", help="Set the target build stage to build")
    parser.add_argument("--label", action="append", default=[],
                        help="Set metadata for an image")
    parser.add_argument("-q", "--quiet", action="store_true",
                        help="Suppress the build output and print image ID on success")
    parser.add_argument("--rm", default="true", help="Remove intermediate containers "
                        "after a successful build (always true in hold)")
    parser.add_argument("--force-rm", action="store_true",
                        help="Always remove intermediate containers (always true in hold)")
    parser.add_argument("--pull", action="store_true", help="Not supported: hold does "
                        "not pull during builds")
    parser.add_argument("--network", default="none", help="Networking mode for RUN: "
                        "none (default) or host")
    parser.add_argument("--iidfile", default="", help="Write the image ID to the file")
    parser.add_argument("--platform", default="", help="Set platform (this machine's only)")
    parser.add_argument("context", metavar="PATH")
    return parser


def build_args(items: list[str]) -> dict[str, str]:
    """``--build-arg K=V``; a bare ``K`` takes its value from the environment
    (and is dropped when unset), as docker build does."""
    values: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not key:
            raise InvalidArgument(f"invalid argument {item!r} for --build-arg: "
                                  "expected NAME=VALUE")
        if sep:
            values[key] = value
        elif key in os.environ:
            values[key] = os.environ[key]
    return values


def cmd_build(ctx, argv: list[str]) -> int:
    ns = _parser().parse_args(argv)
    if ns.context.startswith(("http://", "https://", "git@", "github.com/")) or \
            ns.context == "-":
        raise InvalidArgument(f"unable to prepare context: {ns.context!r}: hold build "
                              "takes a local directory as its context")
    if ns.pull:
        raise InvalidArgument("--pull: hold build does not pull; pull the base image "
                              "first")
    if ns.network not in ("none", "default", "host"):
        raise InvalidArgument(f"--network={ns.network}: build containers take none "
                              "(the default) or host (accepted: none, default, host)")
    from hold.build.builder import Builder, BuildOptions
    options = BuildOptions(
        context=ns.context, dockerfile=ns.file, tags=ns.tag,
        build_args=build_args(ns.build_arg), no_cache=ns.no_cache, target=ns.target,
        labels=key_values(ns.label, "--label"), quiet=ns.quiet,
        network="host" if ns.network == "host" else "none")
    if ns.platform:
        from hold.build.builder import automatic_args
        host = automatic_args()["TARGETPLATFORM"]
        if ns.platform.split("/")[:2] != host.split("/"):
            raise InvalidArgument(f"--platform={ns.platform}: hold builds for this "
                                  f"machine's platform ({host}) only")
    import signal

    def terminated(signum, frame):
        raise SystemExit(128 + signum)      # unwinds: the build cleans up after itself
    signal.signal(signal.SIGTERM, terminated)
    engine = ctx.engine
    image = Builder(engine.images, engine.paths, options).build()
    if ns.iidfile:
        from hold.store import atomic_write
        atomic_write(os.path.abspath(ns.iidfile), image.id.encode())
    return 0


def cmd_bootstrap(ctx, argv: list[str]) -> int:
    """``hold image bootstrap debian:SUITE [--include pkg,...] -t NAME``."""
    import sys
    parser = CommandParser("image bootstrap",
                           "hold image bootstrap [OPTIONS] debian:SUITE",
                           "Make a Debian base image from Debian's packages "
                           "(mmdebstrap or debootstrap); cached")
    parser.add_argument("-t", "--tag", default=None, help="Name[:tag] for the image")
    parser.add_argument("--include", action="append", default=[],
                        help="Extra packages, comma-separated; repeatable")
    parser.add_argument("--variant", default="minbase",
                        help="minbase (default), buildd, required, important, standard")
    parser.add_argument("--mirror", default=None,
                        help="Debian archive URI (default: the host's apt sources)")
    parser.add_argument("-q", "--quiet", action="store_true", help="Print only the image id")
    parser.add_argument("target", metavar="debian:SUITE")
    ns = parser.parse_args(argv)
    from hold.build.bootstrap import bootstrap
    include = [p for item in ns.include for p in item.split(",")]
    log = None if ns.quiet else sys.stderr
    image, cached = bootstrap(ctx.engine.images, ctx.engine.paths, ns.target, include,
                              ns.tag, ns.variant, ns.mirror, log=log)
    if not ns.quiet:
        print("Using the cached image" if cached else "Bootstrapped", ns.target,
              file=sys.stderr)
    print(image.id)
    return 0
