"""`hold diff`: what a container changed in its writable layer.

The overlay upperdir *is* the change set: a path there that exists in no
lower layer was Added; one that exists below was Changed; a whiteout (a
0/0 character device) means Deleted, and an opaque directory hides
everything below it.  Output matches ``docker diff``: one ``A|C|D /path``
per change, sorted by path; a directory that merely holds changes is itself
listed as Changed, as Docker does.
"""

from __future__ import annotations

import os
import stat

OPAQUE_XATTR = "trusted.overlay.opaque"


def _is_whiteout(st: os.stat_result) -> bool:
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def _exists_below(lowerdirs: list[str], rel: str) -> bool:
    """Does ``rel`` exist in the merged view of the lower layers (top first)?"""
    parts = rel.split("/")
    for layer in lowerdirs:
        path = os.path.join(layer, rel)
        try:
            st = os.lstat(path)
        except OSError:
            # A whiteout or opaque parent in this layer hides the layers below.
            if _hidden_in(layer, parts):
                return False
            continue
        return not _is_whiteout(st)
    return False


def _hidden_in(layer: str, parts: list[str]) -> bool:
    for depth in range(1, len(parts)):
        path = os.path.join(layer, *parts[:depth])
        try:
            st = os.lstat(path)
        except OSError:
            return False
        if _is_whiteout(st) or not stat.S_ISDIR(st.st_mode):
            return True
        if _opaque(path):
            return True
    return False


def _opaque(path: str) -> bool:
    try:
        return os.getxattr(path, OPAQUE_XATTR, follow_symlinks=False) == b"y"
    except OSError:
        return False


def changes(upperdir: str, lowerdirs: list[str]) -> list[tuple[str, str]]:
    """[(kind, "/path")] for every change in ``upperdir``, sorted by path."""
    result: list[tuple[str, str]] = []
    for dirpath, dirnames, filenames in os.walk(upperdir):
        rel_dir = os.path.relpath(dirpath, upperdir)
        for name in sorted(dirnames + filenames):
            rel = name if rel_dir == "." else f"{rel_dir}/{name}"
            st = os.lstat(os.path.join(dirpath, name))
            if _is_whiteout(st):
                result.append(("D", "/" + rel))
            elif _exists_below(lowerdirs, rel):
                result.append(("C", "/" + rel))
            else:
                result.append(("A", "/" + rel))
    result.sort(key=lambda item: item[1])
    return result
