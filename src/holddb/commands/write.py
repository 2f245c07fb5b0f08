"""Write commands: insert, update, delete, findAndModify.

Each command is one storage transaction (joined with the retryable-write
record when the client sent lsid + txnNumber).  Each document write is a
savepoint inside it, so that per-statement failures are reported as
``writeErrors`` entries (``{index, code, errmsg, ...}``) while the other
statements commit -- an ordered batch stops at its first failure, an
unordered one goes on, as drivers expect.
"""

from __future__ import annotations

from typing import Any

from bson.objectid import ObjectId
from bson.regex import Regex

from holddb.commands._registry import Context, bool_arg, collection_name, command, doc_arg
from holddb.commands._select import OPLOG, is_view, let_variables, select
from holddb import deadline
from holddb.errors import DuplicateKey, MongoError
from holddb.query import (apply_update, compile_filter, compile_projection, is_operator_update,
                          upsert_seed, validate_update)
from holddb.storage import CollectionInfo
from holddb.wire import encode_document


def check_valid(info: CollectionInfo, doc: dict, cmd: dict, old: dict | None = None) -> None:
    """Enforce the collection's validator (DocumentValidationFailure, 121).

    ``validationLevel: moderate`` skips updates to documents that were
    already invalid; ``validationAction: warn`` and ``bypassDocumentValidation``
    let the write through.
    """
    validator = info.options.get("validator")
    if not validator or cmd.get("bypassDocumentValidation"):
        return
    level = info.options.get("validationLevel", "strict")
    if level == "off" or info.options.get("validationAction") == "warn":
        return
    test = compile_filter(validator)
    if level == "moderate" and old is not None and not test(old):
        return
    if not test(doc):
        raise MongoError(121, "Document failed validation",
                         errInfo={"failingDocumentId": doc.get("_id"),
                                  "details": {"operatorName": next(iter(validator), ""),
                                              "specifiedAs": validator}})


def _writable(ctx: Context, db: str, name: str) -> None:
    if (db, name) == OPLOG or name.startswith("system."):
        raise MongoError(73, f"cannot write to '{db}.{name}'")
    if is_view(ctx.storage.collection(db, name)):
        raise MongoError(166, f"Namespace {db}.{name} is a view, not a collection")


def _prepare_insert(doc: Any) -> dict:
    """Validate a document for storage and put ``_id`` first (creating one)."""
    if not isinstance(doc, dict):
        raise MongoError(14, "inserted documents must be objects")
    if "_id" not in doc:
        return {"_id": ObjectId(), **doc}
    _check_id(doc["_id"])
    if next(iter(doc)) != "_id":
        return {"_id": doc["_id"], **{k: v for k, v in doc.items() if k != "_id"}}
    return doc


def _check_id(value: Any) -> None:
    if isinstance(value, list):
        raise MongoError(2, "can't use an array for _id")
    if isinstance(value, Regex) or type(value).__name__ == "Pattern":
        raise MongoError(2, "can't use a regex for _id")
    if isinstance(value, dict) and any(k.startswith("$") for k in value):
        raise MongoError(52, "_id fields may not contain '$'-prefixed fields")


def _statements(cmd: dict, field: str) -> list:
    items = cmd.get(field)
    if not isinstance(items, list):
        raise MongoError(14, f"BSON field '{field}' is missing or not an array")
    if len(items) > 100000:
        raise MongoError(16, f"Write batch sizes must be between 1 and 100000. Got {len(items)} operations.")
    return items


def _finish(reply: dict, errors: list) -> dict:
    if errors:
        reply["writeErrors"] = errors
    return reply


@command("insert")
def insert(ctx: Context, cmd: dict) -> dict:
    name = collection_name(cmd, "insert")
    _writable(ctx, ctx.db, name)
    docs = _statements(cmd, "documents")
    ordered = bool_arg(cmd, "ordered", True)
    storage = ctx.storage
    errors: list[dict] = []
    inserted = 0
    with storage.transaction():
        info = storage.ensure_collection(ctx.db, name)
        for index, raw in enumerate(docs):
            try:
                doc = _prepare_insert(raw)
                check_valid(info, doc, cmd)
                storage.insert(info, doc)
                inserted += 1
            except MongoError as exc:
                errors.append(exc.to_write_error(index))
                if ordered:
                    break
    ctx.server.op_counters["insert"] += inserted
    return _finish({"n": inserted}, errors)


def _same(a: dict, b: dict) -> bool:
    return encode_document(a) == encode_document(b)


def _upsert(storage: Any, info: CollectionInfo, query: dict, update: Any,
            array_filters: Any, cmd: dict) -> Any:
    """Insert the document an upsert builds; returns its _id."""
    if is_operator_update(update):
        doc = apply_update(upsert_seed(query), update, query=query,
                           array_filters=array_filters, inserting=True,
                           variables=let_variables(cmd))
    else:
        doc = dict(update)
        seed = upsert_seed(query)
        if "_id" in seed and "_id" not in doc:
            doc = {"_id": seed["_id"], **doc}
    doc = _prepare_insert(doc)
    check_valid(info, doc, cmd)
    storage.insert(info, doc)
    return doc


_UPDATE_FIELDS = {"q", "u", "c", "multi", "upsert", "arrayFilters", "hint", "collation",
                  "upsertSupplied"}


def _check_update_statements(statements: list) -> None:
    """Malformed statements fail the whole command (ok: 0), as mongod's
    command parser does, before anything is written."""
    for stmt in statements:
        if not isinstance(stmt, dict):
            raise MongoError(14, "BSON field 'update.updates' entries must be objects")
        for required in ("q", "u"):
            if required not in stmt:
                raise MongoError(40414, f"BSON field 'update.updates.{required}' is missing "
                                        "but a required field")
        unknown = set(stmt) - _UPDATE_FIELDS
        if unknown:
            raise MongoError(40415, f"BSON field 'update.updates.{sorted(unknown)[0]}' is an "
                                    "unknown field.")


def _update_one_statement(ctx: Context, info_ref: list, name: str, stmt: Any,
                          cmd: dict) -> dict:
    query, update = stmt["q"], stmt["u"]
    multi, upsert = bool_arg(stmt, "multi"), bool_arg(stmt, "upsert")
    array_filters = stmt.get("arrayFilters")
    validate_update(update)
    if multi and not is_operator_update(update):
        raise MongoError(9, "multi update is not supported for replacement-style update")
    storage = ctx.storage
    variables = let_variables(cmd)
    selection = select(ctx, ctx.db, name, query, limit=0 if multi else 1,
                       hint=stmt.get("hint"), variables=variables,
                       collation=stmt.get("collation"))
    result = {"n": 0, "nModified": 0}
    for doc in selection.docs:
        deadline.check()
        new = apply_update(doc, update, query=query, array_filters=array_filters,
                           variables=variables)
        result["n"] += 1
        if not _same(doc, new):
            check_valid(info_ref[0], new, cmd, old=doc)
            storage.replace(info_ref[0], doc, new)
            result["nModified"] += 1
    if not selection.docs and upsert:
        if info_ref[0] is None:
            info_ref[0] = storage.ensure_collection(ctx.db, name)
        doc = _upsert(storage, info_ref[0], query, update, array_filters, cmd)
        result["n"] = 1
        result["upserted"] = doc["_id"]
    return result


@command("update")
def update(ctx: Context, cmd: dict) -> dict:
    name = collection_name(cmd, "update")
    _writable(ctx, ctx.db, name)
    statements = _statements(cmd, "updates")
    _check_update_statements(statements)
    ordered = bool_arg(cmd, "ordered", True)
    reply: dict[str, Any] = {"n": 0, "nModified": 0}
    upserted: list[dict] = []
    errors: list[dict] = []
    with ctx.storage.transaction():
        info_ref = [ctx.storage.collection(ctx.db, name)]
        for index, stmt in enumerate(statements):
            try:
                result = _update_one_statement(ctx, info_ref, name, stmt, cmd)
            except MongoError as exc:
                errors.append(exc.to_write_error(index))
                if ordered:
                    break
                continue
            reply["n"] += result["n"]
            reply["nModified"] += result["nModified"]
            if "upserted" in result:
                upserted.append({"index": index, "_id": result["upserted"]})
    ctx.server.op_counters["update"] += len(statements)
    if upserted:
        reply["upserted"] = upserted
    return _finish(reply, errors)


@command("delete")
def delete(ctx: Context, cmd: dict) -> dict:
    name = collection_name(cmd, "delete")
    _writable(ctx, ctx.db, name)
    statements = _statements(cmd, "deletes")
    ordered = bool_arg(cmd, "ordered", True)
    deleted = 0
    errors: list[dict] = []
    with ctx.storage.transaction():
        info = ctx.storage.collection(ctx.db, name)
        for index, stmt in enumerate(statements):
            try:
                if not isinstance(stmt, dict) or "q" not in stmt or "limit" not in stmt:
                    raise MongoError(40414, "BSON field 'delete.deletes.q' and 'limit' are required")
                limit = stmt["limit"]
                if limit not in (0, 1):
                    raise MongoError(9, f"The limit field in delete objects must be 0 or 1. Got {limit}")
                selection = select(ctx, ctx.db, name, stmt["q"], limit=int(limit),
                                   hint=stmt.get("hint"), variables=let_variables(cmd),
                                   collation=stmt.get("collation"))
                for doc in selection.docs:
                    ctx.storage.delete(info, doc)
                    deleted += 1
            except MongoError as exc:
                errors.append(exc.to_write_error(index))
                if ordered:
                    break
    ctx.server.op_counters["delete"] += len(statements)
    return _finish({"n": deleted}, errors)


@command("findAndModify", "findandmodify")
def find_and_modify(ctx: Context, cmd: dict) -> dict:
    name = collection_name(cmd, next(iter(cmd)))
    _writable(ctx, ctx.db, name)
    query = doc_arg(cmd, "query", {}) or {}
    remove = bool_arg(cmd, "remove")
    update_spec = cmd.get("update")
    if remove == (update_spec is not None):
        raise MongoError(9, "Either an update or remove=true must be specified")
    if remove and (bool_arg(cmd, "new") or bool_arg(cmd, "upsert")):
        raise MongoError(9, "Cannot specify both remove=true and new=true/upsert=true")
    if update_spec is not None:
        validate_update(update_spec)
    project = compile_projection(cmd.get("fields") or cmd.get("projection"), query)
    storage = ctx.storage
    last_error: dict[str, Any] = {"n": 0}
    value = None
    with storage.transaction():
        selection = select(ctx, ctx.db, name, query, sort=doc_arg(cmd, "sort"), limit=1,
                           hint=cmd.get("hint"), variables=let_variables(cmd),
                           collation=cmd.get("collation"))
        found = selection.docs[0] if selection.docs else None
        info = storage.collection(ctx.db, name)
        if found is not None and remove:
            storage.delete(info, found)
            last_error, value = {"n": 1}, found
        elif found is not None:
            new = apply_update(found, update_spec, query=query,
                               array_filters=cmd.get("arrayFilters"),
                               variables=let_variables(cmd))
            if not _same(found, new):
                check_valid(info, new, cmd, old=found)
                storage.replace(info, found, new)
            last_error = {"n": 1, "updatedExisting": True}
            value = new if bool_arg(cmd, "new") else found
        elif update_spec is not None and bool_arg(cmd, "upsert"):
            info = storage.ensure_collection(ctx.db, name)
            doc = _upsert(storage, info, query, update_spec, cmd.get("arrayFilters"), cmd)
            last_error = {"n": 1, "updatedExisting": False, "upserted": doc["_id"]}
            value = doc if bool_arg(cmd, "new") else None
    ctx.server.op_counters["delete" if remove else "update"] += 1
    return {"lastErrorObject": last_error, "value": project(value) if value is not None else None}


def _target(ctx: Context, spec: Any, stage: str) -> tuple[str, str]:
    if isinstance(spec, str):
        return ctx.db, spec
    if isinstance(spec, dict) and isinstance(spec.get("coll"), str):
        return spec.get("db", ctx.db), spec["coll"]
    raise MongoError(13111 if stage == "$out" else 51178,
                     f"{stage} needs a collection name or {{db, coll}}")


def write_out_stage(ctx: Context, stage: dict, docs: list[dict]) -> None:
    """Apply a pipeline's final ``$out`` (replace the target's documents,
    keeping its indexes) or ``$merge`` (match on ``on`` fields, then
    merge/replace/keepExisting/fail, insert/discard/fail)."""
    name, arg = next(iter(stage.items()))
    storage = ctx.storage
    if name == "$out":
        db, coll = _target(ctx, arg, name)
        _writable(ctx, db, coll)
        with storage.transaction():
            info = storage.ensure_collection(db, coll)
            for _, old in storage.scan(info):
                storage.delete(info, old)
            for doc in docs:
                storage.insert(info, _prepare_insert(doc))
        return
    spec = {"into": arg} if isinstance(arg, (str,)) else arg
    db, coll = _target(ctx, spec.get("into"), name)
    _writable(ctx, db, coll)
    on = spec.get("on", "_id")
    fields = [on] if isinstance(on, str) else list(on)
    matched_mode = spec.get("whenMatched", "merge")
    unmatched_mode = spec.get("whenNotMatched", "insert")
    with storage.transaction():
        info = storage.ensure_collection(db, coll)
        for doc in docs:
            doc = _prepare_insert(doc)
            query = {f: doc.get(f) for f in fields}
            found = select(ctx, db, coll, query, limit=1).docs
            if not found:
                if unmatched_mode == "fail":
                    raise MongoError(13113, "$merge failed: no matching document and "
                                            "whenNotMatched is 'fail'")
                if unmatched_mode == "insert":
                    storage.insert(info, doc)
                continue
            old = found[0]
            if matched_mode == "fail":
                raise DuplicateKey(info.ns, "_id_", {f: 1 for f in fields}, query)
            if matched_mode == "keepExisting":
                continue
            if matched_mode == "replace":
                new = {"_id": old["_id"], **{k: v for k, v in doc.items() if k != "_id"}}
            elif matched_mode == "merge":
                new = {**old, **{k: v for k, v in doc.items() if k != "_id"}}
            elif isinstance(matched_mode, list):
                new = apply_update(old, matched_mode)
            else:
                raise MongoError(2, f"unsupported $merge whenMatched: {matched_mode!r}")
            storage.replace(info, old, new)
