"""CLI faces of the container lifecycle: run, create, start, stop, kill,
restart, rm, wait, rename, and the `container` command group.

Parsing and printing only; the work is ContainerService's.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys

from hold.cli.args import CommandParser, key_values
from hold.cli.output import each
from hold.errors import (CommandNotExecutable, CommandNotFound, HoldError,
                         InvalidArgument)


def _size(text: str) -> None:
    from hold.runtime.cgroups import ram_in_bytes
    ram_in_bytes(text, "")


def _swap_size(text: str) -> None:
    if text.strip() != "-1":                  # unlimited swap
        _size(text)


def _well_formed(check, expected: str):
    """An argparse type for a size or number flag.  Docker's CLI parses
    these while it reads its flags, so a malformed one is a flag error
    (exit 125) caught before anything is looked up; whether the value is
    in range (6 MB of memory at least, no more CPUs than the host has) is
    the engine's check.  The text goes on unchanged."""
    def parse(text: str) -> str:
        try:
            check(text)
        except (InvalidArgument, ValueError):
            raise argparse.ArgumentTypeError(f"invalid value {text!r}: expected {expected}") from None
        return text
    return parse


def _add_create_flags(p: CommandParser) -> None:
    p.add_argument("--help", action="help", help="Print usage")
    p.add_argument("-i", "--interactive", action="store_true")
    p.add_argument("-t", "--tty", action="store_true")
    p.add_argument("--rm", dest="auto_remove", action="store_true")
    p.add_argument("--name")
    p.add_argument("-e", "--env", action="append", default=[])
    p.add_argument("--env-file", action="append", default=[])
    p.add_argument("-w", "--workdir")
    p.add_argument("-u", "--user")
    p.add_argument("--entrypoint")
    p.add_argument("-h", "--hostname")
    p.add_argument("--init", action="store_true")
    p.add_argument("--network", "--net", dest="network", default="bridge")
    p.add_argument("--network-alias", "--net-alias", dest="network_alias", action="append", default=[])
    p.add_argument("--ip")
    p.add_argument("--add-host", action="append", default=[])
    p.add_argument("--dns", action="append", default=[])
    p.add_argument("-p", "--publish", action="append", default=[])
    p.add_argument("-P", "--publish-all", action="store_true")
    p.add_argument("--isolation")
    p.add_argument("--restart", default="no")
    p.add_argument("-m", "--memory", type=_well_formed(_size, "a size (512m, 1g)"))
    p.add_argument("--memory-swap", type=_well_formed(_swap_size, "a size (1g), or -1"))
    p.add_argument("--cpus", type=_well_formed(float, "a number of CPUs (1.5)"))
    p.add_argument("--pids-limit", type=_well_formed(int, "an integer"))
    p.add_argument("--cap-add", action="append", default=[])
    p.add_argument("--cap-drop", action="append", default=[])
    p.add_argument("--privileged", action="store_true")
    p.add_argument("--security-opt", action="append", default=[])
    p.add_argument("-l", "--label", action="append", default=[])
    p.add_argument("--stop-signal")
    p.add_argument("--stop-timeout", type=int)
    p.add_argument("-v", "--volume", dest="volumes", action="append", default=[])
    p.add_argument("--mount", dest="mounts", action="append", default=[])
    p.add_argument("--tmpfs", action="append", default=[])
    p.add_argument("--volumes-from", action="append", default=[])
    p.add_argument("--allow-sensitive-mounts", "--allow-sensitive-mount",
                   dest="allow_sensitive_mounts", action="store_true")
    p.add_argument("image")
    p.add_argument("command", nargs=argparse.REMAINDER)


def _run_options(ns):
    from hold.containers.config import RunOptions
    return RunOptions(
        command=ns.command, name=ns.name, env=ns.env, env_files=ns.env_file,
        workdir=ns.workdir, user=ns.user, entrypoint=ns.entrypoint,
        hostname=ns.hostname, init=ns.init, network=ns.network,
        network_aliases=ns.network_alias, ip=ns.ip, add_hosts=ns.add_host, dns=ns.dns,
        publish=ns.publish, publish_all=ns.publish_all,
        isolation=ns.isolation, restart=ns.restart, memory=ns.memory,
        memory_swap=ns.memory_swap, cpus=ns.cpus, pids_limit=ns.pids_limit,
        cap_add=ns.cap_add, cap_drop=ns.cap_drop, privileged=ns.privileged,
        security_opt=ns.security_opt, labels=key_values(ns.label, "--label"),
        tty=ns.tty, interactive=ns.interactive, auto_remove=ns.auto_remove,
        stop_signal=ns.stop_signal, stop_timeout=ns.stop_timeout,
        volumes=ns.volumes, mounts=ns.mounts, tmpfs=ns.tmpfs,
        volumes_from=ns.volumes_from, allow_sensitive_mounts=ns.allow_sensitive_mounts)


def cmd_create(ctx, argv: list[str]) -> int:
    p = _no_help_parser("create", "hold create [OPTIONS] IMAGE [COMMAND] [ARG...]")
    _add_create_flags(p)
    ns = p.parse_args(argv)
    container = ctx.engine.containers.create(ns.image, _run_options(ns))
    print(container.id)
    return 0


def _no_help_parser(command: str, usage: str) -> CommandParser:
    parser = CommandParser.__new__(CommandParser)
    argparse.ArgumentParser.__init__(parser, prog=f"hold {command}", usage=usage,
                                     add_help=False, allow_abbrev=False)
    parser.command = command
    return parser


def cmd_run(ctx, argv: list[str]) -> int:
    p = _no_help_parser("run", "hold run [OPTIONS] IMAGE [COMMAND] [ARG...]")
    _add_create_flags(p)
    p.add_argument("-d", "--detach", action="store_true")
    ns = p.parse_args(argv)
    service = ctx.engine.containers
    container = service.create(ns.image, _run_options(ns))
    if ns.detach:
        _start_or_raise(service, container.id, attach=False)
        print(container.id)
        return 0
    return _run_attached(service, container, ns.tty)


def _start_or_raise(service, ref: str, attach: bool, pty=None):
    from hold.runtime.monitor import LaunchError
    try:
        return service.start(ref, attach=attach, pty=pty)
    except LaunchError as exc:
        kind = {127: CommandNotFound, 126: CommandNotExecutable}.get(exc.code, HoldError)
        raise kind(f"failed to start container process: {exc}") from exc


def _run_attached(service, container, tty: bool) -> int:
    """Stay with the container: its output on our stdout/stderr, our
    signals forwarded to it (Docker's sig-proxy), its exit code ours."""
    from hold.cli.terminal import RawTerminal, make_pty
    pty = make_pty() if tty else None
    with RawTerminal(active=tty and sys.stdin.isatty()):
        launch = _start_or_raise(service, container.id, attach=True, pty=pty)
        if pty:
            os.close(pty[1])
            _follow_window_size(pty[0])
        else:
            _proxy_signals(launch.pid)
        code = launch.wait_exit()
        launch.close()
    return code


def _proxy_signals(pid: int) -> None:
    def forward(signum, _frame):
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT,
                signal.SIGUSR1, signal.SIGUSR2):
        signal.signal(sig, forward)


def _follow_window_size(master: int) -> None:
    from hold.cli.terminal import copy_window_size
    copy_window_size(master)
    signal.signal(signal.SIGWINCH, lambda *_: copy_window_size(master))


def cmd_start(ctx, argv: list[str]) -> int:
    p = CommandParser("start", "hold start [OPTIONS] CONTAINER [CONTAINER...]")
    p.add_argument("-a", "--attach", action="store_true")
    p.add_argument("-i", "--interactive", action="store_true")
    p.add_argument("containers", nargs="+")
    ns = p.parse_args(argv)
    service = ctx.engine.containers
    if ns.attach:
        if len(ns.containers) > 1:
            raise InvalidArgument("you cannot start and attach multiple containers at once")
        launch = _start_or_raise(service, ns.containers[0], attach=True)
        if launch is None:
            return 0
        _proxy_signals(launch.pid)
        return launch.wait_exit()
    return each(ns.containers, lambda ref: (_start_or_raise(service, ref, False), ref)[1])


def cmd_stop(ctx, argv: list[str]) -> int:
    p = CommandParser("stop", "hold stop [OPTIONS] CONTAINER [CONTAINER...]")
    p.add_argument("-t", "--time", "--timeout", dest="time", type=int)
    p.add_argument("-s", "--signal")
    p.add_argument("containers", nargs="+")
    ns = p.parse_args(argv)
    service = ctx.engine.containers
    return each(ns.containers, lambda ref: (service.stop(ref, ns.time, ns.signal), ref)[1])


def cmd_kill(ctx, argv: list[str]) -> int:
    p = CommandParser("kill", "hold kill [OPTIONS] CONTAINER [CONTAINER...]")
    p.add_argument("-s", "--signal", default="KILL")
    p.add_argument("containers", nargs="+")
    ns = p.parse_args(argv)
    from hold.containers.config import parse_signal
    parse_signal(ns.signal)
    service = ctx.engine.containers
    return each(ns.containers, lambda ref: (service.kill(ref, ns.signal), ref)[1])


def cmd_restart(ctx, argv: list[str]) -> int:
    p = CommandParser("restart", "hold restart [OPTIONS] CONTAINER [CONTAINER...]")
    p.add_argument("-t", "--time", "--timeout", dest="time", type=int)
    p.add_argument("-s", "--signal")
    p.add_argument("containers", nargs="+")
    ns = p.parse_args(argv)
    service = ctx.engine.containers

    def restart(ref):
        service.stop(ref, ns.time, ns.signal)
        _start_or_raise(service, ref, False)
        return ref
    return each(ns.containers, restart)


def cmd_rm(ctx, argv: list[str]) -> int:
    p = CommandParser("rm", "hold rm [OPTIONS] CONTAINER [CONTAINER...]")
    p.add_argument("-f", "--force", action="store_true")
    p.add_argument("-v", "--volumes", action="store_true")
    p.add_argument("containers", nargs="+")
    ns = p.parse_args(argv)
    service = ctx.engine.containers
    return each(ns.containers,
                 lambda ref: (service.remove(ref, ns.force, volumes=ns.volumes), ref)[1])


def cmd_wait(ctx, argv: list[str]) -> int:
    p = CommandParser("wait", "hold wait CONTAINER [CONTAINER...]")
    p.add_argument("containers", nargs="+")
    ns = p.parse_args(argv)
    service = ctx.engine.containers
    return each(ns.containers, lambda ref: service.wait(ref))


def cmd_rename(ctx, argv: list[str]) -> int:
    p = CommandParser("rename", "hold rename CONTAINER NEW_NAME")
    p.add_argument("container")
    p.add_argument("new_name")
    ns = p.parse_args(argv)
    ctx.engine.containers.rename(ns.container, ns.new_name)
    return 0


CONTAINER_SUBCOMMANDS = {
    "run": "containers:cmd_run", "create": "containers:cmd_create",
    "start": "containers:cmd_start", "stop": "containers:cmd_stop",
    "kill": "containers:cmd_kill", "restart": "containers:cmd_restart",
    "rm": "containers:cmd_rm", "remove": "containers:cmd_rm",
    "wait": "containers:cmd_wait", "rename": "containers:cmd_rename",
    "ls": "container_info:cmd_ps", "ps": "container_info:cmd_ps",
    "list": "container_info:cmd_ps", "logs": "container_info:cmd_logs",
    "inspect": "container_info:cmd_container_inspect",
    "diff": "container_info:cmd_diff", "commit": "container_info:cmd_commit",
    "prune": "container_info:cmd_prune", "exec": "container_info:cmd_exec",
    "cp": "cp:cmd_cp",
    "top": "monitoring:cmd_top", "stats": "monitoring:cmd_stats",
    "pause": "monitoring:cmd_pause", "unpause": "monitoring:cmd_unpause",
}


def cmd_container(ctx, argv: list[str]) -> int:
    """`hold container SUBCOMMAND`: the same commands, grouped as Docker does."""
    if not argv or argv[0] in ("-h", "--help"):
        print("Usage:  hold container COMMAND\n\nCommands:\n  " +
              ", ".join(sorted(CONTAINER_SUBCOMMANDS)))
        return 0
    target = CONTAINER_SUBCOMMANDS.get(argv[0])
    if target is None:
        raise InvalidArgument(f"unknown command \"{argv[0]}\" for \"hold container\"")
    import importlib
    module_name, func = target.split(":")
    module = importlib.import_module(f"hold.cli.commands.{module_name}")
    return getattr(module, func)(ctx, argv[1:])
