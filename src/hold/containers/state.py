"""A container's run state, as the monitor and the CLI record it.

The state is a JSON object in the ``containers.state`` column, shaped like
Docker's ``State`` in ``docker inspect``::

    Status        created | running | paused | restarting | exited | removing | dead
    Running, Paused, Restarting, OOMKilled, Dead   (paused: Running stays true)
    Pid           the container's first process, as the host sees it
    MonitorPid    the monitor that owns it
    ExitCode, Error, StartedAt, FinishedAt
    RestartCount
    ManuallyStopped  set by stop/kill so no restart policy brings it back

Every change is one transaction.  This module is imported by the monitor,
so it stays light: sqlite3 and json only.
"""

from __future__ import annotations

import json
import os
import sqlite3

from hold.runtime._light import rfc3339_nano

ZERO_TIME = "0001-01-01T00:00:00Z"


def initial_state() -> dict:
    return {"Status": "created", "Running": False, "Paused": False,
            "Restarting": False, "OOMKilled": False, "Dead": False, "Pid": 0,
            "MonitorPid": 0, "ExitCode": 0, "Error": "", "StartedAt": ZERO_TIME,
            "FinishedAt": ZERO_TIME, "RestartCount": 0, "ManuallyStopped": False}


def _connect(db_path: str) -> sqlite3.Connection:
    db = sqlite3.connect(db_path, timeout=30.0, isolation_level=None)
    return db


def update(db_path: str, cid: str, changes: dict) -> dict | None:
    """Merge ``changes`` into the state of ``cid``; the new state, or None if gone."""
    db = _connect(db_path)
    try:
        db.execute("BEGIN IMMEDIATE")
        row = db.execute("SELECT state FROM containers WHERE id=?", (cid,)).fetchone()
        if row is None:
            db.execute("ROLLBACK")
            return None
        state = json.loads(row[0])
        state.update(changes)
        db.execute("UPDATE containers SET state=? WHERE id=?", (json.dumps(state), cid))
        db.execute("COMMIT")
        return state
    finally:
        db.close()


def record_started(db_path: str, cid: str, pid: int, monitor_pid: int) -> None:
    update(db_path, cid, {"Status": "running", "Running": True, "Restarting": False,
                          "Paused": False, "Pid": pid, "MonitorPid": monitor_pid, "ExitCode": 0,
                          "Error": "", "StartedAt": rfc3339_nano(),
                          "ManuallyStopped": False})


def record_start_failed(db_path: str, cid: str, message: str, code: int, *,
                        remove: bool, root: str, runroot: str) -> None:
    """Docker keeps a container whose process failed to start as Created,
    with the error and exit code; ``--rm`` removes it."""
    if remove:
        remove_container(db_path, cid, root, runroot, remove_volumes=True)
        return
    update(db_path, cid, {"Status": "created", "Running": False, "Pid": 0,
                          "MonitorPid": 0, "ExitCode": code, "Error": message})


def record_exited(db_path: str, cid: str, code: int, *, restart: str, restart_max: int,
                  restarts: int, auto_remove: bool, root: str, runroot: str) -> str:
    """Record an exit; returns "restart" when the policy wants another run."""
    state = update(db_path, cid, {"Status": "exited", "Running": False, "Paused": False, "Pid": 0,
                                  "ExitCode": code, "FinishedAt": rfc3339_nano()})
    if state is None:
        return "done"
    if _should_restart(state, code, restart, restart_max, restarts):
        update(db_path, cid, {"Status": "restarting", "Restarting": True,
                              "RestartCount": state.get("RestartCount", 0) + 1})
        return "restart"
    update(db_path, cid, {"MonitorPid": 0})
    if auto_remove:
        remove_container(db_path, cid, root, runroot, remove_volumes=True)
    else:
        _release_volume_mounts(db_path, cid, root, runroot)
    return "done"


def _release_volume_mounts(db_path: str, cid: str, root: str, runroot: str) -> None:
    """A stopped container lets go of its volume mounts, so a remote volume
    is unmounted after its last user stops (and mounted again at start)."""
    from hold.volumes import cleanup
    config = cleanup.config_of(db_path, cid)
    if any(m.get("Type") == "volume" for m in config.get("Mounts") or ()):
        cleanup.release_mounts(root, runroot, config, cid)


def _should_restart(state: dict, code: int, policy: str, maximum: int, restarts: int) -> bool:
    if state.get("ManuallyStopped") or policy == "no":
        return False
    if policy in ("always", "unless-stopped"):
        return True
    if policy == "on-failure":
        return code != 0 and (maximum <= 0 or restarts < maximum)
    return False


def remove_container(db_path: str, cid: str, root: str, runroot: str, *,
                     remove_volumes: bool = False) -> None:
    """Delete a stopped container's record, writable layer and run dir.

    The record goes first (one transaction), so a crash half-way leaves only
    files that ``hold system check`` recognises as orphans and removes.
    Volume mounts the container made are released; with ``remove_volumes``
    (``--rm``, ``rm -v``) its anonymous volumes go too, unless another
    container uses them.  Named volumes always stay.
    """
    from hold.store._files import remove_tree
    db = _connect(db_path)
    try:
        db.execute("BEGIN IMMEDIATE")
        row = db.execute("SELECT config FROM containers WHERE id=?", (cid,)).fetchone()
        db.execute("DELETE FROM containers WHERE id=?", (cid,))
        db.execute("DELETE FROM leases WHERE container_id=?", (cid,))
        db.execute("COMMIT")
    finally:
        db.close()
    config = json.loads(row[0]) if row else {}
    if config.get("Mounts"):                # mounts first: nothing deleted through one
        from hold.volumes import cleanup
        cleanup.release_mounts(root, runroot, config, cid)
    remove_tree(os.path.join(runroot, "containers", cid))
    remove_tree(os.path.join(root, "containers", cid))
    if config.get("Mounts") and remove_volumes:
        cleanup.remove_anonymous_volumes(
            db_path, root, runroot, cleanup.volume_names_of(config, anonymous_only=True))
