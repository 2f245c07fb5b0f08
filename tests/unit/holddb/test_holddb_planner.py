"""Planner decisions that need no server: partial-filter implication and
anchored regex prefixes."""

import re

import pytest
from bson.regex import Regex

from holddb.storage._planner import _implies, _regex_prefix


@pytest.mark.parametrize("query, partial, expected", [
    ({"a": 1}, {"a": {"$lte": 1.5}}, True),
    ({"a": {"$lte": 1}}, {"a": {"$lte": 1.5}}, True),
    ({"a": {"$lte": 1.6}}, {"a": {"$lte": 1.5}}, False),
    ({"a": {"$gt": 5}}, {"a": {"$gte": 5}}, True),
    ({"a": {"$gte": 5}}, {"a": {"$gt": 5}}, False),
    ({"x": 1}, {"a": {"$exists": True}}, False),
    ({"a": 3}, {"a": {"$exists": True}}, True),
    ({"a": "s"}, {"a": {"$gt": 1}}, False),
    ({"a": 1, "b": 2}, {"$and": [{"a": 1}, {"b": {"$gte": 2}}]}, True),
])
def test_partial_filter_implication(query, partial, expected):
    assert _implies(query, partial) is expected


@pytest.mark.parametrize("cond, prefix", [
    (re.compile("^abc"), "abc"), ({"$regex": "^ab.c"}, "ab"), ({"$regex": "^a?"}, None),
    ({"$regex": "abc"}, None), ({"$regex": "^abc", "$options": "i"}, None),
    (Regex("^q", "m"), None), (Regex("^q"), "q"),
])
def test_regex_prefix(cond, prefix):
    assert _regex_prefix(cond) == prefix
