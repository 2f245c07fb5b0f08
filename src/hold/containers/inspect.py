"""`hold inspect CONTAINER`: Docker's container JSON, built from the record."""

from __future__ import annotations

import os


def container_json(engine, c, with_size: bool = False) -> dict:
    paths = engine.paths
    base = paths.container_dir(c.id)
    cfg, host = dict(c.config["Config"]), dict(c.config["HostConfig"])
    args = (cfg.get("Entrypoint") or []) + (cfg.get("Cmd") or [])
    state = {k: v for k, v in c.state.items() if k not in ("MonitorPid", "ManuallyStopped")}
    host_public = {k: v for k, v in host.items() if k not in ("Capabilities", "Security", "Limits")}
    try:
        image = engine.images.get(c.image_id)
        lower = ":".join([os.path.join(base, "init")] + list(reversed(image.layer_dirs)))
    except Exception:
        lower = ""
    result = {
        "Id": c.id, "Created": c.created, "Path": args[0] if args else "",
        "Args": args[1:], "State": state, "Image": c.image_id,
        "ResolvConfPath": os.path.join(base, "resolv.conf"),
        "HostnamePath": os.path.join(base, "hostname"),
        "HostsPath": os.path.join(base, "hosts"),
        "LogPath": os.path.join(base, "json.log"),
        "Name": "/" + c.name, "RestartCount": c.state.get("RestartCount", 0),
        "Driver": "overlay2", "Platform": "linux", "MountLabel": "", "ProcessLabel": "",
        "AppArmorProfile": "", "ExecIDs": None, "HostConfig": host_public,
        "GraphDriver": {"Name": "overlay2", "Data": {
            "LowerDir": lower, "UpperDir": os.path.join(base, "upper"),
            "WorkDir": os.path.join(base, "work"),
            "MergedDir": os.path.join(paths.container_run_dir(c.id), "rootfs")}},
        "Mounts": c.config.get("Mounts", []),
        "Config": cfg,
        "NetworkSettings": _network_settings(engine, c),
    }
    if with_size:
        from hold.cli.commands.container_info import _tree_size
        result["SizeRw"] = _tree_size(os.path.join(base, "upper"))
    return result


def _network_settings(engine, c) -> dict:
    """Docker's NetworkSettings: one entry per network with its address;
    the top-level IPAddress/Gateway/MacAddress are those of the default
    bridge network, as in Docker."""
    endpoints = engine.networks.endpoints(c.id) if c.config.get("Networks") else []
    networks = {}
    for e in endpoints:
        aliases = ((c.config.get("Networks") or {}).get(e["Network"]) or {}).get("Aliases")
        networks[e["Network"]] = {
            "IPAMConfig": ((c.config.get("Networks") or {}).get(e["Network"]) or {}).get("IPAMConfig"),
            "Aliases": aliases, "NetworkID": e["NetworkID"], "Gateway": e["Gateway"],
            "IPAddress": e["IPAddress"], "IPPrefixLen": e["IPPrefixLen"],
            "MacAddress": e["MacAddress"], "DNSNames": [c.name, c.id[:12]] + (aliases or []),
        }
    mode = c.config["HostConfig"]["NetworkMode"]
    if not networks:
        networks = {mode: {}}
    bridge = next((e for e in endpoints if e["Network"] == "bridge"), None)
    ports = {}
    for port in c.state.get("Ports") or [] if c.running else []:
        ports.setdefault(f"{port['container_port']}/{port['proto']}", []).append(
            {"HostIp": port["host_ip"], "HostPort": str(port["host_port"])})
    return {"Networks": networks, "Ports": ports,
            "IPAddress": bridge["IPAddress"] if bridge else "",
            "IPPrefixLen": bridge["IPPrefixLen"] if bridge else 0,
            "Gateway": bridge["Gateway"] if bridge else "",
            "MacAddress": bridge["MacAddress"] if bridge else ""}
