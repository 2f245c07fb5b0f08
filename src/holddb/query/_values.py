"""BSON values as Python objects: canonical type order, comparison, type names.

MongoDB compares values of different types by a fixed canonical order::

    MinKey < null (and missing) < numbers < string/symbol < object < array
      < binData < ObjectId < bool < date < timestamp < regex < MaxKey

Numbers of any width (int32, int64, double, decimal) compare by value and a
NaN sorts below every other number.  Objects compare element by element
(type, then field name, then value), arrays element by element, then by
length.  :func:`compare` implements exactly that; sort, ``$lt``/``$gt``,
``$min``/``$max`` and index keys all rest on it.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime
import decimal
import math
import re
import unicodedata
from typing import Any, Callable, Iterator

from bson.binary import Binary
from bson.code import Code
from bson.dbref import DBRef
from bson.datetime_ms import DatetimeMS
from bson.decimal128 import Decimal128
from bson.int64 import Int64
from bson.max_key import MaxKey
from bson.min_key import MinKey
from bson.objectid import ObjectId
from bson.regex import Regex
from bson.timestamp import Timestamp

__all__ = ["MISSING", "compare", "type_rank", "type_name", "is_number",
           "to_decimal", "values_equal", "TYPE_ALIASES", "collation_scope"]

# The string comparison key of the current command's collation (None: binary).
_STRING_KEY: contextvars.ContextVar[Callable[[str], str] | None] = contextvars.ContextVar(
    "holddb_string_key", default=None)


def _strip_accents(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text)
                   if not unicodedata.combining(c))


def _string_key(spec: Any) -> Callable[[str], str] | None:
    """Collations holddb honours: strength 1 (ignore case and accents) and
    2 (ignore case); every other collation compares binary, as 'simple'."""
    if not isinstance(spec, dict) or spec.get("locale") in (None, "simple"):
        return None
    strength = spec.get("strength", 3)
    if strength == 1:
        return lambda text: _strip_accents(text).casefold()
    if strength == 2:
        return str.casefold
    return None


@contextlib.contextmanager
def collation_scope(spec: Any) -> Iterator[bool]:
    """Compare strings under ``spec`` inside the block; yields whether the
    collation changes comparisons (then byte-keyed indexes cannot be used)."""
    key = _string_key(spec)
    token = _STRING_KEY.set(key)
    try:
        yield key is not None
    finally:
        _STRING_KEY.reset(token)



class _Missing:
    """Marker for a path that leads nowhere (distinct from an explicit null)."""

    _instance = None

    def __new__(cls) -> "_Missing":
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING: Any = _Missing()

RANK_MINKEY, RANK_NULL, RANK_NUMBER, RANK_STRING = 1, 5, 10, 15
RANK_OBJECT, RANK_ARRAY, RANK_BINARY, RANK_OBJECTID = 20, 25, 30, 35
RANK_BOOL, RANK_DATE, RANK_TIMESTAMP, RANK_REGEX = 40, 45, 50, 55
RANK_CODE, RANK_MAXKEY = 60, 127

# $type accepts both names and numbers.
TYPE_ALIASES = {
    "double": 1, "string": 2, "object": 3, "array": 4, "binData": 5,
    "undefined": 6, "objectId": 7, "bool": 8, "date": 9, "null": 10,
    "regex": 11, "dbPointer": 12, "javascript": 13, "symbol": 14,
    "javascriptWithScope": 15, "int": 16, "timestamp": 17, "long": 18,
    "decimal": 19, "minKey": -1, "maxKey": 127,
}
_NUMBER_TO_NAME = {v: k for k, v in TYPE_ALIASES.items()}


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float, Decimal128)) and not isinstance(value, bool)


def type_rank(value: Any) -> int:
    """The canonical-order rank of ``value`` (missing ranks as null)."""
    if value is None or value is MISSING:
        return RANK_NULL
    if isinstance(value, bool):
        return RANK_BOOL
    if isinstance(value, (int, float, Decimal128)):
        return RANK_NUMBER
    if isinstance(value, str):
        return RANK_STRING
    if isinstance(value, dict) or isinstance(value, DBRef):
        return RANK_OBJECT
    if isinstance(value, list):
        return RANK_ARRAY
    if isinstance(value, (bytes, Binary)):
        return RANK_BINARY
    if isinstance(value, ObjectId):
        return RANK_OBJECTID
    if isinstance(value, (datetime.datetime, DatetimeMS)):
        return RANK_DATE
    if isinstance(value, Timestamp):
        return RANK_TIMESTAMP
    if isinstance(value, (Regex, re.Pattern)):
        return RANK_REGEX
    if isinstance(value, Code):
        return RANK_CODE
    if isinstance(value, MinKey):
        return RANK_MINKEY
    if isinstance(value, MaxKey):
        return RANK_MAXKEY
    raise TypeError(f"not a BSON value: {type(value).__name__}")


def type_name(value: Any) -> str:
    """MongoDB's ``$type`` name for ``value``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, Int64):
        return "long"
    if isinstance(value, int):
        return "int" if -2**31 <= value < 2**31 else "long"
    if isinstance(value, float):
        return "double"
    if isinstance(value, Decimal128):
        return "decimal"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (dict, DBRef)):
        return "object"
    if isinstance(value, list):
        return "array"
    if isinstance(value, (bytes, Binary)):
        return "binData"
    if isinstance(value, ObjectId):
        return "objectId"
    if isinstance(value, (datetime.datetime, DatetimeMS)):
        return "date"
    if isinstance(value, Timestamp):
        return "timestamp"
    if isinstance(value, (Regex, re.Pattern)):
        return "regex"
    if isinstance(value, Code):
        return "javascriptWithScope" if value.scope else "javascript"
    if isinstance(value, MinKey):
        return "minKey"
    if isinstance(value, MaxKey):
        return "maxKey"
    return "unknown"


def type_number(value: Any) -> int:
    return TYPE_ALIASES[type_name(value)]


def to_decimal(value: Any) -> decimal.Decimal:
    """Exact decimal value of a BSON number (NaN stays NaN)."""
    if isinstance(value, Decimal128):
        return value.to_decimal()
    return decimal.Decimal(value)


def _is_nan(value: Any) -> bool:
    if isinstance(value, float):
        return math.isnan(value)
    if isinstance(value, Decimal128):
        return value.to_decimal().is_nan()
    return False


def _compare_numbers(a: Any, b: Any) -> int:
    a_nan, b_nan = _is_nan(a), _is_nan(b)
    if a_nan or b_nan:
        return (not a_nan) - (not b_nan) if a_nan != b_nan else 0
    if isinstance(a, Decimal128) or isinstance(b, Decimal128):
        a, b = to_decimal(a), to_decimal(b)
    return (a > b) - (a < b)  # int/float comparison in Python is exact


def _date_millis(value: Any) -> int:
    if isinstance(value, DatetimeMS):
        return int(value)
    if value.tzinfo is not None:
        value = value.astimezone(datetime.timezone.utc).replace(tzinfo=None)
    delta = value - datetime.datetime(1970, 1, 1)
    return (delta.days * 86400 + delta.seconds) * 1000 + delta.microseconds // 1000


def _cmp(a: Any, b: Any) -> int:
    return (a > b) - (a < b)


def compare(a: Any, b: Any) -> int:
    """Three-way comparison of two BSON values in MongoDB's canonical order."""
    rank_a, rank_b = type_rank(a), type_rank(b)
    if rank_a != rank_b:
        return _cmp(rank_a, rank_b)
    if rank_a in (RANK_NULL, RANK_MINKEY, RANK_MAXKEY):
        return 0
    if rank_a == RANK_NUMBER:
        return _compare_numbers(a, b)
    if rank_a == RANK_STRING:
        fold = _STRING_KEY.get()
        if fold is not None:
            a, b = fold(a), fold(b)
        return _cmp(a.encode("utf-8", "surrogatepass"), b.encode("utf-8", "surrogatepass"))
    if rank_a == RANK_OBJECT:
        return _compare_objects(_as_dict(a), _as_dict(b))
    if rank_a == RANK_ARRAY:
        for x, y in zip(a, b):
            c = compare(x, y)
            if c:
                return c
        return _cmp(len(a), len(b))
    if rank_a == RANK_BINARY:
        sa, sb = getattr(a, "subtype", 0), getattr(b, "subtype", 0)
        return _cmp((len(a), sa, bytes(a)), (len(b), sb, bytes(b)))
    if rank_a == RANK_OBJECTID:
        return _cmp(a.binary, b.binary)
    if rank_a == RANK_BOOL:
        return _cmp(a, b)
    if rank_a == RANK_DATE:
        return _cmp(_date_millis(a), _date_millis(b))
    if rank_a == RANK_TIMESTAMP:
        return _cmp((a.time, a.inc), (b.time, b.inc))
    if rank_a == RANK_REGEX:
        return _cmp(_regex_parts(a), _regex_parts(b))
    return _cmp(str(a), str(b))


def _as_dict(value: Any) -> dict:
    return value.as_doc() if isinstance(value, DBRef) else value


def _regex_parts(value: Any) -> tuple[str, str]:
    if isinstance(value, Regex):
        return value.pattern, str(value.flags)
    return value.pattern, str(value.flags)


def _compare_objects(a: dict, b: dict) -> int:
    items_a, items_b = list(a.items()), list(b.items())
    for (ka, va), (kb, vb) in zip(items_a, items_b):
        c = _cmp(type_rank(va), type_rank(vb))
        if c:
            return c
        c = _cmp(ka.encode("utf-8"), kb.encode("utf-8"))
        if c:
            return c
        c = compare(va, vb)
        if c:
            return c
    return _cmp(len(items_a), len(items_b))


def values_equal(a: Any, b: Any) -> bool:
    """Equality as ``$eq`` sees it (1 == 1.0; field order matters in objects)."""
    return type_rank(a) == type_rank(b) and compare(a, b) == 0
