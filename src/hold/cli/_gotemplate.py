"""A Go text/template subset, as Docker's ``--format`` flag uses it.

Private to ``hold.cli.formatting``, which is the public face.  The module is
imported only when a command is given ``--format`` (or prints a table), and
imports nothing but ``re``.  Values (printing, JSON, truth) live in
``_govalues``, the callable functions in ``_gofuncs``.

What is supported, with Go's meaning::

    text {{pipeline}} text          {{/* comment */}}   {{- trims -}}
    .  .Field  .A.B  $  $x  $x.A    "str"  `raw`  'c'  12  1.5  true  nil
    (pipeline).Field                 cmd arg arg | cmd arg   (piped value last)
    {{$x := pipeline}}  {{$x = pipeline}}
    {{if p}} {{else if p}} {{else}} {{end}}      {{with p}} {{else}} {{end}}
    {{range p}} {{range $v := p}} {{range $i, $v := p}} {{else}} {{end}}
    {{break}} {{continue}}

Functions: Docker's (json split join title lower upper pad truncate) and
Go's builtins (and or not len index slice print printf println eq ne lt le
gt ge).  ``define`` and ``block`` are refused at parse time; ``template``
parses and fails when run ("not defined"), as nothing can define one.

Data: a dict is a Go map (``.Key`` looks the key up; a missing key prints
``<no value>``); any other object is a struct (``.Attr``; a missing one is an
execution error).  A callable found by a field is called, with the field's
arguments (Go's method call), so ``{{.Label "x"}}`` works on ``obj.Label``
and on ``{"Label": func}``.

Errors carry Go's wording: parse errors read ``template: :LINE: MSG``,
execution errors ``template: :LINE:COL: executing "" at <NODE>: MSG``.
"""

import re

from hold.cli._gofuncs import FUNCS, HEADER_FUNCS, PARAMS, ArgError, is_kind
from hold.cli._govalues import (MISSING, TemplateError, go_json, go_print, json_string, truth,
                                type_name)

__all__ = ["TemplateError", "Template", "MISSING", "go_print", "go_json", "default_header"]

_NOFINAL = object()

# ---------------------------------------------------------------- lexing --

_KEYWORDS = {"if", "else", "end", "range", "with", "define", "template",
             "block", "break", "continue"}
_NUMBER = re.compile(r"[+-]?(?:0[xX][0-9a-fA-F_]+|0[bB][01_]+|0[oO][0-7_]+|"
                     r"(?:\d[\d_]*\.?[\d_]*|\.\d[\d_]*)(?:[eE][+-]?\d+)?)")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_FIELDS = re.compile(r"(?:\.[A-Za-z_][A-Za-z0-9_]*)+")
_STRING = re.compile(r'"(?:[^"\\\n]|\\.)*"')
_CHAR = re.compile(r"'(?:[^'\\\n]|\\.)+'")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "'": "'",
            "a": "\a", "b": "\b", "f": "\f", "v": "\v", "0": "\0"}


def _unquote(body: str) -> str:
    def one(m: re.Match) -> str:
        esc = m.group(1)
        if esc[0] in "xuU":
            return chr(int(esc[1:], 16))
        return _ESCAPES.get(esc, esc)
    return re.sub(r"\\(x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|.)",
                  one, body)


class _LexStop(Exception):
    pass


class _Lexer:
    """Splits a template into ("text", s, pos) and action items.

    A lexing error becomes an ("error", msg, pos) item that ends the list,
    so the parser reports whatever it trips on first, as Go's does.
    """

    def __init__(self, src: str):
        self.src = src
        self.items: list[tuple[str, object, int]] = []

    def error(self, msg: str, pos: int):
        self.items.append(("error", msg, pos))
        raise _LexStop()

    def run(self) -> list:
        try:
            self._run()
        except _LexStop:
            pass
        return self.items

    def _run(self):
        src, pos, trim_next = self.src, 0, False
        while True:
            start = src.find("{{", pos)
            text = src[pos:] if start < 0 else src[pos:start]
            if trim_next:
                text = text.lstrip(" \t\r\n")
            if start >= 0 and src[start + 2:start + 3] == "-" and \
                    src[start + 3:start + 4] in (" ", "\t", "\r", "\n"):
                text = text.rstrip(" \t\r\n")
                inner = start + 4
            else:
                inner = start + 2
            if text:
                self.items.append(("text", text, pos))
            if start < 0:
                self.items.append(("eof", None, len(src)))
                return
            pos, trim_next = self._action(start, inner)

    def _action(self, start: int, pos: int) -> tuple[int, bool]:
        src = self.src
        if src.startswith("/*", pos):
            end = src.find("*/", pos + 2)
            if end < 0:
                self.error("unclosed comment", start)
            after = end + 2
            for closing, trim in (("}}", False), (" -}}", True)):
                if src.startswith(closing, after):
                    return after + len(closing), trim
            self.error("comment ends before closing delimiter", start)
        self.items.append(("ldelim", None, start))
        while True:
            if pos >= len(src):
                self.error("unclosed action", start)
            if src.startswith("}}", pos):
                self.items.append(("rdelim", None, pos))
                return pos + 2, False
            ch = src[pos]
            if ch.isspace():
                end = pos
                while end < len(src) and src[end].isspace():
                    end += 1
                if src.startswith("-}}", end):
                    self.items.append(("rdelim", None, end))
                    return end + 3, True
                self.items.append(("space", None, pos))
                pos = end
                continue
            pos = self._token(pos, start)

    def _token(self, pos: int, start: int) -> int:
        src, ch = self.src, self.src[pos]
        simple = {"|": "pipe", "(": "lparen", ")": "rparen", ",": "comma"}
        if ch in simple:
            self.items.append((simple[ch], ch, pos))
            return pos + 1
        if src.startswith(":=", pos):
            self.items.append(("declare", ":=", pos))
            return pos + 2
        if ch == "=":
            self.items.append(("assign", "=", pos))
            return pos + 1
        if ch == '"':
            m = _STRING.match(src, pos)
            if not m:
                self.error("unterminated quoted string", pos)
            self.items.append(("const", _unquote(m.group()[1:-1]), pos))
            return m.end()
        if ch == "`":
            end = src.find("`", pos + 1)
            if end < 0:
                self.error("unterminated raw quoted string", pos)
            self.items.append(("const", src[pos + 1:end], pos))
            return end + 1
        if ch == "'":
            m = _CHAR.match(src, pos)
            value = _unquote(m.group()[1:-1]) if m else ""
            if len(value) != 1:
                self.error("unterminated character constant" if not m
                           else f"malformed character constant: {m.group()}", pos)
            self.items.append(("const", ord(value), pos))
            return m.end()
        return self._word(pos, ch, start)

    def _word(self, pos: int, ch: str, start: int) -> int:
        src = self.src
        if ch == "$":
            m = _IDENT.match(src, pos + 1)
            name = "$" + (m.group() if m else "")
            self.items.append(("var", name, pos))
            return self._terminated(pos + len(name))
        if ch == ".":
            m = _FIELDS.match(src, pos)
            if m:
                self.items.append(("field", m.group()[1:].split("."), pos))
                return self._terminated(m.end())
            if not (pos + 1 < len(src) and src[pos + 1].isdigit()):
                self.items.append(("dot", None, pos))
                return pos + 1
        if ch.isdigit() or ch in "+-.":
            m = _NUMBER.match(src, pos)
            if m and m.group() not in "+-.":
                self.items.append(("const", _number(m.group(), self, pos), pos))
                return m.end()
        m = _IDENT.match(src, pos)
        if m:
            word = m.group()
            kind = {"true": "const", "false": "const", "nil": "nil"}.get(word, "ident")
            value = {"true": True, "false": False}.get(word, word)
            self.items.append((kind, value, pos))
            return self._terminated(m.end())
        if ch.isprintable() and ord(ch) < 128:
            self.items.append(("char", ch, pos))
            return pos + 1
        self.error(f"unrecognized character in action: {_unicode_name(ch)}", pos)
        return pos

    def _terminated(self, pos: int) -> int:
        """A word must be followed by a space, a delimiter or punctuation."""
        src = self.src
        if pos >= len(src) or src[pos].isspace() or src[pos] in ".,|:()" \
                or src.startswith("}}", pos):
            return pos
        self.error(f"bad character {_unicode_name(src[pos])}", pos)
        return pos


def _unicode_name(ch: str) -> str:
    """Go's %#U: U+007D '}'."""
    return f"U+{ord(ch):04X} '{ch}'"


def _number(text: str, lexer: _Lexer, pos: int):
    clean = text.replace("_", "")
    try:
        if re.fullmatch(r"[+-]?0[xXbBoO].*", clean):
            return int(clean, 0)
        if re.fullmatch(r"[+-]?\d+", clean):
            return int(clean, 10)
        return float(clean)
    except ValueError:
        lexer.error(f"bad number syntax: {text!r}", pos)
    return 0


# --------------------------------------------------------------- parsing --

class _Pipe:
    __slots__ = ("decl", "assign", "cmds", "pos")

    def __init__(self, decl, assign, cmds, pos):
        self.decl, self.assign, self.cmds, self.pos = decl, assign, cmds, pos


class _Parser:
    """Recursive descent over the lexer's items into a node tree.

    Nodes are tuples: ("text", s) ("action", pipe) ("if"|"with"|"range",
    pipe, body, else_body, pos) ("break", pos) ("continue", pos)
    ("template", name, pos, src).  Operands: ("field", names, pos)
    ("var", name, names, pos) ("dot",) ("const", v, pos) ("nil",)
    ("ident", name, pos) ("sub", pipe, names, pos).  A chain's pos is that
    of its last ``.Name``, where Go reports its errors.
    """

    def __init__(self, src: str, funcs: dict):
        self.src, self.funcs = src, funcs
        self.items = _Lexer(src).run()
        self.i = 0
        self.scopes: list[list[str]] = [["$"]]
        self.loops = 0

    def error(self, msg: str, pos: int):
        line = self.src.count("\n", 0, pos) + 1
        raise TemplateError(f"template: :{line}: {msg}")

    def next(self):
        item = self.items[self.i]
        if item[0] == "error":
            self.error(item[1], item[2])
        self.i += 1
        return item

    def peek(self):
        return self.items[self.i]

    def next_nonspace(self):
        item = self.next()
        while item[0] == "space":
            item = self.next()
        return item

    def parse(self) -> list:
        body, stop = self.list_until(top=True)
        return body

    def list_until(self, top: bool = False):
        """Nodes up to {{end}} / {{else}} (or EOF at top level)."""
        body = []
        while True:
            kind, value, pos = self.next()
            if kind == "eof":
                if not top:
                    self.error("unexpected EOF", pos)
                return body, None
            if kind == "text":
                body.append(("text", value))
                continue
            node = self.action(pos)
            if node[0] in ("end", "else"):
                if top:
                    self.error(f"unexpected {{{{{node[0]}}}}}", pos)
                return body, node
            body.append(node)

    def action(self, start: int):
        kind, value, pos = self.next_nonspace()
        if kind == "ident" and value in _KEYWORDS:
            return self.keyword(value, pos)
        self.i -= 1
        return ("action", self.pipeline("command", pos))

    def keyword(self, word: str, pos: int):
        if word == "end":
            self.expect_rdelim("end")
            return ("end", pos)
        if word == "else":
            kind, value, at = self.next_nonspace()
            if kind == "ident" and value in ("if", "with"):
                return ("else", pos, value)
            self.i -= 1
            self.expect_rdelim("else")
            return ("else", pos, None)
        if word in ("if", "with", "range"):
            return self.control(word, pos)
        if word == "template":
            return self.template_call(pos)
        if word in ("break", "continue"):
            if not self.loops:
                self.error(f"{{{{{word}}}}} outside {{{{range}}}}", pos)
            self.expect_rdelim(word)
            return (word, pos)
        self.error(f"{{{{{word}}}}} is not supported", pos)

    def template_call(self, pos: int):
        """``{{template "name" [pipeline]}}``: parsed, and fails when run,
        since no template is ever defined here (as Go's, "not defined")."""
        kind, name, at = self.next_nonspace()
        if kind != "const" or not isinstance(name, str):
            self.error(f"unexpected {_describe(kind, name)} in template clause", at)
        kind, value, end = self.next_nonspace()
        if kind != "rdelim":
            self.i -= 1
            self.pipeline("template clause", pos)
            end = self.items[self.i - 1][2]
        text = self.src[pos:end].strip()
        return ("template", name, at, "{{" + text + "}}")

    def expect_rdelim(self, context: str):
        kind, value, pos = self.next_nonspace()
        if kind != "rdelim":
            self.error(f"unexpected {_describe(kind, value)} in {context}", pos)

    def control(self, word: str, pos: int):
        self.scopes.append([])
        pipe = self.pipeline(word, pos)
        self.loops += word == "range"
        body, stop = self.list_until()
        self.loops -= word == "range"
        else_body = []
        if stop[0] == "else":
            if stop[2] is not None:
                # "else if p" / "else with p": a nested control closing on our end
                else_body = [self.control(stop[2], stop[1])]
            else:
                else_body, stop = self.list_until()
                if stop[0] != "end":
                    self.error("expected end; found {{else}}", stop[1])
        self.scopes.pop()
        return (word, pipe, body, else_body, pos)

    def pipeline(self, context: str, pos: int) -> _Pipe:
        decl, assign = self.declarations(context)
        cmds = []
        while True:
            kind, value, at = self.next_nonspace()
            if kind in ("rdelim", "rparen"):
                if kind == "rparen" and context != "parenthesized pipeline":
                    self.error("unexpected right paren", at)
                if kind == "rdelim" and context == "parenthesized pipeline":
                    self.error("unclosed left paren", pos)
                if not cmds:
                    self.error(f"missing value for {context}", at)
                return _Pipe(decl, assign, cmds, pos)
            if kind not in ("const", "nil", "field", "var", "dot", "ident", "lparen"):
                self.error(f"unexpected {_describe(kind, value)} in {context}", at)
            self.i -= 1
            cmd = self.command()
            if cmds and cmd[0][0][0] in ("const", "nil", "dot"):
                self.error(f"non executable command in pipeline stage {len(cmds) + 1}", at)
            cmds.append(cmd)

    def declarations(self, context: str):
        """``$x :=`` / ``$x =`` / ``$i, $v :=`` (range only) before a pipeline."""
        save = self.i
        names = []
        while True:
            kind, value, pos = self.next_nonspace()
            if kind != "var":
                break
            names.append((value, pos))
            kind, value, pos = self.next_nonspace()
            if kind == "comma" and context == "range" and len(names) < 2:
                continue
            if kind in ("declare", "assign") and names:
                if kind == "declare":
                    self.scopes[-1].extend(n for n, _ in names)
                else:
                    for n, p in names:
                        self.check_var(n, p)
                return [n for n, _ in names], kind == "assign"
            break
        self.i = save
        return [], False

    def check_var(self, name: str, pos: int):
        if not any(name in scope for scope in self.scopes):
            self.error(f'undefined variable "{name}"', pos)

    def command(self) -> tuple:
        """Operands up to ``|``, ``)`` or ``}}``: (args, pos, src).

        A ``|`` with nothing after it ends the pipeline, as Go allows."""
        args = []
        start = self.peek()[2]
        while True:
            kind, value, pos = self.next()
            if kind == "space":
                continue
            if kind in ("rdelim", "rparen", "pipe"):
                if kind != "pipe":
                    self.i -= 1
                return (args, start, self.src[start:pos].strip())
            args.append(self.operand(kind, value, pos))

    def operand(self, kind: str, value, pos: int):
        if kind == "field":
            node = ("field", value, _last_segment(pos, value))
        elif kind == "dot":
            node = ("dot",)
        elif kind == "const":
            node = ("const", value, pos)
        elif kind == "nil":
            node = ("nil",)
        elif kind == "var":
            self.check_var(value, pos)
            node = ("var", value, [], pos)
        elif kind == "ident":
            if value in _KEYWORDS:
                self.error(f"unexpected <{value}> in operand", pos)
            if value not in self.funcs:
                self.error(f'function "{value}" not defined', pos)
            node = ("ident", value, pos)
        elif kind == "lparen":
            node = ("sub", self.pipeline("parenthesized pipeline", pos), [], pos)
        else:
            self.error(f"unexpected {_describe(kind, value)} in operand", pos)
        nxt = self.peek()
        if nxt[0] == "field":
            if node[0] not in ("var", "sub"):
                self.error(f"unexpected {_describe(*nxt[:2])} in operand", nxt[2])
            self.i += 1
            node = (node[0], node[1], node[2] + nxt[1], _last_segment(nxt[2], nxt[1]))
        return node


def _last_segment(pos: int, names: list[str]) -> int:
    """Where the last ``.Name`` of a chain starts: Go reports errors there."""
    return pos + sum(len(n) + 1 for n in names[:-1])


def _describe(kind: str, value) -> str:
    if kind == "eof":
        return "EOF"
    if kind == "rdelim":
        return "}}"
    if kind == "field":
        value = "." + ".".join(value)
    if kind == "ident" and value in _KEYWORDS:
        return f"<{value}>"
    if kind == "const" and not isinstance(value, str):
        return str(value).lower() if isinstance(value, bool) else str(value)
    text = str(value)
    return f'"{text}"' if len(text) <= 10 else f'"{text[:10]}"...'


# ------------------------------------------------------------- execution --

class _Break(Exception):
    pass


class _Continue(Exception):
    pass


class _HeaderRoot:
    """The dot while a table header is rendered: any field is a column name."""


_HEADER = _HeaderRoot()


def default_header(field: str) -> str:
    """Docker-like column name for a field: RunningFor -> RUNNING FOR."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", " ", field)
    return spaced.upper()


class _Exec:
    """One execution of a parsed template against one data value."""

    def __init__(self, src: str, root, headers: dict | None):
        self.src = src
        self.headers = headers
        self.funcs = FUNCS if headers is None else HEADER_FUNCS
        self.vars: list[tuple[str, object]] = [("$", root)]
        self.out: list[str] = []

    def error(self, pos: int, node: str, msg: str):
        line = self.src.count("\n", 0, pos) + 1
        col = pos - (self.src.rfind("\n", 0, pos) + 1)
        raise TemplateError(
            f'template: :{line}:{col}: executing "" at <{node}>: {msg}')

    def walk(self, dot, nodes: list):
        for node in nodes:
            kind = node[0]
            if kind == "text":
                self.out.append(node[1])
            elif kind == "action":
                value = self.pipe(dot, node[1])
                if not node[1].decl:
                    self.out.append(go_print(value))
            elif kind in ("if", "with"):
                mark = len(self.vars)
                value = self.pipe(dot, node[1])
                if truth(value):
                    self.walk(value if kind == "with" else dot, node[2])
                else:
                    self.walk(dot, node[3])
                del self.vars[mark:]
            elif kind == "range":
                self.range(dot, node)
            elif kind == "break":
                raise _Break()
            elif kind == "template":
                self.error(node[2], node[3], f'template "{node[1]}" not defined')
            else:
                raise _Continue()

    def range(self, dot, node):
        _, pipe, body, else_body, pos = node
        mark = len(self.vars)
        value = self.pipe(dot, pipe, declare=False)
        pairs = self.iterate(value, pos)
        if not pairs:
            self.walk(dot, else_body)
        for key, elem in pairs:
            del self.vars[mark:]
            if len(pipe.decl) == 2:
                self.vars += [(pipe.decl[0], key), (pipe.decl[1], elem)]
            elif pipe.decl:
                self.vars.append((pipe.decl[0], elem))
            try:
                self.walk(elem, body)
            except _Break:
                break
            except _Continue:
                continue
        del self.vars[mark:]

    def iterate(self, value, pos: int) -> list:
        if value is None or value is MISSING:
            return []
        if isinstance(value, dict):
            return [(k, value[k]) for k in sorted(value, key=str)]
        if isinstance(value, (list, tuple)):
            return list(enumerate(value))
        if isinstance(value, int) and not isinstance(value, bool):
            return [(i, i) for i in range(value)]
        if isinstance(value, str) and self.headers is not None:
            return []
        if hasattr(value, "__iter__") and not isinstance(value, str):
            return list(enumerate(value))
        self.error(pos, "range", f"range can't iterate over {go_print(value)}")

    def pipe(self, dot, pipe: _Pipe, declare: bool = True):
        value = _NOFINAL
        for cmd in pipe.cmds:
            value = self.command(dot, cmd, value)
        if declare:
            for name in pipe.decl:
                if pipe.assign:
                    at = max(i for i, (n, _) in enumerate(self.vars) if n == name)
                    self.vars[at] = (name, value)
                else:
                    self.vars.append((name, value))
        return value

    def variable(self, name: str):
        for var, value in reversed(self.vars):
            if var == name:
                return value
        raise TemplateError(f'template: undefined variable "{name}"')

    def command(self, dot, cmd: tuple, final):
        args, pos, src = cmd
        first, rest = args[0], args[1:]
        kind = first[0]
        if kind == "ident":
            return self.call(dot, first[1], rest, final, first[2], src)
        if kind == "field":
            return self.chain(dot, dot, first[1], rest, final, first[2])
        if kind in ("var", "sub"):
            base = (self.variable(first[1]) if kind == "var"
                    else self.pipe(dot, first[1]))
            if first[2]:
                return self.chain(dot, base, first[2], rest, final, first[3])
            value = base
        else:
            value = {"dot": dot, "const": first[1] if len(first) > 1 else None,
                     "nil": None}[kind]
            if kind == "nil":
                self.error(pos, "nil", "nil is not a command")
        if rest or final is not _NOFINAL:
            self.error(pos, src, f"can't give argument to non-function {src.split()[0]}")
        return value

    def arg(self, dot, node):
        kind = node[0]
        if kind == "dot":
            return dot
        if kind == "const":
            return node[1]
        if kind == "nil":
            return None
        if kind == "field":
            return self.chain(dot, dot, node[1], [], _NOFINAL, node[2])
        if kind == "ident":
            return self.call(dot, node[1], [], _NOFINAL, node[2], node[1])
        base = self.variable(node[1]) if kind == "var" else self.pipe(dot, node[1])
        return self.chain(dot, base, node[2], [], _NOFINAL, node[3]) if node[2] else base

    def call(self, dot, name: str, args: list, final, pos: int, src: str):
        function, low, high = self.funcs[name]
        for node, want in zip(args, PARAMS.get(name, ())):
            if node[0] == "const" and want and not is_kind(node[1], want):
                shown = json_string(node[1]) if isinstance(node[1], str) else go_print(node[1])
                self.error(node[2], shown, f"expected {want}; found {shown}")
        values = [self.arg(dot, a) for a in args]
        if final is not _NOFINAL:
            values.append(final)
        if len(values) < low or (high is not None and len(values) > high):
            want = f"at least {low}" if high is None else str(low)
            self.error(pos, name, f"wrong number of args for {name}: want {want} got {len(values)}")
        try:
            return function(*values)
        except (TemplateError, _Break, _Continue):
            raise
        except ArgError as exc:
            self.error(pos, src, str(exc))
        except Exception as exc:
            self.error(pos, src, f"error calling {name}: {exc}")

    def chain(self, dot, receiver, names: list, args: list, final, pos: int):
        text = "." + ".".join(names)
        if isinstance(receiver, _HeaderRoot):
            joined = ".".join(names)
            return self.headers.get(joined) or default_header(names[-1])
        values = [self.arg(dot, a) for a in args]
        if final is not _NOFINAL:
            values.append(final)
        for i, name in enumerate(names):
            last = i == len(names) - 1
            receiver = self.field(receiver, name, values if last else [], pos, text)
        return receiver

    def field(self, receiver, name: str, args: list, pos: int, text: str):
        if isinstance(receiver, dict):
            if name not in receiver:
                if args:
                    self.error(pos, text, f"{name} is not a method but has arguments")
                return MISSING
            value = receiver[name]
        elif receiver is None or receiver is MISSING:
            self.error(pos, text, f"nil pointer evaluating interface {{}}.{name}")
        elif isinstance(receiver, (str, int, float, list, tuple)) or name.startswith("_"):
            self.error(pos, text, f"can't evaluate field {name} in type {type_name(receiver)}")
        else:
            try:
                value = getattr(receiver, name)
            except AttributeError:
                self.error(pos, text, f"can't evaluate field {name} in type {type_name(receiver)}")
        if callable(value) and not isinstance(value, type):
            try:
                return value(*args)
            except (TemplateError, _Break, _Continue):
                raise
            except Exception as exc:
                self.error(pos, text, f"error calling {name}: {exc}")
        if args:
            self.error(pos, text, f"{name} is not a method but has arguments")
        return value


class Template:
    """A parsed template; parse once, execute per row."""

    def __init__(self, src: str):
        self.src = src
        self.tree = _Parser(src, FUNCS).parse()

    def execute(self, data) -> str:
        run = _Exec(self.src, data, None)
        try:
            run.walk(data, self.tree)
        except (_Break, _Continue):
            pass
        return "".join(run.out)

    def execute_header(self, headers: dict[str, str]) -> str:
        """The header row: each field shows its column name.

        Like Docker, an execution error here is not fatal: the header is
        what was written before it.
        """
        run = _Exec(self.src, _HEADER, headers)
        try:
            run.walk(_HEADER, self.tree)
        except (TemplateError, _Break, _Continue):
            pass
        return "".join(run.out)