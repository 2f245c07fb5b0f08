"""Failover: kill -9 of the primary under a writing client, the old primary
rejoining as a caught-up SECONDARY, a full restart without a new initiate,
rollback of writes that never reached the others, one primary per term.

How fast a new primary comes is measured in bench/failover_bench.py, not
here.  What is tested is *why* it comes: with an election timeout of a
minute, a new primary within half of it can only come from the fast paths
(the primary's port refuses; it hung up and stays silent; it handed over on
a graceful stop), and replSetGetStatus names the reason.
"""

from __future__ import annotations

import asyncio
import glob
import struct
import threading
import time

import bson
import pymongo
import pytest
from pymongo.read_preferences import ReadPreference

from holddb.repl._client import MemberClient, MemberUnreachable
from holddb.repl.testing import LocalReplicaSet

# long enough that no election in these tests can be an election timeout
PATIENT = {"electionTimeoutMillis": 60000}
FAST_PATH_WITHIN = 30.0




def _wait_count(replset, index: int, db: str, expected: int, timeout: float = 20) -> int:
    deadline = time.monotonic() + timeout
    count = -1
    while time.monotonic() < deadline:
        try:
            with replset.direct(index) as client:
                count = client[db].c.count_documents({})
        except pymongo.errors.PyMongoError:  # e.g. in ROLLBACK for a moment
            count = -1
        if count == expected:
            return count
        time.sleep(0.1)
    return count


def test_kill_primary_new_primary_and_client_carries_on(replset):
    acknowledged: list[int] = []
    errors: list[str] = []
    stop = threading.Event()

    def writer() -> None:
        with pymongo.MongoClient(replset.uri, serverSelectionTimeoutMS=30000,
                                 retryWrites=True) as client:
            coll = client.fo.c.with_options(write_concern=pymongo.WriteConcern(w="majority"))
            n = 0
            while not stop.is_set():
                try:
                    coll.insert_one({"_id": n})
                    acknowledged.append(n)
                except pymongo.errors.DuplicateKeyError as exc:
                    # an earlier attempt landed but its reply was lost and the
                    # driver's single retry failed too: the write is there
                    errors.append(f"{type(exc).__name__}: {exc}")
                except pymongo.errors.PyMongoError as exc:  # failover in progress
                    errors.append(f"{type(exc).__name__}: {exc}")
                    time.sleep(0.05)
                    continue
                n += 1

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        while len(acknowledged) < 50:
            time.sleep(0.05)
        old = replset.primary_index()
        replset.kill(old)
        killed_at, before = time.monotonic(), len(acknowledged)
        while len(acknowledged) == before and time.monotonic() - killed_at < 30:
            time.sleep(0.01)
        recovered = time.monotonic() - killed_at
        assert len(acknowledged) > before, errors[:3]
        assert recovered < 10, recovered
        new = replset.primary_index()
        assert new != old
        while len(acknowledged) < before + 50:
            time.sleep(0.05)
    finally:
        stop.set()
        thread.join(60)
    written = set(acknowledged)
    with replset.direct(new) as client:
        stored = {doc["_id"] for doc in client.fo.c.find()}
    assert written <= stored  # every w:majority acknowledged write survived
    # the old primary comes back as a SECONDARY and catches up
    replset.restart(old)
    states = replset.wait_for_states(1, 2)
    assert states[old] == "SECONDARY" and states[new] == "PRIMARY"
    assert _wait_count(replset, old, "fo", len(stored)) == len(stored)
    terms = [term for term, _ in replset.elections()]
    assert len(terms) == len(set(terms)) >= 2  # at most one primary per term


def test_restart_all_members_same_set_no_initiate(replset):
    with pymongo.MongoClient(replset.uri, serverSelectionTimeoutMS=20000) as client:
        client.rs.c.with_options(write_concern=pymongo.WriteConcern(w=3)).insert_many(
            [{"i": i} for i in range(100)])
    for index in range(3):
        replset.stop(index)
    for index in range(3):
        replset.restart(index)
    replset.wait_for_states(1, 2)
    with pymongo.MongoClient(replset.uri, serverSelectionTimeoutMS=20000) as client:
        assert client.admin.command("replSetGetConfig")["config"]["_id"] == "replSet0"
        client.rs.c.insert_one({"i": 100})
        assert client.rs.c.count_documents({}) == 101
        on_secondary = client.rs.c.with_options(read_preference=ReadPreference.SECONDARY)
        assert on_secondary.count_documents({}) in (100, 101)  # asynchronous replication
    for index in range(3):
        assert _wait_count(replset, index, "rs", 101) == 101


def test_unreplicated_writes_are_rolled_back(replset):
    old = replset.primary_index()
    others = [i for i in range(3) if i != old]
    with replset.direct(old) as client:
        client.rb.c.with_options(write_concern=pymongo.WriteConcern(w=3)).insert_many(
            [{"_id": i, "v": "kept"} for i in range(10)])
        for index in others:  # (a stopped process would still read what was sent)
            replset.stop(index)
        client.rb.c.insert_many([{"_id": i, "v": "lost"} for i in range(10, 15)])
        client.rb.c.update_one({"_id": 0}, {"$set": {"v": "changed-and-lost"}})
    replset.kill(old)
    for index in others:
        replset.restart(index)
    replset.wait_for_states(1, 1)
    new = replset.primary_index()
    with replset.direct(new) as client:
        client.rb.c.insert_one({"_id": 100, "v": "new primary"})
    replset.restart(old)
    states = replset.wait_for_states(1, 2)
    assert states[old] == "SECONDARY"
    assert _wait_count(replset, old, "rb", 11) == 11
    with replset.direct(old) as client:
        docs = {doc["_id"]: doc["v"] for doc in client.rb.c.find()}
    assert docs[0] == "kept" and 100 in docs and not set(range(10, 15)) & set(docs)
    files = glob.glob(f"{replset.workdir}/db{old}/rollback/rb.c.*.bson")
    assert files
    saved = []
    for path in files:
        with open(path, "rb") as handle:
            saved.extend(bson.decode_all(handle.read()))
    assert {doc["_id"] for doc in saved} == {0, 10, 11, 12, 13, 14}


@pytest.fixture
def patient_replset(workdir):
    """Three members whose election timeout is a minute."""
    members = LocalReplicaSet(workdir, settings=PATIENT)
    try:
        members.start()
        members.initiate()
        yield members
    finally:
        members.close()


class _Writer:
    """A replica-set client inserting w:"majority" documents on a thread."""

    def __init__(self, replset) -> None:
        self.acknowledged: list[int] = []
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._client = pymongo.MongoClient(replset.uri, serverSelectionTimeoutMS=45000)
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> "_Writer":
        self._thread.start()
        try:
            self.wait_for(50)
        except BaseException:
            self.__exit__()
            raise
        return self

    def _run(self) -> None:
        coll = self._client.fo.c.with_options(write_concern=pymongo.WriteConcern(w="majority"))
        n = 0
        while not self._stop.is_set():
            try:
                coll.insert_one({"_id": n})
                self.acknowledged.append(n)
            except pymongo.errors.DuplicateKeyError:
                pass  # a lost reply's retry met the stored write: it is there
            except pymongo.errors.PyMongoError as exc:
                self.errors.append(f"{type(exc).__name__}: {exc}")
                time.sleep(0.05)
                continue
            n += 1

    def wait_for(self, more: int, timeout: float = FAST_PATH_WITHIN) -> None:
        target = len(self.acknowledged) + more
        deadline = time.monotonic() + timeout
        while len(self.acknowledged) < target:
            assert time.monotonic() < deadline, self.errors[-3:]
            time.sleep(0.02)

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(60)
        self._client.close()


def _new_primary(replset, old: int) -> tuple[int, dict]:
    """The member that took over from ``old`` and its electionCandidateMetrics."""
    new = replset.primary_index(timeout=FAST_PATH_WITHIN)
    assert new != old
    with replset.direct(new) as client:
        status = client.admin.command("replSetGetStatus")
    return new, status["electionCandidateMetrics"]


def _all_kept(replset, index: int, acknowledged: list[int]) -> None:
    with replset.direct(index) as client:
        stored = {doc["_id"] for doc in client.fo.c.find()}
    assert set(acknowledged) <= stored


def test_graceful_stop_hands_over_without_an_election_timeout(patient_replset):
    replset = patient_replset
    old = replset.primary_index()
    with _Writer(replset) as writer:
        assert replset.processes[old].stop() == 0  # SIGTERM; returns once it exited
        new, metrics = _new_primary(replset, old)
        writer.wait_for(50)
    # the stopping primary told a caught-up secondary to stand, without a dry run
    assert metrics["lastElectionReason"] == "stepUpRequestSkipDryRun"
    assert metrics["electionTimeoutMillis"] == 60000
    with open(f"{replset.workdir}/member{old}.log", encoding="utf-8") as handle:
        log = handle.read()
    assert '"Handing over to a caught-up secondary"' in log
    assert log.index('"Stepping down from primary"') < log.index('"Handing over')
    _all_kept(replset, new, writer.acknowledged)
    terms = [term for term, _ in replset.elections()]
    assert len(terms) == len(set(terms))


def test_killed_primary_refusing_connections_is_replaced_at_once(patient_replset):
    replset = patient_replset
    old = replset.primary_index()
    with _Writer(replset) as writer:
        replset.kill(old)
        new, metrics = _new_primary(replset, old)
        writer.wait_for(50)
    # the port refused (or, seen from the other side, no member was primary)
    assert metrics["lastElectionReason"] in ("primaryRefusedConnections", "noPrimary")
    _all_kept(replset, new, writer.acknowledged)


def test_killed_primary_whose_port_stays_silent_is_replaced_on_hang_up(patient_replset):
    """No refusal: connects succeed and nothing answers (a vanished host or
    container).  The secondaries' connections to the primary were hung up
    on as it died, and it answered nothing since: that is enough to stand."""
    replset = patient_replset
    old = replset.primary_index()
    with _Writer(replset) as writer:
        replset.kill_silently(old)
        new, metrics = _new_primary(replset, old)
        writer.wait_for(50)
    assert metrics["lastElectionReason"] == "primaryConnectionLost"
    _all_kept(replset, new, writer.acknowledged)
    replset.restart(old)  # frees the port; the old primary rejoins and catches up
    states = replset.wait_for_states(1, 2)
    assert states[old] == "SECONDARY"
    with replset.direct(new) as client:
        total = client.fo.c.count_documents({})
    assert _wait_count(replset, old, "fo", total, timeout=30) == total


def _hanging_up_server(requests: list[int]):
    """An OP_MSG server that answers each connection's first request with
    ``{ok: 1}`` and hangs up on its second, as a member killed between two
    requests does; ``requests`` counts what arrives, per connection."""
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = len(requests)
        requests.append(0)
        while True:
            header = await reader.readexactly(16)
            length, request_id = struct.unpack("<ii", header[:8])
            await reader.readexactly(length - 16)
            requests[conn] += 1
            if requests[conn] > 1:
                writer.close()
                return
            body = b"\x00\x00\x00\x00\x00" + bson.encode({"ok": 1.0})
            writer.write(struct.pack("<iiii", 16 + len(body), 1, request_id, 2013) + body)
            await writer.drain()
    return asyncio.start_server(serve, "127.0.0.1", 0)


def test_member_client_reports_hang_ups_and_never_resends_a_fetch():
    """The hang-up signal (on_lost) comes at once, before any retry; with
    retry=False (oplog fetches) the request is not sent again on a new
    connection, since a lost getMore reply may have moved the cursor."""
    async def scenario() -> None:
        requests: list[int] = []
        server = await _hanging_up_server(requests)
        host = f"127.0.0.1:{server.sockets[0].getsockname()[1]}"
        lost: list[str] = []
        try:
            fetcher = MemberClient(host, on_lost=lambda: lost.append("fetcher"))
            assert (await fetcher.command({"find": "oplog.rs"}, timeout=5))["ok"] == 1
            with pytest.raises(MemberUnreachable) as failed:
                await fetcher.command({"getMore": 1}, timeout=5, retry=False)
            assert failed.value.lost and not failed.value.refused
            assert lost == ["fetcher"] and requests == [2]  # not re-sent
            fetcher.close()
            heartbeats = MemberClient(host, on_lost=lambda: lost.append("heartbeat"))
            assert (await heartbeats.command({"replSetHeartbeat": "x"}, timeout=5))["ok"] == 1
            # hung up on, reported, then re-sent on a new connection (idempotent)
            assert (await heartbeats.command({"replSetHeartbeat": "x"}, timeout=5))["ok"] == 1
            assert lost == ["fetcher", "heartbeat"] and requests == [2, 2, 1]
            heartbeats.close()
        finally:
            server.close()
            await server.wait_closed()
    asyncio.run(scenario())
