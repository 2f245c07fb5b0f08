"""The build context: the directory COPY and ADD read from, and nothing else.

Words:

- the **context** is a host directory; a **source** is a path inside it,
  written relative to it (a leading ``/`` still means the context's root,
  as in Docker).
- ``.dockerignore`` at the context's root lists patterns (Go
  ``filepath.Match`` syntax plus ``**`` for any number of directories);
  a pattern starting with ``!`` re-includes what an earlier one excluded.
  The last matching pattern wins, and a pattern that matches a directory
  excludes everything below it.  Excluded files are invisible to COPY/ADD.

Safety: a source whose path, after following symlinks, leaves the context
(``../x``, or a symlink pointing out) is refused with an error naming it.
Symlinks *inside* a copied directory are copied as symlinks and never
followed, so they cannot read outside the context either.
"""

from __future__ import annotations

import os
import posixpath
import re
import stat

from hold.errors import InvalidArgument

__all__ = ["BuildContext", "IgnoreRules", "Source"]

_GLOB_CHARS = set("*?[")


class IgnoreRules:
    """Compiled ``.dockerignore`` patterns."""

    def __init__(self, patterns: list[str]):
        self.rules: list[tuple[bool, re.Pattern]] = []
        self.exception_prefixes: list[str] = []   # literal heads of "!" patterns
        for raw in patterns:
            text = raw.strip()
            if not text or text.startswith("#"):
                continue
            exclude = not text.startswith("!")
            text = text.lstrip("!").strip()
            cleaned = posixpath.normpath(text.lstrip("/")) if text.lstrip("/") else "."
            self.rules.append((exclude, _compile(cleaned, raw)))
            if not exclude:
                self.exception_prefixes.append(re.split(r"[*?\[\\]", cleaned)[0])

    @classmethod
    def load(cls, context_dir: str) -> "IgnoreRules":
        path = os.path.join(context_dir, ".dockerignore")
        try:
            with open(path, encoding="utf-8", errors="surrogateescape") as f:
                return cls(f.read().splitlines())
        except FileNotFoundError:
            return cls([])

    def may_reinclude_below(self, rel_dir: str) -> bool:
        """Could a ``!`` pattern match something inside ``rel_dir``?"""
        return any(prefix.startswith(rel_dir + "/") or rel_dir.startswith(prefix)
                   for prefix in self.exception_prefixes)

    def excluded(self, rel: str) -> bool:
        """True when ``rel`` (clean, relative) or a parent of it is excluded."""
        if not self.rules or rel in ("", "."):
            return False
        parents = rel.split("/")
        candidates = ["/".join(parents[:i]) for i in range(1, len(parents) + 1)]
        result = False
        for exclude, regex in self.rules:
            if any(regex.match(c) for c in candidates):
                result = exclude
        return result


def _compile(pattern: str, raw: str) -> re.Pattern:
    out, i = [], 0
    while i < len(pattern):
        ch = pattern[i]
        if pattern.startswith("**", i):
            i += 2
            if pattern.startswith("/", i):
                i += 1
                out.append("(?:.*/)?")
            else:
                out.append(".*")
            continue
        if ch == "*":
            out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        elif ch == "[":
            end = pattern.find("]", i + 1)
            if end < 0:
                raise InvalidArgument(f".dockerignore: syntax error in pattern {raw!r}: "
                                      "unterminated [")
            body = pattern[i + 1:end]
            if body.startswith("^"):
                body = "!" + body[1:]
            body = body.replace("\\", "\\\\")
            out.append("[" + ("^" + body[1:] if body.startswith("!") else body) + "]")
            i = end
        elif ch == "\\" and i + 1 < len(pattern):
            i += 1
            out.append(re.escape(pattern[i]))
        else:
            out.append(re.escape(ch))
        i += 1
    return re.compile("".join(out) + r"\Z")


class Source:
    """One matched source: ``rel`` (clean, relative to the context) and the
    real host path to read."""

    def __init__(self, rel: str, path: str, st: os.stat_result):
        self.rel, self.path, self.st = rel, path, st

    @property
    def is_dir(self) -> bool:
        return stat.S_ISDIR(self.st.st_mode)


class BuildContext:
    def __init__(self, directory: str):
        if not os.path.isdir(directory):
            raise InvalidArgument(f"unable to prepare context: path {directory!r} "
                                  "not found or not a directory")
        self.root = os.path.realpath(directory)
        self.ignore = IgnoreRules.load(self.root)

    def sources(self, pattern: str, keyword: str) -> list[Source]:
        """The sources ``pattern`` names (a path or a glob), sorted.

        InvalidArgument when nothing matches, when a path leaves the
        context, or when it is excluded by .dockerignore.
        """
        rel = _clean(pattern)
        if rel == ".." or rel.startswith("../"):
            raise InvalidArgument(f"{keyword} failed: forbidden path outside the build "
                                  f"context: {pattern}")
        if _GLOB_CHARS & set(rel):
            regex = _compile(rel, pattern)
            found = [r for r in self._all_paths() if regex.match(r)]
            if not found:
                raise InvalidArgument(f"{keyword} failed: no source files were specified "
                                      f"(nothing in the build context matches {pattern!r})")
            return [self._source(r, pattern, keyword) for r in found]
        full = os.path.join(self.root, rel) if rel != "." else self.root
        if not os.path.lexists(full) or self.ignore.excluded(rel):
            raise InvalidArgument(f"{keyword} failed: file not found in build context or "
                                  f"excluded by .dockerignore: stat {pattern}: file does "
                                  "not exist")
        return [self._source(rel, pattern, keyword)]

    def _source(self, rel: str, pattern: str, keyword: str) -> Source:
        full = os.path.join(self.root, rel) if rel != "." else self.root
        real = os.path.realpath(full)
        if real != self.root and not real.startswith(self.root + "/"):
            raise InvalidArgument(f"{keyword} failed: forbidden path outside the build "
                                  f"context: {pattern} ({rel} resolves to {real})")
        try:
            st = os.stat(real)
        except OSError as exc:
            raise InvalidArgument(f"{keyword} failed: stat {pattern}: {exc.strerror}") from None
        if not os.path.lexists(real) or self.ignore.excluded(
                os.path.relpath(real, self.root)):
            raise InvalidArgument(f"{keyword} failed: file not found in build context or "
                                  f"excluded by .dockerignore: stat {pattern}: file does "
                                  "not exist")
        return Source(rel, real, st)

    def _all_paths(self) -> list[str]:
        """Every non-excluded path in the context, relative, sorted."""
        found = []
        for dirpath, dirnames, filenames in os.walk(self.root):
            rel_dir = os.path.relpath(dirpath, self.root)
            keep = []
            for name in sorted(dirnames + filenames):
                rel = name if rel_dir == "." else f"{rel_dir}/{name}"
                if self.ignore.excluded(rel) and not (
                        name in dirnames and self._keeps_something(os.path.join(dirpath, name))):
                    continue
                found.append(rel)
                if name in dirnames:
                    keep.append(name)
            dirnames[:] = [d for d in dirnames if d in keep]
        return sorted(found)

    def _keeps_something(self, directory: str) -> bool:
        """An excluded directory that a ``!`` pattern re-includes part of
        (``docs`` then ``!docs/keep.md``) is still walked."""
        if not self.ignore.may_reinclude_below(os.path.relpath(directory, self.root)):
            return False
        for dirpath, _, filenames in os.walk(directory):
            for name in filenames:
                rel = os.path.relpath(os.path.join(dirpath, name), self.root)
                if not self.ignore.excluded(rel):
                    return True
        return False

    def walk(self, source: Source):
        """``(relative path below the source, host path, lstat)`` for every
        entry of a directory source, parents before children, sorted;
        excluded entries are skipped.  Symlinks are reported, never followed."""
        stack = [""]
        while stack:
            sub = stack.pop()
            directory = os.path.join(source.path, sub) if sub else source.path
            try:
                names = sorted(os.listdir(directory), reverse=True)
            except OSError as exc:
                raise InvalidArgument(f"reading build context {directory}: "
                                      f"{exc.strerror}") from None
            entries = []
            for name in reversed(names):
                rel = f"{sub}/{name}" if sub else name
                path = os.path.join(source.path, rel)
                st = os.lstat(path)
                if self.ignore.excluded(os.path.relpath(path, self.root)) and not (
                        stat.S_ISDIR(st.st_mode) and self._keeps_something(path)):
                    continue
                entries.append((rel, path, st))
            for rel, path, st in entries:
                yield rel, path, st
            stack.extend(rel for rel, _, st in reversed(entries) if stat.S_ISDIR(st.st_mode))


def _clean(pattern: str) -> str:
    text = pattern.lstrip("/")
    return posixpath.normpath(text) if text else "."


def content_hash(context: BuildContext, sources: list[Source]) -> str:
    """Docker's ``file:<hex>`` / ``dir:<hex>`` / ``multi:<hex>``: a sha256
    over the names, types, modes, link targets and contents of everything
    the sources copy (mtimes and owners left out: a checkout changes them)."""
    import hashlib
    total = hashlib.sha256()
    for source in sources:
        total.update(f"S {source.rel}\0".encode(errors="surrogateescape"))
        if source.is_dir:
            for rel, path, st in context.walk(source):
                total.update(_entry_digest(rel, path, st))
        else:
            total.update(_entry_digest(posixpath.basename(source.rel), source.path,
                                       source.st))
    kind = "multi" if len(sources) > 1 else ("dir" if sources[0].is_dir else "file")
    return f"{kind}:{total.hexdigest()}"


def _entry_digest(rel: str, path: str, st: os.stat_result) -> bytes:
    import hashlib
    head = f"{rel}\0{stat.S_IFMT(st.st_mode):o}\0{stat.S_IMODE(st.st_mode):o}\0"
    body = b""
    if stat.S_ISLNK(st.st_mode):
        body = os.readlink(path).encode(errors="surrogateescape")
    elif stat.S_ISREG(st.st_mode):
        digest = hashlib.sha256()
        with open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                digest.update(chunk)
        body = digest.digest()
    return head.encode(errors="surrogateescape") + body + b"\0"
