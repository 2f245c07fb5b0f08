"""More aggregation expression operators: math, strings, dates, arrays,
objects, sets and control flow.  Registered into ``_expressions``' table
when that module loads; semantics follow MongoDB's (null or missing in,
null out, unless the operator says otherwise).
"""

from __future__ import annotations

import datetime
import math
import random
import re
from typing import Any, Callable

from bson.decimal128 import Decimal128

from holddb.errors import MongoError
from holddb.query._expressions import Expr, _nary, _to_str, compile_expression, truthy
from holddb.query._values import MISSING, is_number, values_equal

__all__ = ["OPERATORS"]


def _nullish(value: Any) -> bool:
    return value is None or value is MISSING


def _math(fn: Callable[..., Any], name: str) -> Callable[[Any], Expr]:
    def run(values: list) -> Any:
        if any(_nullish(v) for v in values):
            return None
        for v in values:
            if not is_number(v):
                raise MongoError(28765, f"{name} only supports numeric types")
        nums = [float(v.to_decimal()) if isinstance(v, Decimal128) else v for v in values]
        return fn(*nums)
    return _nary(run)


def _round(mode: str) -> Callable[[Any], Expr]:
    def run(values: list) -> Any:
        value = values[0]
        places = int(values[1]) if len(values) > 1 and values[1] is not None else 0
        if _nullish(value):
            return None
        factor = 10 ** places
        if mode == "round":
            result = round(value * factor) / factor if places else round(value)
        else:
            result = math.trunc(value * factor) / factor if places else math.trunc(value)
        return int(result) if isinstance(value, int) and places <= 0 else result
    return _nary(run)


def _date_part(part: str) -> Callable[[Any], Expr]:
    def factory(arg: Any) -> Expr:
        plain = not (isinstance(arg, dict) and "date" in arg)
        date_expr = compile_expression(arg if plain else arg["date"])

        def run(doc: Any, vars: dict | None = None) -> Any:
            value = date_expr(doc, vars)
            if _nullish(value):
                return None
            if not isinstance(value, datetime.datetime):
                raise MongoError(16006, "can't convert from BSON type to Date")
            return {"year": value.year, "month": value.month, "dayOfMonth": value.day,
                    "hour": value.hour, "minute": value.minute, "second": value.second,
                    "millisecond": value.microsecond // 1000,
                    "dayOfWeek": (value.isoweekday() % 7) + 1,
                    "dayOfYear": value.timetuple().tm_yday,
                    "week": int(value.strftime("%U"))}[part]
        return run
    return factory


_DATE_FORMAT = {"%Y": "%Y", "%m": "%m", "%d": "%d", "%H": "%H", "%M": "%M", "%S": "%S",
                "%j": "%j", "%%": "%%"}


def _date_to_string(arg: Any) -> Expr:
    date_expr = compile_expression(arg.get("date"))
    fmt = arg.get("format", "%Y-%m-%dT%H:%M:%S.%LZ")

    def run(doc: Any, vars: dict | None = None) -> Any:
        value = date_expr(doc, vars)
        if _nullish(value):
            return arg.get("onNull")
        millis = f"{value.microsecond // 1000:03d}"
        return value.strftime(fmt.replace("%L", millis))
    return run


def _to_date(values: list) -> Any:
    value = values[0]
    if _nullish(value):
        return None
    if isinstance(value, datetime.datetime):
        return value
    if is_number(value):
        return datetime.datetime(1970, 1, 1) + datetime.timedelta(milliseconds=float(value))
    if isinstance(value, str):
        try:
            parsed = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError as exc:
            raise MongoError(241, f"Error parsing date string '{value}'") from exc
        if parsed.tzinfo is not None:
            parsed = parsed.astimezone(datetime.timezone.utc).replace(tzinfo=None)
        return parsed
    if hasattr(value, "generation_time"):
        return value.generation_time.replace(tzinfo=None)
    raise MongoError(241, "can't convert value to a date")


def _trim(kind: str) -> Callable[[Any], Expr]:
    def factory(arg: Any) -> Expr:
        source = compile_expression(arg.get("input"))
        chars = compile_expression(arg.get("chars")) if "chars" in arg else None

        def run(doc: Any, vars: dict | None = None) -> Any:
            value = source(doc, vars)
            if _nullish(value):
                return None
            strip = chars(doc, vars) if chars else None
            return {"$trim": value.strip, "$ltrim": value.lstrip, "$rtrim": value.rstrip}[kind](strip)
        return run
    return factory


def _regex_op(kind: str) -> Callable[[Any], Expr]:
    def factory(arg: Any) -> Expr:
        source = compile_expression(arg.get("input"))
        pattern = arg.get("regex")
        flags = 0
        for char in arg.get("options", "") or "":
            flags |= {"i": re.I, "m": re.M, "s": re.S, "x": re.X}.get(char, 0)
        regex = re.compile(pattern.pattern if hasattr(pattern, "pattern") else pattern, flags)

        def run(doc: Any, vars: dict | None = None) -> Any:
            value = source(doc, vars)
            if _nullish(value):
                return False if kind == "$regexMatch" else None
            match = regex.search(value)
            if kind == "$regexMatch":
                return match is not None
            if match is None:
                return None
            return {"match": match.group(0), "idx": match.start(),
                    "captures": list(match.groups())}
        return run
    return factory


def _replace(kind: str) -> Callable[[Any], Expr]:
    def factory(arg: Any) -> Expr:
        parts = [compile_expression(arg.get(k)) for k in ("input", "find", "replacement")]

        def run(doc: Any, vars: dict | None = None) -> Any:
            value, find, repl = (p(doc, vars) for p in parts)
            if any(_nullish(v) for v in (value, find, repl)):
                return None
            return value.replace(find, repl, 1 if kind == "$replaceOne" else -1)
        return run
    return factory


def _switch(arg: Any) -> Expr:
    branches = [(compile_expression(b["case"]), compile_expression(b["then"]))
                for b in arg.get("branches", [])]
    default = compile_expression(arg["default"]) if "default" in arg else None

    def run(doc: Any, vars: dict | None = None) -> Any:
        for case, then in branches:
            if truthy(case(doc, vars)):
                return then(doc, vars)
        if default is None:
            raise MongoError(40066, "$switch could not find a matching branch for an input, "
                                    "and no default was specified.")
        return default(doc, vars)
    return run


def _reduce(arg: Any) -> Expr:
    source = compile_expression(arg.get("input"))
    initial = compile_expression(arg.get("initialValue"))
    body = compile_expression(arg.get("in"))

    def run(doc: Any, vars: dict | None = None) -> Any:
        items = source(doc, vars)
        if _nullish(items):
            return None
        value = initial(doc, vars)
        for item in items:
            value = body(doc, {**(vars or {}), "this": item, "value": value})
        return value
    return run


def _slice(values: list) -> Any:
    array = values[0]
    if _nullish(array):
        return None
    if len(values) == 2:
        n = int(values[1])
        return array[:n] if n >= 0 else array[n:]
    start, n = int(values[1]), int(values[2])
    start = start if start >= 0 else max(0, len(array) + start)
    return array[start:start + n]


def _index_of_array(values: list) -> Any:
    array, item = values[0], values[1]
    if _nullish(array):
        return None
    start = int(values[2]) if len(values) > 2 else 0
    end = int(values[3]) if len(values) > 3 else len(array)
    for i in range(start, min(end, len(array))):
        if values_equal(array[i], item):
            return i
    return -1


def _set_op(kind: str) -> Callable[[list], Any]:
    def unique(items: list) -> list:
        out: list = []
        for item in items:
            if not any(values_equal(item, o) for o in out):
                out.append(item)
        return out

    def run(values: list) -> Any:
        if any(_nullish(v) for v in values):
            return None
        first = unique(values[0])
        if kind == "$setUnion":
            return unique([e for v in values for e in v])
        if kind == "$setIntersection":
            return [e for e in first if all(any(values_equal(e, o) for o in v) for v in values[1:])]
        if kind == "$setDifference":
            return [e for e in first if not any(values_equal(e, o) for o in values[1])]
        if kind == "$setEquals":
            sets = [unique(v) for v in values]
            return all(len(s) == len(first) and all(any(values_equal(e, o) for o in first)
                                                    for e in s) for s in sets)
        return all(any(values_equal(e, o) for o in values[1]) for e in first)  # $setIsSubset
    return run


def _merge_objects(values: list) -> Any:
    if len(values) == 1 and isinstance(values[0], list):
        values = values[0]
    out: dict = {}
    for value in values:
        if isinstance(value, dict):
            out.update(value)
    return out


def _get_field(arg: Any) -> Expr:
    spec = arg if isinstance(arg, dict) and "field" in arg else {"field": arg}
    field = compile_expression(spec.get("field"))
    source = compile_expression(spec.get("input", "$$CURRENT"))

    def run(doc: Any, vars: dict | None = None) -> Any:
        base = source(doc, vars)
        return base.get(field(doc, vars), MISSING) if isinstance(base, dict) else MISSING
    return run


def _set_field(kind: str) -> Callable[[Any], Expr]:
    """``$setField``/``$unsetField``: one field named literally (dots and
    dollars included), on a copy of ``input``."""
    def factory(arg: Any) -> Expr:
        field = compile_expression(arg.get("field"))
        source = compile_expression(arg.get("input"))
        value = compile_expression(arg.get("value")) if kind == "$setField" else None

        def run(doc: Any, vars: dict | None = None) -> Any:
            name, base = field(doc, vars), source(doc, vars)
            if _nullish(base):
                return None
            if not isinstance(name, str) or not isinstance(base, dict):
                raise MongoError(4161102, f"{kind} requires 'field' to be a string and "
                                          "'input' to be an object")
            out = dict(base)
            new = value(doc, vars) if value is not None else MISSING
            if new is MISSING:
                out.pop(name, None)
            else:
                out[name] = new
            return out
        return run
    return factory


def _str_case_cmp(values: list) -> Any:
    a, b = (_to_str(v) or "" for v in values)
    a, b = a.upper(), b.upper()
    return (a > b) - (a < b)


def _split(values: list) -> Any:
    if _nullish(values[0]):
        return None
    return values[0].split(values[1])


def _index_of_cp(values: list) -> Any:
    if _nullish(values[0]):
        return None
    start = int(values[2]) if len(values) > 2 else 0
    end = int(values[3]) if len(values) > 3 else len(values[0])
    return values[0].find(values[1], start, end)


def _convert(arg: Any) -> Expr:
    from holddb.query._expressions import _OPERATORS as table
    source = compile_expression(arg.get("input"))
    target = arg.get("to")
    names = {"string": "$toString", "int": "$toInt", "long": "$toLong", "double": "$toDouble",
             "bool": "$toBool", "objectId": "$toObjectId", "date": "$toDate"}
    if target not in names:
        raise MongoError(2, f"$convert to {target!r} is not supported by holddb")
    convert = table[names[target]]("$$convert_input")

    def run(doc: Any, vars: dict | None = None) -> Any:
        value = source(doc, vars)
        if _nullish(value):
            return arg.get("onNull")
        try:
            return convert(doc, {**(vars or {}), "convert_input": value})
        except MongoError:
            if "onError" in arg:
                return arg["onError"]
            raise
    return run


OPERATORS: dict[str, Callable[[Any], Expr]] = {
    "$floor": _math(math.floor, "$floor"), "$ceil": _math(math.ceil, "$ceil"),
    "$sqrt": _math(math.sqrt, "$sqrt"), "$exp": _math(math.exp, "$exp"),
    "$ln": _math(math.log, "$ln"), "$log10": _math(math.log10, "$log10"),
    "$log": _math(lambda x, b: math.log(x, b), "$log"),
    "$pow": _math(lambda x, y: x ** y, "$pow"),
    "$round": _round("round"), "$trunc": _round("trunc"),
    "$year": _date_part("year"), "$month": _date_part("month"),
    "$dayOfMonth": _date_part("dayOfMonth"), "$hour": _date_part("hour"),
    "$minute": _date_part("minute"), "$second": _date_part("second"),
    "$millisecond": _date_part("millisecond"), "$dayOfWeek": _date_part("dayOfWeek"),
    "$dayOfYear": _date_part("dayOfYear"), "$week": _date_part("week"),
    "$dateToString": _date_to_string,
    "$toDate": _nary(_to_date),
    "$trim": _trim("$trim"), "$ltrim": _trim("$ltrim"), "$rtrim": _trim("$rtrim"),
    "$regexMatch": _regex_op("$regexMatch"), "$regexFind": _regex_op("$regexFind"),
    "$replaceOne": _replace("$replaceOne"), "$replaceAll": _replace("$replaceAll"),
    "$split": _nary(_split),
    "$strcasecmp": _nary(_str_case_cmp),
    "$indexOfCP": _nary(_index_of_cp), "$indexOfBytes": _nary(_index_of_cp),
    "$switch": _switch,
    "$reduce": _reduce,
    "$slice": _nary(_slice),
    "$reverseArray": _nary(lambda v: None if _nullish(v[0]) else list(reversed(v[0]))),
    "$range": _nary(lambda v: list(range(int(v[0]), int(v[1]), int(v[2]) if len(v) > 2 else 1))),
    "$indexOfArray": _nary(_index_of_array),
    "$arrayToObject": _nary(lambda v: None if _nullish(v[0]) else {
        (e["k"] if isinstance(e, dict) else e[0]): (e["v"] if isinstance(e, dict) else e[1])
        for e in v[0]}),
    "$objectToArray": _nary(lambda v: None if _nullish(v[0]) else [
        {"k": k, "v": val} for k, val in v[0].items()]),
    "$mergeObjects": _nary(_merge_objects),
    "$getField": _get_field,
    "$setField": _set_field("$setField"),
    "$unsetField": _set_field("$unsetField"),
    "$rand": lambda arg: (lambda doc, vars=None: random.random()),
    "$setUnion": _nary(_set_op("$setUnion")),
    "$setIntersection": _nary(_set_op("$setIntersection")),
    "$setDifference": _nary(_set_op("$setDifference")),
    "$setEquals": _nary(_set_op("$setEquals")),
    "$setIsSubset": _nary(_set_op("$setIsSubset")),
    "$allElementsTrue": _nary(lambda v: all(truthy(e) for e in v[0])),
    "$anyElementTrue": _nary(lambda v: any(truthy(e) for e in v[0])),
    "$convert": _convert,
}
