"""Replica-set commands: replSetInitiate, replSetGetStatus, replSetGetConfig,
replSetReconfig, replSetStepDown, replSetFreeze, replSetSyncFrom,
replSetStepUp, and the member-to-member replSetHeartbeat,
replSetRequestVotes and replSetUpdatePosition.

On a server started without ``--replSet`` every one answers
NoReplicationEnabled (76), like mongod.  Handlers that must talk to other
members return ``{"$await": coroutine}``; the server awaits it before
replying (``ReplCoordinator`` callers never block the event loop).
"""

from __future__ import annotations

from typing import Any

from holddb.commands._registry import Context, command
from holddb.errors import MongoError


def _coordinator(ctx: Context, *, admin: bool = True) -> Any:
    if ctx.server.repl is None:
        raise MongoError(76, "not running with --replSet")
    if admin and ctx.db != "admin":
        raise MongoError(13, f"{ctx.db} is not the admin database: replica set commands "
                             "may only be run against the admin database.")
    return ctx.server.repl


@command("replSetInitiate")
def repl_set_initiate(ctx: Context, cmd: dict) -> dict:
    from holddb.repl._admin import initiate
    coord = _coordinator(ctx)
    return {"$await": initiate(coord, cmd.get("replSetInitiate"))}


@command("replSetGetStatus")
def repl_set_get_status(ctx: Context, cmd: dict) -> dict:
    return _coordinator(ctx).status()


@command("replSetGetConfig")
def repl_set_get_config(ctx: Context, cmd: dict) -> dict:
    config = _coordinator(ctx).require_config()
    return {"config": dict(config.document)}


@command("replSetReconfig")
def repl_set_reconfig(ctx: Context, cmd: dict) -> dict:
    from holddb.repl._admin import reconfig
    return reconfig(_coordinator(ctx), cmd.get("replSetReconfig"), bool(cmd.get("force")))


@command("replSetStepDown")
def repl_set_step_down(ctx: Context, cmd: dict) -> dict:
    from holddb.repl._admin import step_down
    return {"$await": step_down(_coordinator(ctx), cmd)}


@command("replSetStepUp")
def repl_set_step_up(ctx: Context, cmd: dict) -> dict:
    from holddb.repl._admin import step_up
    return {"$await": step_up(_coordinator(ctx), cmd)}


@command("replSetFreeze")
def repl_set_freeze(ctx: Context, cmd: dict) -> dict:
    from holddb.repl._admin import freeze
    return freeze(_coordinator(ctx), cmd)


@command("replSetSyncFrom")
def repl_set_sync_from(ctx: Context, cmd: dict) -> dict:
    from holddb.repl._admin import sync_from
    return sync_from(_coordinator(ctx), cmd)


@command("replSetHeartbeat")
def repl_set_heartbeat(ctx: Context, cmd: dict) -> dict:
    return _coordinator(ctx, admin=False).handle_heartbeat(cmd)


@command("replSetRequestVotes")
def repl_set_request_votes(ctx: Context, cmd: dict) -> dict:
    return _coordinator(ctx, admin=False).handle_request_votes(cmd)


@command("replSetUpdatePosition")
def repl_set_update_position(ctx: Context, cmd: dict) -> dict:
    return _coordinator(ctx, admin=False).handle_update_position(cmd)
