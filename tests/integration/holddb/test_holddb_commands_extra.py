"""Validators, let variables, $out/$merge, pipeline updates, findAndModify
options: the parts of the CRUD surface beyond the basics."""

import pytest
from pymongo.errors import OperationFailure, WriteError


def test_validator_with_json_schema(db):
    db.create_collection("people", validator={"$jsonSchema": {
        "bsonType": "object", "required": ["name"],
        "properties": {"name": {"bsonType": "string"}, "age": {"bsonType": "int", "minimum": 0}}}})
    db.people.insert_one({"name": "ann", "age": 3})
    with pytest.raises(WriteError) as info:
        db.people.insert_one({"age": 3})
    assert info.value.code == 121
    with pytest.raises(WriteError):
        db.people.update_one({"name": "ann"}, {"$set": {"age": -1}})
    db.people.insert_one({"age": "x"}, bypass_document_validation=True)
    assert db.people.count_documents({}) == 2


def test_validator_query_operators(db):
    db.create_collection("v", validator={"qty": {"$gte": 0}})
    with pytest.raises(WriteError):
        db.v.insert_one({"qty": -1})
    db.command("collMod", "v", validationAction="warn")
    db.v.insert_one({"qty": -1})


def test_let_variables_in_find_and_aggregate(db):
    db.c.insert_many([{"_id": i, "v": i} for i in range(5)])
    found = db.c.find({"$expr": {"$gt": ["$v", "$$limit"]}}, let={"limit": 2})
    assert [d["_id"] for d in found] == [3, 4]
    out = list(db.c.aggregate([{"$match": {"$expr": {"$eq": ["$v", "$$x"]}}}], let={"x": 1}))
    assert out == [{"_id": 1, "v": 1}]


def test_out_and_merge(db):
    db.src.insert_many([{"_id": i, "g": i % 2} for i in range(6)])
    db.src.aggregate([{"$group": {"_id": "$g", "n": {"$sum": 1}}}, {"$out": "summary"}])
    assert sorted((d["_id"], d["n"]) for d in db.summary.find()) == [(0, 3), (1, 3)]
    db.src.aggregate([{"$match": {"g": 0}}, {"$project": {"n": {"$literal": 99}}},
                      {"$merge": {"into": "summary", "whenMatched": "merge"}}])
    assert db.summary.find_one({"_id": 0}) == {"_id": 0, "n": 99}
    assert db.summary.count_documents({}) == 4
    with pytest.raises(OperationFailure):
        list(db.src.aggregate([{"$out": "x"}, {"$match": {}}]))


def test_pipeline_update_and_upsert_with_operators(db):
    db.c.insert_one({"_id": 1, "a": 2, "b": 3})
    db.c.update_one({"_id": 1}, [{"$set": {"s": {"$add": ["$a", "$b"]}}}, {"$unset": "b"}])
    assert db.c.find_one() == {"_id": 1, "a": 2, "s": 5}
    db.c.update_one({"k": "x", "n": {"$gt": 1}}, {"$inc": {"c": 1}}, upsert=True)
    assert db.c.find_one({"k": "x"}, {"_id": 0}) == {"k": "x", "c": 1}


def test_change_streams_refused_clearly(db):
    db.c.insert_one({})
    with pytest.raises(OperationFailure) as info:
        db.c.watch().try_next()
    assert info.value.code == 40573


def test_hint_on_missing_index_is_bad_value(db):
    db.c.insert_one({"a": 1})
    with pytest.raises(OperationFailure) as info:
        list(db.c.find({"a": 1}).hint("nope_1"))
    assert info.value.code == 2
    db.c.create_index("a")
    assert len(list(db.c.find({"a": 1}).hint("a_1"))) == 1
    assert len(list(db.c.find({}).hint([("a", 1)]))) == 1


def test_views_are_read_only_pipelines(db):
    db.src.insert_many([{"_id": i, "v": i} for i in range(10)])
    db.command("create", "big", viewOn="src", pipeline=[{"$match": {"v": {"$gte": 5}}}])
    assert db.big.count_documents({}) == 5
    assert db.big.estimated_document_count() == 5
    assert [d["_id"] for d in db.big.find({"v": {"$lt": 7}}).sort("v", -1)] == [6, 5]
    entry = next(db.list_collections(filter={"name": "big"}))
    assert entry["type"] == "view" and entry["options"]["viewOn"] == "src"
    with pytest.raises(OperationFailure) as info:
        db.big.insert_one({})
    assert info.value.code == 166
    db.big.drop()
    assert db.list_collection_names() == ["src"]


def test_update_statement_with_unknown_field_fails_command(db):
    db.c.insert_one({"_id": 1})
    with pytest.raises(OperationFailure) as info:
        db.command("update", "c", updates=[{"q": {}, "u": {"$set": {"a": 1}}, "bogus": 1}])
    assert info.value.code == 40415
    assert db.c.find_one() == {"_id": 1}


def test_max_time_ms_expires_long_queries(db):
    db.c.insert_many([{"i": i, "s": "x" * 50} for i in range(20000)])
    with pytest.raises(OperationFailure) as info:
        list(db.c.find({"$expr": {"$gt": [{"$strLenCP": "$s"}, 0]}}).sort("s", 1).max_time_ms(1))
    assert info.value.code == 50
    assert len(list(db.c.find({"i": {"$lt": 3}}).max_time_ms(60000))) == 3
