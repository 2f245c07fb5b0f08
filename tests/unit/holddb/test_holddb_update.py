"""Update operators, positional forms and their error codes."""

import datetime

import pytest

from holddb.errors import MongoError
from holddb.query import apply_update, upsert_seed


def up(doc, spec, **kw):
    return apply_update(doc, spec, **kw)


def test_set_unset_creates_paths_and_never_mutates_input():
    doc = {"_id": 1, "a": {"b": 1}}
    new = up(doc, {"$set": {"a.c": 2, "x.y.z": 3}, "$unset": {"a.b": ""}})
    assert new == {"_id": 1, "a": {"c": 2}, "x": {"y": {"z": 3}}}
    assert doc == {"_id": 1, "a": {"b": 1}}


def test_set_array_index_pads_with_null():
    assert up({"_id": 1, "a": [1]}, {"$set": {"a.3": 9}})["a"] == [1, None, None, 9]


def test_inc_mul_min_max():
    new = up({"_id": 1, "n": 5, "m": 2}, {"$inc": {"n": 2, "new": 1}, "$mul": {"m": 1.5},
                                         "$min": {"lo": 3}, "$max": {"n2": 1}})
    assert new == {"_id": 1, "n": 7, "m": 3.0, "new": 1, "lo": 3, "n2": 1}
    assert up({"_id": 1, "v": 5}, {"$min": {"v": 3}})["v"] == 3
    assert up({"_id": 1, "v": 5}, {"$max": {"v": 3}})["v"] == 5


def test_inc_on_string_is_type_mismatch():
    with pytest.raises(MongoError) as info:
        up({"_id": 1, "s": "x"}, {"$inc": {"s": 1}})
    assert info.value.code == 14


def test_rename_and_current_date():
    new = up({"_id": 1, "a": 1}, {"$rename": {"a": "b.c"}, "$currentDate": {"t": True}})
    assert new["b"] == {"c": 1} and "a" not in new
    assert isinstance(new["t"], datetime.datetime)


def test_push_modifiers():
    doc = {"_id": 1, "a": [5, 1]}
    new = up(doc, {"$push": {"a": {"$each": [3, 4], "$sort": 1, "$slice": 3}}})
    assert new["a"] == [1, 3, 4]
    assert up(doc, {"$push": {"a": {"$each": [9], "$position": 0}}})["a"] == [9, 5, 1]
    assert up({"_id": 1}, {"$push": {"a": 1}})["a"] == [1]


def test_push_on_non_array_fails():
    with pytest.raises(MongoError) as info:
        up({"_id": 1, "a": 1}, {"$push": {"a": 2}})
    assert info.value.code == 2


def test_add_to_set_pop_pull_pullall():
    doc = {"_id": 1, "a": [1, 2, 3, 2], "b": [{"x": 1}, {"x": 2}]}
    assert up(doc, {"$addToSet": {"a": {"$each": [2, 4]}}})["a"] == [1, 2, 3, 2, 4]
    assert up(doc, {"$pop": {"a": 1}})["a"] == [1, 2, 3]
    assert up(doc, {"$pop": {"a": -1}})["a"] == [2, 3, 2]
    assert up(doc, {"$pull": {"a": 2}})["a"] == [1, 3]
    assert up(doc, {"$pull": {"a": {"$gte": 2}}})["a"] == [1]
    assert up(doc, {"$pull": {"b": {"x": 1}}})["b"] == [{"x": 2}]
    assert up(doc, {"$pullAll": {"a": [1, 3]}})["a"] == [2, 2]


def test_positional_operators():
    doc = {"_id": 1, "g": [80, 85, 90], "items": [{"q": 1}, {"q": 7}]}
    assert up(doc, {"$set": {"g.$": 86}}, query={"g": 85})["g"] == [80, 86, 90]
    assert up(doc, {"$inc": {"items.$.q": 1}}, query={"items.q": {"$gt": 5}})["items"][1] == {"q": 8}
    assert up(doc, {"$inc": {"g.$[]": 1}})["g"] == [81, 86, 91]
    new = up(doc, {"$set": {"g.$[hi]": 100}}, array_filters=[{"hi": {"$gte": 85}}])
    assert new["g"] == [80, 100, 100]


def test_positional_without_match_fails():
    with pytest.raises(MongoError) as info:
        up({"_id": 1, "g": [1]}, {"$set": {"g.$": 2}}, query={})
    assert info.value.code == 2


def test_replacement_keeps_id_and_rejects_id_change():
    assert up({"_id": 1, "a": 1}, {"b": 2}) == {"_id": 1, "b": 2}
    with pytest.raises(MongoError) as info:
        up({"_id": 1}, {"_id": 2, "b": 2})
    assert info.value.code == 66
    with pytest.raises(MongoError) as info:
        up({"_id": 1}, {"$set": {"_id": 2}})
    assert info.value.code == 66


@pytest.mark.parametrize("spec, code", [
    ({"$bogus": {"a": 1}}, 9),
    ({"$set": 5}, 9),
    ({"$set": {"a": 1}, "$inc": {"a": 1}}, 40),
    ({"$set": {"a": 1}, "b": 2}, 2),
])
def test_bad_updates(spec, code):
    with pytest.raises(MongoError) as info:
        up({"_id": 1}, spec)
    assert info.value.code == code


def test_set_on_insert_and_upsert_seed():
    seed = upsert_seed({"a": 1, "b.c": 2, "d": {"$gt": 1}, "$and": [{"e": 3}]})
    assert seed == {"a": 1, "b": {"c": 2}, "e": 3}
    assert up({"_id": 1}, {"$setOnInsert": {"x": 1}}) == {"_id": 1}
    assert up({"_id": 1}, {"$setOnInsert": {"x": 1}}, inserting=True) == {"_id": 1, "x": 1}


def test_pipeline_update():
    new = up({"_id": 1, "a": 2, "b": 3}, [{"$set": {"sum": {"$add": ["$a", "$b"]}}},
                                         {"$unset": "b"}])
    assert new == {"_id": 1, "a": 2, "sum": 5}
    with pytest.raises(MongoError):
        up({"_id": 1}, [{"$group": {"_id": 1}}])
