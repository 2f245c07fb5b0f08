"""The election and commit rules of protocol version 1, as pure functions.

Words: an *optime* is ``(term, ts)`` of an oplog entry, compared term
first (``OpTime`` below); a *term* grows by one with each election; a member
*votes* at most once per term, and that vote is on disk before it is sent;
a candidate wins with a *majority* of the voting members (its own vote
included).  The *commit point* is the newest optime a majority of voters has
durably written, and it only moves to an entry of the primary's own term
(Raft's rule: an older term's entry is committed only indirectly).

These functions hold no state and do no I/O, so the safety rules are unit
tested on their own (tests/unit/holddb_repl).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Iterable

from bson.timestamp import Timestamp

__all__ = ["OpTime", "VoteRequest", "decide_vote", "election_timeout", "commit_point",
           "count_acknowledged", "takeover_delay", "NULL_OPTIME"]

ELECTION_OFFSET_FRACTION = 0.15  # mongod's electionTimeoutOffsetLimitFraction


@dataclass(frozen=True, order=True)
class OpTime:
    term: int
    ts: int  # Timestamp as seconds << 32 | increment

    @classmethod
    def of(cls, doc: Any) -> "OpTime":
        """From ``{ts: Timestamp, t: term}`` (an oplog entry or an optime document)."""
        if not isinstance(doc, dict):
            return NULL_OPTIME
        ts = doc.get("ts")
        ticks = (ts.time << 32 | ts.inc) if isinstance(ts, Timestamp) else 0
        return cls(int(doc.get("t", -1) if doc.get("t") is not None else -1), ticks)

    @property
    def timestamp(self) -> Timestamp:
        return Timestamp(self.ts >> 32, self.ts & 0xFFFFFFFF)

    def document(self) -> dict:
        from bson.int64 import Int64
        return {"ts": self.timestamp, "t": Int64(self.term)}


NULL_OPTIME = OpTime(-1, 0)


@dataclass(frozen=True)
class VoteRequest:
    set_name: str
    term: int
    candidate_id: int
    config_version: int
    last_applied: OpTime
    dry_run: bool
    takeover: bool = False  # priority takeover: a live primary is the point


def decide_vote(request: VoteRequest, *, set_name: str, term: int, voted_term: int,
                config_version: int, last_applied: OpTime,
                candidate_is_voter: bool, sees_primary: bool = False) -> tuple[bool, str]:
    """Grant or refuse a vote; the reason is what mongod logs.

    ``voted_term`` is the newest term this member has voted in.  A real vote
    (not a dry run) may only be granted when ``request.term > voted_term``:
    that is what makes "at most one primary per term" hold.  A dry run is
    refused while this member sees a healthy primary (``sees_primary``), so
    that a member that lost its link, or lost a race, cannot depose a working
    primary -- except for a priority takeover, whose point that is.
    """
    if request.set_name != set_name:
        return False, f"candidate's set name ({request.set_name}) differs from mine ({set_name})"
    if request.term < term:
        return False, f"candidate's term ({request.term}) is lower than mine ({term})"
    if request.config_version < config_version:
        return False, (f"candidate's config version ({request.config_version}) is lower than "
                       f"mine ({config_version})")
    if not candidate_is_voter:
        return False, "candidate is not a voting member of my config"
    if request.last_applied < last_applied:
        return False, (f"candidate's data is staler than mine (candidate's last applied OpTime: "
                       f"{request.last_applied}, my last applied OpTime: {last_applied})")
    if request.dry_run and sees_primary and not request.takeover:
        return False, "I can see a healthy primary"
    if not request.dry_run and voted_term >= request.term:
        return False, f"already voted for another candidate in term {voted_term}"
    return True, ""


def election_timeout(timeout_ms: int, rng: random.Random | None = None) -> float:
    """Seconds to wait without a primary before standing: the configured
    timeout plus a random offset of up to 15%, so candidates rarely collide."""
    rng = rng or random
    return timeout_ms / 1000 * (1 + rng.uniform(0, ELECTION_OFFSET_FRACTION))


def takeover_delay(my_priority: float, priorities: Iterable[float], interval_ms: int) -> float:
    """Priority takeover: the member of highest priority waits least; one
    heartbeat interval per member whose priority is above ours."""
    above = sum(1 for p in priorities if p > my_priority)
    return interval_ms / 1000 * (1 + above)


def commit_point(durable: dict[int, OpTime], voters: Iterable[int], majority: int,
                 primary_term: int, current: OpTime) -> OpTime:
    """The newest optime durable on ``majority`` voters, moved only forward
    and only onto an entry of ``primary_term``."""
    times = sorted((durable.get(v, NULL_OPTIME) for v in voters), reverse=True)
    if len(times) < majority:
        return current
    candidate = times[majority - 1]
    if candidate.term != primary_term or candidate <= current:
        return current
    return candidate


def count_acknowledged(durable: dict[int, OpTime], target: OpTime) -> int:
    """How many members (any, voting or not) have ``target`` durable."""
    return sum(1 for optime in durable.values() if optime >= target)
