"""The resolver's packet handling, without sockets."""

import struct

from hold.networks.dns_wire import (NXDOMAIN, answers_query, parse_query, read_name,
                                    reply)


def query(name: str, qtype: int = 1, qid: int = 0x1234) -> bytes:
    labels = b"".join(bytes([len(p)]) + p.encode() for p in name.split("."))
    return struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0) + labels + b"\0" + \
        struct.pack("!HH", qtype, 1)


def test_read_name():
    q = query("mongo-node1.local")
    assert read_name(q, 12) == ("mongo-node1.local", 12 + len("mongo-node1.local") + 2)


def test_parse_query_lowercases_and_keeps_the_question():
    q = parse_query(query("Mongo-Node1", qtype=28))
    assert (q.qid, q.name, q.qtype) == (0x1234, "mongo-node1", 28)
    assert q.raw == query("Mongo-Node1", qtype=28)[12:]


def test_parse_query_refuses_replies_and_garbage():
    assert parse_query(b"\x00\x01") is None
    as_reply = bytearray(query("x"))
    as_reply[2] |= 0x80
    assert parse_query(bytes(as_reply)) is None
    compressed = query("x")[:12] + b"\xc0\x0c" + struct.pack("!HH", 1, 1)
    assert parse_query(compressed) is None


def test_reply_has_answers_and_flags():
    q = parse_query(query("mongo-node1"))
    r = reply(q, ["10.89.0.2", "10.89.1.2"], 0)
    qid, flags, qd, an, ns, ar = struct.unpack("!HHHHHH", r[:12])
    assert (qid, qd, an) == (0x1234, 1, 2)
    assert flags & 0x8000 and flags & 0x0100 and flags & 0xF == 0
    assert r.endswith(bytes([10, 89, 1, 2]))


def test_aaaa_gets_no_a_records():
    r = reply(parse_query(query("mongo-node1", qtype=28)), ["10.89.0.2"], 0)
    assert struct.unpack("!H", r[6:8])[0] == 0


def test_nxdomain():
    r = reply(parse_query(query("nobody")), [], NXDOMAIN)
    assert struct.unpack("!H", r[2:4])[0] & 0xF == 3


def test_answers_query_matches_ids_of_replies_only():
    q = query("x", qid=7)
    assert answers_query(q, reply(parse_query(q), [], 0))
    assert not answers_query(q, reply(parse_query(query("x", qid=8)), [], 0))
    assert not answers_query(q, q)
