"""Outbound NAT for a network, only when its creator asks for it.

hold's bridges do not forward by default: containers reach each other, the
host and published ports, never the outside (and never another network).
A user who wants containers to reach the internet creates the network with
Docker's own option name::

    hold network create -o com.docker.network.bridge.enable_ip_masquerade=true NAME

which turns forwarding on for that bridge and adds nftables rules in a
table of hold's own (``ip hold``): masquerade what leaves the subnet for
another interface, and drop what it forwards into other hold bridges, so
networks stay isolated from each other.  Every rule carries the comment
``hold:<bridge>``, which is how ``disable`` finds and removes exactly its
own.  hold's tests never enable this (no traffic may leave the machine).
"""

from __future__ import annotations

import re
import subprocess

from hold.errors import SystemError_, Unsupported

OPTION = "com.docker.network.bridge.enable_ip_masquerade"
TABLE = "hold"


def wanted(options: dict) -> bool:
    return str(options.get(OPTION, "false")).lower() in ("1", "true", "yes")


def rules(bridge: str, subnet: str) -> str:
    """The nft script that enables NAT for one bridge (pure; unit-tested)."""
    tag = f'comment "hold:{bridge}"'
    return (f"add table ip {TABLE}\n"
            f"add chain ip {TABLE} postrouting {{ type nat hook postrouting priority srcnat; policy accept; }}\n"
            f"add chain ip {TABLE} forward {{ type filter hook forward priority filter; policy accept; }}\n"
            f'add rule ip {TABLE} postrouting ip saddr {subnet} oifname != "{bridge}" masquerade {tag}\n'
            f'add rule ip {TABLE} forward iifname "{bridge}" oifname "hbr-*" oifname != "{bridge}" drop {tag}\n')


def _nft(script: str | None, *args: str) -> str:
    try:
        result = subprocess.run(["nft", *args] + (["-f", "-"] if script else []), input=script,
                                capture_output=True, text=True)
    except FileNotFoundError as exc:
        raise Unsupported("outbound NAT needs nftables (apt-get install nftables)") from exc
    if result.returncode != 0:
        raise SystemError_(f"nft: {result.stderr.strip()}")
    return result.stdout


def _handles(bridge: str) -> list[tuple[str, str]]:
    """(chain, handle) of every rule tagged for ``bridge``."""
    try:
        listing = _nft(None, "-a", "list", "table", "ip", TABLE)
    except SystemError_:
        return []
    found, chain = [], ""
    for line in listing.splitlines():
        header = re.match(r"\s*chain (\S+) \{", line)
        if header:
            chain = header.group(1)
        elif f'comment "hold:{bridge}"' in line:
            handle = re.search(r"# handle (\d+)", line)
            if handle:
                found.append((chain, handle.group(1)))
    return found


def enable(bridge: str, subnet: str) -> None:
    if not _handles(bridge):
        _nft(rules(bridge, subnet))
    with open(f"/proc/sys/net/ipv4/conf/{bridge}/forwarding", "w") as f:
        f.write("1")


def disable(bridge: str) -> None:
    for chain, handle in _handles(bridge):
        _nft(None, "delete", "rule", "ip", TABLE, chain, "handle", handle)
