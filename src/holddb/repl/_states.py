"""Member states (mongod's numbers and names) and small shared helpers."""

from __future__ import annotations

import datetime

from bson.objectid import ObjectId

__all__ = ["STATE_NAMES", "STARTUP", "PRIMARY", "SECONDARY", "RECOVERING", "STARTUP2",
           "UNKNOWN", "ARBITER", "DOWN", "ROLLBACK", "REMOVED", "election_id"]

STARTUP, PRIMARY, SECONDARY, RECOVERING, STARTUP2, UNKNOWN, ARBITER, DOWN, ROLLBACK, \
    REMOVED = 0, 1, 2, 3, 5, 6, 7, 8, 9, 10
STATE_NAMES = {STARTUP: "STARTUP", PRIMARY: "PRIMARY", SECONDARY: "SECONDARY",
               RECOVERING: "RECOVERING", STARTUP2: "STARTUP2", UNKNOWN: "UNKNOWN",
               ARBITER: "ARBITER", DOWN: "(not reachable/healthy)", ROLLBACK: "ROLLBACK",
               REMOVED: "REMOVED"}


def _now() -> datetime.datetime:
    now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def election_id(term: int) -> ObjectId:
    """mongod's electionId: 0x7fffffff then the term, so newer terms sort higher."""
    return ObjectId(bytes.fromhex("7fffffff") + max(term, 0).to_bytes(8, "big"))
