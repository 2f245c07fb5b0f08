"""BSON encode/decode through pymongo's ``bson`` C codec, with one set of options.

Documents decode to plain ``dict`` (insertion ordered), datetimes outside
Python's range decode to ``DatetimeMS`` instead of failing, and UUIDs stay
``Binary`` so that every value round-trips byte for byte.  Malformed BSON
becomes MongoError 22 (InvalidBSON) here, at the boundary.
"""

from __future__ import annotations

from typing import Any

import bson
from bson.binary import UuidRepresentation
from bson.codec_options import CodecOptions, DatetimeConversion
from bson.errors import BSONError

from holddb.errors import MongoError

CODEC_OPTIONS: CodecOptions = CodecOptions(
    document_class=dict,
    tz_aware=False,
    uuid_representation=UuidRepresentation.UNSPECIFIED,
    datetime_conversion=DatetimeConversion.DATETIME_AUTO,
)


def decode_document(data: bytes | memoryview) -> dict[str, Any]:
    """Decode exactly one BSON document; anything else is InvalidBSON."""
    try:
        return bson.decode(bytes(data), CODEC_OPTIONS)
    except (BSONError, ValueError, TypeError, OverflowError, IndexError) as exc:
        raise MongoError(22, f"invalid BSON: {exc}") from exc


def encode_document(doc: Any) -> bytes:
    """Encode a document; values BSON cannot hold are a BadValue."""
    try:
        return bson.encode(doc, codec_options=CODEC_OPTIONS)
    except (BSONError, ValueError, TypeError, OverflowError) as exc:
        raise MongoError(2, f"cannot encode document as BSON: {exc}") from exc
