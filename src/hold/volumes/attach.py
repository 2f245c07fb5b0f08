"""A container's ``Mounts`` -> the runtime's mounts, at each start.

    volume   the driver's mount(name, container id) gives the host path
             (paired with unmount when the container is removed, see
             cleanup.release_mounts); on the first start an empty volume
             is filled from the image (copyup.py) unless NoCopy
    bind     the host path, checked again (it may have gone since create)
    tmpfs    a fresh tmpfs inside the container

``volume-subpath`` mounts a directory inside the volume.  It is resolved
with the volume root as the root of the walk: ``..`` and symlinks can never
lead out of the volume, because every component is looked up relative to
the volume and a symlink's target is resolved the same way.
"""

from __future__ import annotations

import os

from hold.errors import InvalidArgument, NotFound

__all__ = ["runtime_mounts", "resolve_beneath"]


def resolve_beneath(root: str, relpath: str) -> str:
    """``relpath`` inside ``root``, following symlinks as if ``root`` were
    ``/``; the result is always ``root`` or below it."""
    parts = [p for p in relpath.split("/") if p and p != "."]
    resolved: list[str] = []
    hops = 0
    while parts:
        part = parts.pop(0)
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        candidate = os.path.join(root, *resolved, part)
        if os.path.islink(candidate):
            hops += 1
            if hops > 40:
                raise InvalidArgument(f"volume subpath {relpath}: too many symlinks")
            target = os.readlink(candidate)
            if target.startswith("/"):
                resolved = []
            parts = [p for p in target.split("/") if p and p != "."] + parts
            continue
        resolved.append(part)
    return os.path.join(root, *resolved)


def _volume_source(volumes, cid: str, m: dict, layers: list[str], copy_up: bool) -> str:
    driver = volumes.driver(m.get("Driver") or "local")
    path = driver.mount(m["Name"], cid)
    if m.get("Subpath"):
        sub = resolve_beneath(path, m["Subpath"])
        if not os.path.isdir(sub):
            raise NotFound(f"cannot access path {sub}: volume subpath {m['Subpath']} "
                           f"does not exist in volume {m['Name']}")
        return sub
    if copy_up and not m.get("NoCopy"):
        from hold.volumes.copyup import copy_up as fill
        lock = os.path.join(volumes.paths.runroot, "volumes", m["Name"] + ".lock")
        fill(layers, m["Destination"], path, lock)
    return path


def runtime_mounts(volumes, cid: str, mounts: list[dict], layers: list[str], *,
                   copy_up: bool) -> list:
    """RuntimeSpec mounts for ``mounts`` (already sorted parents first)."""
    from hold.runtime.spec import Mount
    result = []
    for m in mounts:
        kind = m["Type"]
        if kind == "tmpfs":
            result.append(Mount(kind="tmpfs", target=m["Destination"],
                                readonly=not m.get("RW", True), size=m.get("TmpfsSize"),
                                mode=m.get("TmpfsMode"),
                                options=list(m.get("TmpfsOptions") or [])))
        elif kind == "bind":
            if not os.path.exists(m["Source"]):
                raise InvalidArgument(f'invalid mount config for type "bind": bind source '
                                      f"path does not exist: {m['Source']}")
            result.append(Mount(kind="bind", target=m["Destination"], source=m["Source"],
                                readonly=not m.get("RW", True),
                                propagation=m.get("Propagation") or "rprivate"))
        else:
            source = _volume_source(volumes, cid, m, layers, copy_up)
            result.append(Mount(kind="volume", target=m["Destination"], source=source,
                                readonly=not m.get("RW", True)))
    return result
