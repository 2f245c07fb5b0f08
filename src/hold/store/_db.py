"""The SQLite database of one data root.

Every state change is one transaction (``with store.transaction() as db``),
opened with BEGIN IMMEDIATE so that concurrent ``hold`` processes serialise
on the write lock instead of failing half-way; the busy timeout makes them
wait rather than error.  WAL mode lets readers run beside a writer.  Long
work (unpacking layers, copying data) must happen outside a transaction.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
from typing import Iterator

from hold.errors import SystemError_
from hold.store.schema import SCHEMA, SCHEMA_VERSION

BUSY_TIMEOUT_S = 30.0


class Store:
    """One connection to ``<root>/hold.db``; cheap to open, one per process."""

    def __init__(self, path: str):
        self.path = path
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
        except OSError as exc:
            raise SystemError_(f"data root {exc.filename or os.path.dirname(path)}: "
                               f"{exc.strerror}", errno=exc.errno) from exc
        try:
            self._db = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S,
                                       isolation_level=None,
                                       check_same_thread=False)
            self._db.row_factory = sqlite3.Row
            if self._db.execute("PRAGMA user_version").fetchone()[0] != SCHEMA_VERSION:
                self._migrate()
        except sqlite3.Error as exc:
            raise SystemError_(f"cannot open metadata store {path}: {exc}") from exc

    def _migrate(self) -> None:
        """Create or upgrade the schema, one process at a time.

        Switching a new database to WAL needs an exclusive lock that SQLite
        does not wait for (no busy handler), so processes racing to open a
        fresh root would fail with "database is locked"; a flock on a side
        file serialises them instead, and each re-checks under the lock.
        """
        with open(self.path + ".init-lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._create_schema()

    def _create_schema(self) -> None:
        with self.transaction() as db:
            if db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION:
                return
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)
            db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One atomic state change; rolled back if the body raises."""
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        else:
            db.execute("COMMIT")

    def query(self, sql: str, params=()) -> list[sqlite3.Row]:
        """A read outside any write transaction (WAL gives a snapshot)."""
        return self._db.execute(sql, params).fetchall()

    def close(self) -> None:
        self._db.close()
