"""Index specifications and the keys a document contributes to an index.

An index spec is the document ``createIndexes`` receives::

    {key: {a: 1, "b.c": -1}, name: "a_1_b.c_-1", unique?, sparse?,
     partialFilterExpression?, expireAfterSeconds?}

``index_keys(spec, doc)`` returns the set of byte keys for ``doc``: one per
combination of array elements (a multikey index), ``None`` when a sparse or
partial index skips the document.  Missing fields index as null.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any, Callable

from holddb.errors import MongoError
from holddb.query._matcher import compile_filter
from holddb.query._paths import candidates
from holddb.query._values import MISSING
from holddb.storage._keys import encode_key, invert

__all__ = ["IndexInfo", "index_keys", "hashed_key", "touches_array", "validate_index_spec",
           "default_index_name"]

_ALLOWED_OPTIONS = {"key", "name", "unique", "sparse", "partialFilterExpression",
                    "expireAfterSeconds", "background", "v", "ns", "collation",
                    "hidden", "weights", "default_language", "language_override",
                    "textIndexVersion", "2dsphereIndexVersion", "bits", "min", "max",
                    "storageEngine", "wildcardProjection", "dropDups"}


@dataclass
class IndexInfo:
    """A created index as the storage layer keeps it (``_id_`` is implicit)."""

    id: int
    name: str
    spec: dict
    fields: list[tuple[str, int]]
    unique: bool = False
    sparse: bool = False
    partial: Callable[[dict], bool] | None = None
    multikey: bool = False
    extra: dict = field(default_factory=dict)
    hashed: bool = False

    @property
    def text_weights(self) -> dict[str, float] | None:
        """Field -> weight for a text index; None for an ordinary index."""
        return self.spec.get("weights") if "_fts" in self.spec["key"] else None

    @classmethod
    def from_spec(cls, index_id: int, spec: dict, multikey: bool = False) -> "IndexInfo":
        if "_fts" in spec["key"]:  # a text index: its keys are tokens, it is never ordered
            return cls(index_id, spec["name"], spec, [], sparse=True, multikey=True,
                       partial=_partial(spec))
        if "hashed" in spec["key"].values():  # {field: "hashed"}: equality lookups only
            (path,) = spec["key"]
            return cls(index_id, spec["name"], spec, [(path, 1)], sparse=bool(spec.get("sparse")),
                       partial=_partial(spec), multikey=True, hashed=True)
        fields = [(path, -1 if direction == -1 else 1) for path, direction in spec["key"].items()]
        partial = spec.get("partialFilterExpression")
        return cls(index_id, spec["name"], spec, fields, bool(spec.get("unique")),
                   bool(spec.get("sparse")),
                   compile_filter(partial) if partial is not None else None, multikey)


def _partial(spec: dict) -> Callable[[dict], bool] | None:
    partial = spec.get("partialFilterExpression")
    return compile_filter(partial) if partial is not None else None


def _text_spec(spec: dict) -> dict:
    """A text index in mongod's stored form: ``key: {_fts: "text", _ftsx: 1}``
    with the indexed fields in ``weights``."""
    key = spec["key"]
    if not all(direction == "text" for direction in key.values()):
        raise MongoError(67, "holddb text indexes may hold text fields only (no compound keys)")
    weights = {path: 1 for path in key}
    extra = spec.get("weights") or {}
    if not isinstance(extra, dict) or not all(isinstance(w, (int, float)) and w > 0
                                              for w in extra.values()):
        raise MongoError(67, "text index weights must be positive numbers")
    weights.update(extra)
    name = spec.get("name") or "_".join(f"{path}_text" for path in key)
    out = {"v": 2, "key": {"_fts": "text", "_ftsx": 1}, "name": name, "weights": weights,
           "default_language": spec.get("default_language", "english"),
           "language_override": spec.get("language_override", "language"),
           "textIndexVersion": 3}
    if "partialFilterExpression" in spec:
        compile_filter(spec["partialFilterExpression"])
        out["partialFilterExpression"] = spec["partialFilterExpression"]
    return out


def default_index_name(key: dict) -> str:
    return "_".join(f"{path}_{direction}" for path, direction in key.items())


def validate_index_spec(spec: Any) -> dict:
    """Check one createIndexes entry; returns it with its name filled in."""
    if not isinstance(spec, dict):
        raise MongoError(14, "index specification must be an object")
    unknown = set(spec) - _ALLOWED_OPTIONS
    if unknown:
        raise MongoError(197, f"The field '{sorted(unknown)[0]}' is not valid for an index "
                              f"specification. Specification: {spec!r}")
    key = spec.get("key")
    if not isinstance(key, dict) or not key:
        raise MongoError(67, "Index keys cannot be empty.")
    if "text" in key.values() or "_fts" in key:
        return _text_spec(spec) if "_fts" not in key else dict(spec)
    if "hashed" in key.values():
        if len(key) != 1:
            raise MongoError(67, "holddb hashed indexes have exactly one field")
        if spec.get("unique"):
            raise MongoError(16764, "Currently hashed indexes cannot guarantee uniqueness. "
                                    "Use a regular index.")
        return {"v": 2, "key": dict(key), "name": spec.get("name") or default_index_name(key),
                **{k: v for k, v in spec.items() if k not in ("v", "key", "name", "ns")}}
    for path, direction in key.items():
        if isinstance(direction, str):
            raise MongoError(67, f"holddb does not support {direction!r} indexes "
                                 "(only ascending 1 and descending -1 keys)")
        if isinstance(direction, bool) or not isinstance(direction, (int, float)) or direction == 0:
            raise MongoError(67, f"Values in the index key pattern must be 1 or -1, "
                                 f"not {direction!r} for '{path}'")
    if "name" not in spec:
        spec = {**spec, "name": default_index_name(key)}
    if not isinstance(spec["name"], str) or not spec["name"]:
        raise MongoError(67, "index name must be a non-empty string")
    if "partialFilterExpression" in spec:
        compile_filter(spec["partialFilterExpression"])
    normalised = {"v": 2, "key": {p: (-1 if d < 0 else 1) if not isinstance(d, int) else d
                                  for p, d in key.items()}, "name": spec["name"]}
    for option, value in spec.items():
        if option not in ("v", "key", "name", "ns"):
            normalised[option] = value
    return normalised


def index_keys(index: IndexInfo, doc: dict) -> set[bytes] | None:
    """The byte keys ``doc`` contributes, or None when the index skips it."""
    if index.partial is not None and not index.partial(doc):
        return None
    if index.hashed:
        path = index.fields[0][0]
        found = candidates(doc, path.split("."))
        if any(isinstance(v, list) for v in found) or len(found) > 1:
            raise MongoError(16766, "Error: hashed indexes do not currently support array values")
        if index.sparse and found[0] is MISSING:
            return None
        return {hashed_key(None if found[0] is MISSING else found[0])}
    weights = index.text_weights
    if weights is not None:
        from holddb.query._text import field_strings, tokens
        words = {t for path in weights for s in field_strings(doc, path) for t in tokens(s)}
        return {encode_key(word) for word in words} or None
    per_field: list[list[bytes]] = []
    all_missing = True
    for path, direction in index.fields:
        values: list[Any] = []
        for value in candidates(doc, path.split(".")):
            if isinstance(value, list):
                values.extend(value if value else [None])
            else:
                values.append(value)
        if any(v is not MISSING for v in values):
            all_missing = False
        encoded = {encode_key(None if v is MISSING else v) for v in values}
        per_field.append([invert(e) if direction < 0 else e for e in sorted(encoded)])
    if index.sparse and all_missing:
        return None
    return {b"".join(combo) for combo in itertools.product(*per_field)}


def hashed_key(value: Any) -> bytes:
    """The entry key of ``value`` in a hashed index: a 64-bit digest of its
    order-preserving key (equal values -- 1 and 1.0 too -- hash alike)."""
    import hashlib
    from bson.int64 import Int64
    digest = hashlib.md5(encode_key(value)).digest()
    return encode_key(Int64(int.from_bytes(digest[:8], "little", signed=True)))


def touches_array(index: IndexInfo, doc: dict) -> bool:
    """True when any indexed path of ``doc`` goes through or ends at an array.

    Such an index is *multikey*: one document may have several keys, so the
    index order is not the document sort order and both range bounds cannot
    be applied together.
    """
    for path, _ in index.fields:
        found = candidates(doc, path.split("."))
        if len(found) > 1 or any(isinstance(v, list) for v in found):
            return True
    return False
