"""Each holddb package exposes exactly what its __all__ names, and every
command mongosh and pymongo send at start-up is registered."""

import importlib

import pytest

PACKAGES = ["holddb.wire", "holddb.storage", "holddb.query", "holddb.commands"]


@pytest.mark.parametrize("name", PACKAGES)
def test_public_surface(name):
    module = importlib.import_module(name)
    for symbol in module.__all__:
        assert hasattr(module, symbol), f"{name}.{symbol}"


def test_handshake_commands_are_registered():
    from holddb.commands import registered
    needed = {"hello", "isMaster", "ismaster", "buildInfo", "getParameter", "getCmdLineOpts",
              "hostInfo", "serverStatus", "connectionStatus", "getLog", "ping", "whatsmyuri",
              "endSessions", "killAllSessions", "listDatabases", "insert", "find", "getMore",
              "killCursors", "update", "delete", "findAndModify", "count", "distinct",
              "aggregate", "create", "drop", "dropDatabase", "renameCollection",
              "listCollections", "createIndexes", "listIndexes", "dropIndexes", "collStats",
              "dbStats", "explain"}
    assert needed <= set(registered())


def test_unknown_command_is_59():
    from holddb.commands import lookup
    from holddb.errors import MongoError
    with pytest.raises(MongoError) as info:
        lookup("frobnicate")
    assert info.value.code == 59 and info.value.message == "no such command: 'frobnicate'"
