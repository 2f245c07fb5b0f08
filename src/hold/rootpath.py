"""Resolving a path inside a root the way the container would see it.

Symlinks are followed relative to the root (an absolute target restarts at
the root, ``..`` never climbs above it), so a link planted in an image can
never point a mount, a copy or a read outside it.  The caller says how to
read a link: from a real directory tree (the runtime, before pivot_root)
or from a stack of image layers (the builder).
"""

from __future__ import annotations

from typing import Callable

MAX_LINK_HOPS = 40


def resolve_inside(path: str, link_of: Callable[[str], str | None],
                   too_many: Callable[[str], Exception]) -> str:
    """``path`` with every symlink followed inside the root, as "/a/b".

    ``link_of("/a/b")`` returns the target of that entry if it is a
    symlink, else None; ``too_many(message)`` builds the error raised after
    MAX_LINK_HOPS links (a loop).
    """
    parts = [p for p in path.split("/") if p and p != "."]
    resolved: list[str] = []
    hops = 0
    while parts:
        part = parts.pop(0)
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        target = link_of("/" + "/".join(resolved + [part]))
        if target is None:
            resolved.append(part)
            continue
        hops += 1
        if hops > MAX_LINK_HOPS:
            raise too_many(f"too many levels of symbolic links in {path}")
        if target.startswith("/"):
            resolved = []
        parts = [p for p in target.split("/") if p and p != "."] + parts
    return "/" + "/".join(resolved)
