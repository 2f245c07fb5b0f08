"""Test helpers for network partitions: each member in its own network
namespace, joined to the others by veth links that a test can cut.

Loopback cannot be partitioned -- every member shares one stack -- so
``PartitionableReplicaSet`` gives each member a namespace of its own and
wires them like this (one private /24, ``10.25x.y.0``, chosen per set so
that concurrent runs on one machine do not collide)::

      host namespace (the test and its pymongo clients)
        |  <tag>c0          |  <tag>c1          |  <tag>c2      client links:
        |  .65/30           |  .69/30           |  .73/30       one veth per
        |                   |                   |               member
      +-------------+     +-------------+     +-------------+
      | <tag>-m0    |--m1-|-m0  <tag>-m1|--m2-|-m1  <tag>-m2|
      | lo: .1/32   |     | lo: .2/32   |     | lo: .3/32   |
      +-------------+     +-------------+     +-------------+
             \\______________ m2 ... m0 ______________/
                     member links: one veth per pair

Each member listens on its own address (``.1``/``.2``/``.3`` on its ``lo``,
port 27017 everywhere) and reaches each other member through the one veth
of that pair (a /32 route per peer); the host reaches each member through
that member's client link.  Nothing else is routed: no default route, IPv4
forwarding off in every member namespace and on the host ends, no NAT -- a
packet can only travel a direct link, so a cut link is a cut path, never a
detour through a third member or the host, and nothing leaves the machine.

Words: to **cut** a pair is to set both ends of its veth down (a pulled
cable: the kernel drops the routes, senders get "Network is unreachable"
at once); to **isolate** a member is to cut it from every other member (and,
with ``client=True``, set its client link down too, so that the test cannot
reach it either -- packets to it then vanish without an answer); a
**one-way** drop (``drop(receiver, sender)``) has the receiver's kernel
discard every IP packet from that sender's link (an nftables rule in the
receiver's namespace): the sender hears nothing back and times out, the
receiver's own packets still arrive.  ``heal()`` undoes all of it.

Lifecycle: ``PartitionableReplicaSet(workdir)`` chooses names only;
``start()`` builds the namespaces and links and starts the members (with
``ip netns exec``); ``initiate()``, ``kill(i)``, ``restart(i)``,
``states()`` work as in ``LocalReplicaSet``; ``close()`` kills every member
and deletes every namespace and link, and must run even when the test fails
(a ``finally`` or the context manager).  ``network_leftovers(tag)`` lists
what a set with that tag left behind; ``remove_stale_networks()`` removes
namespaces of earlier test processes that died before their ``close()``.
Needs root, iproute2 and nftables.
"""

from __future__ import annotations

import ipaddress
import os
import random
import re
import signal
import subprocess
from typing import Any

from holddb.repl.testing import LocalReplicaSet
from holddb.testing import HolddbProcess

__all__ = ["PartitionableReplicaSet", "network_leftovers", "remove_stale_networks", "PREFIX"]

PREFIX = "hdbp"  # every namespace and host link of these sets starts with it
PORT = 27017
_NFT_TABLE = "holddb_partition"
_NETNS_NAME = re.compile(rf"^{PREFIX}-(\d+)-([0-9a-f]+)-m\d+$")


def _ip(*args: str, batch: str | None = None, check: bool = True) -> str:
    """Run iproute2; with ``batch``, one ``ip -batch`` for many steps."""
    argv = ["ip", *args] + (["-batch", "-"] if batch is not None else [])
    result = subprocess.run(argv, input=batch, capture_output=True, text=True, timeout=30)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed: {result.stderr.strip()}\n{batch or ''}")
    return result.stdout


def _in_netns(namespace: str, *argv: str, stdin: str | None = None) -> None:
    result = subprocess.run(["ip", "netns", "exec", namespace, *argv], input=stdin,
                            capture_output=True, text=True, timeout=30)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} in {namespace} failed: {result.stderr.strip()}")


def _free_subnet(rng: random.Random) -> ipaddress.IPv4Network:
    """A private /24 that no route or address of the host overlaps."""
    taken = []
    for line in (_ip("-4", "-o", "route", "show", "table", "all") +
                 _ip("-4", "-o", "addr", "show")).splitlines():
        for word in line.split():
            try:
                taken.append(ipaddress.ip_network(word, strict=False))
            except ValueError:
                continue
    taken = [net for net in taken if net.prefixlen > 0]  # a default route overlaps everything
    for _ in range(200):
        subnet = ipaddress.ip_network(f"10.{rng.randrange(250, 255)}.{rng.randrange(256)}.0/24")
        if not any(subnet.overlaps(net) for net in taken):
            return subnet
    raise RuntimeError("no free 10.250-254.x.0/24 subnet for the test network")


def _namespaces() -> list[str]:
    return [line.split()[0] for line in _ip("netns", "list").splitlines() if line.strip()]


def network_leftovers(token: str) -> list[str]:
    """Namespaces and host links of the set with this ``token`` (its
    ``token`` attribute) that still exist."""
    found = [f"netns {name}" for name in _namespaces()
             if (match := _NETNS_NAME.match(name)) and match.group(2) == token]
    found += [f"link {name}" for name in os.listdir("/sys/class/net")
              if name.startswith(f"{PREFIX}{token}")]
    return found


def remove_stale_networks() -> list[str]:
    """Delete namespaces (and their processes: members of a crashed run) left
    by earlier test processes that no longer exist; returns their names."""
    removed = []
    for name in _namespaces():
        match = _NETNS_NAME.match(name)
        if match is None or os.path.exists(f"/proc/{match.group(1)}"):
            continue
        _remove_namespace(name)
        removed.append(name)
        for link in os.listdir("/sys/class/net"):  # a deleted namespace may linger a while
            if link.startswith(f"{PREFIX}{match.group(2)}c"):
                _ip("link", "del", link, check=False)
    return removed


def _remove_namespace(name: str) -> None:
    """Kill what still runs in the namespace, then delete it (a process
    inside would keep the namespace, and its links, alive)."""
    for pid in _ip("netns", "pids", name, check=False).split():
        try:
            os.kill(int(pid), signal.SIGKILL)
        except (ProcessLookupError, ValueError):
            pass
    _ip("netns", "del", name, check=False)


class PartitionableReplicaSet(LocalReplicaSet):
    """N holddb members, each in its own network namespace (module docstring)."""

    def __init__(self, workdir: str, members: int = 3, *, name: str = "replSet0",
                 settings: dict | None = None) -> None:
        # names and addresses from the system's randomness, never a test's seed:
        # two runs with one seed on one machine must not collide
        rng = random.SystemRandom()
        token = f"{rng.randrange(16 ** 4):04x}"
        while os.path.exists(f"/sys/class/net/{PREFIX}{token}c0"):
            token = f"{rng.randrange(16 ** 4):04x}"
        self.token = token
        # namespaces carry our pid (remove_stale_networks); host links only the
        # short tag, since an interface name has at most 15 characters
        self.tag = f"{PREFIX}-{os.getpid()}-{token}"
        self.link_tag = f"{PREFIX}{token}"
        self.namespaces = [f"{self.tag}-m{i}" for i in range(members)]
        self.subnet = _free_subnet(rng)
        base = self.subnet.network_address
        self.addresses = [str(base + 1 + i) for i in range(members)]
        # client link i: host end .64+4i+1, member end .64+4i+2 (a /30 each)
        self.client_ends = [(str(base + 65 + 4 * i), str(base + 66 + 4 * i))
                            for i in range(members)]
        self.cut_pairs: set[frozenset[int]] = set()
        self.dropped: set[tuple[int, int]] = set()  # (receiver, sender)
        self.cut_clients: set[int] = set()
        self._built = False
        super().__init__(workdir, members, name=name, settings=settings,
                         ports=[PORT] * members)

    def _process(self, index: int) -> HolddbProcess:
        return HolddbProcess(f"{self.workdir}/db{index}", port=PORT,
                             host=self.addresses[index],
                             wrapper=["ip", "netns", "exec", self.namespaces[index]],
                             extra_args=["--replSet", self.name],
                             logpath=f"{self.workdir}/member{index}.log")

    @property
    def hosts(self) -> list[str]:
        return [f"{address}:{PORT}" for address in self.addresses]

    # -- building and removing the network ------------------------------------

    def start(self) -> "PartitionableReplicaSet":
        try:
            self._build()
            super().start()
        except BaseException:
            self.close()
            raise
        return self

    def _build(self) -> None:
        self._built = True
        count = len(self.namespaces)
        for index, namespace in enumerate(self.namespaces):
            _ip("netns", "add", namespace)
            host_end, member_end = self.client_ends[index]
            link = f"{self.link_tag}c{index}"
            _ip("link", "add", "name", link, "type", "veth", "peer", "name", "client",
                "netns", namespace)
            # the host must never route what arrives on these links anywhere else
            _write_sysctl(f"ipv4/conf/{link}/forwarding", "0")
            _write_sysctl(f"ipv6/conf/{link}/disable_ipv6", "1")
            _in_netns(namespace, "sh", "-c", "echo 0 > /proc/sys/net/ipv4/ip_forward")
            _ip("-n", namespace, batch=f"link set lo up\n"
                                       f"addr add {self.addresses[index]}/32 dev lo\n"
                                       f"addr add {member_end}/30 dev client\n"
                                       f"link set client up\n")
            _ip(batch=f"addr add {host_end}/30 dev {link}\n"
                      f"link set {link} up\n"
                      f"route add {self.addresses[index]}/32 via {member_end} src {host_end}\n")
            _in_netns(namespace, "nft", "-f", "-", stdin=(
                f"table inet {_NFT_TABLE} {{\n"
                f"  chain input {{ type filter hook input priority 0; policy accept; }}\n"
                f"}}\n"))
        for a in range(count):
            for b in range(a + 1, count):
                _ip("link", "add", "name", f"m{b}", "netns", self.namespaces[a], "type", "veth",
                    "peer", "name", f"m{a}", "netns", self.namespaces[b])
                self._link_up(a, b)

    def _link_up(self, a: int, b: int) -> None:
        """Both ends of the a-b veth up, and each side's route to the other."""
        for me, peer in ((a, b), (b, a)):
            _ip("-n", self.namespaces[me], batch=f"link set m{peer} up\n")
        for me, peer in ((a, b), (b, a)):
            _ip("-n", self.namespaces[me],
                batch=f"route replace {self.addresses[peer]}/32 dev m{peer} "
                      f"src {self.addresses[me]}\n")

    def close(self) -> None:
        for process in self.processes:  # a test may leave one SIGSTOPped
            if process.process is not None and process.process.poll() is None:
                try:
                    os.kill(process.process.pid, signal.SIGCONT)
                except ProcessLookupError:
                    pass
        super().close()
        if not self._built:
            return
        for index, namespace in enumerate(self.namespaces):
            # deleting the host end deletes its peer at once; the member links
            # go with their namespaces
            _ip("link", "del", f"{self.link_tag}c{index}", check=False)
            _remove_namespace(namespace)

    def leftovers(self) -> list[str]:
        return network_leftovers(self.token)

    # -- partitions -----------------------------------------------------------

    def cut(self, a: int, b: int) -> None:
        """Pull the cable between members ``a`` and ``b`` (both ends down)."""
        if a == b:
            raise ValueError("a member cannot be cut from itself")
        for me, peer in ((a, b), (b, a)):
            _ip("-n", self.namespaces[me], batch=f"link set m{peer} down\n")
        self.cut_pairs.add(frozenset((a, b)))

    def mend(self, a: int, b: int) -> None:
        self._link_up(a, b)
        self.cut_pairs.discard(frozenset((a, b)))

    def isolate(self, index: int, *, client: bool = False) -> None:
        """Cut ``index`` from every other member; ``client=True`` cuts the
        test's link to it as well."""
        for other in range(len(self.namespaces)):
            if other != index:
                self.cut(index, other)
        if client:
            _ip("-n", self.namespaces[index], batch="link set client down\n")
            self.cut_clients.add(index)

    def drop(self, receiver: int, sender: int) -> None:
        """One way: ``receiver`` discards every IP packet from ``sender``."""
        self.dropped.add((receiver, sender))
        self._write_drops(receiver)

    def _write_drops(self, receiver: int) -> None:
        rules = "".join(f"add rule inet {_NFT_TABLE} input iifname \"m{sender}\" drop\n"
                        for rcv, sender in sorted(self.dropped) if rcv == receiver)
        _in_netns(self.namespaces[receiver], "nft", "-f", "-",
                  stdin=f"flush chain inet {_NFT_TABLE} input\n{rules}")

    def heal(self) -> None:
        """Every link up, every route back, no drop rule left."""
        for pair in list(self.cut_pairs):
            self.mend(*sorted(pair))
        for index in list(self.cut_clients):
            host_end, member_end = self.client_ends[index]
            _ip("-n", self.namespaces[index], batch="link set client up\n")
            _ip(batch=f"route replace {self.addresses[index]}/32 via {member_end} "
                      f"src {host_end}\n")
            self.cut_clients.discard(index)
        receivers = {receiver for receiver, _ in self.dropped}
        self.dropped.clear()
        for receiver in receivers:
            self._write_drops(receiver)

    def describe(self) -> str:
        """The partitions in force, for log lines and failure messages."""
        parts = [f"cut {'-'.join(map(str, sorted(p)))}" for p in sorted(self.cut_pairs,
                                                                          key=sorted)]
        parts += [f"{r} drops {s}" for r, s in sorted(self.dropped)]
        parts += [f"client cut from {i}" for i in sorted(self.cut_clients)]
        return ", ".join(parts) or "healed"

    def __enter__(self) -> "PartitionableReplicaSet":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _write_sysctl(name: str, value: str) -> None:
    with open(f"/proc/sys/net/{name}", "w", encoding="ascii") as handle:
        handle.write(value)
