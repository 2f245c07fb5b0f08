"""kill -9 while writing: every acknowledged write survives, files stay sound,
and a restart on the same dbpath serves the same data."""

import random
import shutil
import sqlite3
import tempfile
import threading
import time

import pymongo
import pytest
from pymongo.errors import PyMongoError

from holddb.testing import HolddbProcess


@pytest.fixture
def workdir():
    path = tempfile.mkdtemp(prefix="holddb-crash-")
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _writer(uri, acknowledged, stop, round_no):
    client = pymongo.MongoClient(uri, serverSelectionTimeoutMS=2000, retryWrites=False,
                                 w=1, journal=True)
    try:
        i = 0
        while not stop.is_set():
            doc_id = f"{round_no}-{i}"
            client.crash.c.insert_one({"_id": doc_id, "pad": "x" * 200})
            if i % 5 == 0:
                client.crash.c.update_one({"_id": doc_id}, {"$set": {"updated": True}})
            acknowledged.append((doc_id, i % 5 == 0))
            i += 1
    except PyMongoError:
        pass
    finally:
        client.close()


def test_kill_9_loses_no_acknowledged_write(workdir):
    dbpath = f"{workdir}/db"
    port = None
    acknowledged: list = []
    for round_no in range(4):
        server = HolddbProcess(dbpath, port=port, logpath=f"{workdir}/log").start()
        port = server.port
        try:
            stop = threading.Event()
            thread = threading.Thread(target=_writer,
                                      args=(server.uri, acknowledged, stop, round_no))
            thread.start()
            time.sleep(random.uniform(0.3, 0.8))
            server.kill()
            stop.set()
            thread.join(10)
            assert not thread.is_alive()
        finally:
            server.kill()
    assert acknowledged, "the writer never got an acknowledgement"
    check = sqlite3.connect(f"{dbpath}/holddb.sqlite")
    assert check.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    check.close()
    with HolddbProcess(dbpath, logpath=f"{workdir}/log") as server:
        with pymongo.MongoClient(server.uri, serverSelectionTimeoutMS=5000) as client:
            stored = {d["_id"]: d for d in client.crash.c.find()}
            for doc_id, updated in acknowledged:
                assert doc_id in stored, f"acknowledged insert {doc_id} lost"
                if updated:
                    assert stored[doc_id].get("updated") is True
            ops = client.local["oplog.rs"].count_documents({"ns": "crash.c", "op": "i"})
            assert ops == len(stored)


def test_restart_serves_same_data_and_indexes(workdir):
    dbpath = f"{workdir}/db"
    with HolddbProcess(dbpath, logpath=f"{workdir}/log") as server:
        with pymongo.MongoClient(server.uri) as client:
            client.keep.c.insert_many([{"_id": i, "u": i} for i in range(300)])
            client.keep.c.create_index("u", unique=True)
    with HolddbProcess(dbpath, logpath=f"{workdir}/log") as server:
        with pymongo.MongoClient(server.uri) as client:
            assert client.keep.c.count_documents({}) == 300
            assert [i["name"] for i in client.keep.c.list_indexes()] == ["_id_", "u_1"]
            with pytest.raises(pymongo.errors.DuplicateKeyError):
                client.keep.c.insert_one({"u": 7})
