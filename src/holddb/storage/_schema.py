"""The SQLite schema of a holddb data directory (``<dbpath>/holddb.sqlite``)::

    meta(key TEXT PK, value)                      format version, term, ...
    collections(id PK, db, name, uuid BLOB, options BLOB)   UNIQUE(db, name)
    indexes(id PK, collection_id, name, spec BLOB, multikey) UNIQUE(coll, name)
    documents(collection_id, id_key BLOB, doc BLOB)    PK(collection_id, id_key)
    index_entries(index_id, key BLOB, id_key BLOB)     PK(index_id, key, id_key)
    oplog(ts INTEGER PK, entry BLOB)              ts = seconds << 32 | increment
    txn_records(lsid BLOB PK, txn_number, reply BLOB)   retryable-write replies
    capped_order(collection_id, seq, id_key, size)  PK(collection_id, seq):
                                              insertion order of capped collections

``id_key`` and ``key`` are the order-preserving encodings of ``_keys``, so
SQLite's B-trees return documents in ``_id`` order and index entries in
index order.  The ``_id`` index is the documents table's primary key.
"""

SCHEMA_VERSION = 1

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value);
CREATE TABLE IF NOT EXISTS collections (
    id INTEGER PRIMARY KEY,
    db TEXT NOT NULL,
    name TEXT NOT NULL,
    uuid BLOB NOT NULL,
    options BLOB NOT NULL,
    UNIQUE (db, name)
);
CREATE TABLE IF NOT EXISTS indexes (
    id INTEGER PRIMARY KEY,
    collection_id INTEGER NOT NULL,
    name TEXT NOT NULL,
    spec BLOB NOT NULL,
    multikey INTEGER NOT NULL DEFAULT 0,
    UNIQUE (collection_id, name)
);
CREATE TABLE IF NOT EXISTS documents (
    collection_id INTEGER NOT NULL,
    id_key BLOB NOT NULL,
    doc BLOB NOT NULL,
    PRIMARY KEY (collection_id, id_key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS index_entries (
    index_id INTEGER NOT NULL,
    key BLOB NOT NULL,
    id_key BLOB NOT NULL,
    PRIMARY KEY (index_id, key, id_key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS oplog (ts INTEGER PRIMARY KEY, entry BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS capped_order (
    collection_id INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    id_key BLOB NOT NULL,
    size INTEGER NOT NULL,
    PRIMARY KEY (collection_id, seq)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS capped_order_by_id ON capped_order (collection_id, id_key);
CREATE TABLE IF NOT EXISTS txn_records (
    lsid BLOB PRIMARY KEY,
    txn_number INTEGER NOT NULL,
    reply BLOB NOT NULL
);
"""
