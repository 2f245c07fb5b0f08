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
        "NetworkSettings": {"Networks": {host["NetworkMode"]: {}}, "Ports": {},
                            "IPAddress": "", "MacAddress": ""},
    }
    if with_size:
        from hold.cli.commands.container_info import _tree_size
        result["SizeRw"] = _tree_size(os.path.join(base, "upper"))
    return result
