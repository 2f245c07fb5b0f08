"""CLI faces of networks: `hold network create|ls|inspect|rm|prune|connect|
disconnect` and `hold port`."""

from __future__ import annotations

import hashlib
import sys

from hold.cli.args import CommandParser, key_values
from hold.cli.output import confirm, print_documents
from hold.errors import HoldError, InvalidArgument, NotFound

LS_FILTERS = {"driver", "id", "label", "name", "scope", "type", "dangling"}
PSEUDO = ("host", "none")


def cmd_network(ctx, argv: list[str]) -> int:
    subcommands = {"create": _create, "ls": _ls, "list": _ls, "inspect": _inspect,
                   "rm": _rm, "remove": _rm, "prune": _prune, "connect": _connect,
                   "disconnect": _disconnect}
    if not argv or argv[0] in ("-h", "--help"):
        print("Usage:  hold network COMMAND\n\nCommands:\n  " + "\n  ".join(
            ("connect", "create", "disconnect", "inspect", "ls", "prune", "rm")))
        return 0
    handler = subcommands.get(argv[0])
    if handler is None:
        raise InvalidArgument(f'unknown command "{argv[0]}" for "hold network"')
    return handler(ctx, argv[1:])


def _create(ctx, argv) -> int:
    p = CommandParser("network create", "hold network create [OPTIONS] NETWORK")
    p.add_argument("-d", "--driver", default="bridge")
    p.add_argument("--subnet")
    p.add_argument("--gateway")
    p.add_argument("--ip-range")
    p.add_argument("--internal", action="store_true")
    p.add_argument("--attachable", action="store_true")
    p.add_argument("--label", action="append", default=[])
    p.add_argument("-o", "--opt", action="append", default=[])
    p.add_argument("name")
    ns = p.parse_args(argv)
    if ns.driver == "nat":
        sys.stderr.write("notice: the 'nat' driver is Windows' name for a NAT bridge; "
                         "hold creates a Linux bridge network\n")
    net = ctx.engine.networks.create(ns.name, ns.driver, ns.subnet, ns.gateway, ns.ip_range,
                                     ns.internal, key_values(ns.label, "--label"),
                                     key_values(ns.opt, "--opt"))
    print(net.id)
    return 0


def _pseudo(name: str) -> dict:
    return {"Name": name, "Id": hashlib.sha256(f"hold-{name}".encode()).hexdigest(),
            "Created": "0001-01-01T00:00:00Z", "Scope": "local", "Driver": name if name != "none" else "null",
            "EnableIPv6": False, "IPAM": {"Driver": "default", "Options": None, "Config": []},
            "Internal": False, "Attachable": False, "Ingress": False,
            "ConfigFrom": {"Network": ""}, "ConfigOnly": False, "Containers": {},
            "Options": {}, "Labels": {}}


def network_json(ctx, net) -> dict:
    containers = {}
    names = {c.id: c.name for c in ctx.engine.containers.list()}
    for cid, ip in ctx.engine.networks.containers_of(net.id):
        from hold.networks.ipam import mac_for
        containers[cid] = {"Name": names.get(cid, ""), "EndpointID": hashlib.sha256(
            (net.id + cid).encode()).hexdigest(), "MacAddress": mac_for(ip),
            "IPv4Address": f"{ip}/{net.prefix}", "IPv6Address": ""}
    ipam = {"Subnet": net.config["Subnet"], "Gateway": net.config["Gateway"]}
    if net.config.get("IPRange"):
        ipam["IPRange"] = net.config["IPRange"]
    return {"Name": net.name, "Id": net.id, "Created": net.created, "Scope": "local",
            "Driver": net.driver, "EnableIPv6": False,
            "IPAM": {"Driver": "default", "Options": {}, "Config": [ipam]},
            "Internal": bool(net.config.get("Internal")), "Attachable": False,
            "Ingress": False, "ConfigFrom": {"Network": ""}, "ConfigOnly": False,
            "Containers": containers,
            "Options": {"com.docker.network.bridge.name": net.bridge,
                        "com.docker.network.driver.mtu": str(net.config.get("MTU", 1500)),
                        **(net.config.get("Options") or {})},
            "Labels": net.config.get("Labels") or {}}


def _all_json(ctx) -> list[dict]:
    return [network_json(ctx, n) for n in ctx.engine.networks.list()] + [_pseudo(n) for n in PSEUDO]


def _ls(ctx, argv) -> int:
    p = CommandParser("network ls", "hold network ls [OPTIONS]")
    p.add_argument("-q", "--quiet", action="store_true")
    p.add_argument("--no-trunc", action="store_true")
    p.add_argument("-f", "--filter", action="append", default=[])
    p.add_argument("--format")
    ns = p.parse_args(argv)
    from hold import filters
    from hold.cli import formatting as fmt
    wanted = filters.parse_filters(ns.filter, LS_FILTERS)
    rows = []
    for net in _all_json(ctx):
        if not _ls_match(net, wanted, ctx):
            continue
        rows.append({"ID": net["Id"] if ns.no_trunc else net["Id"][:12], "Name": net["Name"],
                     "Driver": net["Driver"], "Scope": net["Scope"],
                     "Internal": str(net["Internal"]).lower(), "CreatedAt": net["Created"],
                     "Labels": ",".join(f"{k}={v}" for k, v in net["Labels"].items()),
                     "IPv6": "false"})
    if ns.quiet:
        print("\n".join(r["ID"] for r in rows))
        return 0
    if ns.format:
        from hold.cli.commands.container_info import _print_formatted
        _print_formatted(fmt, ns.format, rows, {"ID": "NETWORK ID", "Name": "NAME",
                                                "Driver": "DRIVER", "Scope": "SCOPE"})
        return 0
    sys.stdout.write(fmt.render_table(rows, [("ID", "NETWORK ID"), ("Name", "NAME"),
                                             ("Driver", "DRIVER"), ("Scope", "SCOPE")]))
    return 0


def _ls_match(net: dict, wanted: dict, ctx) -> bool:
    from hold import filters
    if "name" in wanted and not filters.match_name(net["Name"], wanted["name"]):
        return False
    if "id" in wanted and not any(net["Id"].startswith(v) for v in wanted["id"]):
        return False
    if "driver" in wanted and net["Driver"] not in wanted["driver"]:
        return False
    if "label" in wanted and not filters.match_labels(net["Labels"], wanted["label"]):
        return False
    if "scope" in wanted and "local" not in wanted["scope"]:
        return False
    if "type" in wanted:
        builtin = net["Name"] in ("bridge",) + PSEUDO
        if not any((t == "builtin") == builtin for t in wanted["type"]):
            return False
    if "dangling" in wanted:
        dangling = not net["Containers"] and net["Name"] not in ("bridge",) + PSEUDO
        if not filters.match_bool(dangling, wanted["dangling"]):
            return False
    return True


def _inspect(ctx, argv) -> int:
    p = CommandParser("network inspect", "hold network inspect [OPTIONS] NETWORK [NETWORK...]")
    p.add_argument("-f", "--format")
    p.add_argument("-v", "--verbose", action="store_true")
    p.add_argument("networks", nargs="+")
    ns = p.parse_args(argv)
    from hold.cli.formatting import check_template
    check_template(ns.format)
    results, failed = [], False
    for ref in ns.networks:
        try:
            results.append(_pseudo(ref) if ref in PSEUDO
                           else network_json(ctx, ctx.engine.networks.get(ref)))
        except NotFound as exc:
            sys.stderr.write(f"Error: {exc}\n")
            failed = True
    print_documents(results, ns.format)
    return 1 if failed else 0


def _rm(ctx, argv) -> int:
    p = CommandParser("network rm", "hold network rm NETWORK [NETWORK...]")
    p.add_argument("-f", "--force", action="store_true")
    p.add_argument("networks", nargs="+")
    ns = p.parse_args(argv)
    failed = False
    for ref in ns.networks:
        try:
            if ref in PSEUDO:
                raise InvalidArgument(f"{ref} is a pre-defined network and cannot be removed")
            ctx.engine.networks.remove(ref)
            print(ref)
        except NotFound as exc:
            if not ns.force:
                sys.stderr.write(f"Error response from daemon: {exc}\n")
                failed = True
        except HoldError as exc:
            sys.stderr.write(f"Error response from daemon: {exc}\n")
            failed = True
    return 1 if failed else 0


def _prune(ctx, argv) -> int:
    p = CommandParser("network prune", "hold network prune [OPTIONS]")
    p.add_argument("-f", "--force", action="store_true")
    p.add_argument("--filter", action="append", default=[])
    ns = p.parse_args(argv)
    if not ns.force and not confirm("WARNING! This will remove all custom networks not used "
                                    "by at least one container.\nAre you sure you want to "
                                    "continue? [y/N] "):
        return 0
    removed = ctx.engine.networks.prune()
    if removed:
        print("Deleted Networks:")
        for net in removed:
            print(net.name)
    return 0


def _connect(ctx, argv) -> int:
    p = CommandParser("network connect", "hold network connect [OPTIONS] NETWORK CONTAINER")
    p.add_argument("--alias", action="append", default=[])
    p.add_argument("--ip")
    p.add_argument("network")
    p.add_argument("container")
    ns = p.parse_args(argv)
    from hold.networks.service import connect
    connect(ctx.engine, ns.network, ns.container, ns.alias, ns.ip)
    return 0


def _disconnect(ctx, argv) -> int:
    p = CommandParser("network disconnect", "hold network disconnect [OPTIONS] NETWORK CONTAINER")
    p.add_argument("-f", "--force", action="store_true")
    p.add_argument("network")
    p.add_argument("container")
    ns = p.parse_args(argv)
    from hold.networks.service import disconnect
    disconnect(ctx.engine, ns.network, ns.container, ns.force)
    return 0


def cmd_port(ctx, argv: list[str]) -> int:
    p = CommandParser("port", "hold port CONTAINER [PRIVATE_PORT[/PROTO]]")
    p.add_argument("container")
    p.add_argument("port", nargs="?")
    ns = p.parse_args(argv)
    container = ctx.engine.containers.get(ns.container)
    ports = container.state.get("Ports") or [] if container.running else []
    wanted = None
    if ns.port:
        number, _, proto = ns.port.partition("/")
        wanted = (int(number) if number.isdigit() else -1, proto or "tcp")
    lines = []
    for port in ports:
        key = (port["container_port"], port["proto"])
        if wanted and key != wanted:
            continue
        where = f"{port['host_ip']}:{port['host_port']}"
        lines.append(where if wanted else f"{port['container_port']}/{port['proto']} -> {where}")
    if wanted and not lines:
        raise InvalidArgument(f"No public port '{ns.port}' published for {ns.container}")
    for line in lines:
        print(line)
    return 0
