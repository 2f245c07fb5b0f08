"""Oplog replication on a secondary: choose a sync source, fetch, apply.

``Syncer(coordinator).run()`` loops for the life of the server.  While this
member is a SECONDARY it picks a sync source (the ``replSetSyncFrom``
choice, else the primary, else -- with ``chainingAllowed`` -- the healthy
member furthest ahead), opens a tailable awaitData ``find`` on the source's
``local.oplog.rs`` from its own newest entry, and applies what arrives in
order.  The first entry returned must be our own newest entry: if it is not,
our oplog has diverged from the source's and we roll back (below).

Applying is idempotent (an insert of an existing ``_id`` replaces it, an
update is a full post-image upserted by ``o2._id``, a delete of a missing
document does nothing), so a batch may be re-applied after a crash.  The
entry itself is stored verbatim (same ts and term) in the same transaction
as its effect.

Initial sync (an empty oplog): note the source's newest entry, copy every
database but ``local`` (collections, options, indexes, documents), store
that entry, then tail from it -- entries replayed over the copy converge.

Following a new source is prompt: with no source the syncer waits on the
coordinator's topology changes rather than polling, and a fetch in progress
is abandoned as soon as its source stops being the right one (it stepped
down, a new primary was elected, it is suspected dead), so that the first
``w: "majority"`` write of a new primary finds its secondaries already
fetching from it.  A fetch whose connection the source hangs up on tells
the coordinator at once (``member_host_hung_up``): the primary is probably
dead.  Fetch commands are never re-sent on a new connection: a lost
``getMore`` reply may have moved the cursor past entries we never saw, so
the next attempt starts with a new ``find`` from our own newest entry.

Rollback (refetch, as mongod's rollbackViaRefetch): find the newest entry
both oplogs share, save our current version of every document touched
after it to ``<dbpath>/rollback/<db>.<coll>.<time>.bson``, replace each with
the source's version (or delete it), drop our entries after the common
point, and resume fetching.  Diverged catalog changes ('c' entries) fall
back to a full resync.
"""

from __future__ import annotations

import asyncio
import datetime
import os
import time
from typing import Any, TYPE_CHECKING

import bson
from bson.timestamp import Timestamp

from holddb.errors import MongoError
from holddb.repl._client import MemberClient, MemberUnreachable
from holddb.repl._rules import OpTime
from holddb.storage import encode_key
from holddb.wire import CODEC_OPTIONS

if TYPE_CHECKING:  # pragma: no cover
    from holddb.repl._coordinator import ReplCoordinator

__all__ = ["Syncer", "apply_entry"]

_READ_PREF = {"mode": "secondaryPreferred"}
_APPLY_CHUNK = 500


class SourceChanged(Exception):
    """Stop fetching from this source: state, term or choice changed."""


class Syncer:
    def __init__(self, coordinator: "ReplCoordinator") -> None:
        self.coord = coordinator
        self.source: str | None = None
        self.forced_source: str | None = None

    @property
    def storage(self) -> Any:
        return self.coord.server.storage

    def _log(self, msg: str, **attrs: Any) -> None:
        self.coord.log.info("REPL", 21799, "BackgroundSync", msg, **attrs)

    async def run(self) -> None:
        from holddb.repl._states import ROLLBACK, SECONDARY, STARTUP2
        while True:
            coord = self.coord
            if coord.state not in (SECONDARY, STARTUP2, ROLLBACK) or coord.me is None \
                    or coord.stopping:
                self.source = None
                await coord.topology_changed(0.5)
                continue
            source = self.choose_source()
            if source is None:
                self.source = None
                await coord.topology_changed(0.5)  # (positions of chaining candidates: heartbeats)
                continue
            self.source = source
            try:
                await self._sync_from(source)
            except asyncio.CancelledError:
                raise
            except SourceChanged:
                pass
            except MemberUnreachable as exc:
                self._log("Sync source unreachable", syncSource=source, error=str(exc))
                view = next((v for v in coord.members.values() if v.config.host == source), None)
                if view is not None:
                    view.poke.set()  # heartbeat it now: a dead primary means an election
                await coord.topology_changed(0.1)
            except Exception as exc:  # a bug or a bad entry: log it, retry
                coord.log.write("E", "REPL", 21800, "BackgroundSync", "Sync failed",
                                {"syncSource": source, "error": f"{type(exc).__name__}: {exc}"})
                await asyncio.sleep(0.5)
            if coord.state == STARTUP2 and self.storage.oplog.last_entry() is not None:
                coord.set_state(SECONDARY, "sync attempt ended")

    def choose_source(self) -> str | None:
        """The replSetSyncFrom choice, else the primary, else the healthy member
        furthest ahead of us (chaining)."""
        from holddb.repl._states import PRIMARY, SECONDARY
        coord = self.coord
        views = {v.config.host: v for v in coord.members.values()}
        forced = views.get(self.forced_source or "")
        if forced is not None and forced.health and forced.state in (PRIMARY, SECONDARY):
            return forced.config.host
        primary = coord.members.get(coord.primary_id) if coord.primary_id is not None else None
        if primary is not None and primary.health:
            return primary.config.host
        if coord.config is None or not coord.config.setting("chainingAllowed"):
            return None
        ahead = [v for v in views.values() if v.health and v.state == SECONDARY
                 and not v.config.arbiter_only and v.applied > coord.last_applied]
        return max(ahead, key=lambda v: v.applied).config.host if ahead else None

    def _still_valid(self, source: str) -> None:
        from holddb.repl._states import ROLLBACK, SECONDARY, STARTUP2
        if self.coord.state not in (SECONDARY, STARTUP2, ROLLBACK) or \
                self.choose_source() != source:
            raise SourceChanged()

    # -- fetching -------------------------------------------------------------

    async def _sync_from(self, source: str) -> None:
        client = MemberClient(source, on_lost=lambda: self.coord.member_host_hung_up(source))
        try:
            if self.storage.oplog.last_entry() is None:
                await self._initial_sync(client)
            last = self.storage.oplog.last_entry()
            reply = await self._fetch(client, source, {
                "find": "oplog.rs", "filter": {"ts": {"$gte": last["ts"]}}, "tailable": True,
                "awaitData": True, "batchSize": 2000}, timeout=30.0)
            cursor = reply["cursor"]
            batch = cursor.get("firstBatch", [])
            if not batch or OpTime.of(batch[0]) != OpTime.of(last):
                await self._rollback(client, last)
                return
            self._log("Fetching the oplog", syncSource=source, after=str(last["ts"]))
            await self._apply_when_due(batch[1:], source)
            cursor_id = cursor.get("id", 0)
            while cursor_id:
                self._still_valid(source)
                reply = await self._fetch(client, source, {
                    "getMore": cursor_id, "collection": "oplog.rs", "maxTimeMS": 500,
                    "batchSize": 2000}, timeout=10.0)
                cursor = reply["cursor"]
                self._still_valid(source)
                await self._apply_when_due(cursor.get("nextBatch", []), source)
                cursor_id = cursor.get("id", 0)
        finally:
            client.close()

    async def _fetch(self, client: MemberClient, source: str, cmd: dict, *,
                     timeout: float) -> dict:
        """One oplog fetch command, abandoned (SourceChanged) when ``source``
        stops being our sync source while it waits: a getMore on a primary
        that just stepped down, or a find on a dead host that never answers,
        must not hold us back from the new primary.  Never retried on a new
        connection (module docstring)."""
        request = asyncio.ensure_future(self._command(client, cmd, timeout=timeout))
        try:
            while True:
                change = asyncio.ensure_future(self.coord.topology_changed(timeout))
                done, _ = await asyncio.wait({request, change},
                                             return_when=asyncio.FIRST_COMPLETED)
                change.cancel()
                if request in done:
                    return request.result()
                self._still_valid(source)
        finally:
            if not request.done():
                request.cancel()  # the client drops the connection: its stream is out of step
                await asyncio.gather(request, return_exceptions=True)

    async def _command(self, client: MemberClient, cmd: dict, *, db: str = "local",
                       timeout: float = 30.0, retry: bool = False) -> dict:
        """Never re-sent on a new connection by default: every syncer read is
        a cursor's first or next batch (the oplog, an initial sync's copy, a
        rollback's lookups), and a re-sent getMore skips the batch whose reply
        was lost.  A failure ends the attempt; the next one starts over."""
        reply = await client.command({**cmd, "$readPreference": _READ_PREF}, db=db,
                                     timeout=timeout, retry=retry)
        if not reply.get("ok"):
            raise MemberUnreachable(client.host, f"{next(iter(cmd))} failed: "
                                                 f"{reply.get('errmsg')}")
        return reply

    def _apply(self, entries: list[dict]) -> None:
        """Apply entries in order, each with its own entry stored verbatim."""
        storage = self.storage
        for start in range(0, len(entries), _APPLY_CHUNK):
            chunk = entries[start:start + _APPLY_CHUNK]
            with storage.transaction():
                storage.oplog.suppress = True
                try:
                    for entry in chunk:
                        apply_entry(storage, entry, self.coord.log)
                        storage.oplog.insert_entry(entry)
                finally:
                    storage.oplog.suppress = False
            self.coord.applied(OpTime.of(chunk[-1]))

    async def _apply_when_due(self, entries: list[dict], source: str) -> None:
        """``secondaryDelaySecs``: a delayed member applies an entry only once
        it is that old (by the primary's wall clock in the entry), as mongod's
        delayed members do; everyone else applies at once."""
        me = self.coord.me
        delay = me.secondary_delay if me is not None else 0
        while delay and entries:
            now = time.time()
            ready = 0
            while ready < len(entries) and _entry_time(entries[ready]) + delay <= now:
                ready += 1
            if ready:
                self._apply(entries[:ready])
                entries = entries[ready:]
                continue
            await asyncio.sleep(min(_entry_time(entries[0]) + delay - now, 0.5))
            self._still_valid(source)  # state or source changed: refetch from our newest
        self._apply(entries)

    async def _all_batches(self, client: MemberClient, db: str, cmd: dict) -> list:
        reply = await self._command(client, cmd, db=db)
        cursor = reply["cursor"]
        docs = list(cursor.get("firstBatch", []))
        name = cursor.get("ns", f"{db}.x").split(".", 1)[1]
        while cursor.get("id"):
            reply = await self._command(client, {"getMore": cursor["id"], "collection": name,
                                                 "batchSize": 5000}, db=db)
            cursor = reply["cursor"]
            docs.extend(cursor.get("nextBatch", []))
        return docs

    async def catch_up(self, host: str, target: OpTime, deadline: float) -> None:
        """Fetch and apply ``host``'s entries after ours up to ``target`` (a new
        primary's catch-up); gives up quietly at ``deadline`` or on divergence."""
        import time
        client = MemberClient(host)
        try:
            last = self.storage.oplog.last_entry()
            if last is None:
                return
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            reply = await self._command(client, {
                "find": "oplog.rs", "filter": {"ts": {"$gte": last["ts"]}},
                "batchSize": 10000}, timeout=remaining)
            batch = reply["cursor"].get("firstBatch", [])
            if not batch or OpTime.of(batch[0]) != OpTime.of(last):
                return  # diverged: the member ahead rolls back instead
            self._apply([e for e in batch[1:] if OpTime.of(e) <= target])
            cursor_id = reply["cursor"].get("id", 0)
            while cursor_id and self.coord.last_applied < target:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return
                reply = await self._command(client, {"getMore": cursor_id,
                                                     "collection": "oplog.rs",
                                                     "batchSize": 10000}, timeout=remaining)
                self._apply([e for e in reply["cursor"].get("nextBatch", [])
                             if OpTime.of(e) <= target])
                cursor_id = reply["cursor"].get("id", 0)
        except (MemberUnreachable, asyncio.TimeoutError):
            return
        finally:
            client.close()

    # -- initial sync ---------------------------------------------------------

    async def _initial_sync(self, client: MemberClient) -> None:
        from holddb.repl._states import SECONDARY, STARTUP2
        coord = self.coord
        coord.set_state(STARTUP2, "initial sync")
        self._log("Initial sync started", syncSource=client.host)
        newest = await self._command(client, {"find": "oplog.rs", "sort": {"$natural": -1},
                                              "limit": 1})
        begin = newest["cursor"]["firstBatch"]
        if not begin:
            raise MemberUnreachable(client.host, "the sync source has an empty oplog")
        self._wipe()
        dbs = await self._command(client, {"listDatabases": 1, "nameOnly": True}, db="admin")
        copied = 0
        for entry in dbs.get("databases", []):
            db = entry["name"]
            if db == "local":
                continue
            colls = await self._all_batches(client, db, {"listCollections": 1})
            for spec in sorted(colls, key=lambda c: c.get("type") == "view"):
                copied += await self._copy_collection(client, db, spec)
        with self.storage.transaction():
            self.storage.oplog.insert_entry(begin[0])
        coord.applied(OpTime.of(begin[0]))
        self._log("Initial sync done", documents=copied, beginApplyingTimestamp=str(begin[0]["ts"]))
        coord.set_state(SECONDARY, "initial sync done")

    async def _copy_collection(self, client: MemberClient, db: str, spec: dict) -> int:
        storage = self.storage
        name = spec["name"]
        options = dict(spec.get("options") or {})
        with storage.transaction():
            storage.oplog.suppress = True
            try:
                if storage.collection(db, name) is None:
                    storage.create_collection(db, name, options)
            finally:
                storage.oplog.suppress = False
        if spec.get("type") == "view":
            return 0
        indexes = await self._all_batches(client, db, {"listIndexes": name})
        docs = await self._all_batches(client, db, {"find": name, "batchSize": 5000})
        with storage.transaction():
            storage.oplog.suppress = True
            try:
                info = storage.collection(db, name)
                for index in indexes:
                    if index.get("name") != "_id_":
                        storage.create_index(info, {k: v for k, v in index.items()
                                                    if k not in ("ns",)})
                for doc in docs:
                    _upsert(storage, info, doc)
            finally:
                storage.oplog.suppress = False
        return len(docs)

    def _wipe(self) -> None:
        storage = self.storage
        with storage.transaction():
            storage.oplog.suppress = True
            try:
                for db in storage.database_names():
                    if db == "local":
                        continue
                    for info in storage.collections(db):
                        storage.drop_collection(db, info.name)
                storage.oplog.truncate_after(None)
            finally:
                storage.oplog.suppress = False

    # -- rollback -------------------------------------------------------------

    async def _rollback(self, client: MemberClient, last: dict) -> None:
        from holddb.repl._states import ROLLBACK, SECONDARY, STARTUP2
        coord = self.coord
        coord.set_state(ROLLBACK, f"our oplog diverged from {client.host}'s")
        common = await self._common_point(client, last["ts"])
        undo = list(self.storage.oplog.entries(common["ts"])) if common else []
        if common is None or any(e.get("op") == "c" and not str(e.get("ns", "")).startswith(
                "local.") for e in undo):
            self._log("Rollback needs a full resync", syncSource=client.host)
            self._save_rollback_files(undo)
            self._wipe()
            coord.last_applied = OpTime.of(None)
            coord.set_state(STARTUP2, "rollback by full resync")
            return
        touched = _touched_documents(undo)
        self._save_rollback_files(undo)
        current: dict[tuple[str, str, bytes], Any] = {}
        for (db, coll, key), doc_id in touched.items():
            reply = await self._command(client, {"find": coll, "filter": {"_id": doc_id},
                                                 "limit": 1, "singleBatch": True}, db=db)
            batch = reply["cursor"].get("firstBatch", [])
            current[(db, coll, key)] = batch[0] if batch else None
        storage = self.storage
        with storage.transaction():
            storage.oplog.suppress = True
            try:
                for (db, coll, key), doc in current.items():
                    info = storage.collection(db, coll)
                    if doc is not None:
                        info = info or storage.create_collection(db, coll)
                        _upsert(storage, info, doc)
                    elif info is not None:
                        old = storage.fetch(info, [key])
                        if old:
                            storage.delete(info, old[0])
                storage.oplog.truncate_after(common["ts"])
            finally:
                storage.oplog.suppress = False
        coord.last_applied = OpTime.of(common)
        self._log("Rollback complete", commonPoint=str(common["ts"]), undone=len(undo),
                  documents=len(touched))
        coord.set_state(SECONDARY, "rollback complete")

    async def _common_point(self, client: MemberClient, before: Timestamp) -> dict | None:
        """The newest entry (same ts and term) in both our and the source's oplog."""
        cursor_ts: Timestamp | None = before
        while cursor_ts is not None:
            mine = self.storage.oplog.entries_before(cursor_ts, 500)
            if not mine:
                return None
            theirs = await self._all_batches(client, "local", {
                # a range, not $in of 500 values: the source starts its scan at the
                # lower bound instead of testing every entry of its oplog against each
                "find": "oplog.rs", "filter": {"ts": {"$gte": mine[-1]["ts"],
                                                      "$lte": mine[0]["ts"]}},
                "projection": {"ts": 1, "t": 1}, "batchSize": 1000})
            known = {OpTime.of(e) for e in theirs}
            for entry in mine:
                if OpTime.of(entry) in known:
                    return entry
            oldest = mine[-1]["ts"]
            ticks = (oldest.time << 32 | oldest.inc) - 1
            cursor_ts = Timestamp(ticks >> 32, ticks & 0xFFFFFFFF) if ticks > 0 else None
        return None

    def _save_rollback_files(self, undo: list[dict]) -> None:
        """Our version of each document the rollback touches, as mongod saves it."""
        storage = self.storage
        stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H-%M-%S")
        folder = os.path.join(self.coord.server.options.dbpath, "rollback")
        by_ns: dict[str, list[bytes]] = {}
        for (db, coll, key), _ in _touched_documents(undo).items():
            info = storage.collection(db, coll)
            for doc in storage.fetch(info, [key]) if info else []:
                by_ns.setdefault(f"{db}.{coll}", []).append(
                    bson.encode(doc, codec_options=CODEC_OPTIONS))
        for ns, docs in by_ns.items():
            os.makedirs(folder, exist_ok=True)
            with open(os.path.join(folder, f"{ns}.{stamp}.bson"), "ab") as handle:
                handle.write(b"".join(docs))


def _entry_time(entry: dict) -> float:
    """When the primary wrote an entry: its ``wall`` date, else its ``ts``."""
    wall = entry.get("wall")
    if isinstance(wall, datetime.datetime):
        return wall.replace(tzinfo=datetime.timezone.utc).timestamp()
    return float(entry["ts"].time)


def _touched_documents(entries: list[dict]) -> dict[tuple[str, str, bytes], Any]:
    out: dict[tuple[str, str, bytes], Any] = {}
    for entry in entries:
        op, ns = entry.get("op"), str(entry.get("ns", ""))
        db, _, coll = ns.partition(".")
        if op not in ("i", "u", "d") or db == "local" or not coll:
            continue
        holder = entry.get("o2") if op == "u" else entry.get("o")
        if isinstance(holder, dict) and "_id" in holder:
            out[(db, coll, encode_key(holder["_id"]))] = holder["_id"]
    return out


def _upsert(storage: Any, info: Any, doc: dict) -> None:
    old = storage.fetch(info, [encode_key(doc["_id"])])
    if old:
        storage.replace(info, old[0], doc)
    else:
        storage.insert(info, doc)


def apply_entry(storage: Any, entry: dict, log: Any = None) -> None:
    """Apply one oplog entry idempotently (inside the caller's transaction,
    with the storage's own oplog suppressed)."""
    op, ns = entry.get("op"), str(entry.get("ns", ""))
    if op == "n":
        record = (entry.get("o2") or {}).get("txnRecord") if isinstance(entry.get("o2"),
                                                                         dict) else None
        if isinstance(record, dict):
            storage.record_txn(bytes(record["lsid"]), int(record["txnNumber"]),
                               dict(record["reply"]))
        return
    db, _, coll = ns.partition(".")
    if not db or db == "local":
        return
    try:
        if op == "i":
            _upsert(storage, storage.ensure_collection(db, coll), dict(entry["o"]))
        elif op == "u":
            doc = dict(entry["o"])
            if "_id" not in doc:
                doc = {"_id": entry["o2"]["_id"], **doc}
            _upsert(storage, storage.ensure_collection(db, coll), doc)
        elif op == "d":
            info = storage.collection(db, coll)
            old = storage.fetch(info, [encode_key(entry["o"]["_id"])]) if info else []
            if old:
                storage.delete(info, old[0])
        elif op == "c":
            _apply_command(storage, db, dict(entry["o"]))
    except MongoError as exc:
        if log is not None:
            log.warning("REPL", 21230, "OplogApplier", "Ignoring an error applying an entry "
                        "(idempotent replay)", ns=ns, op=op, error=exc.message)


def _apply_command(storage: Any, db: str, o: dict) -> None:
    name = next(iter(o))
    arg = o[name]
    if name == "create":
        if storage.collection(db, arg) is None:
            storage.create_collection(db, arg, {k: v for k, v in o.items() if k != "create"})
    elif name == "drop":
        if storage.collection(db, arg) is not None:
            storage.drop_collection(db, arg)
    elif name == "createIndexes":
        info = storage.ensure_collection(db, arg)
        storage.create_index(info, {k: v for k, v in o.items() if k != "createIndexes"})
    elif name in ("dropIndexes", "deleteIndexes"):
        info = storage.collection(db, arg)
        if info is not None:
            storage.drop_index(info, o.get("index"))
    elif name == "renameCollection":
        src = tuple(str(arg).split(".", 1))
        dst = tuple(str(o.get("to")).split(".", 1))
        if storage.collection(*src) is not None:
            storage.rename_collection(src, dst, bool(o.get("dropTarget")))
    elif name == "collMod":
        info = storage.collection(db, arg)
        if info is None:
            return
        index = o.get("index")
        if isinstance(index, dict):
            for key, value in index.items():
                if key not in ("name", "keyPattern"):
                    storage.set_index_option(info, index.get("name"), key, value)
        else:
            storage.set_collection_options(info, {k: v for k, v in o.items() if k != "collMod"})
    elif name == "dropDatabase":
        for info in storage.collections(db):
            storage.drop_collection(db, info.name)
