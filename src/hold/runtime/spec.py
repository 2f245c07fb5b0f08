"""RuntimeSpec: everything the runtime needs to start one container process.

The container service builds a spec from the container's record and its
image; the runtime never reads the store.  A spec is plain data and
round-trips through JSON, because the monitor re-reads it from
``<runroot>/containers/<id>/spec.json`` when a restart policy starts the
container again after the CLI that created it has long gone.

Words:
    lowerdirs   image layer directories, TOP first (overlay's order)
    upperdir    the container's writable layer; workdir is overlay's scratch
    rootfs      the mountpoint of the overlay, in the container's mount ns
    mounts      extra mounts (volumes, binds, tmpfs), applied in order
    namespaces  which namespaces are new; "net" may instead name a path to
                join (a network namespace bound to a file)
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field


@dataclass
class Mount:
    """One mount inside the container.

    kind: "bind" (source is a host path), "tmpfs", or "volume" (already
    resolved by the volume service into a host path; mounted like a bind).
    """

    kind: str
    target: str
    source: str = ""
    readonly: bool = False
    options: list[str] = field(default_factory=list)
    propagation: str = "rprivate"
    # tmpfs only
    size: int | None = None
    mode: int | None = None


@dataclass
class Process:
    args: list[str]
    env: list[str]
    cwd: str = "/"
    user: str = ""
    tty: bool = False
    init: bool = False


@dataclass
class Security:
    caps: list[str] = field(default_factory=list)
    privileged: bool = False
    no_new_privs: bool = True
    seccomp: str = "default"          # "default", "unconfined" or "custom"
    seccomp_profile: str | None = None  # Docker seccomp profile JSON, for "custom"
    masked_paths: bool = True


@dataclass
class RuntimeSpec:
    id: str
    name: str
    lowerdirs: list[str]
    upperdir: str
    workdir: str
    rootfs: str
    process: Process
    hostname: str
    security: Security = field(default_factory=Security)
    mounts: list[Mount] = field(default_factory=list)
    network: str = "none"              # "none", "host", "bridge", or a netns path
    interfaces: list[dict] = field(default_factory=list)  # bridge endpoints (networks/service.py)
    ports: list[dict] = field(default_factory=list)       # published ports for the proxy
    cgroup: dict = field(default_factory=dict)   # Limits as a dict
    init_binary: str = ""
    etc_files: dict[str, str] = field(default_factory=dict)  # /etc/hosts -> host file

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "RuntimeSpec":
        raw = json.loads(text)
        raw["process"] = Process(**raw["process"])
        raw["security"] = Security(**raw["security"])
        raw["mounts"] = [Mount(**m) for m in raw["mounts"]]
        return cls(**raw)
