"""From mount requests to a container's ``Mounts``, before it is created.

``resolve_mounts`` runs in two phases so that bad input changes nothing:

1. plan (no side effects): validate every request, look up
   ``--volumes-from`` containers, refuse duplicate targets and sensitive
   bind sources, check ``--mount type=bind`` sources exist, add an
   anonymous volume for every image ``Volumes`` path nothing else mounts;
2. apply: create ``-v`` bind sources that are missing, create named
   volumes that do not exist yet (as Docker does) and anonymous ones.

The result is Docker's ``Mounts`` (inspect shape) plus hold's own keys::

    {"Type": "volume", "Name", "Source", "Destination", "Driver", "Mode",
     "RW", "Propagation", "Anonymous", "NoCopy", "Subpath"}
    {"Type": "bind", "Source", "Destination", "Mode", "RW", "Propagation",
     "NonRecursive"}
    {"Type": "tmpfs", "Source": "", "Destination", "Mode", "RW",
     "Propagation": "", "TmpfsSize", "TmpfsMode", "TmpfsOptions"}
"""

from __future__ import annotations

import os

from hold.errors import InvalidArgument
from hold.volumes import binds
from hold.volumes.mountspec import MountRequest, parse_volumes_from, validate_request

__all__ = ["resolve_mounts", "sort_mounts"]


def _norm(target: str) -> str:
    return os.path.normpath(target) if target else target


def _from_containers(volumes_from, containers) -> list[dict]:
    inherited: list[dict] = []
    for spec in volumes_from:
        ref, mode = parse_volumes_from(spec)
        source = containers.get(ref)
        for m in source.config.get("Mounts") or ():
            m = dict(m)
            if mode:
                m["RW"] = mode == "rw"
                m["Mode"] = mode if m["Type"] != "volume" else m.get("Mode", "")
            inherited = [x for x in inherited if x["Destination"] != m["Destination"]]
            inherited.append(m)
    return inherited


def _plan(service, requests, containers, allow_sensitive) -> list[MountRequest]:
    seen: set[str] = set()
    for req in requests:
        validate_request(req)
        target = _norm(req.target)
        if target in seen:
            raise InvalidArgument(f"Duplicate mount point: {target}", target=target)
        seen.add(target)
        if req.nonrecursive:
            from hold.errors import Unsupported
            raise Unsupported("bind-nonrecursive is not supported yet: hold's binds are "
                              "always recursive (submounts of the source are visible)")
        if req.type == "bind":
            binds.check_bind_source(req.source, service.paths, allow_sensitive)
            if not req.create_host_path:
                binds.prepare_bind_source(req.source, create=False)
        if req.type == "volume" and req.source and service.exists(req.source):
            existing = service.get(req.source)
            if req.driver and req.driver != existing.driver:
                raise InvalidArgument(f"volume {req.source} already exists with driver "
                                      f"{existing.driver!r}, not {req.driver!r}")
        if req.driver:
            service.driver(req.driver)          # unknown driver: refused now
    return requests


def resolve_mounts(service, requests: list[MountRequest], *, volumes_from=(),
                   image_volumes=None, containers=None, allow_sensitive=False):
    """(mounts, names of volumes created); see the module docstring."""
    inherited = _from_containers(volumes_from, containers) if volumes_from else []
    requests = _plan(service, list(requests), containers, allow_sensitive)
    explicit = {_norm(r.target) for r in requests}
    inherited = [m for m in inherited if _norm(m["Destination"]) not in explicit]
    taken = explicit | {_norm(m["Destination"]) for m in inherited}
    for path in sorted(image_volumes or {}):
        if _norm(path) not in taken and path.startswith("/"):
            requests.append(MountRequest(type="volume", target=path, origin="VOLUME"))
            taken.add(_norm(path))
    created: list[str] = []
    mounts: list[dict] = list(inherited)
    try:       # volumes first: a driver refusing its options leaves no host dir made
        for req in sorted(requests, key=lambda r: r.type == "bind"):
            mounts.append(_apply(service, req, created))
    except BaseException:
        discard_created(service, created)
        raise
    return sort_mounts(mounts), created


def _apply(service, req: MountRequest, created: list[str]) -> dict:
    target = _norm(req.target)
    if req.type == "bind":
        binds.prepare_bind_source(req.source, create=req.create_host_path)
        return {"Type": "bind", "Source": os.path.normpath(req.source),
                "Destination": target, "Mode": req.mode, "RW": not req.readonly,
                "Propagation": req.propagation or "rprivate",
                "NonRecursive": req.nonrecursive}
    if req.type == "tmpfs":
        return {"Type": "tmpfs", "Source": "", "Destination": target, "Mode": "",
                "RW": not req.readonly, "Propagation": "", "TmpfsSize": req.tmpfs_size,
                "TmpfsMode": req.tmpfs_mode, "TmpfsOptions": req.tmpfs_options}
    existed = bool(req.source) and service.exists(req.source)
    if existed and not req.driver:      # an existing volume, whatever its driver
        volume = service.get(req.source)
    else:
        volume = service.create(req.source or None, driver=req.driver or "local",
                                options=req.driver_options, labels=req.labels)
    if not existed:
        created.append(volume.name)
    return {"Type": "volume", "Name": volume.name, "Source": volume.mountpoint,
            "Destination": target, "Driver": volume.driver, "Mode": req.mode or "z",
            "RW": not req.readonly, "Propagation": "", "Anonymous": volume.anonymous,
            "NoCopy": req.nocopy, "Subpath": req.subpath}


def discard_created(service, names: list[str]) -> None:
    """Undo the volumes one failed create made (unused by construction)."""
    from hold.errors import HoldError
    for name in names:
        try:
            service.remove(name)
        except HoldError:
            pass


def sort_mounts(mounts: list[dict]) -> list[dict]:
    """Parents before children (/a before /a/b), as the runtime needs."""
    return sorted(mounts, key=lambda m: len([p for p in m["Destination"].split("/") if p]))
