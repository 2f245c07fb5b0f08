"""DNS messages as a network's resolver needs them (RFC 1035, section 4).

Only what the resolver reads and writes: the one question of a query, and
replies with A records, NODATA, NXDOMAIN or SERVFAIL.  Forwarded queries
and their upstream replies pass through as bytes, untouched.
"""

from __future__ import annotations

import socket
import struct
from typing import NamedTuple

NOERROR, SERVFAIL, NXDOMAIN = 0, 2, 3
TYPE_A, TYPE_ANY = 1, 255
TTL = 1


class Question(NamedTuple):
    qid: int
    flags: int
    name: str          # lower case, no trailing dot
    qtype: int
    raw: bytes         # the question section, echoed in the reply


def parse_query(packet: bytes) -> Question | None:
    """The query's question, or None for a packet that is not one."""
    try:
        qid, flags, qdcount = struct.unpack("!HHH", packet[:6])
        if flags & 0x8000 or qdcount != 1:
            return None
        name, end = read_name(packet, 12)
        qtype, _qclass = struct.unpack("!HH", packet[end:end + 4])
    except (struct.error, IndexError, ValueError):
        return None
    return Question(qid, flags, name.rstrip(".").lower(), qtype, packet[12:end + 4])


def read_name(packet: bytes, offset: int) -> tuple[str, int]:
    labels = []
    while True:
        length = packet[offset]
        if length == 0:
            return ".".join(labels), offset + 1
        if length & 0xC0:
            raise ValueError("compressed question names are not expected")
        labels.append(packet[offset + 1:offset + 1 + length].decode("ascii", "replace"))
        offset += 1 + length


def reply(question: Question, addresses: list[str], rcode: int) -> bytes:
    """An authoritative reply; A records only for A and ANY questions."""
    if question.qtype not in (TYPE_A, TYPE_ANY):
        addresses = []
    flags = 0x8000 | (question.flags & 0x0100) | 0x0080 | 0x0400 | rcode   # QR, RD copied, RA, AA
    header = struct.pack("!HHHHHH", question.qid, flags, 1, len(addresses), 0, 0)
    body = b"".join(struct.pack("!HHHIH", 0xC00C, 1, 1, TTL, 4) + socket.inet_aton(a)
                    for a in addresses)
    return header + question.raw + body


def answers_query(query: bytes, upstream_reply: bytes) -> bool:
    """True when ``upstream_reply`` is a reply to ``query`` (same id)."""
    return len(upstream_reply) >= 12 and upstream_reply[:2] == query[:2] \
        and bool(upstream_reply[2] & 0x80)
