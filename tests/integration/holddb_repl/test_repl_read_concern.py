"""Read concern on a three-member set: majority reads never return a write
a majority does not have (secondaries SIGSTOPped), and return it once they
resume; majority cursors' getMores; snapshot reads and SnapshotTooOld;
linearizable reads; causally consistent sessions reading their own writes
on secondaries; operationTime/$clusterTime; bad readConcern documents."""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import signal
import tempfile
import time

import pymongo
import pytest
from bson.timestamp import Timestamp
from pymongo.errors import ExecutionTimeout, OperationFailure
from pymongo.read_concern import ReadConcern
from pymongo.read_preferences import ReadPreference

from holddb.repl.testing import LocalReplicaSet, raw_command

WAIT_ENV = "HOLDDB_READ_CONCERN_WAIT_MS"
MAJORITY = ReadConcern("majority")

_rc = functools.partial(raw_command, db="rc")  # this module's database by default


@pytest.fixture(scope="module")
def rs():
    """One initiated set for the module, its members started with a short
    default read-concern wait (1.5s) so that the no-maxTimeMS paths are quick."""
    path = tempfile.mkdtemp(prefix="holddb-rc-")
    members = LocalReplicaSet(path)
    previous = os.environ.get(WAIT_ENV)
    os.environ[WAIT_ENV] = "1500"
    try:
        try:
            members.start()
        finally:
            if previous is None:
                os.environ.pop(WAIT_ENV, None)
            else:
                os.environ[WAIT_ENV] = previous
        members.initiate()
        yield members
    finally:
        members.close()  # SIGKILL: a member a test left SIGSTOPped dies too
        shutil.rmtree(path, ignore_errors=True)


@contextlib.contextmanager
def stopped(members: LocalReplicaSet, indexes: list[int]):
    """SIGSTOP members for the block: they neither apply nor answer."""
    for index in indexes:
        os.kill(members.processes[index].process.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        for index in indexes:
            os.kill(members.processes[index].process.pid, signal.SIGCONT)




def _roles(rs: LocalReplicaSet) -> tuple[int, list[int]]:
    primary = rs.primary_index()
    return primary, [i for i in range(3) if i != primary]


def _majority_write(coll, doc: dict) -> None:
    coll.with_options(write_concern=pymongo.WriteConcern(w="majority", wtimeout=20000)) \
        .insert_one(doc)


def test_majority_read_never_returns_an_unreplicated_write(rs):
    primary, secondaries = _roles(rs)
    with rs.direct(primary) as client:
        coll, other = client.rc.fresh, client.rc.other
        _majority_write(coll, {"_id": "old"})
        _majority_write(other, {"_id": "untouched"})
        majority = coll.with_options(read_concern=MAJORITY)
        with stopped(rs, secondaries):
            coll.insert_one({"_id": "new"})  # w:1: only the primary has it
            assert coll.find_one({"_id": "new"}) is not None  # local sees it
            started = time.monotonic()
            with pytest.raises(ExecutionTimeout) as info:
                majority.find_one({"_id": "new"}, max_time_ms=800)
            assert info.value.code == 50 and time.monotonic() - started >= 0.7
            with pytest.raises(ExecutionTimeout):  # not even the old document:
                majority.find_one({"_id": "old"}, max_time_ms=300)  # the read is refused
            with pytest.raises(ExecutionTimeout):
                majority.count_documents({}, maxTimeMS=300)
            # a collection without uncommitted writes is read at once
            assert other.with_options(read_concern=MAJORITY).find_one() == {"_id": "untouched"}
            # without maxTimeMS: holddb's own bound, then 134 (no older snapshot to serve)
            reply = _rc(rs.ports[primary], {"find": "fresh", "filter": {"_id": "new"},
                                             "readConcern": {"level": "majority"}})
            assert reply["ok"] == 0 and reply["code"] == 134
            assert reply["codeName"] == "ReadConcernMajorityNotAvailableYet"
            assert "operationTime" in reply and "$clusterTime" in reply
        # the secondaries resume: the write reaches a majority and is returned
        found = majority.find_one({"_id": "new"}, max_time_ms=15000)
        assert found == {"_id": "new"}
    for index in secondaries:
        with rs.direct(index, read_preference=ReadPreference.SECONDARY) as client:
            coll = client.rc.fresh.with_options(read_concern=MAJORITY)
            assert coll.find_one({"_id": "new"}, max_time_ms=15000) == {"_id": "new"}


def test_majority_cursor_getmore_waits_for_the_commit_point(rs):
    primary, secondaries = _roles(rs)
    with rs.direct(primary) as client:
        coll = client.rc.cursor
        for i in range(5):
            _majority_write(coll, {"_id": i})
        cursor = coll.with_options(read_concern=MAJORITY).find({}, batch_size=2)
        assert [next(cursor)["_id"], next(cursor)["_id"]] == [0, 1]
        with stopped(rs, secondaries):
            coll.insert_one({"_id": 99})
            with pytest.raises(OperationFailure) as info:
                next(cursor)  # the getMore would read past the commit point
            assert info.value.code == 134
        cursor.close()
        again = coll.with_options(read_concern=MAJORITY).find({}, batch_size=2,
                                                             max_time_ms=15000)
        assert sorted(d["_id"] for d in again) == [0, 1, 2, 3, 4, 99]


def test_snapshot_reads(rs):
    primary, _ = _roles(rs)
    with pymongo.MongoClient(rs.uri, serverSelectionTimeoutMS=20000) as client:
        coll = client.rc.snap
        _majority_write(coll, {"_id": 1})
        _majority_write(client.rc.snap_other, {"_id": 1})
        reply = client.rc.command("find", "snap", readConcern={"level": "snapshot"})
        at = reply["cursor"]["atClusterTime"]
        assert isinstance(at, Timestamp) and reply["cursor"]["firstBatch"] == [{"_id": 1}]
        with client.start_session(snapshot=True) as session:
            assert coll.find_one({}, session=session) == {"_id": 1}
            _majority_write(coll, {"_id": 2})
            # the session reads at its first read's time; that state is gone
            with pytest.raises(OperationFailure) as info:
                coll.find_one({}, session=session)
            assert info.value.code == 239 and info.value.details["codeName"] == "SnapshotTooOld"
            # what did not change since is still readable at that time
            assert client.rc.snap_other.find_one({}, session=session) == {"_id": 1}
        assert client.rc.snap.distinct("_id", session=None) == [1, 2]
        reply = client.rc.command("distinct", "snap", key="_id",
                                  readConcern={"level": "snapshot"})
        assert reply["values"] == [1, 2] and isinstance(reply["atClusterTime"], Timestamp)
    reply = _rc(rs.ports[primary], {"count": "snap", "readConcern": {"level": "snapshot"}})
    assert reply["code"] == 72 and "snapshot" in reply["errmsg"]


def test_linearizable_reads(rs):
    primary, secondaries = _roles(rs)
    with rs.direct(primary) as client:
        coll = client.rc.lin
        _majority_write(coll, {"_id": 1})
        linear = coll.with_options(read_concern=ReadConcern("linearizable"))
        assert linear.find_one({"_id": 1}, max_time_ms=10000) == {"_id": 1}
        with stopped(rs, secondaries):  # no majority can confirm we are still primary
            with pytest.raises(ExecutionTimeout):
                linear.find_one({"_id": 1}, max_time_ms=500)
    reply = _rc(rs.ports[secondaries[0]], {
        "find": "lin", "readConcern": {"level": "linearizable"},
        "$readPreference": {"mode": "secondary"}})
    assert reply["code"] == 10107 and "linearizable" in reply["errmsg"]


def test_causal_consistency_reads_own_writes_on_secondaries(rs):
    with pymongo.MongoClient(rs.uri, serverSelectionTimeoutMS=20000) as client:
        coll = client.rc.causal
        secondary = coll.with_options(read_preference=ReadPreference.SECONDARY)
        with client.start_session(causal_consistency=True) as session:
            for i in range(30):
                coll.insert_one({"_id": i}, session=session)
                # the read carries afterClusterTime = the insert's operationTime:
                # the secondary answers only once it has applied that far
                assert secondary.find_one({"_id": i}, session=session) == {"_id": i}
                coll.update_one({"_id": i}, {"$set": {"n": i}}, session=session)
                assert secondary.find_one({"_id": i}, session=session)["n"] == i
            assert isinstance(session.operation_time, Timestamp)
            assert session.cluster_time["clusterTime"] >= session.operation_time


def test_after_cluster_time_waits_and_times_out(rs):
    primary, secondaries = _roles(rs)
    reply = _rc(rs.ports[primary], {"ping": 1}, db="admin")
    now = reply["operationTime"]
    assert isinstance(now, Timestamp) and isinstance(reply["$clusterTime"]["clusterTime"],
                                                     Timestamp)
    future = Timestamp(now.time + 3600, 1)
    for index in (primary, secondaries[0]):
        reply = _rc(rs.ports[index], {
            "find": "c", "readConcern": {"afterClusterTime": future}, "maxTimeMS": 300,
            "$readPreference": {"mode": "secondaryPreferred"}})
        assert reply["code"] == 50, reply
        reply = _rc(rs.ports[index], {
            "find": "c", "readConcern": {"afterClusterTime": now},
            "$readPreference": {"mode": "secondaryPreferred"}})
        assert reply["ok"] == 1, reply
    reply = _rc(rs.ports[secondaries[0]], {
        "find": "c", "readConcern": {"afterClusterTime": future},
        "$readPreference": {"mode": "secondary"}})
    assert reply["code"] == 262  # holddb's own bound without maxTimeMS


@pytest.mark.parametrize("read_concern, code", [
    ("majority", 14),
    ({"level": "bogus"}, 9),
    ({"level": 1}, 14),
    ({"level": "majority", "extra": 1}, 40415),
    ({"afterClusterTime": "yesterday"}, 14),
    ({"afterClusterTime": Timestamp(0, 0)}, 9),
    ({"level": "majority", "atClusterTime": Timestamp(5, 1)}, 72),
    ({"level": "linearizable", "afterClusterTime": Timestamp(5, 1)}, 72),
    ({"afterClusterTime": Timestamp(5, 1), "afterOpTime": {"ts": Timestamp(5, 1), "t": 1}}, 72),
])
def test_bad_read_concern(rs, read_concern, code):
    primary = rs.primary_index()
    reply = _rc(rs.ports[primary], {"find": "c", "readConcern": read_concern})
    assert reply["ok"] == 0 and reply["code"] == code, reply


def test_levels_other_commands_refuse(rs):
    primary = rs.primary_index()
    reply = _rc(rs.ports[primary], {"insert": "c", "documents": [{"a": 1}],
                                     "readConcern": {"level": "majority"}})
    assert reply["code"] == 72
    reply = _rc(rs.ports[primary], {"listCollections": 1,
                                     "readConcern": {"level": "linearizable"}})
    assert reply["code"] == 72
    # a causally consistent session sends afterClusterTime with writes: accepted
    now = _rc(rs.ports[primary], {"ping": 1}, db="admin")["operationTime"]
    reply = _rc(rs.ports[primary], {"insert": "c", "documents": [{"a": 1}],
                                     "readConcern": {"afterClusterTime": now}})
    assert reply["ok"] == 1 and reply["n"] == 1


def test_secondary_refuses_unflagged_majority_read_at_once(rs):
    _, secondaries = _roles(rs)
    started = time.monotonic()
    reply = _rc(rs.ports[secondaries[0]], {"find": "c", "readConcern": {"level": "majority"}})
    assert reply["code"] == 13435 and time.monotonic() - started < 1.0
