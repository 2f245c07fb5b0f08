"""hold.filters: --filter parsing and the predicates ls and prune share."""

from __future__ import annotations

import datetime as dt

import pytest

from hold import filters as fl
from hold.errors import InvalidArgument

NOW = 1_700_000_000.0


def test_public_surface_is_declared():
    for name in fl.__all__:
        assert hasattr(fl, name), name


def test_parse_filters_groups_values_by_key():
    parsed = fl.parse_filters(
        ["label=a", " Label = b=c ", "label=a", "dangling=true", "label!=x", ""],
        {"label", "label!", "dangling"})
    assert parsed == {"label": ["a", "b=c"], "dangling": ["true"], "label!": ["x"]}


def test_parse_filters_refuses_unknown_keys_like_moby():
    with pytest.raises(InvalidArgument) as info:
        fl.parse_filters(["foo=bar"], {"label"})
    assert str(info.value) == "invalid filter 'foo'"
    assert info.value.context["accepted"] == ["label"]


def test_parse_filters_needs_name_equals_value():
    with pytest.raises(InvalidArgument, match=r"bad format of filter \(expected name=value\)"):
        fl.parse_filters(["dangling"], {"dangling"})


@pytest.mark.parametrize("wanted, excluded, result", [
    (["env"], [], True),
    (["env=prod"], [], True),
    (["env=dev"], [], False),
    (["env", "tier=db"], [], True),
    (["env", "missing"], [], False),
    (["env="], [], False),
    (["empty="], [], True),
    ([], ["env=prod"], False),
    ([], ["env=dev"], True),
    ([], ["env", "nope"], True),      # excluded only when all label! match
    (["tier"], ["env", "tier=db"], False),
])
def test_match_labels(wanted, excluded, result):
    labels = {"env": "prod", "tier": "db", "empty": ""}
    assert fl.match_labels(labels, wanted, excluded) is result


def test_match_labels_on_no_labels():
    assert fl.match_labels(None, []) is True
    assert fl.match_labels(None, ["a"]) is False


@pytest.mark.parametrize("patterns, result", [
    ([], True), (["web"], True), (["^web-1$"], True), (["^eb"], False),
    (["db", "web"], True), (["["], False), (["web-["], False)])
def test_match_name_is_exact_or_regex_search(patterns, result):
    assert fl.match_name("web-1", patterns) is result


def test_match_name_invalid_regex_still_matches_exactly():
    assert fl.match_name("a[", ["a["]) is True


def test_match_prefix():
    assert fl.match_prefix("3f2a9c", ["3f", "zz"]) is True
    assert fl.match_prefix("3f2a9c", ["2a"]) is False
    assert fl.match_prefix("3f2a9c", []) is True


@pytest.mark.parametrize("values, result", [
    (["true"], True), (["1"], True), (["false"], False), ("0", False)])
def test_parse_bool(values, result):
    assert fl.parse_bool(values, "dangling") is result


@pytest.mark.parametrize("values, message", [
    (["maybe"], "invalid filter 'dangling=[maybe]'"),
    (["true", "false"], "invalid filter 'dangling=[true false]'"),
    (["True"], "invalid filter 'dangling=[True]'")])
def test_parse_bool_refuses_other_values(values, message):
    with pytest.raises(InvalidArgument) as info:
        fl.parse_bool(values, "dangling")
    assert str(info.value) == message


def test_match_bool():
    assert fl.match_bool(True, "true") is True
    assert fl.match_bool(0, "false") is True
    assert fl.match_bool("", ["1"]) is False
    with pytest.raises(InvalidArgument, match="invalid filter 'dangling=\\[maybe\\]'"):
        fl.match_bool(True, "maybe")


@pytest.mark.parametrize("text, seconds", [
    ("24h", 86400.0), ("1h30m", 5400.0), ("1.5s", 1.5), ("300ms", 0.3),
    ("-10m", -600.0), ("0", 0.0), ("2h45m30.5s", 9930.5), ("10", None),
    ("h", None), ("", None), ("1d", None)])
def test_parse_go_duration(text, seconds):
    assert fl.parse_go_duration(text) == (pytest.approx(seconds) if seconds is not None else None)


def _epoch(*args, tz=dt.timezone.utc) -> float:
    return dt.datetime(*args, tzinfo=tz).timestamp()


@pytest.mark.parametrize("value, expected", [
    ("24h", NOW - 86400),
    ("10m", NOW - 600),
    ("2024-01-02T03:04:05Z", _epoch(2024, 1, 2, 3, 4, 5)),
    ("2024-01-02T03:04:05.5Z", _epoch(2024, 1, 2, 3, 4, 5, 500000)),
    ("2024-01-02T03:04:05+02:00", _epoch(2024, 1, 2, 1, 4, 5)),
    ("2024-01-02Z", _epoch(2024, 1, 2)),
    ("1700000000", 1_700_000_000.0),
    ("1600000000.25", 1_600_000_000.25),
    ("0", 0.0),
])
def test_parse_until(value, expected):
    assert fl.parse_until(value, now=NOW) == pytest.approx(expected)


def test_parse_until_without_zone_is_local_time():
    local = dt.datetime(2024, 1, 2, 3, 4).astimezone().timestamp()
    assert fl.parse_until("2024-01-02T03:04", now=NOW) == pytest.approx(local)
    assert fl.parse_until("2024-01-02", now=NOW) == pytest.approx(
        dt.datetime(2024, 1, 2).astimezone().timestamp())


def test_parse_until_refuses_garbage():
    with pytest.raises(InvalidArgument) as info:
        fl.parse_until("last tuesday", now=NOW)
    assert str(info.value) == 'failed to parse value as time or duration: "last tuesday"'


def test_match_until_accepts_epochs_datetimes_and_strings():
    old = NOW - 2 * 86400
    assert fl.match_until(old, "24h", now=NOW) is True
    assert fl.match_until(NOW - 3600, "24h", now=NOW) is False
    assert fl.match_until(dt.datetime.fromtimestamp(old, dt.timezone.utc), "24h", now=NOW)
    assert fl.match_until("2020-01-01T00:00:00.123456789Z", "2021-01-01", now=NOW)
    assert not fl.match_until("2022-01-01T00:00:00Z", "2021-01-01T00:00:00Z", now=NOW)


# ----------------------------------------------------------- composition --

VOLUMES = [
    {"name": "data", "driver": "local", "labels": {"keep": ""}, "dangling": False,
     "created": NOW - 3 * 86400},
    {"name": "cache", "driver": "local", "labels": {"tier": "tmp"}, "dangling": True,
     "created": NOW - 2 * 86400},
    {"name": "fresh", "driver": "nfs", "labels": {}, "dangling": True, "created": NOW - 60},
]
MATCHERS = {
    "name": fl.by_name(lambda v: v["name"]),
    "driver": fl.by_value(lambda v: v["driver"]),
    "label": fl.by_labels(lambda v: v["labels"]),
    "label!": fl.by_labels_absent(lambda v: v["labels"]),
    "dangling": fl.by_bool(lambda v: v["dangling"], "dangling"),
    "until": fl.by_until(lambda v: v["created"], now=NOW),
    "id": fl.by_prefix(lambda v: v["name"]),
}


def select(*flags: str) -> list[str]:
    parsed = fl.parse_filters(flags, MATCHERS)
    keep = fl.compose(parsed, MATCHERS)
    return [v["name"] for v in VOLUMES if keep(v)]


def test_compose_is_and_across_keys_and_or_within_names():
    assert select() == ["data", "cache", "fresh"]
    assert select("dangling=true") == ["cache", "fresh"]
    assert select("dangling=true", "driver=local") == ["cache"]
    assert select("name=data", "name=fresh") == ["data", "fresh"]
    assert select("label!=keep") == ["cache", "fresh"]
    assert select("label=tier=tmp") == ["cache"]
    assert select("until=24h") == ["data", "cache"]
    assert select("until=24h", "label!=keep", "dangling=1") == ["cache"]
    assert select("id=ca") == ["cache"]


def test_compose_validates_before_looking_at_objects():
    parsed = fl.parse_filters(["dangling=maybe"], MATCHERS)
    with pytest.raises(InvalidArgument, match="invalid filter 'dangling=\\[maybe\\]'"):
        fl.compose(parsed, MATCHERS)
    with pytest.raises(InvalidArgument, match="more than one until filter specified"):
        fl.compose({"until": ["1h", "2h"]}, MATCHERS)
    with pytest.raises(InvalidArgument, match="invalid filter 'color'"):
        fl.compose({"color": ["red"]}, MATCHERS)
