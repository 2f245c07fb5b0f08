"""Image references: what a user types to name an image.

Grammar (Docker's distribution/reference, the parts a local engine needs)::

    reference  := name [ ":" tag ] [ "@" digest ]
    name       := [ domain "/" ] path-component ( "/" path-component )*
    domain     := host [ ":" port ]      first component holding ".", ":"
                                         or equal to "localhost"
    path-comp  := [a-z0-9]+ ( ( "." | "_" | "__" | "-"+ ) [a-z0-9]+ )*
    tag        := [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}
    digest     := algorithm ":" hex

Words:

- a **familiar name** is how Docker prints a name: ``docker.io/library/x``
  is ``x`` and ``docker.io/u/x`` is ``u/x``.  Tags are stored under their
  familiar ``name:tag`` string (``busybox:latest``, ``reg:5000/a/b:v1``).
- an **id** is ``sha256:`` + 64 hex; a **short id** is the first 12 hex.

Anything else is ``InvalidArgument("invalid reference format ...")``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from hold.errors import InvalidArgument

__all__ = ["Reference", "parse_reference", "is_id_prefix", "short_id",
           "DEFAULT_TAG"]

DEFAULT_TAG = "latest"
DEFAULT_DOMAIN = "docker.io"
NAME_TOTAL_MAX = 255

_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*\Z")
_DOMAIN = re.compile(
    r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
    r"(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*"
    r"(?::[0-9]+)?\Z")
_TAG = re.compile(r"[\w][\w.-]{0,127}\Z", re.ASCII)
_DIGEST = re.compile(r"[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-fA-F0-9]{32,}\Z")
_HEX64 = re.compile(r"[a-f0-9]{64}\Z")
_HEX_PREFIX = re.compile(r"[a-f0-9]{1,64}\Z")


@dataclass(frozen=True)
class Reference:
    """A parsed, normalised name reference (never an id)."""

    domain: str        # "docker.io" when none was given
    path: str          # "library/busybox", "u/app", "team/app"
    tag: str           # DEFAULT_TAG when neither tag nor digest was given
    digest: str = ""   # "sha256:..." for name@digest references

    @property
    def familiar_name(self) -> str:
        if self.domain == DEFAULT_DOMAIN:
            return self.path.removeprefix("library/")
        return f"{self.domain}/{self.path}"

    @property
    def familiar(self) -> str:
        """``name:tag`` (or ``name@digest``), the key tags are stored under."""
        if self.digest:
            return f"{self.familiar_name}@{self.digest}"
        return f"{self.familiar_name}:{self.tag}"

    def __str__(self) -> str:
        return self.familiar


def _invalid(text: str, why: str) -> InvalidArgument:
    return InvalidArgument(f"invalid reference format: {text!r}: {why}", ref=text)


def parse_reference(text: str) -> Reference:
    """Parse ``name[:tag][@digest]``; default tag ``latest``.

    A bare 64-hex string is refused as a name, as Docker does, because it
    would be read back as an image id.
    """
    if not text:
        raise _invalid(text, "empty reference")
    remainder, _, digest = text.partition("@")
    if digest and not _DIGEST.match(digest):
        raise _invalid(text, f"digest {digest!r} is not ALGORITHM:HEX")
    name, tag = remainder, ""
    colon = remainder.rfind(":")
    if colon > remainder.rfind("/"):
        name, tag = remainder[:colon], remainder[colon + 1:]
        if not _TAG.match(tag):
            raise _invalid(text, f"tag {tag!r} must match [A-Za-z0-9_][A-Za-z0-9_.-]{{0,127}}")
    if not name:
        raise _invalid(text, "repository name is empty")
    if len(name) > NAME_TOTAL_MAX:
        raise _invalid(text, f"repository name is longer than {NAME_TOTAL_MAX} characters")
    domain, path = _split_domain(text, name)
    if _HEX64.match(path.removeprefix("library/")) and domain == DEFAULT_DOMAIN:
        raise InvalidArgument(
            f"invalid repository name ({name}), cannot specify 64-byte "
            "hexadecimal strings", ref=text)
    return Reference(domain, path, tag or ("" if digest else DEFAULT_TAG), digest)


def _split_domain(text: str, name: str) -> tuple[str, str]:
    first, sep, rest = name.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        if not _DOMAIN.match(first):
            raise _invalid(text, f"registry host {first!r} is not HOST[:PORT]")
        domain, path = first, rest
    else:
        domain, path = DEFAULT_DOMAIN, name
    for component in path.split("/"):
        if not _COMPONENT.match(component):
            if component.lower() != component and _COMPONENT.match(component.lower()):
                raise InvalidArgument(
                    f"invalid reference format: repository name ({path}) "
                    "must be lowercase", ref=text)
            raise _invalid(text, f"path component {component!r} must be "
                           "lowercase letters, digits and separators (. _ __ -)")
    if domain == DEFAULT_DOMAIN and "/" not in path:
        path = "library/" + path
    return domain, path


def is_id_prefix(text: str) -> bool:
    """True for ``sha256:<hex>`` or bare hex that may abbreviate an id."""
    return bool(_HEX_PREFIX.match(text.removeprefix("sha256:")))


def is_full_id(text: str) -> bool:
    return bool(_HEX64.match(text.removeprefix("sha256:")))


def short_id(image_id: str) -> str:
    """The 12-hex form Docker prints in tables."""
    return image_id.removeprefix("sha256:")[:12]
