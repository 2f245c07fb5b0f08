"""Framing without a socket: OP_MSG sections and flags, OP_QUERY, OP_COMPRESSED."""

import struct
import zlib

import bson
import pytest

from holddb.errors import MongoError
from holddb.wire import OP_MSG, OP_QUERY, encode_reply, parse_header, parse_message


def op_msg(doc, flags=0, sequences=(), checksum=False):
    body = struct.pack("<I", flags | (1 if checksum else 0)) + b"\x00" + bson.encode(doc)
    for name, docs in sequences:
        payload = name.encode() + b"\x00" + b"".join(bson.encode(d) for d in docs)
        body += b"\x01" + struct.pack("<i", 4 + len(payload)) + payload
    return body + (b"\x00" * 4 if checksum else b"")


def test_sections_fold_into_the_command():
    req = parse_message(7, OP_MSG, op_msg({"insert": "c", "$db": "d"},
                                          sequences=[("documents", [{"a": 1}, {"a": 2}])],
                                          checksum=True))
    assert req.command["documents"] == [{"a": 1}, {"a": 2}] and req.db == "d"
    assert not req.more_to_come


def test_flags():
    req = parse_message(1, OP_MSG, op_msg({"ping": 1, "$db": "a"}, flags=2 | (1 << 16)))
    assert req.more_to_come and req.exhaust_allowed
    with pytest.raises(MongoError):
        parse_message(1, OP_MSG, op_msg({"ping": 1, "$db": "a"}, flags=1 << 5))


def test_missing_db_and_duplicate_body():
    with pytest.raises(MongoError):
        parse_message(1, OP_MSG, op_msg({"ping": 1}))
    body = op_msg({"ping": 1, "$db": "a"}) + b"\x00" + bson.encode({"x": 1})
    with pytest.raises(MongoError):
        parse_message(1, OP_MSG, body)


def test_op_query_handshake_and_reply_framing():
    query = bson.encode({"$query": {"isMaster": 1}, "$readPreference": {"mode": "primary"}})
    body = struct.pack("<i", 0) + b"admin.$cmd\x00" + struct.pack("<ii", 0, -1) + query
    req = parse_message(3, OP_QUERY, body)
    assert req.command == {"isMaster": 1} and req.db == "admin"
    framed = encode_reply(req, {"ok": 1.0}, 99)
    length, request_id, response_to, op_code = struct.unpack_from("<iiii", framed)
    assert (length, request_id, response_to, op_code) == (len(framed), 99, 3, 1)


def test_compressed_roundtrip():
    inner = op_msg({"ping": 1, "$db": "a"})
    body = struct.pack("<iiB", OP_MSG, len(inner), 2) + zlib.compress(inner)
    req = parse_message(5, 2012, body)
    assert req.command["ping"] == 1 and req.compressor_id == 2
    framed = encode_reply(req, {"ok": 1.0}, 6)
    assert struct.unpack_from("<i", framed, 12)[0] == 2012


def test_header_limits():
    with pytest.raises(MongoError):
        parse_header(struct.pack("<iiii", 10, 1, 0, OP_MSG))
    with pytest.raises(MongoError):
        parse_header(struct.pack("<iiii", 64 * 1024 * 1024, 1, 0, OP_MSG))


@pytest.mark.parametrize("body", [
    struct.pack("<I", 0) + b"\x01\x05\x00",                       # sequence header cut short
    struct.pack("<I", 0) + b"\x01" + struct.pack("<i", 8) + b"\xff\xfe\x00\x00",  # bad name
    b"\x00",                                                       # no flags
    struct.pack("<I", 0) + b"\x07",                                # unknown section kind
])
def test_malformed_messages_are_mongo_errors(body):
    with pytest.raises(MongoError):
        parse_message(1, OP_MSG, body)
