"""Canonical BSON order: compare() and the byte keys agree."""

import datetime
import math

from bson.int64 import Int64
from bson.max_key import MaxKey
from bson.min_key import MinKey
from bson.objectid import ObjectId
from bson.timestamp import Timestamp

from holddb.query import compare, sort_documents
from holddb.storage import encode_key
from holddb.storage._keys import invert, prefix_end

ORDERED = [
    MinKey(), None, float("nan"), -math.inf, -5, -1.5, 0, 1, Int64(2), 2.5, 10**12, math.inf,
    "", "a", "a\x00", "ab", "b", {}, {"a": 1}, {"a": 2}, {"b": 0}, [], [1], [1, 2], [2],
    b"", b"z", ObjectId("000000000000000000000000"), ObjectId("ffffffffffffffffffffffff"),
    False, True, datetime.datetime(1960, 1, 1), datetime.datetime(2020, 1, 1),
    Timestamp(1, 1), Timestamp(1, 2), MaxKey(),
]


def test_compare_follows_canonical_order():
    for i, a in enumerate(ORDERED):
        for b in ORDERED[i + 1:]:
            assert compare(a, b) < 0, (a, b)
            assert compare(b, a) > 0, (b, a)


def test_keys_sort_like_compare():
    keys = [encode_key(v) for v in ORDERED]
    assert keys == sorted(keys)
    assert len(set(keys)) == len(keys)


def test_numbers_of_any_width_are_equal_keys():
    assert encode_key(1) == encode_key(1.0) == encode_key(Int64(1))
    assert encode_key(0.0) == encode_key(-0.0)


def test_inverted_keys_sort_descending_and_prefix_end_bounds_prefix():
    keys = [invert(encode_key(v)) for v in ORDERED]
    assert keys == sorted(keys, reverse=True)
    key = encode_key("abc")
    assert key < prefix_end(key) and encode_key("abd") >= prefix_end(key)


def test_sort_uses_min_element_ascending_and_max_descending():
    docs = [{"_id": 1, "a": [1, 9]}, {"_id": 2, "a": 5}, {"_id": 3}]
    assert [d["_id"] for d in sort_documents(docs, {"a": 1})] == [3, 1, 2]
    assert [d["_id"] for d in sort_documents(docs, {"a": -1})] == [1, 2, 3]
