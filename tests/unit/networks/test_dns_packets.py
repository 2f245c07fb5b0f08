"""The resolver's packet handling, without sockets."""

import struct

from hold.networks.dns import _read_name, _reply


def query(name: str, qtype: int = 1) -> bytes:
    labels = b"".join(bytes([len(p)]) + p.encode() for p in name.split("."))
    return struct.pack("!HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0) + labels + b"\0" + \
        struct.pack("!HH", qtype, 1)


def test_read_name():
    q = query("mongo-node1.local")
    assert _read_name(q, 12) == ("mongo-node1.local", 12 + len("mongo-node1.local") + 2)


def test_reply_has_answers_and_flags():
    q = query("mongo-node1")
    end = _read_name(q, 12)[1] + 4
    reply = _reply(0x1234, 0x0100, q[12:end], ["10.89.0.2", "10.89.1.2"], 0)
    qid, flags, qd, an, ns, ar = struct.unpack("!HHHHHH", reply[:12])
    assert (qid, qd, an) == (0x1234, 1, 2)
    assert flags & 0x8000 and flags & 0x0100 and flags & 0xF == 0
    assert reply.endswith(bytes([10, 89, 1, 2]))


def test_nxdomain():
    q = query("nobody")
    end = _read_name(q, 12)[1] + 4
    reply = _reply(1, 0x0100, q[12:end], [], 3)
    assert struct.unpack("!H", reply[2:4])[0] & 0xF == 3
