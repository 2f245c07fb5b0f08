"""The oplog: one entry per change, appended in the change's own transaction.

Entries use MongoDB's oplog shape so that replica-set code (the next issue)
can fetch and apply them unchanged::

    {ts: Timestamp(secs, inc), t: term, v: 2, op: "i"|"u"|"d"|"c"|"n",
     ns: "db.coll" or "db.$cmd", ui: collection UUID, o: document/command,
     o2: {_id: ...} (i and u), wall: datetime}

Updates are logged as full replacement documents (``o``) keyed by ``o2``,
which keeps applying idempotent.  ``ts`` values are strictly increasing
across restarts (seeded from the newest stored entry); the term is kept in
the meta table (0 until replica sets elect a primary).

The oplog is capped like mongod's: past ``size_limit`` bytes (``--oplogSize``
MB, default 1024) the oldest entries are deleted, in the same transaction as
the append that crossed the limit, down to 90% of it.
"""

from __future__ import annotations

import datetime
import sqlite3
import time
from typing import Any, Iterator

from bson.raw_bson import RawBSONDocument
from bson.timestamp import Timestamp

from holddb.wire._codec import decode_document, encode_document

__all__ = ["Oplog"]


DEFAULT_SIZE_MB = 1024


class Oplog:
    def __init__(self, conn: sqlite3.Connection, size_mb: float = DEFAULT_SIZE_MB) -> None:
        self._conn = conn
        self.size_limit = int(size_mb * 1024 * 1024)
        self._bytes = self._stored_bytes()
        row = conn.execute("SELECT MAX(ts) FROM oplog").fetchone()
        self._last = row[0] or 0
        self._committed_last = self._last
        term = conn.execute("SELECT value FROM meta WHERE key = 'term'").fetchone()
        self.term = int(term[0]) if term else 0
        self.suppress = False  # set by replication while it applies fetched entries

    def next_ts(self) -> Timestamp:
        now = int(time.time()) << 32
        value = max(now | 1, self._last + 1)
        self._last = value
        return Timestamp(value >> 32, value & 0xFFFFFFFF)

    @property
    def last_ts(self) -> Timestamp:
        return Timestamp(self._last >> 32, self._last & 0xFFFFFFFF)

    def append(self, op: str, ns: str, o: dict, *, o2: dict | None = None,
               ui: Any = None) -> Timestamp:
        """Add one entry; the caller's transaction makes it durable."""
        if self.suppress:  # a secondary applying the primary's entry logs that one instead
            return self.last_ts
        ts = self.next_ts()
        entry: dict[str, Any] = {"ts": ts, "t": self.term, "v": 2, "op": op, "ns": ns}
        if ui is not None:
            entry["ui"] = ui
        entry["o"] = o
        if o2 is not None and op == "u":
            entry["o2"] = o2
        entry["wall"] = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
        data = encode_document(entry)
        self._conn.execute("INSERT INTO oplog (ts, entry) VALUES (?, ?)",
                           ((ts.time << 32) | ts.inc, data))
        self._bytes += len(data)
        if self._bytes > self.size_limit:
            self._truncate()
        return ts

    def _stored_bytes(self) -> int:
        return int(self._conn.execute("SELECT COALESCE(SUM(LENGTH(entry)), 0) FROM oplog")
                   .fetchone()[0])

    def _truncate(self) -> None:
        """Delete the oldest entries until the oplog is under 90% of its cap
        (the newest entry always stays); reads the oldest rows in batches."""
        target = int(self.size_limit * 0.9)
        newest = self._conn.execute("SELECT MAX(ts) FROM oplog").fetchone()[0]
        after = -1
        while self._bytes > target:
            rows = self._conn.execute(
                "SELECT ts, LENGTH(entry) FROM oplog WHERE ts > ? AND ts < ? ORDER BY ts "
                "LIMIT 1000", (after, newest)).fetchall()
            if not rows:
                break
            for ts, size in rows:
                if self._bytes <= target:
                    break
                self._bytes -= size
                after = ts
        if after >= 0:
            self._conn.execute("DELETE FROM oplog WHERE ts <= ?", (after,))

    def rolled_back(self) -> None:
        """Forget what a rolled-back transaction appended."""
        row = self._conn.execute("SELECT MAX(ts) FROM oplog").fetchone()
        self._last = max(row[0] or 0, self._last)
        self._bytes = self._stored_bytes()

    def entries(self, after: Timestamp | None = None) -> Iterator[dict]:
        since = ((after.time << 32) | after.inc) if after else -1
        rows = self._conn.execute("SELECT entry FROM oplog WHERE ts > ? ORDER BY ts",
                                  (since,)).fetchall()
        for (data,) in rows:
            yield decode_document(data)

    def count(self) -> int:
        return self._conn.execute("SELECT COUNT(*) FROM oplog").fetchone()[0]

    @property
    def stored_bytes(self) -> int:
        """BSON bytes the entries take (what ``collStats.size`` reports)."""
        return self._bytes

    def scan(self, *, descending: bool = False) -> Iterator[dict]:
        """Entries in ``ts`` order (or newest first), read lazily: a
        ``sort: {$natural: -1}, limit: 1`` find reads one row, not the oplog."""
        order = "DESC" if descending else "ASC"
        cursor = self._conn.execute(f"SELECT entry FROM oplog ORDER BY ts {order}")
        while True:
            rows = cursor.fetchmany(256)
            if not rows:
                return
            for (data,) in rows:
                yield decode_document(data)

    def heads_after(self, ts: Timestamp | None) -> Iterator[tuple[str, str, Any]]:
        """``(op, ns, o)`` of each entry newer than ``ts``, oldest first, without
        decoding the documents (``o`` stays raw BSON): what a majority read
        checks against the uncommitted tail of the oplog."""
        since = ((ts.time << 32) | ts.inc) if ts else -1
        rows = self._conn.execute("SELECT entry FROM oplog WHERE ts > ? ORDER BY ts",
                                  (since,)).fetchall()
        for (data,) in rows:
            head = RawBSONDocument(data)
            yield head.get("op", ""), head.get("ns", ""), head.get("o")

    # -- replication (holddb.repl): entries copied verbatim from a primary ----

    def insert_entry(self, entry: dict) -> None:
        """Store another member's entry unchanged (same ts and term)."""
        ts = entry["ts"]
        ticks = (ts.time << 32) | ts.inc
        data = encode_document(entry)
        self._conn.execute("INSERT OR REPLACE INTO oplog (ts, entry) VALUES (?, ?)",
                           (ticks, data))
        self._last = max(self._last, ticks)
        self._bytes += len(data)  # (a replaced duplicate is over-counted until a recount)
        if self._bytes > self.size_limit:
            self._bytes = self._stored_bytes()
            if self._bytes > self.size_limit:
                self._truncate()

    def truncate_after(self, ts: Timestamp | None) -> None:
        """Delete the entries newer than ``ts`` (rollback); all with None."""
        ticks = ((ts.time << 32) | ts.inc) if ts else -1
        self._conn.execute("DELETE FROM oplog WHERE ts > ?", (ticks,))
        row = self._conn.execute("SELECT MAX(ts) FROM oplog").fetchone()
        self._last = row[0] or 0
        self._bytes = self._stored_bytes()

    def last_entry(self) -> dict | None:
        row = self._conn.execute("SELECT entry FROM oplog ORDER BY ts DESC LIMIT 1").fetchone()
        return decode_document(row[0]) if row else None

    def entries_before(self, ts: Timestamp, limit: int) -> list[dict]:
        """Up to ``limit`` entries at or before ``ts``, newest first."""
        rows = self._conn.execute("SELECT entry FROM oplog WHERE ts <= ? ORDER BY ts DESC "
                                  "LIMIT ?", (((ts.time << 32) | ts.inc), limit)).fetchall()
        return [decode_document(data) for (data,) in rows]

    def set_term(self, term: int) -> None:
        """The term new entries carry; stored in meta so a restart keeps it."""
        self.term = term
        self._conn.execute("INSERT OR REPLACE INTO meta VALUES ('term', ?)", (term,))
