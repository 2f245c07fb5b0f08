"""Read concern on a replica-set member, and causal consistency.

Levels (``readConcern.level``)::

    local, available   the member's newest applied data (the default)
    majority           only data a majority has: never rolled back
    snapshot           majority data as of one cluster time (find, aggregate
                       and distinct outside transactions, as mongod 5.0+)
    linearizable       primary only: the read, then a majority round that
                       proves this member was still primary after it

and, with any level, ``afterClusterTime`` (what a driver's causally
consistent session sends: its last ``operationTime``) or ``afterOpTime``:
the read waits until this member has applied that far.

How majority reads work here.  mongod serves a majority read from an older
storage snapshot (the state at the commit point).  holddb's SQLite storage
keeps no old snapshots, so instead a majority read *waits* until nothing it
could read is newer than the commit point, and then runs at once: the check
and the read run in one step of the event loop, without yielding, so no
write or oplog application can slip in between.  "Nothing it could read"
is decided from the oplog's uncommitted tail (the entries after the commit
point): a read of ``db.coll`` waits only while that tail holds a write to
``db.coll`` or a catalog change in ``db``; no-op entries never count.
Under a steady stream of w:1 writes to the very collection being read, a
majority read therefore waits for a gap in them.

The wait is bounded: ``maxTimeMS`` when the command has one (then
MaxTimeMSExpired, 50), else ``HOLDDB_READ_CONCERN_WAIT_MS`` (default 5000).
Past it, a majority or snapshot read fails with
ReadConcernMajorityNotAvailableYet (134) rather than return data that could
be rolled back; an unmet ``afterClusterTime`` fails with ExceededTimeLimit
(262).  Drivers retry both once.

A majority cursor's getMores are checked the same way (``_cursors``); a
snapshot cursor is computed whole when it opens (``read.find``), so its
batches all come from that one snapshot.  A snapshot read at an
``atClusterTime`` older than the newest change to what it reads fails with
SnapshotTooOld (239): there is no older state to read.

Every reply of an initiated member carries ``operationTime`` and
``$clusterTime`` (with a zero signature: holddb has no authentication), so
that drivers' causally consistent sessions work.
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass
from typing import Any, TYPE_CHECKING

from bson.binary import Binary
from bson.int64 import Int64
from bson.timestamp import Timestamp

from holddb.errors import MongoError
from holddb.repl._rules import OpTime
from holddb.repl._states import PRIMARY

if TYPE_CHECKING:  # pragma: no cover
    from holddb.repl._coordinator import ReplCoordinator

__all__ = ["ReadConcern", "ReadConcernGate", "parse_read_concern", "read_scope",
           "LEVELS", "DEFAULT_WAIT_MS"]

LEVELS = ("local", "available", "majority", "snapshot", "linearizable")
DEFAULT_WAIT_MS = 5000
_FIELDS = ("level", "afterClusterTime", "afterOpTime", "atClusterTime", "provenance")
# the commands that take a level other than local (mongod's lists)
_READS = {"find", "aggregate", "count", "distinct"}
_SNAPSHOT_READS = {"find", "aggregate", "distinct"}
_LOOKUP_STAGES = {"$lookup", "$graphLookup", "$unionWith", "$out", "$merge"}
_ZERO_SIGNATURE = {"hash": Binary(b"\x00" * 20, 0), "keyId": Int64(0)}
EVERYTHING = None  # a read scope: every entry of the oplog counts (reads of the oplog)


@dataclass(frozen=True)
class ReadConcern:
    level: str = "local"
    after_cluster_time: Timestamp | None = None
    after_optime: OpTime | None = None
    at_cluster_time: Timestamp | None = None

    @property
    def committed_only(self) -> bool:
        return self.level in ("majority", "snapshot")


def parse_read_concern(cmd: dict) -> ReadConcern:
    """The command's ``readConcern``, validated as mongod validates it."""
    raw = cmd.get("readConcern")
    if raw is None:
        return ReadConcern()
    if not isinstance(raw, dict):
        raise MongoError(14, f"BSON field 'readConcern' is the wrong type "
                             f"'{type(raw).__name__}', expected type 'object'")
    for key in raw:
        if key not in _FIELDS:
            raise MongoError(40415, f"BSON field 'readConcern.{key}' is an unknown field; "
                                    f"accepted: {', '.join(_FIELDS)}")
    level = raw.get("level", "local")
    if not isinstance(level, str):
        raise MongoError(14, "BSON field 'readConcern.level' is the wrong type, expected "
                             "type 'string'")
    if level not in LEVELS:
        raise MongoError(9, f"readConcern.level must be one of {', '.join(LEVELS)}; "
                            f"got '{level}'")
    after_cluster = _timestamp(raw, "afterClusterTime")
    at_cluster = _timestamp(raw, "atClusterTime")
    after_optime = None
    if "afterOpTime" in raw:
        if not isinstance(raw["afterOpTime"], dict) or \
                not isinstance(raw["afterOpTime"].get("ts"), Timestamp):
            raise MongoError(14, "readConcern.afterOpTime must be {ts: Timestamp, t: term}")
        after_optime = OpTime.of(raw["afterOpTime"])
    if after_cluster is not None and after_optime is not None:
        raise MongoError(72, "Can not specify both afterClusterTime and afterOpTime in "
                             "readConcern")
    if at_cluster is not None and level != "snapshot":
        raise MongoError(72, "readConcern.atClusterTime is only allowed with level "
                             "'snapshot'")
    if at_cluster is not None and after_cluster is not None:
        raise MongoError(72, "Specifying a timestamp for readConcern snapshot in a causally "
                             "consistent session is not allowed (afterClusterTime with "
                             "atClusterTime)")
    if level == "linearizable" and (after_cluster is not None or after_optime is not None):
        raise MongoError(72, "afterClusterTime and afterOpTime are not allowed with "
                             "readConcern level 'linearizable'")
    return ReadConcern(level, after_cluster, after_optime, at_cluster)


def _timestamp(raw: dict, name: str) -> Timestamp | None:
    if name not in raw:
        return None
    value = raw[name]
    if not isinstance(value, Timestamp):
        raise MongoError(14, f"BSON field 'readConcern.{name}' is the wrong type "
                             f"'{type(value).__name__}', expected type 'timestamp'")
    if value == Timestamp(0, 0):
        raise MongoError(9, f"readConcern.{name} cannot be a null timestamp")
    return value


def read_scope(storage: Any, db: str, cmd: dict) -> frozenset[str] | None:
    """What a read command may read, as namespaces (``"db.coll"``) and whole
    databases (``"db.*"``); ``EVERYTHING`` for the oplog itself."""
    name = next(iter(cmd))
    target = cmd.get(name)
    if db == "local":
        return EVERYTHING if target == "oplog.rs" else frozenset()  # local is not replicated
    whole_db = frozenset({f"{db}.*"})
    if not isinstance(target, str):
        return whole_db  # aggregate: 1 ($documents, ...)
    info = storage.collection(db, target)
    if info is not None and "viewOn" in info.options:
        return whole_db  # a view reads its source (and what its pipeline looks up)
    if name == "aggregate":
        reach = _pipeline_reach(cmd.get("pipeline"))
        if reach is not None:
            return whole_db if reach == "db" else EVERYTHING
    return frozenset({f"{db}.{target}"})


def _pipeline_reach(value: Any) -> str | None:
    """"db" when a pipeline reads other collections of the database, "all"
    when it names another database, None when it reads its own only."""
    reach = None
    if isinstance(value, list):
        for item in value:
            inner = _pipeline_reach(item)
            reach = "all" if "all" in (reach, inner) else inner or reach
    elif isinstance(value, dict):
        for key, inner_value in value.items():
            if key in _LOOKUP_STAGES:
                spec = inner_value.get("from", inner_value.get("coll")) \
                    if isinstance(inner_value, dict) else inner_value
                if isinstance(spec, dict) or (isinstance(inner_value, dict)
                                              and "db" in inner_value):
                    return "all"
                reach = reach or "db"
            inner = _pipeline_reach(inner_value)
            reach = "all" if "all" in (reach, inner) else inner or reach
    return reach


def _touched(op: str, ns: str, o: Any) -> tuple[str, ...]:
    """The namespaces one oplog entry changes (``"db.*"``: the catalog of db)."""
    if op == "n":
        return ()
    db = ns.partition(".")[0]
    if op in ("i", "u", "d"):
        return (ns,)
    if op == "c":
        out = [f"{db}.*"]
        target = o.get("to") if o is not None and "renameCollection" in o else None
        if isinstance(target, str):
            out.append(f"{target.partition('.')[0]}.*")
        return tuple(out)
    return ("*",)


def _overlaps(scope: frozenset[str], touched: tuple[str, ...]) -> bool:
    for item in touched:
        if item == "*" or item in scope:
            return True
        if item.endswith(".*") and any(s.startswith(item[:-1]) for s in scope):
            return True
        if any(s.endswith(".*") and item.startswith(s[:-1]) for s in scope):
            return True
    return False


class ReadConcernGate:
    """Holds reads until their read concern can be met, and stamps replies."""

    def __init__(self, coord: "ReplCoordinator") -> None:
        self.coord = coord
        self._cursors: dict[int, frozenset[str] | None] = {}  # majority cursors' scopes

    # -- before the command -----------------------------------------------------

    async def wait(self, cmd: dict, db: str) -> MongoError | None:
        """Return when ``cmd`` may run now (the caller then runs it without
        yielding), or the error to answer instead."""
        name = next(iter(cmd), None)
        coord = self.coord
        if coord.config is None or name is None:
            return None
        if name == "getMore":
            cursor_id = cmd.get("getMore")
            if not isinstance(cursor_id, int) or cursor_id not in self._cursors:
                return None
            concern, scope = ReadConcern("majority"), self._cursors[cursor_id]
        else:
            if "readConcern" not in cmd:
                return None
            try:
                concern = parse_read_concern(cmd)
                self._check_command(name, concern)
            except MongoError as exc:
                return exc
            try:
                coord.check_command(name, cmd, db)
            except MongoError:
                return None  # the command itself answers "not primary" at once
            if concern.level == "linearizable":
                if coord.state != PRIMARY:
                    return coord.state_error(10107, "cannot satisfy linearizable read concern "
                                                    "on non-primary node")
                return None  # the majority round comes after the read (finish)
            scope = read_scope(coord.server.storage, db, cmd) if concern.committed_only \
                else frozenset()
        return await self._wait_until_met(concern, scope, cmd.get("maxTimeMS"))

    @staticmethod
    def _check_command(name: str, concern: ReadConcern) -> None:
        if concern.level == "snapshot" and name not in _SNAPSHOT_READS:
            raise MongoError(72, f"readConcern level 'snapshot' is not supported by {name} "
                                 "outside transactions (only find, aggregate and distinct)")
        if concern.level in ("majority", "linearizable") and name not in _READS:
            raise MongoError(72, f"{name} does not support readConcern level "
                                 f"'{concern.level}' (only find, aggregate, count and "
                                 "distinct do)")

    async def _wait_until_met(self, concern: ReadConcern, scope: frozenset[str] | None,
                              max_time_ms: Any) -> MongoError | None:
        limited = isinstance(max_time_ms, (int, float)) and not isinstance(max_time_ms, bool) \
            and max_time_ms > 0
        wait_ms = max_time_ms if limited else \
            int(os.environ.get("HOLDDB_READ_CONCERN_WAIT_MS", DEFAULT_WAIT_MS))
        deadline = time.monotonic() + wait_ms / 1000
        while True:
            unmet = self._unmet(concern, scope)
            if unmet is None:
                return None
            if isinstance(unmet, MongoError):
                return unmet
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return self._timeout(concern, unmet, limited, wait_ms)
            event = self.coord._progress_event
            try:  # progress: a commit point move, an applied batch; poll as a backstop
                await asyncio.wait_for(event.wait(), min(remaining, 0.25))
            except asyncio.TimeoutError:
                pass

    def _unmet(self, concern: ReadConcern,
               scope: frozenset[str] | None) -> str | MongoError | None:
        """None when the read may run now, else why not (or a final error)."""
        coord = self.coord
        applied = coord.my_optime()
        if concern.after_optime is not None and applied < concern.after_optime:
            return f"this member has not applied afterOpTime {concern.after_optime} yet"
        if concern.after_cluster_time is not None and \
                applied.timestamp < concern.after_cluster_time:
            return (f"this member has not applied afterClusterTime "
                    f"{concern.after_cluster_time} yet (applied: {applied.timestamp})")
        if not concern.committed_only:
            return None
        committed = coord.commit_point
        wanted = concern.at_cluster_time or concern.after_cluster_time
        if wanted is not None and committed.timestamp < wanted:
            return f"the majority commit point has not reached {wanted} yet"
        oplog = coord.server.storage.oplog
        if concern.at_cluster_time is not None:
            if self._changed_after(oplog, concern.at_cluster_time, scope):
                return MongoError(239, f"Read timestamp {concern.at_cluster_time} is older than "
                                       "the data it reads: holddb keeps no snapshot older "
                                       "than the newest state of what a read touches")
            return None
        if self._changed_after(oplog, committed.timestamp if committed.ts else None, scope):
            return ("writes to what this read reads are not majority-committed yet "
                    f"(commit point {committed.timestamp})")
        return None

    @staticmethod
    def _changed_after(oplog: Any, ts: Timestamp | None,
                       scope: frozenset[str] | None) -> bool:
        for op, ns, o in oplog.heads_after(ts):
            if scope is EVERYTHING or _overlaps(scope, _touched(op, ns, o)):
                return True
        return False

    @staticmethod
    def _timeout(concern: ReadConcern, why: str, limited: bool, wait_ms: Any) -> MongoError:
        if limited:
            return MongoError(50, f"operation exceeded time limit waiting for read concern "
                                  f"{concern.level}: {why}")
        if concern.committed_only:
            return MongoError(134, f"Read concern {concern.level} cannot be satisfied within "
                                   f"{wait_ms}ms: {why}; holddb keeps no older snapshot to read "
                                   "instead (see docs/holddb.md, 'Read concern')")
        return MongoError(262, f"waited {wait_ms}ms for read concern: {why}")

    # -- after the command ------------------------------------------------------

    async def finish(self, cmd: dict, db: str, reply: dict) -> dict:
        """Linearizable reads' majority round; snapshot times; majority cursors;
        ``operationTime`` and ``$clusterTime`` on every reply."""
        coord = self.coord
        if coord.config is None:
            return reply
        name = next(iter(cmd), None)
        try:
            concern = parse_read_concern(cmd) if name != "getMore" else ReadConcern()
        except MongoError:
            concern = ReadConcern()
        operation_time = coord.commit_point.timestamp if concern.committed_only \
            else coord.my_optime().timestamp
        if reply.get("ok") == 1:
            cursor = reply.get("cursor")
            if concern.level == "snapshot":
                at = concern.at_cluster_time or coord.commit_point.timestamp
                operation_time = at
                (cursor if isinstance(cursor, dict) else reply)["atClusterTime"] = at
            self._track_cursor(cmd, db, name, concern, cursor)
            if concern.level == "linearizable":
                reply = await self._confirm_primacy(cmd, reply)
        reply["operationTime"] = operation_time
        reply["$clusterTime"] = {"clusterTime": coord.my_optime().timestamp,
                                 "signature": _ZERO_SIGNATURE}
        return reply

    def _track_cursor(self, cmd: dict, db: str, name: Any, concern: ReadConcern,
                      cursor: Any) -> None:
        cursor_id = int(cursor.get("id", 0)) if isinstance(cursor, dict) else 0
        if name == "getMore":
            if not cursor_id:
                self._cursors.pop(cmd.get("getMore"), None)
            return
        if concern.level != "majority" or not cursor_id:
            return
        if len(self._cursors) > 10_000:  # forget cursors that were killed or reaped
            live = self.coord.server.cursors
            self._cursors = {k: v for k, v in self._cursors.items() if live.find(k)}
        self._cursors[cursor_id] = read_scope(self.coord.server.storage, db, cmd)

    async def _confirm_primacy(self, cmd: dict, reply: dict) -> dict:
        """Linearizable: write a no-op and wait until a majority has it.  Only
        a member that is still primary in its term can commit it, so the data
        read before it is the newest any majority acknowledged."""
        coord = self.coord
        max_time_ms = cmd.get("maxTimeMS")
        limited = isinstance(max_time_ms, (int, float)) and not isinstance(max_time_ms, bool) \
            and max_time_ms > 0
        wait_ms = max_time_ms if limited else \
            int(os.environ.get("HOLDDB_READ_CONCERN_WAIT_MS", DEFAULT_WAIT_MS))
        deadline = time.monotonic() + wait_ms / 1000
        error = None
        if coord.state != PRIMARY:
            error = coord.state_error(10107, "cannot satisfy linearizable read concern on "
                                             "non-primary node")
        else:
            target = coord.append_noop("linearizable read")
            while coord.commit_point < target:
                remaining = deadline - time.monotonic()
                if coord.state != PRIMARY:
                    error = MongoError(11602, "operation was interrupted because the primary "
                                              "stepped down before a linearizable read was "
                                              "confirmed")
                    break
                if remaining <= 0:
                    error = MongoError(50, "operation exceeded time limit confirming a "
                                           "linearizable read") if limited else \
                        MongoError(262, f"no majority confirmed this primary within "
                                        f"{wait_ms}ms of a linearizable read")
                    break
                event = coord._progress_event
                try:
                    await asyncio.wait_for(event.wait(), min(remaining, 0.25))
                except asyncio.TimeoutError:
                    pass
        if error is None:
            return reply
        cursor = reply.get("cursor")
        if isinstance(cursor, dict) and cursor.get("id"):
            coord.server.cursors.close(int(cursor["id"]))
        return error.to_reply()
