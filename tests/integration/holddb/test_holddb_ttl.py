"""TTL indexes expire documents (the monitor runs every second here), and
collMod changes the expiry."""

import datetime
import shutil
import tempfile
import time

import pymongo
import pytest

from holddb.testing import HolddbProcess


@pytest.fixture
def fast_ttl_server(monkeypatch):
    monkeypatch.setenv("HOLDDB_TTL_MONITOR_SECONDS", "0.5")
    workdir = tempfile.mkdtemp(prefix="holddb-ttl-")
    server = HolddbProcess(f"{workdir}/db", logpath=f"{workdir}/log").start()
    yield server
    server.stop()
    shutil.rmtree(workdir, ignore_errors=True)


def test_ttl_index_expires_old_documents(fast_ttl_server):
    with pymongo.MongoClient(fast_ttl_server.uri) as client:
        coll = client.ttl.events
        now = datetime.datetime.now(datetime.timezone.utc)
        coll.insert_many([{"_id": "old", "at": now - datetime.timedelta(hours=2)},
                          {"_id": "new", "at": now}, {"_id": "none"}])
        coll.create_index("at", expireAfterSeconds=3600)
        deadline = time.monotonic() + 10
        while coll.find_one({"_id": "old"}) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert sorted(d["_id"] for d in coll.find()) == ["new", "none"]
        reply = client.ttl.command("collMod", "events",
                                   index={"keyPattern": {"at": 1}, "expireAfterSeconds": 0})
        assert reply["expireAfterSeconds_old"] == 3600
        deadline = time.monotonic() + 10
        while coll.find_one({"_id": "new"}) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert [d["_id"] for d in coll.find()] == ["none"]
