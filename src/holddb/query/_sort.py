"""Sort specifications: ``{a: 1, b: -1}`` into a comparison function.

For a path that reaches an array, an ascending sort uses the array's
smallest element and a descending sort its largest, as MongoDB does; a
missing field sorts like null.
"""

from __future__ import annotations

import functools
from typing import Any, Callable

from holddb.errors import bad_value
from holddb.query._paths import candidates
from holddb.query._values import MISSING, compare

__all__ = ["sort_documents", "sort_key_compare", "parse_sort"]


def parse_sort(spec: Any) -> list[tuple[list[str], int]]:
    """Validate a sort spec into ``[(path parts, direction)]``."""
    if spec is None:
        return []
    if not isinstance(spec, dict):
        raise bad_value("sort must be an object")
    keys = []
    for path, direction in spec.items():
        if (isinstance(direction, dict) and "$meta" in direction) or path == "$natural":
            continue  # textScore: no text index; $natural: the scan order itself  # textScore and friends: no text index, so no order
        if direction in (1, -1, 1.0, -1.0):
            keys.append((path.split("."), int(direction)))
        else:
            raise bad_value(f"$sort key ordering must be 1 (for ascending) or -1 "
                            f"(for descending), not {direction!r}")
    return keys


def _sort_value(doc: Any, parts: list[str], direction: int) -> Any:
    values = []
    for value in candidates(doc, parts):
        if isinstance(value, list):
            values.extend(value if value else [MISSING])
        else:
            values.append(value)
    best = values[0]
    for value in values[1:]:
        c = compare(value, best)
        if (direction > 0 and c < 0) or (direction < 0 and c > 0):
            best = value
    return best


def sort_key_compare(spec: Any) -> Callable[[Any, Any], int]:
    keys = parse_sort(spec)

    def cmp(a: Any, b: Any) -> int:
        for parts, direction in keys:
            c = compare(_sort_value(a, parts, direction), _sort_value(b, parts, direction))
            if c:
                return c * direction
        return 0
    return cmp


def sort_documents(docs: list, spec: Any) -> list:
    """A new list of ``docs`` in ``spec`` order (stable)."""
    if not parse_sort(spec):
        return list(docs)
    return sorted(docs, key=functools.cmp_to_key(sort_key_compare(spec)))
