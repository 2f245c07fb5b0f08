"""What a network's resolver knows, read fresh from the store on every query.

Reading per query (a few indexed SELECTs on a WAL database) is what makes
a container started later, or restarted with a new address, resolvable at
once, with no cache to invalidate.

A store that cannot be read for a moment (a busy checkpoint, a full disk)
is not a store that is gone: only a missing database file means the
network is gone and the resolver may end.
"""

from __future__ import annotations

import json
import os
import sqlite3
from typing import NamedTuple


class Lookup(NamedTuple):
    addresses: list[str]    # of running containers with that name
    ours: bool              # a container on the asker's networks has it (running or not)


class NetworkRecords:
    def __init__(self, db_path: str, network_id: str):
        self.db_path = db_path
        self.db = sqlite3.connect(db_path, timeout=5)
        self.network_id = network_id
        row = self.db.execute("SELECT config FROM networks WHERE id=?", (network_id,)).fetchone()
        self.internal = bool(row and json.loads(row[0]).get("Internal"))

    def _entries(self, network_id: str):
        """(id, name, config, ip, aliases, running) of every container
        holding an address on the network."""
        name_row = self.db.execute("SELECT name FROM networks WHERE id=?", (network_id,)).fetchone()
        network_name = name_row[0] if name_row else ""
        rows = self.db.execute(
            "SELECT c.id, c.name, c.config, c.state, l.ip FROM leases l "
            "JOIN containers c ON c.id = l.container_id WHERE l.network_id=?",
            (network_id,)).fetchall()
        for cid, name, config, state, ip in rows:
            config = json.loads(config)
            aliases = ((config.get("Networks") or {}).get(network_name) or {}).get("Aliases") or []
            yield cid, name, config, ip, aliases, bool(json.loads(state).get("Running"))

    def _gone(self) -> bool:
        return not os.path.exists(self.db_path)

    def network_exists(self) -> bool:
        try:
            return self.db.execute("SELECT 1 FROM networks WHERE id=?",
                                   (self.network_id,)).fetchone() is not None
        except sqlite3.Error:
            return not self._gone()

    def anyone_running(self) -> bool:
        try:
            return any(running for *_, running in self._entries(self.network_id))
        except sqlite3.Error:
            return not self._gone()

    def _networks_of_asker(self, peer_ip: str) -> list[str]:
        """The user-defined networks the asking container is on: Docker
        resolves names across all of them, and no others."""
        asker = self.db.execute("SELECT container_id FROM leases WHERE network_id=? AND ip=?",
                                (self.network_id, peer_ip)).fetchone()
        if asker is None:
            return [self.network_id]
        rows = self.db.execute(
            "SELECT l.network_id FROM leases l JOIN networks n ON n.id = l.network_id "
            "WHERE l.container_id=? AND n.name != 'bridge'", (asker[0],)).fetchall()
        return [r[0] for r in rows] or [self.network_id]

    def lookup(self, name: str, peer_ip: str = "") -> Lookup:
        """``name`` (lower case, no trailing dot) by container name, alias
        and short id, on the networks of the asker."""
        found, ours = [], False
        for network_id in self._networks_of_asker(peer_ip):
            for cid, cname, _config, ip, aliases, running in self._entries(network_id):
                if name in {cname.lower(), cid[:12], *(a.lower() for a in aliases)}:
                    ours = True
                    if running and ip not in found:
                        found.append(ip)
        return Lookup(found, ours)

    def upstream_for(self, peer_ip: str) -> list[str]:
        """The asker's ``--dns`` servers, or the host's."""
        for _cid, _name, config, ip, _aliases, _running in self._entries(self.network_id):
            if ip == peer_ip and config.get("HostConfig", {}).get("Dns"):
                return list(config["HostConfig"]["Dns"])
        return host_nameservers()


def host_nameservers() -> list[str]:
    servers = []
    try:
        with open("/etc/resolv.conf") as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 2 and parts[0] == "nameserver":
                    servers.append(parts[1])
    except OSError:
        pass
    return servers
