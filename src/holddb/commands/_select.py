"""Reading documents for commands: plan, fetch, filter, sort, skip, limit.

``select()`` is the one read path shared by find, count, distinct, update,
delete, findAndModify and aggregate's leading ``$match``.  The ``local``
database's ``oplog.rs`` is served from the oplog table, read-only.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, Iterator

from bson.timestamp import Timestamp

from holddb import deadline
from holddb.errors import MongoError
from holddb.query import compile_filter, sort_documents
from holddb.query._values import collation_scope
from holddb.storage import CollectionInfo, Plan, plan, plan_min_max

__all__ = ["Selection", "select", "stream", "collection_docs", "is_view", "let_variables",
           "oplog_start",
           "OPLOG"]

OPLOG = ("local", "oplog.rs")


@dataclass
class Selection:
    docs: list[dict]
    plan: Plan
    examined: int
    scores: dict[int, float] | None = None  # id(doc) -> text score, for $text queries

    def score(self, doc: dict) -> float:
        return (self.scores or {}).get(id(doc), 0.0)


def is_view(info: CollectionInfo | None) -> bool:
    return info is not None and "viewOn" in info.options


def oplog_start(spec: dict) -> Timestamp | None:
    """The timestamp after which an oplog scan may start: a filter's ``ts``
    lower bound (``$gt``/``$gte``), which is how replication reads the oplog
    (tailing, catch-up, rollback's common point); None to read it all."""
    cond = spec.get("ts")
    if not isinstance(cond, dict):
        return None
    for op in ("$gt", "$gte"):
        value = cond.get(op)
        if isinstance(value, Timestamp):
            if op == "$gt":
                return value
            ticks = (value.time << 32 | value.inc) - 1
            return Timestamp(ticks >> 32, ticks & 0xFFFFFFFF) if ticks >= 0 else None
    return None


def collection_docs(ctx: Any, db: str, name: str, depth: int = 0) -> list[dict]:
    """Every document of ``db.name`` (empty when the collection does not
    exist); a view's documents are its pipeline run over its source."""
    if (db, name) == OPLOG:
        return list(ctx.storage.oplog.entries())
    info = ctx.storage.collection(db, name)
    if info is None:
        return []
    if is_view(info):
        if depth > 20:
            raise MongoError(2, "view definitions nest more than 20 levels deep")
        from holddb.query import run_pipeline
        source = collection_docs(ctx, db, info.options["viewOn"], depth + 1)
        return run_pipeline(source, list(info.options.get("pipeline") or []),
                            lambda other: collection_docs(ctx, db, other))
    return [doc for _, doc in ctx.storage.scan(info)]


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
           limit: int = 0, hint: Any = None, variables: dict | None = None,
           collation: Any = None, key_range: tuple | None = None) -> Selection:
    """Documents of ``db.name`` matching ``spec`` under ``collation``, sorted,
    then skipped/limited (see :func:`_select`); ``key_range`` is find's
    ``(min, max)`` over the hinted index."""
    with collation_scope(collation) as folded:
        return _select(ctx, db, name, spec, sort=sort, skip=skip, limit=limit,
                       hint=hint, variables=variables, ignore_indexes=folded,
                       key_range=key_range)


def _select(ctx: Any, db: str, name: str, spec: Any, *, sort: Any, skip: int, limit: int,
            hint: Any, variables: dict | None, ignore_indexes: bool,
            key_range: tuple | None) -> Selection:
    """Documents of ``db.name`` matching ``spec``, sorted, then skipped/limited.

    ``limit`` 0 means no limit.  A filter that is not a document is a
    TypeMismatch, as mongod reports it.
    """
    if spec is None:
        spec = {}
    if not isinstance(spec, dict):
        raise MongoError(14, f"BSON field 'filter' is the wrong type "
                             f"'{type(spec).__name__}', expected type 'object'")
    if "$text" in spec:
        return _select_text(ctx, db, name, spec, sort=sort, skip=skip, limit=limit,
                            variables=variables)
    test = compile_filter(spec, variables)
    if (db, name) == OPLOG and limit and (not sort or set(sort) == {"$natural"}):
        return _select_oplog_ends(ctx, test, sort, skip, limit)
    if (db, name) == OPLOG:  # from the filter's ts lower bound, not every entry decoded
        chosen = Plan("COLLSCAN")
        candidates = list(ctx.storage.oplog.entries(oplog_start(spec)))
    elif is_view(ctx.storage.collection(db, name)):
        chosen = Plan("COLLSCAN")
        candidates = collection_docs(ctx, db, name)
    else:
        info: CollectionInfo | None = ctx.storage.collection(db, name)
        natural = isinstance(sort, dict) and "$natural" in sort
        if key_range is not None and info is not None:
            chosen = plan_min_max(info, hint, *key_range)
        elif ignore_indexes or natural:
            chosen = Plan("COLLSCAN")
        else:
            chosen = plan(ctx.storage, info, spec, hint, sort)
        if info is not None and chosen.sorted:
            return _select_in_order(ctx, info, chosen, test, skip, limit)
        candidates = [] if info is None else chosen.docs(ctx.storage, info)
    docs = []
    for position, doc in enumerate(candidates):
        if position % 512 == 0:
            deadline.check()
        if test(doc):
            docs.append(doc)
    if isinstance(sort, dict) and "$natural" in sort:
        if sort["$natural"] == -1:
            docs.reverse()
        sort = {k: v for k, v in sort.items() if k != "$natural"}
    if sort:
        docs = sort_documents(docs, sort)
    if skip:
        docs = docs[skip:]
    if limit:
        docs = docs[:limit]
    return Selection(docs, chosen, len(candidates))


def _select_oplog_ends(ctx: Any, test: Any, sort: Any, skip: int, limit: int) -> Selection:
    """A limited natural-order read of the oplog (``rs.printReplicationInfo``
    asks for the first and the last entry) stops after ``skip + limit``
    matches instead of decoding every entry."""
    descending = isinstance(sort, dict) and sort.get("$natural") == -1
    docs: list[dict] = []
    examined = 0
    with contextlib.closing(ctx.storage.oplog.scan(descending=descending)) as entries:
        for entry in entries:
            examined += 1
            if examined % 512 == 0:
                deadline.check()
            if test(entry):
                docs.append(entry)
                if len(docs) >= skip + limit:
                    break
    return Selection(docs[skip:], Plan("COLLSCAN"), examined)


def stream(ctx: Any, db: str, name: str, spec: Any, *, skip: int, limit: int, hint: Any,
           variables: dict | None, collation: Any) -> Iterator[dict] | None:
    """Matching documents produced lazily, for a find that needs no sort:
    the cursor pulls them batch by batch instead of reading the whole result
    up front.  None when the query needs the materialised path (sorting,
    $text, views, the oplog, a folding collation)."""
    with collation_scope(collation) as folded:
        if folded or not isinstance(spec, dict) or "$text" in spec or (db, name) == OPLOG:
            return None
        info = ctx.storage.collection(db, name)
        if info is None or is_view(info):
            return None
        test = compile_filter(spec, variables)
        chosen = plan(ctx.storage, info, spec, hint, None)

    def matching() -> Iterator[dict]:
        skipped = produced = 0
        for examined, doc in enumerate(chosen.iter_docs(ctx.storage, info)):
            if examined % 512 == 0:
                deadline.check()
            if not test(doc):
                continue
            if skipped < skip:
                skipped += 1
                continue
            yield doc
            produced += 1
            if limit and produced >= limit:
                return
    return matching()


def _select_in_order(ctx: Any, info: CollectionInfo, chosen: Plan, test: Any,
                     skip: int, limit: int) -> Selection:
    """Stream a plan whose scan order is the sort order; stop after
    ``skip + limit`` matches instead of reading and sorting everything."""
    wanted = skip + limit if limit else None
    docs: list[dict] = []
    examined = 0
    for doc in chosen.iter_docs(ctx.storage, info):
        examined += 1
        if examined % 512 == 0:
            deadline.check()
        if test(doc):
            docs.append(doc)
            if wanted is not None and len(docs) >= wanted:
                break
    return Selection(docs[skip:], chosen, examined)


def _select_text(ctx: Any, db: str, name: str, spec: dict, *, sort: Any, skip: int, limit: int,
                 variables: dict | None) -> Selection:
    """A ``$text`` query: candidates from the text index's token entries,
    then phrases, negations and the rest of the filter; scores kept for
    ``{$meta: "textScore"}`` projections and sorts."""
    from holddb.query._text import parse_search, score
    from holddb.storage._keys import encode_key, prefix_end
    info = ctx.storage.collection(db, name)
    index = next((i for i in (info.indexes if info else []) if i.text_weights), None)
    if index is None:
        raise MongoError(27, "text index required for $text query")
    query = parse_search(spec["$text"])
    rest = compile_filter({k: v for k, v in spec.items() if k != "$text"}, variables)
    id_keys: dict[bytes, None] = {}
    for term in query.lookup_terms():
        key = encode_key(term)
        for id_key in ctx.storage.index_range(index, key, prefix_end(key)):
            id_keys.setdefault(id_key, None)
    scores: dict[int, float] = {}
    docs = []
    for doc in ctx.storage.fetch(info, list(id_keys)):
        value = score(query, doc, index.text_weights)
        if value > 0 and rest(doc):
            scores[id(doc)] = value
            docs.append(doc)
    docs = _sort_with_scores(docs, sort, scores)
    docs = docs[skip:]
    if limit:
        docs = docs[:limit]
    chosen = Plan("IXSCAN", index=index, bounds=[])
    chosen.keys_examined = len(id_keys)
    return Selection(docs, chosen, len(id_keys), scores)


def _sort_with_scores(docs: list, sort: Any, scores: dict[int, float]) -> list:
    """Sort where ``{$meta: "textScore"}`` keys order by score, best first."""
    import functools
    from holddb.query._sort import sort_key_compare
    if not isinstance(sort, dict) or not sort:
        return docs
    plain = {k: v for k, v in sort.items() if not isinstance(v, dict)}
    by_score = any(isinstance(v, dict) and v.get("$meta") == "textScore" for v in sort.values())
    plain_cmp = sort_key_compare(plain) if plain else (lambda a, b: 0)

    def cmp(a: dict, b: dict) -> int:
        if by_score:
            sa, sb = scores.get(id(a), 0.0), scores.get(id(b), 0.0)
            if sa != sb:
                return -1 if sa > sb else 1
        return plain_cmp(a, b)
    return sorted(docs, key=functools.cmp_to_key(cmp))
