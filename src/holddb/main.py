"""``holddb`` / ``mongod``: command line and YAML configuration, then serve.

Flags follow mongod's (``--port``, ``--bind_ip``, ``--bind_ip_all``,
``--dbpath``, ``--replSet``, ``--logpath``, ``--logappend``, ``--config``/-f,
``--quiet``, ``--version``).  ``--config FILE`` reads mongod's YAML layout
(``net.port``, ``net.bindIp``, ``net.bindIpAll``, ``storage.dbPath``,
``replication.replSetName``, ``systemLog.path``/``logAppend``/``quiet``/
``destination``); command-line flags win over the file.  A few mongod flags
that change nothing here (``--nojournal``, ``--wiredTigerCacheSizeGB``,
``--noauth``, ``--ipv6``) are accepted with a
startup warning so that existing container command lines keep working.
Bad input exits with status 2 and a one-line message, like mongod.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
from typing import Any

__all__ = ["main", "parse_options"]

_IGNORED_VALUE_FLAGS = ("--wiredTigerCacheSizeGB", "--storageEngine")
_IGNORED_FLAGS = ("--nojournal", "--journal", "--noauth", "--ipv6", "--nounixsocket")
_CONFIG_KEYS = {
    "net": {"port", "bindIp", "bindIpAll", "maxIncomingConnections", "ipv6", "unixDomainSocket"},
    "storage": {"dbPath", "journal", "engine", "wiredTiger", "directoryPerDB"},
    "replication": {"replSetName", "oplogSizeMB"},
    "systemLog": {"path", "logAppend", "quiet", "destination", "verbosity"},
    "processManagement": {"fork", "pidFilePath", "timeZoneInfo"},
}


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # mongod: "Error parsing command line: ..."
        raise _UsageError(f"Error parsing command line: {message}")


def _parser() -> _Parser:
    p = _Parser(prog="holddb", add_help=True,
                description="holddb: a MongoDB-wire-compatible document server")
    p.add_argument("--port", type=int, help="TCP port to listen on (default 27017)")
    p.add_argument("--bind_ip", metavar="ADDRS",
                   help="comma-separated addresses to listen on (default 127.0.0.1)")
    p.add_argument("--bind_ip_all", action="store_true", default=None,
                   help="listen on every IPv4 address")
    p.add_argument("--dbpath", help="data directory (default /data/db)")
    p.add_argument("--replSet", metavar="NAME", help="replica set name (stored; see docs)")
    p.add_argument("--logpath", help="log file (default: stdout)")
    p.add_argument("--logappend", action="store_true", default=None,
                   help="append to --logpath instead of rotating it")
    p.add_argument("--config", "-f", metavar="FILE", help="mongod-style YAML configuration")
    p.add_argument("--quiet", action="store_true", default=None,
                   help="leave out per-connection log lines")
    p.add_argument("--version", action="store_true", help="print the version and exit")
    p.add_argument("--oplogSize", type=float, metavar="MB",
                   help="oplog cap in megabytes (default 1024)")
    p.add_argument("--verbose", "-v", action="count", default=0,
                   help="log every command received (-v)")
    for flag in _IGNORED_VALUE_FLAGS:
        p.add_argument(flag, dest="ignored_" + flag.lstrip("-"), metavar="X",
                       help="accepted for mongod compatibility; ignored")
    for flag in _IGNORED_FLAGS:
        p.add_argument(flag, dest="ignored_" + flag.lstrip("-"), action="store_true",
                       help="accepted for mongod compatibility; ignored")
    return p


def _load_config(path: str) -> dict[str, Any]:
    import yaml
    try:
        with open(path, encoding="utf-8") as handle:
            data = yaml.safe_load(handle) or {}
    except OSError as exc:
        raise _UsageError(f"Error reading config file: {exc.strerror}: {path}") from exc
    except yaml.YAMLError as exc:
        raise _UsageError(f"Error parsing YAML config file: {exc}".splitlines()[0]) from exc
    if not isinstance(data, dict):
        raise _UsageError(f"Error parsing YAML config file {path}: not a mapping")
    for section, values in data.items():
        allowed = _CONFIG_KEYS.get(section)
        if allowed is None:
            raise _UsageError(f"Unrecognized option: {section} (accepted sections: "
                              f"{', '.join(sorted(_CONFIG_KEYS))})")
        if not isinstance(values, dict):
            raise _UsageError(f"Config section {section} must be a mapping")
        for key in values:
            if key not in allowed:
                raise _UsageError(f"Unrecognized option: {section}.{key} (accepted: "
                                  f"{', '.join(sorted(allowed))})")
    return data


def parse_options(argv: list[str]) -> tuple[Any, list[str]]:
    """Merge flags over the config file into ``ServerOptions``; returns the
    options and the startup warnings to log."""
    from holddb.server import ServerOptions
    args = _parser().parse_args(argv)
    config = _load_config(args.config) if args.config else {}
    net, storage = config.get("net", {}), config.get("storage", {})
    repl, syslog = config.get("replication", {}), config.get("systemLog", {})
    port = args.port if args.port is not None else net.get("port", 27017)
    if not isinstance(port, int) or not 0 <= port <= 65535:
        raise _UsageError(f"Error parsing command line: port number {port} is out of range "
                          "(0-65535)")
    bind_all = args.bind_ip_all if args.bind_ip_all is not None else net.get("bindIpAll", False)
    bind = args.bind_ip or net.get("bindIp") or "127.0.0.1"
    hosts = ["0.0.0.0"] if bind_all else [h.strip() for h in str(bind).split(",") if h.strip()]
    oplog_mb = args.oplogSize or repl.get("oplogSizeMB")
    if oplog_mb is not None and (not isinstance(oplog_mb, (int, float)) or oplog_mb <= 0):
        raise _UsageError(f"Error parsing command line: --oplogSize must be a positive number "
                          f"of megabytes, not {oplog_mb!r}")
    if syslog.get("destination") not in (None, "file", "syslog"):
        raise _UsageError("systemLog.destination must be 'file' or 'syslog'")
    options = ServerOptions(
        port=port, bind_ip=hosts,
        dbpath=args.dbpath or storage.get("dbPath") or "/data/db",
        repl_set=args.replSet or repl.get("replSetName"),
        logpath=args.logpath or syslog.get("path"),
        log_append=bool(args.logappend if args.logappend is not None else syslog.get("logAppend")),
        quiet=bool(args.quiet if args.quiet is not None else syslog.get("quiet")),
        verbosity=args.verbose or int(syslog.get("verbosity") or 0),
        oplog_size_mb=args.oplogSize or repl.get("oplogSizeMB"),
        argv=["mongod", *argv])
    options.parsed = _parsed_view(options, args.config)
    warnings = [f"option {name.replace('ignored_', '--')} is accepted and ignored by holddb"
                for name, value in vars(args).items()
                if name.startswith("ignored_") and value not in (None, False)]
    return (args.version, options), warnings


def _parsed_view(options: Any, config_path: str | None) -> dict:
    parsed: dict[str, Any] = {"net": {"port": options.port,
                                      "bindIp": ",".join(options.bind_ip)},
                              "storage": {"dbPath": options.dbpath}}
    if config_path:
        parsed["config"] = config_path
    if options.repl_set:
        parsed["replication"] = {"replSet": options.repl_set}
    if options.logpath:
        parsed["systemLog"] = {"destination": "file", "path": options.logpath,
                               "logAppend": options.log_append}
    return parsed


def _print_version() -> None:
    from holddb.version import HOLDDB_VERSION, MONGODB_VERSION
    import platform
    print(f"db version v{MONGODB_VERSION}")
    print("Build Info: " + json.dumps({
        "version": MONGODB_VERSION, "gitVersion": f"holddb-{HOLDDB_VERSION}",
        "modules": [], "allocator": "system",
        "environment": {"distmod": "holddb", "distarch": platform.machine(),
                        "target_arch": platform.machine()}}, indent=4))


async def _serve(options: Any, log: Any) -> int:
    from holddb.server import Server
    from holddb.errors import MongoError
    server = Server(options, log)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, server.request_stop, signal.Signals(sig).name)
    try:
        await server.start()
    except OSError as exc:
        log.write("E", "CONTROL", 20568, "initandlisten", "Error setting up listener",
                  {"error": f"SocketException: {exc.strerror}", "port": options.port})
        return 48
    except MongoError as exc:
        log.write("E", "STORAGE", 28595, "initandlisten", "Cannot open storage",
                  {"error": exc.message})
        return 100
    await server.wait_closed()
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        (show_version, options), warnings = parse_options(argv)
    except _UsageError as exc:
        print(str(exc), file=sys.stderr)
        print("try 'holddb --help' for more information", file=sys.stderr)
        return 2
    if show_version:
        _print_version()
        return 0
    from holddb.log import Log
    try:
        log = Log(options.logpath, append=options.log_append, quiet=options.quiet)
    except OSError as exc:
        print(f"Error opening log file {options.logpath}: {exc.strerror}", file=sys.stderr)
        return 1
    from holddb.version import MONGODB_VERSION, HOLDDB_VERSION
    log.info("CONTROL", 4615611, "initandlisten", "MongoDB starting",
             pid=os.getpid(), port=options.port, dbPath=options.dbpath,
             architecture="64-bit", host=os.uname().nodename)
    log.info("CONTROL", 23403, "initandlisten", "Build Info",
             buildInfo={"version": MONGODB_VERSION, "holddbVersion": HOLDDB_VERSION})
    log.info("CONTROL", 21951, "initandlisten", "Options set by command line",
             options=options.parsed)
    for warning in warnings:
        log.write("W", "CONTROL", 22120, "initandlisten", warning, startup_warning=True)
    try:
        return asyncio.run(_serve(options, log))
    finally:
        log.close()


if __name__ == "__main__":
    sys.exit(main())
