"""The network service: bridge networks, their address leases and endpoints.

A network is a record (``networks`` table: name, driver, config JSON with
Subnet, Gateway, IPRange, Internal, Labels, Options, Bridge, MTU) plus a
Linux bridge named ``hbr-<id11>``.  A container's place on a network is a
**lease** (its address, unique per network) plus its entry in the
container config's ``Networks`` (aliases).  Which containers are on a
network is derived from the leases, never counted.

The default network is called ``bridge``, as Docker's; like Docker's it
does not resolve container names (user-defined networks do).
"""

from __future__ import annotations

import ipaddress
import json
import os
from dataclasses import dataclass

from hold.errors import Conflict, InvalidArgument, NetworkNotFound
from hold.networks import ipam

DEFAULT_NETWORK = "bridge"
BRIDGE_PREFIX = "hbr-"
DEFAULT_MTU = 1500
DRIVERS = ("bridge",)
RESERVED = ("none", "host", "default")


@dataclass
class Network:
    id: str
    name: str
    driver: str
    config: dict
    created: str

    @property
    def bridge(self) -> str:
        return self.config["Bridge"]

    @property
    def prefix(self) -> int:
        return ipaddress.ip_network(self.config["Subnet"]).prefixlen

    @property
    def dns(self) -> bool:
        return self.name != DEFAULT_NETWORK

    @classmethod
    def from_row(cls, row) -> "Network":
        return cls(row["id"], row["name"], row["driver"], json.loads(row["config"]), row["created"])


class NetworkService:
    def __init__(self, store, paths):
        self.store = store
        self.paths = paths

    # -- lookup -------------------------------------------------------------

    def get(self, ref: str) -> Network:
        if ref == DEFAULT_NETWORK:
            return self.default()
        rows = self.store.query("SELECT * FROM networks WHERE id=? OR name=?", (ref, ref))
        if not rows and ref and all(c in "0123456789abcdef" for c in ref):
            rows = self.store.query("SELECT * FROM networks WHERE id LIKE ?", (ref + "%",))
            if len(rows) > 1:
                raise InvalidArgument(f"network {ref} is ambiguous ({len(rows)} matches found based on ID prefix)")
        if not rows:
            raise NetworkNotFound(ref)
        return Network.from_row(rows[0])

    def list(self) -> list[Network]:
        self.default()
        return [Network.from_row(r) for r in
                self.store.query("SELECT * FROM networks ORDER BY created")]

    def default(self) -> Network:
        rows = self.store.query("SELECT * FROM networks WHERE name=?", (DEFAULT_NETWORK,))
        if rows:
            return Network.from_row(rows[0])
        try:
            return self._create(DEFAULT_NETWORK, "bridge", None, None, None, False, {}, {},
                                preferred=ipam.DEFAULT_BRIDGE_SUBNET)
        except Conflict:
            rows = self.store.query("SELECT * FROM networks WHERE name=?", (DEFAULT_NETWORK,))
            if rows:
                return Network.from_row(rows[0])
            raise

    # -- create / remove ----------------------------------------------------------

    def create(self, name: str, driver: str = "bridge", subnet: str | None = None,
               gateway: str | None = None, ip_range: str | None = None,
               internal: bool = False, labels: dict | None = None,
               options: dict | None = None) -> Network:
        _validate_name(name)
        if driver == "nat":
            driver = "bridge"
        if driver not in DRIVERS:
            raise InvalidArgument(f'plugin "{driver}" not found: hold networks use the '
                                  "bridge driver ('nat' is accepted as bridge)")
        mtu = _mtu(options or {})
        return self._create(name, driver, subnet, gateway, ip_range, internal,
                            labels or {}, options or {}, mtu=mtu)

    def _create(self, name, driver, subnet, gateway, ip_range, internal, labels, options,
                preferred: str | None = None, mtu: int = DEFAULT_MTU) -> Network:
        from hold.networks import kernel, nat
        from hold.runtime._light import rfc3339_nano
        with _HostLock(self.paths):
            if self.store.query("SELECT 1 FROM networks WHERE name=?", (name,)):
                raise Conflict(f"network with name {name} already exists")
            used = kernel.host_subnets() + self._subnets()
            if preferred and not any(ipaddress.ip_network(preferred).overlaps(u) for u in used):
                subnet = preferred
            plan = ipam.plan(subnet, gateway, ip_range, used)
            nid = os.urandom(32).hex()
            masquerade = nat.wanted(options)
            if masquerade and internal:
                raise InvalidArgument("an --internal network cannot masquerade outbound traffic")
            config = {**plan, "Internal": bool(internal), "Labels": labels, "Options": options,
                      "Bridge": BRIDGE_PREFIX + nid[:11], "MTU": mtu, "NAT": masquerade}
            kernel.create_bridge(config["Bridge"], plan["Gateway"],
                                 ipaddress.ip_network(plan["Subnet"]).prefixlen, mtu, masquerade,
                                 owner=f"hold:{self.paths.db}:{nid}")
            if masquerade:
                nat.enable(config["Bridge"], plan["Subnet"])
            try:
                with self.store.transaction() as db:
                    if db.execute("SELECT 1 FROM networks WHERE name=?", (name,)).fetchone():
                        raise Conflict(f"network with name {name} already exists")
                    db.execute("INSERT INTO networks (id, name, driver, config, created) "
                               "VALUES (?,?,?,?,?)", (nid, name, driver, json.dumps(config),
                                                      rfc3339_nano()))
            except BaseException:
                if masquerade:
                    nat.disable(config["Bridge"])
                kernel.delete_bridge(config["Bridge"])
                raise
        return self.get(nid)

    def _subnets(self) -> list[ipaddress.IPv4Network]:
        return [ipaddress.ip_network(json.loads(r["config"])["Subnet"])
                for r in self.store.query("SELECT config FROM networks")]

    def remove(self, ref: str) -> Network:
        from hold.networks import dns, kernel, nat
        net = self.get(ref)
        if net.name == DEFAULT_NETWORK:
            raise Conflict(f"{net.name} is a pre-defined network and cannot be removed")
        with self.store.transaction() as db:
            users = db.execute("SELECT container_id FROM leases WHERE network_id=?",
                               (net.id,)).fetchall()
            if users:
                raise Conflict(f"error while removing network: network {net.name} id {net.id} "
                               f"has active endpoints ({', '.join(u[0][:12] for u in users)})")
            db.execute("DELETE FROM networks WHERE id=?", (net.id,))
        dns.stop_resolver(self.paths, net.id)
        if net.config.get("NAT"):
            nat.disable(net.bridge)
        kernel.delete_bridge(net.bridge)
        return net

    def stray_bridges(self, repair: bool = False) -> list[str]:
        """hold bridges whose network no longer exists: in this data root, or
        in a data root that is gone altogether (a thrown-away test root)."""
        from hold.networks import kernel
        known = {json.loads(r["config"])["Bridge"] for r in
                 self.store.query("SELECT config FROM networks")}
        stray = []
        for bridge in kernel.list_bridges(BRIDGE_PREFIX):
            owner = kernel.bridge_owner(bridge)
            if owner is None or bridge in known:
                continue
            db_path, _ = owner
            if db_path == self.paths.db or not os.path.exists(db_path):
                stray.append(bridge)
                if repair:
                    kernel.delete_bridge(bridge)
        return stray

    def prune(self) -> list[Network]:
        removed = []
        for net in self.list():
            if net.name == DEFAULT_NETWORK or self.containers_of(net.id):
                continue
            try:
                removed.append(self.remove(net.id))
            except Conflict:
                continue
        return removed

    # -- leases -------------------------------------------------------------------

    def containers_of(self, network_id: str) -> list[tuple[str, str]]:
        return [(r["container_id"], r["ip"]) for r in self.store.query(
            "SELECT container_id, ip FROM leases WHERE network_id=?", (network_id,))]

    def allocate(self, db, net: Network, cid: str, wanted_ip: str | None = None) -> str:
        """Lease an address for ``cid`` inside the caller's transaction."""
        if wanted_ip and net.name == DEFAULT_NETWORK:
            raise InvalidArgument("user specified IP address is supported only when "
                                  "connecting to networks with user configured subnets")
        if db.execute("SELECT 1 FROM leases WHERE network_id=? AND container_id=?",
                      (net.id, cid)).fetchone():
            raise Conflict(f"endpoint with name {cid[:12]} already exists in network {net.name}")
        taken = {r[0] for r in db.execute("SELECT ip FROM leases WHERE network_id=?", (net.id,))}
        address = ipam.choose_address(net.config, taken, wanted_ip)
        db.execute("INSERT INTO leases (network_id, ip, container_id) VALUES (?,?,?)",
                   (net.id, address, cid))
        return address

    def release(self, db, cid: str, network_id: str | None = None) -> None:
        if network_id:
            db.execute("DELETE FROM leases WHERE container_id=? AND network_id=?", (cid, network_id))
        else:
            db.execute("DELETE FROM leases WHERE container_id=?", (cid,))

    def endpoints(self, cid: str) -> list[dict]:
        """The container's attachments, in attach order, for the runtime."""
        rows = self.store.query(
            "SELECT n.*, l.ip FROM leases l JOIN networks n ON n.id = l.network_id "
            "WHERE l.container_id=? ORDER BY l.rowid", (cid,))
        result = []
        for index, row in enumerate(rows):
            net = Network.from_row(row)
            result.append({
                "Network": net.name, "NetworkID": net.id, "Bridge": net.bridge,
                "IPAddress": row["ip"], "IPPrefixLen": net.prefix,
                "Gateway": net.config["Gateway"], "MacAddress": ipam.mac_for(row["ip"]),
                "MTU": net.config.get("MTU", DEFAULT_MTU), "Interface": f"eth{index}",
                "DefaultRoute": index == 0 and not net.config.get("Internal"),
                "DNS": net.dns, "Internal": bool(net.config.get("Internal")),
                "NAT": bool(net.config.get("NAT")), "Subnet": net.config["Subnet"],
            })
        return result


def _validate_name(name: str) -> None:
    import re
    if name in RESERVED:
        raise InvalidArgument(f"{name} is a pre-defined network and cannot be created")
    if not re.match(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$", name):
        raise InvalidArgument(f"invalid network name {name!r}: only [a-zA-Z0-9][a-zA-Z0-9_.-] "
                              "are allowed")


def _mtu(options: dict) -> int:
    value = options.get("com.docker.network.driver.mtu") or options.get("mtu")
    if value is None:
        return DEFAULT_MTU
    if not str(value).isdigit() or not 68 <= int(value) <= 65535:
        raise InvalidArgument(f"invalid MTU {value}: must be a number from 68 to 65535")
    return int(value)


class _HostLock:
    """One lock for the whole machine around subnet choice and bridge
    creation, so networks of different hold roots never pick the same subnet."""

    PATH = "/run/hold-networks.lock"

    def __init__(self, paths):
        self.fd = -1

    def __enter__(self):
        import fcntl
        self.fd = os.open(self.PATH, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        os.close(self.fd)
        return False


def connect(engine, network_ref: str, container_ref: str, aliases: list[str],
            ip: str | None) -> None:
    """`hold network connect`: lease an address, record the endpoint, and
    if the container runs, plug a new interface into it now."""
    service: NetworkService = engine.networks
    net = service.get(network_ref)
    container = engine.containers.get(container_ref)
    mode = container.config["HostConfig"]["NetworkMode"]
    if mode in ("none", "host"):
        raise Conflict(f"container cannot be connected to network {net.name}: it uses "
                       f"--network {mode}")
    if aliases and net.name == DEFAULT_NETWORK:
        raise InvalidArgument("network-scoped aliases are only supported for user-defined networks")
    endpoint = {"Aliases": aliases or None, "IPAMConfig": {"IPv4Address": ip} if ip else None}
    with service.store.transaction() as db:
        if net.name in container.config.get("Networks", {}):
            raise Conflict(f"endpoint with name {container.name} already exists in network {net.name}")
        service.allocate(db, net, container.id, ip)
        row = db.execute("SELECT config FROM containers WHERE id=?", (container.id,)).fetchone()
        config = json.loads(row[0])
        config.setdefault("Networks", {})[net.name] = endpoint
        db.execute("UPDATE containers SET config=? WHERE id=?", (json.dumps(config), container.id))
    if container.running:
        _plug(engine, service, net, container)


def _plug(engine, service, net: Network, container) -> None:
    from hold.networks import dns, kernel
    endpoints = service.endpoints(container.id)
    index = next(i for i, e in enumerate(endpoints) if e["NetworkID"] == net.id)
    e = endpoints[index]
    kernel.create_bridge(e["Bridge"], e["Gateway"], e["IPPrefixLen"], e["MTU"], e["NAT"])
    kernel.attach(container.state["Pid"], e["Bridge"], kernel.host_veth_name(container.id, index),
                  e["Interface"], e["IPAddress"], e["IPPrefixLen"], e["Gateway"],
                  e["MacAddress"], e["MTU"], default_route=False)
    if e["DNS"]:
        dns.ensure_resolver(engine.paths, net.id, e["Gateway"])


def disconnect(engine, network_ref: str, container_ref: str, force: bool = False) -> None:
    """`hold network disconnect`: unplug (if running) and release the lease."""
    from hold.networks import kernel
    service: NetworkService = engine.networks
    net = service.get(network_ref)
    try:
        container = engine.containers.get(container_ref)
    except Exception:
        if not force:
            raise
        with service.store.transaction() as db:
            db.execute("DELETE FROM leases WHERE network_id=? AND container_id LIKE ?",
                       (net.id, container_ref + "%"))
        return
    endpoints = service.endpoints(container.id)
    mine = [e for e in endpoints if e["NetworkID"] == net.id]
    if not mine:
        raise Conflict(f"container {container.id} is not connected to network {net.name}")
    if container.running:
        try:
            kernel.detach(container.state["Pid"], mine[0]["Interface"])
        except Exception:
            if not force:
                raise
    with service.store.transaction() as db:
        service.release(db, container.id, net.id)
        row = db.execute("SELECT config FROM containers WHERE id=?", (container.id,)).fetchone()
        config = json.loads(row[0])
        config.get("Networks", {}).pop(net.name, None)
        db.execute("UPDATE containers SET config=? WHERE id=?", (json.dumps(config), container.id))
