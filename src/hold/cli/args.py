"""Docker-style flag parsing on top of argparse.

Docker's grammar: short flags combine (`-it`), `--flag=value` and
`--flag value` are equal, repeatable flags collect into lists, and a bad
flag prints Docker's kind of message with exit code 125 ("unknown flag:
--x", "See 'hold run --help'.").  ``CommandParser`` gives that on top of
argparse, which would otherwise print its own usage and exit 2.
"""

from __future__ import annotations

import argparse
import sys

from hold.errors import InvalidArgument


class _UsageError(InvalidArgument):
    pass


class CommandParser(argparse.ArgumentParser):
    """An argparse parser that raises InvalidArgument instead of exiting."""

    def __init__(self, command: str, usage: str, description: str = ""):
        super().__init__(prog=f"hold {command}", usage=usage,
                         description=description, add_help=True,
                         allow_abbrev=False)
        self.command = command

    def error(self, message: str):  # argparse calls this on bad input
        message = message.replace("unrecognized arguments", "unknown flag")
        raise _UsageError(f"{message}\nSee '{self.prog} --help'.")

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
