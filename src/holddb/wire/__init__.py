"""MongoDB wire protocol: framing, OP_MSG/OP_QUERY parsing, replies, compression.

Public surface: :class:`Request`, :func:`parse_message`, :func:`encode_reply`,
:data:`CODEC_OPTIONS`, :data:`MAX_MESSAGE_SIZE`, :data:`MAX_BSON_SIZE`.
"""

from holddb.wire._codec import CODEC_OPTIONS, decode_document, encode_document
from holddb.wire._framing import (
    HEADER_SIZE,
    MAX_BSON_SIZE,
    MAX_MESSAGE_SIZE,
    OP_COMPRESSED,
    OP_MSG,
    OP_QUERY,
    Request,
    encode_reply,
    parse_header,
    parse_message,
)
from holddb.wire._compression import available_compressors

__all__ = [
    "CODEC_OPTIONS",
    "HEADER_SIZE",
    "MAX_BSON_SIZE",
    "MAX_MESSAGE_SIZE",
    "OP_COMPRESSED",
    "OP_MSG",
    "OP_QUERY",
    "Request",
    "available_compressors",
    "decode_document",
    "encode_document",
    "encode_reply",
    "parse_header",
    "parse_message",
]
