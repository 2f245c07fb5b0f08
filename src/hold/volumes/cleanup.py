"""Volume clean-up that runs where the container is removed.

The monitor performs ``--rm`` (``hold.containers.state.remove_container``),
so this module stays light: sqlite3, json, fcntl and the driver only when a
volume is actually removed.

References are derived, never counted: a volume is used by every container
whose config JSON lists it in ``Mounts`` (``USERS_SQL``), running or not.
"""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3

__all__ = ["USERS_SQL", "FileLock", "users_of", "volume_names_of",
           "remove_anonymous_volumes", "release_mounts"]

USERS_SQL = ("SELECT c.id, c.name FROM containers c, json_each(c.config, '$.Mounts') m "
             "WHERE json_extract(m.value, '$.Type') = 'volume' "
             "AND json_extract(m.value, '$.Name') = ? ORDER BY c.created, c.id")


class FileLock:
    """An exclusive flock on ``path`` (created); ``blocking=False`` raises
    BlockingIOError when another process holds it."""

    def __init__(self, path: str, blocking: bool = True):
        self.path = path
        self.blocking = blocking
        self.fd = -1

    def __enter__(self) -> "FileLock":
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | (0 if self.blocking else fcntl.LOCK_NB))
        except BaseException:
            os.close(self.fd)
            raise
        return self

    def __exit__(self, *exc) -> None:
        os.close(self.fd)


def users_of(db, name: str) -> list[tuple[str, str]]:
    """(id, name) of every container whose Mounts name the volume."""
    return [(r[0], r[1]) for r in db.execute(USERS_SQL, (name,)).fetchall()]


def volume_names_of(config: dict, *, anonymous_only: bool = False) -> list[str]:
    return [m["Name"] for m in config.get("Mounts") or ()
            if m.get("Type") == "volume" and m.get("Name")
            and (m.get("Anonymous") or not anonymous_only)]


def remove_anonymous_volumes(db_path: str, root: str, runroot: str,
                             names: list[str]) -> list[str]:
    """Remove each named volume that is anonymous and no container uses.

    Called after the container's record is gone (``--rm``, ``rm -v``).  The
    record goes in one transaction with the check that nothing uses it; the
    data goes after.  Returns the names removed.
    """
    removed = []
    for name in names:
        db = sqlite3.connect(db_path, timeout=30.0, isolation_level=None)
        try:
            db.execute("BEGIN IMMEDIATE")
            row = db.execute("SELECT driver, anonymous FROM volumes WHERE name=?",
                             (name,)).fetchone()
            if row is None or not row[1] or users_of(db, name):
                db.execute("ROLLBACK")
                continue
            db.execute("DELETE FROM volumes WHERE name=?", (name,))
            db.execute("COMMIT")
        finally:
            db.close()
        _remove_storage(row[0], name, root, runroot)
        removed.append(name)
    return removed


def _remove_storage(driver_name: str, name: str, root: str, runroot: str) -> None:
    from hold.errors import HoldError
    from hold.store.paths import Paths
    from hold.volumes.driver import open_driver
    try:
        open_driver(driver_name, Paths(root, runroot)).remove(name)
    except HoldError:
        pass        # the record is gone; `hold system check` finds the data


def release_mounts(root: str, runroot: str, config: dict, mount_id: str) -> None:
    """Pair the driver mounts a container made with unmounts, and undo its
    subpath staging mounts (at removal, before its run dir is deleted)."""
    mounts = [m for m in config.get("Mounts") or () if m.get("Type") == "volume"]
    if not mounts:
        return
    if any(m.get("Subpath") for m in mounts):
        from hold.volumes.subpath import unstage_subpaths
        unstage_subpaths(runroot, mount_id)
    from hold.errors import HoldError
    from hold.store.paths import Paths
    from hold.volumes.driver import open_driver
    for m in mounts:
        try:
            open_driver(m.get("Driver") or "local", Paths(root, runroot)).unmount(
                m["Name"], mount_id)
        except HoldError:
            pass


def config_of(db_path: str, cid: str) -> dict:
    db = sqlite3.connect(db_path, timeout=30.0)
    try:
        row = db.execute("SELECT config FROM containers WHERE id=?", (cid,)).fetchone()
    finally:
        db.close()
    return json.loads(row[0]) if row else {}
