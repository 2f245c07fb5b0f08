"""`-p/--publish` and `-P`: parsing Docker's port specs, pure.

    -p 8080:80           host 0.0.0.0:8080 -> container 80/tcp
    -p 127.0.0.1:8080:80/udp
    -p 127.0.0.1::80     a free host port on 127.0.0.1
    -p 80                a free host port on 0.0.0.0
    -p 8000-8002:80-82   ranges of the same length

The result is Docker's ``PortBindings`` shape:
``{"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}]}``; an empty
HostPort means "pick a free port at start".
"""

from __future__ import annotations

import ipaddress

from hold.errors import InvalidArgument

PROTOCOLS = ("tcp", "udp", "sctp")


def _port_range(text: str, what: str) -> list[int]:
    start, sep, end = text.partition("-")
    try:
        first = int(start)
        last = int(end) if sep else first
    except ValueError:
        raise InvalidArgument(f"invalid {what}: {text}") from None
    if not (0 < first <= 65535 and 0 < last <= 65535) or last < first:
        raise InvalidArgument(f"invalid {what}: {text}")
    return list(range(first, last + 1))


def parse_publish(specs: list[str]) -> dict[str, list[dict]]:
    bindings: dict[str, list[dict]] = {}
    for spec in specs:
        rest, _, proto = spec.partition("/")
        proto = proto or "tcp"
        if proto not in PROTOCOLS:
            raise InvalidArgument(f"invalid proto: {proto}")
        host_ip, host_part, container_part = _split(rest, spec)
        container_ports = _port_range(container_part, "containerPort")
        host_ports = _port_range(host_part, "hostPort") if host_part else []
        if host_ports and len(host_ports) != len(container_ports):
            if len(host_ports) > 1:
                raise InvalidArgument(f"invalid ranges specified for container and host Ports: {spec}")
        for index, port in enumerate(container_ports):
            host_port = ""
            if host_ports:
                host_port = str(host_ports[index] if len(host_ports) > 1 else host_ports[0])
            bindings.setdefault(f"{port}/{proto}", []).append(
                {"HostIp": host_ip, "HostPort": host_port})
    return bindings


def _split(rest: str, spec: str) -> tuple[str, str, str]:
    if rest.startswith("["):                       # [::1]:8080:80
        close = rest.find("]")
        host_ip, tail = rest[1:close], rest[close + 2:]
        host_part, _, container = tail.rpartition(":")
        parts = [host_ip, host_part, container]
    else:
        parts = rest.split(":")
    if len(parts) == 1:
        host_ip, host_part, container = "", "", parts[0]
    elif len(parts) == 2:
        host_ip, (host_part, container) = "", parts
    elif len(parts) == 3:
        host_ip, host_part, container = parts
    else:
        raise InvalidArgument(f"invalid port format: {spec}")
    if host_ip:
        try:
            ipaddress.ip_address(host_ip)
        except ValueError:
            raise InvalidArgument(f"invalid IP address: {host_ip}") from None
    if not container:
        raise InvalidArgument(f"no port specified: {spec}<empty>")
    return host_ip or "0.0.0.0", host_part, container


def expose_all(exposed: dict | None, bindings: dict) -> dict:
    """`-P`: every EXPOSEd port not already bound gets a free host port."""
    result = {k: list(v) for k, v in bindings.items()}
    for key in (exposed or {}):
        port = key if "/" in key else f"{key}/tcp"
        result.setdefault(port, [{"HostIp": "0.0.0.0", "HostPort": ""}])
    return result


def free_port(proto: str, host_ip: str) -> int:
    """A port the kernel says is free now (bound, read, released)."""
    import socket
    kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind((host_ip if host_ip != "0.0.0.0" else "", 0))
        return s.getsockname()[1]


def parse_add_host(values: list[str]) -> list[str]:
    """--add-host NAME:IP (or NAME=IP) -> "NAME:IP" entries, validated."""
    hosts = []
    for value in values:
        sep = "=" if "=" in value else ":"
        name, _, ip = value.partition(sep)
        if not name or not ip:
            raise InvalidArgument(f"invalid argument {value!r} for \"--add-host\" flag: "
                                  "bad format for add-host")
        if ip != "host-gateway":
            try:
                ipaddress.ip_address(ip.strip("[]"))
            except ValueError:
                raise InvalidArgument(f"invalid argument {value!r} for \"--add-host\" flag: "
                                      f"invalid IP address in add-host: {ip!r}") from None
        hosts.append(f"{name}:{ip}")
    return hosts


def parse_dns(values: list[str]) -> list[str]:
    for value in values:
        try:
            ipaddress.ip_address(value)
        except ValueError:
            raise InvalidArgument(f"{value} is not an ip address") from None
    return list(values)
