"""The `hold` command: global flags, then one subcommand.

Start-up time is the product here (a `hold run` is timed against Docker),
so nothing is imported until the subcommand is known: ``COMMANDS`` maps a
command name to the module and function that implement it, and only that
module is imported.  Each command function receives ``(ctx, argv)`` and
parses its own flags with ``hold.cli.args``.

Errors: every ``HoldError`` becomes one line ``Error: ...`` on stderr (Docker
prints "Error response from daemon: ..."; we have no daemon; a flag error is
printed bare, "unknown flag: --x", as Docker prints it) and the exit code
``exit_code`` picks.  This is the one place that mapping happens.
"""

from __future__ import annotations

import os
import sys

COMMANDS: dict[str, str] = {
    # images
    "import": "images:cmd_import",
    "images": "images:cmd_images",
    "image": "images:cmd_image",
    "tag": "images:cmd_tag",
    "rmi": "images:cmd_rmi",
    "history": "images:cmd_history",
    "build": "build:cmd_build",
    "save": "transport:cmd_save",
    "load": "transport:cmd_load",
    "pull": "transport:cmd_pull",
    "push": "transport:cmd_push",
    "login": "transport:cmd_login",
    "logout": "transport:cmd_logout",
    # containers
    "run": "containers:cmd_run",
    "create": "containers:cmd_create",
    "start": "containers:cmd_start",
    "stop": "containers:cmd_stop",
    "kill": "containers:cmd_kill",
    "restart": "containers:cmd_restart",
    "rm": "containers:cmd_rm",
    "ps": "container_info:cmd_ps",
    "logs": "container_info:cmd_logs",
    "exec": "container_info:cmd_exec",
    "inspect": "container_info:cmd_inspect",
    "wait": "containers:cmd_wait",
    "rename": "containers:cmd_rename",
    "diff": "container_info:cmd_diff",
    "cp": "cp:cmd_cp",
    "commit": "container_info:cmd_commit",
    "top": "monitoring:cmd_top",
    "stats": "monitoring:cmd_stats",
    "pause": "monitoring:cmd_pause",
    "unpause": "monitoring:cmd_unpause",
    "container": "containers:cmd_container",
    "volume": "volumes:cmd_volume",
    "network": "networks:cmd_network",
    "port": "networks:cmd_port",
    "system": "system:cmd_system",
    "version": "system:cmd_version",
    "info": "system:cmd_info",
    "storage": "storage:cmd_storage",
}

USAGE = """\
Usage:  hold [OPTIONS] COMMAND

A daemonless container engine for stateful containers

Options:
      --root string      Data root (default /var/lib/hold, env HOLD_ROOT)
      --runroot string   Runtime root (default /run/hold, env HOLD_RUNROOT)
  -v, --version          Print version information and quit

Commands:
  run, create, start, stop, kill, restart, rm, ps, logs, exec, cp, inspect,
  wait, rename, diff, commit, container, build, import, images, image, tag,
  rmi, history, save, load, pull, push, login, logout, volume, network,
  port, system, version, info, top, stats, pause, unpause

Run 'hold COMMAND --help' for more information on a command.
"""


class Context:
    """What every command gets: the roots, and the engine on demand."""

    def __init__(self, root: str | None, runroot: str | None):
        from hold.store.paths import Paths
        self.paths = Paths.from_env(root, runroot)
        self._engine = None

    @property
    def engine(self):
        if self._engine is None:
            from hold.engine import Engine
            self._engine = Engine(self.paths)
        return self._engine


def _split_global(argv: list[str]):
    root = runroot = None
    i = 0
    while i < len(argv) and argv[i].startswith("-"):
        arg = argv[i]
        for flag in ("--root", "--runroot"):
            if arg == flag:
                if i + 1 >= len(argv):
                    raise SystemExit(_fail(f"flag needs an argument: {flag}"))
                value, i = argv[i + 1], i + 2
                break
            if arg.startswith(flag + "="):
                value, i = arg.split("=", 1)[1], i + 1
                break
        else:
            if arg in ("-v", "--version"):
                from hold import __version__
                print(f"hold version {__version__}")
                raise SystemExit(0)
            if arg in ("-h", "--help"):
                sys.stdout.write(USAGE)
                raise SystemExit(0)
            raise SystemExit(_fail(f"unknown flag: {arg}\nSee 'hold --help'."))
        if flag == "--root":
            root = value
        else:
            runroot = value
    return root, runroot, argv[i:]


def _fail(message: str, code: int = 125) -> int:
    sys.stderr.write(f"Error: {message}\n" if not message.startswith("unknown") else f"{message}\n")
    return code


# Docker's exit codes, measured with its CLI (28.x).  ``command`` is the
# command's words, "run" or "container run", "inspect" or "volume inspect".
RUN_COMMANDS = {"run", "container run"}
EXEC_COMMANDS = {"exec", "container exec"}
INSPECT_COMMANDS = {"inspect", "container inspect", "image inspect", "volume inspect",
                    "network inspect"}
GROUPS = {"container", "image", "volume", "network", "system", "storage"}


def exit_code(command: str, error) -> int:
    """The exit code of ``hold COMMAND`` failing with ``error``, as Docker's:

    - an error's own ``exit_code`` when it has one (a build's failing RUN);
    - 125: a flag the parser rejects, on any command;
    - 1: the wrong arguments (too few, too many), on any command;
    - 127 / 126: `run` and `exec` whose container command is not found /
      cannot be executed;
    - 125: any other failure of `run` (before the container's command runs:
      no such image, a bad mount, a name in use, ...);
    - 64: an inspect command's malformed --format template;
    - 1: everything else, whatever the kind (no such object, conflict,
      bad value, failed kernel call).
    """
    from hold.cli.args import FlagError, UsageError
    from hold.errors import CommandNotExecutable, CommandNotFound
    if error.exit_code is not None:
        return error.exit_code
    if isinstance(error, FlagError):
        return 125
    if isinstance(error, UsageError):
        return 1
    if command in RUN_COMMANDS | EXEC_COMMANDS:
        if isinstance(error, CommandNotFound):
            return 127
        if isinstance(error, CommandNotExecutable):
            return 126
    if command in RUN_COMMANDS:
        return 125
    if command in INSPECT_COMMANDS:
        from hold.cli.formatting import TemplateParseError
        if isinstance(error, TemplateParseError):
            return 64
    return 1


def _command_words(name: str, args: list[str]) -> str:
    if name in GROUPS and args and not args[0].startswith("-"):
        return f"{name} {args[0]}"
    return name


def _restore_persistent_mappings(ctx) -> None:
    """Persistent `hold storage map` mappings come back on the next hold use
    (after a reboot or a crashed FUSE server).  One stat when there are
    none; a failure is left for `hold storage ls` to show."""
    if not os.path.isdir(os.path.join(ctx.paths.root, "storage")):
        return
    try:
        from hold.volumes.remote.mapping import MappingService
        MappingService(ctx.paths).restore()
    except Exception:       # noqa: BLE001 - never break an unrelated command
        pass


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    root, runroot, rest = _split_global(argv)
    if not rest:
        sys.stdout.write(USAGE)
        return 0
    name, args = rest[0], rest[1:]
    target = COMMANDS.get(name)
    if target is None:
        sys.stderr.write(f"hold: '{name}' is not a hold command.\nSee 'hold --help'\n")
        return 1
    module_name, func_name = target.split(":")
    import importlib
    module = importlib.import_module(f"hold.cli.commands.{module_name}")
    from hold.errors import HoldError
    ctx = Context(root, runroot)
    if name != "storage":
        _restore_persistent_mappings(ctx)
    try:
        code = getattr(module, func_name)(ctx, args)
    except HoldError as exc:
        from hold.cli.args import FlagError
        sys.stderr.write(f"{exc}\n" if isinstance(exc, FlagError) else f"Error: {exc}\n")
        return exit_code(_command_words(name, args), exc)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    return int(code or 0)


if __name__ == "__main__":
    sys.exit(main())
