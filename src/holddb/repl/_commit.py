"""Positions, the majority commit point and write concern.

Secondaries report how far they applied (``replSetUpdatePosition``); the
primary turns the positions into the commit point (``_rules.commit_point``)
and holds each write's reply until its ``w`` holds.  A mixin of
:class:`ReplCoordinator` (``_coordinator.py``).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from holddb.errors import MongoError
from holddb.repl._client import MemberUnreachable
from holddb.repl._rules import OpTime, commit_point, count_acknowledged
from holddb.repl._states import PRIMARY

__all__ = ["CommitMixin", "NOOP_INTERVAL"]

NOOP_INTERVAL = 10.0  # seconds; mongod's periodicNoopIntervalSecs


class CommitMixin:
    """replSetUpdatePosition, the commit point, write concern waiting."""
    # -- positions, commit point, write concern -------------------------------

    def handle_update_position(self, cmd: dict) -> dict:
        optimes = cmd.get("optimes")
        if not isinstance(optimes, list):
            raise MongoError(2, "replSetUpdatePosition needs an optimes array")
        for entry in optimes:
            if not isinstance(entry, dict):
                continue
            view = self.members.get(int(entry.get("memberId", -1)))
            if view is None:
                continue
            view.applied = max(view.applied, OpTime.of(entry.get("appliedOpTime")))
            view.durable = max(view.durable, OpTime.of(entry.get("durableOpTime")))
            view.last_ok = time.monotonic()
        if self.state == PRIMARY:
            self._recompute_commit_point()
        self._progress()
        return {"lastCommittedOpTime": self.commit_point.document()}

    def _durable_positions(self) -> dict[int, OpTime]:
        positions = {v.config.id: v.durable for v in self.members.values()
                     if not v.config.arbiter_only}
        if self.self_id is not None:
            positions[self.self_id] = self.my_optime()
        return positions

    def _recompute_commit_point(self) -> None:
        if self.config is None:
            return
        voters = [m.id for m in self.config.members if m.voter and not m.arbiter_only]
        majority = min(self.config.majority, len(voters))
        new = commit_point(self._durable_positions(), voters, majority, self.term,
                           self.commit_point)
        if new != self.commit_point:
            self.commit_point = new
            self._progress()

    async def _report_loop(self) -> None:
        """Tell the primary how far we applied (replSetUpdatePosition)."""
        self._report_wanted = asyncio.Event()
        while True:
            await self._report_wanted.wait()
            self._report_wanted.clear()
            primary = self.members.get(self.primary_id) if self.primary_id is not None else None
            if primary is None or self.self_id is None or self.config is None:
                continue
            optime = self.last_applied.document()
            request = {"replSetUpdatePosition": 1, "optimes": [
                {"memberId": self.self_id, "cfgver": self.config.version,
                 "appliedOpTime": optime, "durableOpTime": optime}]}
            try:
                reply = await self._to_current_primary(
                    primary.config.id, primary.client.command(request, timeout=5.0))
            except MemberUnreachable:
                await asyncio.sleep(0.1)
                self._report_wanted.set()  # a position must not be lost: try again
                continue
            if reply is None:  # a new primary meanwhile: tell it instead, at once
                self._report_wanted.set()
                continue
            if not reply.get("ok"):
                continue
            self.learn_commit_point(OpTime.of(reply.get("lastCommittedOpTime")))

    async def _to_current_primary(self, primary_id: int, request: Any) -> dict | None:
        """Await a request to our primary, or give it up (None) when another
        member becomes our primary first: a report stuck on a primary that
        died silently would otherwise hold back the new primary's first
        w:"majority" writes for the whole timeout."""
        sending = asyncio.ensure_future(request)
        try:
            while not sending.done():
                change = asyncio.ensure_future(self.topology_changed(5.0))
                await asyncio.wait({sending, change}, return_when=asyncio.FIRST_COMPLETED)
                change.cancel()
                if not sending.done() and self.primary_id != primary_id:
                    return None
            return sending.result()
        finally:
            if not sending.done():
                sending.cancel()
                await asyncio.gather(sending, return_exceptions=True)

    def learn_commit_point(self, committed: OpTime) -> None:
        """A non-primary adopts the primary's commit point, capped at what it
        applied -- but only where it is sure the cap is on the committed
        branch of history: an entry of the commit point's own term (one
        primary per term, whose oplog is linear) or the commit point itself.
        An entry of an older term past which we cannot see may be one a
        deposed primary (we) wrote and the set never had; counting it as
        committed would let a majority read return what rollback removes."""
        if committed <= self.commit_point:
            return
        if committed > self.last_applied and committed.term != self.last_applied.term:
            return
        self.commit_point = min(committed, self.last_applied)
        self._progress()  # majority reads waiting on a secondary

    def check_write_concern(self, cmd: dict) -> None:
        concern = cmd.get("writeConcern")
        if not isinstance(concern, dict):
            return
        w = concern.get("w", 1)
        if isinstance(w, str) and w != "majority" and (
                self.config is None or w not in self.config.setting("getLastErrorModes")):
            raise MongoError(79, f"No write concern mode named '{w}' found in replica set "
                                 "configuration")
        if isinstance(w, (int, float)) and not isinstance(w, bool) and w > 1:
            data_members = len([m for m in self.config.members if not m.arbiter_only]) \
                if self.config else 1
            if w > data_members:
                raise MongoError(100, "Not enough data-bearing nodes")

    async def await_write_concern(self, cmd: dict, reply: dict) -> dict:
        """Hold a write's reply until its ``w`` is satisfied (or ``wtimeout``)."""
        concern = cmd.get("writeConcern")
        if not isinstance(concern, dict) or reply.get("ok") != 1:
            return reply
        w = concern.get("w", 1)
        if w in (0, 1, None) or isinstance(w, bool):
            return reply
        target = self.my_optime()
        wtimeout = concern.get("wtimeout") or concern.get("wtimeoutMS") or 0
        deadline = time.monotonic() + wtimeout / 1000 if wtimeout else None
        while not self._satisfied(w, target):
            if self.state != PRIMARY:
                reply["writeConcernError"] = {
                    "code": 11602, "codeName": "InterruptedDueToReplStateChange",
                    "errmsg": "operation was interrupted because the primary stepped down"}
                return reply
            event = self._progress_event
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                reply["writeConcernError"] = {
                    "code": 64, "codeName": "WriteConcernFailed",
                    "errmsg": "waiting for replication timed out",
                    "errInfo": {"wtimeout": True, "writeConcern": dict(concern)}}
                return reply
            try:
                await asyncio.wait_for(event.wait(), min(remaining or 1.0, 1.0))
            except asyncio.TimeoutError:
                pass
        return reply

    def _satisfied(self, w: Any, target: OpTime) -> bool:
        if w == "majority":
            return self.commit_point >= target
        if isinstance(w, str):
            return self._tags_satisfied(w, target)
        return count_acknowledged(self._durable_positions(), target) >= int(w)

    def _tags_satisfied(self, mode: str, target: OpTime) -> bool:
        """A ``getLastErrorModes`` mode such as ``{dc: 2}``: members that have
        the write must carry at least 2 different values of tag ``dc``."""
        config = self.config
        modes = config.setting("getLastErrorModes") if config is not None else {}
        if mode not in modes:  # the config changed while the write waited
            return False
        having = [config.member(member_id) for member_id, optime
                  in self._durable_positions().items() if optime >= target]
        for tag, needed in modes[mode].items():
            values = {m.tags[tag] for m in having if m is not None and tag in m.tags}
            if len(values) < needed:
                return False
        return True

    def append_noop(self, message: str) -> OpTime:
        """Write a no-op entry in the primary's term; returns its optime (the
        periodic no-op, and the majority round of a linearizable read)."""
        from bson.int64 import Int64
        from holddb.repl._states import _now
        oplog = self.server.storage.oplog
        with self.server.storage.transaction():
            ts = oplog.next_ts()
            oplog.insert_entry({"ts": ts, "t": Int64(self.term), "v": 2, "op": "n", "ns": "",
                                "o": {"msg": message}, "wall": _now()})
        return OpTime(self.term, ts.time << 32 | ts.inc)

    # -- read concern (``_read_concern``) ---------------------------------------

    @property
    def read_gate(self) -> Any:
        gate = self.__dict__.get("_read_gate")
        if gate is None:
            from holddb.repl._read_concern import ReadConcernGate
            gate = self.__dict__["_read_gate"] = ReadConcernGate(self)
        return gate

    async def await_read_concern(self, cmd: dict, db: str) -> MongoError | None:
        """Before a command: None when it may run now, else the error to answer."""
        return await self.read_gate.wait(cmd, db)

    async def finish_read(self, cmd: dict, db: str, reply: dict) -> dict:
        """After a command: linearizable confirmation, operationTime, $clusterTime."""
        return await self.read_gate.finish(cmd, db, reply)

    async def _noop_loop(self) -> None:
        """An idle primary writes a no-op every 10 seconds (as mongod does), so
        that lastWrite dates and the commit point keep moving and drivers'
        staleness estimates stay true."""
        while True:
            await asyncio.sleep(NOOP_INTERVAL)
            if self.state != PRIMARY or self.server.storage is None:
                continue
            oplog = self.server.storage.oplog
            if time.time() - oplog.last_ts.time < NOOP_INTERVAL:
                continue
            self.append_noop("periodic noop")
