"""Server-side cursors: what ``find``/``aggregate`` leave behind for ``getMore``.

A cursor holds the not-yet-returned documents of one result (computed when
the cursor was opened, so later writes do not disturb it) and hands them
out in batches.  Batches stop at ``batchSize`` documents or when they reach
16MB of BSON.  Cursor ids are random positive int64s, never 0 (0 means
"exhausted" on the wire).

A *tailable* cursor (capped collections, the oplog) stays open when it runs
dry: ``tail()`` fetches what was inserted since, and with ``awaitData`` the
server holds an empty ``getMore`` until a write commits or ``maxTimeMS``
passes (see ``Server._await_data``).  Idle cursors are reaped after
``cursorTimeoutMillis`` (10 minutes) unless opened with ``noCursorTimeout``.
"""

from __future__ import annotations

import random
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator

from bson.int64 import Int64

from holddb.errors import MongoError
from holddb.wire import MAX_BSON_SIZE, encode_document

__all__ = ["Cursor", "CursorManager", "first_batch_reply"]

DEFAULT_FIRST_BATCH = 101
_END = object()
CURSOR_TIMEOUT_SECONDS = 600.0


@dataclass
class Cursor:
    id: int
    ns: str
    pending: deque
    connection_id: int
    no_timeout: bool = False
    last_used: float = field(default_factory=time.monotonic)
    returned: int = 0
    lsid: Any = None
    tail: Callable[[], list] | None = None
    await_data: bool = False
    source: Iterator[Any] | None = None  # lazily produced results, after `pending`

    def _pull(self) -> Any:
        """The next document, from ``pending`` then ``source``; _END when none."""
        if self.pending:
            return self.pending.popleft()
        if self.source is not None:
            doc = next(self.source, _END)
            if doc is _END:
                self.source = None
            return doc
        return _END

    @property
    def drained(self) -> bool:
        """No document left now (a tailable cursor may still get more)."""
        if not self.pending and self.source is not None:
            doc = next(self.source, _END)
            if doc is _END:
                self.source = None
            else:
                self.pending.append(doc)
        return not self.pending

    def refill(self) -> bool:
        """Pull newly inserted documents into a drained tailable cursor."""
        if self.tail is not None and self.drained:
            self.pending.extend(self.tail())
        return not self.drained

    def next_batch(self, batch_size: int | None) -> list[Any]:
        """Take up to ``batch_size`` documents (all if None), capped at 16MB."""
        self.last_used = time.monotonic()
        batch: list[Any] = []
        size = 0
        while batch_size is None or batch_size <= 0 or len(batch) < batch_size:
            doc = self._pull()
            if doc is _END:
                break
            doc_size = len(encode_document(doc)) if isinstance(doc, dict) else len(doc.raw)
            if batch and size + doc_size > MAX_BSON_SIZE:
                self.pending.appendleft(doc)
                break
            batch.append(doc)
            size += doc_size
        self.returned += len(batch)
        return batch


class CursorManager:
    def __init__(self) -> None:
        self._cursors: dict[int, Cursor] = {}

    def __len__(self) -> int:
        return len(self._cursors)

    def open(self, ns: str, docs: Iterable[Any], connection_id: int, *,
             no_timeout: bool = False, lsid: Any = None,
             tail: Callable[[], list] | None = None, await_data: bool = False) -> Cursor:
        cursor_id = 0
        while cursor_id == 0 or cursor_id in self._cursors:
            cursor_id = random.randint(1, 2**63 - 1)
        if isinstance(docs, (list, tuple, deque)):
            cursor = Cursor(cursor_id, ns, deque(docs), connection_id, no_timeout, lsid=lsid,
                            tail=tail, await_data=await_data)
        else:
            cursor = Cursor(cursor_id, ns, deque(), connection_id, no_timeout, lsid=lsid,
                            tail=tail, await_data=await_data, source=iter(docs))
        self._cursors[cursor_id] = cursor
        return cursor

    def find(self, cursor_id: int) -> Cursor | None:
        return self._cursors.get(cursor_id)

    def get(self, cursor_id: int, ns: str) -> Cursor:
        cursor = self._cursors.get(cursor_id)
        if cursor is None:
            raise MongoError(43, f"cursor id {cursor_id} not found")
        if cursor.ns != ns:
            raise MongoError(13, f"Requested getMore on namespace '{ns}', but cursor "
                                 f"belongs to a different namespace {cursor.ns}")
        return cursor

    def close(self, cursor_id: int) -> bool:
        return self._cursors.pop(cursor_id, None) is not None

    def close_for_sessions(self, lsids: list[Any]) -> None:
        for cursor_id, cursor in list(self._cursors.items()):
            if cursor.lsid is not None and cursor.lsid in lsids:
                del self._cursors[cursor_id]

    def reap(self, timeout: float = CURSOR_TIMEOUT_SECONDS) -> int:
        """Close cursors idle longer than ``timeout`` seconds; returns how many."""
        now = time.monotonic()
        stale = [cid for cid, c in self._cursors.items()
                 if not c.no_timeout and now - c.last_used > timeout]
        for cid in stale:
            del self._cursors[cid]
        return len(stale)

    def batch_reply(self, cursor: Cursor, batch_size: int | None, first: bool,
                    single_batch: bool = False) -> dict:
        """The ``cursor`` reply document; closes the cursor once exhausted."""
        try:
            cursor.refill()
        except MongoError:
            self.close(cursor.id)  # e.g. CappedPositionLost: this cursor is dead
            raise
        batch = cursor.next_batch(batch_size)
        done = single_batch or (cursor.drained and cursor.tail is None)
        if done:
            self.close(cursor.id)
        return {"cursor": {"id": Int64(0 if done else cursor.id), "ns": cursor.ns,
                           "firstBatch" if first else "nextBatch": batch}}


def first_batch_reply(manager: CursorManager, ns: str, docs: list, connection_id: int,
                      batch_size: int | None, *, single_batch: bool = False,
                      no_timeout: bool = False, lsid: Any = None,
                      tail: Callable[[], list] | None = None, await_data: bool = False) -> dict:
    """Open a cursor over ``docs`` and return the first batch (default 101)."""
    cursor = manager.open(ns, docs, connection_id, no_timeout=no_timeout, lsid=lsid,
                          tail=tail, await_data=await_data)
    if batch_size == 0 and not single_batch:  # batchSize 0: open the cursor, return nothing
        alive = not cursor.drained or tail is not None
        if not alive:
            manager.close(cursor.id)
        return {"cursor": {"id": Int64(cursor.id if alive else 0), "ns": ns,
                           "firstBatch": []}}
    size = DEFAULT_FIRST_BATCH if batch_size is None else batch_size
    return manager.batch_reply(cursor, size if size > 0 else None, True, single_batch)
