"""Update documents: operator updates (``$set`` ...) and replacements.

``apply_update(doc, spec, ...)`` returns a new document and never mutates
its input, so a failed update leaves the stored document untouched.

Paths may hold the positional forms ``$`` (the first array element the query
matched), ``$[]`` (every element) and ``$[name]`` (elements matching
``arrayFilters`` entry ``name``).  They are expanded into concrete paths
(lists of field names and integer indexes) before any operator runs.
"""

from __future__ import annotations

import copy
import datetime
from typing import Any, Callable

from bson.int64 import Int64
from bson.decimal128 import Decimal128
from bson.timestamp import Timestamp

from holddb.errors import MongoError, bad_value
from holddb.query._matcher import compile_filter, compile_value_condition
from holddb.query._paths import get_path
from holddb.query._values import MISSING, compare, is_number, type_name, values_equal

__all__ = ["apply_update", "is_operator_update", "upsert_seed", "validate_update"]

_OPERATORS = ("$set", "$unset", "$inc", "$mul", "$min", "$max", "$rename",
              "$setOnInsert", "$currentDate", "$push", "$addToSet", "$pop",
              "$pull", "$pullAll")


_PIPELINE_STAGES = ("$addFields", "$set", "$project", "$unset", "$replaceRoot", "$replaceWith")


def is_operator_update(spec: dict | list) -> bool:
    """True for ``{$op: ...}`` and pipeline updates, False for replacements."""
    if isinstance(spec, list):
        return True
    keys = list(spec)
    if not keys:
        return False
    dollar = [k.startswith("$") for k in keys]
    if any(dollar) and not all(dollar):
        raise bad_value("update document mixes operators and plain fields")
    return all(dollar)


def validate_update(spec: Any) -> None:
    """Reject malformed updates before touching any document."""
    if isinstance(spec, list):
        for stage in spec:
            name = next(iter(stage), None) if isinstance(stage, dict) else None
            if name not in _PIPELINE_STAGES:
                raise MongoError(72, f"{name} is not allowed to be used within an update; "
                                     f"accepted stages: {', '.join(_PIPELINE_STAGES)}")
        return
    if not isinstance(spec, dict):
        raise MongoError(14, "update must be an object")
    if not is_operator_update(spec):
        for key in spec:
            if key.startswith("$"):
                raise MongoError(52, f"The dollar ($) prefixed field '{key}' is not allowed")
        return
    seen: list[str] = []
    for op, fields in spec.items():
        if op not in _OPERATORS:
            raise MongoError(9, f"Unknown modifier: {op}. Expected a valid update modifier "
                                "or pipeline-style update specified as an array")
        if not isinstance(fields, dict):
            raise MongoError(9, f"Modifiers operate on fields but we found type "
                                f"{type_name(fields)} instead. For example: {{$mod: {{<field>: ...}}}} "
                                f"not {{{op}: {fields!r}}}")
        for path in fields:
            targets = [path] + ([fields[path]] if op == "$rename" else [])
            for target in targets:
                if not isinstance(target, str) or not target or target.startswith(".") or ".." in target:
                    raise MongoError(56, f"An empty update path is not valid: {target!r}")
                for other in seen:
                    if _overlaps(target, other):
                        raise MongoError(40, f"Updating the path '{target}' would create a "
                                             f"conflict at '{other}'")
                seen.append(target)


def _overlaps(a: str, b: str) -> bool:
    a, b = _strip_positional(a), _strip_positional(b)
    return a == b or a.startswith(b + ".") or b.startswith(a + ".")


def _strip_positional(path: str) -> str:
    return ".".join(p for p in path.split(".") if not p.startswith("$"))


def apply_update(doc: dict, spec: dict, *, query: dict | None = None,
                 array_filters: list | None = None, inserting: bool = False,
                 variables: dict | None = None) -> dict:
    """Return ``doc`` updated by ``spec``; ``_id`` may not change.

    ``variables`` (a command's ``let``) are visible to pipeline updates.
    """
    validate_update(spec)
    if isinstance(spec, list):
        return _apply_pipeline(doc, spec, variables)
    if not is_operator_update(spec):
        new = dict(spec)
        if "_id" in doc:
            if "_id" in new and not values_equal(new["_id"], doc["_id"]):
                raise _immutable_id(doc)
            new = {"_id": doc["_id"], **{k: v for k, v in new.items() if k != "_id"}}
        return new
    new = copy.deepcopy(doc)
    filters = _compile_array_filters(array_filters or [])
    context = _Context(query or {}, filters, doc)
    for op, fields in spec.items():
        if op == "$setOnInsert" and not inserting:
            continue
        for path, arg in fields.items():
            for concrete in _expand(new, path.split("."), context):
                _APPLY[op](new, concrete, arg, path)
    if "_id" in doc and not values_equal(new.get("_id", MISSING), doc["_id"]):
        raise _immutable_id(doc)
    return new


def _apply_pipeline(doc: dict, pipeline: list, variables: dict | None = None) -> dict:
    """A pipeline-style update: the stages run over the one document."""
    from holddb.query._aggregate import run_pipeline
    out = run_pipeline([copy.deepcopy(doc)], pipeline, lambda name: [], variables)
    if len(out) != 1:
        raise MongoError(2, "an update pipeline must produce exactly one document")
    new = out[0]
    if "_id" in doc:
        if "_id" in new and not values_equal(new["_id"], doc["_id"]):
            raise _immutable_id(doc)
        new = {"_id": doc["_id"], **{k: v for k, v in new.items() if k != "_id"}}
    return new


def _immutable_id(doc: dict) -> MongoError:
    return MongoError(66, "Performing an update on the path '_id' would modify the "
                          "immutable field '_id'")


class _Context:
    def __init__(self, query: dict, filters: dict, original: dict) -> None:
        self.query = query
        self.filters = filters
        self.original = original


def _compile_array_filters(entries: list) -> dict[str, Callable[[Any], bool]]:
    out: dict[str, Callable[[Any], bool]] = {}
    for entry in entries:
        if not isinstance(entry, dict) or not entry:
            raise MongoError(9, "arrayFilters entries must be non-empty objects")
        names = {key.split(".")[0] for key in entry if not key.startswith("$")}
        if len(names) != 1:
            raise MongoError(9, "Error parsing array filter: expected a single top-level field name")
        name = names.pop()
        test = compile_filter(entry)
        out[name] = lambda elem, _t=test, _n=name: _t({_n: elem})
    return out


def _expand(doc: Any, parts: list[str], context: _Context) -> list[list]:
    """Concrete paths for ``parts``: positional components become indexes."""
    results: list[list] = [[]]
    for i, part in enumerate(parts):
        if not part.startswith("$"):
            results = [r + [part] for r in results]
            continue
        expanded = []
        for prefix in results:
            array = _read_concrete(doc, prefix)
            shown = ".".join(map(str, prefix))
            if part == "$":
                expanded.append(prefix + [_positional_index(context, parts[:i])])
                continue
            if not isinstance(array, list):
                raise MongoError(2, f"The path '{shown}' must exist in the document in "
                                    "order to apply array updates.")
            if part == "$[]":
                expanded.extend(prefix + [j] for j in range(len(array)))
            elif part.startswith("$[") and part.endswith("]"):
                name = part[2:-1]
                test = context.filters.get(name)
                if test is None:
                    raise MongoError(2, f"No array filter found for identifier '{name}' "
                                        f"in path '{'.'.join(parts)}'")
                expanded.extend(prefix + [j] for j, e in enumerate(array) if test(e))
            else:
                raise MongoError(52, f"The dollar ($) prefixed field '{part}' in "
                                     f"'{'.'.join(parts)}' is not valid for storage.")
        results = expanded
    return results


def _read_concrete(doc: Any, parts: list) -> Any:
    for part in parts:
        if isinstance(doc, dict):
            doc = doc.get(part, MISSING)
        elif isinstance(doc, list) and (isinstance(part, int) or str(part).isdigit()):
            index = int(part)
            doc = doc[index] if index < len(doc) else MISSING
        else:
            return MISSING
    return doc


def _positional_index(context: _Context, prefix: list[str]) -> int:
    """Index of the first element of the array at ``prefix`` the query matched."""
    path = ".".join(prefix)
    array = get_path(context.original, path)
    relevant = [(k[len(path):].lstrip("."), c) for k, c in context.query.items()
                if k == path or k.startswith(path + ".")]
    if isinstance(array, list) and relevant:
        for index, element in enumerate(array):
            if all(_element_matches(element, rest, cond) for rest, cond in relevant):
                return index
    raise MongoError(2, "The positional operator did not find the match needed from the query.")


def _element_matches(element: Any, rest: str, cond: Any) -> bool:
    if rest:
        return isinstance(element, dict) and compile_filter({rest: cond})(element)
    if isinstance(cond, dict) and "$elemMatch" in cond and len(cond) == 1:
        inner = cond["$elemMatch"]
        if isinstance(element, dict) and not next(iter(inner), "").startswith("$"):
            return compile_filter(inner)(element)
        return compile_value_condition(inner)([element])
    return compile_value_condition(cond)([element])


def _parent(doc: dict, concrete: list, create: bool) -> tuple[Any, Any]:
    """The container holding the last component, creating documents on the way."""
    node: Any = doc
    for depth, part in enumerate(concrete[:-1]):
        nxt = _child(node, part)
        if nxt is MISSING:
            if not create:
                return None, None
            nxt = {}
            _store(node, part, nxt)
        elif not isinstance(nxt, (dict, list)):
            if not create:
                return None, None
            raise MongoError(28, f"Cannot create field '{concrete[depth + 1]}' in element "
                                 f"{{{part}: {nxt!r}}}")
        node = nxt
    return node, concrete[-1]


def _child(node: Any, part: Any) -> Any:
    if isinstance(node, dict):
        return node.get(str(part), MISSING)
    if isinstance(node, list):
        if not str(part).isdigit():
            raise MongoError(28, f"Cannot create field '{part}' in an array")
        index = int(part)
        return node[index] if index < len(node) else MISSING
    return MISSING


def _store(node: Any, part: Any, value: Any) -> None:
    if isinstance(node, dict):
        node[str(part)] = value
        return
    if not str(part).isdigit():
        raise MongoError(28, f"Cannot create field '{part}' in an array")
    index = int(part)
    while len(node) <= index:
        node.append(None)
    node[index] = value


def _op_set(doc: dict, concrete: list, value: Any, path: str) -> None:
    node, key = _parent(doc, concrete, True)
    _store(node, key, copy.deepcopy(value))


def _op_unset(doc: dict, concrete: list, value: Any, path: str) -> None:
    node, key = _parent(doc, concrete, False)
    if isinstance(node, dict):
        node.pop(str(key), None)
    elif isinstance(node, list) and str(key).isdigit() and int(key) < len(node):
        node[int(key)] = None


def _arith(kind: str) -> Callable[[dict, list, Any, str], None]:
    def apply(doc: dict, concrete: list, value: Any, path: str) -> None:
        if not is_number(value):
            raise MongoError(14, f"Cannot {kind[1:]} with non-numeric argument: {{{path}: {value!r}}}")
        node, key = _parent(doc, concrete, True)
        current = _child(node, key)
        if current is MISSING:
            result = value if kind == "$inc" else _zero_like(value)
        elif not is_number(current):
            raise MongoError(14, f"Cannot apply {kind} to a value of non-numeric type. "
                                 f"{{_id: {doc.get('_id')!r}}} has the field '{key}' of "
                                 f"non-numeric type {type_name(current)}")
        else:
            result = _number_op(kind, current, value)
        _store(node, key, result)
    return apply


def _zero_like(value: Any) -> Any:
    if isinstance(value, float):
        return 0.0
    if isinstance(value, Decimal128):
        return Decimal128("0")
    return Int64(0) if isinstance(value, Int64) else 0


def _number_op(kind: str, a: Any, b: Any) -> Any:
    if isinstance(a, Decimal128) or isinstance(b, Decimal128):
        da = a.to_decimal() if isinstance(a, Decimal128) else a
        db = b.to_decimal() if isinstance(b, Decimal128) else b
        return Decimal128(da + db if kind == "$inc" else da * db)
    result = a + b if kind == "$inc" else a * b
    if isinstance(result, int) and (isinstance(a, Int64) or isinstance(b, Int64)):
        return Int64(result)
    return result


def _min_max(kind: str) -> Callable[[dict, list, Any, str], None]:
    def apply(doc: dict, concrete: list, value: Any, path: str) -> None:
        node, key = _parent(doc, concrete, True)
        current = _child(node, key)
        if current is MISSING:
            _store(node, key, copy.deepcopy(value))
            return
        c = compare(value, current)
        if (kind == "$min" and c < 0) or (kind == "$max" and c > 0):
            _store(node, key, copy.deepcopy(value))
    return apply


def _op_rename(doc: dict, concrete: list, target: Any, path: str) -> None:
    node, key = _parent(doc, concrete, False)
    if not isinstance(node, dict) or str(key) not in node:
        return
    value = node.pop(str(key))
    _op_set(doc, str(target).split("."), value, str(target))


def _op_current_date(doc: dict, concrete: list, spec: Any, path: str) -> None:
    now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    now = now.replace(microsecond=now.microsecond // 1000 * 1000)
    if isinstance(spec, dict) and spec.get("$type") == "timestamp":
        value: Any = Timestamp(int(now.timestamp()), 1)
    elif spec is True or (isinstance(spec, dict) and spec.get("$type") == "date"):
        value = now
    else:
        raise bad_value(f"{path} is not valid type for $currentDate. Please use a boolean "
                        "('true') or a $type expression ({$type: 'timestamp/date'}).")
    _op_set(doc, concrete, value, path)


def _array_at(doc: dict, concrete: list, path: str, create: bool) -> tuple[Any, Any, Any]:
    node, key = _parent(doc, concrete, create)
    current = _child(node, key) if node is not None else MISSING
    if current is not MISSING and not isinstance(current, list):
        raise MongoError(2, f"The field '{path}' must be an array but is of type "
                            f"{type_name(current)} in document {{_id: {doc.get('_id')!r}}}")
    return node, key, current


def _op_push(doc: dict, concrete: list, arg: Any, path: str) -> None:
    node, key, current = _array_at(doc, concrete, path, True)
    array = [] if current is MISSING else current
    if isinstance(arg, dict) and "$each" in arg:
        unknown = set(arg) - {"$each", "$slice", "$sort", "$position"}
        if unknown:
            raise bad_value(f"Unrecognized clause in $push: {sorted(unknown)[0]}")
        items = arg["$each"]
        if not isinstance(items, list):
            raise bad_value("The argument to $each in $push must be an array")
        position = arg.get("$position")
        position = len(array) if position is None else int(position)
        if position < 0:
            position = max(0, len(array) + position)
        array[position:position] = copy.deepcopy(items)
        if "$sort" in arg:
            array = _push_sort(array, arg["$sort"])
        if "$slice" in arg:
            limit = int(arg["$slice"])
            array = array[:limit] if limit >= 0 else array[limit:]
    else:
        array.append(copy.deepcopy(arg))
    _store(node, key, array)


def _push_sort(array: list, spec: Any) -> list:
    import functools
    from holddb.query._sort import sort_key_compare
    if isinstance(spec, dict):
        cmp = sort_key_compare(spec)
        return sorted(array, key=functools.cmp_to_key(cmp))
    direction = int(spec)
    return sorted(array, key=functools.cmp_to_key(lambda a, b: compare(a, b) * direction))


def _op_add_to_set(doc: dict, concrete: list, arg: Any, path: str) -> None:
    node, key, current = _array_at(doc, concrete, path, True)
    array = [] if current is MISSING else current
    items = arg["$each"] if isinstance(arg, dict) and "$each" in arg else [arg]
    for item in items:
        if not any(values_equal(item, e) for e in array):
            array.append(copy.deepcopy(item))
    _store(node, key, array)


def _op_pop(doc: dict, concrete: list, arg: Any, path: str) -> None:
    if arg not in (1, -1):
        raise bad_value("$pop expects 1 or -1")
    node, key, current = _array_at(doc, concrete, path, False)
    if isinstance(current, list) and current:
        current.pop(0 if arg == -1 else -1)


def _op_pull(doc: dict, concrete: list, arg: Any, path: str) -> None:
    node, key, current = _array_at(doc, concrete, path, False)
    if not isinstance(current, list):
        return
    if isinstance(arg, dict) and arg and not next(iter(arg)).startswith("$"):
        test = compile_filter(arg)
        keep = [e for e in current if not (isinstance(e, dict) and test(e))]
    elif isinstance(arg, dict) and arg:
        cond = compile_value_condition(arg)
        keep = [e for e in current if not cond([e])]
    else:
        keep = [e for e in current if not values_equal(e, arg)]
    _store(node, key, keep)


def _op_pull_all(doc: dict, concrete: list, arg: Any, path: str) -> None:
    if not isinstance(arg, list):
        raise bad_value(f"$pullAll requires an array argument but was given a {type_name(arg)}")
    node, key, current = _array_at(doc, concrete, path, False)
    if isinstance(current, list):
        _store(node, key, [e for e in current if not any(values_equal(e, v) for v in arg)])


_APPLY: dict[str, Callable[[dict, list, Any, str], None]] = {
    "$set": _op_set,
    "$setOnInsert": _op_set,
    "$unset": _op_unset,
    "$inc": _arith("$inc"),
    "$mul": _arith("$mul"),
    "$min": _min_max("$min"),
    "$max": _min_max("$max"),
    "$rename": _op_rename,
    "$currentDate": _op_current_date,
    "$push": _op_push,
    "$addToSet": _op_add_to_set,
    "$pop": _op_pop,
    "$pull": _op_pull,
    "$pullAll": _op_pull_all,
}


def upsert_seed(query: dict) -> dict:
    """The document an upsert starts from: the query's equality fields."""
    seed: dict = {}
    for key, cond in (query or {}).items():
        if key == "$and" and isinstance(cond, list):
            for sub in cond:
                seed.update(upsert_seed(sub))
            continue
        if key.startswith("$"):
            continue
        if isinstance(cond, dict) and cond and next(iter(cond)).startswith("$"):
            if "$eq" in cond:
                cond = cond["$eq"]
            else:
                continue
        _op_set(seed, key.split("."), cond, key)
    return seed
