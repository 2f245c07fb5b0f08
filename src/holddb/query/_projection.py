"""Projections for find: inclusion, exclusion, ``$slice``, ``$elemMatch``,
the positional ``a.$`` form and computed fields (``{x: "$a"}``).

A projection is either inclusive or exclusive (``_id`` may be excluded from
an inclusive one); mixing is error 31254/31253 like mongod.
"""

from __future__ import annotations

import copy
from typing import Any, Callable

from holddb.errors import MongoError, bad_value
from holddb.query._matcher import compile_filter
from holddb.query._expressions import compile_expression
from holddb.query._values import MISSING, is_number

__all__ = ["compile_projection"]


def compile_projection(spec: Any, query: dict | None = None, *,
                       aggregation: bool = False,
                       variables: dict | None = None) -> Callable[[dict], dict]:
    """Compile ``spec``; ``aggregation=True`` reads ``{$slice: ...}`` etc. as
    expressions (the ``$project`` stage) rather than find's array operators."""
    if not spec:
        return lambda doc: doc
    if not isinstance(spec, dict):
        raise bad_value("projection must be an object")
    include_id = True
    includes: list[str] = []
    excludes: list[str] = []
    specials: dict[str, Any] = {}
    for path, value in spec.items():
        if path == "_id" and not isinstance(value, dict) and not (isinstance(value, str) and value.startswith("$")):
            include_id = bool(value)
            continue
        if aggregation and isinstance(value, dict):
            specials[path] = ("expr", compile_expression(value))
        elif path.endswith(".$"):
            specials[path[:-2]] = ("$", None)
        elif isinstance(value, dict) and "$slice" in value:
            specials[path] = ("$slice", value["$slice"])
        elif isinstance(value, dict) and "$elemMatch" in value:
            specials[path] = ("$elemMatch", compile_filter(value["$elemMatch"]))
        elif isinstance(value, (dict, str, list)) and not isinstance(value, bool):
            specials[path] = ("expr", compile_expression(value))
        elif value in (0, False):
            excludes.append(path)
        else:
            includes.append(path)
    if includes and excludes:
        raise MongoError(31254, f"Cannot do exclusion on field {excludes[0]} in inclusion projection")
    inclusive = bool(includes) or any(kind in ("$", "expr", "$elemMatch")
                                      for kind, _ in specials.values()) or (
        include_id and not excludes and not specials)  # {_id: 1} alone: only _id
    if excludes and any(kind == "expr" for kind, _ in specials.values()):
        raise MongoError(31254, "Cannot do exclusion in a projection with computed fields")

    def project(doc: dict) -> dict:
        if inclusive:
            out: dict = {}
            if include_id and "_id" in doc:
                out["_id"] = doc["_id"]
            for path in includes:
                _copy_path(doc, out, path.split("."))
        else:
            out = copy.deepcopy(doc)
            if not include_id:
                out.pop("_id", None)
            for path in excludes:
                _remove_path(out, path.split("."))
        for path, (kind, arg) in specials.items():
            _apply_special(doc, out, path, kind, arg, query or {}, variables or {})
        return out
    return project


def _copy_path(src: Any, dst: dict, parts: list[str]) -> None:
    head, rest = parts[0], parts[1:]
    if not isinstance(src, dict) or head not in src:
        return
    value = src[head]
    if not rest:
        dst[head] = copy.deepcopy(value)
    elif isinstance(value, dict):
        sub = dst.setdefault(head, {})
        _copy_path(value, sub, rest)
    elif isinstance(value, list):
        items = dst.setdefault(head, [])
        for element in value:
            if isinstance(element, dict):
                sub: dict = {}
                _copy_path(element, sub, rest)
                items.append(sub)


def _remove_path(doc: Any, parts: list[str]) -> None:
    if isinstance(doc, list):
        for element in doc:
            _remove_path(element, parts)
        return
    if not isinstance(doc, dict):
        return
    if len(parts) == 1:
        doc.pop(parts[0], None)
    elif parts[0] in doc:
        _remove_path(doc[parts[0]], parts[1:])


def _apply_special(doc: dict, out: dict, path: str, kind: str, arg: Any, query: dict,
                   variables: dict) -> None:
    value = doc.get(path) if "." not in path else _walk(doc, path)
    if kind == "expr":
        result = arg(doc, {**variables, "ROOT": doc})
        if result is not MISSING:
            out[path] = result
        return
    if not isinstance(value, list):
        if kind == "$slice" and value is not MISSING and value is not None and path not in out:
            out[path] = value
        return
    if kind == "$slice":
        out[path] = _slice(value, arg)
    elif kind == "$elemMatch":
        hit = next((e for e in value if isinstance(e, dict) and arg(e)), MISSING)
        if hit is MISSING:
            out.pop(path, None)
        else:
            out[path] = [hit]
    elif kind == "$":
        from holddb.query._update import _positional_index
        from holddb.query._update import _Context
        try:
            index = _positional_index(_Context(query, {}, doc), path.split("."))
        except MongoError as exc:
            raise MongoError(51246, "Executor error during find command: the positional "
                                    "operator did not find the match needed from the query") from exc
        out[path] = [value[index]]


def _walk(doc: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(doc, dict) or part not in doc:
            return MISSING
        doc = doc[part]
    return doc


def _slice(value: list, arg: Any) -> list:
    if is_number(arg):
        n = int(arg)
        return value[:n] if n >= 0 else value[n:]
    if isinstance(arg, list) and len(arg) == 2:
        skip, limit = int(arg[0]), int(arg[1])
        if limit <= 0:
            raise bad_value("$slice limit must be positive")
        start = skip if skip >= 0 else max(0, len(value) + skip)
        return value[start:start + limit]
    raise bad_value("$slice only supports numbers and [skip, limit] arrays")
