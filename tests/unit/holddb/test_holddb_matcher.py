"""Filter semantics against MongoDB's documented behaviour."""

import re

import pytest
from bson.int64 import Int64
from bson.objectid import ObjectId
from bson.regex import Regex

from holddb.errors import MongoError
from holddb.query import matches


@pytest.mark.parametrize("spec, doc, expected", [
    ({"a": 1}, {"a": 1}, True),
    ({"a": 1}, {"a": 1.0}, True),
    ({"a": 1}, {"a": Int64(1)}, True),
    ({"a": 1}, {"a": "1"}, False),
    ({"a": 1}, {"a": [0, 1]}, True),
    ({"a": [0, 1]}, {"a": [0, 1]}, True),
    ({"a": [1]}, {"a": [[1], 2]}, True),
    ({"a": None}, {}, True),
    ({"a": None}, {"a": None}, True),
    ({"a": None}, {"a": 0}, False),
    ({"a.b": 2}, {"a": {"b": 2}}, True),
    ({"a.b": 2}, {"a": [{"b": 1}, {"b": 2}]}, True),
    ({"a.b": None}, {"a": [{"b": 1}, {}]}, True),
    ({"a.1": 5}, {"a": [4, 5]}, True),
    ({"a.1.c": 5}, {"a": [{}, {"c": 5}]}, True),
    ({"a.b.c": 1}, {"a": [{"b": [{"c": 1}]}]}, True),
])
def test_equality_and_paths(spec, doc, expected):
    assert matches(spec, doc) is expected


@pytest.mark.parametrize("spec, doc, expected", [
    ({"a": {"$gt": 1}}, {"a": 2}, True),
    ({"a": {"$gt": 1}}, {"a": "2"}, False),  # type bracketing
    ({"a": {"$gt": 1, "$lt": 3}}, {"a": [0, 5]}, True),  # different elements
    ({"a": {"$gte": None}}, {}, True),
    ({"a": {"$lt": 5}}, {"a": [9, 4]}, True),
    ({"a": {"$ne": 1}}, {"a": [1, 2]}, False),
    ({"a": {"$ne": 1}}, {}, True),
    ({"a": {"$in": [1, 2]}}, {"a": 2}, True),
    ({"a": {"$in": [None]}}, {}, True),
    ({"a": {"$in": [re.compile("^x")]}}, {"a": "xy"}, True),
    ({"a": {"$nin": [1, 2]}}, {"a": 3}, True),
    ({"a": {"$exists": True}}, {"a": None}, True),
    ({"a": {"$exists": False}}, {"b": 1}, True),
    ({"a": {"$type": "string"}}, {"a": "x"}, True),
    ({"a": {"$type": "number"}}, {"a": 1.5}, True),
    ({"a": {"$type": 2}}, {"a": "x"}, True),
    ({"a": {"$type": "array"}}, {"a": [1]}, True),
    ({"a": {"$size": 2}}, {"a": [1, 2]}, True),
    ({"a": {"$size": 1}}, {"a": [1, 2]}, False),
    ({"a": {"$all": [1, 2]}}, {"a": [2, 3, 1]}, True),
    ({"a": {"$all": [1, 4]}}, {"a": [2, 3, 1]}, False),
    ({"a": {"$elemMatch": {"$gt": 1, "$lt": 3}}}, {"a": [0, 5]}, False),
    ({"a": {"$elemMatch": {"$gt": 1, "$lt": 3}}}, {"a": [0, 2]}, True),
    ({"a": {"$elemMatch": {"b": 1, "c": 2}}}, {"a": [{"b": 1}, {"c": 2}]}, False),
    ({"a": {"$elemMatch": {"b": 1, "c": 2}}}, {"a": [{"b": 1, "c": 2}]}, True),
    ({"a": {"$mod": [4, 1]}}, {"a": 9}, True),
    ({"a": {"$regex": "^ab", "$options": "i"}}, {"a": "ABc"}, True),
    ({"a": Regex("b$")}, {"a": "ab"}, True),
    ({"a": {"$not": {"$gt": 5}}}, {"a": 3}, True),
    ({"a": {"$not": {"$gt": 5}}}, {}, True),
    ({"$or": [{"a": 1}, {"b": 2}]}, {"b": 2}, True),
    ({"$and": [{"a": 1}, {"b": 2}]}, {"a": 1}, False),
    ({"$nor": [{"a": 1}]}, {"a": 2}, True),
    ({"$expr": {"$gt": ["$a", "$b"]}}, {"a": 3, "b": 2}, True),
    ({"_id": ObjectId("5f0000000000000000000000")}, {"_id": ObjectId("5f0000000000000000000000")}, True),
])
def test_operators(spec, doc, expected):
    assert matches(spec, doc) is expected


@pytest.mark.parametrize("spec", [
    {"a": {"$bogus": 1}},
    {"$bogus": [{}]},
    {"$or": []},
    {"a": {"$in": 5}},
    {"a": {"$size": -1}},
    {"a": {"$mod": [0, 1]}},
])
def test_bad_filters_are_bad_value(spec):
    with pytest.raises(MongoError) as info:
        matches(spec, {"a": 1})
    assert info.value.code == 2


def test_unknown_operator_message_matches_mongod():
    with pytest.raises(MongoError, match=r"unknown operator: \$bogus"):
        matches({"a": {"$bogus": 1}}, {})
