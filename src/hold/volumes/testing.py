"""Test helpers for volumes, shipped like ``hold.testing``.

``FakeDriver`` is a volume driver that keeps its volumes in a plain
directory and records every call: the second implementation the driver
conformance suite runs against (hold.volumes.conformance, run by tests/integration/volumes),
and a stand-in for tests of code that uses drivers.  ``run``,
``inspect_volume`` and ``volume_names`` are CLI shortcuts for tests that
drive ``hold`` through ``hold.testing.HoldCLI``.
"""

from __future__ import annotations

import json
import os
import shutil
from typing import Mapping

from hold.errors import InvalidArgument, VolumeNotFound
from hold.volumes.driver import Capabilities, DriverVolume

__all__ = ["FakeDriver", "run", "inspect_volume", "volume_names"]


class FakeDriver:
    """Volumes as directories under ``base``; options limited to ``flavour``.

    Keeps mount ids per volume (what a plugin's Mount/Unmount pairing sees)
    in memory and ``calls`` as (operation, name) tuples.
    """

    name = "fake"
    ACCEPTED = ("flavour",)

    def __init__(self, base: str):
        self.base = base
        self.mounts: dict[str, set[str]] = {}
        self.calls: list[tuple[str, str]] = []

    def _dir(self, name: str) -> str:
        return os.path.join(self.base, name)

    def capabilities(self) -> Capabilities:
        return Capabilities(scope="local")

    def create(self, name: str, options: Mapping[str, str]) -> None:
        self.calls.append(("create", name))
        for key in options:
            if key not in self.ACCEPTED:
                raise InvalidArgument(f'invalid option: "{key}" (the fake driver accepts: '
                                      f'{", ".join(self.ACCEPTED)})')
        os.makedirs(os.path.join(self._dir(name), "data"), exist_ok=True)
        with open(os.path.join(self._dir(name), "options.json"), "w") as f:
            json.dump(dict(options), f)

    def remove(self, name: str) -> None:
        self.calls.append(("remove", name))
        if not os.path.isdir(self._dir(name)):
            raise VolumeNotFound(name)
        shutil.rmtree(self._dir(name))
        self.mounts.pop(name, None)

    def mount(self, name: str, mount_id: str) -> str:
        self.calls.append(("mount", name))
        path = self.path(name)
        self.mounts.setdefault(name, set()).add(mount_id)
        return path

    def unmount(self, name: str, mount_id: str) -> None:
        self.calls.append(("unmount", name))
        self.path(name)
        self.mounts.get(name, set()).discard(mount_id)

    def path(self, name: str) -> str:
        data = os.path.join(self._dir(name), "data")
        if not os.path.isdir(data):
            raise VolumeNotFound(name)
        return data

    def get(self, name: str) -> DriverVolume:
        return DriverVolume(name=name, mountpoint=self.path(name),
                            status={"mounts": len(self.mounts.get(name, ()))})

    def list(self) -> list[DriverVolume]:
        if not os.path.isdir(self.base):
            return []
        return [self.get(n) for n in sorted(os.listdir(self.base))
                if os.path.isdir(os.path.join(self.base, n, "data"))]


def run(cli, *args, **kw):
    """``hold run --rm --network none ARGS``."""
    return cli("run", "--rm", "--network", "none", *args, **kw)


def inspect_volume(cli, name: str) -> dict:
    return json.loads(cli.ok("volume", "inspect", name))[0]


def volume_names(cli) -> list[str]:
    return cli.ok("volume", "ls", "-q").split()
