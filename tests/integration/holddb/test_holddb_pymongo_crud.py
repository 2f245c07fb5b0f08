"""CRUD through pymongo against a real holddb process."""

import pymongo
import pytest
from bson.int64 import Int64
from bson.objectid import ObjectId
from pymongo.errors import BulkWriteError, DuplicateKeyError, OperationFailure


def test_insert_find_roundtrip_types(db):
    doc = {"_id": 1, "s": "x", "i": 5, "l": Int64(2**40), "f": 1.5, "b": True,
           "n": None, "arr": [1, "a", {"z": 1}], "sub": {"k": [1, 2]}, "oid": ObjectId()}
    db.c.insert_one(doc)
    assert db.c.find_one({"_id": 1}) == doc


def test_cursor_past_first_batch(db):
    db.c.insert_many([{"i": i} for i in range(1000)])
    cursor = db.c.find({}, batch_size=50).sort("i", 1)
    assert [d["i"] for d in cursor] == list(range(1000))
    assert len(list(db.c.find())) == 1000  # default 101 then getMore


def test_find_options(db):
    db.c.insert_many([{"_id": i, "v": i % 7, "name": f"n{i}"} for i in range(30)])
    got = list(db.c.find({"v": {"$gte": 5}}, {"name": 1, "_id": 0}).sort([("v", -1), ("name", 1)])
               .skip(1).limit(3))
    assert got == [{"name": "n20"}, {"name": "n27"}, {"name": "n6"}]
    assert db.c.count_documents({"v": 0}) == 5
    assert db.c.estimated_document_count() == 30
    assert sorted(db.c.distinct("v")) == list(range(7))
    assert len(list(db.c.find().limit(-5))) == 5


def test_update_operators_and_counts(db):
    db.c.insert_many([{"_id": i, "n": i, "tags": []} for i in range(5)])
    res = db.c.update_many({"n": {"$lt": 3}}, {"$inc": {"n": 10}, "$push": {"tags": "x"}})
    assert (res.matched_count, res.modified_count) == (3, 3)
    res = db.c.update_one({"_id": 4}, {"$set": {"n": 4}})
    assert (res.matched_count, res.modified_count) == (1, 0)
    assert db.c.find_one({"_id": 0}) == {"_id": 0, "n": 10, "tags": ["x"]}
    res = db.c.update_one({"_id": 99}, {"$set": {"a": 1}, "$setOnInsert": {"b": 2}}, upsert=True)
    assert res.upserted_id == 99 and db.c.find_one({"_id": 99}) == {"_id": 99, "a": 1, "b": 2}
    db.c.replace_one({"_id": 99}, {"r": True})
    assert db.c.find_one({"_id": 99}) == {"_id": 99, "r": True}


def test_positional_and_array_filters(db):
    db.c.insert_one({"_id": 1, "grades": [80, 85, 90], "items": [{"q": 1}, {"q": 9}]})
    db.c.update_one({"_id": 1, "grades": 85}, {"$set": {"grades.$": 86}})
    db.c.update_one({"_id": 1}, {"$inc": {"items.$[big].q": 1}},
                    array_filters=[{"big.q": {"$gt": 5}}])
    assert db.c.find_one() == {"_id": 1, "grades": [80, 86, 90], "items": [{"q": 1}, {"q": 10}]}


def test_delete(db):
    db.c.insert_many([{"i": i} for i in range(10)])
    assert db.c.delete_one({"i": {"$gt": 5}}).deleted_count == 1
    assert db.c.delete_many({"i": {"$lt": 5}}).deleted_count == 5
    assert db.c.count_documents({}) == 4


def test_find_one_and_modify(db):
    db.c.insert_many([{"_id": 1, "n": 1}, {"_id": 2, "n": 2}])
    before = db.c.find_one_and_update({"_id": 1}, {"$inc": {"n": 5}})
    assert before == {"_id": 1, "n": 1}
    after = db.c.find_one_and_update({"_id": 1}, {"$inc": {"n": 5}},
                                     return_document=pymongo.ReturnDocument.AFTER)
    assert after == {"_id": 1, "n": 11}
    assert db.c.find_one_and_delete({}, sort=[("n", -1)]) == {"_id": 1, "n": 11}
    new = db.c.find_one_and_replace({"_id": 3}, {"x": 1}, upsert=True,
                                    return_document=pymongo.ReturnDocument.AFTER)
    assert new == {"_id": 3, "x": 1}


def test_unique_index_duplicate_key(db):
    db.c.create_index([("email", 1)], unique=True)
    db.c.insert_one({"email": "a@x"})
    with pytest.raises(DuplicateKeyError) as info:
        db.c.insert_one({"email": "a@x"})
    details = info.value.details
    assert details["code"] == 11000
    assert details["keyPattern"] == {"email": 1} and details["keyValue"] == {"email": "a@x"}
    with pytest.raises(DuplicateKeyError):
        db.c.insert_one({"_id": db.c.find_one()["_id"], "email": "b@x"})
    db.c.insert_one({"email": "b@x"})
    with pytest.raises(DuplicateKeyError):
        db.c.update_one({"email": "b@x"}, {"$set": {"email": "a@x"}})
    assert db.c.count_documents({}) == 2


def test_ordered_and_unordered_write_errors(db):
    with pytest.raises(BulkWriteError) as info:
        db.c.insert_many([{"_id": 1}, {"_id": 1}, {"_id": 2}])
    assert info.value.details["nInserted"] == 1
    assert [e["index"] for e in info.value.details["writeErrors"]] == [1]
    with pytest.raises(BulkWriteError) as info:
        db.d.insert_many([{"_id": 1}, {"_id": 1}, {"_id": 2}, {"_id": 2}], ordered=False)
    assert info.value.details["nInserted"] == 2
    assert [e["index"] for e in info.value.details["writeErrors"]] == [1, 3]


def test_indexes_compound_sparse_and_explain(db):
    db.c.insert_many([{"a": i % 10, "b": i, "s": i if i % 2 else None} for i in range(200)])
    assert db.c.create_index([("a", 1), ("b", -1)]) == "a_1_b_-1"
    db.c.create_index("s", sparse=True, unique=False)
    names = [ix["name"] for ix in db.c.list_indexes()]
    assert names == ["_id_", "a_1_b_-1", "s_1"]
    plan = db.c.find({"a": 3}).explain()["queryPlanner"]["winningPlan"]
    assert plan["inputStage"]["indexName"] == "a_1_b_-1"
    assert db.c.count_documents({"a": 3}) == 20
    db.c.drop_index("a_1_b_-1")
    assert db.c.find({"a": 3}).explain()["queryPlanner"]["winningPlan"]["stage"] == "COLLSCAN"
    with pytest.raises(OperationFailure) as info:
        db.c.drop_index("nope")
    assert info.value.code == 27


def test_index_range_queries_match_collection_scan(db):
    db.c.insert_many([{"v": v} for v in [1, 2.5, "s", None, [3, 7], {"x": 1}, 10, -4]]
                     + [{}])
    filters = [{"v": {"$gt": 2}}, {"v": {"$lte": 2.5}}, {"v": {"$gt": 2, "$lt": 5}},
               {"v": {"$in": [1, "s", 7]}}, {"v": None}, {"v": 7}]
    before = [sorted(str(d["_id"]) for d in db.c.find(f)) for f in filters]
    db.c.create_index("v")
    after = [sorted(str(d["_id"]) for d in db.c.find(f)) for f in filters]
    assert before == after


def test_aggregate_pipeline(db):
    db.orders.insert_many([{"cust": "a", "amt": 5}, {"cust": "b", "amt": 7},
                           {"cust": "a", "amt": 1}])
    db.custs.insert_many([{"_id": "a", "name": "Ann"}, {"_id": "b", "name": "Bob"}])
    out = list(db.orders.aggregate([
        {"$group": {"_id": "$cust", "total": {"$sum": "$amt"}}},
        {"$lookup": {"from": "custs", "localField": "_id", "foreignField": "_id", "as": "c"}},
        {"$unwind": "$c"}, {"$project": {"_id": 0, "name": "$c.name", "total": 1}},
        {"$sort": {"total": -1}}]))
    assert out == [{"total": 7, "name": "Bob"}, {"total": 6, "name": "Ann"}]


def test_catalog_commands(db, client):
    db.create_collection("made")
    with pytest.raises(OperationFailure) as info:
        db.command("create", "made", validator={"x": {"$gt": 1}})
    assert info.value.code == 48
    db.made.insert_one({"x": 1})
    assert "made" in db.list_collection_names()
    client.admin.command("renameCollection", f"{db.name}.made", to=f"{db.name}.moved")
    assert db.list_collection_names() == ["moved"]
    assert db.moved.find_one({}, {"_id": 0}) == {"x": 1}
    stats = db.command("collStats", "moved")
    assert stats["count"] == 1 and stats["nindexes"] == 1
    assert db.command("dbStats")["collections"] == 1
    assert db.name in client.list_database_names()
    db.moved.drop()
    assert db.list_collection_names() == []
    with pytest.raises(OperationFailure) as info:
        db.command("drop", "moved")
    assert info.value.code == 26


def test_retried_write_applied_once(db):
    from bson.binary import Binary, UUID_SUBTYPE
    import uuid
    lsid = {"id": Binary(uuid.uuid4().bytes, UUID_SUBTYPE)}
    cmd = {"update": "c", "updates": [{"q": {"_id": 1}, "u": {"$inc": {"n": 1}}, "upsert": True}],
           "lsid": lsid, "txnNumber": Int64(7)}
    first = db.command(dict(cmd))
    second = db.command(dict(cmd))
    assert first["n"] == second["n"] == 1
    assert db.c.find_one() == {"_id": 1, "n": 1}
    db.command({**cmd, "txnNumber": Int64(8)})
    assert db.c.find_one() == {"_id": 1, "n": 2}


def test_transactions_are_refused_clearly(client, db):
    db.c.insert_one({})
    with client.start_session() as session:
        with pytest.raises(OperationFailure) as info:
            with session.start_transaction():
                db.c.insert_one({"x": 1}, session=session)
    assert info.value.code == 20


def test_zlib_compression(holddb_server):
    with pymongo.MongoClient(holddb_server.uri, compressors="zlib") as compressed:
        coll = compressed.t_zlib.c
        coll.drop()
        coll.insert_many([{"i": i, "pad": "x" * 100} for i in range(300)])
        assert sum(1 for _ in coll.find()) == 300
        compressed.drop_database("t_zlib")


def test_oplog_records_writes(db, client):
    db.c.insert_one({"_id": "op"})
    db.c.update_one({"_id": "op"}, {"$set": {"a": 1}})
    db.c.delete_one({"_id": "op"})
    ns = f"{db.name}.c"
    entries = list(client.local["oplog.rs"].find({"ns": ns}))
    assert [e["op"] for e in entries] == ["i", "u", "d"]
    assert all(set(e) >= {"ts", "t", "v", "op", "ns", "o", "ui", "wall"} for e in entries)
    assert entries[1]["o2"] == {"_id": "op"}
    assert entries[0]["ts"] < entries[1]["ts"] < entries[2]["ts"]


def test_sort_by_index_matches_in_memory_sort(db):
    import random
    rng = random.Random(5)
    docs = [{"_id": i, "a": rng.choice([1, 2, 3, None, "s", 2.5]), "b": rng.randint(0, 50)}
            for i in range(300)]
    for d in docs[:20]:
        del d["a"]
    db.c.insert_many(docs)
    queries = [({}, [("a", 1), ("b", -1), ("_id", 1)]), ({}, [("a", -1), ("b", 1), ("_id", -1)]),
               ({"a": 2}, [("b", -1), ("_id", 1)]), ({"a": {"$gte": 2}}, [("a", 1), ("b", -1), ("_id", 1)]),
               ({"b": {"$lt": 10}}, [("_id", -1)])]
    before = [[d["_id"] for d in db.c.find(f).sort(s).skip(3).limit(40)] for f, s in queries]
    db.c.create_index([("a", 1), ("b", -1), ("_id", 1)])
    after = [[d["_id"] for d in db.c.find(f).sort(s).skip(3).limit(40)] for f, s in queries]
    assert before == after
    plan = db.c.find({}).sort([("a", -1), ("b", 1), ("_id", -1)]).limit(5).explain()
    winning = plan["queryPlanner"]["winningPlan"]
    assert winning["inputStage"]["direction"] == "backward"
    assert plan["executionStats"]["totalDocsExamined"] <= 5


def test_int64_and_decimal_keep_their_types(db):
    from bson.decimal128 import Decimal128
    db.c.insert_one({"_id": 1, "l": Int64(5), "i": 5, "d": Decimal128("1.5")})
    db.c.update_one({"_id": 1}, {"$inc": {"l": 1, "i": 1}})
    doc = db.c.find_one()
    assert type(doc["l"]) is Int64 and doc["l"] == 6 and type(doc["i"]) is int
    assert db.c.count_documents({"l": {"$type": "long"}}) == 1
    assert db.c.count_documents({"i": {"$type": "int"}}) == 1
    assert doc["d"] == Decimal128("1.5")


def test_anchored_regex_uses_index_and_matches_scan(db):
    import re
    db.c.insert_many([{"s": s} for s in ["abc", "abd", "ab", "b", "Abc", "ab\x00z", 5, ["abx"]]])
    filters = [{"s": re.compile("^ab")}, {"s": {"$regex": "^abc"}}, {"s": {"$regex": "^ab", "$options": "i"}}]
    before = [sorted(str(d["s"]) for d in db.c.find(f)) for f in filters]
    db.c.create_index("s")
    after = [sorted(str(d["s"]) for d in db.c.find(f)) for f in filters]
    assert before == after
    winning = db.c.find({"s": {"$regex": "^ab"}}).explain()["queryPlanner"]["winningPlan"]
    assert winning["inputStage"]["indexName"] == "s_1"


def test_unsorted_find_streams_batches_with_skip_and_limit(db):
    db.c.insert_many([{"_id": i, "even": i % 2 == 0} for i in range(3000)])
    db.c.create_index("even")
    got = [d["_id"] for d in db.c.find({"even": True}, batch_size=7).skip(5).limit(1234)]
    assert got == list(range(10, 10 + 2 * 1234, 2))
    cursor = db.c.find({}, batch_size=100)
    first = [next(cursor)["_id"] for _ in range(150)]
    db.c.delete_many({"_id": {"$gte": 2000}})  # later pages see the delete
    assert first == list(range(150)) and len(list(cursor)) == 2000 - 150


def test_hashed_index_serves_equality(db):
    import pymongo
    db.c.insert_many([{"u": i % 50, "n": i} for i in range(500)])
    db.c.create_index([("u", pymongo.HASHED)])
    plan = db.c.find({"u": 7}).explain()["queryPlanner"]["winningPlan"]
    assert plan["inputStage"]["indexName"] == "u_hashed"
    assert sorted(d["n"] for d in db.c.find({"u": {"$in": [7, 8.0]}})) == \
        sorted(list(range(7, 500, 50)) + list(range(8, 500, 50)))
    assert db.c.count_documents({"u": {"$gt": 47}}) == 20  # ranges fall back to a scan
    with pytest.raises(pymongo.errors.WriteError) as info:
        db.c.insert_one({"u": [1, 2]})
    assert info.value.code == 16766
    with pytest.raises(OperationFailure):
        db.d.create_index([("u", pymongo.HASHED)], unique=True)
