"""Dotted paths through documents and arrays, for reading.

``candidates(doc, "a.b")`` returns every value the path can denote, the way
MongoDB's matcher sees it: a field name applied to an array reaches into each
element that is a document; a numeric component indexes an array (and is also
tried as a field name of document elements).  Paths that lead nowhere yield
:data:`MISSING`, so ``{"a.b": null}`` matches ``{a: [{b: 1}, {}]}``.
"""

from __future__ import annotations

from typing import Any

from holddb.query._values import MISSING

__all__ = ["candidates", "get_path", "split_path"]


def split_path(path: str) -> list[str]:
    return path.split(".")


def candidates(value: Any, parts: list[str] | tuple[str, ...]) -> list[Any]:
    """All values reached by ``parts`` from ``value`` (never empty)."""
    out: list[Any] = []
    _collect(value, parts, 0, out)
    return out or [MISSING]


def _collect(value: Any, parts: Any, i: int, out: list[Any]) -> None:
    if i == len(parts):
        out.append(value)
        return
    head = parts[i]
    if isinstance(value, dict):
        if head in value:
            _collect(value[head], parts, i + 1, out)
        else:
            out.append(MISSING)
    elif isinstance(value, list):
        if head.isdigit():
            index = int(head)
            if index < len(value):
                _collect(value[index], parts, i + 1, out)
        for element in value:
            if isinstance(element, dict):
                _collect(element, parts, i, out)
    else:
        out.append(MISSING)


def get_path(value: Any, path: str) -> Any:
    """The single value at ``path`` without array fan-out, as projections and
    expressions (``"$a.b"``) see it: through an array it yields the array of
    each element's value, skipping elements where the field is missing."""
    for i, part in enumerate(path.split(".")):
        if isinstance(value, dict):
            value = value.get(part, MISSING)
        elif isinstance(value, list):
            rest = ".".join(path.split(".")[i:])
            found = [get_path(e, rest) for e in value if isinstance(e, (dict, list))]
            return [v for v in found if v is not MISSING]
        else:
            return MISSING
        if value is MISSING:
            return MISSING
    return value
