"""Replica-set config validation, with mongod's code (93) and messages."""

from __future__ import annotations

import pytest

from holddb.errors import MongoError
from holddb.repl import validate_config
from holddb.repl._config import split_host


def _config(*members, **extra):
    return {"_id": "rs", "members": list(members) or [
        {"_id": 0, "host": "a:1"}, {"_id": 1, "host": "b:2"}, {"_id": 2, "host": "c:3"}],
        **extra}


def _refused(doc, text):
    with pytest.raises(MongoError) as info:
        validate_config(doc, "rs")
    assert info.value.code == 93 and text in info.value.message, info.value.message


def test_defaults_filled_in():
    config = validate_config(_config(), "rs", term=0)
    assert config.version == 1 and config.majority == 2 and len(config.voters) == 3
    assert config.setting("electionTimeoutMillis") == 10000
    assert config.setting("heartbeatIntervalMillis") == 2000
    member = config.document["members"][0]
    assert member == {"_id": 0, "host": "a:1", "arbiterOnly": False, "buildIndexes": True,
                      "hidden": False, "priority": 1.0, "tags": {}, "secondaryDelaySecs": 0,
                      "votes": 1}
    assert config.document["protocolVersion"] == 1 and "replicaSetId" in config.settings


def test_settings_are_honoured_and_checked():
    config = validate_config(_config(settings={"electionTimeoutMillis": 500}), "rs")
    assert config.setting("electionTimeoutMillis") == 500
    _refused(_config(settings={"heartbeatIntervalMillis": 0}), "greater than 0")


def test_set_name_must_match_the_command_line():
    _refused({**_config(), "_id": "other"}, "command line reports rs")


def test_duplicate_ids_and_hosts():
    _refused(_config({"_id": 0, "host": "a:1"}, {"_id": 0, "host": "b:1"}), "same _id field")
    _refused(_config({"_id": 0, "host": "a:1"}, {"_id": 1, "host": "A:1"}), "same host field")


def test_member_rules():
    _refused(_config({"_id": 0, "host": "a:1", "votes": 2}), "votes must be 0 or 1")
    _refused(_config({"_id": 0, "host": "a:1"}, {"_id": 1, "host": "b:1", "hidden": True}),
             "priority must be 0 when hidden")
    _refused(_config({"_id": 0, "host": "a:1"}, {"_id": 1, "host": "b:1", "votes": 0}),
             "priority must be 0 when non-voting")
    _refused(_config({"_id": 0, "host": "a:1"}, {"_id": 1, "host": "b:1",
                                                 "arbiterOnly": True, "priority": 1}),
             "arbiters must have priority 0")
    _refused(_config({"_id": 0, "host": "a:1", "priority": 1001}), "between 0 and 1000")
    _refused(_config({"_id": 0, "host": "a:1", "colour": "red"}), "Unexpected field colour")
    _refused(_config({"_id": 0}), "host")
    _refused(_config({"_id": 0, "host": "a:99999"}), "port")
    _refused(_config({"_id": 0, "host": "a:1", "priority": 0}), "electable")


def test_set_level_rules():
    _refused({"_id": "rs", "members": []}, "non-empty members")
    _refused({**_config(), "protocolVersion": 0}, "protocolVersion 1")
    _refused({**_config(), "frobnicate": 1}, "Unexpected field frobnicate")
    eight = [{"_id": i, "host": f"h{i}:1"} for i in range(8)]
    _refused(_config(*eight), "voting members")
    seven_and_passive = eight[:7] + [{"_id": 7, "host": "h7:1", "votes": 0, "priority": 0}]
    assert len(validate_config(_config(*seven_and_passive), "rs").voters) == 7


def test_arbiter_defaults_to_priority_zero_and_votes():
    config = validate_config(_config({"_id": 0, "host": "a:1"},
                                     {"_id": 1, "host": "b:1", "arbiterOnly": True}), "rs")
    arbiter = config.member(1)
    assert arbiter.arbiter_only and arbiter.priority == 0 and arbiter.voter
    assert not arbiter.electable and config.majority == 2


def test_split_host():
    assert split_host("mongo-node1:27017") == ("mongo-node1", 27017)
    assert split_host("mongo-node1") == ("mongo-node1", 27017)
