"""Structured JSON log lines in mongod 4.4+'s format::

    {"t":{"$date":"2026-01-01T00:00:00.000+00:00"},"s":"I","c":"NETWORK",
     "id":23016,"ctx":"listener","msg":"Waiting for connections","attr":{...}}

Lines go to ``--logpath`` (appended with ``--logappend``, else the file is
rotated to ``<path>.<timestamp>`` like mongod) or to stdout.  The last lines
are kept in memory for the ``getLog`` command; ``--quiet`` drops the chatty
per-connection lines.
"""

from __future__ import annotations

import collections
import datetime
import json
import os
import sys
import threading
from typing import Any, TextIO

from bson import json_util

__all__ = ["Log"]

_QUIET_IDS = {22943, 22944, 51800}


class Log:
    def __init__(self, path: str | None = None, *, append: bool = False,
                 quiet: bool = False) -> None:
        self.quiet = quiet
        self.recent: collections.deque[str] = collections.deque(maxlen=1024)
        self.startup_warnings: list[str] = []
        self.total_lines = 0
        self._lock = threading.Lock()
        self._owned = False
        self._stream: TextIO
        if path:
            if os.path.exists(path) and not append:
                stamp = datetime.datetime.now().strftime("%Y-%m-%dT%H-%M-%S")
                os.replace(path, f"{path}.{stamp}")
            self._stream = open(path, "a", encoding="utf-8")
            self._owned = True
        else:
            self._stream = sys.stdout

    def write(self, severity: str, component: str, log_id: int, ctx: str, msg: str,
              attr: dict[str, Any] | None = None, *, startup_warning: bool = False) -> None:
        if self.quiet and log_id in _QUIET_IDS:
            return
        now = datetime.datetime.now(datetime.timezone.utc)
        entry: dict[str, Any] = {
            "t": {"$date": now.isoformat(timespec="milliseconds")},
            "s": severity, "c": component, "id": log_id, "ctx": ctx, "msg": msg,
        }
        if attr:
            entry["attr"] = json.loads(json_util.dumps(attr))
        line = json.dumps(entry, separators=(",", ":"))
        with self._lock:
            self.total_lines += 1
            self.recent.append(line)
            if startup_warning:
                self.startup_warnings.append(line)
            try:
                self._stream.write(line + "\n")
                self._stream.flush()
            except (OSError, ValueError):
                pass

    def info(self, component: str, log_id: int, ctx: str, msg: str, **attr: Any) -> None:
        self.write("I", component, log_id, ctx, msg, attr or None)

    def warning(self, component: str, log_id: int, ctx: str, msg: str, **attr: Any) -> None:
        self.write("W", component, log_id, ctx, msg, attr or None)

    def close(self) -> None:
        if self._owned:
            self._stream.close()
