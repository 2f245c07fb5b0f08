"""Tailable cursors over capped collections and the oplog.

``tailable_source(...)`` returns the documents a tailable ``find`` starts
with and a ``tail()`` function that returns, each time it is called, the
matching documents inserted since the previous call -- by insertion
sequence for capped collections and by ``ts`` for ``local.oplog.rs``.  A
filter on ``ts`` with ``$gt``/``$gte`` starts an oplog scan at that point
instead of the beginning, which is how replication reads the oplog.
"""

from __future__ import annotations

from typing import Any, Callable

from holddb.commands._select import OPLOG, oplog_start
from holddb.errors import MongoError
from holddb.query import compile_filter

__all__ = ["tailable_source"]


def tailable_source(ctx: Any, db: str, name: str, spec: dict, project: Callable,
                    variables: dict | None) -> tuple[list, Callable[[], list]]:
    test = compile_filter(spec, variables)
    storage = ctx.storage
    if (db, name) == OPLOG:
        state = {"after": oplog_start(spec)}

        def read_oplog() -> list:
            out = []
            for entry in storage.oplog.entries(state["after"]):
                state["after"] = entry["ts"]
                if test(entry):
                    out.append(project(entry))
            return out
        return read_oplog(), read_oplog
    info = storage.collection(db, name)
    if info is None or not info.capped:
        raise MongoError(2, "error processing query: tailable cursor requested on non "
                            "capped collection")
    position = {"seq": 0}

    def read_capped() -> list:
        if position["seq"] and not storage.capped_has(info, position["seq"]):
            raise MongoError(136, "CollectionScan died due to position in capped collection "
                                  "being deleted")
        out = []
        for seq, doc in storage.capped_scan(info, after=position["seq"]):
            position["seq"] = seq
            if test(doc):
                out.append(project(doc))
        return out
    return read_capped(), read_capped
