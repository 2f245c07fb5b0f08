"""The asyncio server: connections, request dispatch, sessions, background jobs.

Lifecycle: ``Server(options, log)``; ``await start()`` opens the storage and
listens on every bind address; ``await wait_closed()`` returns after
``stop()`` (SIGTERM/SIGINT or the ``shutdown`` command) has closed the
listeners, every client connection and the storage, in that order.

Each connection reads one message at a time and answers it before reading
the next, so replies keep request order.  Commands run on the event loop
thread; the storage is therefore touched by one thread only and every
command sees a consistent state.  A request with ``moreToCome`` gets no
reply.  Errors become ``{ok: 0, code, codeName, errmsg}`` replies in
:meth:`Server.execute` -- the one place that does so.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime
import hashlib
import itertools
import os
import time
from dataclasses import dataclass, field
from typing import Any

from bson.binary import Binary
from bson.objectid import ObjectId

from holddb.commands import Context, lookup
from holddb.commands._registry import WRITE_COMMANDS
from holddb.cursors import CursorManager
from holddb.deadline import time_limit
from holddb.errors import MongoError
from holddb.log import Log
from holddb.storage import Storage
from holddb.wire import (HEADER_SIZE, MAX_MESSAGE_SIZE, Request, encode_document,
                         encode_reply, parse_header, parse_message)

__all__ = ["Server", "ServerOptions", "Connection"]

_HELLO_NAMES = ("hello", "isMaster", "ismaster")
SLOW_MS = 100
_TXN_ERROR = ("holddb does not support multi-document transactions "
              "(Transaction numbers are only allowed on a replica set member or mongos)")


@dataclass
class ServerOptions:
    port: int = 27017
    bind_ip: list[str] = field(default_factory=lambda: ["127.0.0.1"])
    dbpath: str = "/data/db"
    repl_set: str | None = None
    logpath: str | None = None
    log_append: bool = False
    quiet: bool = False
    verbosity: int = 0
    oplog_size_mb: float | None = None
    argv: list[str] = field(default_factory=list)
    parsed: dict = field(default_factory=dict)


@dataclass
class Connection:
    id: int
    peer: str
    local: str
    client: dict = field(default_factory=dict)
    compressors: list[str] = field(default_factory=list)
    opened: float = field(default_factory=time.time)
    hang_up: bool = False  # set by `shutdown`: close without replying, as mongod does


class Server:
    def __init__(self, options: ServerOptions, log: Log) -> None:
        self.options = options
        self.log = log
        self.storage: Storage | None = None
        self.repl: Any = None  # holddb.repl.ReplCoordinator with --replSet
        self.cursors = CursorManager()
        self.process_id = ObjectId()
        self.started = time.time()
        self.started_monotonic = time.monotonic()
        self.connections: dict[int, tuple[Connection, asyncio.StreamWriter]] = {}
        self.total_connections = 0
        # lsid id bytes -> (lsid document, last use): what $listLocalSessions shows
        self.sessions: dict[bytes, tuple[dict, Any]] = {}
        self.op_counters = {k: 0 for k in ("insert", "query", "update", "delete",
                                           "getmore", "command")}
        self._ids = itertools.count(1)
        self._request_ids = itertools.count(1)
        self._servers: list[asyncio.base_events.Server] = []
        self._tasks: set[asyncio.Task] = set()
        self._stopped = asyncio.Event()
        self._commit_event = asyncio.Event()
        self._stop_requested = False  # stop() runs once
        self._stopping = False  # connections stop being served (after any hand-over)

    async def start(self) -> None:
        self.storage = Storage(self.options.dbpath, oplog_size_mb=self.options.oplog_size_mb)
        self.storage.on_commit = self._committed
        self.log.info("STORAGE", 22315, "initandlisten", "Opening SQLite storage",
                      dbpath=self.options.dbpath, file=self.storage.path)
        if self.options.repl_set:
            from holddb.repl import ReplCoordinator
            self.repl = ReplCoordinator(self)
        for host in self.options.bind_ip:
            server = await asyncio.start_server(self._serve_client, host, self.options.port,
                                                limit=MAX_MESSAGE_SIZE, reuse_address=True)
            self._servers.append(server)
            self.log.info("NETWORK", 23015, "listener", "Listening on",
                          address=host, port=self.options.port)
        self.log.info("NETWORK", 23016, "listener", "Waiting for connections",
                      port=self.options.port, ssl="off")
        self._spawn(self._background())
        if self.repl is not None:
            self.repl.start()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def request_stop(self, reason: str) -> None:
        if not self._stop_requested:
            self._stop_requested = True
            self._spawn(self.stop(reason))

    async def stop(self, reason: str = "shutdown") -> None:
        """Hand over (a primary), then stop serving and close.  Connections
        keep being served while a primary hands over: its secondaries, the
        member told to stand (which wants our vote) and the clients (which
        should hear from hello that we are no longer primary, rather than
        have their connections cut) all still talk to us meanwhile."""
        self._stop_requested = True
        self.log.info("CONTROL", 23377, "SignalHandler", "Received shutdown request",
                      reason=reason)
        if self.repl is not None:
            await self.repl.shutdown()  # a primary hands over to a caught-up secondary
        self._stopping = True
        for server in self._servers:
            server.close()
        for _, writer in list(self.connections.values()):
            writer.close()
        current = asyncio.current_task()
        for task in list(self._tasks):
            if task is not current:
                task.cancel()
        await asyncio.sleep(0)
        if self.storage is not None:
            self.storage.close()
            self.storage = None
        self.log.info("CONTROL", 20565, "SignalHandler", "Now exiting")
        self._stopped.set()

    async def wait_closed(self) -> None:
        await self._stopped.wait()

    async def _background(self) -> None:
        """Reap idle cursors and expire TTL-indexed documents once a minute."""
        from holddb.commands.catalog import expire_ttl_documents
        while True:
            await asyncio.sleep(float(os.environ.get("HOLDDB_TTL_MONITOR_SECONDS", "60")))
            self.cursors.reap()
            if self.storage is not None and (self.repl is None or self.repl.is_primary):
                try:
                    removed = expire_ttl_documents(self)
                except MongoError as exc:
                    self.log.warning("INDEX", 22537, "TTLMonitor", "TTL pass failed",
                                     error=exc.message)
                else:
                    if removed:
                        self.log.info("INDEX", 5479200, "TTLMonitor", "Deleted expired documents",
                                      numDeleted=removed)

    # -- connections --------------------------------------------------------

    async def _serve_client(self, reader: asyncio.StreamReader,
                            writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername") or ("unknown", 0)
        local = writer.get_extra_info("sockname") or ("unknown", 0)
        conn = Connection(next(self._ids), f"{peer[0]}:{peer[1]}", f"{local[0]}:{local[1]}")
        self.connections[conn.id] = (conn, writer)
        self.total_connections += 1
        self.log.info("NETWORK", 22943, "listener", "Connection accepted",
                      remote=conn.peer, connectionId=conn.id,
                      connectionCount=len(self.connections))
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            await self._connection_loop(conn, reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass
        except Exception as exc:  # a bug: drop this connection, keep serving the others
            self.log.write("E", "NETWORK", 22989, f"conn{conn.id}", "Closing connection after "
                           "an unexpected error", {"error": f"{type(exc).__name__}: {exc}"})
        finally:
            self.connections.pop(conn.id, None)
            if task is not None:
                self._tasks.discard(task)
            writer.close()
            self.log.info("NETWORK", 22944, f"conn{conn.id}", "Connection ended",
                          remote=conn.peer, connectionId=conn.id,
                          connectionCount=len(self.connections))

    async def _connection_loop(self, conn: Connection, reader: asyncio.StreamReader,
                               writer: asyncio.StreamWriter) -> None:
        while not self._stopping:
            header = await reader.readexactly(HEADER_SIZE)
            try:
                length, request_id, _, op_code = parse_header(header)
            except MongoError as exc:
                self.log.warning("NETWORK", 4615638, f"conn{conn.id}",
                                 "Closing connection: invalid message header", error=exc.message)
                return
            body = await reader.readexactly(length - HEADER_SIZE)
            try:
                request = parse_message(request_id, op_code, body)
            except MongoError as exc:
                fallback = Request(request_id, op_code if op_code in (2004, 2013) else 2013, {}, "")
                writer.write(encode_reply(fallback, exc.to_reply(), next(self._request_ids)))
                await writer.drain()
                continue
            await self._await_topology_change(request)
            await self._await_data(request)
            reply = await self._execute(conn, request)
            if self.repl is not None:
                reply = await self._finish_repl(request, reply)
            if conn.hang_up:
                return
            if request.more_to_come:
                continue
            while self._exhausting(request, reply):
                reply_id = next(self._request_ids)
                writer.write(encode_reply(request, reply, reply_id, more_to_come=True))
                await writer.drain()
                request = dataclasses.replace(request, request_id=reply_id)
                reply = await self._execute(conn, request)
            writer.write(encode_reply(request, reply, next(self._request_ids)))
            await writer.drain()

    async def _await_topology_change(self, request: Request) -> None:
        """Awaitable hello (streaming SDAM): with a current topologyVersion the
        client asks us to answer only on change or after maxAwaitTimeMS."""
        cmd = request.command
        if not cmd or next(iter(cmd)) not in _HELLO_NAMES:
            return
        version = cmd.get("topologyVersion")
        wait_ms = cmd.get("maxAwaitTimeMS")
        if not isinstance(version, dict) or not isinstance(wait_ms, int):
            return
        if self.repl is not None and wait_ms > 0:
            await self.repl.wait_topology_change(version, min(wait_ms, 600_000) / 1000)
        elif version.get("processId") == self.process_id and wait_ms > 0:
            await asyncio.sleep(min(wait_ms, 600_000) / 1000)

    async def _execute(self, conn: Connection, request: Request) -> dict:
        """Replica sets: first wait until the command's read concern can be met
        (``ReplCoordinator.await_read_concern``), then run it at once -- no
        await between the check and the command, so nothing is applied in
        between."""
        if self.repl is not None:
            refused = await self.repl.await_read_concern(request.command, request.db)
            if refused is not None:
                return refused.to_reply()
        return self.execute(conn, request)

    async def _finish_repl(self, request: Request, reply: dict) -> dict:
        """Replica sets: await a command's pending work (``$await``, e.g. the
        initiate quorum check), hold a write until its write concern holds,
        confirm a linearizable read, and stamp operationTime / $clusterTime."""
        reply = await self.repl.finish_read(request.command, request.db, reply)
        pending = reply.pop("$await", None)
        if pending is not None:
            try:
                reply = {**(await pending), "ok": 1.0}
            except MongoError as exc:
                reply = exc.to_reply()
        name = next(iter(request.command), None)
        if name in WRITE_COMMANDS and not request.more_to_come:
            reply = await self.repl.await_write_concern(request.command, reply)
        return reply

    @staticmethod
    def _exhausting(request: Request, reply: dict) -> bool:
        """An exhaust getMore streams its batches without further requests:
        every reply but the last carries moreToCome and answers the previous
        reply's id."""
        if not request.exhaust_allowed or next(iter(request.command), None) != "getMore":
            return False
        cursor = reply.get("cursor")
        return reply.get("ok") == 1 and isinstance(cursor, dict) and cursor.get("id", 0) != 0 \
            and not (request.command.get("tailable") or request.command.get("awaitData"))

    def _committed(self) -> None:
        """Wake every awaitData getMore waiting for new documents."""
        self._commit_event.set()
        self._commit_event = asyncio.Event()

    async def _await_data(self, request: Request) -> None:
        """A getMore on a drained awaitData cursor waits for a commit, at
        most ``maxTimeMS`` (default 1s), before it is answered."""
        cmd = request.command
        if not cmd or next(iter(cmd)) != "getMore" or not isinstance(cmd["getMore"], int):
            return
        cursor = self.cursors.find(int(cmd["getMore"]))
        if cursor is None or not cursor.await_data or self.storage is None:
            return
        wait_ms = cmd.get("maxTimeMS", 1000)
        deadline = time.monotonic() + min(max(int(wait_ms or 0), 0), 600_000) / 1000
        while True:
            try:
                if cursor.refill():
                    return
            except MongoError:
                return  # the getMore itself reports it (e.g. CappedPositionLost)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._commit_event.wait(), remaining)

    # -- dispatch -----------------------------------------------------------

    def execute(self, conn: Connection, request: Request) -> dict:
        """Run one command; every failure becomes an ``ok: 0`` reply here."""
        cmd = request.command
        name = next(iter(cmd), None)
        try:
            if name is None:
                raise MongoError(9, "command document is empty")
            handler = lookup(name)
            if cmd.get("autocommit") is False or cmd.get("startTransaction"):
                raise MongoError(20, _TXN_ERROR)
            self.op_counters["command"] += 1
            if self.options.verbosity:
                self.log.write("D1", "COMMAND", 21965, f"conn{conn.id}", "About to run the command",
                               {"db": request.db, "command": name if self.options.verbosity < 2
                                else cmd,
                                "opCode": request.op_code})
            if isinstance(cmd.get("lsid"), dict):
                self._touch_session(cmd["lsid"])
            if self.repl is not None:
                self.repl.check_command(name, cmd, request.db)
            elif name in WRITE_COMMANDS:
                self._check_writable(cmd)
            self._check_write_concern(cmd)
            ctx = Context(self, request.db, conn)
            started = time.monotonic()
            with time_limit(cmd.get("maxTimeMS") if name != "getMore" else None):
                if name in WRITE_COMMANDS and "txnNumber" in cmd and \
                        isinstance(cmd.get("lsid"), dict):
                    reply = self._retryable(ctx, handler, cmd)
                else:
                    reply = handler(ctx, cmd)
            self._log_if_slow(conn, request, name, time.monotonic() - started)
            if "ok" not in reply:
                reply["ok"] = 1.0
            return reply
        except MongoError as exc:
            if exc.code in (59, 22, 9, 17):
                self.log.info("COMMAND", 51803, f"conn{conn.id}", "Command failed",
                              command=str(name), error=exc.message, code=exc.code)
            return exc.to_reply()
        except Exception as exc:  # a bug: answer like mongod's InternalError, keep serving
            self.log.write("E", "COMMAND", 1, f"conn{conn.id}", "Unexpected error",
                           {"command": str(name), "error": f"{type(exc).__name__}: {exc}"})
            return MongoError(1, f"internal error: {type(exc).__name__}: {exc}").to_reply()

    def _log_if_slow(self, conn: Connection, request: Request, name: str,
                     seconds: float) -> None:
        """mongod's "Slow query" line for commands over slowms (100ms)."""
        millis = int(seconds * 1000)
        if millis < SLOW_MS or name in ("hello", "isMaster", "ismaster", "getMore"):
            return
        target = request.command.get(name)
        ns = f"{request.db}.{target}" if isinstance(target, str) else f"{request.db}.$cmd"
        self.log.info("COMMAND", 51803, f"conn{conn.id}", "Slow query", type="command",
                      ns=ns, commandName=name, durationMillis=millis)

    def _touch_session(self, lsid: dict) -> None:
        """Remember the session's last use (cheap: runs on every command)."""
        now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
        key = bytes(lsid.get("id") or b"")
        known = self.sessions.get(key)
        if known is not None:
            self.sessions[key] = (known[0], now)
            return
        if len(self.sessions) > 100_000:
            self.sessions.pop(next(iter(self.sessions)))
        full = dict(lsid)
        full.setdefault("uid", Binary(hashlib.sha256(b"").digest()))
        self.sessions[key] = (full, now)

    def end_sessions(self, lsids: list) -> None:
        for lsid in lsids:
            if isinstance(lsid, dict):
                self.sessions.pop(bytes(lsid.get("id") or b""), None)

    def _check_writable(self, cmd: dict) -> None:
        """Writes need a primary; a standalone cannot honour ``w`` > 1."""
        if self.options.repl_set is not None:
            raise MongoError(10107, "not primary")

    def _check_write_concern(self, cmd: dict) -> None:
        if self.repl is not None:
            return self.repl.check_write_concern(cmd)
        concern = cmd.get("writeConcern")
        if isinstance(concern, dict) and isinstance(concern.get("w"), int) and concern["w"] > 1:
            raise MongoError(2, "cannot use 'w' > 1 on a standalone")

    def _retryable(self, ctx: Context, handler: Any, cmd: dict) -> dict:
        """Apply a write with (lsid, txnNumber) once; a retry gets the stored reply."""
        lsid = encode_document(cmd["lsid"])
        txn_number = int(cmd["txnNumber"])
        with self.storage.transaction():
            previous = self.storage.txn_reply(lsid, txn_number)
            if previous is not None:
                return previous
            reply = handler(ctx, cmd)
            reply.setdefault("ok", 1.0)
            self.storage.record_txn(lsid, txn_number, reply)
            if self.repl is not None:  # replicate the session record with the write
                self.repl.log_txn_record(lsid, txn_number, reply)
        return reply

    def uptime(self) -> float:
        return time.monotonic() - self.started_monotonic
