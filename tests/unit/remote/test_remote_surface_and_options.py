"""The remote package's public surface, and option parsing of the sshfs
and s3 drivers and plugin discovery (no servers, no root)."""

from __future__ import annotations

import importlib
import json
import os
import socket
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from hold.errors import InvalidArgument, SystemError_, VolumeNotFound


@pytest.mark.parametrize("module", ["hold.volumes.plugin", "hold.volumes.remote",
                                    "hold.volumes.remote.smbshare", "hold.volumes.remote.smb",
                                    "hold.volumes.remote.sshfs", "hold.volumes.remote.s3",
                                    "hold.volumes.remote.mapping",
                                    "hold.volumes.remote.testing",
                                    "hold.volumes.remote._fuse", "hold.volumes.remote._rclone",
                                    "hold.volumes.remote._driver"])
def test_public_surface_exists(module):
    mod = importlib.import_module(module)
    assert mod.__all__, module
    for name in mod.__all__:
        assert hasattr(mod, name), f"{module}.{name}"


def test_builtin_remote_drivers_are_registered():
    from hold.volumes.driver import driver_names
    assert {"local", "smb", "sshfs", "s3"} <= set(driver_names())


def test_sshcmd_parsing():
    from hold.volumes.remote.sshfs import parse_sshcmd
    assert parse_sshcmd("alice@files.example:/srv/vols/") == ("alice", "files.example",
                                                               "/srv/vols")
    assert parse_sshcmd("bob@[::1]:data") == ("bob", "::1", "data")
    for bad in ("files:/x", "alice@files", "alice@files:/a,b"):
        with pytest.raises(InvalidArgument, match="USER@HOST"):
            parse_sshcmd(bad)


def test_sshfs_and_s3_options_name_what_is_accepted():
    from hold.volumes.remote.s3 import _validate as s3_validate
    from hold.volumes.remote.sshfs import _validate as ssh_validate
    with pytest.raises(InvalidArgument, match="accepts: sshcmd"):
        ssh_validate({"sshcmd": "a@b:/c", "identity-file": "/k", "colour": "x"})
    with pytest.raises(InvalidArgument, match="identity-file"):
        ssh_validate({"sshcmd": "a@b:/c", "password": "x"})
    with pytest.raises(InvalidArgument, match="accepts: bucket"):
        s3_validate({"bucket": "data", "colour": "x"})
    with pytest.raises(InvalidArgument, match="go together"):
        s3_validate({"bucket": "data", "access-key-id": "AK"})
    s3_validate({"bucket": "data/some/prefix", "endpoint": "http://127.0.0.1:9000"})


def test_plugin_discovery_by_socket_spec_and_json(tmp_path, monkeypatch):
    from hold.volumes.plugin import find_plugin
    monkeypatch.setenv("HOLD_PLUGIN_DIRS", str(tmp_path))
    (tmp_path / "sock1.sock").touch()
    (tmp_path / "nested").mkdir()
    (tmp_path / "nested" / "nested.sock").touch()
    (tmp_path / "spec1.spec").write_text("tcp://127.0.0.1:9\n")
    (tmp_path / "json1.json").write_text(json.dumps({"Name": "json1",
                                                     "Addr": "unix:///x.sock"}))
    assert find_plugin("sock1") == f"unix://{tmp_path}/sock1.sock"
    assert find_plugin("nested") == f"unix://{tmp_path}/nested/nested.sock"
    assert find_plugin("spec1") == "tcp://127.0.0.1:9"
    assert find_plugin("json1") == "unix:///x.sock"
    assert find_plugin("none") == "" and find_plugin("../etc") == ""


class _Plugin(BaseHTTPRequestHandler):
    answers = {
        "/Plugin.Activate": {"Implements": ["VolumeDriver"]},
        "/VolumeDriver.Get": {"Err": "volume not found"},
        "/VolumeDriver.Path": {"Err": "disk on fire"},
        "/VolumeDriver.Create": {"Err": 'unknown option "x"'},
        "/VolumeDriver.Capabilities": {"Capabilities": {"Scope": "global"}},
        "/VolumeDriver.List": {"Volumes": [{"Name": "a", "Mountpoint": "/m"}]},
    }

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        body = json.dumps(self.answers.get(self.path, {"Err": "no"})).encode()
        self.send_response(500 if b"Err" in body else 200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_plugin_errors_become_our_kinds():
    from hold.volumes.plugin import PluginDriver
    server = HTTPServer(("127.0.0.1", 0), _Plugin)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        driver = PluginDriver("fake", f"tcp://127.0.0.1:{server.server_port}")
        assert driver.capabilities().scope == "global"
        assert [v.name for v in driver.list()] == ["a"]
        with pytest.raises(VolumeNotFound):
            driver.get("missing")
        with pytest.raises(SystemError_, match="plugin fake: disk on fire"):
            driver.path("x")
        with pytest.raises(InvalidArgument, match='refused: unknown option "x"'):
            driver.create("v", {"x": "1"})
    finally:
        server.shutdown()
        server.server_close()


def test_unreachable_plugin_is_a_clear_error_and_marked_down(tmp_path):
    from hold.volumes.plugin import PluginDriver
    path = str(tmp_path / "gone.sock")
    s = socket.socket(socket.AF_UNIX)
    s.bind(path)
    s.close()                           # a socket file nobody listens on
    driver = PluginDriver("gone", "unix://" + path)
    with pytest.raises(SystemError_, match="gone"):
        driver.get("v")
    with pytest.raises(SystemError_, match="not answering"):
        driver.get("v")
    assert driver.capabilities().scope == "local"
    os.unlink(path)
