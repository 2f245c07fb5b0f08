"""Replica-set configuration: the document ``rs.initiate`` / ``rs.reconfig``
send, validated the way mongod validates it, and the typed view the rest of
``holddb.repl`` reads.

Words: a *member* is one entry of ``members`` (``_id``, ``host``,
``priority``, ``votes``, ``hidden``, ``arbiterOnly``, ``tags``,
``secondaryDelaySecs``); a *voter* has ``votes: 1``; an *electable* member
is a voter with ``priority > 0`` that is not an arbiter.  A *delayed*
member applies each oplog entry only once it is ``secondaryDelaySecs`` old
(``slaveDelay`` is the old name); it must have priority 0.  *Tags* are
string labels (``{dc: "east"}``); a write concern *mode* in
``settings.getLastErrorModes`` (``{multiDC: {dc: 2}}``) asks for members
with that many different values of a tag.

``version`` grows by one on each reconfig; ``term`` is the term in which
the config was written: a reconfig writes the primary's term, and a new
primary rewrites the config with its own term (same version), as mongod
4.4+ does.  Of two configs the newer is the one with the higher
``(version, term)``.  Invalid documents raise InvalidReplicaSetConfig (93)
naming the field and what is accepted, as mongod does.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from typing import Any

from bson.objectid import ObjectId

from holddb.errors import MongoError

__all__ = ["MemberConfig", "ReplConfig", "validate_config", "split_host", "DEFAULT_SETTINGS",
           "with_term", "is_newer"]

MAX_MEMBERS = 50
MAX_VOTERS = 7
MAX_DELAY_SECS = 3600 * 24 * 366  # mongod's limit on secondaryDelaySecs
DEFAULT_SETTINGS: dict[str, Any] = {
    "chainingAllowed": True,
    "heartbeatIntervalMillis": 2000,
    "heartbeatTimeoutSecs": 10,
    "electionTimeoutMillis": 10000,
    "catchUpTimeoutMillis": -1,
    "catchUpTakeoverDelayMillis": 30000,
    "getLastErrorModes": {},
    "getLastErrorDefaults": {"w": 1, "wtimeout": 0},
}
_TOP_FIELDS = {"_id", "version", "term", "protocolVersion", "writeConcernMajorityJournalDefault",
               "configsvr", "members", "settings"}
_MEMBER_FIELDS = {"_id", "host", "priority", "votes", "hidden", "arbiterOnly", "buildIndexes",
                  "tags", "secondaryDelaySecs", "slaveDelay", "horizons"}
_SETTINGS_INT = ("heartbeatIntervalMillis", "heartbeatTimeoutSecs", "electionTimeoutMillis",
                 "catchUpTimeoutMillis", "catchUpTakeoverDelayMillis")


def _fail(message: str) -> MongoError:
    return MongoError(93, message)


def split_host(host: str) -> tuple[str, int]:
    """``"h:p"`` -> ``("h", p)``; a missing port is 27017 (mongod's default)."""
    name, sep, port = host.rpartition(":")
    if not sep:
        return host, 27017
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise _fail(f"Invalid port in host string {host!r}: expected host:port with a port "
                    "between 1 and 65535")
    return name.strip("[]"), int(port)


@dataclass(frozen=True)
class MemberConfig:
    id: int
    host: str
    priority: float = 1.0
    votes: int = 1
    hidden: bool = False
    arbiter_only: bool = False
    tags: dict[str, str] = field(default_factory=dict, hash=False, compare=False)
    secondary_delay: int = 0  # seconds (secondaryDelaySecs)

    @property
    def voter(self) -> bool:
        return self.votes > 0

    @property
    def electable(self) -> bool:
        return self.voter and self.priority > 0 and not self.arbiter_only


@dataclass
class ReplConfig:
    """A validated config; ``document`` is what replSetGetConfig returns."""
    name: str
    version: int
    term: int
    members: list[MemberConfig]
    settings: dict[str, Any]
    document: dict[str, Any] = field(repr=False, default_factory=dict)

    def member(self, member_id: int) -> MemberConfig | None:
        return next((m for m in self.members if m.id == member_id), None)

    def by_host(self, host: str) -> MemberConfig | None:
        return next((m for m in self.members if m.host == host), None)

    @property
    def voters(self) -> list[MemberConfig]:
        return [m for m in self.members if m.voter]

    @property
    def majority(self) -> int:
        """Votes needed to win an election (and to commit a write)."""
        return len(self.voters) // 2 + 1

    def setting(self, name: str) -> Any:
        return self.settings.get(name, DEFAULT_SETTINGS.get(name))


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _fail(f"{what} field value has wrong type {type(value).__name__}, expected a number")
    return float(value)


def _member(raw: Any, index: int) -> MemberConfig:
    where = f"members.{index}"
    if not isinstance(raw, dict):
        raise _fail(f"Elements of members array must be objects, but {where} is "
                    f"{type(raw).__name__}")
    for key in raw:
        if key not in _MEMBER_FIELDS:
            raise _fail(f"Unexpected field {key} in {where}; accepted: "
                        f"{', '.join(sorted(_MEMBER_FIELDS))}")
    if "_id" not in raw:
        raise _fail(f"{where} is missing the required _id field")
    member_id = _number(raw["_id"], f"{where}._id")
    if member_id != int(member_id) or member_id < 0:
        raise _fail(f"{where}._id must be a non-negative integer, got {raw['_id']}")
    host = raw.get("host")
    if not isinstance(host, str) or not host:
        raise _fail(f"{where} is missing the required host field (a \"host:port\" string)")
    split_host(host)
    arbiter = bool(raw.get("arbiterOnly", False))
    votes = _number(raw.get("votes", 1), f"{where}.votes")
    if votes not in (0, 1):
        raise _fail(f"{where}.votes must be 0 or 1, got {raw['votes']}")
    priority = _number(raw.get("priority", 0 if arbiter else 1), f"{where}.priority")
    if not 0 <= priority <= 1000:
        raise _fail(f"{where}.priority must be between 0 and 1000, got {raw['priority']}")
    hidden = bool(raw.get("hidden", False))
    if arbiter and priority != 0:
        raise _fail(f"{where}: arbiters must have priority 0, got {raw['priority']}")
    if arbiter and votes != 1:
        raise _fail(f"{where}: arbiter must vote (cannot have 0 votes)")
    if hidden and priority != 0:
        raise _fail(f"{where}: priority must be 0 when hidden=true")
    if votes == 0 and priority != 0:
        raise _fail(f"{where}: priority must be 0 when non-voting (votes:0)")
    delay = _delay(raw, where)
    if delay and priority != 0:
        raise _fail(f"{where}: priority must be 0 when secondaryDelaySecs is greater than 0 "
                    f"(a delayed member must never become primary); got priority "
                    f"{raw.get('priority', 1)}")
    if delay and arbiter:
        raise _fail(f"{where}: arbiters cannot have secondaryDelaySecs (they hold no data)")
    tags = _tags(raw.get("tags"), where)
    if tags and arbiter:
        raise _fail(f"{where}: arbiters cannot have tags")
    return MemberConfig(int(member_id), host, priority, int(votes), hidden, arbiter, tags, delay)


def _delay(raw: dict, where: str) -> int:
    if "secondaryDelaySecs" in raw and "slaveDelay" in raw:
        raise _fail(f"{where}: give secondaryDelaySecs or its old name slaveDelay, not both")
    name = "slaveDelay" if "slaveDelay" in raw else "secondaryDelaySecs"
    value = _number(raw.get(name, 0), f"{where}.{name}")
    if value != int(value) or not 0 <= value <= MAX_DELAY_SECS:
        raise _fail(f"{where}.{name} must be a whole number of seconds between 0 and "
                    f"{MAX_DELAY_SECS}, got {raw[name]}")
    return int(value)


def _tags(raw: Any, where: str) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise _fail(f"{where}.tags must be an object of strings, got {type(raw).__name__}")
    for key, value in raw.items():
        if not isinstance(value, str):
            raise _fail(f"{where}.tags.{key} field has non-string value of type "
                        f"{type(value).__name__}; tag values must be strings")
    return dict(raw)


def _check_modes(modes: Any, members: list[MemberConfig]) -> None:
    """``getLastErrorModes``: ``{name: {tag: count}}``; each tag must be on
    some member, with at least ``count`` different values."""
    if not isinstance(modes, dict):
        raise _fail("settings.getLastErrorModes must be an object of {modeName: {tag: count}}")
    for mode, constraints in modes.items():
        if mode == "majority":
            raise _fail("settings.getLastErrorModes may not redefine the reserved mode "
                        "'majority'")
        if not isinstance(constraints, dict) or not constraints:
            raise _fail(f"settings.getLastErrorModes.{mode} must be a non-empty object of "
                        "{tag: count}")
        for tag, count in constraints.items():
            number = _number(count, f"settings.getLastErrorModes.{mode}.{tag}")
            if number != int(number) or number < 1:
                raise _fail(f"settings.getLastErrorModes.{mode}.{tag} must be a positive "
                            f"integer, got {count}")
            values = {m.tags[tag] for m in members if tag in m.tags}
            if not values:
                raise _fail(f"No member has tag '{tag}', which write concern mode '{mode}' "
                            "counts (settings.getLastErrorModes)")
            if len(values) < number:
                raise _fail(f"Write concern mode '{mode}' requires {int(number)} different "
                            f"values of tag '{tag}', but the members carry only "
                            f"{len(values)} ({', '.join(sorted(values))})")


def _settings(raw: Any) -> dict[str, Any]:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise _fail("settings field must be an object")
    out = {**DEFAULT_SETTINGS, **raw}
    for name in _SETTINGS_INT:
        value = _number(out[name], f"settings.{name}")
        if name != "catchUpTimeoutMillis" and value <= 0:
            raise _fail(f"settings.{name} must be greater than 0, got {out[name]}")
        out[name] = int(value)
    out["chainingAllowed"] = bool(out["chainingAllowed"])
    out.setdefault("replicaSetId", ObjectId())
    return out


def validate_config(doc: Any, set_name: str, *, version: int | None = None,
                    term: int = -1) -> ReplConfig:
    """Check ``doc`` against mongod's rules and fill in the defaults.

    ``set_name`` is the ``--replSet`` name the document must carry;
    ``version`` (when given) overrides the document's, as initiate does.
    """
    if not isinstance(doc, dict):
        raise _fail("replica set configuration must be an object")
    for key in doc:
        if key not in _TOP_FIELDS:
            raise _fail(f"Unexpected field {key} in replica set configuration; accepted: "
                        f"{', '.join(sorted(_TOP_FIELDS))}")
    name = doc.get("_id")
    if not isinstance(name, str) or not name:
        raise _fail("replica set configuration is missing the _id field (the set name)")
    if name != set_name:
        raise _fail(f"Attempting to initiate a replica set with name {name}, but command line "
                    f"reports {set_name}; rejecting")
    if doc.get("protocolVersion", 1) != 1:
        raise _fail("Only protocolVersion 1 is supported, got "
                    f"protocolVersion: {doc.get('protocolVersion')}")
    raw_members = doc.get("members")
    if not isinstance(raw_members, list) or not raw_members:
        raise _fail("Replica set configuration must contain a non-empty members array")
    if len(raw_members) > MAX_MEMBERS:
        raise _fail(f"Replica set configuration contains {len(raw_members)} members, "
                    f"but must have at most {MAX_MEMBERS}")
    members = [_member(raw, i) for i, raw in enumerate(raw_members)]
    _check_unique(members)
    voters = [m for m in members if m.voter]
    if len(voters) > MAX_VOTERS:
        raise _fail(f"Replica set configuration contains {len(voters)} voting members, "
                    f"but must be at least 1 and no more than {MAX_VOTERS}")
    if not voters:
        raise _fail("Replica set configuration must contain at least one voting member")
    if not any(m.electable for m in members):
        raise _fail("Replica set configuration must contain at least one electable member "
                    "(votes: 1, priority > 0, not an arbiter)")
    if version is None:
        raw_version = _number(doc.get("version", 1), "version")
        version = int(raw_version)
    if version < 1:
        raise _fail(f"version field value of {version} is out of range (must be >= 1)")
    settings = _settings(doc.get("settings"))
    _check_modes(settings["getLastErrorModes"], members)
    settings["getLastErrorModes"] = {mode: {tag: int(count) for tag, count in spec.items()}
                                     for mode, spec in settings["getLastErrorModes"].items()}
    document = {"_id": name, "version": version, "term": term, "members": [
        {"_id": m.id, "host": m.host, "arbiterOnly": m.arbiter_only, "buildIndexes": True,
         "hidden": m.hidden, "priority": m.priority, "tags": dict(m.tags),
         "secondaryDelaySecs": m.secondary_delay, "votes": m.votes} for m in members],
        "protocolVersion": 1, "writeConcernMajorityJournalDefault": True,
        "settings": settings}
    return ReplConfig(name, version, term, members, settings, document)


def with_term(config: ReplConfig, term: int) -> ReplConfig:
    """The same config (same version) written in ``term``: what a new
    primary installs on step-up, so that members tell its config from the
    one a deposed primary may still hold."""
    document = {**config.document, "term": term}
    return ReplConfig(config.name, config.version, term, list(config.members),
                      dict(config.settings), document)


def is_newer(version: int, term: int, than: ReplConfig | None) -> bool:
    """Is a config ``(version, term)`` newer than ``than``?  Versions first;
    at equal versions the higher term (a step-up rewrite) wins."""
    if than is None:
        return True
    return (version, term) > (than.version, than.term)


def _check_unique(members: list[MemberConfig]) -> None:
    seen_ids: dict[int, int] = {}
    seen_hosts: dict[str, int] = {}
    for index, member in enumerate(members):
        if member.id in seen_ids:
            raise _fail(f"Found two member configurations with same _id field, "
                        f"members.{seen_ids[member.id]}._id == members.{index}._id == {member.id}")
        seen_ids[member.id] = index
        key = _normal_host(member.host)
        if key in seen_hosts:
            raise _fail(f"Found two member configurations with same host field, "
                        f"members.{seen_hosts[key]}.host == members.{index}.host == {member.host}")
        seen_hosts[key] = index


def _normal_host(host: str) -> str:
    name, port = split_host(host)
    return f"{name.lower()}:{port}"


def is_local_address(host: str) -> bool:
    """Does ``host`` name this machine (an address we could bind to)?"""
    name, _ = split_host(host)
    if name in ("localhost", socket.gethostname(), socket.getfqdn()):
        return True
    try:
        infos = socket.getaddrinfo(name, None, type=socket.SOCK_STREAM)
    except OSError:
        return False
    for family, _, _, _, address in infos:
        try:
            with socket.socket(family, socket.SOCK_STREAM) as probe:
                probe.bind((address[0], 0))
                return True
        except OSError:
            continue
    return False
