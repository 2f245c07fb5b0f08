"""Aggregation expressions: ``compile_expression(spec)`` -> ``fn(doc, vars)``.

Forms: ``"$path"`` (field path of the current document), ``"$$VAR"`` /
``"$$VAR.path"`` (ROOT, CURRENT, REMOVE, NOW and ``$let``/``$map``/``$filter``
variables), ``{$op: args}`` operator calls, documents of expressions, arrays
of expressions, and literals.  Missing values evaluate to :data:`MISSING`;
arithmetic on null or missing gives null, as in MongoDB.
"""

from __future__ import annotations

import datetime
import decimal
import math
from typing import Any, Callable

from bson.decimal128 import Decimal128
from bson.int64 import Int64
from bson.objectid import ObjectId

from holddb.errors import MongoError
from holddb.query._paths import get_path
from holddb.query._values import (MISSING, compare, is_number, type_name,
                                  values_equal)

__all__ = ["compile_expression", "truthy", "Expr"]

Expr = Callable[..., Any]


def truthy(value: Any) -> bool:
    """MongoDB truthiness: false, null, missing, 0 are false; all else true."""
    if value is None or value is MISSING or value is False:
        return False
    if is_number(value):
        return float(str(value)) != 0 if isinstance(value, Decimal128) else value != 0
    return True


def compile_expression(spec: Any) -> Expr:
    if isinstance(spec, str) and spec.startswith("$$"):
        name, _, rest = spec[2:].partition(".")
        return _variable(name, rest)
    if isinstance(spec, str) and spec.startswith("$"):
        path = spec[1:]
        return lambda doc, vars=None: get_path(doc, path)
    if isinstance(spec, dict):
        if len(spec) == 1 and next(iter(spec)).startswith("$"):
            op, arg = next(iter(spec.items()))
            factory = _OPERATORS.get(op)
            if factory is None:
                raise MongoError(168, f"Unrecognized expression '{op}'")
            return factory(arg)
        fields = {k: compile_expression(v) for k, v in spec.items()}

        def build(doc: Any, vars: dict | None = None) -> dict:
            out = {}
            for key, fn in fields.items():
                value = fn(doc, vars)
                if value is not MISSING:
                    out[key] = value
            return out
        return build
    if isinstance(spec, list):
        items = [compile_expression(v) for v in spec]
        return lambda doc, vars=None: [_null_if_missing(f(doc, vars)) for f in items]
    return lambda doc, vars=None: spec


def _null_if_missing(value: Any) -> Any:
    return None if value is MISSING else value


def _variable(name: str, rest: str) -> Expr:
    def read(doc: Any, vars: dict | None = None) -> Any:
        if name == "CURRENT":
            base = doc
        elif name == "ROOT":
            base = (vars or {}).get("ROOT", doc)
        elif name == "REMOVE":
            return MISSING
        elif name == "NOW":
            base = datetime.datetime.utcnow()
        elif vars and name in vars:
            base = vars[name]
        else:
            raise MongoError(17276, f"Use of undefined variable: {name}")
        return get_path(base, rest) if rest else base
    return read


def _args(arg: Any) -> list[Expr]:
    return [compile_expression(a) for a in (arg if isinstance(arg, list) else [arg])]


def _nary(fn: Callable[[list], Any]) -> Callable[[Any], Expr]:
    def factory(arg: Any) -> Expr:
        exprs = _args(arg)
        return lambda doc, vars=None: fn([e(doc, vars) for e in exprs])
    return factory


def _numeric(values: list, op: str) -> list:
    for v in values:
        if not is_number(v) and not isinstance(v, datetime.datetime):
            raise MongoError(16554, f"{op} only supports numeric types, not {type_name(v)}")
    return values


def _arith(op: str) -> Callable[[list], Any]:
    def run(values: list) -> Any:
        if any(v is None or v is MISSING for v in values):
            return None
        values = _numeric(values, op)
        if any(isinstance(v, Decimal128) for v in values):
            nums = [v.to_decimal() if isinstance(v, Decimal128) else decimal.Decimal(v) for v in values]
            return Decimal128(_fold(op, nums))
        if op == "$add" and any(isinstance(v, datetime.datetime) for v in values):
            base = next(v for v in values if isinstance(v, datetime.datetime))
            millis = sum(v for v in values if not isinstance(v, datetime.datetime))
            return base + datetime.timedelta(milliseconds=millis)
        return _fold(op, values)
    return run


def _fold(op: str, nums: list) -> Any:
    result = _fold_plain(op, nums)
    if isinstance(result, int) and not isinstance(result, (bool, Int64)) and (
            any(isinstance(n, Int64) for n in nums) or not -2**31 <= result < 2**31):
        return Int64(result)  # longs in, or an int32 overflow: a long out
    return result


def _fold_plain(op: str, nums: list) -> Any:
    if op == "$add":
        return sum(nums[1:], nums[0]) if nums else 0
    if op == "$multiply":
        result = 1
        for n in nums:
            result = result * n
        return result
    if len(nums) != 2:
        raise MongoError(16020, f"Expression {op} takes exactly 2 arguments")
    a, b = nums
    if op == "$subtract":
        if isinstance(a, datetime.datetime) and isinstance(b, datetime.datetime):
            return int((a - b).total_seconds() * 1000)
        return a - b
    if b == 0:
        raise MongoError(16608 if op == "$divide" else 16610, f"can't {op} by zero")
    if op == "$divide":
        return a / b if not isinstance(a, decimal.Decimal) else a / b
    return math.fmod(a, b) if isinstance(a, float) or isinstance(b, float) else int(math.fmod(a, b))


def _cmp_op(op: str) -> Callable[[list], Any]:
    def run(values: list) -> Any:
        if len(values) != 2:
            raise MongoError(16020, f"Expression {op} takes exactly 2 arguments")
        a, b = (None if v is MISSING else v for v in values)
        c = compare(a, b)
        return {"$eq": c == 0, "$ne": c != 0, "$gt": c > 0, "$gte": c >= 0,
                "$lt": c < 0, "$lte": c <= 0, "$cmp": c}[op]
    return run


def _cond(arg: Any) -> Expr:
    if isinstance(arg, dict):
        parts = [arg.get("if"), arg.get("then"), arg.get("else")]
    elif isinstance(arg, list) and len(arg) == 3:
        parts = arg
    else:
        raise MongoError(16020, "$cond needs if/then/else")
    test, yes, no = (compile_expression(p) for p in parts)
    return lambda doc, vars=None: yes(doc, vars) if truthy(test(doc, vars)) else no(doc, vars)


def _if_null(arg: Any) -> Expr:
    exprs = _args(arg)

    def run(doc: Any, vars: dict | None = None) -> Any:
        value = None
        for e in exprs:
            value = e(doc, vars)
            if value is not None and value is not MISSING:
                return value
        return value
    return run


def _string_op(fn: Callable[[list], Any]) -> Callable[[Any], Expr]:
    return _nary(fn)


def _to_str(v: Any) -> Any:
    if v is None or v is MISSING:
        return None
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, datetime.datetime):
        return v.strftime("%Y-%m-%dT%H:%M:%S.") + f"{v.microsecond // 1000:03d}Z"
    if isinstance(v, float) and v == int(v):
        return str(int(v))
    return str(v)


def _concat(values: list) -> Any:
    if any(v is None or v is MISSING for v in values):
        return None
    if not all(isinstance(v, str) for v in values):
        raise MongoError(16702, "$concat only supports strings")
    return "".join(values)


def _substr(values: list) -> Any:
    s, start, length = (values + [None, None, None])[:3]
    s = _to_str(s) or ""
    start = int(start or 0)
    length = int(length) if length is not None and length >= 0 else len(s)
    return s[start:start + length]


def _size(values: list) -> Any:
    if not isinstance(values[0], list):
        raise MongoError(17124, f"The argument to $size must be an array. Type of argument is {type_name(values[0])}")
    return len(values[0])


def _array_elem_at(values: list) -> Any:
    arr, idx = values
    if arr is None or arr is MISSING:
        return None
    if not isinstance(arr, list):
        raise MongoError(28689, "$arrayElemAt's first argument must be an array")
    idx = int(idx)
    return arr[idx] if -len(arr) <= idx < len(arr) else MISSING


def _in(values: list) -> Any:
    item, arr = values
    if not isinstance(arr, list):
        raise MongoError(40081, "$in requires an array as a second argument")
    return any(values_equal(item, v) for v in arr)


def _accumulate_expr(op: str) -> Callable[[list], Any]:
    def run(values: list) -> Any:
        if len(values) == 1 and isinstance(values[0], list):
            values = values[0]
        nums = [v for v in values if is_number(v)]
        if op == "$sum":
            return sum(nums) if nums else 0
        if op == "$avg":
            return sum(nums) / len(nums) if nums else None
        present = [v for v in values if v is not None and v is not MISSING]
        if not present:
            return None
        best = present[0]
        for v in present[1:]:
            c = compare(v, best)
            if (op == "$max" and c > 0) or (op == "$min" and c < 0):
                best = v
        return best
    return run


def _let(arg: Any) -> Expr:
    bindings = {k: compile_expression(v) for k, v in arg.get("vars", {}).items()}
    body = compile_expression(arg.get("in"))

    def run(doc: Any, vars: dict | None = None) -> Any:
        scope = dict(vars or {})
        scope.update({k: e(doc, vars) for k, e in bindings.items()})
        return body(doc, scope)
    return run


def _map_filter(kind: str) -> Callable[[Any], Expr]:
    def factory(arg: Any) -> Expr:
        source = compile_expression(arg.get("input"))
        name = arg.get("as", "this")
        body = compile_expression(arg.get("in" if kind == "$map" else "cond"))

        def run(doc: Any, vars: dict | None = None) -> Any:
            items = source(doc, vars)
            if items is None or items is MISSING:
                return None
            out = []
            for item in items:
                scope = dict(vars or {})
                scope[name] = item
                value = body(doc, scope)
                if kind == "$map":
                    out.append(_null_if_missing(value))
                elif truthy(value):
                    out.append(item)
            return out
        return run
    return factory


def _literal(arg: Any) -> Expr:
    return lambda doc, vars=None: arg


def _to_type(kind: str) -> Callable[[list], Any]:
    def run(values: list) -> Any:
        v = values[0]
        if v is None or v is MISSING:
            return None
        try:
            if kind == "$toString":
                return _to_str(v)
            if kind in ("$toInt", "$toLong"):
                return int(float(v)) if isinstance(v, str) else int(v)
            if kind == "$toDouble":
                return float(str(v)) if isinstance(v, Decimal128) else float(v)
            if kind == "$toBool":
                return truthy(v)
            if kind == "$toObjectId":
                return ObjectId(v)
        except (ValueError, TypeError) as exc:
            raise MongoError(241, f"Failed to parse number '{v}' in $convert") from exc
        return v
    return run


_OPERATORS: dict[str, Callable[[Any], Expr]] = {
    "$add": _nary(_arith("$add")),
    "$subtract": _nary(_arith("$subtract")),
    "$multiply": _nary(_arith("$multiply")),
    "$divide": _nary(_arith("$divide")),
    "$mod": _nary(_arith("$mod")),
    "$abs": _nary(lambda v: None if v[0] is None or v[0] is MISSING else abs(v[0])),
    "$eq": _nary(_cmp_op("$eq")), "$ne": _nary(_cmp_op("$ne")),
    "$gt": _nary(_cmp_op("$gt")), "$gte": _nary(_cmp_op("$gte")),
    "$lt": _nary(_cmp_op("$lt")), "$lte": _nary(_cmp_op("$lte")),
    "$cmp": _nary(_cmp_op("$cmp")),
    "$and": _nary(lambda v: all(truthy(x) for x in v)),
    "$or": _nary(lambda v: any(truthy(x) for x in v)),
    "$not": _nary(lambda v: not truthy(v[0])),
    "$cond": _cond,
    "$ifNull": _if_null,
    "$concat": _nary(_concat),
    "$toLower": _nary(lambda v: (_to_str(v[0]) or "").lower()),
    "$toUpper": _nary(lambda v: (_to_str(v[0]) or "").upper()),
    "$substr": _nary(_substr), "$substrCP": _nary(_substr), "$substrBytes": _nary(_substr),
    "$strLenCP": _nary(lambda v: len(v[0])),
    "$size": _nary(_size),
    "$arrayElemAt": _nary(_array_elem_at),
    "$first": _nary(lambda v: v[0][0] if isinstance(v[0], list) and v[0] else MISSING),
    "$last": _nary(lambda v: v[0][-1] if isinstance(v[0], list) and v[0] else MISSING),
    "$in": _nary(_in),
    "$isArray": _nary(lambda v: isinstance(v[0], list)),
    "$type": _nary(lambda v: "missing" if v[0] is MISSING else type_name(v[0])),
    "$sum": _nary(_accumulate_expr("$sum")),
    "$avg": _nary(_accumulate_expr("$avg")),
    "$min": _nary(_accumulate_expr("$min")),
    "$max": _nary(_accumulate_expr("$max")),
    "$literal": _literal,
    "$let": _let,
    "$map": _map_filter("$map"),
    "$filter": _map_filter("$filter"),
    "$toString": _nary(_to_type("$toString")),
    "$toInt": _nary(_to_type("$toInt")),
    "$toLong": _nary(_to_type("$toLong")),
    "$toDouble": _nary(_to_type("$toDouble")),
    "$toBool": _nary(_to_type("$toBool")),
    "$toObjectId": _nary(_to_type("$toObjectId")),
    "$concatArrays": _nary(lambda v: None if any(x is None or x is MISSING for x in v)
                           else [e for x in v for e in x]),
}


def _register_more() -> None:
    from holddb.query._expr_ops import OPERATORS
    _OPERATORS.update(OPERATORS)


_register_more()
