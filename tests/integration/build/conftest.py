"""Helpers for build tests: a context directory made from a dict, and the
check that a build left no image, scratch directory or build container."""

from __future__ import annotations

import json
import os

import pytest


@pytest.fixture
def context(tmp_path):
    """``context({"Dockerfile": "...", "a/b.txt": "x"})`` -> the directory."""
    counter = [0]

    def make(files: dict[str, str | bytes]) -> str:
        counter[0] += 1
        root = tmp_path / f"ctx{counter[0]}"
        root.mkdir()
        for name, content in files.items():
            path = root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                path.write_bytes(content)
            else:
                path.write_text(content)
        return str(root)
    return make


def build_leftovers(hold) -> list[str]:
    """Scratch dirs and build-container run dirs a build left behind."""
    found = []
    tmp = os.path.join(hold.paths.root, "tmp")
    if os.path.isdir(tmp):
        found += [f"tmp/{n}" for n in os.listdir(tmp)]
    run = os.path.join(hold.paths.runroot, "containers")
    if os.path.isdir(run):
        found += [f"run/{n}" for n in os.listdir(run)]
    return found


def all_images(hold) -> list[str]:
    return sorted(hold.ok("images", "-aq", "--no-trunc").split())


def inspect(hold, ref: str) -> dict:
    return json.loads(hold.ok("image", "inspect", ref))[0]


def history(hold, ref: str) -> list[tuple[str, str]]:
    out = hold.ok("history", "--no-trunc", "--format", "{{.CreatedBy}}|{{.Size}}", ref)
    return [tuple(line.rsplit("|", 1)) for line in out.splitlines()]


def processes_running(text: str) -> list[int]:
    """Pids whose command line contains ``text`` (a /proc scan, no pgrep)."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if text.encode() in f.read().replace(b"\0", b" "):
                    found.append(int(pid))
        except OSError:
            pass
    return found


@pytest.fixture
def h():
    """The helpers above, as one fixture (test modules cannot import conftest)."""
    from types import SimpleNamespace
    return SimpleNamespace(build_leftovers=build_leftovers, all_images=all_images,
                           inspect=inspect, history=history,
                           processes_running=processes_running)
