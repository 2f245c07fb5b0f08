"""Choosing how to read the documents a filter may match.

``plan(storage, info, filter)`` returns a :class:`Plan` whose ``docs()`` is a
superset of the matching documents (the caller still applies the filter).
Plans, best first:

* ``IDHACK``  -- ``_id`` equality or ``$in``: direct primary-key lookups;
* ``IXSCAN``  -- the first field of a (non-sparse, non-partial) index has an
  equality/``$in`` condition, or else a range ($gt/$gte/$lt/$lte) on an
  ascending first field: byte-range scans over the index entries;
* ``COLLSCAN`` -- everything, in ``_id`` order.

For a multikey index only one side of a range is used, since different
array elements may satisfy the two sides.

A plan is ``sorted`` when its scan order already is the requested sort:
``_id`` order for a sort on ``_id``; an index whose leading fields are the
sort fields (all directions equal, or all reversed for a backward scan);
or an equality on an index's first field followed by the sort fields.
Multikey indexes never provide order (a document has several keys).
The caller then streams documents and stops after skip + limit matches.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Iterator

from bson.regex import Regex

from holddb.storage._engine import CollectionInfo, Storage
from holddb.storage._indexes import IndexInfo, hashed_key
from holddb.storage._keys import encode_key, invert, prefix_end, rank_prefix

__all__ = ["Plan", "plan"]

_RANGE_OPS = ("$gt", "$gte", "$lt", "$lte")

# The implicit {_id: 1} index: its entries are the documents table's keys.
ID_INDEX = IndexInfo(0, "_id_", {"v": 2, "key": {"_id": 1}, "name": "_id_"}, [("_id", 1)],
                     unique=True)


@dataclass
class Plan:
    stage: str
    index: IndexInfo | None = None
    bounds: list[tuple[bytes | None, bytes | None]] = field(default_factory=list)
    id_values: list[Any] = field(default_factory=list)
    keys_examined: int = 0
    sorted: bool = False
    reverse: bool = False

    def iter_docs(self, storage: Storage, info: CollectionInfo) -> Iterator[dict]:
        """Documents one at a time in scan order (for sorted plans)."""
        if self.stage == "COLLSCAN":
            if self.reverse:
                yield from (doc for _, doc in storage.scan(info, reverse=True))
            else:
                yield from storage.scan_paged(info)
            return
        if self.stage != "IXSCAN":
            yield from self.docs(storage, info)
            return
        seen: set[bytes] = set()
        for low, high in self.bounds:
            for id_key in self._keys(storage, info, low, high):
                if id_key in seen:
                    continue
                seen.add(id_key)
                self.keys_examined += 1
                yield from storage.fetch(info, [id_key])

    def _keys(self, storage: Storage, info: CollectionInfo, low: bytes | None,
              high: bytes | None) -> list[bytes]:
        if self.index is ID_INDEX:  # the _id index is the documents table itself
            return storage.id_range(info, low, high, reverse=self.reverse)
        return storage.index_range(self.index, low, high, reverse=self.reverse)

    def docs(self, storage: Storage, info: CollectionInfo) -> list[dict]:
        if self.stage == "IDHACK":
            keys = list(dict.fromkeys(encode_key(v) for v in self.id_values))
            self.keys_examined = len(keys)
            return storage.fetch(info, keys)
        if self.stage == "IXSCAN":
            id_keys: dict[bytes, None] = {}
            for low, high in self.bounds:
                for id_key in self._keys(storage, info, low, high):
                    id_keys.setdefault(id_key, None)
            self.keys_examined = len(id_keys)
            return storage.fetch(info, list(id_keys))
        return [doc for _, doc in storage.scan(info)]

    def describe(self) -> dict:
        direction = "backward" if self.reverse else "forward"
        if self.stage == "IXSCAN":
            return {"stage": "FETCH", "inputStage": {
                "stage": "IXSCAN", "keyPattern": self.index.spec["key"],
                "indexName": self.index.name, "isMultiKey": self.index.multikey,
                "isUnique": self.index.unique, "isSparse": self.index.sparse,
                "isPartial": self.index.partial is not None,
                "isHashed": self.index.hashed,
                "direction": direction}}
        if self.stage == "IDHACK":
            return {"stage": "IDHACK"}
        return {"stage": "COLLSCAN", "direction": direction}


def _is_plain(value: Any) -> bool:
    return not isinstance(value, (dict, list, Regex, re.Pattern)) and value is not None


def _equalities(cond: Any) -> list[Any] | None:
    """Values an equality/$in condition pins the field to, or None."""
    if _is_plain(cond):
        return [cond]
    if isinstance(cond, dict) and cond and next(iter(cond)).startswith("$"):
        if "$eq" in cond and _is_plain(cond["$eq"]):
            return [cond["$eq"]]
        values = cond.get("$in")
        if isinstance(values, list) and values and all(_is_plain(v) for v in values):
            return values
    return None


def _regex_prefix(cond: Any) -> str | None:
    """The literal prefix of an anchored, case-sensitive regex (``^abc``)."""
    pattern, flags = None, ""
    if isinstance(cond, Regex):
        pattern, flags = cond.pattern, cond.flags
    elif isinstance(cond, re.Pattern):
        pattern, flags = cond.pattern, cond.flags & ~re.UNICODE
    elif isinstance(cond, dict) and "$regex" in cond and set(cond) <= {"$regex", "$options"}:
        pattern, flags = cond["$regex"], cond.get("$options", "")
        if isinstance(pattern, (Regex, re.Pattern)):
            return _regex_prefix(pattern) if not flags else None
    if not isinstance(pattern, str) or not pattern.startswith("^") or flags not in (0, ""):
        return None  # any flag (i, m, x, s) may change what the prefix means
    prefix = []
    for char in pattern[1:]:
        if char in ".^$*+?()[]{}|\\":
            break
        prefix.append(char)
    return "".join(prefix) if prefix and not (len(prefix) < len(pattern) - 1 and
                                              pattern[len(prefix) + 1] in "*?{|") else None


def _regex_bounds(prefix: str) -> tuple[bytes, bytes | None]:
    """Keys of every string starting with ``prefix``: the string encoding
    without its terminator is a byte prefix of theirs."""
    key = encode_key(prefix)[:-2]
    return key, prefix_end(key)


def _range(cond: Any, multikey: bool) -> tuple[bytes | None, bytes | None] | None:
    if not isinstance(cond, dict) or not any(op in cond for op in _RANGE_OPS):
        return None
    low = high = None
    for op in _RANGE_OPS:
        if op not in cond:
            continue
        value = cond[op]
        if not _is_plain(value):
            return None
        key, bracket = encode_key(value), rank_prefix(value)
        if op in ("$gt", "$gte"):
            low = key if op == "$gte" else prefix_end(key)
            high = high or prefix_end(bracket)
        else:
            high = key if op == "$lt" else prefix_end(key)
            low = low or bracket
    if multikey:
        ops = [op for op in _RANGE_OPS if op in cond]
        if any(op in ops for op in ("$gt", "$gte")) and any(op in ops for op in ("$lt", "$lte")):
            lower = next(op for op in ("$gt", "$gte") if op in ops)
            return _range({lower: cond[lower]}, False)
    return low, high


def _sort_fields(sort: Any) -> list[tuple[str, int]]:
    if not isinstance(sort, dict):
        return []
    fields = []
    for path, direction in sort.items():
        if direction not in (1, -1, 1.0, -1.0):
            return []
        fields.append((path, int(direction)))
    return fields


def _order_of(fields: list[tuple[str, int]], wanted: list[tuple[str, int]]) -> bool | None:
    """None if ``fields`` (a prefix of index fields) cannot give ``wanted``
    order; else whether the scan must run backwards."""
    if not wanted or len(fields) < len(wanted):
        return None
    head = fields[:len(wanted)]
    if [p for p, _ in head] != [p for p, _ in wanted]:
        return None
    if all(d == w for (_, d), (_, w) in zip(head, wanted)):
        return False
    if all(d == -w for (_, d), (_, w) in zip(head, wanted)):
        return True
    return None


def _with_order(chosen: Plan, info: CollectionInfo, sort: Any, hinted: bool) -> Plan:
    """Mark ``chosen`` sorted when its scan order satisfies ``sort``, or
    switch a collection scan to an index that gives the order."""
    wanted = _sort_fields(sort)
    if not wanted:
        return chosen
    if chosen.stage == "IXSCAN" and not chosen.index.multikey:
        fields = chosen.index.fields
        if len(chosen.bounds) != 1:
            return chosen  # several $in ranges: their union is not in key order
        low, high = chosen.bounds[0]
        single_eq = low is not None and high == prefix_end(low)
        for skip in ((0, 1) if single_eq else (0,)):
            reverse = _order_of(fields[skip:], wanted)
            if reverse is not None:
                chosen.sorted, chosen.reverse = True, reverse
                return chosen
        return chosen
    if chosen.stage == "COLLSCAN" and not hinted:
        if [p for p, _ in wanted] == ["_id"] and not info.capped:
            chosen.sorted, chosen.reverse = True, wanted[0][1] < 0
            return chosen
        for index in info.indexes:
            if index.multikey or index.sparse or index.partial is not None:
                continue
            reverse = _order_of(index.fields, wanted)
            if reverse is not None:
                return Plan("IXSCAN", index=index, bounds=[(None, None)], sorted=True,
                            reverse=reverse)
    return chosen


def plan_min_max(info: CollectionInfo, hint: Any, low: dict | None,
                 high: dict | None) -> Plan:
    """find's ``min``/``max``: an inclusive lower and exclusive upper bound in
    the key space of the hinted index (whose key pattern they must follow)."""
    from holddb.errors import MongoError
    if hint in (None, {}, ""):
        raise MongoError(51173, "When using min()/max() a hint of which index to use must "
                                "be specified")
    index = next((i for i in [ID_INDEX, *info.indexes]
                  if i.name == hint or i.spec["key"] == hint), None)
    if index is None:
        raise MongoError(2, "error processing query: planner returned error :: caused by :: "
                            "hint provided does not correspond to an existing index")
    paths = [path for path, _ in index.fields]

    def bound(doc: dict | None) -> bytes | None:
        if doc is None:
            return None
        if list(doc) != paths:
            raise MongoError(51174, "The index chosen is not equal to min/max key pattern")
        parts = []
        for (path, direction) in index.fields:
            key = encode_key(doc[path])
            parts.append(invert(key) if direction < 0 else key)
        return b"".join(parts)
    return Plan("IXSCAN", index=index, bounds=[(bound(low), bound(high))])


def plan(storage: Storage, info: CollectionInfo | None, spec: dict | None,
         hint: Any = None, sort: Any = None) -> Plan:
    """The plan for ``spec`` (and ``sort``, when an index can provide it)."""
    if info is None:
        return Plan("EOF")
    chosen = _plan_filter(info, spec or {}, hint)
    return _with_order(chosen, info, sort, hint not in (None, {}, ""))


def _as_ops(cond: Any) -> dict:
    if isinstance(cond, dict) and cond and next(iter(cond)).startswith("$"):
        return cond
    return {"$eq": cond}


def _op_implied(op: str, bound: Any, query_ops: dict) -> bool:
    """Does the query's condition on a field guarantee ``{op: bound}``?"""
    from holddb.query import compare, type_name
    if op == "$eq":
        return "$eq" in query_ops and compare(query_ops["$eq"], bound) == 0
    if op == "$exists":
        return bool(bound) and any(k in query_ops for k in ("$eq", *_RANGE_OPS)) and \
            query_ops.get("$eq", 0) is not None
    if op not in _RANGE_OPS:
        return False
    lower = op in ("$gt", "$gte")
    for qop, value in query_ops.items():
        if qop not in ("$eq", *_RANGE_OPS) or value is None:
            continue
        if type_name(value) != type_name(bound) and not (
                type_name(value) in ("int", "long", "double", "decimal")
                and type_name(bound) in ("int", "long", "double", "decimal")):
            continue
        c = compare(value, bound)
        if qop == "$eq":
            ok = {"$gt": c > 0, "$gte": c >= 0, "$lt": c < 0, "$lte": c <= 0}[op]
        elif lower and qop in ("$gt", "$gte"):
            ok = c > 0 or (c == 0 and (op == "$gte" or qop == "$gt"))
        elif not lower and qop in ("$lt", "$lte"):
            ok = c < 0 or (c == 0 and (op == "$lte" or qop == "$lt"))
        else:
            ok = False
        if ok:
            return True
    return False


def _implies(spec: dict, partial: dict) -> bool:
    """Whether every document matching ``spec`` matches a partial index's
    filter, judged field by field for equality, ranges and $exists (a
    conservative answer: False when unsure)."""
    for path, cond in partial.items():
        if path == "$and" and isinstance(cond, list):
            if not all(_implies(spec, sub) for sub in cond):
                return False
            continue
        if path.startswith("$") or path not in spec:
            return False
        if spec[path] == cond:
            continue
        query_ops = _as_ops(spec[path])
        if not all(_op_implied(op, bound, query_ops) for op, bound in _as_ops(cond).items()):
            return False
    return True


def _plan_filter(info: CollectionInfo, spec: dict, hint: Any) -> Plan:
    ids = _equalities(spec.get("_id")) if "_id" in spec else None
    if ids is not None and hint is None:
        return Plan("IDHACK", id_values=ids)
    ordinary = [i for i in info.indexes if i.fields]  # text indexes are searched, not planned
    candidates = [i for i in ordinary
                  if i.partial is None or _implies(spec, i.spec["partialFilterExpression"])]
    if hint not in (None, {}, ""):
        hinted = [i for i in ordinary if i.name == hint or i.spec["key"] == hint]
        if not hinted:
            if hint in ("_id_", {"_id": 1}):
                return Plan("COLLSCAN")
            from holddb.errors import MongoError
            raise MongoError(2, "error processing query: planner returned error :: caused by :: "
                                "hint provided does not correspond to an existing index")
        candidates = hinted
    for index in candidates:
        path, direction = index.fields[0]
        values = _equalities(spec.get(path)) if path in spec else None
        if values is not None:
            bounds = []
            for value in values:
                key = hashed_key(value) if index.hashed else encode_key(value)
                if direction < 0:
                    key = invert(key)
                bounds.append((key, prefix_end(key)))
            return Plan("IXSCAN", index=index, bounds=bounds)
    for index in candidates:
        path, direction = index.fields[0]
        if direction < 0 or path not in spec or index.hashed:
            continue
        bounds = _range(spec[path], index.multikey)
        if bounds is None and _regex_prefix(spec[path]):
            bounds = _regex_bounds(_regex_prefix(spec[path]))
        if bounds is not None:
            return Plan("IXSCAN", index=index, bounds=[bounds])
    if hint not in (None, {}, "") and candidates:
        return Plan("IXSCAN", index=candidates[0], bounds=[(None, None)])
    return Plan("COLLSCAN")
