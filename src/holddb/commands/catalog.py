"""Catalog commands: databases, collections and indexes, plus statistics and
the TTL monitor's expiry pass."""

from __future__ import annotations

import datetime
from typing import Any

from bson.int64 import Int64

from holddb.commands._registry import (Context, bool_arg, collection_name, command,
                                       doc_arg, int_arg)
from holddb.commands._select import OPLOG
from holddb.cursors import first_batch_reply
from holddb.errors import MongoError
from holddb.query import compile_filter
from holddb.storage import CollectionInfo, encode_key
from holddb.storage._keys import rank_prefix

_CREATE_OPTIONS = {"capped", "size", "max", "validator", "validationLevel",
                   "validationAction", "collation", "storageEngine", "indexOptionDefaults",
                   "viewOn", "pipeline", "timeseries", "expireAfterSeconds",
                   "changeStreamPreAndPostImages", "clusteredIndex", "autoIndexId",
                   "idIndex", "flags", "temp", "encryptedFields", "comment"}
_GENERIC = {"$db", "lsid", "$clusterTime", "$readPreference", "writeConcern",
            "readConcern", "apiVersion", "apiStrict", "apiDeprecationErrors", "maxTimeMS",
            "txnNumber", "$audit", "comment"}


@command("create")
def create(ctx: Context, cmd: dict) -> dict:
    name = collection_name(cmd, "create")
    options = {k: v for k, v in cmd.items() if k != "create" and k not in _GENERIC}
    unknown = set(options) - _CREATE_OPTIONS
    if unknown:
        raise MongoError(40415, f"BSON field 'create.{sorted(unknown)[0]}' is an unknown field.")
    for unsupported in ("timeseries", "clusteredIndex", "encryptedFields"):
        if options.get(unsupported):
            raise MongoError(2, f"holddb does not support the create option '{unsupported}'")
    if options.get("capped") and not (isinstance(options.get("size"), (int, float))
                                      and options["size"] > 0):
        raise MongoError(72, "the 'size' field is required when 'capped' is true")
    if "viewOn" in options:
        _check_view(options)
    with ctx.storage.transaction():
        existing = ctx.storage.collection(ctx.db, name)
        if existing is not None:
            if existing.options == options:
                return {}
            raise MongoError(48, f"Collection {ctx.db}.{name} already exists.")
        ctx.storage.create_collection(ctx.db, name, options)
    return {}


def _check_view(options: dict) -> None:
    """A view is ``viewOn`` (a collection of the same database) plus a pipeline."""
    from holddb.query import validate_pipeline
    if not isinstance(options["viewOn"], str) or not options["viewOn"]:
        raise MongoError(2, "'viewOn' must be a non-empty collection name")
    validate_pipeline(options.setdefault("pipeline", []))
    for stage in options["pipeline"]:
        if next(iter(stage)) in ("$out", "$merge"):
            raise MongoError(2, f"{next(iter(stage))} cannot be used in a view definition")
    unknown = set(options) - {"viewOn", "pipeline", "collation"}
    if unknown:
        raise MongoError(2, f"a view accepts only viewOn, pipeline and collation, not "
                            f"{sorted(unknown)[0]}")


@command("collMod")
def coll_mod(ctx: Context, cmd: dict) -> dict:
    """Change collection options (validator, ...) or an index's
    ``expireAfterSeconds`` / ``hidden``."""
    name = collection_name(cmd, "collMod")
    changes = {k: v for k, v in cmd.items() if k != "collMod" and k not in _GENERIC}
    reply: dict[str, Any] = {}
    with ctx.storage.transaction():
        info = ctx.storage.require_collection(ctx.db, name)
        index_change = changes.pop("index", None)
        if index_change is not None:
            if not isinstance(index_change, dict):
                raise MongoError(14, "collMod 'index' must be an object")
            target = index_change.get("name", index_change.get("keyPattern"))
            for option in ("expireAfterSeconds", "hidden"):
                if option in index_change:
                    old = ctx.storage.set_index_option(info, target, option,
                                                       index_change[option])
                    reply[f"{option}_old"] = old.get(option)
                    reply[f"{option}_new"] = index_change[option]
        unknown = set(changes) - {"validator", "validationLevel", "validationAction"}
        if unknown:
            raise MongoError(40415, f"BSON field 'collMod.{sorted(unknown)[0]}' is an unknown field.")
        if changes:
            ctx.storage.set_collection_options(info, changes)
    return reply


@command("drop")
def drop(ctx: Context, cmd: dict) -> dict:
    name = collection_name(cmd, "drop")
    if (ctx.db, name) == OPLOG:
        raise MongoError(20, "cannot drop the oplog")
    with ctx.storage.transaction():
        info = ctx.storage.drop_collection(ctx.db, name)
    return {"nIndexesWas": len(info.indexes) + 1, "ns": info.ns}


@command("dropDatabase")
def drop_database(ctx: Context, cmd: dict) -> dict:
    if ctx.db == "local":
        raise MongoError(20, "cannot drop the local database")
    with ctx.storage.transaction():
        for info in ctx.storage.collections(ctx.db):
            ctx.storage.drop_collection(ctx.db, info.name)
    return {"dropped": ctx.db}


def _split_ns(value: Any, field: str) -> tuple[str, str]:
    if not isinstance(value, str) or "." not in value:
        raise MongoError(73, f"Invalid {field} namespace: {value!r}")
    db, _, name = value.partition(".")
    return db, name


@command("renameCollection")
def rename_collection(ctx: Context, cmd: dict) -> dict:
    if ctx.db != "admin":
        raise MongoError(13, "renameCollection may only be run against the admin database.")
    src = _split_ns(cmd.get("renameCollection"), "source")
    dst = _split_ns(cmd.get("to"), "target")
    if src == dst:
        raise MongoError(20, "Can't rename a collection to itself")
    with ctx.storage.transaction():
        ctx.storage.rename_collection(src, dst, bool_arg(cmd, "dropTarget"))
    return {}


def _collection_entry(info: CollectionInfo, name_only: bool) -> dict:
    kind = "view" if "viewOn" in info.options else "collection"
    if name_only:
        return {"name": info.name, "type": kind}
    if kind == "view":
        return {"name": info.name, "type": kind, "options": dict(info.options),
                "info": {"readOnly": True}}
    return {"name": info.name, "type": kind, "options": dict(info.options),
            "info": {"readOnly": False, "uuid": info.uuid},
            "idIndex": {"v": 2, "key": {"_id": 1}, "name": "_id_"}}


@command("listCollections")
def list_collections(ctx: Context, cmd: dict) -> dict:
    name_only = bool_arg(cmd, "nameOnly")
    test = compile_filter(doc_arg(cmd, "filter", {}) or {})
    entries = [_collection_entry(i, name_only) for i in ctx.storage.collections(ctx.db)]
    if ctx.db == "local":
        entries.append({"name": "oplog.rs", "type": "collection",
                        **({} if name_only else {"options": {"capped": True},
                                                 "info": {"readOnly": False}})})
    entries = [e for e in entries if test(e)]
    cursor_opts = doc_arg(cmd, "cursor", {}) or {}
    return first_batch_reply(ctx.server.cursors, f"{ctx.db}.$cmd.listCollections", entries,
                             ctx.connection.id, int_arg(cursor_opts, "batchSize", None))


@command("listDatabases")
def list_databases(ctx: Context, cmd: dict) -> dict:
    storage = ctx.storage
    names = set(storage.database_names()) | {"admin", "config", "local"}  # as on any mongod
    databases = []
    total = 0
    for db in sorted(names):
        size = sum(storage.data_size(i) for i in storage.collections(db))
        if db == "local":
            size += storage.oplog.count() * 100
        size = size or (8192 if db in ("admin", "config") else 0)
        total += size
        databases.append({"name": db, "sizeOnDisk": Int64(size), "empty": size == 0})
    test = compile_filter(doc_arg(cmd, "filter", {}) or {})
    databases = [d for d in databases if test(d)]
    if bool_arg(cmd, "nameOnly"):
        return {"databases": [{"name": d["name"]} for d in databases]}
    return {"databases": databases, "totalSize": Int64(total),
            "totalSizeMb": Int64(total // (1024 * 1024))}


@command("createIndexes")
def create_indexes(ctx: Context, cmd: dict) -> dict:
    name = collection_name(cmd, "createIndexes")
    specs = cmd.get("indexes")
    if not isinstance(specs, list) or not specs:
        raise MongoError(2, "Must specify at least one index to create")
    storage = ctx.storage
    with storage.transaction():
        created_collection = storage.collection(ctx.db, name) is None
        info = storage.ensure_collection(ctx.db, name)
        if "viewOn" in info.options:
            raise MongoError(166, f"Namespace {info.ns} is a view, not a collection")
        before = len(info.indexes) + 1
        created = [storage.create_index(info, spec) for spec in specs]
        after = len(info.indexes) + 1
    reply: dict[str, Any] = {"numIndexesBefore": before, "numIndexesAfter": after,
                             "createdCollectionAutomatically": created_collection}
    if not any(created):
        reply["note"] = "all indexes already exist"
    return reply


@command("listIndexes")
def list_indexes(ctx: Context, cmd: dict) -> dict:
    name = collection_name(cmd, "listIndexes")
    info = ctx.storage.require_collection(ctx.db, name)
    cursor_opts = doc_arg(cmd, "cursor", {}) or {}
    return first_batch_reply(ctx.server.cursors, f"{ctx.db}.{name}",
                             ctx.storage.index_specs(info), ctx.connection.id,
                             int_arg(cursor_opts, "batchSize", None))


@command("dropIndexes", "deleteIndexes")
def drop_indexes(ctx: Context, cmd: dict) -> dict:
    name = collection_name(cmd, next(iter(cmd)))
    target = cmd.get("index")
    with ctx.storage.transaction():
        info = ctx.storage.require_collection(ctx.db, name)
        before = len(info.indexes) + 1
        if target == "*":
            for index in list(info.indexes):
                ctx.storage.drop_index(info, index.name)
        elif isinstance(target, list):
            for each in target:
                ctx.storage.drop_index(info, each)
        elif isinstance(target, (str, dict)):
            ctx.storage.drop_index(info, target)
        else:
            raise MongoError(14, "dropIndexes 'index' must be a name, a key pattern, "
                                 "a list of names or '*'")
    return {"nIndexesWas": before}


def collection_stats(ctx: Context, info: CollectionInfo, scale: int = 1) -> dict:
    storage = ctx.storage
    count = storage.count(info)
    size = storage.data_size(info)
    index_sizes = {"_id_": count * 16}
    for index in info.indexes:
        index_sizes[index.name] = storage.index_size(index)
    return {"ns": info.ns, "size": size // scale, "count": count,
            "avgObjSize": size // count if count else 0,
            "storageSize": size // scale, "freeStorageSize": 0, "capped": info.capped,
            "nindexes": len(index_sizes),
            "indexBuilds": [], "totalIndexSize": sum(index_sizes.values()) // scale,
            "totalSize": (size + sum(index_sizes.values())) // scale,
            "indexSizes": {k: v // scale for k, v in index_sizes.items()},
            "scaleFactor": scale,
            **({"max": int(info.options.get("max") or 0),
                "maxSize": int(info.options.get("size") or 0)} if info.capped else {})}


def oplog_stats(ctx: Context, scale: int = 1) -> dict:
    """``local.oplog.rs`` is no catalog collection (it is the oplog table), but
    mongosh's ``rs.printReplicationInfo()`` reads its stats like a capped
    collection's: ``maxSize`` is the ``--oplogSize`` cap, ``size`` what the
    entries take now."""
    oplog = ctx.storage.oplog
    count = oplog.count()
    size = oplog.stored_bytes
    return {"ns": "local.oplog.rs", "size": size // scale, "count": count,
            "avgObjSize": size // count if count else 0, "storageSize": size // scale,
            "freeStorageSize": 0, "capped": True, "max": 0,
            "maxSize": Int64(oplog.size_limit // scale), "sleepCount": 0, "sleepMS": 0,
            "nindexes": 0, "indexBuilds": [], "totalIndexSize": 0,
            "totalSize": size // scale, "indexSizes": {}, "scaleFactor": scale}


@command("collStats")
def coll_stats(ctx: Context, cmd: dict) -> dict:
    name = collection_name(cmd, "collStats")
    scale = int_arg(cmd, "scale", 1, minimum=1)
    if (ctx.db, name) == OPLOG:
        return oplog_stats(ctx, scale)
    info = ctx.storage.require_collection(ctx.db, name)
    return collection_stats(ctx, info, scale)


@command("dataSize", "datasize")
def data_size(ctx: Context, cmd: dict) -> dict:
    """``{dataSize: "db.coll"}``: bytes and documents of a whole collection
    (the oplog included); key ranges (``keyPattern``/``min``/``max``) are not
    supported and say so."""
    import time
    started = time.monotonic()
    ns = cmd.get(next(iter(cmd)))
    if not isinstance(ns, str) or "." not in ns:
        raise MongoError(73, f"Invalid namespace specified '{ns}': dataSize needs \"db.coll\"")
    if any(k in cmd for k in ("keyPattern", "min", "max")):
        raise MongoError(2, "holddb's dataSize measures whole collections; keyPattern, min and "
                            "max are not supported")
    db, name = ns.split(".", 1)
    if (db, name) == OPLOG:
        size, count = ctx.storage.oplog.stored_bytes, ctx.storage.oplog.count()
    else:
        info = ctx.storage.collection(db, name)
        size = ctx.storage.data_size(info) if info is not None else 0
        count = ctx.storage.count(info) if info is not None else 0
    return {"estimate": bool(cmd.get("estimate", False)), "size": Int64(size),
            "numObjects": Int64(count), "millis": int((time.monotonic() - started) * 1000)}


@command("dbStats")
def db_stats(ctx: Context, cmd: dict) -> dict:
    scale = int_arg(cmd, "scale", 1, minimum=1)
    collections = ctx.storage.collections(ctx.db)
    stats = [collection_stats(ctx, info) for info in collections]
    data = sum(s["size"] for s in stats)
    index = sum(s["totalIndexSize"] for s in stats)
    objects = sum(s["count"] for s in stats)
    return {"db": ctx.db, "collections": len(collections), "views": 0, "objects": objects,
            "avgObjSize": data / objects if objects else 0, "dataSize": data / scale,
            "storageSize": data / scale, "indexes": sum(s["nindexes"] for s in stats),
            "indexSize": index / scale, "totalSize": (data + index) / scale,
            "scaleFactor": scale, "fsUsedSize": 0, "fsTotalSize": 0}


@command("validate")
def validate(ctx: Context, cmd: dict) -> dict:
    name = collection_name(cmd, "validate")
    info = ctx.storage.require_collection(ctx.db, name)
    return {"ns": info.ns, "nrecords": ctx.storage.count(info), "nIndexes": len(info.indexes) + 1,
            "valid": True, "warnings": [], "errors": []}


def expire_ttl_documents(server: Any) -> int:
    """Delete documents whose TTL-indexed date is older than the index allows.

    Scans each TTL index only over the date part of its key space, so the
    pass costs as much as the expired documents, not the collection.
    """
    storage = server.storage
    removed = 0
    now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    with storage.transaction():
        for info in list(storage.catalog.values()):
            for index in info.indexes:
                seconds = index.spec.get("expireAfterSeconds")
                if seconds is None or len(index.fields) != 1 or index.fields[0][1] < 0:
                    continue
                cutoff = now - datetime.timedelta(seconds=float(seconds))
                low = rank_prefix(cutoff)
                id_keys = storage.index_range(index, low, encode_key(cutoff))
                for doc in storage.fetch(info, id_keys):
                    storage.delete(info, doc)
                    removed += 1
    return removed
