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
