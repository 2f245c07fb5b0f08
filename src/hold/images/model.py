"""What an image is, as the rest of hold sees it.

An ``Image`` is read from the store (``images``, ``tags``, ``image_layers``
rows) and never written back: services change images through
``ImageService``.  ``layer_dirs`` run bottom to top; overlayfs wants its
``lowerdir=`` top first, so the runtime reverses them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

__all__ = ["Image"]


@dataclass(frozen=True)
class Image:
    id: str                      # "sha256:<hex of the config bytes>"
    config: dict                 # the OCI image config (see images/config.py)
    tags: list[str]              # familiar "repo:tag", sorted
    diff_ids: list[str]          # bottom to top
    layer_dirs: list[str]        # bottom to top, each an overlay lowerdir
    created: str                 # RFC 3339, from the config
    size: int                    # sum of the layer sizes, in bytes
    parent: str = ""             # image this one was committed on, or ""
    manifest: dict = field(default_factory=dict)
    last_tagged: str = ""

    @property
    def short_id(self) -> str:
        return self.id.removeprefix("sha256:")[:12]

    @property
    def container_config(self) -> dict:
        """The ``config`` part of the OCI config: Env, Cmd, Entrypoint, ..."""
        return self.config.get("config") or {}

    @property
    def created_at(self) -> datetime:
        return parse_time(self.created)

    @property
    def dangling(self) -> bool:
        return not self.tags


def parse_time(text: str) -> datetime:
    """RFC 3339 with up to nanoseconds (Go writes 9 digits, Python takes 6)."""
    from datetime import timezone
    if not text:
        return datetime.fromtimestamp(0, timezone.utc)
    value = text.replace("Z", "+00:00")
    head, dot, rest = value.partition(".")
    if dot:
        digits = len(rest) - len(rest.lstrip("0123456789"))
        value = f"{head}.{rest[:min(digits, 6)]:0<6}{rest[digits:]}"
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)
