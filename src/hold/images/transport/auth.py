"""Registry credentials, kept the way docker keeps them.

The file is ``$HOLD_CONFIG/auth.json`` when ``HOLD_CONFIG`` is set (a
directory, as ``DOCKER_CONFIG`` is), else ``~/.config/hold/auth.json``.
Its shape is docker's ``config.json``::

    {"auths": {"127.0.0.1:5000": {"auth": "<base64 of user:password>"}}}

so a docker config can be copied over as it is.  It is written atomically
with mode 0600; nothing else in it is touched.  Keys are registry hosts
(``host[:port]``); ``https://``, a trailing ``/`` or ``/v1/``/``/v2/`` path
on a key are ignored when looking up, and ``docker.io`` also finds docker's
``https://index.docker.io/v1/`` key.
"""

from __future__ import annotations

import base64
import json
import os

from hold.errors import InvalidArgument, SystemError_

__all__ = ["AuthFile", "normalise_server"]


def normalise_server(server: str) -> str:
    """``https://reg:5000/v2/`` -> ``reg:5000``; docker hub's names -> docker.io."""
    host = server.strip()
    for prefix in ("https://", "http://"):
        host = host.removeprefix(prefix)
    host = host.split("/", 1)[0]
    if host in ("index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"):
        return "docker.io"
    if not host:
        raise InvalidArgument(f"invalid registry address {server!r}: expected HOST[:PORT]")
    return host


class AuthFile:
    def __init__(self, path: str | None = None):
        if path is None:
            base = os.environ.get("HOLD_CONFIG") or os.path.join(
                os.path.expanduser("~"), ".config", "hold")
            path = os.path.join(base, "auth.json")
        self.path = path

    def _read(self) -> dict:
        try:
            with open(self.path, "rb") as f:
                data = json.load(f)
        except FileNotFoundError:
            return {}
        except (ValueError, UnicodeDecodeError) as exc:
            raise InvalidArgument(f"{self.path} is not valid JSON: {exc}; fix or "
                                  "remove it") from None
        except OSError as exc:
            raise SystemError_(f"reading {self.path}: {exc.strerror}",
                               errno=exc.errno) from exc
        if not isinstance(data, dict):
            raise InvalidArgument(f"{self.path} must hold a JSON object")
        return data

    def _write(self, data: dict) -> None:
        from hold.store import atomic_write
        try:
            os.makedirs(os.path.dirname(self.path), mode=0o700, exist_ok=True)
            atomic_write(self.path, json.dumps(data, indent="\t").encode() + b"\n")
            os.chmod(self.path, 0o600)
        except OSError as exc:
            raise SystemError_(f"writing {self.path}: {exc.strerror}",
                               errno=exc.errno) from exc

    def get(self, server: str) -> tuple[str, str] | None:
        """``(username, password)`` stored for ``server``, or None."""
        wanted = normalise_server(server)
        for key, entry in (self._read().get("auths") or {}).items():
            if not isinstance(entry, dict):
                continue
            try:
                if normalise_server(key) != wanted:
                    continue
            except InvalidArgument:
                continue
            if entry.get("auth"):
                try:
                    user, sep, password = base64.b64decode(entry["auth"]).decode().partition(":")
                except (ValueError, UnicodeDecodeError):
                    raise InvalidArgument(f"{self.path}: the auth of {key!r} is not "
                                          "base64 of user:password") from None
                if sep:
                    return user, password
            if entry.get("username") and entry.get("password"):
                return entry["username"], entry["password"]
        return None

    def store(self, server: str, username: str, password: str) -> None:
        data = self._read()
        auths = data.setdefault("auths", {})
        key = normalise_server(server)
        for old in [k for k in auths if _same(k, key)]:
            del auths[old]
        token = base64.b64encode(f"{username}:{password}".encode()).decode()
        auths[key] = {"auth": token}
        self._write(data)

    def remove(self, server: str) -> bool:
        """Forget ``server``'s credentials; False when there were none."""
        data = self._read()
        auths = data.get("auths") or {}
        key = normalise_server(server)
        doomed = [k for k in auths if _same(k, key)]
        for old in doomed:
            del auths[old]
        if doomed:
            self._write(data)
        return bool(doomed)


def _same(key: str, host: str) -> bool:
    try:
        return normalise_server(key) == host
    except InvalidArgument:
        return False
