"""Handshake and introspection commands drivers and mongosh send at start-up.

pymongo 4 opens a connection with ``hello`` (OP_MSG, or OP_QUERY ``isMaster``
before it knows the server), then runs its commands; its monitor repeats
``hello`` with ``topologyVersion``/``maxAwaitTimeMS`` (see
``Server._await_topology_change``).  mongosh 2 opens every connection with an
OP_QUERY ``isMaster`` carrying client metadata and ``compression``, then asks
``buildInfo``, ``getCmdLineOpts``, ``getParameter``
(featureCompatibilityVersion), ``getLog: "startupWarnings"``,
``connectionStatus``, ``hostInfo`` and ``atlasVersion`` (answered
CommandNotFound, as by a non-Atlas mongod) -- all answered here.
"""

from __future__ import annotations

import datetime
import os
import platform
import socket
import sys
from typing import Any

from bson.int64 import Int64

from holddb.commands._registry import Context, command
from holddb.errors import MongoError
from holddb.version import (FEATURE_COMPATIBILITY_VERSION, HOLDDB_VERSION, MAX_WIRE_VERSION,
                            MIN_WIRE_VERSION, MONGODB_VERSION, MONGODB_VERSION_ARRAY)
from holddb.wire import MAX_BSON_SIZE, MAX_MESSAGE_SIZE, available_compressors

LOGICAL_SESSION_TIMEOUT_MINUTES = 30


def _now() -> datetime.datetime:
    now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


@command("hello", "isMaster", "ismaster")
def hello(ctx: Context, cmd: dict) -> dict:
    """Describe this node: a writable standalone, or (with --replSet and no
    config yet) a replica-set member that is not initialised."""
    legacy = next(iter(cmd)) != "hello"
    client = cmd.get("client")
    if isinstance(client, dict):
        ctx.connection.client = client
    wanted = cmd.get("compression")
    if isinstance(wanted, list):
        offered = available_compressors()
        ctx.connection.compressors = [c for c in wanted if c in offered]
    reply: dict[str, Any] = {}
    if cmd.get("helloOk"):
        reply["helloOk"] = True
    writable = ctx.server.options.repl_set is None
    reply["ismaster" if legacy else "isWritablePrimary"] = writable
    if not writable:
        reply["secondary"] = False
        reply["info"] = "Does not have a valid replica set config"
        reply["isreplicaset"] = True
    reply.update({
        "topologyVersion": {"processId": ctx.server.process_id, "counter": Int64(0)},
        "maxBsonObjectSize": MAX_BSON_SIZE,
        "maxMessageSizeBytes": MAX_MESSAGE_SIZE,
        "maxWriteBatchSize": 100000,
        "localTime": _now(),
        "logicalSessionTimeoutMinutes": LOGICAL_SESSION_TIMEOUT_MINUTES,
        "connectionId": ctx.connection.id,
        "minWireVersion": MIN_WIRE_VERSION,
        "maxWireVersion": MAX_WIRE_VERSION,
        "readOnly": False,
    })
    if ctx.connection.compressors:
        reply["compression"] = list(ctx.connection.compressors)
    if ctx.server.repl is not None:  # a replica-set member: setName, hosts, primary, ...
        ctx.server.repl.describe(reply, legacy)
    return reply


@command("buildInfo", "buildinfo")
def build_info(ctx: Context, cmd: dict) -> dict:
    return {
        "version": MONGODB_VERSION,
        "gitVersion": f"holddb-{HOLDDB_VERSION}",
        "modules": [],
        "allocator": "system",
        "javascriptEngine": "none",
        "sysInfo": "deprecated",
        "versionArray": MONGODB_VERSION_ARRAY,
        "openssl": {"running": "disabled", "compiled": "disabled"},
        "buildEnvironment": {"distmod": "holddb", "target_os": sys.platform,
                             "target_arch": platform.machine()},
        "bits": 64,
        "debug": False,
        "maxBsonObjectSize": MAX_BSON_SIZE,
        "storageEngines": ["sqlite"],
        "holddbVersion": HOLDDB_VERSION,
    }


def _parameters(ctx: Context) -> dict[str, Any]:
    return {
        "featureCompatibilityVersion": {"version": FEATURE_COMPATIBILITY_VERSION},
        "authenticationMechanisms": [],
        "logLevel": 0,
        "quiet": ctx.server.options.quiet,
        "cursorTimeoutMillis": Int64(600000),
        "maxBSONDepth": 100,
        "internalQueryMaxBlockingSortMemoryUsageBytes": 104857600,
        "transactionLifetimeLimitSeconds": 60,
        "localLogicalSessionTimeoutMinutes": LOGICAL_SESSION_TIMEOUT_MINUTES,
        "enableTestCommands": False,
        "ttlMonitorEnabled": True,
        "tlsMode": "disabled",
        "sslMode": "disabled",
        "maxIndexBuildMemoryUsageMegabytes": 200,
        "journalCommitInterval": 100,
    }


@command("getParameter")
def get_parameter(ctx: Context, cmd: dict) -> dict:
    """``getParameter: "*"`` lists all; otherwise the fields named with a
    truthy value; naming none that exist is InvalidOptions like mongod."""
    params = _parameters(ctx)
    selector = cmd["getParameter"]
    if selector == "*" or (isinstance(selector, dict) and selector.get("allParameters")):
        return dict(params)
    wanted = [k for k in cmd if k not in ("getParameter", "$db", "lsid", "$readPreference",
                                          "$clusterTime", "comment", "apiVersion")]
    reply = {k: params[k] for k in wanted if k in params}
    if not reply:
        raise MongoError(72, "no option found to get")
    return reply


@command("setParameter")
def set_parameter(ctx: Context, cmd: dict) -> dict:
    raise MongoError(2, "holddb's parameters are fixed; setParameter is not supported")


@command("getCmdLineOpts")
def get_cmd_line_opts(ctx: Context, cmd: dict) -> dict:
    return {"argv": list(ctx.server.options.argv), "parsed": dict(ctx.server.options.parsed)}


@command("hostInfo")
def host_info(ctx: Context, cmd: dict) -> dict:
    uname = platform.uname()
    mem_mb = 0
    try:
        mem_mb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // (1024 * 1024)
    except (ValueError, OSError):
        pass
    return {
        "system": {"currentTime": _now(), "hostname": socket.gethostname(),
                   "cpuAddrSize": 64, "memSizeMB": Int64(mem_mb),
                   "numCores": os.cpu_count() or 1, "cpuArch": uname.machine,
                   "numaEnabled": False},
        "os": {"type": uname.system, "name": uname.system, "version": uname.release},
        "extra": {"versionString": uname.version, "pageSize": Int64(os.sysconf("SC_PAGE_SIZE"))},
    }


@command("serverStatus")
def server_status(ctx: Context, cmd: dict) -> dict:
    server = ctx.server
    counters = {k: Int64(v) for k, v in server.op_counters.items()}
    return {
        "host": socket.gethostname(),
        "version": MONGODB_VERSION,
        "process": "mongod",
        "pid": Int64(os.getpid()),
        "uptime": float(int(server.uptime())),
        "uptimeMillis": Int64(int(server.uptime() * 1000)),
        "uptimeEstimate": Int64(int(server.uptime())),
        "localTime": _now(),
        "connections": {"current": len(server.connections), "available": 838860,
                        "totalCreated": server.total_connections, "active": 1},
        "opcounters": counters,
        "metrics": {"cursor": {"open": {"total": Int64(len(server.cursors)),
                                         "noTimeout": Int64(0)}}},
        "storageEngine": {"name": "sqlite", "supportsCommittedReads": True,
                          "persistent": True, "readOnly": False,
                          # find/aggregate/distinct outside transactions, on members
                          "supportsSnapshotReadConcern": server.repl is not None,
                          "backupCursorOpen": False},
        "mem": {"bits": 64, "supported": False},
        "oplog": {"latestTs": server.storage.oplog.last_ts},
    }


@command("connectionStatus")
def connection_status(ctx: Context, cmd: dict) -> dict:
    info: dict[str, Any] = {"authenticatedUsers": [], "authenticatedUserRoles": []}
    if cmd.get("showPrivileges"):
        info["authenticatedUserPrivileges"] = []
    return {"authInfo": info}


@command("getLog")
def get_log(ctx: Context, cmd: dict) -> dict:
    which = cmd["getLog"]
    log = ctx.server.log
    if which == "*":
        return {"names": ["global", "startupWarnings"]}
    if which == "global":
        lines = list(log.recent)
    elif which == "startupWarnings":
        lines = list(log.startup_warnings)
    else:
        raise MongoError(2, f"no RamLog named: {which}")
    return {"totalLinesWritten": len(lines), "log": lines}


@command("ping")
def ping(ctx: Context, cmd: dict) -> dict:
    return {}


@command("whatsmyuri")
def whats_my_uri(ctx: Context, cmd: dict) -> dict:
    return {"you": ctx.connection.peer}


@command("listCommands")
def list_commands(ctx: Context, cmd: dict) -> dict:
    from holddb.commands._registry import registered
    return {"commands": {name: {"help": "", "requiresAuth": False, "secondaryOk": True,
                                "adminOnly": False} for name in registered()}}


@command("getFreeMonitoringStatus")
def free_monitoring(ctx: Context, cmd: dict) -> dict:
    return {"state": "disabled"}


@command("getDefaultRWConcern")
def default_rw_concern(ctx: Context, cmd: dict) -> dict:
    return {"defaultReadConcern": {"level": "local"},
            "defaultWriteConcern": {"w": 1, "wtimeout": 0},
            "defaultWriteConcernSource": "implicit", "defaultReadConcernSource": "implicit",
            "localUpdateWallClockTime": _now()}


@command("logout")
def logout(ctx: Context, cmd: dict) -> dict:
    return {}


@command("usersInfo", "rolesInfo")
def users_info(ctx: Context, cmd: dict) -> dict:
    """No authentication, so no users or roles; answered as an empty list."""
    return {"users": []} if next(iter(cmd)) == "usersInfo" else {"roles": []}


@command("createUser", "dropUser", "updateUser", "createRole", "grantRolesToUser")
def manage_users(ctx: Context, cmd: dict) -> dict:
    raise MongoError(115, "holddb runs without authentication; user management is not supported")


@command("saslStart", "authenticate", "saslContinue")
def authenticate(ctx: Context, cmd: dict) -> dict:
    raise MongoError(334 if next(iter(cmd)) != "authenticate" else 18,
                     "holddb runs without authentication; connect without credentials")
