"""holddb's one error taxonomy.

Every failure a client can see is a :class:`MongoError` carrying MongoDB's
numeric code and code name, raised where the problem is found and turned into
an ``{ok: 0, errmsg, code, codeName}`` reply in exactly one place
(``server.Server._run_command``)::

    MongoError(code, message)
      +-- BadValue (2), FailedToParse (9), TypeMismatch (14),
      |   InvalidLength (16), IllegalOperation (20), NamespaceNotFound (26),
      |   NamespaceExists (48), CommandNotFound (59), ...
      +-- DuplicateKey (11000) -- carries keyPattern / keyValue for the reply

Foreign errors (sqlite3, bson) are translated at their boundary with
``raise MongoError(...) from exc``.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "CODE_NAMES",
    "MongoError",
    "DuplicateKey",
    "bad_value",
    "failed_to_parse",
    "type_mismatch",
]

CODE_NAMES: dict[int, str] = {
    1: "InternalError",
    2: "BadValue",
    4: "NoSuchKey",
    9: "FailedToParse",
    10: "UserNotFound",
    11: "UnknownError",
    14: "TypeMismatch",
    16: "InvalidLength",
    17: "ProtocolError",
    20: "IllegalOperation",
    22: "InvalidBSON",
    26: "NamespaceNotFound",
    27: "IndexNotFound",
    40: "ConflictingUpdateOperators",
    43: "CursorNotFound",
    48: "NamespaceExists",
    50: "MaxTimeMSExpired",
    52: "DollarPrefixedFieldName",
    54: "NotSingleValueField",
    59: "CommandNotFound",
    66: "ImmutableField",
    67: "CannotCreateIndex",
    68: "IndexAlreadyExists",
    72: "InvalidOptions",
    73: "InvalidNamespace",
    76: "NotReplicationEnabled",
    85: "IndexOptionsConflict",
    86: "IndexKeySpecsConflict",
    93: "InvalidReplicaSetConfig",
    94: "NotYetInitialized",
    23: "AlreadyInitialized",
    64: "WriteConcernFailed",
    79: "UnknownReplWriteConcern",
    100: "UnsatisfiableWriteConcern",
    125: "CommandFailed",
    74: "NodeNotFound",
    91: "ShutdownInProgress",
    95: "NotSecondary",
    103: "NewReplicaSetConfigurationIncompatible",
    117: "ConflictingOperationInProgress",
    133: "FailedToSatisfyReadPreference",
    134: "ReadConcernMajorityNotAvailableYet",
    239: "SnapshotTooOld",
    189: "PrimarySteppedDown",
    262: "ExceededTimeLimit",
    11602: "InterruptedDueToReplStateChange",
    13435: "NotPrimaryNoSecondaryOk",
    13436: "NotPrimaryOrSecondary",
    96: "OperationFailed",
    98: "DBPathInUse",
    113: "ConflictingOperationInProgress",
    115: "CommandNotSupported",
    166: "CommandNotSupportedOnView",
    168: "InvalidPipelineOperator",
    225: "TransactionTooOld",
    241: "ConversionFailure",
    251: "NoSuchTransaction",
    263: "OperationNotSupportedInTransaction",
    121: "DocumentValidationFailure",
    10107: "NotWritablePrimary",
    10334: "BSONObjectTooLarge",
    11000: "DuplicateKey",
    13297: "DatabaseDifferCase",
    15952: "Location15952",
    31254: "Location31254",
    40324: "Location40324",
    40352: "Location40352",
}


class MongoError(Exception):
    """A failure answered to the client as ``ok: 0`` with ``code``.

    ``extra`` holds additional reply fields (e.g. ``keyPattern``).
    """

    def __init__(self, code: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.extra = extra

    @property
    def code_name(self) -> str:
        return CODE_NAMES.get(self.code, f"Location{self.code}")

    def to_reply(self) -> dict[str, Any]:
        """The ``{ok: 0, ...}`` document mongod would send for this error."""
        reply: dict[str, Any] = {
            "ok": 0.0,
            "errmsg": self.message,
            "code": self.code,
            "codeName": self.code_name,
        }
        reply.update(self.extra)
        return reply

    def to_write_error(self, index: int) -> dict[str, Any]:
        """The per-document ``writeErrors`` entry for this error."""
        entry: dict[str, Any] = {"index": index, "code": self.code, "errmsg": self.message}
        entry.update(self.extra)
        return entry

    def __repr__(self) -> str:
        return f"MongoError({self.code}, {self.message!r})"


class DuplicateKey(MongoError):
    """A unique index already holds this key (E11000)."""

    def __init__(self, ns: str, index_name: str, key_pattern: dict, key_value: dict) -> None:
        shown = ", ".join(f"{k}: {_shell_repr(v)}" for k, v in key_value.items())
        super().__init__(
            11000,
            f"E11000 duplicate key error collection: {ns} index: {index_name} "
            f"dup key: {{ {shown} }}",
            keyPattern=key_pattern,
            keyValue=key_value,
        )


def _shell_repr(value: Any) -> str:
    if isinstance(value, str):
        return '"' + value + '"'
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def bad_value(message: str) -> MongoError:
    return MongoError(2, message)


def failed_to_parse(message: str) -> MongoError:
    return MongoError(9, message)


def type_mismatch(message: str) -> MongoError:
    return MongoError(14, message)
