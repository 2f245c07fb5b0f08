"""``--filter`` flags: parsing, and small predicates that compose.

Shared by ``ps``, ``images``, ``volume ls``/``prune`` and ``network ls``, the
way moby shares its filters between list and prune.

Words:

- a **filter value** is what the user typed: ``key=value`` (``label=a=b``
  is key ``label``, value ``a=b``; ``label!=a`` is key ``label!``).
- **filters** are the parsed flags, ``{key: [value, ...]}``; a key given
  twice keeps both values (deduplicated, in order).
- a **matcher** turns one key's values into a predicate on an object:
  ``Callable[[list[str]], Callable[[obj], bool]]``.  Building the predicate
  is where a bad value is refused (``dangling=maybe``), so the error comes
  even when there is nothing to filter.
- ``compose(filters, matchers)`` is the AND of one predicate per key, as
  moby's ``driver=x AND dangling=true AND label=y``.  Within one key the
  matcher decides: names OR together, labels AND together.

Errors are ``InvalidArgument`` with moby's wording: ``invalid filter
'foo'``, ``invalid filter 'dangling=[maybe]'``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping

from hold.errors import InvalidArgument

__all__ = [
    "parse_filters", "match_labels", "match_name", "match_prefix",
    "parse_bool", "match_bool", "parse_until", "match_until",
    "parse_go_duration", "compose", "by_labels", "by_labels_absent",
    "by_name", "by_value", "by_prefix", "by_bool", "by_until",
]

Predicate = Callable[[object], bool]
Matcher = Callable[[list], Predicate]


def parse_filters(values: Iterable[str], accepted: Iterable[str]) -> dict[str, list[str]]:
    """Parse ``--filter`` values; refuse keys outside ``accepted``.

    As Docker's CLI: a value needs ``=``; the key is trimmed and lower-cased,
    the value trimmed.
    """
    allowed = set(accepted)
    filters: dict[str, list[str]] = {}
    for raw in values:
        if raw == "":
            continue
        if "=" not in raw:
            raise InvalidArgument("bad format of filter (expected name=value)", value=raw)
        key, value = raw.split("=", 1)
        key, value = key.strip().lower(), value.strip()
        if key not in allowed:
            raise InvalidArgument(f"invalid filter '{key}'", key=key,
                                  accepted=sorted(allowed))
        bucket = filters.setdefault(key, [])
        if value not in bucket:
            bucket.append(value)
    return filters


def _label_matches(labels: Mapping[str, str], spec: str) -> bool:
    key, eq, value = spec.partition("=")
    if key not in labels:
        return False
    return not eq or labels[key] == value


def match_labels(labels: Mapping[str, str] | None, wanted: Iterable[str],
                 excluded: Iterable[str] = ()) -> bool:
    """``label=key`` / ``label=key=value`` (all must hold) and ``label!=``.

    ``excluded`` holds the ``label!`` values: as moby, an object is excluded
    when it matches every one of them.
    """
    labels = labels or {}
    if not all(_label_matches(labels, spec) for spec in wanted):
        return False
    excluded = list(excluded)
    return not (excluded and all(_label_matches(labels, s) for s in excluded))


def match_name(name: str, patterns: Iterable[str]) -> bool:
    """True if any pattern equals ``name`` or, as a regex, is found in it.

    No patterns means no filter: True.  A pattern that is not a valid regex
    only matches exactly (moby skips it).
    """
    patterns = list(patterns)
    if not patterns:
        return True
    for pattern in patterns:
        if pattern == name:
            return True
        try:
            if re.search(pattern, name):
                return True
        except re.error:
            continue
    return False


def match_prefix(ident: str, prefixes: Iterable[str]) -> bool:
    """True if ``ident`` starts with any prefix (the ``id=`` filters)."""
    prefixes = list(prefixes)
    return not prefixes or any(ident.startswith(p) for p in prefixes)


def parse_bool(values: str | Iterable[str], key: str) -> bool:
    """The boolean a filter asks for: ``true``/``1`` or ``false``/``0``.

    Anything else, or both at once, is ``invalid filter 'key=[values]'``.
    """
    values = [values] if isinstance(values, str) else list(values)
    is_true = any(v in ("true", "1") for v in values)
    is_false = any(v in ("false", "0") for v in values)
    if is_true == is_false:
        raise InvalidArgument(f"invalid filter '{key}=[{' '.join(values)}]'",
                              key=key, values=values)
    return is_true


def match_bool(value, wanted: str | Iterable[str], *, key: str = "dangling") -> bool:
    """``bool(value)`` equals what the filter asks for (see ``parse_bool``)."""
    return bool(value) == parse_bool(wanted, key)


_DURATION_PART = re.compile(r"(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3,
                   "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_go_duration(text: str) -> float | None:
    """Seconds in a Go duration ("24h", "1h30m", "1.5s", "-10m"); else None."""
    sign, body = 1, text
    if body and body[0] in "+-":
        sign, body = (-1 if body[0] == "-" else 1), body[1:]
    if body == "0":
        return 0.0
    total, pos = 0.0, 0
    while pos < len(body):
        m = _DURATION_PART.match(body, pos)
        if not m:
            return None
        total += float(m.group(1)) * _DURATION_UNITS[m.group(2)]
        pos = m.end()
    return sign * total if body else None


_DATE_TIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})(?:T(\d{2})(?::(\d{2})(?::(\d{2})(\.\d+)?)?)?)?"
    r"([Zz]|[+-]\d{2}:\d{2})?\Z")


def _parse_date_time(value: str) -> float | None:
    m = _DATE_TIME.match(value)
    if not m:
        return None
    import datetime as dt
    year, month, day, hour, minute, second = (int(g or 0) for g in m.groups()[:6])
    micro = int((m.group(7) or ".0")[1:7].ljust(6, "0"))
    zone = m.group(8)
    tz = None
    if zone in ("Z", "z"):
        tz = dt.timezone.utc
    elif zone:
        sign = -1 if zone[0] == "-" else 1
        tz = dt.timezone(sign * dt.timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6])))
    try:
        when = dt.datetime(year, month, day, hour, minute, second, micro, tzinfo=tz)
    except ValueError:
        return None
    return when.timestamp() if tz else when.astimezone().timestamp()


def parse_until(value: str, *, now: float | None = None) -> float:
    """The cut-off time of ``until=`` as seconds since the epoch.

    As moby: a Go duration counts back from now ("24h", "10m"); otherwise
    an RFC 3339 date or time ("2024-01-02", "2024-01-02T15:04",
    "2024-01-02T15:04:05.5Z"; local time without a zone); otherwise Unix
    seconds ("1700000000", "1700000000.5").
    """
    if now is None:
        import time
        now = time.time()
    duration = parse_go_duration(value) if value != "0" else None
    if duration is not None:
        return now - duration
    when = _parse_date_time(value)
    if when is not None:
        return when
    if re.fullmatch(r"\d+(\.\d+)?", value):
        return float(value)
    raise InvalidArgument(f'failed to parse value as time or duration: "{value}"', value=value)


def _created_epoch(created) -> float:
    if isinstance(created, (int, float)):
        return float(created)
    if isinstance(created, str):
        when = _parse_date_time(created.replace("t", "T"))
        if when is None:
            raise InvalidArgument(f"invalid creation time {created!r}", value=created)
        return when
    return created.timestamp()


def match_until(created, value: str, *, now: float | None = None) -> bool:
    """True if ``created`` (epoch, datetime or RFC 3339) is before ``until``."""
    return _created_epoch(created) < parse_until(value, now=now)


# ----------------------------------------------------------- composition --

def compose(filters: Mapping[str, list[str]],
            matchers: Mapping[str, Matcher]) -> Predicate:
    """The AND of ``matchers[key](values)`` for every key in ``filters``.

    Every predicate is built here, before any object is looked at, so bad
    values fail even on an empty list.
    """
    predicates = []
    for key, values in filters.items():
        if key not in matchers:
            raise InvalidArgument(f"invalid filter '{key}'", key=key,
                                  accepted=sorted(matchers))
        predicates.append(matchers[key](list(values)))
    return lambda obj: all(p(obj) for p in predicates)


def by_labels(labels_of: Callable[[object], Mapping[str, str]]) -> Matcher:
    """``label=k`` / ``label=k=v``: every value must hold."""
    return lambda values: lambda obj: match_labels(labels_of(obj), values)


def by_labels_absent(labels_of: Callable[[object], Mapping[str, str]]) -> Matcher:
    """``label!=k`` / ``label!=k=v``: excluded when all of them hold."""
    return lambda values: lambda obj: match_labels(labels_of(obj), (), values)


def by_name(name_of: Callable[[object], str]) -> Matcher:
    """``name=``: exact or regex search, any value (``match_name``)."""
    return lambda values: lambda obj: match_name(name_of(obj), values)


def by_value(value_of: Callable[[object], str]) -> Matcher:
    """Exact equality with any value (``driver=local``, ``status=exited``)."""
    return lambda values: lambda obj: value_of(obj) in values


def by_prefix(value_of: Callable[[object], str]) -> Matcher:
    """Prefix of any value (``id=3f2a``)."""
    return lambda values: lambda obj: match_prefix(value_of(obj), values)


def by_bool(value_of: Callable[[object], object], key: str) -> Matcher:
    """``dangling=true``: the value is checked when the predicate is built."""
    def build(values: list[str]) -> Predicate:
        wanted = parse_bool(values, key)
        return lambda obj: bool(value_of(obj)) == wanted
    return build


def by_until(created_of: Callable[[object], object], *, now: float | None = None) -> Matcher:
    """``until=24h``: created before the cut-off.  One value only, as moby."""
    def build(values: list[str]) -> Predicate:
        if len(values) > 1:
            raise InvalidArgument("more than one until filter specified", values=values)
        cutoff = parse_until(values[0], now=now)
        return lambda obj: _created_epoch(created_of(obj)) < cutoff
    return build
