"""Where everything lives under the data root and the runtime root.

    <root>/                       (/var/lib/hold, --root, HOLD_ROOT)
      hold.db                     metadata (SQLite, WAL)
      hold.db.init-lock           serialises creating the schema
      layers/<hex>/               unpacked layer: an overlay lowerdir
      blobs/sha256/<hex>          layer tars, configs, manifests
      tmp/                        half-made things; removed on `system check`
      containers/<id>/            upper/ work/ (the writable layer), logs
      volumes/<name>/_data        local volumes
      bin/hold-monitor-<key>      the native idle monitor, built on first use
    <runroot>/                    (/run/hold, --runroot, HOLD_RUNROOT)
      containers/<id>/            rootfs mountpoint, monitor socket, pids
      netns/<id>                  network namespaces bound to a file
"""

from __future__ import annotations

import os
from dataclasses import dataclass

DEFAULT_ROOT = "/var/lib/hold"
DEFAULT_RUNROOT = "/run/hold"


@dataclass(frozen=True)
class Paths:
    root: str
    runroot: str

    @classmethod
    def from_env(cls, root: str | None = None, runroot: str | None = None) -> "Paths":
        root = root or os.environ.get("HOLD_ROOT") or DEFAULT_ROOT
        runroot = runroot or os.environ.get("HOLD_RUNROOT") or DEFAULT_RUNROOT
        return cls(os.path.abspath(root), os.path.abspath(runroot))

    @property
    def db(self) -> str:
        return os.path.join(self.root, "hold.db")

    @property
    def tmp(self) -> str:
        return os.path.join(self.root, "tmp")

    def layer_dir(self, diff_id: str) -> str:
        return os.path.join(self.root, "layers", diff_id.removeprefix("sha256:"))

    def blob(self, digest: str) -> str:
        algo, _, hexpart = digest.partition(":")
        return os.path.join(self.root, "blobs", algo, hexpart)

    def container_dir(self, cid: str) -> str:
        return os.path.join(self.root, "containers", cid)

    def container_run_dir(self, cid: str) -> str:
        return os.path.join(self.runroot, "containers", cid)

    def volume_dir(self, name: str) -> str:
        return os.path.join(self.root, "volumes", name)
