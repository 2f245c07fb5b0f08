"""Handshake and admin commands, as drivers and mongosh send them."""

import pytest
from pymongo.errors import OperationFailure


def test_hello_fields_drivers_need(client):
    reply = client.admin.command("hello")
    for field in ("isWritablePrimary", "maxBsonObjectSize", "maxMessageSizeBytes",
                  "maxWriteBatchSize", "localTime", "logicalSessionTimeoutMinutes",
                  "connectionId", "minWireVersion", "maxWireVersion", "topologyVersion"):
        assert field in reply
    assert client.admin.command("isMaster")["ismaster"] is True


@pytest.mark.parametrize("cmd, field", [
    ({"buildInfo": 1}, "version"),
    ({"getParameter": "*"}, "featureCompatibilityVersion"),
    ({"getParameter": 1, "featureCompatibilityVersion": 1}, "featureCompatibilityVersion"),
    ({"getCmdLineOpts": 1}, "parsed"),
    ({"hostInfo": 1}, "system"),
    ({"serverStatus": 1}, "storageEngine"),
    ({"connectionStatus": 1}, "authInfo"),
    ({"getLog": "startupWarnings"}, "log"),
    ({"whatsmyuri": 1}, "you"),
    ({"listDatabases": 1}, "databases"),
    ({"endSessions": []}, "ok"),
    ({"killAllSessions": []}, "ok"),
    ({"ping": 1}, "ok"),
])
def test_admin_commands(client, cmd, field):
    assert field in client.admin.command(cmd)


def test_cmdline_opts_reflect_flags(client, holddb_server):
    parsed = client.admin.command("getCmdLineOpts")["parsed"]
    assert parsed["net"]["port"] == holddb_server.port
    assert parsed["storage"]["dbPath"] == holddb_server.dbpath


def test_unknown_command_is_command_not_found(client):
    with pytest.raises(OperationFailure) as info:
        client.admin.command("frobnicate")
    assert info.value.code == 59
    assert info.value.details["codeName"] == "CommandNotFound"


def test_replica_set_commands_on_standalone(client):
    with pytest.raises(OperationFailure) as info:
        client.admin.command("replSetGetStatus")
    assert info.value.code == 76


def test_bad_inputs_get_mongod_codes(db):
    db.c.insert_one({"a": 1})
    with pytest.raises(OperationFailure) as info:
        list(db.c.find({"a": {"$bogus": 1}}))
    assert info.value.code == 2 and "unknown operator: $bogus" in str(info.value)
    with pytest.raises(OperationFailure) as info:
        db.c.update_one({}, {"$bogus": {"a": 1}})
    assert info.value.code == 9
    with pytest.raises(OperationFailure) as info:
        db.c.update_one({}, {"$inc": {"a": "x"}})
    assert info.value.code == 14
    with pytest.raises(OperationFailure) as info:
        list(db.c.aggregate([{"$bogus": {}}]))
    assert info.value.code == 40324
    with pytest.raises(OperationFailure) as info:
        db.command("listIndexes", "missing")
    assert info.value.code == 26


def test_write_concern_above_one_on_standalone(db):
    from pymongo.write_concern import WriteConcern
    with pytest.raises(OperationFailure) as info:
        db.get_collection("c", write_concern=WriteConcern(w=2)).insert_one({})
    assert info.value.code == 2
    db.get_collection("c", write_concern=WriteConcern(w="majority")).insert_one({})
    db.get_collection("c", write_concern=WriteConcern(w=0)).insert_one({"unack": True})
    import time
    deadline = time.monotonic() + 5  # unacknowledged: may land a moment later
    while db.c.count_documents({}) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert db.c.count_documents({}) == 2
