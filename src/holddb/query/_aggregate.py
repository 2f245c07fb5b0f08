"""Aggregation pipelines over an iterable of documents.

``run_pipeline(docs, pipeline, resolver)`` applies the stages in order.
``resolver(collection_name)`` returns the documents of another collection of
the same database (for ``$lookup``).  Supported stages: $match $project
$addFields/$set $unset $group $sort $limit $skip $unwind $count $lookup
$replaceRoot/$replaceWith $facet $sortByCount $sample.  Any other stage is
error 40324 "Unrecognized pipeline stage name", as in mongod.
"""

from __future__ import annotations

import copy
import decimal
import random
from typing import Any, Callable, Iterable

from bson.decimal128 import Decimal128
from bson.int64 import Int64

from holddb import deadline
from holddb.errors import MongoError
from holddb.query._expressions import compile_expression
from holddb.query._matcher import compile_filter
from holddb.query._paths import get_path
from holddb.query._projection import compile_projection
from holddb.query._sort import sort_documents
from holddb.query._values import MISSING, compare, is_number, values_equal

__all__ = ["run_pipeline", "validate_pipeline"]

Resolver = Callable[[str], Iterable[dict]]


class _Run:
    """What every stage may use: other collections (``resolve``) and the
    command's ``let`` variables (visible to expressions as ``$$name``)."""

    def __init__(self, resolver: Resolver, variables: dict | None) -> None:
        self.resolve = resolver
        self.variables = dict(variables or {})

    def scope(self, doc: dict) -> dict:
        return {**self.variables, "ROOT": doc}


def validate_pipeline(pipeline: Any) -> list[dict]:
    if not isinstance(pipeline, list):
        raise MongoError(14, "'pipeline' option must be specified as an array")
    for stage in pipeline:
        if not isinstance(stage, dict) or len(stage) != 1:
            raise MongoError(40323, "A pipeline stage specification object must contain "
                                    "exactly one field.")
        name = next(iter(stage))
        if name not in _STAGES:
            raise MongoError(40324, f"Unrecognized pipeline stage name: '{name}'")
    return pipeline


def run_pipeline(docs: Iterable[dict], pipeline: list, resolver: Resolver,
                 variables: dict | None = None) -> list[dict]:
    validate_pipeline(pipeline)
    run = resolver if isinstance(resolver, _Run) else _Run(resolver, variables)
    current: Iterable[dict] = docs
    for stage in pipeline:
        name, arg = next(iter(stage.items()))
        current = _STAGES[name](current, arg, run)
        deadline.check()
    result = list(current)
    deadline.check()
    return result


def _match(docs: Iterable[dict], arg: Any, run: _Run) -> Iterable[dict]:
    test = compile_filter(arg, run.variables)
    return (d for d in docs if test(d))


def _project(docs: Iterable[dict], arg: Any, run: _Run) -> Iterable[dict]:
    if not isinstance(arg, dict) or not arg:
        raise MongoError(51272, "$project specification must be a non-empty object")
    project = compile_projection(arg, aggregation=True, variables=run.variables)
    return (project(d) for d in docs)


def _add_fields(docs: Iterable[dict], arg: Any, run: _Run) -> Iterable[dict]:
    if not isinstance(arg, dict):
        raise MongoError(40272, "$addFields specification stage must be an object")
    fields = [(path.split("."), compile_expression(spec)) for path, spec in arg.items()]
    for doc in docs:
        out = copy.deepcopy(doc)
        for parts, expr in fields:
            value = expr(doc, run.scope(doc))
            node = out
            for part in parts[:-1]:
                if not isinstance(node.get(part), dict):
                    node[part] = {}
                node = node[part]
            if value is MISSING:
                node.pop(parts[-1], None)
            else:
                node[parts[-1]] = value
        yield out


def _unset(docs: Iterable[dict], arg: Any, run: _Run) -> Iterable[dict]:
    paths = [arg] if isinstance(arg, str) else arg
    if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
        raise MongoError(31002, "$unset specification must be a string or an array of strings")
    return _project(docs, {p: 0 for p in paths}, run)


def _group(docs: Iterable[dict], arg: Any, run: _Run) -> Iterable[dict]:
    if not isinstance(arg, dict) or "_id" not in arg:
        raise MongoError(15955, "a group specification must include an _id")
    key_expr = compile_expression(arg["_id"])
    accumulators = []
    for field, spec in arg.items():
        if field == "_id":
            continue
        if not isinstance(spec, dict) or len(spec) != 1:
            raise MongoError(40234, f"The field '{field}' must be an accumulator object")
        op, operand = next(iter(spec.items()))
        if op not in _ACCUMULATORS:
            raise MongoError(15952, f"unknown group operator '{op}'")
        expr = compile_expression(operand) if op != "$count" else (lambda d, v=None: 1)
        accumulators.append((field, op, expr))
    from holddb.storage._keys import encode_key  # lazy: storage imports query
    groups: list[tuple[Any, list]] = []
    index: dict[bytes, int] = {}
    for doc in docs:
        key = key_expr(doc, run.scope(doc))
        key = None if key is MISSING else key
        token = encode_key(key)
        if token not in index:
            index[token] = len(groups)
            groups.append((key, [_ACCUMULATORS[op][0]() for _, op, _ in accumulators]))
        states = groups[index[token]][1]
        for i, (_, op, expr) in enumerate(accumulators):
            states[i] = _ACCUMULATORS[op][1](states[i], expr(doc, run.scope(doc)))
    for key, states in groups:
        out = {"_id": key}
        for (field, op, _), state in zip(accumulators, states):
            out[field] = _ACCUMULATORS[op][2](state)
        yield out


def _acc_sum(state: Any, value: Any) -> Any:
    """Numbers add up (decimals exactly); anything else is ignored, like $sum."""
    if not is_number(value):
        return state
    if isinstance(value, Decimal128) or isinstance(state, Decimal128):
        a = state.to_decimal() if isinstance(state, Decimal128) else decimal.Decimal(state)
        b = value.to_decimal() if isinstance(value, Decimal128) else decimal.Decimal(value)
        return Decimal128(a + b)
    total = state + value
    if isinstance(total, int) and (isinstance(state, Int64) or isinstance(value, Int64)
                                   or not -2**31 <= total < 2**31):
        return Int64(total)  # a sum of longs, or an int32 overflow, is a long
    return total


def _acc_avg(state: Any, value: Any) -> Any:
    if is_number(value):
        if isinstance(value, Decimal128):
            value = float(value.to_decimal())
        return (state[0] + value, state[1] + 1)
    return state


def _acc_pick(kind: str) -> Callable[[Any, Any], Any]:
    def step(state: Any, value: Any) -> Any:
        if value is MISSING or value is None:
            return state
        if state is MISSING:
            return value
        c = compare(value, state)
        return value if (kind == "$min" and c < 0) or (kind == "$max" and c > 0) else state
    return step


def _acc_add_to_set(state: list, value: Any) -> list:
    if value is not MISSING and not any(values_equal(value, v) for v in state):
        state.append(value)
    return state


def _none_if_missing(value: Any) -> Any:
    return None if value is MISSING else value


_ACCUMULATORS: dict[str, tuple[Callable, Callable, Callable]] = {
    "$sum": (lambda: 0, _acc_sum, lambda s: s),
    "$count": (lambda: 0, _acc_sum, lambda s: s),
    "$avg": (lambda: (0, 0), _acc_avg, lambda s: s[0] / s[1] if s[1] else None),
    "$min": (lambda: MISSING, _acc_pick("$min"), _none_if_missing),
    "$max": (lambda: MISSING, _acc_pick("$max"), _none_if_missing),
    "$first": (lambda: (MISSING, False), lambda s, v: s if s[1] else (v, True),
               lambda s: _none_if_missing(s[0])),
    "$last": (lambda: MISSING, lambda s, v: v, _none_if_missing),
    "$push": (list, lambda s, v: s + [v] if v is not MISSING else s, lambda s: s),
    "$addToSet": (list, _acc_add_to_set, lambda s: s),
}


def _sort(docs: Iterable[dict], arg: Any, run: _Run) -> Iterable[dict]:
    if not isinstance(arg, dict) or not arg:
        raise MongoError(15976, "$sort stage must have at least one sort key")
    return sort_documents(list(docs), arg)


def _count_arg(name: str, arg: Any) -> int:
    if not is_number(arg) or int(arg) != arg or arg < 0:
        raise MongoError(15958 if name == "$limit" else 15956,
                         f"invalid argument to {name} stage: {arg!r}")
    return int(arg)


def _limit(docs: Iterable[dict], arg: Any, run: _Run) -> Iterable[dict]:
    limit = _count_arg("$limit", arg)
    if limit == 0:
        raise MongoError(15958, "the limit must be positive")
    return list(docs)[:limit]


def _skip(docs: Iterable[dict], arg: Any, run: _Run) -> Iterable[dict]:
    return list(docs)[_count_arg("$skip", arg):]


def _unwind(docs: Iterable[dict], arg: Any, run: _Run) -> Iterable[dict]:
    spec = {"path": arg} if isinstance(arg, str) else arg
    path = spec.get("path") if isinstance(spec, dict) else None
    if not isinstance(path, str) or not path.startswith("$"):
        raise MongoError(28818, "path option to $unwind stage should be prefixed with a '$'")
    field = path[1:]
    keep_empty = bool(spec.get("preserveNullAndEmptyArrays"))
    index_field = spec.get("includeArrayIndex")
    for doc in docs:
        value = get_path(doc, field)
        if isinstance(value, list) and value:
            for i, element in enumerate(value):
                out = _with_path(doc, field, element)
                if index_field:
                    out[index_field] = i
                yield out
        elif isinstance(value, list) or value is MISSING or value is None:
            if keep_empty:
                out = copy.deepcopy(doc) if not isinstance(value, list) else _without_path(doc, field)
                if index_field:
                    out[index_field] = None
                yield out
        else:
            out = copy.deepcopy(doc)
            if index_field:
                out[index_field] = None
            yield out


def _with_path(doc: dict, path: str, value: Any) -> dict:
    out = copy.deepcopy(doc)
    node = out
    parts = path.split(".")
    for part in parts[:-1]:
        node = node[part]
    node[parts[-1]] = value
    return out


def _without_path(doc: dict, path: str) -> dict:
    out = copy.deepcopy(doc)
    node = out
    parts = path.split(".")
    for part in parts[:-1]:
        node = node[part]
    node.pop(parts[-1], None)
    return out


def _count(docs: Iterable[dict], arg: Any, run: _Run) -> Iterable[dict]:
    if not isinstance(arg, str) or not arg or arg.startswith("$") or "." in arg:
        raise MongoError(40156, "the count field must be a non-empty string without '$' or '.'")
    n = sum(1 for _ in docs)
    return [{arg: n}] if n else []


def _lookup(docs: Iterable[dict], arg: Any, run: _Run) -> Iterable[dict]:
    if not isinstance(arg, dict) or "from" not in arg or "as" not in arg:
        raise MongoError(40321, "$lookup needs 'from' and 'as'")
    foreign = list(run.resolve(arg["from"]))
    target = arg["as"]
    sub_pipeline = arg.get("pipeline")
    let = {k: compile_expression(v) for k, v in (arg.get("let") or {}).items()}
    for doc in docs:
        if sub_pipeline is not None:
            variables = {k: e(doc, run.scope(doc)) for k, e in let.items()}
            matched = _run_with_vars(foreign, sub_pipeline, run, variables, arg)
        else:
            local = get_path(doc, arg.get("localField", ""))
            local_values = local if isinstance(local, list) else [None if local is MISSING else local]
            test = compile_filter({arg.get("foreignField", ""): {"$in": local_values}})
            matched = [copy.deepcopy(f) for f in foreign if test(f)]
        out = copy.deepcopy(doc)
        out[target] = matched
        yield out


def _run_with_vars(foreign: list, pipeline: list, run: _Run,
                   variables: dict, arg: dict) -> list:
    """A $lookup sub-pipeline sees the outer ``let`` variables as ``$$name``."""
    if "localField" in arg:
        raise MongoError(2, "$lookup with both localField and pipeline is not supported")
    inner = _Run(run.resolve, {**run.variables, **variables})
    return run_pipeline(copy.deepcopy(foreign), pipeline, inner)


def _replace_root(docs: Iterable[dict], arg: Any, run: _Run) -> Iterable[dict]:
    spec = arg.get("newRoot") if isinstance(arg, dict) and "newRoot" in arg else arg
    expr = compile_expression(spec)
    for doc in docs:
        value = expr(doc, run.scope(doc))
        if not isinstance(value, dict):
            raise MongoError(40228, "'newRoot' expression must evaluate to an object, but "
                                    f"resulting value was: {value!r}")
        yield value


def _facet(docs: Iterable[dict], arg: Any, run: _Run) -> Iterable[dict]:
    if not isinstance(arg, dict) or not arg:
        raise MongoError(40169, "the $facet specification must be a non-empty object")
    materialised = list(docs)
    return [{name: run_pipeline(copy.deepcopy(materialised), sub, run)
             for name, sub in arg.items()}]


def _sort_by_count(docs: Iterable[dict], arg: Any, run: _Run) -> Iterable[dict]:
    grouped = _group(docs, {"_id": arg, "count": {"$sum": 1}}, run)
    return sort_documents(list(grouped), {"count": -1})


def _output_stage(docs: Iterable[dict], arg: Any, run: _Run) -> Iterable[dict]:
    raise MongoError(40601, "$out and $merge can only be the final stage in the pipeline")


def _sample(docs: Iterable[dict], arg: Any, run: _Run) -> Iterable[dict]:
    size = int((arg or {}).get("size", 0))
    items = list(docs)
    random.shuffle(items)
    return items[:size]


def _replace_with(docs: Iterable[dict], arg: Any, run: _Run) -> Iterable[dict]:
    return _replace_root(docs, {"newRoot": arg}, run)


_STAGES: dict[str, Callable[[Iterable[dict], Any, Resolver], Iterable[dict]]] = {
    "$match": _match,
    "$project": _project,
    "$addFields": _add_fields,
    "$set": _add_fields,
    "$unset": _unset,
    "$group": _group,
    "$sort": _sort,
    "$limit": _limit,
    "$skip": _skip,
    "$unwind": _unwind,
    "$count": _count,
    "$lookup": _lookup,
    "$replaceRoot": _replace_root,
    "$replaceWith": _replace_with,
    "$facet": _facet,
    "$sortByCount": _sort_by_count,
    "$sample": _sample,
    "$collStats": lambda docs, arg, run: docs,
    "$documents": lambda docs, arg, run: docs,  # served by the command layer
    "$listLocalSessions": lambda docs, arg, run: docs,
    "$currentOp": lambda docs, arg, run: docs,
    "$out": _output_stage,
    "$merge": _output_stage,  # served by the command layer
}
