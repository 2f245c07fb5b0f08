"""holddb.repl exposes exactly what its __all__ names; the replica-set
commands are registered."""

import importlib


def test_public_surface():
    for name in ("holddb.repl", "holddb.repl.testing"):
        module = importlib.import_module(name)
        for symbol in module.__all__:
            assert hasattr(module, symbol), f"{name}.{symbol}"


def test_commands_registered():
    from holddb.commands import registered
    assert {"replSetInitiate", "replSetGetStatus", "replSetGetConfig", "replSetReconfig",
            "replSetStepDown", "replSetFreeze", "replSetSyncFrom", "replSetHeartbeat",
            "replSetRequestVotes", "replSetUpdatePosition", "replSetStepUp"} <= set(registered())
