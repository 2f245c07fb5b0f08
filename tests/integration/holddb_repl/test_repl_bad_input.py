"""Bad input to the replica-set commands is answered with mongod's codes,
and leaves the members as they were."""

from __future__ import annotations

import pytest
from pymongo.errors import NotPrimaryError, OperationFailure

from holddb.testing import free_port


class _Failure:
    def __init__(self, exc) -> None:
        self.details = exc.details
        self.code = exc.details["code"]
        self.text = str(exc)

    def __str__(self) -> str:
        return self.text


def _error(client, *args, **kwargs) -> _Failure:
    with pytest.raises((OperationFailure, NotPrimaryError)) as info:
        client.admin.command(*args, **kwargs)
    return _Failure(info.value)


def test_before_initiate(members):
    with members.direct(0) as client:
        error = _error(client, "replSetGetStatus")
        assert error.code == 94 and error.details["codeName"] == "NotYetInitialized"
        assert _error(client, "replSetGetConfig").code == 94
        hello = client.admin.command("hello")
        assert hello["isreplicaset"] is True and "setName" not in hello
        assert hello["isWritablePrimary"] is False


def test_bad_configs_are_refused(members):
    good = members.config()
    with members.direct(0) as client:
        wrong_name = {**good, "_id": "other"}
        error = _error(client, "replSetInitiate", wrong_name)
        assert error.code == 93 and "command line reports replSet0" in str(error)
        dup_id = {**good, "members": [dict(m, _id=0) for m in good["members"]]}
        error = _error(client, "replSetInitiate", dup_id)
        assert error.code == 93 and "same _id field" in str(error)
        dup_host = {**good, "members": [dict(m, host=good["members"][0]["host"])
                                        for m in good["members"]]}
        error = _error(client, "replSetInitiate", dup_host)
        assert error.code == 93 and "same host field" in str(error)
        not_me = {**good, "members": good["members"][1:]}
        error = _error(client, "replSetInitiate", not_me)
        assert error.code == 93 and "maps to this node" in str(error)
        hidden = {**good, "members": [dict(good["members"][0], hidden=True)]}
        assert _error(client, "replSetInitiate", hidden).code == 93
        no_members = {"_id": "replSet0", "members": []}
        assert _error(client, "replSetInitiate", no_members).code == 93
        unknown = {**good, "frobnicate": 1}
        assert _error(client, "replSetInitiate", unknown).code == 93
        unreachable = {**good, "members": good["members"] + [
            {"_id": 9, "host": f"127.0.0.1:{free_port()}"}]}
        error = _error(client, "replSetInitiate", unreachable)
        assert error.code == 74 and "Connection refused" in str(error)
        assert error.details["codeName"] == "NodeNotFound"
        assert _error(client, "replSetGetStatus").code == 94  # nothing was kept


def test_initiate_twice_and_misuse(members):
    members.initiate()
    primary = members.primary_index()
    secondary = (primary + 1) % 3
    with members.direct(primary) as client:
        error = _error(client, "replSetInitiate", members.config())
        assert error.code == 23 and error.details["codeName"] == "AlreadyInitialized"
        assert _error(client, "replSetFreeze", 10).code == 95
        assert _error(client, "replSetSyncFrom", members.hosts[secondary]).code == 95
        config = client.admin.command("replSetGetConfig")["config"]
        error = _error(client, "replSetReconfig", {**config, "version": config["version"]})
        assert error.code == 103
    with members.direct(secondary) as client:
        assert _error(client, "replSetInitiate", members.config()).code == 23
        assert _error(client, "replSetStepDown", 10).code == 10107
        assert _error(client, "replSetSyncFrom", "nowhere:1").code == 74
        assert client.admin.command("replSetSyncFrom", members.hosts[primary])["ok"] == 1
        assert client.admin.command("replSetFreeze", 0)["info"] == "unfreezing"
        config = client.admin.command("replSetGetConfig")["config"]
        assert _error(client, "replSetReconfig", {**config, "version": 5}).code == 10107
    assert sorted(members.states().values()) == ["PRIMARY", "SECONDARY", "SECONDARY"]
