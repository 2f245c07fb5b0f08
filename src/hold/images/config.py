"""OCI image configs and manifests, and Docker's ``--change`` instructions.

An image config (OCI image-spec ``config.json``)::

    {"created": RFC3339, "architecture": "amd64", "os": "linux",
     "author": "...",                         (optional)
     "config": {"Env": [...], "Cmd": [...], "Entrypoint": [...],
                "WorkingDir": "/", "User": "u:g", "ExposedPorts": {"80/tcp": {}},
                "Labels": {...}, "Volumes": {"/data": {}}, "StopSignal": "SIGTERM"},
     "rootfs": {"type": "layers", "diff_ids": ["sha256:..."]},
     "history": [{"created": RFC3339, "created_by": "...", "comment": "...",
                  "empty_layer": true}]}

The image id is ``sha256:`` of the exact bytes ``config_bytes`` returns;
those bytes are stored as a blob and never re-serialised.

``apply_changes`` runs the Dockerfile instructions that ``docker import -c``
and ``docker commit -c`` accept: CMD, ENTRYPOINT, ENV, EXPOSE, LABEL,
STOPSIGNAL, USER, VOLUME, WORKDIR.
"""

from __future__ import annotations

import copy
import json
import re
from datetime import datetime, timezone

from hold.errors import InvalidArgument

__all__ = ["new_config", "config_bytes", "manifest_for", "apply_changes",
           "history_entry", "now_rfc3339", "host_architecture",
           "CHANGE_INSTRUCTIONS", "MEDIA_CONFIG", "MEDIA_LAYER", "MEDIA_MANIFEST"]

MEDIA_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MEDIA_CONFIG = "application/vnd.oci.image.config.v1+json"
MEDIA_LAYER = "application/vnd.oci.image.layer.v1.tar"

CHANGE_INSTRUCTIONS = ("CMD", "ENTRYPOINT", "ENV", "EXPOSE", "LABEL",
                       "STOPSIGNAL", "USER", "VOLUME", "WORKDIR")

_ARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64",
         "arm64": "arm64", "i386": "386", "i686": "386", "armv7l": "arm",
         "armv6l": "arm", "ppc64le": "ppc64le", "s390x": "s390x",
         "riscv64": "riscv64", "mips64": "mips64"}


def host_architecture() -> str:
    """The OCI/Go name of this machine's architecture (x86_64 -> amd64)."""
    import platform
    machine = platform.machine().lower()
    return _ARCH.get(machine, machine)


def now_rfc3339() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def history_entry(created: str, created_by: str = "", comment: str = "",
                  empty_layer: bool = False) -> dict:
    entry = {"created": created}
    if created_by:
        entry["created_by"] = created_by
    if comment:
        entry["comment"] = comment
    if empty_layer:
        entry["empty_layer"] = True
    return entry


def new_config(diff_ids: list[str], container_config: dict, created: str,
               history: list[dict], author: str = "", comment: str = "") -> dict:
    config = {"architecture": host_architecture(), "os": "linux",
              "created": created, "config": container_config,
              "rootfs": {"type": "layers", "diff_ids": list(diff_ids)},
              "history": history}
    if author:
        config["author"] = author
    if comment:
        config["comment"] = comment
    return config


def config_bytes(config: dict) -> bytes:
    """Canonical bytes of a config: sorted keys, no spaces."""
    return json.dumps(config, sort_keys=True, separators=(",", ":")).encode()


def manifest_for(config_digest: str, config_size: int,
                 layers: list[tuple[str, int]]) -> dict:
    """The OCI manifest: uncompressed layer blobs, named by their diff ids."""
    return {"schemaVersion": 2, "mediaType": MEDIA_MANIFEST,
            "config": {"mediaType": MEDIA_CONFIG, "digest": config_digest,
                       "size": config_size},
            "layers": [{"mediaType": MEDIA_LAYER, "digest": digest, "size": size}
                       for digest, size in layers]}


# ---------------------------------------------------------------- changes

def apply_changes(container_config: dict, changes: list[str] | tuple = ()) -> dict:
    """Return a copy of ``container_config`` with each instruction applied.

    Each change is one Dockerfile line (``CMD ["sh"]``, ``ENV A=1 B=2``).
    An instruction outside ``CHANGE_INSTRUCTIONS`` or a malformed argument
    raises InvalidArgument naming the change; nothing is applied then.
    """
    result = copy.deepcopy(container_config)
    for change in changes:
        keyword, _, rest = change.strip().partition(" ")
        if "\t" in keyword:
            keyword, _, tail = keyword.partition("\t")
            rest = tail + " " + rest
        keyword = keyword.upper()
        rest = rest.strip()
        if keyword not in CHANGE_INSTRUCTIONS:
            shown = keyword or repr(change)
            raise InvalidArgument(
                f"{shown} is not a valid change command (accepted: "
                f"{', '.join(CHANGE_INSTRUCTIONS)})", change=change)
        if not rest:
            raise InvalidArgument(f"{keyword} requires at least one argument "
                                  f"(in change {change!r})", change=change)
        try:
            _APPLY[keyword](result, rest)
        except InvalidArgument as exc:
            raise InvalidArgument(f"{exc.message} (in change {change!r})",
                                  change=change) from None
    return result


def _json_or_shell(rest: str) -> list[str]:
    """Exec form (a JSON array of strings) or shell form (``sh -c``)."""
    if rest.startswith("["):
        try:
            value = json.loads(rest)
        except ValueError:
            value = None
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return value
    return ["/bin/sh", "-c", rest]


def _set_cmd(config: dict, rest: str) -> None:
    config["Cmd"] = _json_or_shell(rest)


def _set_entrypoint(config: dict, rest: str) -> None:
    config["Entrypoint"] = _json_or_shell(rest)
    # Docker resets CMD inherited from the base when ENTRYPOINT changes;
    # with import/commit there is no inherited CMD to protect, so keep it.


def _env_dict(config: dict) -> dict[str, str]:
    env = {}
    for item in config.get("Env") or ():
        key, _, value = item.partition("=")
        env[key] = value
    return env


def _pairs(rest: str, instruction: str, env: dict[str, str]) -> list[tuple[str, str]]:
    """``K=V K2="v 2"`` pairs, or the legacy ``K V`` single pair."""
    words = shell_words(rest, env)
    if words and "=" not in words[0]:
        key, _, value = rest.partition(" ")
        if not value.strip():
            raise InvalidArgument(f"{instruction} names {key!r} without a value")
        return [(expand(key, env), expand(value.strip(), env))]
    pairs = []
    for word in words:
        key, sep, value = word.partition("=")
        if not sep or not key:
            raise InvalidArgument(f"{instruction} argument {word!r} is not KEY=VALUE")
        pairs.append((key, value))
    return pairs


def _set_env(config: dict, rest: str) -> None:
    env = _env_dict(config)
    for key, value in _pairs(rest, "ENV", env):
        env[key] = value
    config["Env"] = [f"{k}={v}" for k, v in env.items()]


def _set_label(config: dict, rest: str) -> None:
    labels = dict(config.get("Labels") or {})
    for key, value in _pairs(rest, "LABEL", _env_dict(config)):
        labels[key] = value
    config["Labels"] = labels


_PORT = re.compile(r"(\d{1,5})(?:-(\d{1,5}))?(?:/(tcp|udp|sctp))?\Z", re.I)


def _set_expose(config: dict, rest: str) -> None:
    ports = dict(config.get("ExposedPorts") or {})
    for word in shell_words(rest, _env_dict(config)):
        match = _PORT.match(word)
        if not match:
            raise InvalidArgument(f"invalid port {word!r} for EXPOSE: "
                                  "expected PORT[-PORT][/tcp|udp|sctp]")
        low = int(match.group(1))
        high = int(match.group(2) or low)
        proto = (match.group(3) or "tcp").lower()
        if not 0 < low <= high <= 65535:
            raise InvalidArgument(f"invalid port range {word!r} for EXPOSE")
        for port in range(low, high + 1):
            ports[f"{port}/{proto}"] = {}
    config["ExposedPorts"] = ports


def _set_volume(config: dict, rest: str) -> None:
    volumes = dict(config.get("Volumes") or {})
    if rest.startswith("["):
        try:
            paths = json.loads(rest)
        except ValueError as exc:
            raise InvalidArgument(f"VOLUME JSON array is malformed: {exc}") from None
        if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
            raise InvalidArgument("VOLUME JSON form must be an array of strings")
    else:
        paths = shell_words(rest, _env_dict(config))
    for path in paths:
        if not path.strip():
            raise InvalidArgument("VOLUME specified can not be an empty string")
        volumes[path] = {}
    config["Volumes"] = volumes


def _set_workdir(config: dict, rest: str) -> None:
    import posixpath
    path = expand(rest, _env_dict(config))
    base = config.get("WorkingDir") or "/"
    config["WorkingDir"] = posixpath.normpath(posixpath.join(base, path))


def _set_user(config: dict, rest: str) -> None:
    config["User"] = expand(rest, _env_dict(config))


_SIGNALS = {"HUP", "INT", "QUIT", "ILL", "TRAP", "ABRT", "BUS", "FPE", "KILL",
            "USR1", "SEGV", "USR2", "PIPE", "ALRM", "TERM", "STKFLT", "CHLD",
            "CONT", "STOP", "TSTP", "TTIN", "TTOU", "URG", "XCPU", "XFSZ",
            "VTALRM", "PROF", "WINCH", "IO", "PWR", "SYS"}


def _set_stopsignal(config: dict, rest: str) -> None:
    signal = expand(rest, _env_dict(config)).strip()
    name = signal.upper().removeprefix("SIG")
    rt = re.fullmatch(r"RTM(IN|AX)([+-]\d+)?", name)
    if not (signal.isdigit() and 0 < int(signal) < 65) and name not in _SIGNALS and not rt:
        raise InvalidArgument(f"invalid signal {signal!r} for STOPSIGNAL")
    config["StopSignal"] = signal


_APPLY = {"CMD": _set_cmd, "ENTRYPOINT": _set_entrypoint, "ENV": _set_env,
          "EXPOSE": _set_expose, "LABEL": _set_label, "STOPSIGNAL": _set_stopsignal,
          "USER": _set_user, "VOLUME": _set_volume, "WORKDIR": _set_workdir}


# ------------------------------------------------------- words & expansion

_VAR = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)(?:(:[-+])([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))")


def expand(text: str, env: dict[str, str]) -> str:
    """``$VAR``, ``${VAR}``, ``${VAR:-default}``, ``${VAR:+alt}``; ``\\$`` is a
    literal dollar sign."""
    out, i = [], 0
    while i < len(text):
        if text[i] == "\\" and text[i + 1:i + 2] == "$":
            out.append("$")
            i += 2
            continue
        match = _VAR.match(text, i) if text[i] == "$" else None
        if not match:
            out.append(text[i])
            i += 1
            continue
        name = match.group(1) or match.group(4)
        value = env.get(name, "")
        if match.group(2) == ":-" and not value:
            value = match.group(3)
        elif match.group(2) == ":+":
            value = match.group(3) if value else ""
        out.append(value)
        i = match.end()
    return "".join(out)


def shell_words(text: str, env: dict[str, str] | None = None) -> list[str]:
    """Split like the Dockerfile parser: whitespace separates words, "..."
    and '...' quote, backslash escapes; variables expand outside '...'."""
    env = env or {}
    words: list[str] = []
    word: list[str] = []
    in_word = False
    i = 0
    while i < len(text):
        ch = text[i]
        if ch.isspace():
            if in_word:
                words.append("".join(word))
                word, in_word = [], False
            i += 1
            continue
        in_word = True
        if ch == "'":
            end = text.find("'", i + 1)
            if end < 0:
                raise InvalidArgument(f"unmatched single quote in {text!r}")
            word.append(text[i + 1:end])
            i = end + 1
        elif ch == '"':
            i = _double_quoted(text, i + 1, word, env)
        elif ch == "\\" and i + 1 < len(text):
            word.append(text[i + 1])
            i += 2
        elif ch == "$":
            match = _VAR.match(text, i)
            end = match.end() if match else i + 1
            word.append(expand(text[i:end], env))
            i = end
        else:
            word.append(ch)
            i += 1
    if in_word:
        words.append("".join(word))
    return words


def _double_quoted(text: str, i: int, word: list[str], env: dict[str, str]) -> int:
    start = i
    while i < len(text):
        ch = text[i]
        if ch == '"':
            return i + 1
        if ch == "\\" and i + 1 < len(text) and text[i + 1] in '"\\$':
            word.append(text[i + 1])
            i += 2
        elif ch == "$":
            match = _VAR.match(text, i)
            end = match.end() if match else i + 1
            word.append(expand(text[i:end], env))
            i = end
        else:
            word.append(ch)
            i += 1
    raise InvalidArgument(f"unmatched double quote in {text[start - 1:]!r}")
