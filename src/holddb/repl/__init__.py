"""Replica sets: config, heartbeats, elections (protocol version 1), oplog
fetching and applying, the majority commit point, write concern, rollback.

Module map::

    _config.py       the config document: validation, members, settings
    _rules.py        pure election / commit rules (votes, timeouts, commit point)
    _client.py       asyncio OP_MSG client for member-to-member commands
    _states.py       member states (mongod's numbers and names)
    _coordinator.py  ReplCoordinator: state, term, heartbeats, elections
    _commit.py       positions, majority commit point, write concern waiting
    _read_concern.py read concern (majority, snapshot, linearizable) and causal
                     consistency (afterClusterTime, operationTime, $clusterTime)
    _status.py       hello fields, replSetGetStatus, "not primary" gatekeeping
    _sync.py         Syncer: sync source, tailable oplog fetch, idempotent
                     apply, initial sync, rollback via refetch
    _admin.py        initiate / reconfig / stepDown / freeze / syncFrom / stepUp

The server creates one ``ReplCoordinator`` when started with ``--replSet``;
the commands live in ``holddb.commands.repl``.
"""

from holddb.repl._config import MemberConfig, ReplConfig, validate_config
from holddb.repl._coordinator import ReplCoordinator
from holddb.repl._states import STATE_NAMES
from holddb.repl._rules import OpTime, VoteRequest, commit_point, decide_vote, election_timeout

__all__ = ["MemberConfig", "OpTime", "ReplConfig", "ReplCoordinator", "STATE_NAMES",
           "VoteRequest", "commit_point", "decide_vote", "election_timeout", "validate_config"]
