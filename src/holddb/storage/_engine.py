"""Durable collections, indexes and the oplog on one SQLite file.

Lifecycle: ``Storage(dbpath)`` opens (creating) ``<dbpath>/holddb.sqlite``
in WAL mode with ``synchronous=FULL``, so a committed transaction is on disk
and survives ``kill -9``.  Every client-visible change runs inside
``with storage.transaction():`` -- the documents, their index entries, the
oplog entry describing the change and any retryable-write record commit
together or not at all.  Transactions nest by joining the outer one.
``close()`` checkpoints and closes.

Words: a *namespace* is ``db.collection``; a collection's *id_key* for a
document is the order-preserving encoding of its ``_id``; the *catalog* is
the in-memory copy of the collections and indexes tables, reloaded after
every transaction that changed them (and after every rollback).

The storage layer enforces what must hold whatever the caller: ``_id``
uniqueness, unique indexes (DuplicateKey), the 16MB document limit.
Query semantics live in ``holddb.query``; choosing an index lives in
``_planner``.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import uuid
from dataclasses import dataclass, field
from typing import Any, Iterator

from bson.binary import Binary, UUID_SUBTYPE
from bson.raw_bson import RawBSONDocument

from holddb.errors import DuplicateKey, MongoError
from holddb.storage._indexes import IndexInfo, index_keys, touches_array, validate_index_spec
from holddb.storage._keys import encode_key
from holddb.storage._oplog import DEFAULT_SIZE_MB, Oplog
from holddb.storage._schema import SCHEMA, SCHEMA_VERSION
from holddb.wire._codec import decode_document, encode_document
from holddb.wire._framing import MAX_BSON_SIZE

__all__ = ["Storage", "CollectionInfo"]

ID_INDEX_SPEC = {"v": 2, "key": {"_id": 1}, "name": "_id_"}


@dataclass
class CollectionInfo:
    id: int
    db: str
    name: str
    uuid: Binary
    options: dict
    indexes: list[IndexInfo] = field(default_factory=list)

    @property
    def ns(self) -> str:
        return f"{self.db}.{self.name}"

    @property
    def capped(self) -> bool:
        return bool(self.options.get("capped"))


class Storage:
    """The database files of one holddb process (see module docstring)."""

    def __init__(self, dbpath: str, *, oplog_size_mb: float | None = None) -> None:
        os.makedirs(dbpath, exist_ok=True)
        self._lock_file = _lock_dbpath(dbpath)
        self.path = os.path.join(dbpath, "holddb.sqlite")
        try:
            self._conn = sqlite3.connect(self.path, isolation_level=None,
                                         check_same_thread=False)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=FULL")
            self._conn.execute("PRAGMA busy_timeout=10000")
            self._conn.executescript(SCHEMA)
        except sqlite3.Error as exc:
            raise MongoError(1, f"cannot open data files at {self.path}: {exc}") from exc
        self._conn.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)",
                           (SCHEMA_VERSION,))
        self._depth = 0
        self._catalog_dirty = False
        self.on_commit: Any = None  # called after every commit (wakes awaitData cursors)
        self.catalog: dict[tuple[str, str], CollectionInfo] = {}
        self.oplog = Oplog(self._conn, oplog_size_mb or DEFAULT_SIZE_MB)
        self._load_catalog()

    # -- transactions -------------------------------------------------------

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """One atomic, durable unit; nested calls join the outermost one."""
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        self._conn.execute("BEGIN IMMEDIATE")
        self._depth = 1
        try:
            yield
        except BaseException:
            self._depth = 0
            self._conn.execute("ROLLBACK")
            self.oplog.rolled_back()
            self._load_catalog()
            raise
        self._depth = 0
        try:
            self._conn.execute("COMMIT")
        except sqlite3.Error as exc:
            self._conn.execute("ROLLBACK")
            self._load_catalog()
            raise MongoError(1, f"commit failed: {exc}") from exc
        if self._catalog_dirty:
            self._load_catalog()
        if self.on_commit is not None:
            self.on_commit()

    @contextlib.contextmanager
    def atomic(self) -> Iterator[None]:
        """A savepoint inside the current transaction: a failed single-document
        write (say, a DuplicateKey on its second index) leaves no trace while
        the writes before it in the same command still commit."""
        self._require_transaction()
        self._conn.execute("SAVEPOINT doc_write")
        try:
            yield
        except BaseException:
            self._conn.execute("ROLLBACK TO doc_write")
            self._conn.execute("RELEASE doc_write")
            raise
        self._conn.execute("RELEASE doc_write")

    def _require_transaction(self) -> None:
        if not self._depth:
            raise RuntimeError("storage writes must run inside storage.transaction()")

    def close(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self._conn.close()
        with contextlib.suppress(OSError):
            self._lock_file.truncate(0)
        self._lock_file.close()

    # -- catalog ------------------------------------------------------------

    def _load_catalog(self) -> None:
        catalog: dict[tuple[str, str], CollectionInfo] = {}
        by_id: dict[int, CollectionInfo] = {}
        for cid, db, name, coll_uuid, options in self._conn.execute(
                "SELECT id, db, name, uuid, options FROM collections ORDER BY id"):
            info = CollectionInfo(cid, db, name, Binary(coll_uuid, UUID_SUBTYPE),
                                  decode_document(options))
            catalog[(db, name)] = info
            by_id[cid] = info
        for iid, cid, spec, multikey in self._conn.execute(
                "SELECT id, collection_id, spec, multikey FROM indexes ORDER BY id"):
            if cid in by_id:
                by_id[cid].indexes.append(IndexInfo.from_spec(iid, decode_document(spec),
                                                              bool(multikey)))
        self.catalog = catalog
        self._catalog_dirty = False

    def get_meta(self, key: str, default: Any = None) -> Any:
        row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else default

    def set_meta(self, key: str, value: Any) -> None:
        self._conn.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    def database_names(self) -> list[str]:
        return sorted({db for db, _ in self.catalog})

    def collections(self, db: str) -> list[CollectionInfo]:
        return [info for (d, _), info in sorted(self.catalog.items()) if d == db]

    def collection(self, db: str, name: str) -> CollectionInfo | None:
        return self.catalog.get((db, name))

    def require_collection(self, db: str, name: str) -> CollectionInfo:
        info = self.catalog.get((db, name))
        if info is None:
            raise MongoError(26, f"ns not found: {db}.{name}")
        return info

    def create_collection(self, db: str, name: str, options: dict | None = None,
                          *, implicit: bool = False) -> CollectionInfo:
        """Create ``db.name``; NamespaceExists (48) if it is already there."""
        self._require_transaction()
        _check_namespace(db, name)
        if (db, name) in self.catalog:
            raise MongoError(48, f"Collection {db}.{name} already exists.")
        coll_uuid = uuid.uuid4().bytes
        options = dict(options or {})
        cur = self._conn.execute(
            "INSERT INTO collections (db, name, uuid, options) VALUES (?, ?, ?, ?)",
            (db, name, coll_uuid, encode_document(options)))
        info = CollectionInfo(cur.lastrowid, db, name, Binary(coll_uuid, UUID_SUBTYPE), options)
        self.catalog[(db, name)] = info
        self._catalog_dirty = True
        self.oplog.append("c", f"{db}.$cmd", {"create": name, **options}, ui=info.uuid)
        return info

    def ensure_collection(self, db: str, name: str) -> CollectionInfo:
        """The collection, created implicitly (as inserts and upserts do)."""
        return self.catalog.get((db, name)) or self.create_collection(db, name, implicit=True)

    def drop_collection(self, db: str, name: str) -> CollectionInfo:
        self._require_transaction()
        info = self.require_collection(db, name)
        self._conn.execute("DELETE FROM documents WHERE collection_id = ?", (info.id,))
        self._conn.execute("DELETE FROM capped_order WHERE collection_id = ?", (info.id,))
        for index in info.indexes:
            self._conn.execute("DELETE FROM index_entries WHERE index_id = ?", (index.id,))
        self._conn.execute("DELETE FROM indexes WHERE collection_id = ?", (info.id,))
        self._conn.execute("DELETE FROM collections WHERE id = ?", (info.id,))
        del self.catalog[(db, name)]
        self._catalog_dirty = True
        self.oplog.append("c", f"{db}.$cmd", {"drop": name}, ui=info.uuid)
        return info

    def rename_collection(self, src: tuple[str, str], dst: tuple[str, str],
                          drop_target: bool = False) -> None:
        self._require_transaction()
        info = self.require_collection(*src)
        _check_namespace(*dst)
        if dst in self.catalog:
            if not drop_target:
                raise MongoError(48, "target namespace exists")
            self.drop_collection(*dst)
        self._conn.execute("UPDATE collections SET db = ?, name = ? WHERE id = ?",
                           (dst[0], dst[1], info.id))
        self._catalog_dirty = True
        self.oplog.append("c", f"{src[0]}.$cmd",
                          {"renameCollection": f"{src[0]}.{src[1]}",
                           "to": f"{dst[0]}.{dst[1]}", "dropTarget": drop_target},
                          ui=info.uuid)
        self._load_catalog()

    # -- indexes ------------------------------------------------------------

    def index_specs(self, info: CollectionInfo) -> list[dict]:
        return [dict(ID_INDEX_SPEC)] + [dict(i.spec) for i in info.indexes]

    def create_index(self, info: CollectionInfo, raw_spec: Any) -> bool:
        """Build an index over existing documents; False if it already exists.

        A same-named index with another key is IndexKeySpecsConflict (86);
        the same key under another name is IndexOptionsConflict (85);
        existing duplicates for a unique index are DuplicateKey (11000).
        """
        self._require_transaction()
        spec = validate_index_spec(raw_spec)
        if "_fts" in spec["key"] and any(i.text_weights is not None and i.name != spec["name"]
                                         for i in info.indexes):
            raise MongoError(85, "An equivalent index already exists: a collection has at "
                                 "most one text index")
        if spec["name"] == "_id_" or spec["key"] == {"_id": 1}:
            if spec["key"] != {"_id": 1}:
                raise MongoError(86, "_id_ index must be {_id: 1}")
            return False
        for index in info.indexes:
            same_key = list(index.spec["key"].items()) == list(spec["key"].items())
            if index.name == spec["name"]:
                if same_key and _options(index.spec) == _options(spec):
                    return False
                raise MongoError(86, f"An existing index has the same name as the requested "
                                     f"index. Requested index: {spec}, existing index: {index.spec}")
            if same_key and _options(index.spec) == _options(spec):
                return False
            if same_key and index.spec.get("collation") != spec.get("collation"):
                continue  # the same key under another collation is another index
            if same_key:
                raise MongoError(85, f"An equivalent index already exists with a different "
                                     f"name and options. Requested index: {spec}, existing "
                                     f"index: {index.spec}")
        cur = self._conn.execute(
            "INSERT INTO indexes (collection_id, name, spec) VALUES (?, ?, ?)",
            (info.id, spec["name"], encode_document(spec)))
        index = IndexInfo.from_spec(cur.lastrowid, spec)
        info.indexes.append(index)
        self._catalog_dirty = True
        for id_key, doc in self.scan(info):
            self._add_index_entries(info, index, id_key, doc)
        self.oplog.append("c", f"{info.db}.$cmd", {"createIndexes": info.name, **spec},
                          ui=info.uuid)
        return True

    def drop_index(self, info: CollectionInfo, target: Any) -> str:
        self._require_transaction()
        for index in info.indexes:
            if index.name == target or (isinstance(target, dict) and index.spec["key"] == target):
                self._conn.execute("DELETE FROM index_entries WHERE index_id = ?", (index.id,))
                self._conn.execute("DELETE FROM indexes WHERE id = ?", (index.id,))
                info.indexes.remove(index)
                self._catalog_dirty = True
                self.oplog.append("c", f"{info.db}.$cmd",
                                  {"dropIndexes": info.name, "index": index.name}, ui=info.uuid)
                return index.name
        if target == "_id_" or target == {"_id": 1}:
            raise MongoError(72, "cannot drop _id index")
        raise MongoError(27, f"index not found with name [{target}]")

    def set_index_option(self, info: CollectionInfo, target: Any, option: str, value: Any) -> dict:
        """Change one option of an index (collMod); returns the old spec."""
        self._require_transaction()
        for index in info.indexes:
            if index.name == target or index.spec["key"] == target:
                old = dict(index.spec)
                index.spec = {**index.spec, option: value}
                self._conn.execute("UPDATE indexes SET spec = ? WHERE id = ?",
                                   (encode_document(index.spec), index.id))
                self._catalog_dirty = True
                self.oplog.append("c", f"{info.db}.$cmd", {"collMod": info.name, "index": {
                    "name": index.name, option: value}}, ui=info.uuid)
                return old
        raise MongoError(27, f"cannot find index {target} for ns {info.ns}")

    def set_collection_options(self, info: CollectionInfo, options: dict) -> None:
        self._require_transaction()
        info.options = {**info.options, **options}
        self._conn.execute("UPDATE collections SET options = ? WHERE id = ?",
                           (encode_document(info.options), info.id))
        self._catalog_dirty = True
        self.oplog.append("c", f"{info.db}.$cmd", {"collMod": info.name, **options}, ui=info.uuid)

    def _add_index_entries(self, info: CollectionInfo, index: IndexInfo,
                           id_key: bytes, doc: dict) -> None:
        keys = index_keys(index, doc)
        if not keys:
            return
        if index.unique:
            for key in keys:
                row = self._conn.execute(
                    "SELECT 1 FROM index_entries WHERE index_id = ? AND key = ? AND id_key != ? "
                    "LIMIT 1", (index.id, key, id_key)).fetchone()
                if row:
                    raise _duplicate(info, index, doc)
        if not index.multikey and index.fields and (len(keys) > 1 or touches_array(index, doc)):
            index.multikey = True
            self._conn.execute("UPDATE indexes SET multikey = 1 WHERE id = ?", (index.id,))
        self._conn.executemany(
            "INSERT OR IGNORE INTO index_entries (index_id, key, id_key) VALUES (?, ?, ?)",
            [(index.id, key, id_key) for key in keys])

    def _remove_index_entries(self, index: IndexInfo, id_key: bytes, doc: dict) -> None:
        keys = index_keys(index, doc)
        if keys:
            self._conn.executemany(
                "DELETE FROM index_entries WHERE index_id = ? AND key = ? AND id_key = ?",
                [(index.id, key, id_key) for key in keys])

    # -- documents ----------------------------------------------------------

    def insert(self, info: CollectionInfo, doc: dict) -> None:
        """Insert one document (its ``_id`` already set); DuplicateKey if taken.

        All or nothing: a unique-index violation found after the document row
        was written rolls back to a savepoint (needed only when the
        collection has unique secondary indexes).
        """
        self._require_transaction()
        if any(index.unique for index in info.indexes):
            with self.atomic():
                self._insert(info, doc)
        else:
            self._insert(info, doc)

    def _insert(self, info: CollectionInfo, doc: dict) -> None:
        data = _encode_checked(doc)
        id_key = encode_key(doc["_id"])
        try:
            self._conn.execute(
                "INSERT INTO documents (collection_id, id_key, doc) VALUES (?, ?, ?)",
                (info.id, id_key, data))
        except sqlite3.IntegrityError as exc:
            raise DuplicateKey(info.ns, "_id_", {"_id": 1}, {"_id": doc["_id"]}) from exc
        for index in info.indexes:
            self._add_index_entries(info, index, id_key, doc)
        self.oplog.append("i", info.ns, RawBSONDocument(data), ui=info.uuid)
        if info.capped:
            self._capped_append(info, id_key, len(data))

    def replace(self, info: CollectionInfo, old: dict, new: dict) -> None:
        """Store ``new`` in place of ``old`` (same ``_id``), fixing index
        entries; all or nothing, like :meth:`insert`."""
        self._require_transaction()
        if any(index.unique for index in info.indexes):
            with self.atomic():
                self._replace(info, old, new)
        else:
            self._replace(info, old, new)

    def _replace(self, info: CollectionInfo, old: dict, new: dict) -> None:
        data = _encode_checked(new)
        id_key = encode_key(old["_id"])
        for index in info.indexes:
            self._remove_index_entries(index, id_key, old)
        for index in info.indexes:
            self._add_index_entries(info, index, id_key, new)
        self._conn.execute("UPDATE documents SET doc = ? WHERE collection_id = ? AND id_key = ?",
                           (data, info.id, id_key))
        self.oplog.append("u", info.ns, RawBSONDocument(data), o2={"_id": old["_id"]},
                          ui=info.uuid)

    def delete(self, info: CollectionInfo, doc: dict) -> None:
        self._require_transaction()
        id_key = encode_key(doc["_id"])
        for index in info.indexes:
            self._remove_index_entries(index, id_key, doc)
        self._conn.execute("DELETE FROM documents WHERE collection_id = ? AND id_key = ?",
                           (info.id, id_key))
        if info.capped:
            self._conn.execute("DELETE FROM capped_order WHERE collection_id = ? AND id_key = ?",
                               (info.id, id_key))
        self.oplog.append("d", info.ns, {"_id": doc["_id"]}, ui=info.uuid)

    # -- capped collections: insertion order and size limits ----------------

    def _capped_append(self, info: CollectionInfo, id_key: bytes, size: int) -> None:
        """Record insertion order, then delete the oldest documents until the
        collection fits its ``size`` (bytes) and ``max`` (documents)."""
        row = self._conn.execute("SELECT COALESCE(MAX(seq), 0), COUNT(*), COALESCE(SUM(size), 0) "
                                 "FROM capped_order WHERE collection_id = ?", (info.id,)).fetchone()
        last, count, total = row
        self._conn.execute("INSERT INTO capped_order VALUES (?, ?, ?, ?)",
                           (info.id, last + 1, id_key, size))
        count, total = count + 1, total + size
        limit_size = int(info.options.get("size") or 0)
        limit_count = int(info.options.get("max") or 0)
        while count > 1 and ((limit_size and total > limit_size) or
                             (limit_count and count > limit_count)):
            seq, old_key, old_size = self._conn.execute(
                "SELECT seq, id_key, size FROM capped_order WHERE collection_id = ? "
                "ORDER BY seq LIMIT 1", (info.id,)).fetchone()
            old = self.fetch(info, [old_key])
            if old:
                self.delete(info, old[0])
            else:
                self._conn.execute("DELETE FROM capped_order WHERE collection_id = ? AND seq = ?",
                                   (info.id, seq))
            count, total = count - 1, total - old_size

    def capped_has(self, info: CollectionInfo, seq: int) -> bool:
        return self._conn.execute("SELECT 1 FROM capped_order WHERE collection_id = ? AND seq = ?",
                                  (info.id, seq)).fetchone() is not None

    def capped_scan(self, info: CollectionInfo, after: int = 0,
                    reverse: bool = False) -> list[tuple[int, dict]]:
        """``(seq, document)`` of a capped collection in insertion order,
        only those inserted after ``after`` (for tailable cursors)."""
        rows = self._conn.execute(
            "SELECT c.seq, d.doc FROM capped_order c JOIN documents d "
            "ON d.collection_id = c.collection_id AND d.id_key = c.id_key "
            "WHERE c.collection_id = ? AND c.seq > ? ORDER BY c.seq" + (" DESC" if reverse else ""),
            (info.id, after)).fetchall()
        return [(seq, decode_document(data)) for seq, data in rows]

    def scan(self, info: CollectionInfo, reverse: bool = False) -> Iterator[tuple[bytes, dict]]:
        """Every document in ``_id`` order -- insertion order for a capped
        collection (materialised: safe against writes)."""
        if info.capped:
            for _, doc in self.capped_scan(info, reverse=reverse):
                yield encode_key(doc["_id"]), doc
            return
        rows = self._conn.execute(
            "SELECT id_key, doc FROM documents WHERE collection_id = ? ORDER BY id_key"
            + (" DESC" if reverse else ""), (info.id,)).fetchall()
        for id_key, data in rows:
            yield id_key, decode_document(data)

    def scan_paged(self, info: CollectionInfo, page: int = 512) -> Iterator[dict]:
        """Documents in ``_id`` order, read ``page`` rows at a time, each page
        after the last key seen: a lazy scan that holds no SQLite cursor
        between pages, so writes in between are simply seen or not."""
        if info.capped:
            for _, doc in self.capped_scan(info):
                yield doc
            return
        after = b""
        while True:
            rows = self._conn.execute(
                "SELECT id_key, doc FROM documents WHERE collection_id = ? AND id_key > ? "
                "ORDER BY id_key LIMIT ?", (info.id, after, page)).fetchall()
            for id_key, data in rows:
                yield decode_document(data)
            if len(rows) < page:
                return
            after = rows[-1][0]

    def fetch(self, info: CollectionInfo, id_keys: list[bytes]) -> list[dict]:
        out = []
        for id_key in id_keys:
            row = self._conn.execute(
                "SELECT doc FROM documents WHERE collection_id = ? AND id_key = ?",
                (info.id, id_key)).fetchone()
            if row:
                out.append(decode_document(row[0]))
        return out

    def index_range(self, index: IndexInfo, low: bytes | None, high: bytes | None,
                    reverse: bool = False) -> list[bytes]:
        """Distinct id_keys whose entry key is in ``[low, high)``, in key order
        (descending with ``reverse``)."""
        sql = "SELECT id_key FROM index_entries WHERE index_id = ?"
        args: list[Any] = [index.id]
        if low is not None:
            sql += " AND key >= ?"
            args.append(low)
        if high is not None:
            sql += " AND key < ?"
            args.append(high)
        seen: dict[bytes, None] = {}
        order = " ORDER BY key DESC" if reverse else " ORDER BY key"
        for (id_key,) in self._conn.execute(sql + order, args):
            seen.setdefault(id_key, None)
        return list(seen)

    def id_range(self, info: CollectionInfo, low: bytes | None, high: bytes | None,
                 reverse: bool = False) -> list[bytes]:
        """id_keys of ``info`` in ``[low, high)``, in ``_id`` order."""
        sql = "SELECT id_key FROM documents WHERE collection_id = ?"
        args: list[Any] = [info.id]
        if low is not None:
            sql += " AND id_key >= ?"
            args.append(low)
        if high is not None:
            sql += " AND id_key < ?"
            args.append(high)
        sql += " ORDER BY id_key" + (" DESC" if reverse else "")
        return [row[0] for row in self._conn.execute(sql, args)]

    def count(self, info: CollectionInfo) -> int:
        return self._conn.execute("SELECT COUNT(*) FROM documents WHERE collection_id = ?",
                                  (info.id,)).fetchone()[0]

    def data_size(self, info: CollectionInfo) -> int:
        row = self._conn.execute(
            "SELECT COALESCE(SUM(LENGTH(doc)), 0) FROM documents WHERE collection_id = ?",
            (info.id,)).fetchone()
        return int(row[0])

    def index_size(self, index: IndexInfo) -> int:
        row = self._conn.execute(
            "SELECT COALESCE(SUM(LENGTH(key) + LENGTH(id_key)), 0) FROM index_entries "
            "WHERE index_id = ?", (index.id,)).fetchone()
        return int(row[0])

    # -- retryable writes ---------------------------------------------------

    def txn_reply(self, lsid: bytes, txn_number: int) -> dict | None:
        """The stored reply of a write already applied under (lsid, txnNumber)."""
        row = self._conn.execute("SELECT txn_number, reply FROM txn_records WHERE lsid = ?",
                                 (lsid,)).fetchone()
        if row and row[0] == txn_number:
            return decode_document(row[1])
        if row and row[0] > txn_number:
            raise MongoError(225, f"Cannot start transaction {txn_number} on session because a "
                                  f"newer transaction {row[0]} has already started")
        return None

    def record_txn(self, lsid: bytes, txn_number: int, reply: dict) -> None:
        self._require_transaction()
        self._conn.execute("INSERT OR REPLACE INTO txn_records VALUES (?, ?, ?)",
                           (lsid, txn_number, encode_document(reply)))

    def file_size(self) -> int:
        total = 0
        for suffix in ("", "-wal"):
            with contextlib.suppress(OSError):
                total += os.path.getsize(self.path + suffix)
        return total


def _lock_dbpath(dbpath: str) -> Any:
    """Hold ``<dbpath>/mongod.lock`` (an flock, released by the kernel even on
    kill -9) so that two servers never share one data directory."""
    import fcntl
    handle = open(os.path.join(dbpath, "mongod.lock"), "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        handle.close()
        raise MongoError(98, f"DBPathInUse: Unable to lock the lock file: "
                             f"{os.path.join(dbpath, 'mongod.lock')} (Resource temporarily "
                             "unavailable). Another mongod instance is already running on "
                             f"the {dbpath} directory") from exc
    handle.truncate(0)
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return handle


def _options(spec: dict) -> dict:
    return {k: v for k, v in spec.items() if k not in ("key", "name", "v", "background")}


def _encode_checked(doc: dict) -> bytes:
    data = encode_document(doc)
    if len(data) > MAX_BSON_SIZE:
        raise MongoError(10334, f"BSONObj size: {len(data)} ({len(data):#x}) is invalid. "
                                f"Size must be between 0 and {MAX_BSON_SIZE}(16MB)")
    return data


def _duplicate(info: CollectionInfo, index: IndexInfo, doc: dict) -> DuplicateKey:
    from holddb.query._paths import get_path
    from holddb.query._values import MISSING
    key_value = {}
    for path, _ in index.fields:
        value = get_path(doc, path)
        key_value[path] = None if value is MISSING else value
    return DuplicateKey(info.ns, index.name, dict(index.spec["key"]), key_value)


def _check_namespace(db: str, name: str) -> None:
    if not db or any(c in db for c in '/\\. "$\x00'):
        raise MongoError(73, f"Invalid database name: '{db}'")
    if not name or "$" in name or "\x00" in name or name.startswith("."):
        raise MongoError(73, f"Invalid collection name: '{name}'")
    if name.startswith("system.") and name not in ("system.views", "system.js", "system.profile",
                                                   "system.replset"):
        raise MongoError(73, f"Invalid collection name: '{name}': system collections are reserved")
