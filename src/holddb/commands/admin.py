"""Sessions, server control and replica-set placeholders.

Sessions are implicit: any ``lsid`` is accepted and its retryable-write
records live in storage (see ``Server._retryable``).  ``endSessions`` and
``killAllSessions`` close the cursors the sessions own.  Replica-set
commands live in ``commands/repl.py``.
"""

from __future__ import annotations

import uuid
from typing import Any

from bson.binary import Binary, UUID_SUBTYPE

from holddb.commands._registry import Context, command
from holddb.errors import MongoError


def _session_ids(value: Any) -> list[Any]:
    if not isinstance(value, list):
        return []
    return [entry.get("id") for entry in value if isinstance(entry, dict)]


@command("endSessions", "killSessions")
def end_sessions(ctx: Context, cmd: dict) -> dict:
    entries = cmd.get(next(iter(cmd)))
    ctx.server.cursors.close_for_sessions(_session_ids(entries))
    ctx.server.end_sessions(entries if isinstance(entries, list) else [])
    return {}


@command("killAllSessions", "killAllSessionsByPattern")
def kill_all_sessions(ctx: Context, cmd: dict) -> dict:
    return {}


@command("startSession")
def start_session(ctx: Context, cmd: dict) -> dict:
    return {"id": {"id": Binary(uuid.uuid4().bytes, UUID_SUBTYPE)}, "timeoutMinutes": 30}


@command("refreshSessions", "refreshLogicalSessionCacheNow")
def refresh_sessions(ctx: Context, cmd: dict) -> dict:
    return {}


@command("abortTransaction", "commitTransaction")
def transactions(ctx: Context, cmd: dict) -> dict:
    raise MongoError(20, "holddb does not support multi-document transactions")


@command("shutdown")
def shutdown(ctx: Context, cmd: dict) -> dict:
    if ctx.db != "admin":
        raise MongoError(13, "shutdown must run from localhost when running db without auth")
    ctx.server.request_stop("shutdown command")
    ctx.connection.hang_up = True
    return {}


@command("fsync")
def fsync(ctx: Context, cmd: dict) -> dict:
    if cmd.get("lock"):
        raise MongoError(2, "holddb does not support fsync with lock")
    return {"numFiles": 1}


@command("currentOp")
def current_op(ctx: Context, cmd: dict) -> dict:
    return {"inprog": []}


@command("killOp")
def kill_op(ctx: Context, cmd: dict) -> dict:
    return {"info": "attempting to kill op"}


@command("getLastError", "getlasterror")
def get_last_error(ctx: Context, cmd: dict) -> dict:
    return {"err": None, "n": 0, "connectionId": ctx.connection.id}


@command("dropConnections")
def drop_connections(ctx: Context, cmd: dict) -> dict:
    return {}


@command("profile")
def profile(ctx: Context, cmd: dict) -> dict:
    level = cmd.get("profile")
    if level not in (-1, 0):
        raise MongoError(2, "holddb has no profiler; only profile: 0 and -1 are accepted")
    return {"was": 0, "slowms": 100, "sampleRate": 1.0}
