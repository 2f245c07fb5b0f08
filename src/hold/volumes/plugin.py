"""Docker volume plugins (the legacy plugin protocol), client side.

A plugin is a process that answers JSON over HTTP, found by name in the
plugin directories (first match wins)::

    /run/docker/plugins/   /etc/docker/plugins/   /usr/lib/docker/plugins/
    <runroot>/plugins/     (hold's own, e.g. /run/hold/plugins)

      NAME.sock  or  NAME/NAME.sock   a unix socket (.sock only in /run/...
                                      and <runroot>/plugins, as Docker)
      NAME.spec                       one line: unix:///path or tcp://host:port
      NAME.json                       {"Name": ..., "Addr": "unix://" | "tcp://"
                                      | "http://"}; TLS is not supported

Protocol (POST, ``Accept: application/vnd.docker.plugins.v1.2+json``)::

    /Plugin.Activate            -> {"Implements": ["VolumeDriver", ...]}
    /VolumeDriver.Create        {"Name", "Opts"}            -> {"Err"}
    /VolumeDriver.Remove        {"Name"}                    -> {"Err"}
    /VolumeDriver.Mount         {"Name", "ID"}              -> {"Mountpoint", "Err"}
    /VolumeDriver.Unmount       {"Name", "ID"}              -> {"Err"}
    /VolumeDriver.Path          {"Name"}                    -> {"Mountpoint", "Err"}
    /VolumeDriver.Get           {"Name"}                    -> {"Volume": {...}, "Err"}
    /VolumeDriver.List          {}                          -> {"Volumes": [...], "Err"}
    /VolumeDriver.Capabilities  {}                          -> {"Capabilities": {"Scope"}}

Activation is lazy: the first call a process makes to a plugin activates
it.  Each call has a timeout (longer for Create/Mount/Unmount/Remove, which
do real work; 2 s for Capabilities, which ``volume ls`` asks for its SCOPE
column and which falls back to "local"); refused or missing sockets are retried briefly (a plugin
being restarted), a timeout is not.  A plugin that fails to answer is
marked down for the rest of the process, so one dead plugin costs one
timeout, never one per volume; nothing that does not use its volumes talks
to it (``volume ls`` reads hold's own records).  ``{"Err": "..."}`` becomes
``VolumeNotFound`` when it says the volume does not exist, otherwise
``SystemError_`` (``InvalidArgument`` for a refused Create) naming the
plugin.  The mount id is the container id: unique per mount, as Docker's.
"""

from __future__ import annotations

import errno as E
import json
import os
import re
import time
import urllib.parse
from typing import Mapping

from hold.errors import InvalidArgument, SystemError_, Unsupported, VolumeNotFound
from hold.volumes.driver import Capabilities, DriverVolume

__all__ = ["PluginDriver", "find_plugin", "plugin_factory", "PLUGIN_DIRS", "masked_options"]

PLUGIN_DIRS = ("/run/docker/plugins", "/etc/docker/plugins", "/usr/lib/docker/plugins")
MEDIA_TYPE = "application/vnd.docker.plugins.v1.2+json"
QUICK, SLOW = 10.0, 120.0               # seconds: lookups / real work
CAPS_TIMEOUT = 2.0                      # Capabilities (volume ls): scope "local" after
_RETRY_ERRNOS = (E.ECONNREFUSED, E.ENOENT, E.EAGAIN)
_NOT_FOUND_WORDS = ("not found", "no such volume", "doesn't exist", "does not exist",
                    "not exist", "unknown volume")
_DOWN: dict[str, str] = {}              # address -> why, for this process
_ACTIVE: set[str] = set()


_SECRET_KEY = re.compile(r"(pass|secret|key|token|credential|sas)", re.IGNORECASE)
_NOT_SECRET = re.compile(r"(-file|_file|key-id|key_id|keyid)$", re.IGNORECASE)


def masked_options(options: Mapping[str, str]) -> dict[str, str]:
    """Options as ``volume inspect`` shows them: a value whose key names a
    secret (password, secret, key, token, ...) is ``********``.  Plugins
    take their secrets as plain options; hold cannot know which they are,
    so it errs on the side of hiding (a ``*-file`` option or a key id is
    shown)."""
    return {k: ("********" if _SECRET_KEY.search(k) and not _NOT_SECRET.search(k) and v
                else v) for k, v in options.items()}


def _dirs(paths) -> list[str]:
    extra = os.environ.get("HOLD_PLUGIN_DIRS", "")
    own = [os.path.join(paths.runroot, "plugins")] if paths is not None else []
    return [d for d in extra.split(":") if d] + list(PLUGIN_DIRS) + own


def find_plugin(name: str, paths=None) -> str:
    """The address (``unix:///...``, ``tcp://...``) of plugin ``name``, or ""."""
    if not name or "/" in name or name.startswith("."):
        return ""
    for directory in _dirs(paths):
        for sock in (os.path.join(directory, name + ".sock"),
                     os.path.join(directory, name, name + ".sock")):
            if os.path.exists(sock) and not directory.startswith(("/etc/", "/usr/")):
                return "unix://" + sock
        spec = os.path.join(directory, name + ".spec")
        if os.path.isfile(spec):
            with open(spec) as f:
                return f.read().strip()
        manifest = os.path.join(directory, name + ".json")
        if os.path.isfile(manifest):
            try:
                with open(manifest) as f:
                    document = json.load(f)
            except ValueError as exc:
                raise InvalidArgument(f"plugin {name}: {manifest} is not JSON: {exc}") from exc
            if document.get("TLSConfig") and not document["TLSConfig"].get("InsecureSkipVerify"):
                raise Unsupported(f"plugin {name}: TLS plugins are not supported ({manifest})")
            return document.get("Addr", "")
    return ""


def plugin_factory(name: str, paths):
    """A factory for ``open_driver`` when ``name`` is a plugin, else None."""
    address = find_plugin(name, paths)
    if not address:
        return None
    return lambda paths: PluginDriver(name, address)


class PluginDriver:
    """A volume driver answered by a plugin process; see the module docstring."""

    def __init__(self, name: str, address: str):
        self.name = name
        self.address = address
        self._caps: Capabilities | None = None

    # -- transport -----------------------------------------------------------------

    def _post(self, method: str, body: dict, timeout: float) -> dict:
        from hold.volumes.remote._unixhttp import UnixHTTPConnection
        import http.client
        url = urllib.parse.urlsplit(self.address)
        if url.scheme == "unix":
            conn = UnixHTTPConnection(url.path, timeout=timeout)
        elif url.scheme in ("tcp", "http"):
            conn = http.client.HTTPConnection(url.hostname, url.port or 80, timeout=timeout)
        else:
            raise Unsupported(f"plugin {self.name}: address {self.address!r} is not "
                              "unix://, tcp:// or http://")
        try:
            conn.request("POST", "/" + method, body=json.dumps(body).encode(),
                         headers={"Content-Type": MEDIA_TYPE, "Accept": MEDIA_TYPE})
            response = conn.getresponse()
            raw = response.read()
        finally:
            conn.close()
        try:
            answer = json.loads(raw or b"{}")
        except ValueError:
            answer = {"Err": raw.decode(errors="replace").strip()
                      or f"HTTP {response.status}"}
        if response.status >= 400 and not (isinstance(answer, dict) and answer.get("Err")):
            answer = {"Err": f"HTTP {response.status}"}
        return answer if isinstance(answer, dict) else {"Err": "not a JSON object"}

    def _call(self, method: str, body: dict, *, timeout: float = QUICK,
              attempts: int = 3) -> dict:
        if self.address in _DOWN:
            raise SystemError_(f"volume plugin {self.name} is not answering "
                               f"({_DOWN[self.address]})", plugin=self.name)
        for attempt in range(attempts):
            try:
                return self._post(method, body, timeout)
            except OSError as exc:
                retry = getattr(exc, "errno", None) in _RETRY_ERRNOS
                if retry and attempt + 1 < attempts:
                    time.sleep(0.2 * 2 ** attempt)
                    continue
                why = exc.strerror or str(exc) or type(exc).__name__
                if isinstance(exc, TimeoutError):
                    why = f"no answer to {method} within {timeout:.0f}s"
                _DOWN[self.address] = why
                raise SystemError_(f"volume plugin {self.name} at {self.address}: {why}",
                                   errno=getattr(exc, "errno", None),
                                   plugin=self.name) from exc
        raise AssertionError("unreachable")

    def _activate(self, timeout: float = QUICK) -> None:
        if self.address in _ACTIVE:
            return
        answer = self._call("Plugin.Activate", {}, timeout=timeout,
                            attempts=3 if timeout >= QUICK else 1)
        if "VolumeDriver" not in (answer.get("Implements") or []):
            raise InvalidArgument(f"plugin {self.name} does not implement VolumeDriver "
                                  f"(it implements {answer.get('Implements')})")
        _ACTIVE.add(self.address)

    def _volume_call(self, method: str, name: str, body: dict | None = None,
                     timeout: float = QUICK) -> dict:
        self._activate()
        answer = self._call("VolumeDriver." + method, {"Name": name, **(body or {})},
                            timeout=timeout, attempts=1 if timeout == SLOW else 3)
        err = answer.get("Err") or ""
        if err:
            if any(word in err.lower() for word in _NOT_FOUND_WORDS):
                raise VolumeNotFound(name)
            if method == "Create":
                raise InvalidArgument(f"create {name}: volume plugin {self.name} refused: "
                                      f"{err}", plugin=self.name)
            raise SystemError_(f"{method.lower()} {name}: volume plugin {self.name}: {err}",
                               plugin=self.name)
        return answer

    # -- the driver interface ----------------------------------------------------------

    def capabilities(self) -> Capabilities:
        if self._caps is None:     # asked by `volume ls`: never wait long for it
            try:
                self._activate(timeout=CAPS_TIMEOUT)
                answer = self._call("VolumeDriver.Capabilities", {}, timeout=CAPS_TIMEOUT,
                                    attempts=1)
                scope = (answer.get("Capabilities") or {}).get("Scope") or "local"
            except SystemError_:
                scope = "local"
            self._caps = Capabilities(scope=scope if scope in ("local", "global") else "local")
        return self._caps

    def create(self, name: str, options: Mapping[str, str]) -> None:
        self._volume_call("Create", name, {"Opts": dict(options)}, timeout=SLOW)

    def remove(self, name: str) -> None:
        self._volume_call("Remove", name, timeout=SLOW)

    def mount(self, name: str, mount_id: str) -> str:
        answer = self._volume_call("Mount", name, {"ID": mount_id}, timeout=SLOW)
        mountpoint = answer.get("Mountpoint") or ""
        if not mountpoint or not os.path.isdir(mountpoint):
            raise SystemError_(f"mount {name}: volume plugin {self.name} answered mountpoint "
                               f"{mountpoint!r}, which is no directory on this host",
                               plugin=self.name)
        return mountpoint

    def unmount(self, name: str, mount_id: str) -> None:
        self._volume_call("Unmount", name, {"ID": mount_id}, timeout=SLOW)

    def path(self, name: str) -> str:
        return self._volume_call("Path", name).get("Mountpoint") or ""

    def get(self, name: str) -> DriverVolume:
        volume = self._volume_call("Get", name).get("Volume") or {}
        if not volume:
            raise VolumeNotFound(name)
        return _driver_volume(volume)

    def list(self) -> list[DriverVolume]:
        self._activate()
        answer = self._call("VolumeDriver.List", {})
        if answer.get("Err"):
            raise SystemError_(f"list: volume plugin {self.name}: {answer['Err']}",
                               plugin=self.name)
        return [_driver_volume(v) for v in answer.get("Volumes") or ()]


def _driver_volume(volume: dict) -> DriverVolume:
    return DriverVolume(name=volume.get("Name", ""), mountpoint=volume.get("Mountpoint", ""),
                        status=volume.get("Status") or {}, created_at=volume.get("CreatedAt", ""))
