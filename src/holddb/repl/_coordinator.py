"""The replication coordinator: one per ``--replSet`` server.

Lifecycle: ``ReplCoordinator(server)`` after the storage is open; ``start()``
loads the config from ``local.system.replset`` (a restarted member rejoins
without a new initiate) and starts three kinds of task -- one heartbeat loop
per other member, the election timer, and the oplog syncer (``_sync``);
``await shutdown()`` hands the primary's role to a caught-up secondary (a
graceful stop triggers an election at once) and stops every task.

Member states (``STATE_NAMES``)::

    STARTUP --config--> STARTUP2 (initial sync) --> SECONDARY <--> PRIMARY
                                          ROLLBACK <--/   \\--> REMOVED

What is on disk (the meta table and local.system.replset): the config, the
current term, the newest term this member voted in.  Terms and votes are
written before any message that depends on them is sent.

Elections (protocol version 1): a SECONDARY that has not heard from a
primary for ``electionTimeoutMillis`` (plus up to 15% at random) -- or soon
(0-400ms at random) when the primary certainly is gone -- runs a dry run at
``term + 1``, then increments its term, votes for itself and asks the others
(``replSetRequestVotes``).  A majority of voters makes it PRIMARY; it writes
a no-op entry in its new term before taking writes.  A primary steps down
when it sees a higher term or loses contact with a majority for an election
timeout.  The rules themselves are pure functions in ``_rules``.

Why a member stood is kept as ``lastElectionReason`` in replSetGetStatus's
``electionCandidateMetrics`` (mongod's names where mongod has the case)::

    electionTimeout            no word from a primary for the election timeout
    priorityTakeover           a live primary of lower priority
    stepUpRequest[SkipDryRun]  replSetStepUp: a stepping-down or stopping
                               primary hands its role over
    primaryRefusedConnections  the primary's port refuses connections
                               (a killed process on a live host)
    primaryConnectionLost      the primary hung up a kept connection (the
                               oplog fetcher's, a heartbeat's) and has not
                               answered since, for half a heartbeat interval
                               (a killed process whose host no longer answers)
    primarySteppedDown         the primary said it is no longer primary
    noPrimary                  every member answered and none is primary

The fast reasons only make a member stand sooner; safety does not depend
on them: a dry run is refused by every member that still hears the primary
(and by the primary itself), and a vote is granted once per term.
"""

from __future__ import annotations

import asyncio
import datetime
import random
import time
from dataclasses import dataclass, field
from typing import Any, TYPE_CHECKING

from bson.int64 import Int64
from bson.timestamp import Timestamp

from holddb.errors import MongoError
from holddb.repl._client import MemberClient, MemberUnreachable
from holddb.repl._config import MemberConfig, ReplConfig, is_local_address, is_newer, \
    split_host, validate_config, with_term
from holddb.repl._rules import NULL_OPTIME, OpTime, VoteRequest, decide_vote, \
    election_timeout, takeover_delay

from holddb.repl._commit import CommitMixin
from holddb.repl._states import (ARBITER, DOWN, PRIMARY, REMOVED, SECONDARY, STARTUP,
                                 STARTUP2, STATE_NAMES, UNKNOWN, _now, election_id)
from holddb.repl._status import StatusMixin

if TYPE_CHECKING:  # pragma: no cover
    from holddb.server import Server

__all__ = ["ReplCoordinator", "MemberView", "HANDOFF_WAIT_S"]

CONFIG_NS = ("local", "system.replset")
# A stopping primary waits this long for a caught-up secondary to hand over
# to: well inside the 10 s that container runtimes (and HolddbProcess.stop)
# allow before SIGKILL; a w:"majority" writer keeps one caught up anyway.
HANDOFF_WAIT_S = 2.0


@dataclass
class MemberView:
    """What this member knows of another one, from heartbeats and positions."""
    config: MemberConfig
    client: MemberClient
    state: int = UNKNOWN
    health: float = 0.0
    applied: OpTime = NULL_OPTIME
    durable: OpTime = NULL_OPTIME
    term: int = -1
    election_time: Any = None
    config_version: int = -1
    config_term: int = -1  # of the config it has (heartbeat replies' configTerm)
    sync_source: str = ""
    message: str = ""
    ping_ms: int = 0
    uptime_since: float | None = None
    last_heartbeat: datetime.datetime | None = None
    last_heartbeat_recv: datetime.datetime | None = None
    last_ok: float = 0.0  # monotonic time of the last good reply
    heard: bool = False  # answered, or refused the connection, at least once
    last_heard: float = 0.0  # monotonic time of the last answer or refusal
    refused: bool = False
    lost_at: float | None = None  # it hung up on a kept connection; cleared by an answer
    poke: asyncio.Event = field(default_factory=asyncio.Event)


class ReplCoordinator(StatusMixin, CommitMixin):
    def __init__(self, server: "Server") -> None:
        from holddb.repl._sync import Syncer
        self.server = server
        self.log = server.log
        self.set_name: str = server.options.repl_set
        self.config: ReplConfig | None = None
        self.self_id: int | None = None
        self.state = STARTUP
        storage = server.storage
        self.term = storage.oplog.term
        self.voted_term = int(storage.get_meta("repl_voted_term", -1))
        self.voted_for: int | None = None  # in voted_term (kept in memory only)
        self.members: dict[int, MemberView] = {}
        self.primary_id: int | None = None
        self.commit_point = NULL_OPTIME
        self.last_applied = OpTime.of(storage.oplog.last_entry())
        self.election_time: Timestamp | None = None
        self.election_date: datetime.datetime | None = None
        self.frozen_until = 0.0
        self.last_primary_contact = time.monotonic()
        self.election_due: float | None = None
        self.election_reason: str | None = None  # why election_due was set
        self.election_metrics: dict | None = None  # our last won election (replSetGetStatus)
        self.takeover_since: float | None = None
        self.electing = False
        self.topology_counter = 0
        self._topology_event = asyncio.Event()
        self._progress_event = asyncio.Event()
        self._tasks: dict[str, asyncio.Task] = {}
        self._stopping = False
        self.syncer = Syncer(self)

    # -- lifecycle ------------------------------------------------------------

    def start(self) -> None:
        stored = self._stored_config()
        if stored is not None:
            try:
                config = validate_config(stored, self.set_name, version=stored.get("version"),
                                         term=int(stored.get("term", -1)))
            except MongoError as exc:
                self.log.warning("REPL", 21405, "initandlisten", "Ignoring the stored replica "
                                 "set config", error=exc.message)
            else:
                self.log.info("REPL", 21311, "initandlisten", "Did not find local initialized "
                              "voted for document at startup" if self.voted_term < 0 else
                              "Found the stored replica set config", config=config.document)
                self._install(config, persist=False)
        self._spawn("elections", self._election_loop())
        self._spawn("syncer", self.syncer.run())
        self._spawn("reporter", self._report_loop())
        self._spawn("noop", self._noop_loop())

    def _spawn(self, name: str, coro: Any) -> None:
        old = self._tasks.pop(name, None)
        if old is not None:
            old.cancel()
        self._tasks[name] = asyncio.ensure_future(coro)

    @property
    def stopping(self) -> bool:
        return self._stopping

    async def shutdown(self) -> None:
        """Graceful stop (SIGTERM, ``shutdown``): a primary hands its role over.

        As mongod's shutdown stepdown: first stop being primary (no write is
        accepted from here on, waiting ``w`` writes are answered
        InterruptedDueToReplStateChange and retried by drivers on the next
        primary, and hello says so at once), then wait up to
        ``HANDOFF_WAIT_S`` for an electable secondary that has every entry we
        wrote, and tell it to stand at once without a dry run
        (``replSetStepUp``).  Clients are without a primary for about one
        vote round instead of an election timeout; and because we stopped
        writing before choosing, nothing we acknowledged is left behind.
        Without such a secondary we leave as is and the others elect."""
        self._stopping = True
        if self.state == PRIMARY and self.config is not None:
            self._step_down("shutting down")
            target = await self._caught_up_secondary(HANDOFF_WAIT_S)
            if target is not None:
                self.log.info("REPL", 21344, "SignalHandler", "Handing over to a caught-up "
                              "secondary", target=target.config.host)
                try:
                    await target.client.command({"replSetStepUp": 1, "skipDryRun": True},
                                                timeout=HANDOFF_WAIT_S)
                except MemberUnreachable:
                    pass
        for task in self._tasks.values():
            task.cancel()
        for view in self.members.values():
            view.client.close()

    # -- config ---------------------------------------------------------------

    def _stored_config(self) -> dict | None:
        storage = self.server.storage
        info = storage.collection(*CONFIG_NS)
        if info is None:
            return None
        for _, doc in storage.scan(info):
            return doc
        return None

    def _persist_config(self, config: ReplConfig) -> None:
        storage = self.server.storage
        with storage.transaction():
            storage.oplog.suppress = True
            try:
                info = storage.ensure_collection(*CONFIG_NS)
                for _, doc in list(storage.scan(info)):
                    storage.delete(info, doc)
                storage.insert(info, dict(config.document))
            finally:
                storage.oplog.suppress = False

    def find_self(self, config: ReplConfig) -> MemberConfig | None:
        port = self.server.options.port
        for member in config.members:
            name, member_port = split_host(member.host)
            if member_port == port and is_local_address(member.host):
                return member
        return None

    def _install(self, config: ReplConfig, *, persist: bool = True) -> None:
        """Adopt ``config``: persist it, rebuild the member views, restart the
        heartbeat loops and move out of STARTUP/REMOVED."""
        if persist:
            self._persist_config(config)
        me = self.find_self(config)
        old_views = self.members
        self.config = config
        self.self_id = me.id if me else None
        self.members = {}
        for member in config.members:
            if me is not None and member.id == me.id:
                continue
            view = old_views.pop(member.id, None)
            if view is None or view.config.host != member.host:
                view = MemberView(member, MemberClient(
                    member.host, on_lost=lambda mid=member.id: self.member_hung_up(mid)))
            else:
                view.config = member
            self.members[member.id] = view
        for view in old_views.values():
            view.client.close()
        for name in [n for n in self._tasks if n.startswith("hb:")]:
            self._tasks.pop(name).cancel()
        for view in self.members.values():
            self._spawn(f"hb:{view.config.id}", self._heartbeat_loop(view))
        if me is None:
            self._set_state(REMOVED, "this member is not in the replica set config")
        elif me.arbiter_only:
            self._set_state(ARBITER, "arbiter")
        elif self.state in (STARTUP, REMOVED, ARBITER):
            empty = self.server.storage.oplog.last_entry() is None
            self._set_state(STARTUP2 if empty else SECONDARY, "config installed")
        if self.state == PRIMARY and (me is None or not me.electable):
            self._step_down("no longer electable in the new config")
        self._bump_topology()
        self.log.info("REPL", 21392, "ReplCoord", "New replica set config in use",
                      config=config.document)

    @property
    def me(self) -> MemberConfig | None:
        return self.config.member(self.self_id) if self.config and self.self_id is not None \
            else None

    def my_host(self) -> str:
        me = self.me
        if me is not None:
            return me.host
        host = self.server.options.bind_ip[0]
        if host in ("0.0.0.0", "::"):
            import socket
            host = socket.gethostname()
        return f"{host}:{self.server.options.port}"

    # -- state ----------------------------------------------------------------

    def _set_state(self, state: int, reason: str) -> None:
        if state == self.state:
            return
        self.log.info("REPL", 21358, "ReplCoord", "Replica set state transition",
                      newState=STATE_NAMES[state], oldState=STATE_NAMES[self.state],
                      reason=reason)
        self.state = state
        self._bump_topology()
        for view in self.members.values():
            view.poke.set()  # tell the others at once (heartbeats carry our state)

    def set_state(self, state: int, reason: str) -> None:
        self._set_state(state, reason)

    def _bump_topology(self) -> None:
        self.topology_counter += 1
        self._topology_event.set()
        self._topology_event = asyncio.Event()
        self._progress()
        self._report_event_set()  # a new primary (or state) needs our position

    def _progress(self) -> None:
        self._progress_event.set()
        self._progress_event = asyncio.Event()

    async def wait_topology_change(self, version: dict, seconds: float) -> None:
        """Awaitable hello: return when our topologyVersion moves past the
        client's, or after ``seconds``."""
        counter = version.get("counter")
        if version.get("processId") != self.server.process_id or counter != self.topology_counter:
            return
        event = self._topology_event
        try:
            await asyncio.wait_for(event.wait(), seconds)
        except asyncio.TimeoutError:
            pass

    async def topology_changed(self, seconds: float) -> None:
        """Return at our next state, primary or config change, or after
        ``seconds``: the syncer waits here for a new sync source instead of
        polling, so it follows a new primary (and w:"majority" writes on it
        complete) as soon as we know of it."""
        try:
            await asyncio.wait_for(self._topology_event.wait(), seconds)
        except asyncio.TimeoutError:
            pass

    def _update_term(self, term: int, reason: str) -> None:
        """A higher term seen anywhere: adopt it (on disk first); a primary steps down."""
        if term <= self.term:
            return
        self.term = term
        self.server.storage.oplog.set_term(term)
        if self.state == PRIMARY:
            self._step_down(f"saw a higher term ({term}): {reason}")
        if self.primary_id is not None and self.members.get(self.primary_id) is not None \
                and self.members[self.primary_id].term < term:
            self.primary_id = None
        self._bump_topology()

    def _step_down(self, reason: str) -> None:
        if self.state != PRIMARY:
            return
        self.log.info("REPL", 21343, "ReplCoord", "Stepping down from primary", reason=reason)
        # our newest entry exactly (the term may already be the higher one we saw):
        # votes we cast from now on compare candidates against it
        self.last_applied = OpTime.of(self.server.storage.oplog.last_entry())
        self.primary_id = None
        self.last_primary_contact = time.monotonic()
        self.election_due = None
        self._set_state(SECONDARY, reason)
        self.server.cursors.reap()

    def my_optime(self) -> OpTime:
        if self.state == PRIMARY:
            oplog = self.server.storage.oplog
            last = oplog.last_ts
            return OpTime(self.term, last.time << 32 | last.inc)
        return self.last_applied

    def applied(self, optime: OpTime) -> None:
        """The syncer applied up to ``optime``: report it to the primary."""
        self.last_applied = optime
        self._report_event_set()
        self._progress()

    def _report_event_set(self) -> None:
        event = getattr(self, "_report_wanted", None)
        if event is not None:
            event.set()

    # -- heartbeats -----------------------------------------------------------

    def _heartbeat_request(self) -> dict:
        config = self.config
        return {"replSetHeartbeat": self.set_name, "configVersion": config.version if config
                else -2, "configTerm": config.term if config else -1, "hbv": 1,
                "from": self.my_host(), "fromId": self.self_id if self.self_id is not None
                else -1, "term": Int64(self.term),
                # holddb's addition: the sender's own state, so that a change (a new
                # primary, a finished initial sync) is known at the next heartbeat out
                "state": self.state, "appliedOpTime": self.my_optime().document()}

    async def _heartbeat_loop(self, view: MemberView) -> None:
        while True:
            await self._heartbeat(view)
            interval = self.config.setting("heartbeatIntervalMillis") / 1000 if self.config \
                else 2.0
            try:
                await asyncio.wait_for(view.poke.wait(), interval)
            except asyncio.TimeoutError:
                pass
            view.poke.clear()

    async def _heartbeat(self, view: MemberView) -> None:
        config = self.config
        timeout = min(config.setting("heartbeatTimeoutSecs"),
                      config.setting("electionTimeoutMillis") / 1000) if config else 10.0
        started = time.monotonic()
        view.last_heartbeat = _now()
        try:
            reply = await view.client.command(self._heartbeat_request(), timeout=timeout)
        except MemberUnreachable as exc:
            self._heartbeat_failed(view, str(exc), refused=exc.refused)
            return
        view.ping_ms = int((time.monotonic() - started) * 1000)
        if not reply.get("ok"):
            self._heartbeat_failed(view, str(reply.get("errmsg", "heartbeat failed")),
                                   refused=False)
            return
        self._heartbeat_ok(view, reply)

    def _heartbeat_failed(self, view: MemberView, message: str, *, refused: bool) -> None:
        was_primary = self.primary_id == view.config.id
        view.health, view.state, view.message = 0.0, DOWN, message
        view.heard = view.heard or refused
        if refused:
            view.last_heard = time.monotonic()
        view.refused = refused
        view.uptime_since = None
        if was_primary and refused:
            self.primary_id = None
            self._bump_topology()
            self._elect_soon("primaryRefusedConnections", "the primary refuses connections")
        self._check_majority_contact()

    def member_hung_up(self, member_id: int) -> None:
        """A kept connection to a member (heartbeat, oplog fetcher) was closed
        by its end: suspect it from now until it answers again, and ask it
        at once.  A primary still suspected after ``_lost_grace()`` counts as
        gone (``_primary_lost``)."""
        view = self.members.get(member_id)
        if view is None:
            return
        if view.lost_at is None:
            view.lost_at = time.monotonic()
        view.poke.set()

    def member_host_hung_up(self, host: str) -> None:
        for view in self.members.values():
            if view.config.host == host:
                self.member_hung_up(view.config.id)

    def _lost_grace(self) -> float:
        """How long a member that hung up has to answer before it counts as
        gone: half a heartbeat interval (1 s by default).  A live member
        answers the heartbeat sent at the hang-up within milliseconds; a
        false alarm costs only a refused dry run."""
        interval = self.config.setting("heartbeatIntervalMillis") if self.config else 2000
        return interval / 2000

    def _primary_lost(self, now: float) -> bool:
        """The primary hung up on us and has not answered for the grace."""
        primary = self.members.get(self.primary_id) if self.primary_id is not None else None
        return primary is not None and primary.lost_at is not None and \
            now - primary.lost_at >= self._lost_grace()

    def _heartbeat_ok(self, view: MemberView, reply: dict) -> None:
        now = time.monotonic()
        if view.uptime_since is None:
            view.uptime_since = now
        view.health, view.heard, view.refused, view.last_ok = 1.0, True, False, now
        view.last_heard, view.lost_at = now, None
        view.message = str(reply.get("hbmsg", ""))
        view.state = int(reply.get("state", UNKNOWN))
        view.term = int(reply.get("term", -1))
        view.config_version = int(reply.get("configVersion", -1))
        view.config_term = int(reply.get("configTerm", -1))
        view.sync_source = str(reply.get("syncingTo", ""))
        view.election_time = reply.get("electionTime")
        applied = OpTime.of(reply.get("appliedOpTime"))
        durable = OpTime.of(reply.get("durableOpTime"))
        view.applied = max(view.applied, applied) if view.term == self.term else applied
        view.durable = max(view.durable, durable) if view.term == self.term else durable
        if view.term > self.term:
            self._update_term(view.term, f"heartbeat from {view.config.host}")
        config = reply.get("config")
        if isinstance(config, dict) and self.config is not None and is_newer(
                int(config.get("version", 0)), int(config.get("term", -1)), self.config):
            self._adopt_remote_config(config)
        if view.state == PRIMARY and view.term >= self.term:
            if self.primary_id != view.config.id:
                self.primary_id = view.config.id
                self._bump_topology()
            self.last_primary_contact = now
            self.election_due = None
            if self.state == PRIMARY and view.term == self.term:
                self._step_down("another member is primary in my term")  # cannot happen
        elif self.primary_id == view.config.id:
            self.primary_id = None
            self._bump_topology()
            self._elect_soon("primarySteppedDown", "the primary stepped down")
        if self.state == PRIMARY:
            self._recompute_commit_point()
        else:
            if view.state == PRIMARY:
                self.learn_commit_point(OpTime.of(reply.get("lastCommittedOpTime")))
        self._check_no_primary_anywhere()

    def _adopt_remote_config(self, raw: dict) -> None:
        try:
            config = validate_config(raw, self.set_name, version=int(raw.get("version", 1)),
                                     term=int(raw.get("term", -1)))
        except MongoError as exc:
            self.log.warning("REPL", 21490, "ReplCoord", "Rejected a config from a heartbeat",
                             error=exc.message)
            return
        self._install(config)

    def handle_heartbeat(self, cmd: dict) -> dict:
        """``replSetHeartbeat``: what other members learn about us."""
        if cmd.get("replSetHeartbeat") != self.set_name:
            raise MongoError(93, "Our set name did not match")
        sender = str(cmd.get("from", ""))
        their_version = int(cmd.get("configVersion", -2))
        their_term = int(cmd.get("term", -1))
        if self.config is None:
            if their_version > 0 and sender and not cmd.get("checkEmpty"):
                self._fetch_config_from(sender)
            return {"set": self.set_name, "state": STARTUP, "term": Int64(self.term),
                    "configVersion": -2, "hbmsg": "", "v": -2, "ok": 1.0}
        if their_term > self.term:
            self._update_term(their_term, f"heartbeat from {sender}")
        view = self.members.get(int(cmd.get("fromId", -1)))
        if view is not None:
            view.last_heartbeat_recv = _now()
            if "state" in cmd:
                self._learn_from_request(view, cmd)
        their_config_term = int(cmd.get("configTerm", -1))
        if is_newer(their_version, their_config_term, self.config) and sender:
            self._fetch_config_from(sender)
        reply: dict[str, Any] = {
            "set": self.set_name, "state": self.state, "term": Int64(self.term),
            "configVersion": self.config.version, "configTerm": self.config.term,
            "v": self.config.version, "hbmsg": "",
            "syncingTo": self.syncer.source or "",
            "appliedOpTime": self.my_optime().document(),
            "durableOpTime": self.my_optime().document(),
            "lastCommittedOpTime": self.commit_point.document(),
            "electionId": election_id(self.term),
        }
        if self.state == PRIMARY and self.election_time is not None:
            reply["electionTime"] = self.election_time
        if self.primary_id is not None:
            reply["primaryId"] = self.primary_id
        if (their_version, their_config_term) < (self.config.version, self.config.term):
            reply["config"] = self.config.document
        return reply

    def _learn_from_request(self, view: MemberView, cmd: dict) -> None:
        """The sender told us its state in its heartbeat: a new primary is
        followed at once instead of at our next heartbeat to it."""
        now = time.monotonic()
        state, term = int(cmd.get("state", UNKNOWN)), int(cmd.get("term", -1))
        if view.state != state:
            view.poke.set()  # refresh the rest of our view of it soon
        view.state, view.term, view.health = state, term, 1.0
        view.last_ok = view.last_heard = now
        view.heard, view.refused, view.lost_at = True, False, None
        applied = OpTime.of(cmd.get("appliedOpTime"))
        if applied > view.applied:
            view.applied = applied
        if applied > view.durable:  # every apply is an fsynced commit: applied is durable
            view.durable = applied
            if self.state == PRIMARY:
                self._recompute_commit_point()
        if state == PRIMARY and term >= self.term and self.state != PRIMARY:
            if self.primary_id != view.config.id:
                self.primary_id = view.config.id
                self._bump_topology()
            self.last_primary_contact = now
            self.election_due = None
        elif self.primary_id == view.config.id and state != PRIMARY:
            self.primary_id = None
            self._bump_topology()
            self._elect_soon("primarySteppedDown", "the primary stepped down")

    def _fetch_config_from(self, host: str) -> None:
        """A member with a newer config wrote to us: heartbeat it back to get it."""
        if "config-fetch" in self._tasks and not self._tasks["config-fetch"].done():
            return

        async def fetch() -> None:
            client = MemberClient(host)
            try:
                reply = await client.command(self._heartbeat_request(), timeout=5.0)
            except MemberUnreachable:
                return
            finally:
                client.close()
            raw = reply.get("config")
            if not isinstance(raw, dict):
                return
            if self.config is not None and not is_newer(int(raw.get("version", 0)),
                                                        int(raw.get("term", -1)), self.config):
                return
            try:
                config = validate_config(raw, self.set_name, version=int(raw.get("version", 1)),
                                         term=int(raw.get("term", -1)))
            except MongoError as exc:
                self.log.warning("REPL", 21490, "ReplCoord", "Rejected a fetched config",
                                 error=exc.message)
                return
            if self.find_self(config) is None and self.config is None:
                return
            self._install(config)
            if int(reply.get("term", -1)) > self.term:
                self._update_term(int(reply["term"]), "config fetch")
        self._spawn("config-fetch", fetch())

    def _check_majority_contact(self) -> None:
        """A primary that cannot reach a majority for an election timeout steps down."""
        if self.state != PRIMARY or self.config is None:
            return
        window = self.config.setting("electionTimeoutMillis") / 1000
        now = time.monotonic()
        reachable = sum(1 for v in self.members.values()
                        if v.config.voter and now - v.last_ok < window)
        if self.me is not None and self.me.voter:
            reachable += 1
        if reachable < self.config.majority and now - self.primary_since > window:
            self._step_down("lost contact with a majority of the voting members")

    def _check_no_primary_anywhere(self) -> None:
        """Every member answered (or certainly is down) and none is primary:
        no point waiting out the election timeout."""
        if self.state != SECONDARY or self.primary_id is not None or not self.members \
                or self.electing:
            return
        if self.voted_term >= self.term and self.voted_for not in (None, self.self_id):
            return  # we just voted for another candidate: give it time to say it won
        fresh = time.monotonic() - 1.0
        if all(v.heard and v.last_heard > fresh for v in self.members.values()) and not any(
                v.state == PRIMARY for v in self.members.values()):
            self._elect_soon("noPrimary", "no member is primary")

    # -- elections ------------------------------------------------------------

    primary_since = 0.0

    def _elect_soon(self, reason: str, message: str) -> None:
        """Stand in 0-400ms: the primary certainly is gone.  The random part
        keeps the members that saw it at the same moment from splitting the
        vote."""
        if self.state != SECONDARY or self.me is None or not self.me.electable \
                or self._stopping:
            return
        due = time.monotonic() + random.uniform(0.0, 0.4)
        if self.election_due is None or due < self.election_due:
            self.log.info("ELECTION", 4615652, "ReplCoord", "Scheduling an election soon",
                          reason=message)
            self.election_due, self.election_reason = due, reason

    async def _election_loop(self) -> None:
        while True:
            await asyncio.sleep(0.05)
            try:
                await self._election_tick()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # keep the timer alive; log the bug
                self.log.write("E", "ELECTION", 1, "ReplCoord", "Election timer error",
                               {"error": f"{type(exc).__name__}: {exc}"})

    async def _election_tick(self) -> None:
        config, me = self.config, self.me
        if self.state == PRIMARY:
            self._check_majority_contact()
            return
        if config is None or me is None or self.state != SECONDARY or not me.electable \
                or self.electing or self._stopping:
            return
        now = time.monotonic()
        if now < self.frozen_until:
            return
        timeout_ms = config.setting("electionTimeoutMillis")
        if self._primary_lost(now):
            self.primary_id = None
            self._bump_topology()
            self._elect_soon("primaryConnectionLost", "the primary hung up and has not "
                             "answered since")
        primary = self.members.get(self.primary_id) if self.primary_id is not None else None
        if primary is not None and now - self.last_primary_contact < timeout_ms / 1000:
            self.election_due = None  # (a retry planned before we heard of it)
            self._consider_takeover(primary, now)
            return
        if self.election_due is None:
            self.election_due = self.last_primary_contact + election_timeout(timeout_ms)
            self.election_reason = "electionTimeout"
        if now >= self.election_due:
            await self.stand(self.election_reason or "electionTimeout")

    def _consider_takeover(self, primary: MemberView, now: float) -> None:
        me = self.me
        if me is None or me.priority <= primary.config.priority \
                or self.last_applied < primary.applied:
            self.takeover_since = None
            return
        if self.takeover_since is None:
            self.takeover_since = now
            return
        delay = takeover_delay(me.priority, [m.priority for m in self.config.members],
                               self.config.setting("heartbeatIntervalMillis"))
        if now - self.takeover_since >= delay:
            self.takeover_since = None
            self._spawn("takeover", self.stand("priorityTakeover"))

    async def stand(self, reason: str, *, skip_dry_run: bool = False) -> bool:
        """Run for primary; True if this member won.  ``reason`` is one of the
        names in the module docstring."""
        if self.electing or self.state != SECONDARY or self.me is None:
            return False
        self.electing = True
        self.election_due = None
        try:
            self.log.info("ELECTION", 4615653, "ReplCoord", "Starting an election",
                          reason=reason, term=self.term + 1)
            start_term = self.term
            seen, committed = self.my_optime(), self.commit_point
            # a takeover (or the primary's own hand-off) is meant to replace a live primary
            takeover = reason == "priorityTakeover" or skip_dry_run
            if not skip_dry_run and not await self._vote_round(self.term + 1, dry_run=True,
                                                               takeover=takeover):
                self._election_lost("dry run")
                return False
            # another member won meanwhile: follow it.  Not "a primary_id is
            # set": a primary cut off by the network (no refusal, no hang-up)
            # stays our primary_id, and standing down for it forever would
            # leave the set without a primary for as long as the cut lasts
            if self.term != start_term or self.state != SECONDARY or (
                    self._sees_primary() and not takeover):
                return False
            new_term = self.term + 1
            self._update_term(new_term, "running for election")
            self.voted_term, self.voted_for = new_term, self.self_id
            self.server.storage.set_meta("repl_voted_term", new_term)
            if not await self._vote_round(new_term, dry_run=False):
                self._election_lost("vote")
                return False
            if self.term != new_term or self.state != SECONDARY:
                return False
            await self._catch_up()
            if self.term != new_term or self.state != SECONDARY:
                return False
            self._become_primary()
            self.election_metrics = {
                "lastElectionReason": reason, "lastElectionDate": self.election_date,
                "electionTerm": Int64(new_term),
                "lastCommittedOpTimeAtElection": committed.document(),
                "lastSeenOpTimeAtElection": seen.document(),
                "numVotesNeeded": self.config.majority,
                "priorityAtElection": float(self.me.priority),
                "electionTimeoutMillis": Int64(self.config.setting("electionTimeoutMillis")),
                "newTermStartDate": self.election_date}
            return True
        finally:
            self.electing = False

    def _election_lost(self, phase: str) -> None:
        """Try again in 150-800ms, unless a healthy primary turned up meanwhile."""
        self.log.info("ELECTION", 4615655, "ReplCoord", "Election lost", phase=phase,
                      term=self.term)
        if not self._sees_primary():
            self.election_due = time.monotonic() + random.uniform(0.15, 0.8)

    async def _vote_round(self, term: int, *, dry_run: bool, takeover: bool = False) -> bool:
        config = self.config
        assert config is not None and self.me is not None
        needed = config.majority - (1 if self.me.voter else 0)
        if needed <= 0:
            return True
        request = {"replSetRequestVotes": 1, "setName": self.set_name, "dryRun": dry_run,
                   "term": Int64(term), "candidateIndex": self.self_id,
                   "configVersion": config.version, "configTerm": config.term,
                   "lastAppliedOpTime": self.my_optime().document(), "takeover": takeover}
        voters = [v for v in self.members.values() if v.config.voter]
        timeout = min(config.setting("electionTimeoutMillis") / 1000, 5.0)
        asked = {asyncio.ensure_future(v.client.command(request, timeout=timeout)): v
                 for v in voters}
        pending, granted = set(asked), 0
        try:
            while pending:
                if not any(self._may_answer(asked[task]) for task in pending):
                    return False  # only members we believe gone are left: lose now, retry soon
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    try:
                        reply = task.result()
                    except MemberUnreachable:
                        continue
                    if int(reply.get("term", -1)) > self.term and not dry_run:
                        self._update_term(int(reply["term"]), "vote reply")
                        return False
                    if int(reply.get("term", -1)) > term and dry_run:
                        self._update_term(int(reply["term"]), "dry-run vote reply")
                        return False
                    if reply.get("voteGranted"):
                        granted += 1
                if granted >= needed:
                    return True
            return False
        finally:
            for task in asked:
                task.cancel()

    @staticmethod
    def _may_answer(view: MemberView) -> bool:
        """Worth waiting for: not known to have hung up on us, and not a
        member whose last heartbeat went unanswered (a refusal comes back at
        once; a member not heard from yet, as just after an initiate, is
        given the benefit of the doubt).  A vanished host's request would
        hold the election for the whole timeout, keeping this member from
        standing again meanwhile."""
        if view.lost_at is not None:
            return False
        return view.health > 0 or view.refused or not view.heard

    def handle_request_votes(self, cmd: dict) -> dict:
        if self.config is None:
            raise MongoError(94, "no replset config has been received")
        dry_run = bool(cmd.get("dryRun"))
        term = int(cmd.get("term", -1))
        if not dry_run and term > self.term:
            self._update_term(term, "vote request")
        candidate = self.config.member(int(cmd.get("candidateIndex", -1)))
        request = VoteRequest(str(cmd.get("setName")), term, int(cmd.get("candidateIndex", -1)),
                              int(cmd.get("configVersion", -1)),
                              OpTime.of(cmd.get("lastAppliedOpTime")), dry_run,
                              bool(cmd.get("takeover")))
        granted, reason = decide_vote(
            request, set_name=self.set_name, term=self.term, voted_term=self.voted_term,
            config_version=self.config.version, last_applied=self.my_optime(),
            candidate_is_voter=candidate is not None and candidate.voter,
            sees_primary=self._sees_primary())
        if not granted and reason == "I can see a healthy primary":
            primary = self.members.get(self.primary_id) if self.primary_id is not None else None
            if primary is not None:
                primary.poke.set()  # check it now: the candidate may know better
        if granted and not dry_run:
            self.voted_term, self.voted_for = term, request.candidate_id
            self.server.storage.set_meta("repl_voted_term", term)
            self.last_primary_contact = time.monotonic()
            self.election_due = None
        self.log.info("ELECTION", 51799, "ReplCoord", "Voting", candidate=request.candidate_id,
                      term=term, dryRun=dry_run, granted=granted, reason=reason)
        return {"term": Int64(self.term), "voteGranted": granted, "reason": reason}

    async def _catch_up(self) -> None:
        """Catch-up phase of a new primary: fetch what a member that is ahead
        of us (it had entries the old primary wrote that we lack) has, for at
        most ``catchUpTimeoutMillis`` (-1: until caught up, capped at an
        election timeout), before taking writes."""
        config = self.config
        limit_ms = config.setting("catchUpTimeoutMillis") if config else 0
        if not config or limit_ms == 0:
            return
        cap = config.setting("electionTimeoutMillis") / 1000
        deadline = time.monotonic() + (cap if limit_ms < 0 else min(limit_ms / 1000, cap))
        # members known to be down are not asked: a dead host may not answer for the timeout
        views = [v for v in self.members.values() if not v.config.arbiter_only and v.health
                 and v.lost_at is None]
        await asyncio.gather(*(asyncio.wait_for(self._heartbeat(v), 1.0) for v in views),
                             return_exceptions=True)
        ahead = [v for v in views if v.health and v.applied > self.last_applied]
        if not ahead:
            return
        source = max(ahead, key=lambda v: v.applied)
        self.log.info("ELECTION", 21359, "ReplCoord", "Catching up before taking writes",
                      source=source.config.host, target=str(source.applied))
        try:
            await self.syncer.catch_up(source.config.host, source.applied, deadline)
        except MongoError as exc:  # catching up is best effort; taking office is not
            self.log.warning("ELECTION", 21360, "ReplCoord", "Catch-up failed",
                             error=exc.message)

    def _sees_primary(self) -> bool:
        if self.state == PRIMARY:
            return True
        window = self.config.setting("electionTimeoutMillis") / 1000 if self.config else 10.0
        now = time.monotonic()
        return self.primary_id is not None and now - self.last_primary_contact < window \
            and not self._primary_lost(now)

    def _become_primary(self) -> None:
        storage = self.server.storage
        storage.oplog.set_term(self.term)
        with storage.transaction():
            ts = storage.oplog.next_ts()
            storage.oplog.insert_entry({"ts": ts, "t": Int64(self.term), "v": 2, "op": "n",
                                        "ns": "", "o": {"msg": "new primary"}, "wall": _now()})
        self.election_time = ts
        self.election_date = _now()
        self.primary_id = self.self_id
        self.primary_since = time.monotonic()
        self.last_applied = OpTime(self.term, ts.time << 32 | ts.inc)
        self.log.info("ELECTION", 21450, "ReplCoord", "Election succeeded, assuming primary role",
                      term=self.term)
        self._set_state(PRIMARY, "won the election")
        if self.config is not None and self.config.term < self.term:
            self._install(with_term(self.config, self.term))  # the config's term: mongod 4.4+
        self._recompute_commit_point()

    async def _caught_up_secondary(self, seconds: float) -> MemberView | None:
        """The electable secondary that has (or soon has) everything we wrote."""
        deadline = time.monotonic() + seconds
        target = self.my_optime()
        while True:
            best = [v for v in self.members.values()
                    if v.config.electable and v.health and v.applied >= target]
            if best:
                return max(best, key=lambda v: v.config.priority)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            event = self._progress_event
            try:
                await asyncio.wait_for(event.wait(), min(remaining, 0.1))
            except asyncio.TimeoutError:
                pass
