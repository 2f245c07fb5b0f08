"""The CLI's one mapping from errors to exit codes, and the two kinds of bad
input ``CommandParser`` tells apart, checked against what Docker's CLI
(28.x) was measured to do."""

from __future__ import annotations

import argparse

import pytest

from hold.build._run import RunFailed
from hold.cli.args import CommandParser, FlagError, UsageError
from hold.cli.formatting import TemplateParseError, check_template
from hold.cli.main import exit_code
from hold.errors import (CommandNotExecutable, CommandNotFound, ContainerNotFound,
                         HoldError, ImageNotFound, InvalidArgument, NameInUse,
                         SystemError_)


def parser() -> CommandParser:
    p = CommandParser("logs", "hold logs [OPTIONS] CONTAINER")
    p.add_argument("-n", "--tail")
    p.add_argument("--since", type=int)
    p.add_argument("container")
    return p


@pytest.mark.parametrize("argv, kind, first_line", [
    (["--bogus", "c"], FlagError, "unknown flag: --bogus"),
    (["--bogus=1", "c"], FlagError, "unknown flag: --bogus"),
    (["c", "-z"], FlagError, "unknown flag: -z"),
    (["c", "--tail"], FlagError, "argument -n/--tail: expected one argument"),
    (["--since", "soon", "c"], FlagError, "argument --since: invalid int value: 'soon'"),
    ([], UsageError, "the following arguments are required: container"),
    (["a", "b"], UsageError, "unexpected argument: b"),
    (["a", "b", "-"], UsageError, "unexpected arguments: b -"),
])
def test_parser_tells_flag_errors_from_usage_errors(argv, kind, first_line):
    with pytest.raises(InvalidArgument) as info:
        parser().parse_args(argv)
    assert type(info.value) is kind
    assert str(info.value) == f"{first_line}\nSee 'hold logs --help'."


def test_parser_accepts_good_input():
    assert parser().parse_args(["-n", "3", "c"]) == argparse.Namespace(
        tail="3", since=None, container="c")


@pytest.mark.parametrize("command, error, code", [
    # a flag the parser rejects: 125 everywhere; the wrong arguments: 1 everywhere
    ("ps", FlagError("unknown flag: --bogus"), 125),
    ("run", FlagError("unknown flag: --bogus"), 125),
    ("rm", UsageError("requires at least 1 argument"), 1),
    ("run", UsageError("requires at least 1 argument"), 1),
    # run: 125 for anything before the command runs, 126/127 for the command
    ("run", ImageNotFound("No such image: nosuch:latest"), 125),
    ("container run", InvalidArgument("bad mount"), 125),
    ("run", NameInUse("Conflict."), 125),
    ("run", CommandNotFound("exec: x: not found"), 127),
    ("run", CommandNotExecutable("exec: x: permission denied"), 126),
    ("run", HoldError("the monitor died"), 125),
    # exec: 126/127 for the command, 1 otherwise
    ("exec", CommandNotFound("x"), 127),
    ("container exec", CommandNotExecutable("x"), 126),
    ("exec", ContainerNotFound("nosuch"), 1),
    # everything else: 1, whatever the kind
    ("create", ImageNotFound("No such image: nosuch:latest"), 1),
    ("create", NameInUse("Conflict."), 1),
    ("start", CommandNotFound("x"), 1),
    ("top", ContainerNotFound("nosuch"), 1),
    ("load", InvalidArgument("open /nonexist: no such file or directory"), 1),
    ("volume create", InvalidArgument('invalid option: "bogus"'), 1),
    ("network rm", SystemError_("netlink said no", errno=1), 1),
    # inspect's malformed template: 64 (Docker's), other commands' 1
    ("inspect", TemplateParseError("failed to parse template"), 64),
    ("volume inspect", TemplateParseError("failed to parse template"), 64),
    ("ps", TemplateParseError("failed to parse template"), 1),
])
def test_exit_code(command, error, code):
    assert exit_code(command, error) == code


def test_an_error_that_carries_its_code_keeps_it():
    error = RunFailed("The command '/bin/sh -c exit 3' returned a non-zero code: 3", 3)
    error.exit_code = 3
    assert exit_code("build", error) == 3
    assert exit_code("build", RunFailed("the monitor died", 125)) == 1


def test_check_template():
    check_template(None)
    check_template("json")
    check_template("table {{.Name}}\t{{.ID}}")
    with pytest.raises(TemplateParseError):
        check_template("{{.Bad")
