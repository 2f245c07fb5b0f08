"""The wire protocol spoken byte by byte: legacy handshake, OP_MSG flags,
compression, and malformed input answered like mongod (server survives)."""

import socket
import struct
import zlib

import bson
import pytest


class Wire:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.request_id = 0

    def close(self):
        self.sock.close()

    def send(self, op_code, body, length=None):
        self.request_id += 1
        size = length if length is not None else 16 + len(body)
        self.sock.sendall(struct.pack("<iiii", size, self.request_id, 0, op_code) + body)

    def recv(self):
        header = self._exact(16)
        length, _, response_to, op_code = struct.unpack("<iiii", header)
        assert response_to == self.request_id
        return op_code, self._exact(length - 16)

    def _exact(self, n):
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                raise ConnectionError("closed")
            data += chunk
        return data

    def op_msg(self, doc, flags=0, checksum=False):
        body = struct.pack("<I", flags | (1 if checksum else 0)) + b"\x00" + bson.encode(doc)
        if checksum:
            body += b"\x00\x00\x00\x00"
        self.send(2013, body)

    def msg_reply(self):
        op_code, body = self.recv()
        assert op_code == 2013
        assert body[4] == 0
        return bson.decode(body[5:])


@pytest.fixture
def wire(holddb_server):
    connection = Wire(holddb_server.port)
    yield connection
    connection.close()


def test_op_query_legacy_handshake_gets_op_reply(wire):
    query = bson.encode({"isMaster": 1, "client": {"application": {"name": "t"}}})
    wire.send(2004, struct.pack("<i", 0) + b"admin.$cmd\x00" + struct.pack("<ii", 0, -1) + query)
    op_code, body = wire.recv()
    assert op_code == 1
    flags, cursor_id, start, returned = struct.unpack_from("<iqii", body)
    assert (cursor_id, returned) == (0, 1)
    reply = bson.decode(body[20:])
    assert reply["ismaster"] is True and reply["maxWireVersion"] >= 17 and reply["ok"] == 1


def test_op_msg_with_checksum_and_document_sequence(wire):
    wire.op_msg({"ping": 1, "$db": "admin"}, checksum=True)
    assert wire.msg_reply()["ok"] == 1
    docs = b"".join(bson.encode({"_id": i}) for i in range(3))
    seq = b"documents\x00" + docs
    body = (struct.pack("<I", 0) + b"\x00" + bson.encode({"insert": "seq", "$db": "t_wire"})
            + b"\x01" + struct.pack("<i", 4 + len(seq)) + seq)
    wire.send(2013, body)
    assert wire.msg_reply() == {"n": 3, "ok": 1.0}
    wire.op_msg({"dropDatabase": 1, "$db": "t_wire"})
    wire.msg_reply()


def test_more_to_come_gets_no_reply(wire):
    wire.op_msg({"endSessions": [], "$db": "admin"}, flags=2)
    wire.op_msg({"ping": 1, "$db": "admin"})
    assert wire.msg_reply() == {"ok": 1.0}  # the first reply is the ping's


def test_op_compressed_zlib(wire):
    inner = struct.pack("<I", 0) + b"\x00" + bson.encode({"ping": 1, "$db": "admin"})
    packed = zlib.compress(inner)
    wire.send(2012, struct.pack("<iiB", 2013, len(inner), 2) + packed)
    op_code, body = wire.recv()
    assert op_code == 2012
    original, size, compressor = struct.unpack_from("<iiB", body)
    assert (original, compressor) == (2013, 2)
    plain = zlib.decompress(body[9:])
    assert len(plain) == size and bson.decode(plain[5:]) == {"ok": 1.0}


def test_malformed_bson_is_invalid_bson_and_server_survives(wire, holddb_server):
    good = bson.encode({"ping": 1, "$db": "admin"})
    bad = struct.pack("<i", len(good)) + b"\x02zz" + good[7:]  # string with a broken length
    wire.send(2013, struct.pack("<I", 0) + b"\x00" + bad)
    reply = wire.msg_reply()
    assert reply["ok"] == 0 and reply["code"] == 22
    wire.op_msg({"ping": 1, "$db": "admin"})
    assert wire.msg_reply()["ok"] == 1


def test_oversized_message_closes_connection_only(wire, holddb_server):
    wire.send(2013, b"", length=64 * 1024 * 1024)
    with pytest.raises((ConnectionError, OSError)):
        wire.recv()
    other = Wire(holddb_server.port)
    other.op_msg({"ping": 1, "$db": "admin"})
    assert other.msg_reply()["ok"] == 1
    other.close()


def test_unknown_command_and_missing_db(wire):
    wire.op_msg({"frobnicate": 1, "$db": "admin"})
    reply = wire.msg_reply()
    assert (reply["code"], reply["codeName"], reply["errmsg"]) == (
        59, "CommandNotFound", "no such command: 'frobnicate'")
    wire.op_msg({"ping": 1})
    assert wire.msg_reply()["ok"] == 0


def test_unsupported_opcode_is_answered(wire):
    wire.send(2001, struct.pack("<i", 0) + b"x.y\x00")  # OP_UPDATE, removed in 6.0
    reply = wire.msg_reply()
    assert reply["ok"] == 0


def test_random_garbage_never_takes_the_server_down(holddb_server):
    import random
    rng = random.Random(7)
    for _ in range(150):
        conn = Wire(holddb_server.port)
        body = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 64)))
        if rng.random() < 0.5:  # a plausible OP_MSG prefix with a broken tail
            body = struct.pack("<I", 0) + bytes([rng.choice([0, 1])]) + body
        conn.send(rng.choice([2013, 2004, 2012, 1, 9999]), body)
        conn.sock.settimeout(2)
        try:
            conn.recv()
        except (ConnectionError, OSError, AssertionError, struct.error):
            pass
        conn.close()
    check = Wire(holddb_server.port)
    check.op_msg({"ping": 1, "$db": "admin"})
    assert check.msg_reply()["ok"] == 1
    check.close()
    with open(holddb_server.logpath) as log:
        assert '"s":"E"' not in log.read()  # every malformation was an expected error
