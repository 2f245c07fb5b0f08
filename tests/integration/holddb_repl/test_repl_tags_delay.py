"""A delayed member (secondaryDelaySecs, priority 0, hidden) and write
concern tag modes (members' tags + settings.getLastErrorModes), on one set:

    member 0, 1   tags {dc: "east"}             electable
    member 2      tags {dc: "west"}, delay 2s   priority 0, hidden

``w: "multiDC"`` ({dc: 2}) needs the delayed western member, so it waits
for the delay; ``w: "majority"`` does not.  Also: the config term a new
primary writes, and the config validation errors."""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import time

import pymongo
import pytest
from pymongo.errors import OperationFailure, WTimeoutError
from pymongo.read_preferences import ReadPreference

from holddb.repl.testing import LocalReplicaSet

DELAY = 2


def _config(members: LocalReplicaSet, **changes) -> dict:
    doc = {"_id": members.name, "members": [
        {"_id": 0, "host": members.hosts[0], "tags": {"dc": "east"}},
        {"_id": 1, "host": members.hosts[1], "tags": {"dc": "east"}},
        {"_id": 2, "host": members.hosts[2], "tags": {"dc": "west"}, "priority": 0,
         "hidden": True, "secondaryDelaySecs": DELAY}],
        "settings": {"getLastErrorModes": {"multiDC": {"dc": 2}}}}
    doc.update(changes)
    return doc


@pytest.fixture(scope="module")
def tagged():
    path = tempfile.mkdtemp(prefix="holddb-tags-")
    members = LocalReplicaSet(path)
    try:
        members.start()
        with members.direct(0) as client:
            client.admin.command("replSetInitiate", _config(members))
        members.wait_for_states(1, 2)
        yield members
    finally:
        members.close()  # SIGKILL: a member a test left SIGSTOPped dies too
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def blank():
    """Three members that stay uninitiated: every config they are offered is bad."""
    path = tempfile.mkdtemp(prefix="holddb-tags-")
    members = LocalReplicaSet(path)
    try:
        members.start()
        yield members
    finally:
        members.close()
        shutil.rmtree(path, ignore_errors=True)


def _wait_for(predicate, timeout: float = 20.0, step: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise AssertionError("condition not met in time")


def test_config_and_hello_show_tags_and_delay(tagged):
    primary = tagged.primary_index()
    assert primary in (0, 1)
    with tagged.direct(primary) as client:
        config = client.admin.command("replSetGetConfig")["config"]
    delayed = config["members"][2]
    assert delayed["secondaryDelaySecs"] == DELAY and delayed["hidden"] is True
    assert delayed["tags"] == {"dc": "west"} and config["members"][0]["tags"] == {"dc": "east"}
    assert config["settings"]["getLastErrorModes"] == {"multiDC": {"dc": 2}}
    with tagged.direct(2) as client:
        hello = client.admin.command("hello")
    assert hello["secondary"] is True and hello["hidden"] is True
    assert hello["secondaryDelaySecs"] == DELAY and hello["tags"] == {"dc": "west"}
    assert tagged.hosts[2] not in hello["hosts"] + hello.get("passives", [])


def test_delayed_member_applies_entries_only_when_they_are_old_enough(tagged):
    primary = tagged.primary_index()
    other = 1 - primary
    with tagged.direct(primary) as client, \
            tagged.direct(other, read_preference=ReadPreference.SECONDARY) as peer, \
            tagged.direct(2, read_preference=ReadPreference.SECONDARY) as delayed:
        written = time.monotonic()
        client.delay.c.with_options(write_concern=pymongo.WriteConcern(w="majority")) \
            .insert_one({"_id": "x"})
        _wait_for(lambda: peer.delay.c.find_one({"_id": "x"}))  # the undelayed secondary
        seen_early = delayed.delay.c.find_one({"_id": "x"})
        _wait_for(lambda: delayed.delay.c.find_one({"_id": "x"}))
        elapsed = time.monotonic() - written
    assert seen_early is None
    assert DELAY - 0.5 <= elapsed < DELAY + 8, elapsed


def test_tag_mode_write_concern(tagged):
    primary = tagged.primary_index()
    with tagged.direct(primary) as client:
        coll = client.tags.c
        multi = coll.with_options(write_concern=pymongo.WriteConcern(w="multiDC",
                                                                     wtimeout=20000))
        started = time.monotonic()
        multi.insert_one({"_id": 1})  # waits for the (delayed) western member
        assert time.monotonic() - started >= DELAY - 0.5
        os.kill(tagged.processes[2].process.pid, signal.SIGSTOP)
        try:
            with pytest.raises(WTimeoutError) as info:
                coll.with_options(write_concern=pymongo.WriteConcern(w="multiDC",
                                                                     wtimeout=1000)) \
                    .insert_one({"_id": 2})
            assert info.value.code == 64
            coll.with_options(write_concern=pymongo.WriteConcern(w="majority",
                                                                 wtimeout=10000)) \
                .insert_one({"_id": 3})  # the two eastern members are a majority
        finally:
            os.kill(tagged.processes[2].process.pid, signal.SIGCONT)
        multi.insert_one({"_id": 4})
        with pytest.raises(OperationFailure) as info:
            coll.with_options(write_concern=pymongo.WriteConcern(w="noSuchMode")) \
                .insert_one({"_id": 5})
        assert info.value.code == 79 and "noSuchMode" in str(info.value)
        assert coll.find_one({"_id": 5}) is None


def test_new_primary_writes_its_term_into_the_config(tagged):
    primary = tagged.primary_index()
    with tagged.direct(primary) as client:
        before = client.admin.command("replSetGetConfig")["config"]
        term = client.admin.command("replSetGetStatus")["term"]
        assert before["term"] == term  # the first primary rewrote the initiate's term 0
        client.admin.command("replSetStepDown", 30, secondaryCatchUpPeriodSecs=10)
    # a list, not the index: member 0 winning must count as found
    new_primary, = _wait_for(lambda: [i for i, s in tagged.states().items()
                                      if s == "PRIMARY" and i != primary])
    assert new_primary == 1 - primary
    with tagged.direct(new_primary) as client:
        term = client.admin.command("replSetGetStatus")["term"]
        config = _wait_for(lambda: (lambda c: c if c["term"] == term else None)(
            client.admin.command("replSetGetConfig")["config"]))
    assert config["version"] == before["version"] and config["term"] > before["term"]
    for index in range(3):  # every member learns the rewritten config by heartbeat
        with tagged.direct(index) as client:
            _wait_for(lambda: client.admin.command("replSetGetConfig")["config"]["term"]
                      == term)
            status = client.admin.command("replSetGetStatus")
        me = next(m for m in status["members"] if m.get("self"))
        assert me["configTerm"] == term
    with tagged.direct(new_primary) as client:  # what each member reports by heartbeat
        _wait_for(lambda: all(m["configTerm"] == term for m in client.admin.command(
            "replSetGetStatus")["members"]))
    tagged.wait_for_states(1, 2)


@pytest.mark.parametrize("change, message", [
    ({2: {"priority": 1, "hidden": False}}, "priority must be 0 when secondaryDelaySecs"),
    ({2: {"slaveDelay": 5}}, "not both"),
    ({2: {"secondaryDelaySecs": -1}}, "secondaryDelaySecs must be a whole number"),
    ({2: {"secondaryDelaySecs": 1.5}}, "secondaryDelaySecs must be a whole number"),
    ({0: {"tags": {"dc": 1}}}, "tags.dc field has non-string value"),
    ({0: {"tags": "east"}}, "tags must be an object"),
    ({"modes": {"multiDC": {"rack": 1}}}, "No member has tag 'rack'"),
    ({"modes": {"multiDC": {"dc": 3}}}, "requires 3 different values of tag 'dc'"),
    ({"modes": {"multiDC": {"dc": 0}}}, "must be a positive integer"),
    ({"modes": {"majority": {"dc": 1}}}, "reserved mode 'majority'"),
    ({"modes": {"multiDC": 2}}, "must be a non-empty object"),
])
def test_bad_configs(blank, change, message):
    doc = _config(blank)
    for key, fields in change.items():
        if key == "modes":
            doc["settings"]["getLastErrorModes"] = fields
        else:
            doc["members"][key].update(fields)
    with blank.direct(0) as client:
        with pytest.raises(OperationFailure) as info:
            client.admin.command("replSetInitiate", doc)
    assert info.value.code == 93 and message in str(info.value), str(info.value)


def test_slave_delay_is_the_old_name(members):
    doc = _config(members)
    delayed = doc["members"][2]
    delayed["slaveDelay"] = delayed.pop("secondaryDelaySecs")
    with members.direct(0) as client:
        client.admin.command("replSetInitiate", doc)
        config = client.admin.command("replSetGetConfig")["config"]
    assert config["members"][2]["secondaryDelaySecs"] == DELAY
    assert "slaveDelay" not in config["members"][2]
