"""The command registry and what every handler receives.

A handler is ``fn(ctx: Context, cmd: dict) -> dict``: it returns the reply
fields (``ok: 1`` is added by the dispatcher) or raises MongoError.  Modules
register handlers with ``@command("name", "alias", ...)``; ``lookup(name)``
finds them and raises 59 CommandNotFound for anything else, like mongod.

``Context`` bundles the per-request view: the server (cursors, options,
log), its storage, the target database and the client connection.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, TYPE_CHECKING

from bson.int64 import Int64

from holddb.errors import MongoError
from holddb.query._values import is_number

if TYPE_CHECKING:  # pragma: no cover
    from holddb.server import Connection, Server
    from holddb.storage import Storage

__all__ = ["Context", "command", "lookup", "registered", "Handler",
           "collection_name", "int_arg", "bool_arg", "doc_arg", "WRITE_COMMANDS"]

Handler = Callable[["Context", dict], dict]

_HANDLERS: dict[str, Handler] = {}
WRITE_COMMANDS = {"insert", "update", "delete", "findAndModify", "findandmodify"}


@dataclass
class Context:
    server: "Server"
    db: str
    connection: "Connection"

    @property
    def storage(self) -> "Storage":
        return self.server.storage


def command(*names: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        for name in names:
            if name in _HANDLERS:
                raise RuntimeError(f"command {name!r} registered twice")
            _HANDLERS[name] = fn
        return fn
    return register


def lookup(name: str) -> Handler:
    handler = _HANDLERS.get(name)
    if handler is None:
        raise MongoError(59, f"no such command: '{name}'")
    return handler


def registered() -> list[str]:
    return sorted(_HANDLERS)


def collection_name(cmd: dict, name: str) -> str:
    """The collection a command targets (its first value), validated."""
    value = cmd.get(name)
    if not isinstance(value, str):
        raise MongoError(73, f"collection name has invalid type {type(value).__name__}")
    if not value:
        raise MongoError(73, f"Invalid namespace specified '.{value}'")
    return value


def int_arg(cmd: dict, name: str, default: int | None = None, *, minimum: int | None = None) -> Any:
    value = cmd.get(name, default)
    if value is None:
        return default
    if isinstance(value, bool) or not is_number(value):
        raise MongoError(14, f"Field '{name}' should be a number, not {type(value).__name__}")
    value = int(value.to_decimal()) if hasattr(value, "to_decimal") else int(value)
    if minimum is not None and value < minimum:
        raise MongoError(2, f"{name} value must be >= {minimum}, got {value}")
    return value


def bool_arg(cmd: dict, name: str, default: bool = False) -> bool:
    value = cmd.get(name, default)
    if value is None:
        return default
    if isinstance(value, (bool, int, float)):
        return bool(value)
    raise MongoError(14, f"Field '{name}' should be a boolean")


def doc_arg(cmd: dict, name: str, default: Any = None) -> Any:
    value = cmd.get(name, default)
    if value is not None and not isinstance(value, dict):
        raise MongoError(14, f"BSON field '{name}' is the wrong type "
                             f"'{type(value).__name__}', expected type 'object'")
    return value


def cursor_id(value: int) -> Int64:
    return Int64(value)
