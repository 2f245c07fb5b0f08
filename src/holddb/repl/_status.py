"""What a member tells the world about the set: the ``hello`` fields
drivers discover the topology from, ``replSetGetStatus``, and the
"not primary"-kind errors for commands sent to the wrong member.

A mixin of :class:`ReplCoordinator` (``_coordinator.py``), kept apart so
that the coordinator module holds the state machine only.
"""

from __future__ import annotations

import datetime
import time
from typing import Any, TYPE_CHECKING

from bson.int64 import Int64

from holddb.errors import MongoError
from holddb.repl._config import MemberConfig, ReplConfig
from holddb.repl._rules import OpTime
from holddb.repl._states import PRIMARY, SECONDARY, STATE_NAMES, _now, election_id

if TYPE_CHECKING:  # pragma: no cover
    from holddb.repl._coordinator import MemberView

__all__ = ["StatusMixin", "WRITE_NAMES", "READ_NAMES"]

WRITE_NAMES = {"insert", "update", "delete", "findAndModify", "findandmodify", "create", "drop",
               "dropDatabase", "createIndexes", "dropIndexes", "deleteIndexes",
               "renameCollection", "collMod"}
READ_NAMES = {"find", "aggregate", "count", "distinct", "listCollections", "listIndexes",
              "collStats", "dbStats", "explain", "listDatabases", "dataSize", "datasize"}


class StatusMixin:
    """hello, replSetGetStatus and gatekeeping (needs the coordinator's state)."""
    # -- client commands: gatekeeping ------------------------------------------

    def check_command(self, name: str, cmd: dict, db: str) -> None:
        """NotWritablePrimary for writes off the primary; reads on a secondary
        need a read preference other than primary (secondaryOk)."""
        if self.state == PRIMARY or db == "local":
            return
        if name in WRITE_NAMES:
            raise self.state_error(10107, "not primary")
        if name not in READ_NAMES:
            return
        if self.state != SECONDARY:
            raise self.state_error(13436, "node is not in primary or recovering state")
        pref = cmd.get("$readPreference")
        mode = pref.get("mode") if isinstance(pref, dict) else None
        if mode in (None, "primary"):
            raise self.state_error(13435, "not primary and secondaryOk=false")

    def state_error(self, code: int, message: str) -> MongoError:
        """A "not primary"-kind error carrying our topologyVersion, as mongod's
        do: a driver then knows whether it already has this view of us (and
        keeps the server selectable) or must re-check."""
        return MongoError(code, message, topologyVersion={
            "processId": self.server.process_id, "counter": Int64(self.topology_counter)})

    @property
    def is_primary(self) -> bool:
        return self.state == PRIMARY

    def log_txn_record(self, lsid: bytes, txn_number: int, reply: dict) -> None:
        """Retryable writes: replicate the session record so that a retry on
        the next primary is recognised (called inside the write's transaction)."""
        from bson.binary import Binary
        oplog = self.server.storage.oplog
        oplog.insert_entry({"ts": oplog.next_ts(), "t": Int64(self.term), "v": 2, "op": "n",
                            "ns": "", "o": {"msg": "retryable write"},
                            "o2": {"txnRecord": {"lsid": Binary(lsid), "txnNumber":
                                                 Int64(txn_number), "reply": reply}},
                            "wall": _now()})

    # -- hello ----------------------------------------------------------------

    def describe(self, reply: dict, legacy: bool) -> None:
        """Fill a hello reply with what drivers read to discover the set."""
        reply["topologyVersion"] = {"processId": self.server.process_id,
                                    "counter": Int64(self.topology_counter)}
        config = self.config
        if config is None or self.self_id is None:
            return
        for key in ("info", "isreplicaset"):
            reply.pop(key, None)
        visible = [m for m in config.members if not m.hidden]
        hosts = [m.host for m in visible if not m.arbiter_only and m.priority > 0]
        passives = [m.host for m in visible if not m.arbiter_only and m.priority == 0]
        arbiters = [m.host for m in visible if m.arbiter_only]
        primary_host = None
        if self.state == PRIMARY:
            primary_host = self.me.host
        elif self.primary_id is not None and config.member(self.primary_id) is not None:
            primary_host = config.member(self.primary_id).host
        fields: dict[str, Any] = {"hosts": hosts}
        if passives:
            fields["passives"] = passives
        if arbiters:
            fields["arbiters"] = arbiters
        fields["setName"] = self.set_name
        fields["setVersion"] = config.version
        fields["ismaster" if legacy else "isWritablePrimary"] = self.state == PRIMARY
        fields["secondary"] = self.state == SECONDARY
        if primary_host:
            fields["primary"] = primary_host
        if self.me.arbiter_only:
            fields["arbiterOnly"] = True
        if self.me.hidden:
            fields["hidden"] = True
        if self.me.priority == 0 and not self.me.arbiter_only:
            fields["passive"] = True
        if self.me.secondary_delay:
            fields["secondaryDelaySecs"] = Int64(self.me.secondary_delay)
        if self.me.tags:
            fields["tags"] = dict(self.me.tags)  # drivers match read preference tag sets
        fields["me"] = self.me.host
        if self.state == PRIMARY:
            fields["electionId"] = election_id(self.term)
        optime = self.my_optime()
        fields["lastWrite"] = {"opTime": optime.document(), "lastWriteDate": _ts_date(optime),
                               "majorityOpTime": self.commit_point.document(),
                               "majorityWriteDate": _ts_date(self.commit_point)}
        for key in ("isWritablePrimary", "ismaster", "secondary"):
            reply.pop(key, None)
        reply.update(fields)

    # -- status ---------------------------------------------------------------

    def require_config(self) -> ReplConfig:
        if self.config is None:
            raise MongoError(94, "no replset config has been received")
        return self.config

    def status(self) -> dict:
        config = self.require_config()
        now = _now()
        members = []
        for member in config.members:
            if member.id == self.self_id:
                members.append(self._self_status(member))
            else:
                members.append(self._member_status(self.members[member.id], now))
        optime = self.my_optime()
        voters = len(config.voters)
        return {
            "set": self.set_name, "date": now, "myState": self.state, "term": Int64(self.term),
            "syncSourceHost": self.syncer.source or "",
            "syncSourceId": self._source_id(),
            "heartbeatIntervalMillis": Int64(config.setting("heartbeatIntervalMillis")),
            "majorityVoteCount": config.majority, "writeMajorityCount": config.majority,
            "votingMembersCount": voters,
            "writableVotingMembersCount": len([m for m in config.voters if not m.arbiter_only]),
            "optimes": {"lastCommittedOpTime": self.commit_point.document(),
                        "lastCommittedWallTime": _ts_date(self.commit_point),
                        "readConcernMajorityOpTime": self.commit_point.document(),
                        "appliedOpTime": optime.document(), "durableOpTime": optime.document(),
                        "lastAppliedWallTime": _ts_date(optime),
                        "lastDurableWallTime": _ts_date(optime)},
            "members": members,
            **({"electionCandidateMetrics": dict(self.election_metrics)}
               if self.state == PRIMARY and self.election_metrics else {}),
        }

    def _source_id(self) -> int:
        source = self.syncer.source
        member = self.config.by_host(source) if source and self.config else None
        return member.id if member else -1

    def _self_status(self, member: MemberConfig) -> dict:
        optime = self.my_optime()
        doc = {"_id": member.id, "name": member.host, "health": 1.0, "state": self.state,
               "stateStr": STATE_NAMES[self.state], "uptime": int(self.server.uptime()),
               "optime": optime.document(), "optimeDate": _ts_date(optime),
               "lastAppliedWallTime": _ts_date(optime), "lastDurableWallTime": _ts_date(optime),
               "syncSourceHost": self.syncer.source or "", "syncSourceId": self._source_id(),
               "infoMessage": "", "configVersion": self.config.version,
               "configTerm": self.config.term, "self": True, "lastHeartbeatMessage": ""}
        if self.state == PRIMARY and self.election_time is not None:
            doc["electionTime"] = self.election_time
            doc["electionDate"] = self.election_date
        return doc

    def _member_status(self, view: MemberView, now: datetime.datetime) -> dict:
        doc = {"_id": view.config.id, "name": view.config.host, "health": view.health,
               "state": view.state, "stateStr": STATE_NAMES.get(view.state, "UNKNOWN"),
               "uptime": int(time.monotonic() - view.uptime_since) if view.uptime_since else 0,
               "optime": view.applied.document(), "optimeDurable": view.durable.document(),
               "optimeDate": _ts_date(view.applied),
               "optimeDurableDate": _ts_date(view.durable),
               "lastHeartbeat": view.last_heartbeat or datetime.datetime(1970, 1, 1),
               "lastHeartbeatRecv": view.last_heartbeat_recv or datetime.datetime(1970, 1, 1),
               "pingMs": Int64(view.ping_ms), "lastHeartbeatMessage": view.message,
               "syncSourceHost": view.sync_source,
               "syncSourceId": self._host_id(view.sync_source),
               "infoMessage": "", "configVersion": view.config_version,
               "configTerm": view.config_term}
        if view.state == PRIMARY and view.election_time is not None:
            doc["electionTime"] = view.election_time
        return doc

    def _host_id(self, host: str) -> int:
        member = self.config.by_host(host) if host and self.config else None
        return member.id if member else -1


def _ts_date(optime: OpTime) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(optime.ts >> 32, datetime.timezone.utc) \
        .replace(tzinfo=None) if optime.ts else datetime.datetime(1970, 1, 1)
