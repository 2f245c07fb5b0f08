"""Read commands: find, getMore, killCursors, count, distinct, aggregate, explain."""

from __future__ import annotations

import socket
from typing import Any

from bson.int64 import Int64

from holddb.commands._registry import (Context, bool_arg, collection_name, command,
                                       doc_arg, int_arg)
from holddb.commands._select import (OPLOG, collection_docs, is_view, let_variables, select,
                                     stream)
from holddb.cursors import first_batch_reply
from holddb.errors import MongoError
from holddb.query._values import collation_scope
from holddb.query import (MISSING, candidates, compile_projection, run_pipeline,
                          validate_pipeline, values_equal)
from holddb.query._sort import parse_sort
from holddb.version import MONGODB_VERSION


def _lsid(cmd: dict) -> Any:
    lsid = cmd.get("lsid")
    return lsid.get("id") if isinstance(lsid, dict) else None


def _find_options(cmd: dict) -> dict:
    limit = int_arg(cmd, "limit", 0)
    single = bool_arg(cmd, "singleBatch")
    if limit < 0:
        limit, single = -limit, True
    batch_size = int_arg(cmd, "batchSize", None, minimum=0)
    return {"filter": doc_arg(cmd, "filter", {}) or {},
            "projection": doc_arg(cmd, "projection"),
            "sort": doc_arg(cmd, "sort"),
            "skip": int_arg(cmd, "skip", 0, minimum=0),
            "limit": limit, "single": single, "batch_size": batch_size,
            "hint": cmd.get("hint"),
            "key_range": (doc_arg(cmd, "min"), doc_arg(cmd, "max"))
            if ("min" in cmd or "max" in cmd) else None}


@command("find")
def find(ctx: Context, cmd: dict) -> dict:
    name = collection_name(cmd, "find")
    opts = _find_options(cmd)
    parse_sort(opts["sort"])
    meta_fields = [k for k, v in (opts["projection"] or {}).items()
                   if isinstance(v, dict) and v.get("$meta") == "textScore"]
    if meta_fields:
        opts["projection"] = {k: v for k, v in opts["projection"].items() if k not in meta_fields}
    project = compile_projection(opts["projection"], opts["filter"])
    if cmd.get("tailable"):
        return _tailable_find(ctx, cmd, name, opts, project)
    lazy = None
    if not opts["sort"] and opts["key_range"] is None and not meta_fields \
            and not bool_arg(cmd, "returnKey") and not _snapshot_read(cmd):
        lazy = stream(ctx, ctx.db, name, opts["filter"], skip=opts["skip"], limit=opts["limit"],
                      hint=opts["hint"], variables=let_variables(cmd),
                      collation=cmd.get("collation"))
    if lazy is not None:
        return _lazy_find_reply(ctx, cmd, name, opts, (project(d) for d in lazy))
    selection = select(ctx, ctx.db, name, opts["filter"], sort=opts["sort"],
                       skip=opts["skip"], limit=opts["limit"], hint=opts["hint"],
                       variables=let_variables(cmd), collation=cmd.get("collation"),
                       key_range=opts["key_range"])
    if bool_arg(cmd, "returnKey"):
        project = _key_projection(selection.plan, opts["sort"])
    docs = [project(d) for d in selection.docs]
    for field_name in meta_fields:
        for original, out in zip(selection.docs, docs):
            out[field_name] = selection.score(original)
    ctx.server.op_counters["query"] += 1
    batch_size = opts["batch_size"]
    if opts["limit"] and (batch_size is None or batch_size > opts["limit"]):
        batch_size = opts["limit"]
    return first_batch_reply(ctx.server.cursors, f"{ctx.db}.{name}", docs, ctx.connection.id,
                             batch_size, single_batch=opts["single"],
                             no_timeout=bool_arg(cmd, "noCursorTimeout"), lsid=_lsid(cmd))


def _snapshot_read(cmd: dict) -> bool:
    """Read concern snapshot: the whole result is read when the cursor opens,
    so every batch comes from that one state (holddb keeps no old snapshots
    for later getMores to read from)."""
    concern = cmd.get("readConcern")
    return isinstance(concern, dict) and concern.get("level") == "snapshot"


def _lazy_find_reply(ctx: Context, cmd: dict, name: str, opts: dict, docs: Any) -> dict:
    ctx.server.op_counters["query"] += 1
    batch_size = opts["batch_size"]
    if opts["limit"] and (batch_size is None or batch_size > opts["limit"]):
        batch_size = opts["limit"]
    return first_batch_reply(ctx.server.cursors, f"{ctx.db}.{name}", docs, ctx.connection.id,
                             batch_size, single_batch=opts["single"],
                             no_timeout=bool_arg(cmd, "noCursorTimeout"), lsid=_lsid(cmd))


def _key_projection(chosen: Any, sort: Any) -> Any:
    """returnKey: each result becomes the key of the index the plan used
    (``_id`` for id lookups and _id-ordered scans, nothing for a plain scan)."""
    from holddb.query import get_path, MISSING
    if chosen.stage == "IXSCAN":
        paths = [path for path, _ in chosen.index.fields]
    elif chosen.stage == "IDHACK" or (chosen.stage == "COLLSCAN" and chosen.sorted):
        paths = ["_id"]
    else:
        paths = []

    def project(doc: dict) -> dict:
        out = {}
        for path in paths:
            value = get_path(doc, path)
            out[path] = None if value is MISSING else value
        return out
    return project


def _tailable_find(ctx: Context, cmd: dict, name: str, opts: dict, project: Any) -> dict:
    """A find that stays open at the end of a capped collection or the oplog."""
    from holddb.commands._tailing import tailable_source
    sort = opts["sort"] or {}
    if any(key != "$natural" for key in sort) or sort.get("$natural", 1) != 1:
        raise MongoError(2, "error processing query: cannot use tailable option with a sort "
                            "other than {$natural: 1}")
    docs, tail = tailable_source(ctx, ctx.db, name, opts["filter"], project,
                                 let_variables(cmd))
    return first_batch_reply(ctx.server.cursors, f"{ctx.db}.{name}", docs[opts["skip"]:],
                             ctx.connection.id, opts["batch_size"],
                             single_batch=opts["single"], lsid=_lsid(cmd), tail=tail,
                             await_data=bool_arg(cmd, "awaitData"))


@command("getMore")
def get_more(ctx: Context, cmd: dict) -> dict:
    cursor_id = cmd.get("getMore")
    if not isinstance(cursor_id, int) or isinstance(cursor_id, bool):
        raise MongoError(14, "BSON field 'getMore.getMore' is the wrong type, expected type 'long'")
    name = collection_name(cmd, "collection")
    cursor = ctx.server.cursors.get(int(cursor_id), f"{ctx.db}.{name}")
    ctx.server.op_counters["getmore"] += 1
    return ctx.server.cursors.batch_reply(cursor, int_arg(cmd, "batchSize", None, minimum=0),
                                          first=False)


@command("killCursors")
def kill_cursors(ctx: Context, cmd: dict) -> dict:
    collection_name(cmd, "killCursors")
    ids = cmd.get("cursors")
    if not isinstance(ids, list):
        raise MongoError(14, "BSON field 'killCursors.cursors' is missing or not an array")
    killed, unknown = [], []
    for cursor_id in ids:
        (killed if ctx.server.cursors.close(int(cursor_id)) else unknown).append(Int64(cursor_id))
    return {"cursorsKilled": killed, "cursorsNotFound": unknown, "cursorsAlive": [],
            "cursorsUnknown": []}


@command("count")
def count(ctx: Context, cmd: dict) -> dict:
    name = collection_name(cmd, "count")
    query = doc_arg(cmd, "query", {}) or {}
    skip = int_arg(cmd, "skip", 0, minimum=0)
    limit = abs(int_arg(cmd, "limit", 0))
    info = ctx.storage.collection(ctx.db, name)
    if not query and not skip and not limit and (ctx.db, name) != OPLOG and not is_view(info):
        return {"n": 0 if info is None else ctx.storage.count(info)}
    selection = select(ctx, ctx.db, name, query, skip=skip, limit=limit, hint=cmd.get("hint"),
                       collation=cmd.get("collation"))
    return {"n": len(selection.docs)}


@command("distinct")
def distinct(ctx: Context, cmd: dict) -> dict:
    name = collection_name(cmd, "distinct")
    key = cmd.get("key")
    if not isinstance(key, str) or not key:
        raise MongoError(14, "BSON field 'distinct.key' is missing or not a string")
    selection = select(ctx, ctx.db, name, doc_arg(cmd, "query", {}) or {},
                       collation=cmd.get("collation"))
    values: list[Any] = []
    for doc in selection.docs:
        for value in candidates(doc, key.split(".")):
            items = value if isinstance(value, list) else [value]
            for item in items:
                if item is not MISSING and not any(values_equal(item, v) for v in values):
                    values.append(item)
    import functools
    from holddb.query import compare
    values.sort(key=functools.cmp_to_key(compare))
    return {"values": values}


def _aggregate_input(ctx: Context, name: Any, pipeline: list, variables: dict | None = None,
                     collation: Any = None) -> tuple[list[dict], list, Any]:
    """Source documents, the remaining pipeline and the plan used."""
    if not isinstance(name, str):
        return _database_source(ctx, name, pipeline, variables)
    if pipeline and "$collStats" in pipeline[0]:
        from holddb.storage import Plan
        return [_coll_stats_doc(ctx, name, pipeline[0]["$collStats"])], pipeline[1:], Plan("COLLSTATS")
    if pipeline and "$match" in pipeline[0]:
        selection = select(ctx, ctx.db, name, pipeline[0]["$match"], variables=variables,
                           collation=collation)
        return selection.docs, pipeline[1:], selection.plan
    from holddb.storage import Plan
    return collection_docs(ctx, ctx.db, name), pipeline, Plan("COLLSCAN")


def _database_source(ctx: Context, name: Any, pipeline: list,
                     variables: dict | None) -> tuple[list[dict], list, Any]:
    """``aggregate: 1``: the first stage produces the documents."""
    from holddb.query import compile_expression
    from holddb.storage import Plan
    if name != 1 or not pipeline:
        raise MongoError(73, "aggregate needs a collection name, or 1 with a leading "
                             "$documents, $listLocalSessions or $currentOp stage")
    stage, arg = next(iter(pipeline[0].items()))
    if stage == "$documents":
        docs = compile_expression(arg)({}, dict(variables or {}))
        if not isinstance(docs, list) or not all(isinstance(d, dict) for d in docs):
            raise MongoError(5858203, "an array of documents must be specified to $documents")
    elif stage == "$listLocalSessions":
        docs = [{"_id": lsid, "lastUse": last_use}
                for lsid, last_use in ctx.server.sessions.values()]
    elif stage == "$currentOp":
        docs = []
    else:
        raise MongoError(73, f"{stage} cannot run on a database (aggregate: 1); it needs a "
                             "collection")
    return docs, pipeline[1:], Plan("VIRTUAL")


def _output_stage(pipeline: list) -> dict | None:
    """The trailing ``$out``/``$merge`` stage, if any (it must be last)."""
    for i, stage in enumerate(pipeline):
        if next(iter(stage)) in ("$out", "$merge"):
            if i != len(pipeline) - 1:
                raise MongoError(40601, f"{next(iter(stage))} can only be the final stage "
                                        "in the pipeline")
            return stage
    return None


def _coll_stats_doc(ctx: Context, name: str, spec: Any) -> dict:
    """The single document the ``$collStats`` stage produces (mongosh's
    ``db.coll.stats()`` uses it)."""
    import datetime
    from holddb.commands.catalog import collection_stats, oplog_stats
    oplog = (ctx.db, name) == OPLOG
    info = None if oplog else ctx.storage.require_collection(ctx.db, name)
    spec = spec if isinstance(spec, dict) else {}
    out: dict[str, Any] = {"ns": f"{ctx.db}.{name}", "host": socket.gethostname(),
                           "localTime": datetime.datetime.utcnow()}
    storage_opts = spec.get("storageStats")
    if isinstance(storage_opts, dict):
        scale = int(storage_opts.get("scale", 1) or 1)
        out["storageStats"] = oplog_stats(ctx, scale) if oplog else \
            collection_stats(ctx, info, scale)
    if "count" in spec:
        out["count"] = ctx.storage.oplog.count() if oplog else ctx.storage.count(info)
    return out


@command("aggregate")
def aggregate(ctx: Context, cmd: dict) -> dict:
    name = cmd.get("aggregate")
    raw_pipeline = cmd.get("pipeline")
    if isinstance(raw_pipeline, list) and any(isinstance(s, dict) and "$changeStream" in s
                                              for s in raw_pipeline):
        raise MongoError(40573, "The $changeStream stage is only supported on replica sets")
    pipeline = validate_pipeline(raw_pipeline)
    out_stage = _output_stage(pipeline)
    variables = let_variables(cmd)
    cursor_opts = cmd.get("cursor")
    if not isinstance(cursor_opts, dict) and not cmd.get("explain"):
        raise MongoError(9, "The 'cursor' option is required, except for aggregate with "
                            "the explain argument")
    docs, rest, chosen = _aggregate_input(ctx, name, pipeline[:len(pipeline) - bool(out_stage)],
                                          variables, cmd.get("collation"))
    ns = f"{ctx.db}.{name}" if isinstance(name, str) else f"{ctx.db}.$cmd.aggregate"
    if cmd.get("explain"):
        return _explain_reply(ctx, f"{ctx.db}.{name}", chosen, len(docs), len(docs))
    with collation_scope(cmd.get("collation")):
        result = run_pipeline(docs, rest, lambda other: collection_docs(ctx, ctx.db, other),
                              variables)
    if out_stage:
        from holddb.commands.write import write_out_stage
        write_out_stage(ctx, out_stage, result)
        result = []
    batch_size = int_arg(cursor_opts or {}, "batchSize", None, minimum=0)
    return first_batch_reply(ctx.server.cursors, ns, result,
                             ctx.connection.id, batch_size, lsid=_lsid(cmd))


def _explain_reply(ctx: Context, ns: str, chosen: Any, returned: int, examined: int,
                   verbosity: str = "queryPlanner") -> dict:
    reply: dict[str, Any] = {
        "explainVersion": "1",
        "queryPlanner": {"namespace": ns, "indexFilterSet": False,
                         "winningPlan": chosen.describe(), "rejectedPlans": []},
    }
    if verbosity in ("executionStats", "allPlansExecution"):
        reply["executionStats"] = {"executionSuccess": True, "nReturned": returned,
                                   "totalKeysExamined": chosen.keys_examined,
                                   "totalDocsExamined": examined,
                                   "executionStages": chosen.describe()}
    reply["serverInfo"] = {"host": socket.gethostname(), "port": ctx.server.options.port,
                           "version": MONGODB_VERSION}
    return reply


@command("explain")
def explain(ctx: Context, cmd: dict) -> dict:
    inner = doc_arg(cmd, "explain")
    if not inner:
        raise MongoError(9, "explain command requires a nested object")
    verbosity = cmd.get("verbosity", "allPlansExecution")
    kind = next(iter(inner))
    name = inner[kind]
    extra: dict[str, Any] = {}
    if kind == "find":
        spec, hint = inner.get("filter") or {}, inner.get("hint")
        extra = {"sort": inner.get("sort"), "skip": int_arg(inner, "skip", 0),
                 "limit": abs(int_arg(inner, "limit", 0))}
    elif kind == "count":
        spec, hint = inner.get("query") or {}, inner.get("hint")
    elif kind in ("update", "delete"):
        statements = inner.get("updates" if kind == "update" else "deletes") or [{}]
        spec, hint = statements[0].get("q") or {}, statements[0].get("hint")
    elif kind == "findAndModify":
        spec, hint = inner.get("query") or {}, inner.get("hint")
    elif kind == "aggregate":
        pipeline = validate_pipeline(inner.get("pipeline"))
        docs, _, chosen = _aggregate_input(ctx, name, pipeline)
        return _explain_reply(ctx, f"{ctx.db}.{name}", chosen, len(docs), len(docs), verbosity)
    elif kind == "distinct":
        spec, hint = inner.get("query") or {}, None
    else:
        raise MongoError(2, f"Explain failed due to unknown command: {kind}")
    selection = select(ctx, ctx.db, collection_name(inner, kind), spec, hint=hint, **extra)
    return _explain_reply(ctx, f"{ctx.db}.{name}", selection.plan, len(selection.docs),
                          selection.examined, verbosity)
