"""The metadata store under many processes at once."""

from __future__ import annotations

import multiprocessing
import subprocess
import sys

from hold.store._db import Store


def _open_and_write(path: str, n: int) -> str | None:
    try:
        store = Store(path)
        with store.transaction() as db:
            db.execute("PRAGMA user_version").fetchone()
        store.close()
        return None
    except Exception as exc:  # reported back to the parent
        return f"process {n}: {exc}"


def test_many_processes_open_a_fresh_root_at_once(tmp_path):
    """Racing first opens of a new root all succeed (no "database is
    locked" from the switch to WAL) and the schema is created once."""
    ctx = multiprocessing.get_context("fork")
    for attempt in range(10):
        path = str(tmp_path / f"root{attempt}" / "hold.db")
        with ctx.Pool(8) as pool:
            errors = [e for e in pool.starmap(_open_and_write,
                                              [(path, n) for n in range(8)]) if e]
        assert errors == []
        store = Store(path)
        mode = store.query("PRAGMA journal_mode")[0][0]
        store.close()
        assert mode == "wal"


def test_a_data_root_that_cannot_be_made_is_one_clear_error(tmp_path):
    """A --root under a regular file: one line, exit 1, no traceback."""
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = subprocess.run([sys.executable, "-m", "hold.cli.main", "--root", str(blocker / "root"),
                             "--runroot", str(tmp_path / "run"), "ps"],
                            capture_output=True, text=True)
    assert result.returncode == 1
    assert result.stderr == f"Error: data root {blocker / 'root'}: Not a directory\n"
