"""`hold commit`: a container's writable layer becomes a new image layer.

The upperdir is tarred as an OCI layer (overlay whiteouts become ``.wh.``
entries) and stacked on the container's image with the container's config
(Cmd, Env, ...), changed by any ``--change`` instructions.
"""

from __future__ import annotations

import os


def commit_container(engine, ref: str, reference: str | None, changes: list[str],
                     message: str, author: str):
    container = engine.containers.get(ref)
    images = engine.images
    parent = images.get(container.image_id)
    upper = os.path.join(engine.paths.container_dir(container.id), "upper")
    diff_id, _size = images.layer_from_upperdir(upper)
    cfg = container.config["Config"]
    container_config = {
        "Env": cfg.get("Env"), "Cmd": cfg.get("Cmd"), "Entrypoint": cfg.get("Entrypoint"),
        "WorkingDir": cfg.get("WorkingDir"), "User": cfg.get("User"),
        "Labels": cfg.get("Labels"), "StopSignal": cfg.get("StopSignal"),
    }
    command = " ".join((cfg.get("Entrypoint") or []) + (cfg.get("Cmd") or []))
    container_config = {k: v for k, v in container_config.items() if v}
    return images.commit(parent, diff_id, config_changes=changes, comment=message,
                         author=author, created_by=command, reference=reference,
                         container_config=container_config)
