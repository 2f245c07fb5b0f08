"""Query filters: ``compile_filter(spec)`` returns a predicate over documents.

A filter is a conjunction of ``path: condition`` pairs and top-level logical
operators ($and $or $nor $expr $comment).  A condition is either a literal
(implicit ``$eq``) or a document of operators.  Operators are looked up in
``_OPERATORS``; an unknown one is BadValue "unknown operator: $x", like mongod.

Array semantics: a condition on a path matches if any value the path reaches
matches, and for most operators a reached array also matches when one of its
elements does ("a: 1" matches ``{a: [1, 2]}``).  Negations ($ne, $nin, $not)
are the complement of the positive form over the whole path.
"""

from __future__ import annotations

import re
from typing import Any, Callable

from bson.int64 import Int64
from bson.regex import Regex

from holddb.errors import MongoError, bad_value
from holddb.query._paths import candidates, split_path
from holddb.query._values import (MISSING, TYPE_ALIASES, compare, is_number,
                                  type_name, type_rank, values_equal)

__all__ = ["compile_filter", "matches", "compile_value_condition", "to_regex"]

Predicate = Callable[[Any], bool]


def matches(spec: dict, doc: dict) -> bool:
    return compile_filter(spec)(doc)


def compile_filter(spec: Any, variables: dict | None = None) -> Callable[[dict], bool]:
    """Compile a filter document; raises BadValue on malformed filters.

    ``variables`` are a command's ``let`` values, seen by ``$expr`` as ``$$name``.
    """
    if spec is None:
        spec = {}
    if not isinstance(spec, dict):
        raise bad_value("filter must be an object")
    clauses: list[Callable[[dict], bool]] = []
    for key, cond in spec.items():
        if key.startswith("$"):
            clauses.append(_compile_top_level(key, cond, variables))
        else:
            clauses.append(_compile_path(key, cond))
    if len(clauses) == 1:
        return clauses[0]
    return lambda doc: all(clause(doc) for clause in clauses)


def _compile_top_level(op: str, arg: Any, variables: dict | None) -> Callable[[dict], bool]:
    if op in ("$and", "$or", "$nor"):
        if not isinstance(arg, list) or not arg:
            raise bad_value(f"{op} argument must be a non-empty array")
        if not all(isinstance(s, dict) for s in arg):
            raise bad_value(f"{op} argument's entries must be objects")
        subs = [compile_filter(s, variables) for s in arg]
        if op == "$and":
            return lambda doc: all(s(doc) for s in subs)
        if op == "$or":
            return lambda doc: any(s(doc) for s in subs)
        return lambda doc: not any(s(doc) for s in subs)
    if op == "$expr":
        from holddb.query._expressions import compile_expression, truthy
        expr = compile_expression(arg)
        scope = dict(variables or {})
        return lambda doc: truthy(expr(doc, {**scope, "ROOT": doc}))
    if op == "$comment":
        return lambda doc: True
    if op == "$jsonSchema":
        from holddb.query._jsonschema import compile_schema
        return compile_schema(arg)
    if op == "$text":
        raise MongoError(2, "$text must be a top-level condition of a find, count, "
                            "aggregate $match or update filter (not inside $and/$or/$nor)")
    if op == "$where":
        raise MongoError(2, f"{op} is not supported by holddb")
    raise bad_value(f"unknown top level operator: {op}. If you have a field name "
                    "that starts with a '$' symbol, consider using $getField or $setField.")


def _is_operator_doc(cond: Any) -> bool:
    return isinstance(cond, dict) and bool(cond) and next(iter(cond)).startswith("$")


def _compile_path(path: str, cond: Any) -> Callable[[dict], bool]:
    parts = split_path(path)
    test = compile_value_condition(cond)
    return lambda doc: test(candidates(doc, parts))


def compile_value_condition(cond: Any) -> Callable[[list], bool]:
    """Compile a condition into a test over the list of path candidates."""
    if _is_operator_doc(cond):
        tests = []
        regex_options = cond.get("$options")
        for op, arg in cond.items():
            if op == "$options":
                if "$regex" not in cond:
                    raise bad_value("$options needs a $regex")
                continue
            if op == "$regex":
                arg = to_regex(arg, regex_options)
                op = "$eq"
            factory = _OPERATORS.get(op)
            if factory is None:
                raise bad_value(f"unknown operator: {op}")
            tests.append(factory(arg))
        return lambda cands: all(t(cands) for t in tests)
    return _op_eq(cond)


def to_regex(pattern: Any, options: Any = None) -> re.Pattern:
    """A Python regex for a $regex value (string or BSON regex) and $options."""
    flags_text = options or ""
    if isinstance(pattern, Regex):
        compiled = pattern.try_compile()
        flags = compiled.flags
        pattern = compiled.pattern
    elif isinstance(pattern, re.Pattern):
        flags = pattern.flags
        pattern = pattern.pattern
    elif isinstance(pattern, str):
        flags = 0
    else:
        raise bad_value("$regex has to be a string")
    if not isinstance(flags_text, str):
        raise bad_value("$options has to be a string")
    for char in flags_text:
        flags |= {"i": re.I, "m": re.M, "s": re.S, "x": re.X}.get(char, 0)
    try:
        return re.compile(pattern, flags)
    except re.error as exc:
        raise MongoError(51091, f"Regular expression is invalid: {exc}") from exc


def _expand(cands: list) -> list:
    """Candidates plus the elements of candidate arrays (one level)."""
    out = []
    for value in cands:
        out.append(value)
        if isinstance(value, list):
            out.extend(value)
    return out


def _value_eq(target: Any) -> Predicate:
    if isinstance(target, (Regex, re.Pattern)):
        regex = to_regex(target)
        return lambda v: (isinstance(v, str) and regex.search(v) is not None) or (
            isinstance(v, (Regex, re.Pattern)) and v.pattern == regex.pattern)
    if target is None:
        return lambda v: v is None or v is MISSING
    return lambda v: v is not MISSING and values_equal(v, target)


def _op_eq(target: Any) -> Callable[[list], bool]:
    pred = _value_eq(target)
    return lambda cands: any(pred(v) for v in _expand(cands))


def _op_ne(target: Any) -> Callable[[list], bool]:
    positive = _op_eq(target)
    return lambda cands: not positive(cands)


def _comparison(op: str, target: Any) -> Callable[[list], bool]:
    if isinstance(target, (Regex, re.Pattern)) and op in ("$gt", "$lt"):
        raise bad_value(f"Can't have RegEx as arg to predicate over field: {op}")
    rank = type_rank(target)
    ok = {"$gt": lambda c: c > 0, "$gte": lambda c: c >= 0,
          "$lt": lambda c: c < 0, "$lte": lambda c: c <= 0}[op]

    def pred(v: Any) -> bool:
        if v is MISSING:
            return target is None and op in ("$gte", "$lte")
        if type_rank(v) != rank:
            return False
        return ok(compare(v, target))
    return lambda cands: any(pred(v) for v in _expand(cands))


def _op_in(arg: Any) -> Callable[[list], bool]:
    if not isinstance(arg, list):
        raise bad_value("$in needs an array")
    preds = [_value_eq(t) for t in arg]
    return lambda cands: any(p(v) for v in _expand(cands) for p in preds)


def _op_nin(arg: Any) -> Callable[[list], bool]:
    if not isinstance(arg, list):
        raise bad_value("$nin needs an array")
    positive = _op_in(arg)
    return lambda cands: not positive(cands)


def _op_exists(arg: Any) -> Callable[[list], bool]:
    want = bool(arg) if not isinstance(arg, dict) else True
    return lambda cands: any(v is not MISSING for v in cands) == want


def _op_type(arg: Any) -> Callable[[list], bool]:
    wanted = arg if isinstance(arg, list) else [arg]
    names = set()
    for item in wanted:
        if item == "number":
            names.update({"double", "int", "long", "decimal"})
        elif isinstance(item, str) and item in TYPE_ALIASES:
            names.add(item)
        elif is_number(item) and int(item) in TYPE_ALIASES.values():
            names.update(k for k, v in TYPE_ALIASES.items() if v == int(item))
        else:
            raise bad_value(f"Unknown type name alias: {item}")

    def test(cands: list) -> bool:
        for value in cands:
            if value is MISSING:
                continue
            if type_name(value) in names:
                return True
            if isinstance(value, list) and any(type_name(e) in names for e in value):
                return True
        return False
    return test


def _op_size(arg: Any) -> Callable[[list], bool]:
    if not is_number(arg) or int(arg) != arg or arg < 0:
        raise bad_value("$size needs a non-negative whole number")
    size = int(arg)
    return lambda cands: any(isinstance(v, list) and len(v) == size for v in cands)


def _op_all(arg: Any) -> Callable[[list], bool]:
    if not isinstance(arg, list):
        raise bad_value("$all needs an array")
    tests = []
    for item in arg:
        if isinstance(item, dict) and "$elemMatch" in item:
            tests.append(_op_elem_match(item["$elemMatch"]))
        else:
            tests.append(_op_eq(item))
    if not tests:
        return lambda cands: False
    return lambda cands: all(t(cands) for t in tests)


def _op_elem_match(arg: Any) -> Callable[[list], bool]:
    if not isinstance(arg, dict):
        raise bad_value("$elemMatch needs an Object")
    if _is_operator_doc(arg) and not any(k in ("$and", "$or", "$nor", "$expr") for k in arg):
        value_test = compile_value_condition(arg)
        elem_pred = lambda e: value_test([e])  # noqa: E731
    else:
        doc_test = compile_filter(arg)
        elem_pred = lambda e: isinstance(e, dict) and doc_test(e)  # noqa: E731
    return lambda cands: any(
        isinstance(v, list) and any(elem_pred(e) for e in v) for v in cands)


def _op_mod(arg: Any) -> Callable[[list], bool]:
    if not isinstance(arg, list) or len(arg) != 2 or not all(is_number(a) for a in arg):
        raise bad_value("malformed mod, needs to be an array of [divisor, remainder]")
    divisor, remainder = int(arg[0]), int(arg[1])
    if divisor == 0:
        raise bad_value("divisor cannot be 0")

    def pred(v: Any) -> bool:
        if not is_number(v) or isinstance(v, bool):
            return False
        try:
            n = int(float(str(v))) if not isinstance(v, (int, Int64)) else int(v)
        except (ValueError, OverflowError):
            return False
        return int(n - divisor * int(n / divisor)) == remainder
    return lambda cands: any(pred(v) for v in _expand(cands))


def _op_not(arg: Any) -> Callable[[list], bool]:
    if isinstance(arg, (Regex, re.Pattern)):
        positive = _op_eq(arg)
    elif _is_operator_doc(arg):
        positive = compile_value_condition(arg)
    else:
        raise bad_value("$not needs a regex or a document")
    return lambda cands: not positive(cands)


def _ignored(arg: Any) -> Callable[[list], bool]:
    return lambda cands: True


def _unsupported(name: str) -> Callable[[Any], Callable[[list], bool]]:
    def factory(arg: Any) -> Callable[[list], bool]:
        raise MongoError(2, f"{name} is not supported by holddb")
    return factory


_OPERATORS: dict[str, Callable[[Any], Callable[[list], bool]]] = {
    "$eq": _op_eq,
    "$ne": _op_ne,
    "$gt": lambda a: _comparison("$gt", a),
    "$gte": lambda a: _comparison("$gte", a),
    "$lt": lambda a: _comparison("$lt", a),
    "$lte": lambda a: _comparison("$lte", a),
    "$in": _op_in,
    "$nin": _op_nin,
    "$exists": _op_exists,
    "$type": _op_type,
    "$size": _op_size,
    "$all": _op_all,
    "$elemMatch": _op_elem_match,
    "$mod": _op_mod,
    "$not": _op_not,
    "$comment": _ignored,
    "$geoWithin": _unsupported("$geoWithin"),
    "$near": _unsupported("$near"),
    "$bitsAllSet": _unsupported("$bitsAllSet"),
}
