"""Aggregation stages and find projections."""

import pytest

from holddb.errors import MongoError
from holddb.query import compile_projection, run_pipeline

DOCS = [
    {"_id": 1, "k": "a", "v": 1, "tags": ["x", "y"]},
    {"_id": 2, "k": "b", "v": 2, "tags": []},
    {"_id": 3, "k": "a", "v": 3},
]


def run(pipeline, resolver=lambda name: []):
    return run_pipeline([dict(d) for d in DOCS], pipeline, resolver)


def test_group_accumulators():
    out = run([{"$group": {"_id": "$k", "sum": {"$sum": "$v"}, "avg": {"$avg": "$v"},
                           "min": {"$min": "$v"}, "max": {"$max": "$v"}, "n": {"$sum": 1},
                           "all": {"$push": "$v"}, "first": {"$first": "$v"},
                           "last": {"$last": "$v"}, "set": {"$addToSet": "$k"}}},
               {"$sort": {"_id": 1}}])
    assert out[0] == {"_id": "a", "sum": 4, "avg": 2.0, "min": 1, "max": 3, "n": 2,
                      "all": [1, 3], "first": 1, "last": 3, "set": ["a"]}
    assert out[1]["_id"] == "b"


def test_count_documents_shape():
    assert run([{"$match": {}}, {"$group": {"_id": 1, "n": {"$sum": 1}}}]) == [{"_id": 1, "n": 3}]


def test_unwind_project_addfields_skip_limit_count():
    out = run([{"$unwind": "$tags"}, {"$project": {"tags": 1, "_id": 0}}])
    assert out == [{"tags": "x"}, {"tags": "y"}]
    out = run([{"$unwind": {"path": "$tags", "preserveNullAndEmptyArrays": True}}])
    assert len(out) == 4
    out = run([{"$addFields": {"w": {"$multiply": ["$v", 10]}}}, {"$skip": 1}, {"$limit": 1}])
    assert out == [{**DOCS[1], "w": 20}]
    assert run([{"$match": {"v": {"$gt": 1}}}, {"$count": "n"}]) == [{"n": 2}]


def test_lookup_facet_replace_root():
    others = [{"_id": 9, "k": "a", "extra": True}]
    out = run([{"$lookup": {"from": "o", "localField": "k", "foreignField": "k", "as": "j"}},
               {"$match": {"_id": 1}}], resolver=lambda name: others)
    assert out[0]["j"] == others
    out = run([{"$facet": {"n": [{"$count": "c"}], "ks": [{"$group": {"_id": "$k"}}]}}])
    assert out[0]["n"] == [{"c": 3}]
    out = run([{"$replaceRoot": {"newRoot": {"id": "$_id"}}}])
    assert out == [{"id": 1}, {"id": 2}, {"id": 3}]


def test_unknown_stage_is_40324():
    with pytest.raises(MongoError) as info:
        run([{"$bogus": {}}])
    assert info.value.code == 40324


def test_find_projections():
    doc = {"_id": 1, "a": 1, "b": {"c": 2, "d": 3}, "arr": [1, 2, 3, 4], "e": [{"x": 1}, {"x": 2}]}
    assert compile_projection({"a": 1})(doc) == {"_id": 1, "a": 1}
    assert compile_projection({"b.c": 1, "_id": 0})(doc) == {"b": {"c": 2}}
    assert compile_projection({"a": 0, "b": 0, "arr": 0, "e": 0})(doc) == {"_id": 1}
    assert compile_projection({"arr": {"$slice": -2}, "a": 1})(doc)["arr"] == [3, 4]
    assert compile_projection({"e": {"$elemMatch": {"x": 2}}})(doc) == {"_id": 1, "e": [{"x": 2}]}
    assert compile_projection({"arr.$": 1}, {"arr": 3})(doc) == {"_id": 1, "arr": [3]}
    with pytest.raises(MongoError):
        compile_projection({"a": 1, "b": 0})


def test_sum_of_decimals_is_exact():
    from bson.decimal128 import Decimal128
    out = run_pipeline([{"v": Decimal128("0.1")}, {"v": Decimal128("0.2")}, {"v": 1}],
                       [{"$group": {"_id": None, "s": {"$sum": "$v"}}}], lambda n: [])
    assert out == [{"_id": None, "s": Decimal128("1.3")}]


@pytest.mark.parametrize("expr, expected", [
    ({"$floor": 2.7}, 2), ({"$round": [2.567, 1]}, 2.6), ({"$pow": [2, 10]}, 1024),
    ({"$split": ["a,b", ","]}, ["a", "b"]), ({"$trim": {"input": "  x "}}, "x"),
    ({"$regexMatch": {"input": "abc", "regex": "^a"}}, True),
    ({"$replaceAll": {"input": "aXbX", "find": "X", "replacement": "-"}}, "a-b-"),
    ({"$switch": {"branches": [{"case": False, "then": 1}], "default": 2}}, 2),
    ({"$reduce": {"input": [1, 2, 3], "initialValue": 0,
                  "in": {"$add": ["$$value", "$$this"]}}}, 6),
    ({"$slice": [[1, 2, 3, 4], 1, 2]}, [2, 3]), ({"$indexOfArray": [[1, 2], 2]}, 1),
    ({"$arrayToObject": [[{"k": "a", "v": 1}]]}, {"a": 1}),
    ({"$objectToArray": {"$literal": {"a": 1}}}, [{"k": "a", "v": 1}]),
    ({"$mergeObjects": [{"a": 1}, {"b": 2}]}, {"a": 1, "b": 2}),
    ({"$setUnion": [[1, 2], [2, 3]]}, [1, 2, 3]),
    ({"$year": {"$toDate": "2024-05-06T00:00:00Z"}}, 2024),
    ({"$convert": {"input": "12", "to": "int"}}, 12),
    ({"$cond": [{"$gt": [2, 1]}, "y", "n"]}, "y"),
    ({"$ifNull": ["$missing", "d"]}, "d"),
    ({"$concat": ["a", "b"]}, "ab"),
])
def test_expressions(expr, expected):
    from holddb.query import compile_expression
    assert compile_expression(expr)({}, {}) == expected


def test_sum_of_longs_is_a_long():
    from bson.int64 import Int64
    out = run_pipeline([{"v": Int64(1)}, {"v": Int64(10)}],
                       [{"$group": {"_id": None, "s": {"$sum": "$v"}}}], lambda n: [])
    assert type(out[0]["s"]) is Int64 and out[0]["s"] == 11
    out = run_pipeline([{"v": 1}, {"v": 2}], [{"$group": {"_id": None, "s": {"$sum": "$v"}}}],
                       lambda n: [])
    assert type(out[0]["s"]) is int
