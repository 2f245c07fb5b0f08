"""Docker-shaped views of an image: ``image inspect`` and ``history``.

Both follow the Docker Engine API (``GET /images/{name}/json`` and
``/images/{name}/history``) so the CLI and the API server print the same.
"""

from __future__ import annotations

from hold.images.model import Image, parse_time

NEVER = "0001-01-01T00:00:00Z"

_DOCKER_CONFIG_KEYS = (
    ("Hostname", ""), ("Domainname", ""), ("User", ""), ("AttachStdin", False),
    ("AttachStdout", False), ("AttachStderr", False), ("ExposedPorts", None),
    ("Tty", False), ("OpenStdin", False), ("StdinOnce", False), ("Env", None),
    ("Cmd", None), ("Image", ""), ("Volumes", None), ("WorkingDir", ""),
    ("Entrypoint", None), ("OnBuild", None), ("Labels", None), ("StopSignal", None),
    ("Healthcheck", None), ("Shell", None),
)
_OMIT_WHEN_EMPTY = {"ExposedPorts", "StopSignal", "Healthcheck", "Shell"}


def docker_config(run_config: dict) -> dict:
    """The OCI ``config`` in Docker's container-config shape."""
    out = {}
    for key, default in _DOCKER_CONFIG_KEYS:
        value = run_config.get(key, default)
        if key in _OMIT_WHEN_EMPTY and not value:
            continue
        out[key] = value
    return out


def inspect_document(image: Image) -> dict:
    config = image.config
    dirs = image.layer_dirs
    graph = {"UpperDir": dirs[-1]} if dirs else {}
    if len(dirs) > 1:
        graph["LowerDir"] = ":".join(reversed(dirs[:-1]))
    return {
        "Id": image.id,
        "RepoTags": list(image.tags),
        "RepoDigests": [],
        "Parent": image.parent,
        "Comment": config.get("comment", ""),
        "Created": image.created,
        "DockerVersion": "",
        "Author": config.get("author", ""),
        "Config": docker_config(image.container_config),
        "Architecture": config.get("architecture", ""),
        "Os": config.get("os", ""),
        "Size": image.size,
        "GraphDriver": {"Name": "overlay2", "Data": graph},
        "RootFS": {"Type": "layers", "Layers": list(image.diff_ids)},
        "Metadata": {"LastTagTime": image.last_tagged or NEVER},
    }


def history_rows(service, image: Image) -> list[dict]:
    """Newest first.  As Docker does, the first rows carry the ids of the
    image and its ancestors (one per row, walking ``parent``); the rest
    show ``<missing>``."""
    sizes = service.layer_sizes(image.diff_ids) if image.diff_ids else {}
    rows = []
    layer = 0
    for entry in image.config.get("history") or ():
        size = 0
        if not entry.get("empty_layer"):
            if layer < len(image.diff_ids):
                size = sizes.get(image.diff_ids[layer], 0)
            layer += 1
        created = entry.get("created", "")
        rows.append({"Id": "<missing>",
                     "Created": int(parse_time(created).timestamp()) if created else 0,
                     "CreatedBy": entry.get("created_by", ""),
                     "Tags": None, "Size": size,
                     "Comment": entry.get("comment", "")})
    rows.reverse()
    current: Image | None = image
    for row in rows:
        if current is None:
            break
        row["Id"] = current.id
        row["Tags"] = list(current.tags) or None
        current = _parent(service, current)
    return rows


def _parent(service, image: Image) -> Image | None:
    if not image.parent:
        return None
    from hold.errors import NotFound
    try:
        return service.get(image.parent)
    except NotFound:
        return None
