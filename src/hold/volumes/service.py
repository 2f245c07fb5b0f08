"""VolumeService: volume records, their drivers, references, filters, prune.

    volumes (store/schema.py)   name -> driver, options JSON, labels JSON,
                                anonymous, created (RFC 3339)
    <driver>                    the storage (volumes/driver.py)
    containers.config.Mounts    the references: a volume is "in use" while
                                any container record, running or stopped,
                                names it (cleanup.USERS_SQL); never a counter

Creation and removal of one data root's volumes serialise on
``<root>/volumes/.lock`` (short); a prune is single-flight on
``<root>/volumes/.prune.lock`` and a second one fails at once.  Removal
checks "unused" and deletes the record in one transaction, then asks the
driver to delete the data, so a container being created either sees the
volume or fails, never a record without data.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field

from hold.errors import Conflict, HoldError, InvalidArgument, VolumeInUse, VolumeNotFound
from hold.volumes.cleanup import USERS_SQL, FileLock, users_of
from hold.volumes.driver import open_driver
from hold.volumes.mountspec import validate_volume_name

__all__ = ["Volume", "VolumeService", "ANONYMOUS_LABEL", "LIST_FILTERS", "PRUNE_FILTERS"]

ANONYMOUS_LABEL = "com.docker.volume.anonymous"
LIST_FILTERS = ("dangling", "name", "label", "label!", "driver")
PRUNE_FILTERS = ("label", "label!", "all")


@dataclass
class Volume:
    name: str
    driver: str
    options: dict[str, str]
    labels: dict[str, str]
    anonymous: bool
    created: str
    mountpoint: str = ""
    users: list[tuple[str, str]] = field(default_factory=list)

    @classmethod
    def from_row(cls, row, mountpoint: str = "") -> "Volume":
        return cls(row["name"], row["driver"], json.loads(row["options"]),
                   json.loads(row["labels"]), bool(row["anonymous"]), row["created"],
                   mountpoint)


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def tree_size(path: str) -> int:
    """Bytes used under ``path`` (allocated blocks, hard links once)."""
    total, seen = 0, set()
    for top, dirs, files in os.walk(path):
        for name in dirs + files:
            try:
                st = os.lstat(os.path.join(top, name))
            except OSError:
                continue
            if (st.st_dev, st.st_ino) in seen:
                continue
            seen.add((st.st_dev, st.st_ino))
            total += st.st_blocks * 512 if st.st_blocks else st.st_size
    return total


class VolumeService:
    def __init__(self, store, paths):
        self.store = store
        self.paths = paths
        self.base = os.path.join(paths.root, "volumes")

    def driver(self, name: str):
        return open_driver(name or "local", self.paths)

    # -- create and look up ----------------------------------------------------

    def create(self, name: str | None = None, *, driver: str = "local",
               options: dict | None = None, labels: dict | None = None,
               anonymous: bool = False) -> Volume:
        """Create a volume; an existing one with the same driver is returned."""
        driver = driver or "local"
        if not name:
            name, anonymous = os.urandom(32).hex(), True
        validate_volume_name(name)
        labels = dict(labels or {})
        if anonymous:
            labels.setdefault(ANONYMOUS_LABEL, "")
        backend = self.driver(driver)
        with FileLock(os.path.join(self.base, ".lock")):
            rows = self.store.query("SELECT * FROM volumes WHERE name=?", (name,))
            if rows:
                if rows[0]["driver"] != driver:
                    raise Conflict(f"create {name}: volume name {name} already exists "
                                   f"with driver {rows[0]['driver']!r}, not {driver!r}",
                                   name=name)
                return self.get(name)
            backend.create(name, dict(options or {}))
            try:
                with self.store.transaction() as db:
                    db.execute("INSERT INTO volumes (name, driver, options, labels, "
                               "anonymous, created) VALUES (?,?,?,?,?,?)",
                               (name, driver, json.dumps(options or {}),
                                json.dumps(labels), int(anonymous), _now()))
            except BaseException:
                backend.remove(name)
                raise
        return self.get(name)

    def get(self, name: str) -> Volume:
        rows = self.store.query("SELECT * FROM volumes WHERE name=?", (name,))
        if not rows:
            raise VolumeNotFound(name)
        volume = Volume.from_row(rows[0])
        try:
            volume.mountpoint = self.driver(volume.driver).path(name)
        except HoldError:
            volume.mountpoint = ""
        return volume

    def exists(self, name: str) -> bool:
        return bool(self.store.query("SELECT 1 FROM volumes WHERE name=?", (name,)))

    def users(self, name: str) -> list[tuple[str, str]]:
        """(container id, container name) of every container using it."""
        return [(r[0], r[1]) for r in self.store.query(USERS_SQL, (name,))]

    def inspect(self, name: str, *, size: bool = False) -> dict:
        """Docker's ``volume inspect`` object (UsageData with ``size``)."""
        from hold.volumes.plugin import masked_options     # plugins' secrets: ********
        volume = self.get(name)
        document = {
            "CreatedAt": volume.created, "Driver": volume.driver,
            "Labels": volume.labels, "Mountpoint": volume.mountpoint,
            "Name": volume.name, "Options": masked_options(volume.options), "Scope":
            self.driver(volume.driver).capabilities().scope,
        }
        try:        # what the driver reports (remote drivers: share, durability)
            status = self.driver(volume.driver).get(name).status
        except HoldError:
            status = {}
        if status:
            document["Status"] = status
        if size:
            document["UsageData"] = {"Size": self.size(volume),
                                     "RefCount": len(self.users(name))}
        return document

    def size(self, volume: Volume) -> int:
        """Bytes the volume takes on the host (-1 when the driver cannot say).
        A quota volume (local, size=) takes what its image file has allocated."""
        if volume.driver == "local":
            image = os.path.join(self.base, volume.name, "disk.img")
            if os.path.exists(image):
                return os.stat(image).st_blocks * 512
        return tree_size(volume.mountpoint) if volume.mountpoint else -1

    def disk_usage(self) -> list[dict]:
        """Rows for ``system df -v``: Name, Driver, Links (containers using
        it), Size (bytes), Anonymous; sorted by name."""
        in_use: dict[str, int] = {}
        for row in self.store.query(
                "SELECT json_extract(m.value, '$.Name') FROM containers c, "
                "json_each(c.config, '$.Mounts') m WHERE json_extract(m.value, '$.Type')"
                "='volume'"):
            in_use[row[0]] = in_use.get(row[0], 0) + 1
        return [{"Name": v.name, "Driver": v.driver, "Links": in_use.get(v.name, 0),
                 "Size": self.size(v), "Anonymous": v.anonymous} for v in self.list()]

    # -- list ------------------------------------------------------------------

    def list(self, filters: dict[str, list[str]] | None = None) -> list[Volume]:
        """Volumes matching every filter (``dangling``, ``name``, ``label``,
        ``label!``, ``driver``), sorted by name."""
        from hold import filters as f
        in_use = self._names_in_use()
        matchers = {
            "dangling": f.by_bool(lambda v: v.name not in in_use, "dangling"),
            "name": f.by_name(lambda v: v.name),
            "label": f.by_labels(lambda v: v.labels),
            "label!": f.by_labels_absent(lambda v: v.labels),
            "driver": f.by_value(lambda v: v.driver),
        }
        wanted = f.compose(filters or {}, matchers)
        rows = self.store.query("SELECT * FROM volumes ORDER BY name")
        volumes = [Volume.from_row(r, os.path.join(self.base, r["name"], "_data"))
                   for r in rows]
        return [v for v in volumes if wanted(v)]

    def _names_in_use(self) -> set[str]:
        rows = self.store.query(
            "SELECT DISTINCT json_extract(m.value, '$.Name') FROM containers c, "
            "json_each(c.config, '$.Mounts') m WHERE json_extract(m.value, '$.Type')='volume'")
        return {r[0] for r in rows}

    # -- remove and prune --------------------------------------------------------

    def remove(self, name: str, *, force: bool = False) -> None:
        """Remove an unused volume.  In use refuses even with ``force``
        (Docker does); ``force`` only makes a missing volume a no-op."""
        with FileLock(os.path.join(self.base, ".lock")):
            with self.store.transaction() as db:
                row = db.execute("SELECT driver FROM volumes WHERE name=?", (name,)).fetchone()
                if row is None:
                    if force:
                        return
                    raise VolumeNotFound(name)
                users = users_of(db, name)
                if users:
                    raise VolumeInUse(_in_use_message(name, users), name=name,
                                      containers=users)
                db.execute("DELETE FROM volumes WHERE name=?", (name,))
            try:
                self.driver(row[0]).remove(name)
            except VolumeNotFound:
                pass

    def prune(self, *, all_volumes: bool = False,
              filters: dict[str, list[str]] | None = None) -> tuple[list[str], int]:
        """Remove unused volumes: anonymous ones, or every one with
        ``all_volumes``; (names removed, bytes reclaimed).  Single-flight."""
        from hold import filters as f
        filters = dict(filters or {})
        if "all" in filters:
            all_volumes = all_volumes or f.parse_bool(filters.pop("all"), "all")
        wanted = f.compose(filters, {"label": f.by_labels(lambda v: v.labels),
                                     "label!": f.by_labels_absent(lambda v: v.labels)})
        try:
            lock = FileLock(os.path.join(self.base, ".prune.lock"), blocking=False)
            lock.__enter__()
        except BlockingIOError:
            raise Conflict("a prune operation is already running") from None
        try:
            removed, reclaimed = [], 0
            for volume in self.list({"dangling": ["true"]}):
                if not (all_volumes or volume.anonymous) or not wanted(volume):
                    continue
                size = max(self.size(self.get(volume.name)), 0)
                try:
                    self.remove(volume.name)
                except (VolumeInUse, VolumeNotFound):
                    continue            # taken or removed meanwhile
                removed.append(volume.name)
                reclaimed += size
            return removed, reclaimed
        finally:
            lock.__exit__(None, None, None)

    # -- mounts of containers ------------------------------------------------------

    def resolve_mounts(self, requests, *, volumes_from=(), image_volumes=None,
                       containers=None, allow_sensitive: bool = False):
        """Requests -> (Mounts in Docker's inspect shape, volumes created).
        See ``hold.volumes.resolve``."""
        from hold.volumes.resolve import resolve_mounts
        return resolve_mounts(self, requests, volumes_from=volumes_from,
                              image_volumes=image_volumes, containers=containers,
                              allow_sensitive=allow_sensitive)

    def check_present(self, db, mounts: list[dict]) -> None:
        """Inside the container's insert transaction: every volume is still
        there (a concurrent prune may have taken an unused one)."""
        for m in mounts:
            if m.get("Type") == "volume" and db.execute(
                    "SELECT 1 FROM volumes WHERE name=?", (m["Name"],)).fetchone() is None:
                raise Conflict(f"volume {m['Name']} was removed while the container was "
                               "being created; run the command again", name=m["Name"])


    # -- crash leftovers (for `hold system check`) -----------------------------------

    def leftovers(self, *, repair: bool = False) -> dict[str, list[str]]:
        """What a killed hold process can leave, and its repair:

            dirs       <root>/volumes/<name> with no record (killed between
                       the driver's create and the insert, or between the
                       delete and the driver's remove): unmounted, removed
            missing    local records whose directory is gone: recreated
                       empty with the record's options, so the record works
        """
        report: dict[str, list[str]] = {"dirs": [], "missing": []}
        known = {r["name"]: r for r in self.store.query("SELECT * FROM volumes")}
        try:
            names = sorted(n for n in os.listdir(self.base) if not n.startswith("."))
        except FileNotFoundError:
            names = []
        for name in names:
            if name not in known and os.path.isdir(os.path.join(self.base, name)):
                report["dirs"].append(os.path.join(self.base, name))
                if repair:
                    self._remove_orphan_dir(name)
        for name, row in known.items():
            if row["driver"] == "local" and not os.path.isdir(
                    os.path.join(self.base, name, "_data")):
                report["missing"].append(name)
                if repair:
                    self.driver("local").create(name, json.loads(row["options"]))
        return report

    def _remove_orphan_dir(self, name: str) -> None:
        from hold.volumes.local import LocalDriver
        try:
            LocalDriver(self.paths).remove(name)     # unmounts first, never deletes through
        except HoldError:
            pass

    def active_mountpoints(self) -> set[str]:
        """Host mounts of volumes (device-backed local volumes) a running
        container uses: what a clean-up of stray mounts must leave alone."""
        rows = self.store.query(
            "SELECT DISTINCT json_extract(m.value, '$.Name') FROM containers c, "
            "json_each(c.config, '$.Mounts') m WHERE json_extract(m.value, '$.Type')='volume' "
            "AND json_extract(c.state, '$.Running')")
        return {os.path.join(self.base, r[0], "_data") for r in rows}


def _in_use_message(name: str, users: list[tuple[str, str]]) -> str:
    ids = ", ".join(cid for cid, _ in users)
    names = ", ".join(cname for _, cname in users)
    return (f"remove {name}: volume is in use - [{ids}] by container(s) {names}; "
            f"remove them first (hold rm {names.replace(', ', ' ')})")


def validate_labels(labels: dict) -> dict:
    for key in labels:
        if not key:
            raise InvalidArgument("invalid label: the key is empty")
    return labels
