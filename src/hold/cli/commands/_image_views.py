"""Rows the image commands print: what ``docker images`` and ``docker
history`` put in each column, as dicts keyed by Docker's template fields
(``.ID``, ``.Repository``, ``.CreatedSince``, ...).

Sizes and ages come from ``hold.cli.formatting`` (Docker's go-units
wording: "1.98MB", "2 minutes ago").
"""

from __future__ import annotations

import re
from datetime import datetime, timezone

from hold.errors import InvalidArgument

def human_size(size: float) -> str:
    from hold.cli.formatting import human_size as go_units_size
    return go_units_size(size)


def human_ago(when: datetime) -> str:
    from hold.cli.formatting import human_ago as go_units_ago
    return go_units_ago(when)


def docker_time(when: datetime) -> str:
    """Go's default time String(): ``2006-01-02 15:04:05 +0000 UTC``."""
    return when.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S +0000 UTC")


def ellipsis(text: str, width: int) -> str:
    return text if len(text) <= width else text[:width - 1] + "…"


def path_match(pattern: str, name: str) -> bool:
    """Go's path.Match: ``*`` and ``?`` never cross a ``/``."""
    out, i = [], 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "*":
            out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        elif ch == "[":
            end = pattern.find("]", i + 2)
            if end < 0:
                raise InvalidArgument(f"syntax error in pattern {pattern!r}")
            body = pattern[i + 1:end]
            out.append("[" + ("^" + body[1:] if body.startswith("^") else body) + "]")
            i = end
        elif ch == "\\" and i + 1 < len(pattern):
            i += 1
            out.append(re.escape(pattern[i]))
        else:
            out.append(re.escape(ch))
        i += 1
    return re.fullmatch("".join(out), name) is not None


def _reference_matches(patterns: list[str], tag: str) -> bool:
    name = tag.rpartition(":")[0]
    return any(path_match(p, tag) or path_match(p, name) for p in patterns)


def _bool_filter(values: list[str], key: str) -> bool:
    value = values[-1].lower()
    if value not in ("true", "false", "1", "0"):
        raise InvalidArgument(f"invalid filter '{key}={values[-1]}': expected true or false")
    return value in ("true", "1")


def image_rows(service, filters: dict[str, list[str]], show_all: bool,
               no_trunc: bool) -> list[dict]:
    images = service.list()
    parents = {image.parent for image in images if image.parent}
    before = min((service.get(r).created_at for r in filters.get("before", ())), default=None)
    since = max((service.get(r).created_at for r in filters.get("since", ())), default=None)
    dangling = _bool_filter(filters["dangling"], "dangling") if "dangling" in filters else None
    rows = []
    for image in images:
        if not show_all and not image.tags and image.id in parents:
            continue  # an intermediate image, as Docker hides them
        if dangling is not None and dangling == bool(image.tags):
            continue
        if not _labels_match(image, filters.get("label", ())):
            continue
        created = image.created_at
        if (before and created >= before) or (since and created <= since):
            continue
        for tag in image.tags or [None]:
            if "reference" in filters and (
                    tag is None or not _reference_matches(filters["reference"], tag)):
                continue
            rows.append(_image_row(image, tag, no_trunc))
    return rows


def _labels_match(image, wanted: list[str]) -> bool:
    labels = image.container_config.get("Labels") or {}
    for item in wanted:
        key, sep, value = item.partition("=")
        if key not in labels or (sep and labels[key] != value):
            return False
    return True


def _image_row(image, tag: str | None, no_trunc: bool) -> dict:
    repository, _, tag_name = tag.rpartition(":") if tag else ("<none>", "", "<none>")
    created = image.created_at
    size = human_size(image.size)
    return {"ID": image.id if no_trunc else image.short_id,
            "Repository": repository, "Tag": tag_name, "Digest": "<none>",
            "CreatedSince": human_ago(created), "CreatedAt": docker_time(created),
            "Size": size, "VirtualSize": size, "SharedSize": "N/A",
            "UniqueSize": "N/A", "Containers": "N/A"}


def history_view(entries: list[dict], human: bool, no_trunc: bool) -> list[dict]:
    rows = []
    for entry in entries:
        image_id = entry["Id"]
        if image_id != "<missing>" and not no_trunc:
            image_id = image_id.removeprefix("sha256:")[:12]
        created = datetime.fromtimestamp(entry["Created"], timezone.utc)
        rfc3339 = created.strftime("%Y-%m-%dT%H:%M:%SZ")
        created_by = entry["CreatedBy"].replace("\t", " ")
        rows.append({
            "ID": image_id,
            "CreatedSince": human_ago(created) if human else rfc3339,
            "CreatedAt": rfc3339,
            "CreatedBy": created_by if no_trunc else ellipsis(created_by, 45),
            "Size": human_size(entry["Size"]) if human else str(entry["Size"]),
            "Comment": entry["Comment"],
        })
    return rows
