"""`hold system check`: find and repair what killed processes leave behind.

A hold process can die at any instruction (kill -9, power loss).  The store
stays consistent because every change is one transaction, but files,
mounts, processes and cgroups outside the database can be left over.  Each
is recognised by having no container record that owns it:

    containers   records that say running while their monitor is gone
    dirs         <root>/containers/<id> and <runroot>/containers/<id> with no record
    mounts       mounts under the data or runtime root that no running
                 container owns
    monitors     monitor processes (pidfile) whose container record is gone
    tmp          half-made layers and spools in <root>/tmp older than a minute
    cgroups      hold/<id> cgroups of containers that no longer run
    bridges      hold bridges whose network record is gone (this root's, or a
                 root that no longer exists: the bridge's alias names it)
"""

from __future__ import annotations

import os
import signal
import time

from hold.store import remove_tree

TMP_GRACE_S = 60


def check_and_repair(engine) -> dict[str, list[str]]:
    paths = engine.paths
    report: dict[str, list[str]] = {k: [] for k in
                                    ("containers", "mounts", "monitors", "dirs", "tmp", "cgroups",
                                     "bridges", "layers", "volumes")}
    before = {c.id: c.state.get("Running") for c in _raw(engine)}
    containers = {c.id: c for c in engine.containers.list()}   # reconciles stale state
    report["containers"] = [cid for cid, was in before.items()
                            if was and not containers[cid].running]
    running = {cid for cid, c in containers.items() if c.running}
    building = _live_builds(paths)        # build steps run containers with no record
    running |= building
    keep = engine.containers.volumes.active_mountpoints()
    report["mounts"] = _unmount_orphans(paths, running, keep)
    report["monitors"] = _kill_orphan_monitors(paths, set(containers) | building)
    for parent in (os.path.join(paths.root, "containers"), os.path.join(paths.runroot, "containers")):
        for name in _listdir(parent):
            if name not in containers and name not in building:
                remove_tree(os.path.join(parent, name))
                report["dirs"].append(os.path.join(parent, name))
    now = time.time()
    for name in _listdir(paths.tmp):
        path = os.path.join(paths.tmp, name)
        if name.startswith("build-") and name[len("build-"):] in building:
            continue
        try:
            if now - os.lstat(path).st_mtime > TMP_GRACE_S:
                remove_tree(path) if os.path.isdir(path) else os.unlink(path)
                report["tmp"].append(path)
        except FileNotFoundError:
            pass
    report["cgroups"] = _cgroup_orphans(running, paths.root, set(report["containers"]))
    report["bridges"] = engine.networks.stray_bridges(repair=True)
    report["layers"] = _image_leftovers(engine)
    report["volumes"] = _volume_leftovers(engine)
    return report


def _image_leftovers(engine) -> list[str]:
    """Half-made layer dirs and blobs a killed import or commit left."""
    try:
        return list(engine.images.leftovers(repair=True, min_age_s=TMP_GRACE_S))
    except (AttributeError, TypeError):
        return []


def _volume_leftovers(engine) -> list[str]:
    """Volume dirs with no record, records with no dir (volumes/service.py)."""
    report = engine.containers.volumes.leftovers(repair=True)
    return [f"{kind}: {item}" for kind, items in report.items() for item in items]


def _live_builds(paths) -> set[str]:
    """Ids of build steps whose `hold build` process is still alive."""
    ids = set()
    for name in _listdir(paths.tmp):
        if not name.startswith("build-"):
            continue
        try:
            with open(os.path.join(paths.tmp, name, "builder.pid")) as f:
                os.kill(int(f.read().strip()), 0)
        except (OSError, ValueError):
            continue
        ids.add(name[len("build-"):])
    return ids


def _raw(engine):
    from hold.containers.service import Container
    return [Container.from_row(r) for r in engine.store.query("SELECT * FROM containers")]


def _listdir(path: str) -> list[str]:
    try:
        return sorted(os.listdir(path))
    except FileNotFoundError:
        return []


def _unmount_orphans(paths, running: set[str], keep: set[str]) -> list[str]:
    from hold.runtime import _linux as L
    roots = (paths.root.rstrip("/") + "/", paths.runroot.rstrip("/") + "/")
    found = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            point = line.split()[4].replace("\\040", " ")
            if not point.startswith(roots):
                continue
            parts = point.split("/")
            if any(cid in parts for cid in running) or point in keep:
                continue
            found.append(point)
    for point in sorted(found, key=len, reverse=True):
        try:
            L.umount2(point, L.MNT_DETACH)
        except OSError:
            pass
    return found


def _kill_orphan_monitors(paths, known: set[str]) -> list[str]:
    killed = []
    parent = os.path.join(paths.runroot, "containers")
    for cid in _listdir(parent):
        if cid in known:
            continue
        pidfile = os.path.join(parent, cid, "monitor.pid")
        try:
            with open(pidfile) as f:
                pid = int(f.read().strip())
            with open(f"/proc/{pid}/comm") as f:
                comm = f.read().strip()
        except (OSError, ValueError):
            continue
        if comm.startswith("hold-monitor") or comm.startswith("python"):
            try:
                os.kill(pid, signal.SIGKILL)
                killed.append(f"{pid} ({cid[:12]})")
            except ProcessLookupError:
                pass
    return killed


def _cgroup_orphans(running: set[str], root: str, dead: set[str]) -> list[str]:
    """Cgroups of this root's containers that do not run; those of ``dead``
    (found running with monitor and process gone) at once, others after
    cleanup_orphans' grace period."""
    try:
        from hold.runtime import cgroups
        return list(cgroups.cleanup_orphans(running, parent=cgroups.parent_for_root(root),
                                            dead_ids=dead) or [])
    except (ImportError, AttributeError):
        return []
