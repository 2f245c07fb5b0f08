"""Bridges and veth pairs, through iproute2's `ip -batch`.

One `ip` process per step keeps a container start to a couple of execs
(host side, then container side through nsenter) instead of importing a
netlink library on the CLI's start-up path.  Failures become hold errors
here, once, with ip's own message.

Isolation and safety: every bridge gets ``forwarding=0`` (packets that
arrive on it are never routed elsewhere), so networks cannot reach each
other through the host and container traffic never leaves the machine;
the host reaches containers directly on the bridge, which is all that
published ports and the DNS resolver need.
"""

from __future__ import annotations

import ipaddress
import os
import subprocess

from hold.errors import SystemError_

IP = "ip"
NSENTER = "nsenter"


def _run(argv: list[str], batch: str, what: str) -> None:
    result = subprocess.run(argv + ["-batch", "-"], input=batch, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemError_(f"{what}: {result.stderr.strip() or 'ip failed'}")


def bridge_exists(name: str) -> bool:
    return os.path.exists(f"/sys/class/net/{name}")


def create_bridge(name: str, gateway: str, prefix: int, mtu: int, forwarding: bool = False,
                  owner: str = "") -> None:
    """Create (or reuse) the bridge with its gateway address, up; it does not
    forward unless the network asked for outbound NAT (networks/nat.py).

    ``owner`` ("hold:<db path>:<network id>") is stored as the interface's
    alias, so `hold system check` can tell a bridge whose data root was
    thrown away from one another hold root still uses."""
    if not bridge_exists(name):
        alias = f"link set {name} alias {owner}\n" if owner else ""
        _run([IP], f"link add {name} type bridge\n"
                   f"link set {name} address {bridge_mac()}\n"
                   f"link set {name} mtu {mtu}\n"
                   f"addr add {gateway}/{prefix} dev {name}\n"
                   f"{alias}"
                   f"link set {name} up\n", f"creating bridge {name}")
    elif _mac_is_borrowed(name):
        # A bridge made before bridges had a MAC of their own: give it one
        # while no container is on it (nobody has the old one cached).
        _run([IP], f"link set {name} address {bridge_mac()}\n", f"setting {name}'s MAC")
    _sysctl(f"net/ipv4/conf/{name}/forwarding", "1" if forwarding else "0")
    _sysctl(f"net/ipv6/conf/{name}/disable_ipv6", "1")


def bridge_mac() -> str:
    """A random, locally administered unicast MAC for a new bridge.

    A bridge without an address of its own takes the lowest MAC among its
    ports, so it changed whenever a container's veth came or went (a
    removed container's veth goes when the kernel gets round to destroying
    its network namespace, seconds later under load).  Containers that had
    the gateway's old MAC cached then sent to nobody until their ARP entry
    went stale, ~30 s: the replica set's client lost the resolver mid-run
    ("Temporary failure in name resolution" for members that were up).
    Docker and Podman give their bridges a fixed address for the same
    reason."""
    octets = bytearray(os.urandom(6))
    octets[0] = (octets[0] & 0xFC) | 0x02
    return ":".join(f"{b:02x}" for b in octets)


def _mac_is_borrowed(name: str) -> bool:
    """True for a bridge with no port whose MAC was not set (addr_assign_type 3)."""
    try:
        with open(f"/sys/class/net/{name}/addr_assign_type") as f:
            if f.read().strip() == "3":
                return False
        return not os.listdir(f"/sys/class/net/{name}/brif")
    except OSError:
        return False


def delete_bridge(name: str) -> None:
    if bridge_exists(name):
        _run([IP], f"link del {name}\n", f"removing bridge {name}")


def _sysctl(key: str, value: str) -> None:
    try:
        with open(f"/proc/sys/{key}", "w") as f:
            f.write(value)
    except OSError:
        pass


def attach(pid: int, bridge: str, host_if: str, ifname: str, address: str, prefix: int,
           gateway: str, mac: str, mtu: int, default_route: bool) -> None:
    """A veth pair: ``host_if`` on ``bridge``, its peer ``ifname`` inside the
    network namespace of ``pid`` with ``address`` and (optionally) the
    default route through ``gateway``."""
    peer = host_if + "p"
    if os.path.exists(f"/sys/class/net/{host_if}"):
        # The previous run's pair: the kernel destroys a dead container's
        # network namespace (and its veths) asynchronously, so a quick
        # restart can still find it.  The name is this container's own.
        subprocess.run([IP, "link", "del", host_if], capture_output=True)
    _run([IP], f"link add {host_if} mtu {mtu} type veth peer name {peer} mtu {mtu}\n"
               f"link set {host_if} master {bridge}\n"
               f"link set {host_if} up\n"
               f"link set {peer} netns {pid}\n", f"creating veth for {ifname}")
    inside = (f"link set {peer} name {ifname}\n"
              f"link set {ifname} address {mac}\n"
              f"addr add {address}/{prefix} dev {ifname}\n"
              f"link set {ifname} up\n"
              "link set lo up\n")
    if default_route:
        inside += f"route add default via {gateway} dev {ifname}\n"
    try:
        _run([NSENTER, f"--net=/proc/{pid}/ns/net", IP], inside,
             f"configuring {ifname} in the container")
    except SystemError_:
        _run([IP], f"link del {host_if}\n", "cleaning up veth")
        raise


def detach(pid: int, ifname: str) -> None:
    """Remove ``ifname`` from the namespace of ``pid``; its host end goes too."""
    _run([NSENTER, f"--net=/proc/{pid}/ns/net", IP], f"link del {ifname}\n",
         f"removing {ifname} from the container")


def host_veths(cid: str) -> dict[str, int]:
    """The container's host-side veths now, name -> ifindex (those
    `network connect` added at run time too: every name is the container's
    own, see ``host_veth_name``)."""
    prefix = host_veth_name(cid, 0)[:-2]
    found = {}
    try:
        for name in os.listdir("/sys/class/net"):
            if name.startswith(prefix):
                with open(f"/sys/class/net/{name}/ifindex") as f:
                    found[name] = int(f.read())
    except (OSError, ValueError):
        pass
    return found


def unplug(veths: dict[str, int]) -> None:
    """Delete an exited container's veths (``host_veths`` taken at its exit;
    each peer goes with its pair).

    Left to itself a pair lasts as long as the container's network
    namespace, and that outlives its processes while any socket in it does:
    orphaned TCP connections to peers that are gone as well (a replica set
    removed at once) retransmit for minutes, and kept three veths on the
    host after `hold rm` and `network rm`.  Deleted by ifindex through
    netlink, so an interface a newer start of the container made under the
    same name is never touched.  Best effort, never raising: one already
    gone is skipped, and what cannot be deleted the kernel still takes with
    the namespace."""
    if not veths:
        return
    import socket
    import struct
    rtm_dellink, nlm_f_request_ack = 17, 0x1 | 0x4
    try:
        with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE) as nl:
            for seq, index in enumerate(veths.values(), 1):
                body = struct.pack("=BxHiII", socket.AF_UNSPEC, 0, index, 0, 0)
                nl.send(struct.pack("=IHHII", 16 + len(body), rtm_dellink, nlm_f_request_ack,
                                    seq, 0) + body)
                nl.recv(4096)       # the ack (or ENODEV: already gone)
    except OSError:
        pass


def host_subnets() -> list[ipaddress.IPv4Network]:
    """Every IPv4 network the host routes now (so a new subnet overlaps none)."""
    out = subprocess.run([IP, "-4", "route", "show", "table", "all"],
                         capture_output=True, text=True).stdout
    nets = []
    for line in out.splitlines():
        first = line.split()[0] if line.split() else ""
        if first in ("default", "broadcast", "local", "unreachable", "blackhole", "prohibit"):
            continue
        try:
            net = ipaddress.ip_network(first, strict=False)
        except ValueError:
            continue
        if net.prefixlen > 0:
            nets.append(net)
    return nets


def host_veth_name(cid: str, index: int) -> str:
    """A unique, <= 15 character host-side name for a container's veth."""
    return f"vh{cid[:10]}{index:02d}"[:14]


def list_bridges(prefix: str) -> list[str]:
    try:
        return sorted(n for n in os.listdir("/sys/class/net") if n.startswith(prefix))
    except OSError:
        return []


def bridge_owner(name: str) -> tuple[str, str] | None:
    """(db path, network id) from a hold bridge's alias, or None."""
    try:
        with open(f"/sys/class/net/{name}/ifalias") as f:
            alias = f.read().strip()
    except OSError:
        return None
    if not alias.startswith("hold:"):
        return None
    db_path, _, network_id = alias[len("hold:"):].rpartition(":")
    return (db_path, network_id) if db_path and network_id else None
