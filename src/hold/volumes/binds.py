"""Bind-mount sources: the sensitive-path rule and missing sources.

A bind mount gives a container the host path it names, with the
container's root user.  Some host paths make that a host takeover:

    /          everything below it
    /etc       the host's users, sudoers, services
    /proc /sys /dev      the kernel's and devices' control files
    /boot      the kernel and boot loader
    the engine's data root and runroot (/var/lib/hold, /run/hold, --root,
    --runroot), and container runtimes' sockets (docker, containerd, podman)

A source is refused when it IS one of them, CONTAINS one of them (``/var``
contains /var/lib/hold), or lies INSIDE one of those marked ``inside``
(anything under /proc, /sys, /dev, /boot, the roots, the sockets' dirs).
Files under /etc (``/etc/localtime``) are allowed.  Symlinks are resolved
first, so a link to /etc is refused too.  ``--allow-sensitive-mounts``
overrides the rule.
"""

from __future__ import annotations

import os

from hold.errors import InvalidArgument

__all__ = ["OVERRIDE_FLAG", "sensitive_reason", "check_bind_source", "prepare_bind_source"]

OVERRIDE_FLAG = "--allow-sensitive-mounts"

_REASONS = {
    "/": "it is the host's whole file system",
    "/etc": "it holds the host's users, passwords and services",
    "/proc": "it exposes and controls the host's processes and kernel",
    "/sys": "it controls the host's kernel and devices",
    "/dev": "it gives raw access to the host's devices",
    "/boot": "it holds the host's kernel and boot loader",
    "/var/lib/hold": "it is hold's data root (other containers' files and the store)",
    "/run/hold": "it is hold's runtime root (monitors and container state)",
    "/run/docker.sock": "it is a container runtime's socket (root on the host)",
    "/var/run/docker.sock": "it is a container runtime's socket (root on the host)",
    "/run/containerd": "it holds a container runtime's socket (root on the host)",
    "/run/podman": "it holds a container runtime's socket (root on the host)",
}
_INSIDE = ("/proc", "/sys", "/dev", "/boot", "/var/lib/hold", "/run/hold",
           "/run/docker.sock", "/var/run/docker.sock", "/run/containerd", "/run/podman")


def _within(path: str, parent: str) -> bool:
    return parent == "/" or path == parent or path.startswith(parent.rstrip("/") + "/")


def _real(path: str) -> str:
    try:
        return os.path.realpath(path)
    except OSError:
        return os.path.abspath(path)


def sensitive_reason(source: str, paths) -> str:
    """Why binding ``source`` is refused, or "" when it is fine."""
    reasons = dict(_REASONS)
    inside = list(_INSIDE)
    for own, what in ((paths.root, "hold's data root"), (paths.runroot, "hold's runtime root")):
        reasons[_real(own)] = f"it is {what} ({own})"
        inside.append(_real(own))
    candidates = {os.path.normpath(source), _real(source)}
    for path in sorted(candidates):
        for danger, why in reasons.items():
            danger_real = _real(danger) if os.path.lexists(danger) else danger
            for d in {danger, danger_real}:
                if path == d:
                    return f"{d}: {why}"
                if d != "/" and _within(d, path) and path != d:
                    return f"it contains {d}, and {why.removeprefix('it ')}"
                if d in inside and _within(path, d):
                    return f"it is inside {d}, and {d} {why.removeprefix('it ')}"
    return ""


def check_bind_source(source: str, paths, allow_sensitive: bool) -> None:
    if allow_sensitive:
        return
    why = sensitive_reason(source, paths)
    if why:
        raise InvalidArgument(
            f'refusing to bind-mount "{source}" into a container: {why}. A container '
            f"that can write there can take over the host; pass {OVERRIDE_FLAG} "
            "if you really mean it", source=source)


def prepare_bind_source(source: str, *, create: bool) -> None:
    """A missing source: ``-v`` creates it as a directory (Docker does),
    ``--mount`` refuses with Docker's message."""
    if os.path.exists(source):
        return
    if not create:
        raise InvalidArgument(f'invalid mount config for type "bind": bind source path '
                              f"does not exist: {source}", source=source)
    try:
        os.makedirs(source, 0o755, exist_ok=True)
    except OSError as exc:
        raise InvalidArgument(f"error while creating mount source path '{source}': "
                              f"mkdir {exc.filename or source}: {exc.strerror.lower()}",
                              source=source) from exc
