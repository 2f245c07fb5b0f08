"""Reading Docker's json-file log back: `hold logs [-f] [--tail N] [-t]`.

Each line of the log file is one JSON object {"log", "stream", "time"};
stdout entries go to our stdout and stderr entries to our stderr, so that
``hold logs c 2>/dev/null`` behaves as with Docker.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections import deque


def _emit(line: bytes, timestamps: bool) -> None:
    try:
        entry = json.loads(line)
    except ValueError:
        return                      # a torn last line: the monitor is mid-write
    text = entry.get("log", "")
    if timestamps:
        text = f"{entry.get('time', '')} {text}"
    out = sys.stderr if entry.get("stream") == "stderr" else sys.stdout
    out.write(text)
    out.flush()


def read_log(path: str, tail: int | None, timestamps: bool) -> int:
    """Print the log (its last ``tail`` lines); the offset read up to."""
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        return 0
    with f:
        lines = deque(f, maxlen=tail) if tail is not None else f
        offset = 0
        for line in lines:
            if line.endswith(b"\n"):
                _emit(line, timestamps)
        offset = f.tell()
    return offset


def follow_log(path: str, offset: int, timestamps: bool, still_running) -> None:
    """Print what is appended after ``offset`` until the container stops."""
    pending = b""
    idle_checks = 0
    while True:
        try:
            with open(path, "rb") as f:
                f.seek(offset)
                chunk = f.read()
        except FileNotFoundError:
            chunk = b""
        if chunk:
            offset += len(chunk)
            pending += chunk
            *complete, pending = pending.split(b"\n")
            for line in complete:
                _emit(line + b"\n", timestamps)
            idle_checks = 0
            continue
        idle_checks += 1
        if idle_checks % 5 == 0 and not still_running():
            if os.path.exists(path):
                with open(path, "rb") as f:
                    f.seek(offset)
                    rest = pending + f.read()
                for line in rest.split(b"\n"):
                    if line:
                        _emit(line + b"\n", timestamps)
            return
        time.sleep(0.05)
