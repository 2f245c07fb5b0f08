"""The administrative operations behind the replSet* commands, answered with
mongod's codes and messages: initiate (with the quorum check that every
proposed member is up and empty), reconfig, stepDown, freeze, syncFrom and
stepUp (the graceful hand-off's request to stand at once).

Those that must talk to other members are coroutines; the command layer
(``holddb.commands.repl``) hands them to the server to await.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, TYPE_CHECKING

from bson.int64 import Int64

from holddb.errors import MongoError
from holddb.repl._client import MemberClient, MemberUnreachable
from holddb.repl._config import validate_config

if TYPE_CHECKING:  # pragma: no cover
    from holddb.repl._coordinator import ReplCoordinator

__all__ = ["initiate", "reconfig", "step_down", "freeze", "sync_from", "step_up"]


def _default_config(coord: "ReplCoordinator") -> dict:
    return {"_id": coord.set_name, "members": [{"_id": 0, "host": coord.my_host()}]}


async def initiate(coord: "ReplCoordinator", raw: Any) -> dict:
    if coord.config is not None:
        raise MongoError(23, "already initialized")
    if raw is None or raw == {} or raw == 1:
        raw = _default_config(coord)
    config = validate_config(raw, coord.set_name, term=0)
    me = coord.find_self(config)
    if me is None:
        raise MongoError(93, f"No host described in new configuration with {{version: "
                             f"{config.version}, term: 0}} for replica set {coord.set_name} "
                             "maps to this node")
    await _quorum_check(coord, config, me.id)
    if coord.config is not None:  # a concurrent initiate won
        raise MongoError(23, "already initialized")
    coord.log.info("REPL", 21356, "conn", "replSetInitiate admin command received from client")
    config.document["term"] = 0
    config.term = 0
    storage = coord.server.storage
    with storage.transaction():  # first: a member with an empty oplog needs an initial sync
        storage.oplog.append("n", "", {"msg": "initiating set"})
    coord._install(config)
    coord.applied(coord.last_applied.__class__.of(storage.oplog.last_entry()))
    if me.electable:
        coord.election_due = time.monotonic()  # stand as soon as the others have the config
    return {}


async def _quorum_check(coord: "ReplCoordinator", config: Any, self_id: int) -> None:
    """Every proposed member must answer a heartbeat and have no config yet."""
    failures = []

    async def check(member: Any) -> None:
        client = MemberClient(member.host)
        request = {"replSetHeartbeat": coord.set_name, "configVersion": config.version,
                   "hbv": 1, "from": config.member(self_id).host, "fromId": self_id,
                   "term": Int64(0), "checkEmpty": True}
        try:
            reply = await client.command(request, timeout=10.0)
        except MemberUnreachable as exc:
            failures.append(f"{member.host} failed with Error connecting to {member.host} :: "
                            f"caused by :: {str(exc).split(': ', 1)[-1]}")
            return
        finally:
            client.close()
        if not reply.get("ok"):
            failures.append(f"{member.host} failed with {reply.get('errmsg')}")
        elif int(reply.get("configVersion", -2)) != -2:
            failures.append(f"{member.host} failed with replica set configuration already "
                            "exists on that member (it is initialized)")

    await asyncio.gather(*(check(m) for m in config.members if m.id != self_id))
    if failures:
        raise MongoError(74, "replSetInitiate quorum check failed because not all proposed set "
                             "members responded affirmatively: " + ", ".join(failures))


def reconfig(coord: "ReplCoordinator", raw: Any, force: bool) -> dict:
    from holddb.repl._states import PRIMARY
    current = coord.require_config()
    if not isinstance(raw, dict):
        raise MongoError(2, "replSetReconfig needs a config document")
    if coord.state != PRIMARY and not force:
        raise coord.state_error(10107, "replSetReconfig should only be run on a writable "
                                       f"PRIMARY. Current state {coord.state};")
    version = raw.get("version")
    if force:
        version = current.version + 10000 + int(time.time()) % 1000
    if not isinstance(version, int) or isinstance(version, bool):
        raise MongoError(93, "replSetReconfig needs the config's version field (an integer)")
    if version <= current.version:
        raise MongoError(103, f"New config is rejected :: caused by :: version field value of "
                              f"{version} is lower than or equal to the current version "
                              f"{current.version}")
    raw = {k: v for k, v in raw.items() if k != "term"}
    config = validate_config({**raw, "settings": {**current.settings,
                                                  **(raw.get("settings") or {})}},
                             coord.set_name, version=version, term=coord.term)
    if coord.find_self(config) is None and not force:
        raise MongoError(74, "New config is rejected :: caused by :: this node is not in the "
                             "new configuration")
    for member in config.members:
        old = current.member(member.id)
        if old is not None and old.host != member.host and not force:
            pass  # mongod allows host changes of an _id; so do we
    coord._install(config)
    return {}


async def step_down(coord: "ReplCoordinator", cmd: dict) -> dict:
    from holddb.repl._states import PRIMARY
    coord.require_config()
    if coord.state != PRIMARY:
        raise coord.state_error(10107, "not primary so can't step down")
    seconds = cmd.get("replSetStepDown", 60)
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        raise MongoError(14, "replSetStepDown's value must be a number of seconds")
    catch_up = cmd.get("secondaryCatchUpPeriodSecs", min(10, seconds))
    if catch_up > seconds:
        raise MongoError(2, "stepdown period must be longer than secondaryCatchUpPeriodSecs")
    force = bool(cmd.get("force"))
    target = await coord._caught_up_secondary(float(catch_up))
    if target is None and not force:
        raise MongoError(262, "No electable secondaries caught up as of "
                              f"{time.strftime('%Y-%m-%dT%H:%M:%S')}. Please use the "
                              "replSetStepDown command with the argument {force: true} to "
                              "force node to step down.")
    coord.frozen_until = time.monotonic() + float(seconds)
    coord._step_down("replSetStepDown command")
    if target is not None:
        try:
            await target.client.command({"replSetStepUp": 1, "skipDryRun": True}, timeout=2.0)
        except MemberUnreachable:
            pass
    return {}


def freeze(coord: "ReplCoordinator", cmd: dict) -> dict:
    from holddb.repl._states import PRIMARY, STATE_NAMES
    coord.require_config()
    seconds = cmd.get("replSetFreeze")
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        raise MongoError(14, "replSetFreeze's value must be a number of seconds")
    if coord.state == PRIMARY or coord.electing:
        raise MongoError(95, "cannot freeze node when primary or running for election. "
                             f"state: {STATE_NAMES[coord.state].title()}")
    if seconds <= 0:
        coord.frozen_until = 0.0
        return {"info": "unfreezing"}
    coord.frozen_until = time.monotonic() + float(seconds)
    return {"warning": "you really want to freeze for only 1 second?"} if seconds == 1 else {}


def sync_from(coord: "ReplCoordinator", cmd: dict) -> dict:
    from holddb.repl._states import PRIMARY
    config = coord.require_config()
    host = cmd.get("replSetSyncFrom")
    if not isinstance(host, str):
        raise MongoError(14, "replSetSyncFrom needs a \"host:port\" string")
    if coord.state == PRIMARY:
        raise MongoError(95, "primaries don't sync")
    if config.by_host(host) is None:
        raise MongoError(74, f"Could not find member \"{host}\" in replica set")
    if coord.me is not None and host == coord.me.host:
        raise MongoError(2, "I cannot sync from myself")
    previous = coord.syncer.source or ""
    coord.syncer.forced_source = host
    return {"syncFromRequested": host, "prevSyncTarget": previous}


async def step_up(coord: "ReplCoordinator", cmd: dict) -> dict:
    from holddb.repl._states import PRIMARY
    coord.require_config()
    if coord.state == PRIMARY:
        return {"info": "already primary"}
    coord.frozen_until = 0.0
    skip_dry_run = bool(cmd.get("skipDryRun"))
    reason = "stepUpRequestSkipDryRun" if skip_dry_run else "stepUpRequest"
    if not await coord.stand(reason, skip_dry_run=skip_dry_run):
        raise MongoError(125, "Election failed.")
    return {}
