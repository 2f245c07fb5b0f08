"""Atomic file writes and tree removal.

A file is written to a temporary name beside its target, flushed, fsynced
and renamed over it, so a reader or a crash sees the old or the new content,
never half of one.
"""

from __future__ import annotations

import os


def atomic_write(path: str, data: bytes, mode: int = 0o644) -> None:
    import tempfile
    directory = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.rename(tmp, path)
    except BaseException:
        with _ignore_missing():
            os.unlink(tmp)
        raise


def atomic_write_json(path: str, value) -> None:
    import json
    atomic_write(path, json.dumps(value, indent=1, sort_keys=True).encode())


def remove_tree(path: str) -> None:
    """Remove a directory tree that may contain read-only dirs or be gone."""

    def make_writable_and_retry(func, target, _exc):
        parent = os.path.dirname(target)
        with _ignore_missing():
            os.chmod(parent, 0o700)
            if os.path.isdir(target) and not os.path.islink(target):
                os.chmod(target, 0o700)
            func(target)

    import shutil
    if os.path.lexists(path):
        shutil.rmtree(path, onerror=make_writable_and_retry)


class _ignore_missing:
    def __enter__(self):
        return self

    def __exit__(self, kind, exc, tb):
        return kind is not None and issubclass(kind, FileNotFoundError)
