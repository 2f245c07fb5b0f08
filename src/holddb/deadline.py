"""``maxTimeMS``: a per-command deadline checked at safe points.

``server.execute`` opens ``time_limit(cmd.get("maxTimeMS"))`` around each
command; long loops (scans, pipelines, multi-document writes) call
``check()``, which raises MaxTimeMSExpired (50) once the deadline has
passed.  A write command that runs out of time rolls back as a whole (it
runs in one transaction), so no partial effect is left behind.
"""

from __future__ import annotations

import contextlib
import contextvars
import time
from typing import Any, Iterator

from holddb.errors import MongoError

__all__ = ["time_limit", "check"]

_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "holddb_deadline", default=None)


@contextlib.contextmanager
def time_limit(max_time_ms: Any) -> Iterator[None]:
    if isinstance(max_time_ms, bool) or not isinstance(max_time_ms, (int, float)) \
            or max_time_ms <= 0:
        if max_time_ms is not None and not isinstance(max_time_ms, (int, float)):
            raise MongoError(2, "maxTimeMS must be a number")
        if isinstance(max_time_ms, (int, float)) and max_time_ms < 0:
            raise MongoError(2, "maxTimeMS must be non-negative")
        yield
        return
    token = _DEADLINE.set(time.monotonic() + max_time_ms / 1000)
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def check() -> None:
    deadline = _DEADLINE.get()
    if deadline is not None and time.monotonic() > deadline:
        raise MongoError(50, "operation exceeded time limit")
