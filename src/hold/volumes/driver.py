"""The volume driver interface, and the words it uses.

A **volume** is a named piece of storage that outlives containers.  hold
keeps a *record* of it (``volumes`` table: name, driver, options, labels,
anonymous, created-at) and asks its **driver** for the storage itself.
A driver implements the same operations as Docker's volume plugin
protocol (``/VolumeDriver.Create``, ``.Remove``, ``.Mount``, ``.Unmount``,
``.Path``, ``.Get``, ``.List``, ``.Capabilities``), so a plugin proxy, the
``local`` driver, remote-storage drivers and the test fake are
interchangeable and all pass one conformance suite
(hold.volumes.conformance, run by tests/integration/volumes).

Lifecycle::

    create(name, options)        storage exists; may be called again for an
                                 existing name with the same options (no-op)
    mount(name, mount_id) -> P   P is a host directory holding the volume's
                                 data until the matching unmount; one
                                 mount_id per user (hold uses the container
                                 id), mounting twice with different ids is
                                 allowed and returns the same P
    unmount(name, mount_id)      must be paired with each mount; the driver
                                 may release the storage when the last
                                 mount_id goes
    remove(name)                 data is gone; the service only calls it for
                                 a volume no container references
    path(name) -> P | ""         where the data is while mounted ("" when
                                 the driver can only tell during a mount)
    get(name) / list()           what the driver knows (DriverVolume)
    capabilities()               scope: "local" (this host) or "global"

Words: a volume's **name** is unique per data root (Docker's grammar,
``[a-zA-Z0-9][a-zA-Z0-9_.-]+``); a **mount id** names one user of a mount
(a container id); the **mountpoint** is the host path ``mount`` returns;
an **anonymous** volume is one hold named itself (64 hex) for a container
that did not name it, removed with that container by ``--rm`` / ``rm -v``.

Errors: ``VolumeNotFound`` for a name the driver does not have,
``InvalidArgument`` for an option it does not accept (naming the accepted
ones), ``SystemError_`` (with errno) when the storage fails.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping, Protocol, runtime_checkable

from hold.errors import InvalidArgument

__all__ = ["VolumeDriver", "DriverVolume", "Capabilities", "register_driver",
           "driver_names", "open_driver"]


@dataclass(frozen=True)
class Capabilities:
    scope: str = "local"        # "local" | "global"


@dataclass
class DriverVolume:
    """What a driver reports about one volume (Docker's plugin ``Volume``)."""

    name: str
    mountpoint: str = ""
    status: dict = field(default_factory=dict)
    created_at: str = ""


@runtime_checkable
class VolumeDriver(Protocol):
    """Storage behind volume records; see the module docstring."""

    name: str

    def capabilities(self) -> Capabilities: ...

    def create(self, name: str, options: Mapping[str, str]) -> None: ...

    def remove(self, name: str) -> None: ...

    def mount(self, name: str, mount_id: str) -> str: ...

    def unmount(self, name: str, mount_id: str) -> None: ...

    def path(self, name: str) -> str: ...

    def get(self, name: str) -> DriverVolume: ...

    def list(self) -> list[DriverVolume]: ...


# A factory builds a driver for one data root: factory(paths) -> VolumeDriver.
_FACTORIES: dict[str, Callable] = {}


def register_driver(name: str, factory: Callable) -> None:
    """Make ``name`` usable as ``--driver``; ``factory(paths)`` builds it."""
    _FACTORIES[name] = factory


def _builtin() -> None:
    if "local" not in _FACTORIES:
        from hold.volumes.local import LocalDriver
        _FACTORIES["local"] = LocalDriver
    if "smb" not in _FACTORIES:
        from hold.volumes.remote import register_builtin
        register_builtin()


def driver_names() -> list[str]:
    _builtin()
    return sorted(_FACTORIES)


def open_driver(name: str, paths) -> VolumeDriver:
    """The driver called ``name`` for the data root ``paths``."""
    _builtin()
    factory = _FACTORIES.get(name or "local")
    if factory is None:         # a Docker volume plugin (volumes/plugin.py)?
        from hold.volumes.plugin import plugin_factory
        factory = plugin_factory(name, paths)
    if factory is None:
        raise InvalidArgument(f"error looking up volume plugin {name}: plugin {name!r} "
                              f"not found (available drivers: {', '.join(sorted(_FACTORIES))})",
                              driver=name)
    return factory(paths)
