"""Reading documents for commands: plan, fetch, filter, sort, skip, limit.

``select()`` is the one read path shared by find, count, distinct, update,
delete, findAndModify and aggregate's leading ``$match``.  The ``local``
database's ``oplog.rs`` is served from the oplog table, read-only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from holddb.errors import MongoError
from holddb.query import compile_filter, sort_documents
from holddb.storage import CollectionInfo, Plan, plan

__all__ = ["Selection", "select", "collection_docs", "let_variables", "OPLOG"]

OPLOG = ("local", "oplog.rs")


@dataclass
class Selection:
    docs: list[dict]
    plan: Plan
    examined: int


def collection_docs(ctx: Any, db: str, name: str) -> list[dict]:
    """Every document of ``db.name`` (empty when the collection does not exist)."""
    if (db, name) == OPLOG:
        return list(ctx.storage.oplog.entries())
    info = ctx.storage.collection(db, name)
    return [] if info is None else [doc for _, doc in ctx.storage.scan(info)]


def let_variables(cmd: dict) -> dict:
    """A command's ``let`` document evaluated into ``$$name`` values."""
    from holddb.query import compile_expression
    spec = cmd.get("let")
    if spec is None:
        return {}
    if not isinstance(spec, dict):
        raise MongoError(14, "BSON field 'let' is the wrong type, expected type 'object'")
    return {name: compile_expression(expr)({}, {}) for name, expr in spec.items()}


def select(ctx: Any, db: str, name: str, spec: Any, *, sort: Any = None, skip: int = 0,
           limit: int = 0, hint: Any = None, variables: dict | None = None) -> Selection:
    """Documents of ``db.name`` matching ``spec``, sorted, then skipped/limited.

    ``limit`` 0 means no limit.  A filter that is not a document is a
    TypeMismatch, as mongod reports it.
    """
    if spec is None:
        spec = {}
    if not isinstance(spec, dict):
        raise MongoError(14, f"BSON field 'filter' is the wrong type "
                             f"'{type(spec).__name__}', expected type 'object'")
    test = compile_filter(spec, variables)
    if (db, name) == OPLOG:
        chosen = Plan("COLLSCAN")
        candidates = list(ctx.storage.oplog.entries())
    else:
        info: CollectionInfo | None = ctx.storage.collection(db, name)
        chosen = plan(ctx.storage, info, spec, hint, sort)
        if info is not None and chosen.sorted:
            return _select_in_order(ctx, info, chosen, test, skip, limit)
        candidates = [] if info is None else chosen.docs(ctx.storage, info)
    docs = [doc for doc in candidates if test(doc)]
    if sort:
        docs = sort_documents(docs, sort)
    if skip:
        docs = docs[skip:]
    if limit:
        docs = docs[:limit]
    return Selection(docs, chosen, len(candidates))


def _select_in_order(ctx: Any, info: CollectionInfo, chosen: Plan, test: Any,
                     skip: int, limit: int) -> Selection:
    """Stream a plan whose scan order is the sort order; stop after
    ``skip + limit`` matches instead of reading and sorting everything."""
    wanted = skip + limit if limit else None
    docs: list[dict] = []
    examined = 0
    for doc in chosen.iter_docs(ctx.storage, info):
        examined += 1
        if test(doc):
            docs.append(doc)
            if wanted is not None and len(docs) >= wanted:
                break
    return Selection(docs[skip:], chosen, examined)
