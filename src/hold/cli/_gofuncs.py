"""The functions a ``--format`` template can call: Docker's (json split join
title lower upper pad truncate) and Go's builtins (and or not len index
slice print printf println eq ne lt le gt ge), with Go's argument rules.

Private to ``hold.cli``; see ``_gotemplate`` for the engine.  ``FUNCS``
maps a name to (function, least args, most args or None); ``HEADER_FUNCS``
is the set a table header is rendered with (formatting functions give back
their first argument, so the header keeps the column's name).
"""

from __future__ import annotations

import re

from hold.cli._govalues import MISSING, go_float, json_string, go_json, go_print, truth, type_name

__all__ = ["FUNCS", "HEADER_FUNCS", "PARAMS", "ArgError", "is_kind"]


class ArgError(Exception):
    """A function refused its arguments; reported without "error calling"."""


def _want_str(value) -> str:
    if isinstance(value, str):
        return value
    raise ArgError(f"wrong type for value; expected string; got {type_name(value)}")


def _want_int(value) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise ArgError(f"wrong type for value; expected int; got {type_name(value)}")


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
        raise ArgError(f"wrong type for value; expected []string; got {type_name(items)}")
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
    raise ValueError(f"len of type {type_name(value)}")


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
            raise ValueError(f"can't index item of type {type_name(item)}")
    return item


def _slice(item, *bounds):
    if not isinstance(item, (str, list, tuple)):
        raise ValueError(f"can't slice item of type {type_name(item)}")
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
        extra = ", ".join(f"{type_name(a)}={go_print(a)}" for a in args[used[0]:])
        out += f"%!(EXTRA {extra})"
    return out


def _format_verb(value, verb: str, prec: str | None) -> str:
    bad = f"%!{verb}({type_name(value)}={go_print(value)})"
    if verb in "vs":
        text = go_print(value)
        return text[:int(prec)] if prec and verb == "s" else text
    if verb == "q":
        return json_string(go_print(value)) if not isinstance(value, int) else repr(chr(value))
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
            return go_float(float(value), 0, 6, False)
        return format(float(value), f".{6 if prec is None else prec}{verb}")
    return f"%!{verb}({type_name(value)}={go_print(value)})"


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
HEADER_FUNCS = dict(FUNCS)
for _name in ("json", "split", "join", "title", "lower", "upper", "truncate", "index"):
    HEADER_FUNCS[_name] = (lambda first, *rest: first, FUNCS[_name][1], FUNCS[_name][2])


# Go's declared parameter types of Docker's functions, checked for constants
# ("expected string; found 3"); other values are checked when called.
PARAMS = {
    "split": ("string", "string"), "join": (None, "string"), "title": ("string",),
    "lower": ("string",), "upper": ("string",), "pad": ("string", "integer", "integer"),
    "truncate": ("string", "integer"), "printf": ("string",),
}


def is_kind(value, want: str) -> bool:
    if want == "string":
        return isinstance(value, str)
    return isinstance(value, int) and not isinstance(value, bool)
