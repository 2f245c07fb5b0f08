"""IP address management for bridge networks: pure functions, no I/O.

Words: a network has a **subnet** (10.89.3.0/24), a **gateway** (the
bridge's own address, the first host by default), and an optional **ip
range** (a sub-block of the subnet that automatic addresses come from).
A **lease** is one address held by one container on one network; leases
live in the store (``leases`` table, unique per network and address), so
two concurrent ``hold run`` can never be handed the same address.

Subnets are chosen from a pool of /24s that overlap nothing the host
already routes, so networks of different hold roots on one machine never
collide.
"""

from __future__ import annotations

import ipaddress

from hold.errors import Conflict, InvalidArgument

# Docker's default bridge uses 172.17.0.0/16; user networks here come from
# 10.89.0.0/16 in /24 steps (as Podman does), the default bridge from 10.88.0.0/24.
DEFAULT_BRIDGE_SUBNET = "10.88.0.0/24"
POOL = ipaddress.ip_network("10.89.0.0/16")
POOL_PREFIX = 24


def parse_subnet(text: str) -> ipaddress.IPv4Network:
    try:
        iface = ipaddress.ip_interface(text)
    except ValueError as exc:
        raise InvalidArgument(f"invalid subnet {text}: invalid CIDR address") from exc
    net = iface.network
    if net.version != 4:
        raise InvalidArgument(f"invalid subnet {text}: only IPv4 networks are supported")
    if "/" not in text:
        raise InvalidArgument(f"invalid subnet {text}: invalid CIDR address (no prefix length)")
    if iface.ip != net.network_address:
        raise InvalidArgument(f"invalid subnet {text}: it should be {net}")
    if net.prefixlen > 30:
        raise InvalidArgument(f"invalid subnet {text}: too small, use a /30 or larger")
    return net


def plan(subnet: str | None, gateway: str | None, ip_range: str | None,
         used: list[ipaddress.IPv4Network]) -> dict:
    """The IPAM config of a new network: Subnet, Gateway, IPRange."""
    if subnet is None:
        if gateway or ip_range:
            raise InvalidArgument("gateway and ip-range need --subnet")
        net = pick_subnet(used)
    else:
        net = parse_subnet(subnet)
        for other in used:
            if net.overlaps(other):
                raise Conflict(f"Pool overlaps with other one on this address space "
                               f"({net} overlaps {other})")
    gw = _address_in(gateway, net, "gateway") if gateway else next(net.hosts())
    rng = None
    if ip_range:
        rng = parse_subnet(ip_range)
        if not rng.subnet_of(net):
            raise InvalidArgument(f"invalid ip-range {ip_range}: not within subnet {net}")
    return {"Subnet": str(net), "Gateway": str(gw), "IPRange": str(rng) if rng else ""}


def pick_subnet(used: list[ipaddress.IPv4Network]) -> ipaddress.IPv4Network:
    for candidate in POOL.subnets(new_prefix=POOL_PREFIX):
        if not any(candidate.overlaps(u) for u in used):
            return candidate
    raise Conflict("could not find an available, non-overlapping IPv4 address pool "
                   "among the defaults to assign to the network")


def _address_in(text: str, net: ipaddress.IPv4Network, what: str) -> ipaddress.IPv4Address:
    try:
        addr = ipaddress.ip_address(text)
    except ValueError as exc:
        raise InvalidArgument(f"invalid {what} address {text}") from exc
    if addr not in net or addr in (net.network_address, net.broadcast_address):
        raise InvalidArgument(f"{what} address {text} is not a host address of subnet {net}")
    return addr


def choose_address(ipam: dict, taken: set[str], wanted: str | None = None) -> str:
    """A free address: ``wanted`` if free and valid, else the first free one."""
    net = ipaddress.ip_network(ipam["Subnet"])
    reserved = set(taken) | {ipam["Gateway"]}
    if wanted:
        addr = _address_in(wanted, net, "IP")
        if str(addr) in reserved:
            raise Conflict(f"Address already in use: {wanted}")
        return str(addr)
    pool = ipaddress.ip_network(ipam["IPRange"]) if ipam.get("IPRange") else net
    for host in pool.hosts() if pool.prefixlen < 31 else pool:
        if str(host) not in reserved and host != net.broadcast_address:
            return str(host)
    raise Conflict(f"no available IPv4 addresses on this network's address pools: {net}")


def mac_for(address: str) -> str:
    """Docker's scheme: 02:42 followed by the IPv4 address bytes."""
    return "02:42:" + ":".join(f"{b:02x}" for b in ipaddress.ip_address(address).packed)
