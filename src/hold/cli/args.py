"""Docker-style flag parsing on top of argparse.

Docker's grammar: short flags combine (`-it`), `--flag=value` and
`--flag value` are equal, repeatable flags collect into lists.  A bad
input is one of two kinds, as Docker's CLI (28.x) tells them apart:

- ``FlagError``: a flag the parser rejects (unknown, missing its value, a
  value of the wrong type): "unknown flag: --x", "See 'hold run --help'.",
  exit 125 on every command;
- ``UsageError``: the wrong arguments (too few, too many, conflicting):
  exit 1, like any other failed command.

``CommandParser`` raises them where argparse would print its own usage and
exit 2; ``hold.cli.main`` turns them into exit codes.
"""

from __future__ import annotations

import argparse
import sys

from hold.errors import InvalidArgument

__all__ = ["CommandParser", "FlagError", "UsageError", "key_values"]


class FlagError(InvalidArgument):
    """A flag the parser rejects (Docker: exit 125, printed without "Error:")."""


class UsageError(InvalidArgument):
    """Too few, too many or conflicting arguments (Docker: exit 1)."""


class CommandParser(argparse.ArgumentParser):
    """An argparse parser that raises FlagError / UsageError instead of exiting."""

    def __init__(self, command: str, usage: str, description: str = ""):
        super().__init__(prog=f"hold {command}", usage=usage,
                         description=description, add_help=True,
                         allow_abbrev=False)
        self.command = command

    def parse_args(self, args=None, namespace=None):
        namespace, extras = self.parse_known_args(args, namespace)
        if extras:
            flags = [arg for arg in extras if arg.startswith("-") and arg != "-"]
            if flags:
                self._raise(FlagError, f"unknown flag: {flags[0].split('=', 1)[0]}")
            self._raise(UsageError, f"unexpected argument{'s' if len(extras) > 1 else ''}: "
                                    f"{' '.join(extras)}")
        return namespace

    def error(self, message: str):  # argparse calls this on bad input
        # "argument -m/--memory: expected one argument", "argument --type:
        # invalid choice: ...": a flag's fault.  "the following arguments are
        # required: ...": the command's arguments.
        self._raise(FlagError if message.startswith("argument -") else UsageError, message)

    def _raise(self, kind: type[InvalidArgument], message: str):
        raise kind(f"{message}\nSee '{self.prog} --help'.")

    def exit(self, status=0, message=None):
        if message:
            sys.stderr.write(message)
        raise SystemExit(status)


def key_values(items: list[str] | None, flag: str) -> dict[str, str]:
    """Turn repeated K=V flags into a dict; a missing '=' is an error."""
    result: dict[str, str] = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        if not key:
            raise InvalidArgument(f"invalid argument {item!r} for {flag}: key is empty")
        result[key] = value if sep else ""
    return result
