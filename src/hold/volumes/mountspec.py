"""The mount flags of `hold run` / `hold create`, parsed as Docker does.

Four spellings describe what a container mounts::

    --mount type=volume|bind|tmpfs,source=|src=,target=|dst=|destination=,
            readonly|ro[=bool],volume-nocopy[=bool],volume-subpath=,
            volume-driver=,volume-opt=K=V,volume-label=K=V,
            bind-propagation=,bind-nonrecursive,tmpfs-size=,tmpfs-mode=
    -v / --volume   [SOURCE:]TARGET[:MODE]  (SOURCE absolute: a bind mount,
                    otherwise a volume name; no SOURCE: an anonymous volume;
                    MODE: rw|ro, z|Z, nocopy, a propagation, a consistency)
    --tmpfs         TARGET[:OPTIONS]        (OPTIONS: tmpfs mount options)
    --volumes-from  CONTAINER[:ro|rw]

Each becomes a ``MountRequest``: what the user asked for, checked for
shape only (no file system, no store).  ``VolumeService.resolve_mounts``
turns requests into a container's ``Mounts`` (creating volumes, checking
bind sources).  Errors are ``InvalidArgument`` with Docker's wording: the
client's (``invalid argument "..." for "--mount" flag: unexpected key 'x' in
'x=y'``) and the daemon's (``invalid mount config for type "bind": ...``,
``invalid volume specification: '...'``, ``invalid mode: x``).
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field

from hold.errors import InvalidArgument

__all__ = ["MountRequest", "parse_mount", "parse_volume", "parse_tmpfs",
           "parse_volumes_from", "validate_request", "validate_volume_name",
           "parse_ram_size", "PROPAGATIONS"]

TYPES = ("volume", "bind", "tmpfs")
PROPAGATIONS = ("private", "rprivate", "shared", "rshared", "slave", "rslave")
_LABEL_MODES = ("z", "Z")
_RW_MODES = ("rw", "ro")
_COPY_MODES = ("nocopy",)
_CONSISTENCY = ("consistent", "cached", "delegated")
VOLUME_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]+\Z")


@dataclass
class MountRequest:
    """One mount as asked for; ``origin`` is the flag that asked."""

    type: str
    target: str
    source: str = ""
    readonly: bool = False
    nocopy: bool = False
    subpath: str = ""
    driver: str = ""
    driver_options: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    propagation: str = ""
    nonrecursive: bool = False
    tmpfs_size: int | None = None
    tmpfs_mode: int | None = None
    tmpfs_options: list[str] = field(default_factory=list)
    mode: str = ""                 # Docker's "Mode" in inspect (the -v suffix)
    create_host_path: bool = False  # -v creates a missing bind source
    origin: str = "--mount"


def _bool(key: str, value: str) -> bool:
    lowered = value.lower()
    if lowered in ("1", "t", "true"):
        return True
    if lowered in ("0", "f", "false"):
        return False
    raise InvalidArgument(f"invalid value for {key}: {value}")


def parse_ram_size(value: str) -> int:
    """Docker's RAMInBytes: "64m", "1g", "512k", "1024", binary units."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kKmMgGtTpP]?)[iI]?[bB]?\s*", value)
    if not m:
        raise ValueError(value)
    scale = 1024 ** " kmgtp".index(m.group(2).lower() or " ")
    return int(float(m.group(1)) * scale)


def _mount_fields(value: str) -> list[str]:
    try:
        rows = list(csv.reader([value]))
    except csv.Error as exc:
        raise InvalidArgument(str(exc)) from exc
    return rows[0] if rows else []


def _apply_field(req: MountRequest, key: str, val: str, raw: str, touched: set) -> None:
    if key == "type":
        req.type = val.lower()
    elif key in ("source", "src"):
        req.source = val
    elif key in ("target", "dst", "destination"):
        req.target = val
    elif key in ("readonly", "ro"):
        req.readonly = _bool(key, val)
    elif key == "bind-propagation":
        req.propagation = val.lower()
        touched.add("bind")
    elif key == "bind-nonrecursive":
        req.nonrecursive = _bool(key, val)
        touched.add("bind")
    elif key == "volume-nocopy":
        try:
            req.nocopy = _bool(key, val)
        except InvalidArgument:
            raise InvalidArgument(f"invalid value for volume-nocopy: {val}") from None
        touched.add("volume")
    elif key in ("volume-label", "volume-opt"):
        k, _, v = val.partition("=")
        if k:
            (req.labels if key == "volume-label" else req.driver_options)[k] = v
        touched.add("volume")
    elif key == "volume-driver":
        req.driver = val
        touched.add("volume")
    elif key == "volume-subpath":
        req.subpath = val
        touched.add("volume")
    elif key == "tmpfs-size":
        try:
            req.tmpfs_size = parse_ram_size(val)
        except ValueError:
            raise InvalidArgument(f"invalid value for {key}: {val}") from None
        touched.add("tmpfs")
    elif key == "tmpfs-mode":
        try:
            req.tmpfs_mode = int(val, 8)
        except ValueError:
            raise InvalidArgument(f"invalid value for {key}: {val}") from None
        touched.add("tmpfs")
    elif key == "consistency":
        pass
    else:
        raise InvalidArgument(f"unexpected key '{key}' in '{raw}'")


def parse_mount(value: str) -> MountRequest:
    """One ``--mount`` value; errors are worded as Docker's client words them."""
    try:
        return _parse_mount(value)
    except InvalidArgument as exc:
        raise InvalidArgument(f'invalid argument "{value}" for "--mount" flag: {exc}',
                              flag="--mount", value=value) from None


def _parse_mount(value: str) -> MountRequest:
    req = MountRequest(type="volume", target="")
    touched: set[str] = set()
    for raw in _mount_fields(value):
        key, eq, val = raw.partition("=")
        if not eq:
            if key in ("readonly", "ro"):
                req.readonly = True
            elif key == "volume-nocopy":
                req.nocopy = True
                touched.add("volume")
            elif key == "bind-nonrecursive":
                req.nonrecursive = True
                touched.add("bind")
            else:
                raise InvalidArgument(f"invalid field '{raw}' must be a key=value pair")
            continue
        _apply_field(req, key, val, raw, touched)
    if not req.type:
        raise InvalidArgument("type is required")
    if not req.target:
        raise InvalidArgument("target is required")
    for kind in ("volume", "bind", "tmpfs"):
        if kind in touched and req.type != kind:
            raise InvalidArgument(f"cannot mix '{kind}-*' options with mount type '{req.type}'")
    return req


def _split_modes(mode: str, spec: str) -> list[str]:
    """Docker's mode validation: known words, at most one of each kind."""
    words = [w for w in mode.split(",")] if mode else []
    groups = (_RW_MODES, _LABEL_MODES, PROPAGATIONS, _COPY_MODES, _CONSISTENCY)
    seen = [0] * len(groups)
    for word in words:
        for i, group in enumerate(groups):
            if word in group:
                seen[i] += 1
                break
        else:
            raise InvalidArgument(f"invalid mode: {mode}", spec=spec)
    if any(n > 1 for n in seen):
        raise InvalidArgument(f"invalid mode: {mode}", spec=spec)
    return words


def parse_volume(value: str) -> MountRequest:
    """One ``-v`` value: ``[SOURCE:]TARGET[:MODE]``."""
    if not value:
        raise InvalidArgument("invalid empty volume spec")
    parts = value.split(":")
    if len(parts) == 1:
        source, target, mode = "", parts[0], ""
    elif len(parts) == 2:
        if _is_mode_only(parts[1]):
            raise InvalidArgument(f"invalid volume specification: '{value}'")
        source, target, mode = parts[0], parts[1], ""
    elif len(parts) == 3:
        source, target, mode = parts
    else:
        raise InvalidArgument(f"invalid volume specification: '{value}'")
    if len(parts) > 1 and not source:
        raise InvalidArgument(f"invalid volume specification: '{value}'")
    words = _split_modes(mode, value)
    is_bind = source.startswith("/")
    req = MountRequest(type="bind" if is_bind else "volume", target=target,
                       source=source, readonly="ro" in words, nocopy="nocopy" in words,
                       mode=mode, create_host_path=is_bind, origin="-v")
    for word in words:
        if word in PROPAGATIONS:
            if not is_bind:
                raise InvalidArgument(f"invalid mode: {mode}", spec=value)
            req.propagation = word
    if is_bind and req.nocopy:
        raise InvalidArgument(f"invalid mode: {mode}", spec=value)
    return req


def _is_mode_only(text: str) -> bool:
    try:
        return bool(_split_modes(text, text)) and not text.startswith("/")
    except InvalidArgument:
        return False


def parse_tmpfs(value: str) -> MountRequest:
    """One ``--tmpfs`` value: ``TARGET[:OPTIONS]`` (tmpfs mount options).

    Data options (size, mode, uid, gid, nr_inodes, nr_blocks, huge, mpol)
    are passed to tmpfs; flag words (noexec, suid, dev, sync, the atime
    variants ...) become mount flags in the runtime.  The default is
    nosuid,nodev,exec, as in Docker.
    """
    target, _, options = value.partition(":")
    req = MountRequest(type="tmpfs", target=target, origin="--tmpfs")
    for option in filter(None, options.split(",")):
        key, eq, val = option.partition("=")
        if key == "size" and eq:
            try:
                req.tmpfs_size = parse_ram_size(val)
            except ValueError:
                raise InvalidArgument(f"invalid tmpfs option: {option!r} (size takes "
                                      "a number with an optional k, m or g)") from None
        elif key == "mode" and eq:
            try:
                req.tmpfs_mode = int(val, 8)
            except ValueError:
                raise InvalidArgument(f"invalid tmpfs option: {option!r} "
                                      "(mode is octal, e.g. 1777)") from None
        elif key in ("ro", "rw") and not eq:
            req.readonly = key == "ro"
        elif key in _TMPFS_DATA and eq:
            req.tmpfs_options.append(option)
        elif key in (_TMPFS_IMPLIED | _TMPFS_FLAGS) and not eq:
            req.tmpfs_options.append(key)        # mount flags: runtime/init.py applies them
        else:
            raise InvalidArgument(f"invalid tmpfs option: {option!r} (accepted: size=, "
                                  f"mode=, ro, rw, {', '.join(sorted(_TMPFS_IMPLIED))}, "
                                  f"{'=, '.join(sorted(_TMPFS_DATA))}=)")
    return req


_TMPFS_DATA = {"nr_inodes", "nr_blocks", "uid", "gid", "huge", "mpol"}
_TMPFS_IMPLIED = {"nosuid", "nodev", "exec", "async", "relatime"}
_TMPFS_FLAGS = {"noexec", "suid", "dev", "sync", "atime", "noatime", "norelatime",
                "strictatime", "nostrictatime", "diratime", "nodiratime"}


def parse_volumes_from(value: str) -> tuple[str, str]:
    """``CONTAINER[:ro|rw]`` -> (container, "ro" | "rw" | "")."""
    container, _, mode = value.partition(":")
    if not container:
        raise InvalidArgument(f"invalid volumes-from specification: '{value}'")
    if mode and mode not in ("ro", "rw"):
        raise InvalidArgument(f"invalid mode: {mode}")
    return container, mode


def validate_volume_name(name: str) -> str:
    if not VOLUME_NAME.match(name):
        raise InvalidArgument(
            f'create {name}: "{name}" includes invalid characters for a local volume '
            'name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to '
            "pass a host directory, use absolute path", name=name)
    return name


def _config_error(req: MountRequest, message: str) -> InvalidArgument:
    text = f'invalid mount config for type "{req.type}": {message}'
    if req.origin == "-v":
        spec = f"{req.source}:{req.target}" if req.source else req.target
        text = f"invalid volume specification: '{spec + (':' + req.mode if req.mode else '')}'" \
               f": {text}"
    return InvalidArgument(text, target=req.target, source=req.source)


def validate_request(req: MountRequest) -> None:
    """The daemon-side checks that need no file system (Docker's wording)."""
    if req.type not in TYPES:
        raise InvalidArgument(f"mount type unknown: {req.type!r} (accepted: "
                              f"{', '.join(TYPES)})")
    if not req.target.startswith("/"):
        raise _config_error(req, f"invalid mount path: '{req.target}' mount path "
                                 "must be absolute")
    if req.target.rstrip("/") == "":
        raise _config_error(req, "invalid specification: destination can't be '/'")
    if req.type == "bind":
        if not req.source:
            raise _config_error(req, "field Source must not be empty")
        if not req.source.startswith("/"):
            raise _config_error(req, f"invalid mount path: '{req.source}' mount path "
                                     "must be absolute (relative host paths are not "
                                     "accepted: write /full/path or $PWD/path)")
    if req.type == "tmpfs" and req.source:
        raise _config_error(req, "field Source must not be specified")
    if req.propagation and req.propagation not in PROPAGATIONS:
        raise _config_error(req, f"invalid propagation mode: {req.propagation} "
                                 f"(accepted: {', '.join(PROPAGATIONS)})")
    if req.type == "volume" and req.source:
        validate_volume_name(req.source)
    if req.subpath:
        parts = req.subpath.split("/")
        if req.subpath.startswith("/") or ".." in parts:
            raise _config_error(req, f"invalid volume subpath '{req.subpath}': it must be "
                                     "a relative path inside the volume, without '..'")
