"""Member kinds and priorities: an arbiter votes but holds no data (PSA
failover), and a member of higher priority takes the primary's role over
once it has all the data."""

from __future__ import annotations

import time

import pymongo


def _wait(predicate, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.1)


def test_arbiter_votes_in_a_psa_failover(members):
    config = members.config()
    config["members"][2]["arbiterOnly"] = True
    with members.direct(0) as client:
        client.admin.command("replSetInitiate", config)
    _wait(lambda: sorted(members.states().values()) == ["OTHER", "PRIMARY", "SECONDARY"])
    with members.direct(2) as arbiter:
        hello = arbiter.admin.command("hello")
        assert hello["arbiterOnly"] is True and hello["arbiters"] == [members.hosts[2]]
        assert arbiter.admin.command("replSetGetStatus")["myState"] == 7
    with pymongo.MongoClient(members.uri, serverSelectionTimeoutMS=20000) as client:
        majority = client.psa.c.with_options(write_concern=pymongo.WriteConcern(w="majority"))
        majority.insert_one({"_id": 1})
        old = members.primary_index()
        members.kill(old)
        majority.with_options(write_concern=pymongo.WriteConcern(w=1)).insert_one({"_id": 2})
        new = members.primary_index()
        assert new not in (old, 2)
        assert client.psa.c.count_documents({}) == 2


def test_priority_takeover(replset):
    primary = replset.primary_index()
    target = (primary + 1) % 3
    with replset.direct(primary) as client:
        config = client.admin.command("replSetGetConfig")["config"]
        config["version"] += 1
        config["members"][target]["priority"] = 5
        client.admin.command("replSetReconfig", config)
    _wait(lambda: replset.states().get(target) == "PRIMARY")
    replset.wait_for_states(1, 2)
    with replset.direct(target) as client:
        hello = client.admin.command("hello")
        assert hello["me"] == hello["primary"] == replset.hosts[target]
        assert hello["setVersion"] == 2


def test_primary_steps_down_without_a_majority(workdir):
    import os
    import signal
    from holddb.repl.testing import LocalReplicaSet
    members = LocalReplicaSet(workdir, settings={"electionTimeoutMillis": 1500,
                                                 "heartbeatIntervalMillis": 500})
    try:
        members.start()
        members.initiate()
        primary = members.primary_index()
        with members.direct(primary) as client:
            config = client.admin.command("replSetGetConfig")["config"]
        assert config["settings"]["electionTimeoutMillis"] == 1500
        others = [i for i in range(3) if i != primary]
        for index in others:
            os.kill(members.processes[index].process.pid, signal.SIGSTOP)
        try:
            started = time.monotonic()
            _wait(lambda: members.states()[primary] == "SECONDARY", timeout=15)
            assert time.monotonic() - started < 10
        finally:
            for index in others:
                os.kill(members.processes[index].process.pid, signal.SIGCONT)
        members.wait_for_states(1, 2)
    finally:
        for process in members.processes:
            if process.process is not None and process.process.poll() is None:
                os.kill(process.process.pid, signal.SIGCONT)
        members.close()
