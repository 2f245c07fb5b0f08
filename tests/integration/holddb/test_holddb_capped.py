"""Capped collections keep insertion order within their limits; tailable
and awaitData cursors follow them and the oplog."""

import threading
import time

import pytest
from pymongo import CursorType
from pymongo.errors import OperationFailure


def test_capped_collection_limits_and_natural_order(db):
    db.create_collection("log", capped=True, size=100000, max=5)
    for i in [9, 3, 7, 1, 8, 2, 6]:
        db.log.insert_one({"_id": i})
    assert [d["_id"] for d in db.log.find()] == [7, 1, 8, 2, 6]
    assert [d["_id"] for d in db.log.find().sort("$natural", -1)] == [6, 2, 8, 1, 7]
    stats = db.command("collStats", "log")
    assert stats["capped"] is True and stats["max"] == 5
    with pytest.raises(OperationFailure):
        db.create_collection("bad", capped=True)


def test_tailable_await_cursor_sees_new_documents(db):
    db.create_collection("feed", capped=True, size=100000)
    db.feed.insert_one({"n": 0})
    cursor = db.feed.find(cursor_type=CursorType.TAILABLE_AWAIT).max_await_time_ms(3000)
    assert next(cursor)["n"] == 0

    def later():
        time.sleep(0.3)
        db.feed.insert_one({"n": 1})
    writer = threading.Thread(target=later)
    writer.start()
    started = time.monotonic()
    assert next(cursor)["n"] == 1
    assert time.monotonic() - started < 2.5  # woken by the commit, not the timeout
    writer.join()
    assert cursor.alive
    cursor.close()


def test_tailable_on_normal_collection_is_refused(db):
    db.plain.insert_one({})
    with pytest.raises(OperationFailure) as info:
        next(db.plain.find(cursor_type=CursorType.TAILABLE))
    assert info.value.code == 2


def test_oplog_tailing_from_timestamp(db, client):
    db.c.insert_one({"_id": "first"})
    start = client.local["oplog.rs"].find().sort("$natural", -1).limit(1).next()["ts"]
    cursor = client.local["oplog.rs"].find({"ts": {"$gt": start}, "ns": f"{db.name}.c"},
                                           cursor_type=CursorType.TAILABLE_AWAIT)
    db.c.insert_one({"_id": "second"})
    entry = next(cursor)
    assert entry["op"] == "i" and entry["o"] == {"_id": "second"}
    cursor.close()


def test_exhaust_cursor_streams_batches(holddb_server, db):
    import pymongo
    db.c.insert_many([{"i": i} for i in range(350)])
    with pymongo.MongoClient(holddb_server.uri, maxPoolSize=1) as single:
        cursor = single[db.name].c.find(cursor_type=CursorType.EXHAUST, batch_size=50)
        assert sorted(d["i"] for d in cursor) == list(range(350))
        assert single[db.name].c.count_documents({}) == 350  # connection usable after


def test_min_max_bounds_on_hinted_index(db):
    db.c.insert_many([{"j": j, "k": j} for j in range(10)])
    db.c.create_index("j")
    assert [d["j"] for d in db.c.find().min([("j", 3)]).max([("j", 6)]).hint([("j", 1)])] == \
        [3, 4, 5]
    with pytest.raises(OperationFailure):
        list(db.c.find().max([("k", 3)]).hint([("j", 1)]))
