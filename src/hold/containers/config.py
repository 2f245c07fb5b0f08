"""From `hold run` flags and an image to a container's stored configuration.

``RunOptions`` is what the user asked for; ``build_config`` validates all of
it against an allowlist *before anything is created* and merges it with the
image's config the way Docker does (env by key, CMD replaced by a command,
CMD dropped when the entrypoint is overridden, ...).  The result is stored
as the container's ``config`` column, shaped like ``docker inspect``'s
``Config`` and ``HostConfig``.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

from hold.errors import InvalidArgument, Unsupported

RESTART_POLICIES = ("no", "on-failure", "always", "unless-stopped")
NETWORK_MODES = ("none", "host", "default", "bridge")
SIGNALS = {
    "HUP": 1, "INT": 2, "QUIT": 3, "ILL": 4, "TRAP": 5, "ABRT": 6, "BUS": 7,
    "FPE": 8, "KILL": 9, "USR1": 10, "SEGV": 11, "USR2": 12, "PIPE": 13,
    "ALRM": 14, "TERM": 15, "STKFLT": 16, "CHLD": 17, "CONT": 18, "STOP": 19,
    "TSTP": 20, "TTIN": 21, "TTOU": 22, "URG": 23, "XCPU": 24, "XFSZ": 25,
    "VTALRM": 26, "PROF": 27, "WINCH": 28, "IO": 29, "PWR": 30, "SYS": 31,
}


@dataclass
class RunOptions:
    command: list[str] = field(default_factory=list)
    name: str | None = None
    env: list[str] = field(default_factory=list)
    env_files: list[str] = field(default_factory=list)
    workdir: str | None = None
    user: str | None = None
    entrypoint: str | None = None
    hostname: str | None = None
    init: bool = False
    network: str = "bridge"
    network_aliases: list[str] = field(default_factory=list)
    ip: str | None = None
    add_hosts: list[str] = field(default_factory=list)
    dns: list[str] = field(default_factory=list)
    publish: list[str] = field(default_factory=list)
    publish_all: bool = False
    isolation: str | None = None
    restart: str = "no"
    memory: str | None = None
    memory_swap: str | None = None
    cpus: str | None = None
    pids_limit: str | None = None
    cap_add: list[str] = field(default_factory=list)
    cap_drop: list[str] = field(default_factory=list)
    privileged: bool = False
    security_opt: list[str] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    tty: bool = False
    interactive: bool = False
    auto_remove: bool = False
    stop_signal: str | None = None
    stop_timeout: int | None = None
    # mounts, resolved by hold.volumes (volumes/resolve.py) in create()
    volumes: list[str] = field(default_factory=list)        # -v
    mounts: list[str] = field(default_factory=list)         # --mount
    tmpfs: list[str] = field(default_factory=list)          # --tmpfs
    volumes_from: list[str] = field(default_factory=list)   # --volumes-from
    allow_sensitive_mounts: bool = False


def parse_signal(value: str) -> int:
    """A signal by name (KILL, SIGKILL) or number, as `docker kill -s` takes it."""
    text = value.upper().removeprefix("SIG")
    if text.isdigit() and 0 < int(text) < 65:
        return int(text)
    if text in SIGNALS:
        return SIGNALS[text]
    raise InvalidArgument(f"Invalid signal: {value}")


def parse_restart(value: str) -> tuple[str, int]:
    name, _, count = value.partition(":")
    if name not in RESTART_POLICIES:
        raise InvalidArgument(f"invalid restart policy '{value}': accepted are "
                              f"{', '.join(RESTART_POLICIES)}")
    if count:
        if name != "on-failure":
            raise InvalidArgument(f"maximum retry count cannot be used with restart policy '{name}'")
        if not count.isdigit():
            raise InvalidArgument(f"invalid restart policy '{value}': maximum retry count must be an integer")
    return name, int(count or 0)


def read_env_files(paths: list[str]) -> list[str]:
    """Docker's --env-file: KEY=VALUE lines, '#' comments, a bare KEY takes
    the value from hold's own environment (dropped if unset)."""
    result: list[str] = []
    for path in paths:
        try:
            with open(path) as f:
                lines = f.read().splitlines()
        except OSError as exc:
            raise InvalidArgument(f"open {path}: {exc.strerror.lower()}") from exc
        for number, line in enumerate(lines, 1):
            line = line.lstrip()
            if not line or line.startswith("#"):
                continue
            key, sep, value = line.partition("=")
            if not key or re.search(r"\s", key):
                raise InvalidArgument(f"invalid env file {path} line {number}: "
                                      f"variable '{key}' contains whitespaces")
            if sep:
                result.append(f"{key}={value}")
            elif key in os.environ:
                result.append(f"{key}={os.environ[key]}")
    return result


def merge_env(image_env: list[str], extra: list[str]) -> list[str]:
    """Image env, then user env; a later key replaces an earlier one in place."""
    order: list[str] = []
    values: dict[str, str] = {}
    for item in list(image_env) + list(extra):
        key, sep, value = item.partition("=")
        if not key:
            raise InvalidArgument(f"invalid environment variable: {item}")
        if not sep:
            if key not in os.environ:
                continue
            value = os.environ[key]
        if key not in values:
            order.append(key)
        values[key] = value
    return [f"{k}={values[k]}" for k in order]


def build_config(opts: RunOptions, image_id: str, image_ref: str, image_config: dict) -> dict:
    """The container's stored config; raises before anything is created."""
    from hold.runtime import caps, seccomp
    restart, restart_max = parse_restart(opts.restart)
    if opts.auto_remove and restart != "no":
        raise InvalidArgument("conflicting options: cannot specify both --restart and --rm")
    if opts.isolation not in (None, "", "default", "process"):
        raise Unsupported(f"invalid isolation '{opts.isolation}': hold runs Linux "
                          "containers with process isolation only ('hyperv' is Windows-only)")
    network = opts.network or "bridge"
    if network == "default":
        network = "bridge"
    networking = _networking(opts, network, image_config)
    stop_signal = opts.stop_signal or image_config.get("StopSignal") or "SIGTERM"
    parse_signal(stop_signal)
    kept_caps = sorted(caps.resolve(opts.cap_add, opts.cap_drop, opts.privileged))
    security = seccomp.parse_security_opts(opts.security_opt)
    limits = _limits(opts)
    entrypoint = image_config.get("Entrypoint") or []
    cmd = image_config.get("Cmd") or []
    if opts.entrypoint is not None:
        entrypoint = [opts.entrypoint] if opts.entrypoint else []
        cmd = []
    if opts.command:
        cmd = list(opts.command)
    if not entrypoint and not cmd:
        raise InvalidArgument("no command specified")
    env = merge_env(image_config.get("Env") or [], read_env_files(opts.env_files) + opts.env)
    labels = dict(image_config.get("Labels") or {})
    labels.update(opts.labels)
    return {
        "Config": {
            "Hostname": opts.hostname or "", "User": opts.user if opts.user is not None
            else image_config.get("User", ""),
            "Env": env, "Cmd": cmd, "Entrypoint": entrypoint or None,
            "WorkingDir": opts.workdir or image_config.get("WorkingDir") or "",
            "Image": image_ref, "Labels": labels, "Tty": opts.tty,
            "OpenStdin": opts.interactive, "StdinOnce": False,
            "AttachStdin": opts.interactive, "StopSignal": stop_signal,
            "StopTimeout": opts.stop_timeout, "Volumes": image_config.get("Volumes"),
            "ExposedPorts": image_config.get("ExposedPorts"),
        },
        "HostConfig": {
            "AutoRemove": opts.auto_remove, "NetworkMode": network,
            "RestartPolicy": {"Name": restart, "MaximumRetryCount": restart_max},
            "Init": opts.init, "Privileged": opts.privileged,
            "CapAdd": opts.cap_add or None, "CapDrop": opts.cap_drop or None,
            "Capabilities": kept_caps, "SecurityOpt": opts.security_opt or None,
            "Security": security, "Isolation": opts.isolation or "",
            "Memory": limits.get("memory") or 0, "MemorySwap": limits.get("memory_swap") or 0,
            "NanoCpus": int((limits.get("cpus") or 0) * 1e9),
            "PidsLimit": limits.get("pids_limit"), "Limits": limits,
            "LogConfig": {"Type": "json-file", "Config": {}},
            **networking["HostConfig"],
        },
        "Networks": networking["Networks"],
        "Mounts": [],
    }


def _networking(opts: RunOptions, network: str, image_config: dict) -> dict:
    """Network mode, endpoint settings, published ports, hosts and DNS."""
    from hold.networks import ports
    bindings = ports.parse_publish(opts.publish)
    if opts.publish_all:
        bindings = ports.expose_all(image_config.get("ExposedPorts"), bindings)
    host = {"PortBindings": bindings, "PublishAllPorts": opts.publish_all,
            "ExtraHosts": ports.parse_add_host(opts.add_hosts) or None,
            "Dns": ports.parse_dns(opts.dns) or None}
    if network in ("none", "host"):
        if opts.network_aliases or opts.ip:
            raise InvalidArgument("network-scoped aliases and --ip are only supported for "
                                  "user-defined networks")
        if bindings and network == "none":
            raise InvalidArgument("conflicting options: port publishing and the container "
                                  "type network mode")
        return {"HostConfig": host, "Networks": {}}
    if network == "bridge" and opts.network_aliases:
        raise InvalidArgument("network-scoped aliases are only supported for user-defined networks")
    endpoint = {"Aliases": list(opts.network_aliases) or None,
                "IPAMConfig": {"IPv4Address": opts.ip} if opts.ip else None}
    return {"HostConfig": host, "Networks": {network: endpoint}}


def _limits(opts: RunOptions) -> dict:
    limits: dict = {}
    if not (opts.memory or opts.memory_swap or opts.cpus or opts.pids_limit):
        return limits
    from hold.runtime import cgroups
    if opts.memory:
        limits["memory"] = cgroups.parse_memory(opts.memory)
    if opts.memory_swap:
        limits["memory_swap"] = cgroups.parse_memory_swap(opts.memory_swap)
    if opts.cpus:
        limits["cpus"] = cgroups.parse_cpus(opts.cpus)
    if opts.pids_limit:
        limits["pids_limit"] = cgroups.parse_pids(opts.pids_limit)
    cgroups.Limits(**limits)            # cross-checks (swap >= memory, ...)
    cgroups.check_available(limits)
    return limits
