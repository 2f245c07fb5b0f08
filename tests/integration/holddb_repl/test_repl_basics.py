"""A three-member set: initiate, status, replication of 1000 inserts,
secondaries refusing writes and unflagged reads, hello as a member,
awaitable hello, write concern."""

from __future__ import annotations

import os
import signal
import threading
import time

import pymongo
import pytest
from pymongo.errors import NotPrimaryError, WTimeoutError
from pymongo.read_preferences import ReadPreference

from holddb.repl.testing import raw_command




def test_initiate_and_status(shared_replset):
    primary = shared_replset.primary_index()
    deadline = time.monotonic() + 10  # the primary hears the others' states by heartbeat
    while True:
        with shared_replset.direct(primary) as client:
            status = client.admin.command("replSetGetStatus")
        states = sorted(m["stateStr"] for m in status["members"])
        if states == ["PRIMARY", "SECONDARY", "SECONDARY"] or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert status["set"] == "replSet0" and status["myState"] == 1 and status["term"] >= 1
    assert states == ["PRIMARY", "SECONDARY", "SECONDARY"]
    for member in status["members"]:
        for key in ("_id", "name", "health", "state", "stateStr", "uptime", "optime",
                    "optimeDate", "syncSourceHost", "configVersion"):
            assert key in member, key
        if member.get("self"):
            assert member["stateStr"] == "PRIMARY" and "electionTime" in member
        else:
            assert member["health"] == 1 and "lastHeartbeat" in member and "pingMs" in member
    with shared_replset.direct(primary) as client:
        config = client.admin.command("replSetGetConfig")["config"]
        stored = client.local["system.replset"].find_one()
    assert [m["host"] for m in config["members"]] == shared_replset.hosts
    assert stored["_id"] == "replSet0" and stored["version"] == config["version"]


def test_hello_as_member(shared_replset):
    primary = shared_replset.primary_index()
    secondary = (primary + 1) % 3
    with shared_replset.direct(primary) as client:
        hello = client.admin.command("hello")
    assert hello["setName"] == "replSet0" and hello["isWritablePrimary"] is True
    assert hello["secondary"] is False and hello["hosts"] == shared_replset.hosts
    assert hello["primary"] == hello["me"] == shared_replset.hosts[primary]
    assert hello["setVersion"] == 1 and "electionId" in hello and "lastWrite" in hello
    assert hello["logicalSessionTimeoutMinutes"] == 30 and "topologyVersion" in hello
    assert "isreplicaset" not in hello
    with shared_replset.direct(secondary) as client:
        hello = client.admin.command("isMaster")
    assert hello["ismaster"] is False and hello["secondary"] is True
    assert hello["primary"] == shared_replset.hosts[primary]
    assert hello["me"] == shared_replset.hosts[secondary] and "electionId" not in hello


def test_inserts_replicate_to_secondaries(shared_replset):
    with pymongo.MongoClient(shared_replset.uri, serverSelectionTimeoutMS=20000) as client:
        coll = client.walk.demo
        for i in range(1, 1001):
            coll.insert_one({"exampleValue": i})
        secondary = coll.with_options(read_preference=ReadPreference.SECONDARY)
        deadline = time.monotonic() + 20
        while secondary.count_documents({}) < 1000 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert secondary.count_documents({}) == 1000
        preferred = coll.with_options(read_preference=ReadPreference.SECONDARY_PREFERRED)
        assert preferred.find_one({"exampleValue": 500})["exampleValue"] == 500
    for index, state in shared_replset.states().items():
        assert state in ("PRIMARY", "SECONDARY")
        with shared_replset.direct(index) as direct:
            assert direct.walk.demo.count_documents({}) == 1000
            entry = direct.local["oplog.rs"].find_one({"op": "i", "ns": "walk.demo"})
        assert {"ts", "t", "v", "op", "ns", "o", "ui", "wall"} <= set(entry)


def test_secondary_refuses_writes_and_unflagged_reads(shared_replset):
    primary = shared_replset.primary_index()
    secondary = (primary + 1) % 3
    with shared_replset.direct(secondary) as client:
        with pytest.raises(NotPrimaryError) as info:
            client.test.c.insert_one({"a": 1})
        assert info.value.details["code"] == 10107
        assert info.value.details["codeName"] == "NotWritablePrimary"
    port = shared_replset.ports[secondary]
    reply = raw_command(port, {"find": "c", "filter": {}})
    assert reply["ok"] == 0 and reply["code"] == 13435
    assert reply["codeName"] == "NotPrimaryNoSecondaryOk"
    reply = raw_command(port, {"find": "c", "filter": {}, "$readPreference": {"mode": "secondary"}})
    assert reply["ok"] == 1
    reply = raw_command(port, {"insert": "c", "documents": [{"a": 1}]})
    assert reply["code"] == 10107


def test_awaitable_hello_returns_on_state_change(shared_replset):
    primary = shared_replset.primary_index()
    port = shared_replset.ports[primary]
    first = raw_command(port, {"hello": 1}, db="admin")
    version = first["topologyVersion"]
    result: dict = {}

    def wait() -> None:
        started = time.monotonic()
        result["reply"] = raw_command(port, {"hello": 1, "topologyVersion": version,
                                      "maxAwaitTimeMS": 20000}, db="admin")
        result["seconds"] = time.monotonic() - started

    waiter = threading.Thread(target=wait)
    waiter.start()
    time.sleep(0.5)
    with shared_replset.direct(primary) as client:
        client.admin.command("replSetStepDown", 10, secondaryCatchUpPeriodSecs=5)
    waiter.join(30)
    assert result["seconds"] < 10
    assert result["reply"]["isWritablePrimary"] is False
    assert result["reply"]["topologyVersion"]["counter"] > version["counter"]
    new_primary = shared_replset.primary_index()
    assert new_primary != primary
    shared_replset.wait_for_states(1, 2)


def test_majority_write_waits_for_replication(shared_replset):
    primary = shared_replset.primary_index()
    others = [i for i in range(3) if i != primary]
    with shared_replset.direct(primary) as client:
        coll = client.wc.c
        majority = coll.with_options(write_concern=pymongo.WriteConcern(w="majority",
                                                                        wtimeout=10000))
        majority.insert_one({"_id": "first"})
        for index in others:
            os.kill(shared_replset.processes[index].process.pid, signal.SIGSTOP)
        try:
            timed = coll.with_options(write_concern=pymongo.WriteConcern(w="majority",
                                                                         wtimeout=1000))
            with pytest.raises(WTimeoutError) as info:
                timed.insert_one({"_id": "unreplicated"})
            assert info.value.code == 64
            assert coll.find_one({"_id": "unreplicated"}) is not None  # applied locally
            with pytest.raises(WTimeoutError):
                coll.with_options(write_concern=pymongo.WriteConcern(w=2, wtimeout=500)) \
                    .insert_one({"_id": "w2"})
        finally:
            for index in others:
                os.kill(shared_replset.processes[index].process.pid, signal.SIGCONT)
        started = time.monotonic()
        majority.insert_one({"_id": "after"})
        assert time.monotonic() - started < 10
        coll.with_options(write_concern=pymongo.WriteConcern(w=3, wtimeout=10000)) \
            .insert_one({"_id": "all"})
    for index in others:
        with shared_replset.direct(index) as direct:
            assert direct.wc.c.find_one({"_id": "all"}) is not None
    with shared_replset.direct(primary) as client:
        with pytest.raises(pymongo.errors.OperationFailure) as info:
            client.wc.c.with_options(write_concern=pymongo.WriteConcern(w=5)).insert_one({})
        assert info.value.code == 100
