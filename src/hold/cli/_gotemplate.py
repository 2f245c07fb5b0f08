"""A Go text/template subset, as Docker's ``--format`` flag uses it.

Private to ``hold.cli.formatting``, which is the public face.  The module is
imported only when a command is given ``--format`` (or prints a table), and
imports nothing but ``re``.

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

from __future__ import annotations

import re

__all__ = ["TemplateError", "Template", "MISSING", "go_print", "go_json"]


class TemplateError(Exception):
    """A parse or execution error, worded as Go's text/template words it."""


class _Missing:
    """A map key that is not there (Go's invalid reflect.Value)."""

    def __repr__(self) -> str:
        return "<no value>"

    def __bool__(self) -> bool:
        return False


MISSING = _Missing()
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
                    self.error(f"expected end; found {{{{else}}}}", stop[1])
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


# -------------------------------------------------------------- printing --

def _go_float(value: float, exp_low: float, exp_high: int, json_mode: bool) -> str:
    """strconv.FormatFloat(v, 'g', -1, 64) (fmt's %v) or encoding/json's."""
    if value != value:
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "0"
    sign = "-" if value < 0 else ""
    mant, _, exp = repr(abs(value)).partition("e")
    whole, _, frac = mant.partition(".")
    digits = whole + frac
    point = len(whole) + (int(exp) if exp else 0)
    stripped = digits.lstrip("0")
    point -= len(digits) - len(stripped)
    digits = stripped.rstrip("0") or "0"
    e = point - 1
    if (json_mode and (abs(value) < exp_low or abs(value) >= 1e21)) or \
            (not json_mode and (e < -4 or e >= exp_high)):
        body = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        width = 1 if json_mode else 2
        return f"{sign}{body}e{'-' if e < 0 else '+'}{abs(e):0{width}d}"
    if point <= 0:
        return f"{sign}0.{'0' * -point}{digits}"
    if point >= len(digits):
        return sign + digits + "0" * (point - len(digits))
    return f"{sign}{digits[:point]}.{digits[point:]}"


def go_print(value) -> str:
    """fmt.Sprint of one value, as a template action prints it."""
    if isinstance(value, str):
        return value
    if value is MISSING:
        return "<no value>"
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _go_float(value, 0, 6, False)
    if isinstance(value, dict):
        inner = " ".join(f"{go_print(k)}:{go_print(v)}"
                         for k, v in sorted(value.items(), key=lambda kv: str(kv[0])))
        return f"map[{inner}]"
    if isinstance(value, (list, tuple)):
        return "[" + " ".join(go_print(v) for v in value) + "]"
    return str(value)


_JSON_FIX = re.compile(r"(\\\\)|\\b|\\f|\u2028|\u2029")


def _json_str(text: str) -> str:
    import json
    encoded = json.dumps(text, ensure_ascii=False)

    def fix(m: re.Match) -> str:
        if m.group(1):
            return m.group(1)
        return {"\\b": "\\u0008", "\\f": "\\u000c",
                "\u2028": "\\u2028", "\u2029": "\\u2029"}[m.group()]
    return _JSON_FIX.sub(fix, encoded)


def go_json(value) -> str:
    """Go's encoding/json with HTML escaping off: compact, map keys sorted."""
    if value is None or value is MISSING:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise TemplateError(f"json: unsupported value: {go_print(value)}")
        return _go_float(value, 1e-6, 21, True)
    if isinstance(value, str):
        return _json_str(value)
    if isinstance(value, dict):
        items = sorted((str(k), v) for k, v in value.items() if not callable(v))
        return "{" + ",".join(f"{_json_str(k)}:{go_json(v)}" for k, v in items) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(go_json(v) for v in value) + "]"
    if isinstance(value, (bytes, bytearray)):
        import base64
        return '"' + base64.b64encode(value).decode() + '"'
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict):
        return go_json(to_dict())
    if hasattr(value, "isoformat"):
        return _json_str(value.isoformat().replace("+00:00", "Z"))
    if hasattr(value, "__dict__"):
        return go_json({k: v for k, v in vars(value).items()
                        if not k.startswith("_") and not callable(v)})
    return _json_str(str(value))


# ------------------------------------------------------------- functions --

class _ArgError(Exception):
    """A function refused its arguments; reported without "error calling"."""


def _want_str(value) -> str:
    if isinstance(value, str):
        return value
    raise _ArgError(f"wrong type for value; expected string; got {_type_name(value)}")


def _want_int(value) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise _ArgError(f"wrong type for value; expected int; got {_type_name(value)}")


def _type_name(value) -> str:
    if value is None or value is MISSING:
        return "<nil>"
    names = {bool: "bool", int: "int", float: "float64", str: "string",
             list: "[]interface {}", tuple: "[]interface {}",
             dict: "map[string]interface {}"}
    return names.get(type(value), type(value).__name__)


def _title(text: str) -> str:
    """Go's strings.Title: upper-case the first letter of each word."""
    out, after_sep = [], True
    for ch in _want_str(text):
        out.append(ch.upper() if after_sep else ch)
        if ch.isascii():
            after_sep = not (ch.isalnum() or ch == "_")
        else:
            after_sep = ch.isspace()
    return "".join(out)


def _join(items, sep) -> str:
    if not isinstance(items, (list, tuple)):
        raise _ArgError(f"wrong type for value; expected []string; got {_type_name(items)}")
    return _want_str(sep).join(go_print(i) for i in items)


def _split(text, sep) -> list:
    text, sep = _want_str(text), _want_str(sep)
    return list(text) if sep == "" else text.split(sep)


def _pad(text, prefix, suffix) -> str:
    text = _want_str(text)
    if not text:
        return text
    return " " * _want_int(prefix) + text + " " * _want_int(suffix)


def _truncate(text, length) -> str:
    text, length = _want_str(text), _want_int(length)
    return text if len(text) < length else text[:length]


def _sprint(*values) -> str:
    out = []
    for i, value in enumerate(values):
        if i and not isinstance(value, str) and not isinstance(values[i - 1], str):
            out.append(" ")
        out.append(go_print(value))
    return "".join(out)


def _len(value) -> int:
    if isinstance(value, (str, list, tuple, dict)):
        return len(value)
    raise ValueError(f"len of type {_type_name(value)}")


def _index(item, *keys):
    for key in keys:
        if isinstance(item, dict):
            item = item.get(key, "")
        elif isinstance(item, (list, tuple, str)):
            key = _want_int(key)
            if not 0 <= key < len(item):
                raise ValueError(f"index out of range: {key}")
            item = item[key]
        elif item is None or item is MISSING:
            raise ValueError("index of untyped nil")
        else:
            raise ValueError(f"can't index item of type {_type_name(item)}")
    return item


def _slice(item, *bounds):
    if not isinstance(item, (str, list, tuple)):
        raise ValueError(f"can't slice item of type {_type_name(item)}")
    if len(bounds) > 2:
        raise ValueError("too many slice indexes: %d" % len(bounds))
    idx = [_want_int(b) for b in bounds]
    lo, hi = (idx + [0, len(item)][len(idx):])[:2] if idx else (0, len(item))
    if not 0 <= lo <= hi <= len(item):
        raise ValueError(f"index out of range: {hi if hi > len(item) else lo}")
    return item[lo:hi]


def _kind(value) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    return "nil" if value is None or value is MISSING else "other"


def _eq(first, *others) -> bool:
    if not others:
        raise ValueError("missing argument for comparison")
    for other in others:
        if _kind(first) != _kind(other) and "nil" not in (_kind(first), _kind(other)):
            raise ValueError("incompatible types for comparison")
        if first == other:
            return True
    return False


def _ordered(op):
    def compare(a, b) -> bool:
        if _kind(a) != _kind(b):
            raise ValueError("incompatible types for comparison")
        if _kind(a) not in ("int", "float", "string"):
            raise ValueError("invalid type for comparison")
        return op(a, b)
    return compare


def _and(*values):
    for value in values:
        if not truth(value):
            return value
    return values[-1]


def _or(*values):
    for value in values:
        if truth(value):
            return value
    return values[-1]


_VERB = re.compile(r"%([-+# 0]*)(\d+)?(?:\.(\d+))?([a-zA-Z%])")


def _sprintf(fmt, *args) -> str:
    """fmt.Sprintf for the verbs people use in templates."""
    args, used = list(args), [0]

    def one(m: re.Match) -> str:
        flags, width, prec, verb = m.groups()
        if verb == "%":
            return "%"
        if used[0] >= len(args):
            return f"%!{verb}(MISSING)"
        value = args[used[0]]
        used[0] += 1
        text = _format_verb(value, verb, prec)
        if width and len(text) < int(width):
            if "-" in flags:
                text = text.ljust(int(width))
            elif "0" in flags and verb in "dfegxX":
                sign = text[0] if text[:1] in "+-" else ""
                text = sign + text[len(sign):].rjust(int(width) - len(sign), "0")
            else:
                text = text.rjust(int(width))
        return text
    out = _VERB.sub(one, _want_str(fmt))
    if used[0] < len(args):
        extra = ", ".join(f"{_type_name(a)}={go_print(a)}" for a in args[used[0]:])
        out += f"%!(EXTRA {extra})"
    return out


def _format_verb(value, verb: str, prec: str | None) -> str:
    bad = f"%!{verb}({_type_name(value)}={go_print(value)})"
    if verb in "vs":
        text = go_print(value)
        return text[:int(prec)] if prec and verb == "s" else text
    if verb == "q":
        return _json_str(go_print(value)) if not isinstance(value, int) else repr(chr(value))
    if verb == "t":
        return go_print(value) if isinstance(value, bool) else bad
    if verb in "dxXoc":
        if isinstance(value, str) and verb in "xX":
            hexed = value.encode().hex()
            return hexed.upper() if verb == "X" else hexed
        if not isinstance(value, int) or isinstance(value, bool):
            return bad
        return chr(value) if verb == "c" else format(value, verb)
    if verb in "feEgG":
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            return bad
        if verb in "gG" and prec is None:
            return _go_float(float(value), 0, 6, False)
        return format(float(value), f".{6 if prec is None else prec}{verb}")
    return f"%!{verb}({_type_name(value)}={go_print(value)})"


# name: (function, min args, max args or None)
FUNCS = {
    "json": (go_json, 1, 1), "split": (_split, 2, 2), "join": (_join, 2, 2),
    "title": (_title, 1, 1), "lower": (lambda s: _want_str(s).lower(), 1, 1),
    "upper": (lambda s: _want_str(s).upper(), 1, 1), "pad": (_pad, 3, 3),
    "truncate": (_truncate, 2, 2),
    "println": (lambda *a: " ".join(go_print(v) for v in a) + "\n", 0, None),
    "print": (_sprint, 0, None), "printf": (_sprintf, 1, None),
    "len": (_len, 1, 1), "index": (_index, 1, None), "slice": (_slice, 1, None),
    "eq": (_eq, 1, None), "ne": (lambda a, b: not _eq(a, b), 2, 2),
    "lt": (_ordered(lambda a, b: a < b), 2, 2),
    "le": (_ordered(lambda a, b: a <= b), 2, 2),
    "gt": (_ordered(lambda a, b: a > b), 2, 2),
    "ge": (_ordered(lambda a, b: a >= b), 2, 2),
    "and": (_and, 1, None), "or": (_or, 1, None),
    "not": (lambda v: not truth(v), 1, 1),
}

# Docker renders a table's header with these in place of the formatting
# functions, so the header keeps the column's name (pad stays, to align).
_HEADER_FUNCS = dict(FUNCS)
for _name in ("json", "split", "join", "title", "lower", "upper", "truncate", "index"):
    _HEADER_FUNCS[_name] = (lambda first, *rest: first, FUNCS[_name][1], FUNCS[_name][2])


# Go's declared parameter types of Docker's functions, checked for constants
# ("expected string; found 3"); other values are checked when called.
_PARAMS = {
    "split": ("string", "string"), "join": (None, "string"), "title": ("string",),
    "lower": ("string",), "upper": ("string",), "pad": ("string", "integer", "integer"),
    "truncate": ("string", "integer"), "printf": ("string",),
}


def _is_kind(value, want: str) -> bool:
    if want == "string":
        return isinstance(value, str)
    return isinstance(value, int) and not isinstance(value, bool)


def truth(value) -> bool:
    """Go's notion of a true value for if/with/and/or/not."""
    if value is None or value is MISSING:
        return False
    if isinstance(value, (bool, int, float, str, list, tuple, dict)):
        return bool(value)
    return True


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
        self.funcs = FUNCS if headers is None else _HEADER_FUNCS
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
        for node, want in zip(args, _PARAMS.get(name, ())):
            if node[0] == "const" and want and not _is_kind(node[1], want):
                shown = _json_str(node[1]) if isinstance(node[1], str) else go_print(node[1])
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
        except _ArgError as exc:
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
            self.error(pos, text, f"can't evaluate field {name} in type {_type_name(receiver)}")
        else:
            try:
                value = getattr(receiver, name)
            except AttributeError:
                self.error(pos, text, f"can't evaluate field {name} in type {_type_name(receiver)}")
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
