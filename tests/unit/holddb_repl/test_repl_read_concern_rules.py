"""The pure parts of read concern and of the config's tags / delays: parsing
``readConcern`` with mongod's codes, what a read may read (its scope), which
oplog entries touch it, config ordering by (version, term)."""

from __future__ import annotations

import pytest
from bson.timestamp import Timestamp

from holddb.errors import MongoError
from holddb.repl import validate_config
from holddb.repl._config import is_newer, with_term
from holddb.repl._read_concern import (EVERYTHING, _overlaps, _touched, parse_read_concern,
                                       read_scope)


class _Info:
    def __init__(self, options: dict) -> None:
        self.options = options


class _Storage:
    """Just enough of Storage for read_scope: one view, v, over c."""

    def collection(self, db: str, name: str):
        return _Info({"viewOn": "c"}) if name == "v" else _Info({})


def test_parse_levels_and_times():
    assert parse_read_concern({"find": "c"}).level == "local"
    concern = parse_read_concern({"find": "c", "readConcern": {
        "level": "majority", "afterClusterTime": Timestamp(7, 1)}})
    assert concern.committed_only and concern.after_cluster_time == Timestamp(7, 1)
    concern = parse_read_concern({"find": "c", "readConcern": {
        "afterOpTime": {"ts": Timestamp(7, 1), "t": 3}}})
    assert concern.after_optime.term == 3 and not concern.committed_only
    concern = parse_read_concern({"find": "c", "readConcern": {
        "level": "snapshot", "atClusterTime": Timestamp(9, 2)}})
    assert concern.at_cluster_time == Timestamp(9, 2) and concern.committed_only


@pytest.mark.parametrize("raw, code", [
    (1, 14), ({"level": "strong"}, 9), ({"lvl": "majority"}, 40415),
    ({"afterClusterTime": 5}, 14), ({"afterOpTime": {"t": 1}}, 14),
    ({"level": "local", "atClusterTime": Timestamp(1, 1)}, 72),
    ({"level": "linearizable", "afterOpTime": {"ts": Timestamp(1, 1), "t": 1}}, 72),
    ({"level": "snapshot", "atClusterTime": Timestamp(1, 1),
      "afterClusterTime": Timestamp(1, 1)}, 72),
])
def test_parse_refuses(raw, code):
    with pytest.raises(MongoError) as info:
        parse_read_concern({"find": "c", "readConcern": raw})
    assert info.value.code == code


def test_scopes():
    storage = _Storage()
    assert read_scope(storage, "db", {"find": "c"}) == {"db.c"}
    assert read_scope(storage, "db", {"find": "v"}) == {"db.*"}
    assert read_scope(storage, "db", {"aggregate": 1, "pipeline": []}) == {"db.*"}
    assert read_scope(storage, "db", {"aggregate": "c", "pipeline": [
        {"$match": {}}, {"$facet": {"x": [{"$lookup": {"from": "d", "as": "y"}}]}}]}) \
        == {"db.*"}
    assert read_scope(storage, "db", {"aggregate": "c", "pipeline": [
        {"$unionWith": {"coll": {"db": "other", "coll": "x"}}}]}) is EVERYTHING
    assert read_scope(storage, "db", {"aggregate": "c", "pipeline": [{"$match": {}}]}) \
        == {"db.c"}
    assert read_scope(storage, "local", {"find": "oplog.rs"}) is EVERYTHING
    assert read_scope(storage, "local", {"find": "startup_log"}) == frozenset()


def test_what_entries_touch():
    assert _touched("n", "", {"msg": "periodic noop"}) == ()
    assert _touched("i", "db.c", {}) == ("db.c",)
    assert _touched("c", "db.$cmd", {"create": "x"}) == ("db.*",)
    assert _touched("c", "a.$cmd", {"renameCollection": "a.x", "to": "b.y"}) == ("a.*", "b.*")
    scope = frozenset({"db.c"})
    assert _overlaps(scope, ("db.c",)) and _overlaps(scope, ("db.*",))
    assert not _overlaps(scope, ("db.d",)) and not _overlaps(scope, ("db2.*",))
    assert not _overlaps(scope, ("dbx.c",))
    assert _overlaps(frozenset({"db.*"}), ("db.d",)) and _overlaps(scope, ("*",))


def test_config_order_and_step_up_term():
    config = validate_config({"_id": "rs", "version": 3, "members": [
        {"_id": 0, "host": "a:1", "tags": {"dc": "e"}},
        {"_id": 1, "host": "b:1", "tags": {"dc": "w"}, "priority": 0,
         "secondaryDelaySecs": 60}],
        "settings": {"getLastErrorModes": {"both": {"dc": 2.0}}}}, "rs", term=2)
    assert config.members[1].secondary_delay == 60 and config.members[0].tags == {"dc": "e"}
    assert config.settings["getLastErrorModes"] == {"both": {"dc": 2}}
    bumped = with_term(config, 5)
    assert bumped.version == 3 and bumped.term == 5 and bumped.document["term"] == 5
    assert config.term == 2 and config.document["term"] == 2
    assert is_newer(3, 5, config) and not is_newer(3, 2, config) and is_newer(4, 0, config)
    assert not is_newer(2, 9, config) and is_newer(1, 1, None)
