"""Go's view of values for the template engine: how fmt prints them, how
encoding/json encodes them, what counts as true.

Private to ``hold.cli``; see ``_gotemplate`` for the engine.
"""

from __future__ import annotations

import re

__all__ = ["TemplateError", "MISSING", "go_print", "go_json", "go_float", "json_string",
           "truth", "type_name"]


class TemplateError(Exception):
    """A parse or execution error, worded as Go's text/template words it."""


class _Missing:
    """A map key that is not there (Go's invalid reflect.Value)."""

    def __repr__(self) -> str:
        return "<no value>"

    def __bool__(self) -> bool:
        return False


MISSING = _Missing()

def go_float(value: float, exp_low: float, exp_high: int, json_mode: bool) -> str:
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
        return go_float(value, 0, 6, False)
    if isinstance(value, dict):
        inner = " ".join(f"{go_print(k)}:{go_print(v)}"
                         for k, v in sorted(value.items(), key=lambda kv: str(kv[0])))
        return f"map[{inner}]"
    if isinstance(value, (list, tuple)):
        return "[" + " ".join(go_print(v) for v in value) + "]"
    return str(value)


_JSON_FIX = re.compile(r"(\\\\)|\\b|\\f|\u2028|\u2029")


def json_string(text: str) -> str:
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
        return go_float(value, 1e-6, 21, True)
    if isinstance(value, str):
        return json_string(value)
    if isinstance(value, dict):
        items = sorted((str(k), v) for k, v in value.items() if not callable(v))
        return "{" + ",".join(f"{json_string(k)}:{go_json(v)}" for k, v in items) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(go_json(v) for v in value) + "]"
    if isinstance(value, (bytes, bytearray)):
        import base64
        return '"' + base64.b64encode(value).decode() + '"'
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict):
        return go_json(to_dict())
    if hasattr(value, "isoformat"):
        return json_string(value.isoformat().replace("+00:00", "Z"))
    if hasattr(value, "__dict__"):
        return go_json({k: v for k, v in vars(value).items()
                        if not k.startswith("_") and not callable(v)})
    return json_string(str(value))


def type_name(value) -> str:
    if value is None or value is MISSING:
        return "<nil>"
    names = {bool: "bool", int: "int", float: "float64", str: "string",
             list: "[]interface {}", tuple: "[]interface {}",
             dict: "map[string]interface {}"}
    return names.get(type(value), type(value).__name__)


def truth(value) -> bool:
    """Go's notion of a true value for if/with/and/or/not."""
    if value is None or value is MISSING:
        return False
    if isinstance(value, (bool, int, float, str, list, tuple, dict)):
        return bool(value)
    return True
