"""Message framing.

Every message starts with a 16-byte header::

    int32 messageLength   (whole message, header included)
    int32 requestID
    int32 responseTo
    int32 opCode          2004 OP_QUERY, 2013 OP_MSG, 2012 OP_COMPRESSED

OP_MSG body: ``uint32 flagBits`` then sections -- kind 0 is one BSON body,
kind 1 is ``int32 size, cstring identifier, BSON*`` (a document sequence,
folded into the body under ``identifier``) -- then an optional CRC-32C
checksum when flag bit 0 (checksumPresent) is set; we strip it.  Flag bit 1
(moreToCome) on a request means the client wants no reply.

OP_QUERY (legacy, used for the first ``isMaster`` of every mongosh
connection): ``int32 flags, cstring fullCollectionName, int32 skip,
int32 return, BSON query [, BSON fields]``; answered with OP_REPLY (opcode 1).

OP_COMPRESSED: ``int32 originalOpcode, int32 uncompressedSize,
uint8 compressorId, bytes``; the reply goes back compressed the same way.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any

from holddb.errors import MongoError
from holddb.wire._codec import decode_document, encode_document
from holddb.wire import _compression

OP_REPLY = 1
OP_QUERY = 2004
OP_COMPRESSED = 2012
OP_MSG = 2013
HEADER_SIZE = 16
MAX_BSON_SIZE = 16 * 1024 * 1024
MAX_MESSAGE_SIZE = 48_000_000

FLAG_CHECKSUM = 1 << 0
FLAG_MORE_TO_COME = 1 << 1
FLAG_EXHAUST_ALLOWED = 1 << 16
_KNOWN_FLAGS = FLAG_CHECKSUM | FLAG_MORE_TO_COME | FLAG_EXHAUST_ALLOWED

_HEADER = struct.Struct("<iiii")


@dataclass
class Request:
    """One decoded client request.

    ``command`` is the command document with document sequences folded in;
    ``db`` comes from ``$db`` (OP_MSG) or the collection name (OP_QUERY).
    ``compressor_id`` is set when the request arrived in OP_COMPRESSED, and
    the reply must then be compressed likewise.
    """

    request_id: int
    op_code: int
    command: dict[str, Any]
    db: str
    more_to_come: bool = False
    exhaust_allowed: bool = False
    compressor_id: int | None = None
    raw_size: int = 0
    sequences: dict[str, list[dict]] = field(default_factory=dict)


def parse_header(header: bytes) -> tuple[int, int, int, int]:
    """Return ``(length, request_id, response_to, op_code)``; check the length."""
    length, request_id, response_to, op_code = _HEADER.unpack(header)
    if length < HEADER_SIZE or length > MAX_MESSAGE_SIZE:
        raise MongoError(
            10334 if length > MAX_MESSAGE_SIZE else 17,
            f"message length {length} is invalid: must be between {HEADER_SIZE} "
            f"and {MAX_MESSAGE_SIZE} bytes",
        )
    return length, request_id, response_to, op_code


def parse_message(request_id: int, op_code: int, body: bytes) -> Request:
    """Decode the body that follows a header into a :class:`Request`; any
    malformation is a MongoError (ProtocolError 17 or InvalidBSON 22)."""
    try:
        return _parse_message(request_id, op_code, body)
    except (struct.error, ValueError, UnicodeDecodeError, IndexError) as exc:
        raise MongoError(17, f"malformed message: {exc}") from exc


def _parse_message(request_id: int, op_code: int, body: bytes) -> Request:
    compressor_id = None
    if op_code == OP_COMPRESSED:
        if len(body) < 9:
            raise MongoError(17, "OP_COMPRESSED message is too short")
        op_code, size, compressor_id = struct.unpack_from("<iiB", body)
        if size < 0 or size > MAX_MESSAGE_SIZE:
            raise MongoError(17, f"uncompressedSize {size} is out of range")
        body = _compression.decompress(compressor_id, body[9:], size)
    if op_code == OP_MSG:
        request = _parse_op_msg(request_id, body)
    elif op_code == OP_QUERY:
        request = _parse_op_query(request_id, body)
    else:
        raise MongoError(17, f"unsupported opcode {op_code}: holddb speaks OP_MSG, "
                             "OP_QUERY (handshake) and OP_COMPRESSED")
    request.compressor_id = compressor_id
    request.raw_size = len(body) + HEADER_SIZE
    return request


def _bson_length(body: bytes, pos: int) -> int:
    if pos + 4 > len(body):
        raise MongoError(22, "truncated BSON document in message")
    (size,) = struct.unpack_from("<i", body, pos)
    if size < 5 or pos + size > len(body):
        raise MongoError(22, f"BSON document length {size} overruns the message")
    if size > MAX_BSON_SIZE + 16 * 1024:
        raise MongoError(10334, f"BSONObj size: {size} is invalid. "
                                f"Size must be between 0 and {MAX_BSON_SIZE}(16MB)")
    return size


def _parse_op_msg(request_id: int, body: bytes) -> Request:
    if len(body) < 5:
        raise MongoError(17, "OP_MSG message is too short")
    (flags,) = struct.unpack_from("<I", body)
    if flags & 0xFFFF & ~_KNOWN_FLAGS:
        raise MongoError(17, f"OP_MSG has unknown required flag bits {flags:#x}")
    end = len(body) - 4 if flags & FLAG_CHECKSUM else len(body)
    pos = 4
    command: dict[str, Any] | None = None
    sequences: dict[str, list[dict]] = {}
    while pos < end:
        kind = body[pos]
        pos += 1
        if kind == 0:
            size = _bson_length(body, pos)
            if command is not None:
                raise MongoError(40430, "OP_MSG has more than one body section")
            command = decode_document(body[pos:pos + size])
            pos += size
        elif kind == 1:
            (size,) = struct.unpack_from("<i", body, pos)
            stop = pos + size
            if size < 5 or stop > end:
                raise MongoError(17, "OP_MSG document sequence overruns the message")
            name_end = body.index(b"\x00", pos + 4, stop)
            name = body[pos + 4:name_end].decode("utf-8")
            docs = []
            cur = name_end + 1
            while cur < stop:
                doc_size = _bson_length(body, cur)
                docs.append(decode_document(body[cur:cur + doc_size]))
                cur += doc_size
            sequences[name] = docs
            pos = stop
        else:
            raise MongoError(17, f"OP_MSG has unknown section kind {kind}")
    if command is None:
        raise MongoError(40587, "OP_MSG has no body section")
    for name, docs in sequences.items():
        if name in command:
            raise MongoError(40433, f"duplicate field {name!r} in OP_MSG body and sequence")
        command[name] = docs
    db = command.get("$db")
    if not isinstance(db, str) or not db:
        raise MongoError(40571, "OP_MSG requests require a $db argument")
    return Request(request_id, OP_MSG, command, db,
                   more_to_come=bool(flags & FLAG_MORE_TO_COME),
                   exhaust_allowed=bool(flags & FLAG_EXHAUST_ALLOWED),
                   sequences=sequences)


def _parse_op_query(request_id: int, body: bytes) -> Request:
    try:
        name_end = body.index(b"\x00", 4)
    except ValueError as exc:
        raise MongoError(17, "OP_QUERY has no collection name") from exc
    full_name = body[4:name_end].decode("utf-8", "replace")
    pos = name_end + 1 + 8  # numberToSkip, numberToReturn
    size = _bson_length(body, pos)
    query = decode_document(body[pos:pos + size])
    db, _, coll = full_name.partition(".")
    if coll != "$cmd":
        raise MongoError(
            5739101,
            "OP_QUERY is no longer supported except for commands on <db>.$cmd",
        )
    if "$query" in query:  # wrapped form: {$query: cmd, $readPreference: ...}
        query = dict(query["$query"])
    return Request(request_id, OP_QUERY, query, db)


def encode_reply(request: Request, reply: dict[str, Any], request_id: int, *,
                 more_to_come: bool = False) -> bytes:
    """Frame ``reply`` for ``request``: OP_REPLY for OP_QUERY, else OP_MSG
    (with the moreToCome flag for all but the last reply of an exhaust stream)."""
    doc = encode_document(reply)
    if request.op_code == OP_QUERY:
        op_code = OP_REPLY
        body = struct.pack("<iqii", 8, 0, 0, 1) + doc  # flags=AwaitCapable
    else:
        op_code = OP_MSG
        flags = FLAG_MORE_TO_COME if more_to_come else 0
        body = struct.pack("<I", flags) + b"\x00" + doc
    if request.compressor_id:
        packed = _compression.compress(request.compressor_id, body)
        body = struct.pack("<iiB", op_code, len(body), request.compressor_id) + packed
        op_code = OP_COMPRESSED
    return _HEADER.pack(HEADER_SIZE + len(body), request_id, request.request_id, op_code) + body
