"""The Dockerfile parser: text -> stages of checked instructions.

Parsing is pure and happens before anything is built, so a malformed
Dockerfile fails at once and leaves nothing behind.  The grammar, as
Docker's classic builder reads it::

    dockerfile   := directive* line*
    directive    := "#" KEY "=" VALUE        only at the very top: syntax,
                                              escape, check
    line         := comment | blank | instruction
    instruction  := KEYWORD (flag)* arguments   a line ending in the escape
                                              character continues on the
                                              next one (comment lines inside
                                              a continuation are dropped)
    flag         := "--" NAME [ "=" VALUE ]
    arguments    := JSON array of strings (exec form) | free text

Words used here:

- an **instruction** is one logical line: ``keyword``, ``flags``, ``args``
  (free text with flags removed), ``json`` (the exec form, when the
  arguments are a JSON array of strings), ``line`` (1-based, where it
  starts) and ``original`` (the text as written, for ``Step N/M :``).
- a **stage** starts at each FROM; ARGs before the first FROM are **meta
  args**, usable in FROM lines only.

Variables are NOT expanded here: the builder expands them when it runs
the instruction (``hold.build.words``), because their values depend on
the ENV and ARG instructions executed before.  Every error names the line
number and the instruction.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from hold.errors import InvalidArgument

__all__ = ["Instruction", "Stage", "Dockerfile", "parse", "parse_instruction", "check",
           "json_array", "parse_duration", "INSTRUCTIONS", "DockerfileError"]

#: Every instruction the builder runs, with the flags each accepts.
INSTRUCTIONS: dict[str, tuple[str, ...]] = {
    "FROM": ("platform",), "RUN": (), "CMD": (), "LABEL": (), "MAINTAINER": (),
    "EXPOSE": (), "ENV": (), "ADD": ("chown", "chmod", "checksum", "link",
                                     "keep-git-dir", "exclude"),
    "COPY": ("from", "chown", "chmod", "link", "parents", "exclude"),
    "ENTRYPOINT": (), "VOLUME": (), "USER": (), "WORKDIR": (), "ARG": (),
    "ONBUILD": (), "STOPSIGNAL": (), "HEALTHCHECK": ("interval", "timeout",
                                                     "start-period", "start-interval",
                                                     "retries"),
    "SHELL": (),
}
#: Flags of BuildKit's RUN that the classic builder (and hold) cannot honour.
_RUN_BUILDKIT_FLAGS = ("mount", "network", "security")
#: Flags the parser knows but the builder refuses (BuildKit-only semantics);
#: COPY/ADD --link is accepted: it changes only how BuildKit caches.
_UNSUPPORTED_FLAGS = {"COPY": ("parents", "exclude"),
                      "ADD": ("checksum", "keep-git-dir", "exclude")}
_DIRECTIVES = ("syntax", "escape", "check")
_DIRECTIVE = re.compile(r"#\s*([A-Za-z][A-Za-z0-9_-]*)\s*=\s*(.*?)\s*\Z")
_ARG_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_STAGE_NAME = re.compile(r"[a-z][a-z0-9_.-]*\Z")


class DockerfileError(InvalidArgument):
    """A Dockerfile that cannot be parsed; the message names the line."""


@dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str
    line: int
    original: str
    flags: dict[str, str] = field(default_factory=dict)
    json: list[str] | None = None

    def fail(self, why: str) -> DockerfileError:
        """An error about this instruction, naming its line."""
        return DockerfileError(f"Dockerfile line {self.line}: {self.keyword}: {why}",
                               line=self.line, instruction=self.keyword)

    def __str__(self) -> str:
        return self.original


@dataclass
class Stage:
    index: int
    base: str                         # image reference, "scratch" or a stage name
    name: str                         # lower-cased AS name, or ""
    platform: str
    from_instruction: Instruction
    instructions: list[Instruction] = field(default_factory=list)


@dataclass
class Dockerfile:
    directives: dict[str, str]
    escape: str
    meta_args: list[Instruction]
    stages: list[Stage]

    def stage_index(self, ref: str) -> int | None:
        """The index of the stage named (or numbered) ``ref``, or None."""
        lowered = ref.lower()
        for stage in self.stages:
            if stage.name and stage.name == lowered:
                return stage.index
        if ref.isdigit() and int(ref) < len(self.stages):
            return int(ref)
        return None


def parse(text: str) -> Dockerfile:
    """Parse a whole Dockerfile; DockerfileError for anything malformed."""
    lines = text.replace("\r\n", "\n").split("\n")
    directives, start = _directives(lines)
    escape = directives.get("escape", "\\")
    meta_args: list[Instruction] = []
    stages: list[Stage] = []
    for instruction in _logical_lines(lines, start, escape):
        checked = check(instruction)
        if checked.keyword == "FROM":
            stages.append(_stage(checked, len(stages), stages))
        elif not stages:
            if checked.keyword != "ARG":
                raise checked.fail("no build stage in current context: a Dockerfile "
                                   "must begin with FROM (only ARG may come before it)")
            meta_args.append(checked)
        else:
            stages[-1].instructions.append(checked)
    if not stages:
        raise DockerfileError("the Dockerfile has no FROM instruction: a Dockerfile "
                              "must begin with FROM (file is empty?)")
    return Dockerfile(directives, escape, meta_args, stages)


def _directives(lines: list[str]) -> tuple[dict[str, str], int]:
    """Parser directives at the top; the index of the first other line."""
    found: dict[str, str] = {}
    for number, raw in enumerate(lines):
        match = _DIRECTIVE.match(raw.strip())
        if not match:
            return found, number
        key = match.group(1).lower()
        if key not in _DIRECTIVES:
            return found, number          # an ordinary comment ends the directives
        if key in found:
            raise DockerfileError(f"Dockerfile line {number + 1}: only one {key} "
                                  "parser directive can be used", line=number + 1)
        value = match.group(2)
        if key == "escape" and value not in ("\\", "`"):
            raise DockerfileError(f"Dockerfile line {number + 1}: invalid escape token "
                                  f"{value!r} does not match ` or \\", line=number + 1)
        found[key] = value
    return found, len(lines)


def _logical_lines(lines: list[str], start: int, escape: str):
    """Yield raw instructions (keyword, text), joining continuations."""
    continuation = re.compile(re.escape(escape) + r"[ \t]*\Z")
    parts: list[str] = []
    first = 0
    for number in range(start, len(lines)):
        raw = lines[number]
        stripped = raw.strip()
        if not parts:
            if not stripped or stripped.startswith("#"):
                continue
            first = number + 1
            raw = raw.lstrip()
        elif not stripped or stripped.startswith("#"):
            continue                      # comments and blanks inside a continuation
        match = continuation.search(raw)
        if match:
            parts.append(raw[:match.start()])
            continue
        parts.append(raw)
        yield parse_instruction(first, "".join(parts), escape)
        parts = []
    if parts:
        yield parse_instruction(first, "".join(parts), escape)


def parse_instruction(line: int, text: str, escape: str) -> Instruction:
    keyword, _, rest = text.strip().partition(" ")
    if "\t" in keyword:
        keyword, _, tail = keyword.partition("\t")
        rest = tail + " " + rest
    upper = keyword.upper()
    if upper not in INSTRUCTIONS:
        raise DockerfileError(f"Dockerfile line {line}: unknown instruction: {keyword} "
                              f"(accepted: {', '.join(sorted(INSTRUCTIONS))})",
                              line=line, instruction=keyword)
    flags, args = _flags(rest.strip(), line, upper)
    return Instruction(upper, args, line, text.strip(), flags, json_array(args))


def _flags(rest: str, line: int, keyword: str) -> tuple[dict[str, str], str]:
    """Leading ``--name=value`` words, and the text after them."""
    flags: dict[str, str] = {}
    while rest.startswith("--"):
        word, _, tail = rest.partition(" ")
        if "\t" in word:
            word, _, more = word.partition("\t")
            tail = more + " " + tail
        name, sep, value = word[2:].partition("=")
        accepted = INSTRUCTIONS[keyword]
        if keyword == "RUN" and name in _RUN_BUILDKIT_FLAGS:
            raise DockerfileError(f"Dockerfile line {line}: RUN --{name} needs BuildKit, "
                                  "which hold does not implement", line=line,
                                  instruction=keyword)
        if name not in accepted:
            shown = ", ".join("--" + a for a in accepted) or "no flags"
            raise DockerfileError(f"Dockerfile line {line}: {keyword}: unknown flag: "
                                  f"--{name} (accepted: {shown})", line=line,
                                  instruction=keyword)
        if not sep and name not in ("link", "parents", "keep-git-dir"):
            raise DockerfileError(f"Dockerfile line {line}: {keyword}: flag --{name} "
                                  "needs a value (--name=value)", line=line,
                                  instruction=keyword)
        flags[name] = value if sep else "true"
        rest = tail.strip()
    return flags, rest


def json_array(args: str) -> list[str] | None:
    if not args.startswith("["):
        return None
    try:
        value = json.loads(args)
    except ValueError:
        return None
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    return None


def _stage(instruction: Instruction, index: int, earlier: list[Stage]) -> Stage:
    words = instruction.args.split()
    if len(words) == 3 and words[1].lower() == "as":
        name = words[2].lower()
        if not _STAGE_NAME.match(name):
            raise instruction.fail(f"invalid name for build stage: {words[2]!r}, name "
                                   "can't start with a number or contain symbols")
        if any(stage.name == name for stage in earlier):
            raise instruction.fail(f"duplicate name for build stage: {words[2]!r}")
    elif len(words) == 1:
        name = ""
    else:
        raise instruction.fail("FROM requires either one or three arguments: "
                               "FROM image [AS name]")
    return Stage(index, words[0], name, instruction.flags.get("platform", ""), instruction)


# ------------------------------------------------------------- checking

def check(instruction: Instruction) -> Instruction:
    """Arity and shape checks that do not need variable values."""
    keyword, args = instruction.keyword, instruction.args
    if keyword != "RUN" and not args and keyword not in ("CMD", "ENTRYPOINT"):
        raise instruction.fail(f"{keyword} requires at least one argument")
    if keyword in ("RUN", "CMD", "ENTRYPOINT") and not args:
        raise instruction.fail(f"{keyword} requires at least one argument")
    if keyword in ("COPY", "ADD"):
        count = len(instruction.json) if instruction.json is not None else \
            len(_unquoted_words(args))
        if count < 2:
            raise instruction.fail(f"{keyword} requires at least two arguments: "
                                   "source(s) and destination")
    if keyword == "SHELL":
        if not instruction.json:
            raise instruction.fail("SHELL requires the arguments to be in JSON form, "
                                   'e.g. SHELL ["/bin/bash", "-c"]')
    if keyword == "ARG":
        for word in _unquoted_words(args):
            name = word.partition("=")[0]
            if not _ARG_NAME.match(name):
                raise instruction.fail(f"invalid ARG name {name!r}: expected a letter or "
                                       "_ then letters, digits or _")
    if keyword in ("RUN", "COPY", "ADD") and re.match(r"<<-?[\"']?[A-Za-z_]", args):
        raise instruction.fail("here-documents (<<EOF) need BuildKit's Dockerfile "
                               "syntax, which hold build does not implement")
    for flag in _UNSUPPORTED_FLAGS.get(keyword, ()):
        if flag in instruction.flags:
            raise instruction.fail(f"{keyword} --{flag} is a BuildKit extension that hold "
                                   "build does not implement")
    if keyword == "ONBUILD":
        _check_onbuild(instruction)
    if keyword == "HEALTHCHECK":
        _check_healthcheck(instruction)
    if keyword in ("ENV", "LABEL"):
        _check_pairs(instruction)
    return instruction


def _unquoted_words(text: str) -> list[str]:
    """Whitespace words, treating "..." and '...' as one word each."""
    return re.findall(r'(?:"(?:\\.|[^"\\])*"|\'[^\']*\'|\S)+', text)


def _check_pairs(instruction: Instruction) -> None:
    words = _unquoted_words(instruction.args)
    if "=" not in words[0]:
        if instruction.keyword == "LABEL" or len(words) < 2:
            what = "LABEL" if instruction.keyword == "LABEL" else "ENV"
            raise instruction.fail(f"{what} {words[0]!r} has no value: use "
                                   f"{what} KEY=VALUE" + (" or ENV KEY VALUE"
                                                          if what == "ENV" else ""))
        return
    for word in words:
        key, sep, _ = word.partition("=")
        if not sep or not key:
            raise instruction.fail(f"{word!r} is not KEY=VALUE (a value with spaces "
                                   "must be quoted)")


def _check_onbuild(instruction: Instruction) -> None:
    inner = parse_instruction(instruction.line, instruction.args, "\\")
    if inner.keyword in ("ONBUILD", "FROM", "MAINTAINER"):
        raise instruction.fail(f"{inner.keyword} isn't allowed as an ONBUILD trigger")
    try:
        check(inner)
    except DockerfileError as exc:
        raise instruction.fail(f"trigger: {exc.message}") from None


def _check_healthcheck(instruction: Instruction) -> None:
    for name in ("interval", "timeout", "start-period", "start-interval"):
        if name in instruction.flags:
            parse_duration(instruction.flags[name], instruction, name)
    if "retries" in instruction.flags:
        value = instruction.flags["retries"]
        if not value.isdigit() or int(value) < 1:
            raise instruction.fail(f"--retries must be at least 1, got {value!r}")
    kind, _, rest = instruction.args.partition(" ")
    kind = kind.upper()
    if kind == "NONE":
        if rest.strip() or instruction.flags:
            raise instruction.fail("HEALTHCHECK NONE takes no other arguments")
    elif kind != "CMD" or not rest.strip():
        raise instruction.fail("expected HEALTHCHECK [OPTIONS] CMD command, or "
                               "HEALTHCHECK NONE")


_DURATION = re.compile(r"(\d+(?:\.\d*)?)(ns|us|µs|ms|s|m|h)")
_UNITS = {"ns": 1, "us": 1_000, "µs": 1_000, "ms": 1_000_000, "s": 1_000_000_000,
          "m": 60_000_000_000, "h": 3_600_000_000_000}


def parse_duration(text: str, instruction: Instruction, flag: str) -> int:
    """A Go duration (``30s``, ``1m30s``, ``500ms``) in nanoseconds."""
    pos, total = 0, 0.0
    if text == "0":
        return 0
    while pos < len(text):
        match = _DURATION.match(text, pos)
        if not match:
            raise instruction.fail(f"invalid duration {text!r} for --{flag} "
                                   "(expected e.g. 30s, 1m30s, 500ms)")
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if not text:
        raise instruction.fail(f"empty duration for --{flag}")
    return int(total)
