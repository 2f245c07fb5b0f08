"""Order-preserving byte keys for BSON values (like MongoDB's KeyString).

``encode_key(v1) < encode_key(v2)`` (as bytes) exactly when
``compare(v1, v2) < 0``, up to float precision for integers beyond 2**53.
Every encoding starts with the canonical type rank byte, and is prefix-free
(no encoding is a prefix of another), so that:

* compound index keys are plain concatenations of their components,
* inverting every byte of a component reverses its order (descending keys),
* all keys whose first component equals ``v`` share the prefix
  ``encode_key(v)``, which makes equality and range scans simple byte ranges.

Layout per type (after the rank byte)::

    number     8 bytes: IEEE double made sortable (NaN lowest)
    string     UTF-8 with 0x00 escaped as 0x00 0xFF, ended by 0x00 0x00
    object     per field: rank(value) name(string form) payload(value); 0x00
    array      per element: rank payload; 0x00
    binData    uint32 length, subtype byte, bytes
    ObjectId   12 bytes;  bool 1 byte;  date int64 biased;  timestamp uint64
"""

from __future__ import annotations

import datetime
import math
import struct
from typing import Any

from bson.datetime_ms import DatetimeMS
from bson.dbref import DBRef
from bson.decimal128 import Decimal128
from bson.regex import Regex

from holddb.query._values import (RANK_ARRAY, RANK_BINARY, RANK_BOOL,
                                  RANK_CODE, RANK_DATE, RANK_MAXKEY, RANK_MINKEY,
                                  RANK_NULL, RANK_NUMBER, RANK_OBJECT,
                                  RANK_OBJECTID, RANK_REGEX, RANK_STRING,
                                  RANK_TIMESTAMP, type_rank)

__all__ = ["encode_key", "invert", "prefix_end", "rank_prefix"]


def encode_key(value: Any) -> bytes:
    out = bytearray()
    _encode(value, out)
    return bytes(out)


def rank_prefix(value: Any) -> bytes:
    """The one-byte prefix shared by every key of ``value``'s type."""
    return bytes([type_rank(value)])


def invert(data: bytes) -> bytes:
    return bytes(255 - b for b in data)


def prefix_end(prefix: bytes) -> bytes | None:
    """The smallest byte string greater than every string starting with
    ``prefix`` (None when there is none: the prefix is all 0xFF)."""
    trimmed = prefix.rstrip(b"\xff")
    if not trimmed:
        return None
    return trimmed[:-1] + bytes([trimmed[-1] + 1])


def _string(text: str, out: bytearray) -> None:
    out += text.encode("utf-8", "surrogatepass").replace(b"\x00", b"\x00\xff")
    out += b"\x00\x00"


def _number(value: Any, out: bytearray) -> None:
    if isinstance(value, Decimal128):
        number = float(value.to_decimal())
    else:
        try:
            number = float(value)
        except OverflowError:
            number = math.inf if value > 0 else -math.inf
    if math.isnan(number):
        out += b"\x00" * 8
        return
    if number == 0:
        number = 0.0
    (bits,) = struct.unpack(">Q", struct.pack(">d", number))
    bits = bits ^ 0xFFFFFFFFFFFFFFFF if bits >> 63 else bits | (1 << 63)
    out += struct.pack(">Q", bits)


def _date_millis(value: Any) -> int:
    if isinstance(value, DatetimeMS):
        return int(value)
    if value.tzinfo is not None:
        value = value.astimezone(datetime.timezone.utc).replace(tzinfo=None)
    delta = value - datetime.datetime(1970, 1, 1)
    return (delta.days * 86400 + delta.seconds) * 1000 + delta.microseconds // 1000


def _encode(value: Any, out: bytearray) -> None:
    rank = type_rank(value)
    out.append(rank)
    _payload(rank, value, out)


def _payload(rank: int, value: Any, out: bytearray) -> None:
    if rank in (RANK_NULL, RANK_MINKEY, RANK_MAXKEY):
        return
    if rank == RANK_NUMBER:
        _number(value, out)
    elif rank == RANK_STRING:
        _string(value, out)
    elif rank == RANK_OBJECT:
        items = value.as_doc().items() if isinstance(value, DBRef) else value.items()
        for name, item in items:
            item_rank = type_rank(item)
            out.append(item_rank)
            _string(name, out)
            _payload(item_rank, item, out)
        out.append(0)
    elif rank == RANK_ARRAY:
        for item in value:
            _encode(item, out)
        out.append(0)
    elif rank == RANK_BINARY:
        data = bytes(value)
        out += struct.pack(">IB", len(data), getattr(value, "subtype", 0)) + data
    elif rank == RANK_OBJECTID:
        out += value.binary
    elif rank == RANK_BOOL:
        out.append(1 if value else 0)
    elif rank == RANK_DATE:
        out += struct.pack(">Q", (_date_millis(value) + (1 << 63)) & 0xFFFFFFFFFFFFFFFF)
    elif rank == RANK_TIMESTAMP:
        out += struct.pack(">II", value.time, value.inc)
    elif rank == RANK_REGEX:
        flags = value.flags if isinstance(value, Regex) else value.flags
        _string(value.pattern if isinstance(value.pattern, str) else value.pattern.decode(), out)
        _string(str(flags), out)
    elif rank == RANK_CODE:
        _string(str(value), out)
