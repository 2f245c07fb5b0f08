"""`hold pause` / `hold unpause`: freeze a container's processes in place.

A paused container is still running (``State.Running`` stays true, as in
Docker) with ``State.Paused`` true and ``State.Status`` "paused"; ``ps``
shows "Up 5 seconds (Paused)".  The freezing is the kernel's: the
container's own cgroup (every container has one, see ``runtime.cgroups``)
through cgroup v2's ``cgroup.freeze`` or v1's ``freezer.state``.  Nothing
inside the container can tell, save for the time that passed.

Why the state is written after the kernel call and not before: a ``hold
ps`` racing a pause must never show "Paused" for processes that still run;
the other way round (frozen, not yet recorded) lasts one transaction.

``stop``, ``kill -s KILL`` and ``rm -f`` work on a paused container: they
signal first and then thaw (``thaw_after_signal``), so the process meets
the signal as it wakes (a frozen process under v1 would not even die of
SIGKILL).  ``exec`` is refused, as Docker refuses it.
"""

from __future__ import annotations

from hold.containers import state as states
from hold.errors import Conflict, ContainerNotRunning, Unsupported

__all__ = ["pause", "unpause", "thaw_after_signal", "require_cgroup"]


def require_cgroup(service, container, command: str):
    """The container's cgroup, or Unsupported saying why ``command`` cannot
    work without one (no usable cgroup fs, or a container started before
    hold gave every container a cgroup)."""
    group = service.cgroup(container)
    if not group.host.usable:
        raise Unsupported(f"hold {command} needs cgroups, and this host has no usable "
                          "cgroup filesystem (mounted and writable /sys/fs/cgroup)")
    if not group.exists():
        raise Unsupported(f"hold {command} needs the container's cgroup, and container "
                          f"{container.id} has none (it was started without one: "
                          "restart it)")
    return group


def pause(service, ref: str):
    """Freeze every process of a running container; the container."""
    container = service.get(ref)
    if not container.running:
        raise ContainerNotRunning(f"Container {container.id} is not running")
    if container.state.get("Paused"):
        raise Conflict(f"Container {container.id} is already paused")
    if container.state.get("Restarting"):
        raise Conflict(f"Container {container.id} is restarting, wait until the "
                       "container is running")
    group = require_cgroup(service, container, "pause")
    if not group.can_freeze():
        raise Unsupported("hold pause needs a cgroup freezer (cgroup v2, or the v1 "
                          "freezer controller), and this host has none")
    group.freeze()
    if states.update(service.paths.db, container.id,
                     {"Paused": True, "Status": "paused"}) is None:
        group.thaw()            # removed meanwhile (rm -f): leave nothing frozen
    return service.get(container.id)


def unpause(service, ref: str):
    """Let a paused container's processes run again; the container."""
    container = service.get(ref)
    if not container.running or not container.state.get("Paused"):
        raise Conflict(f"Container {container.id} is not paused")
    group = service.cgroup(container)
    group.thaw()
    states.update(service.paths.db, container.id, {"Paused": False, "Status": "running"})
    return service.get(container.id)


def thaw_after_signal(service, container) -> None:
    """After stop/kill/rm -f signalled a paused container: thaw it so the
    signal is delivered now, and record it as no longer paused."""
    if not container.state.get("Paused"):
        return
    try:
        service.cgroup(container).thaw()
    finally:
        states.update(service.paths.db, container.id, {"Paused": False, "Status": "running"})
