"""A container's ``Mounts`` -> the runtime's mounts, at each start.

    volume   the driver's mount(name, container id) gives the host path
             (paired with unmount when the container is removed, see
             cleanup.release_mounts); on the first start an empty volume
             is filled from the image (copyup.py) unless NoCopy
    bind     the host path, checked again (it may have gone since create)
    tmpfs    a fresh tmpfs inside the container

``volume-subpath`` mounts a directory inside the volume, resolved by the
kernel with the volume as its root and staged through a file descriptor
(subpath.py), so a symlink swapped in by a container can never make it
land outside the volume.
"""

from __future__ import annotations

import os

from hold.errors import InvalidArgument, SystemError_

__all__ = ["runtime_mounts"]


def _volume_source(volumes, cid: str, m: dict, layers: list[str], copy_up: bool,
                   index: int) -> str:
    driver = volumes.driver(m.get("Driver") or "local")
    path = driver.mount(m["Name"], cid)
    if m.get("Subpath"):
        from hold.volumes.subpath import stage_subpath
        return stage_subpath(path, m["Subpath"], volume=m["Name"],
                             runroot=volumes.paths.runroot, cid=cid, index=index)
    if copy_up and not m.get("NoCopy"):
        from hold.volumes.copyup import copy_up as fill
        lock = os.path.join(volumes.paths.runroot, "volumes", m["Name"] + ".lock")
        try:
            fill(layers, m["Destination"], path, lock)
        except OSError as exc:
            raise SystemError_(f"copying the image's {m['Destination']} into volume "
                               f"{m['Name']}: {exc.strerror}", errno=exc.errno,
                               volume=m["Name"]) from exc
    return path


def runtime_mounts(volumes, cid: str, mounts: list[dict], layers: list[str], *,
                   copy_up: bool) -> list:
    """RuntimeSpec mounts for ``mounts`` (already sorted parents first)."""
    from hold.runtime.spec import Mount
    result = []
    for index, m in enumerate(mounts):
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
            source = _volume_source(volumes, cid, m, layers, copy_up, index)
            result.append(Mount(kind="volume", target=m["Destination"], source=source,
                                readonly=not m.get("RW", True)))
    return result
