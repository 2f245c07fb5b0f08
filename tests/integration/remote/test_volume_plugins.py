"""Docker volume plugins through hold: the interop test against a real
third-party plugin (``rclone serve docker``) backed by a real S3 server
(moto), the shared driver suite through the plugin protocol, and what a
dead or hung plugin does (fails its own volumes, clearly and quickly;
nothing else)."""

from __future__ import annotations

import http.server
import json
import os
import socket
import socketserver
import threading
import time

import pytest

from hold.errors import InvalidArgument, SystemError_, VolumeNotFound
from hold.volumes.conformance import DriverConformance
from hold.volumes.plugin import PluginDriver, find_plugin
from hold.volumes.remote.testing import RclonePlugin


def s3_options(s3) -> dict:
    """Without a VFS cache: a file is uploaded as it is closed."""
    return {"type": "s3", "s3-provider": "Other", "s3-endpoint": s3.endpoint,
            "s3-access-key-id": s3.access_key, "s3-secret-access-key": s3.secret_key}


@pytest.fixture
def plugin(tmp_path):
    with RclonePlugin(str(tmp_path), str(tmp_path / "plugins")) as running:
        yield running


class _OneDirectoryPerVolume(PluginDriver):
    """As a user does with rclone's plugin: ``-o path=BUCKET/NAME``."""

    def create(self, name, options):
        super().create(name, {**options, "path": f"hold/{name}"})


class TestRclonePlugin(DriverConformance):
    @pytest.fixture
    def driver(self, plugin, s3):
        self.options = s3_options(s3)
        driver = _OneDirectoryPerVolume("rclone", "unix://" + plugin.socket)
        yield driver
        for volume in driver.list():
            driver.remove(volume.name)

    def test_remove_deletes_data(self, driver):
        """rclone's plugin forgets a removed volume but keeps the data on
        the remote (its documented behaviour; hold passes Remove through)."""
        driver.create("vol-d", self.options)
        driver.remove("vol-d")
        assert "vol-d" not in [v.name for v in driver.list()]
        with pytest.raises(VolumeNotFound):
            driver.get("vol-d")

    def test_unknown_option_is_invalid_argument_naming_accepted(self, driver):
        """The plugin, not hold, knows its options: its refusal is shown."""
        with pytest.raises(InvalidArgument) as err:
            driver.create("vol-e", {**self.options, "no-such-option": "1"})
        assert "no-such-option" in str(err.value) and "rclone" in str(err.value)
        assert "vol-e" not in [v.name for v in driver.list()]


def test_discovery_in_the_runroot_plugins_dir(hold, tmp_path):
    plugins = os.path.join(hold.paths.runroot, "plugins")
    os.makedirs(plugins)
    with open(os.path.join(plugins, "viaspec.spec"), "w") as f:
        f.write("tcp://127.0.0.1:1\n")
    with open(os.path.join(plugins, "viajson.json"), "w") as f:
        f.write('{"Name": "viajson", "Addr": "unix:///nowhere.sock"}')
    assert find_plugin("viaspec", hold.paths) == "tcp://127.0.0.1:1"
    assert find_plugin("viajson", hold.paths) == "unix:///nowhere.sock"
    assert find_plugin("absent", hold.paths) == ""
    r = hold("volume", "create", "-d", "absent", "xy")
    assert r.returncode != 0 and "plugin" in r.stderr and "not found" in r.stderr


def test_containers_use_an_s3_volume_through_rclones_plugin(bb, s3):
    workdir = os.path.join(bb.paths.runroot, "rclone-plugin")
    os.makedirs(workdir)
    with RclonePlugin(workdir, os.path.join(bb.paths.runroot, "plugins")):
        opts = [x for k, v in {**s3_options(s3), "path": "hold/cli"}.items()
                for x in ("-o", f"{k}={v}")]
        assert bb("volume", "create", "-d", "rclone", *opts, "objects").returncode == 0
        bb.ok("run", "--rm", "--network", "none", "-v", "objects:/data", "bb",
              "sh", "-c", "echo in-a-bucket > /data/greeting")
        out = bb.ok("run", "--rm", "--network", "none", "-v", "objects:/data", "bb",
                    "cat", "/data/greeting")
        assert out == "in-a-bucket\n"
        deadline = time.monotonic() + 20
        while True:
            try:
                body = s3.client().get_object(Bucket="hold", Key="cli/greeting")["Body"]
                break
            except Exception:               # noqa: BLE001 - not uploaded yet
                assert time.monotonic() < deadline, "the object never reached S3"
                time.sleep(0.3)
        assert body.read() == b"in-a-bucket\n"
        inspect = bb.ok("volume", "inspect", "objects")
        assert '"Driver": "rclone"' in inspect
        bb.ok("volume", "rm", "objects")


def test_dead_plugin_fails_its_volumes_only_and_quickly(bb, s3):
    workdir = os.path.join(bb.paths.runroot, "rclone-plugin")
    os.makedirs(workdir)
    plugin = RclonePlugin(workdir, os.path.join(bb.paths.runroot, "plugins")).start()
    try:
        opts = [x for k, v in {**s3_options(s3), "path": "hold/dead"}.items()
                for x in ("-o", f"{k}={v}")]
        bb.ok("volume", "create", "-d", "rclone", *opts, "orphaned")
    finally:
        plugin.stop()
    # the socket file stays, with nobody listening: as after a plugin crash
    dead = socket.socket(socket.AF_UNIX)
    dead.bind(plugin.socket)
    dead.close()
    started = time.monotonic()
    assert "orphaned" in bb.ok("volume", "ls")
    r = bb("run", "--rm", "--network", "none", "-v", "orphaned:/data", "bb", "true")
    assert r.returncode != 0 and "plugin rclone" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert bb.ok("run", "--rm", "--network", "none", "bb", "echo", "fine") == "fine\n"
    assert time.monotonic() - started < 30
    r = bb("volume", "rm", "orphaned")      # the record goes; the plugin's failure is told
    assert r.returncode != 0 and "plugin rclone" in r.stderr
    assert "orphaned" not in bb.ok("volume", "ls")
    os.unlink(plugin.socket)


def test_hung_plugin_times_out_with_a_clear_error(tmp_path):
    path = str(tmp_path / "hung.sock")
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(path)
    listener.listen(8)                  # accepts at the kernel level, never answers
    try:
        driver = PluginDriver("hung", "unix://" + path)
        import hold.volumes.plugin as plugin_module
        started = time.monotonic()
        with pytest.raises(SystemError_) as err:
            driver.get("anything")
        assert "hung" in str(err.value) and "no answer" in str(err.value)
        assert time.monotonic() - started < plugin_module.QUICK + 5
        started = time.monotonic()
        with pytest.raises(SystemError_, match="not answering"):
            driver.path("other")        # marked down: no second wait
        assert time.monotonic() - started < 1
    finally:
        listener.close()


def test_rclones_plugin_with_azurite_and_its_key_never_shown(bb, azurite):
    workdir = os.path.join(bb.paths.runroot, "rclone-plugin")
    os.makedirs(workdir)
    with RclonePlugin(workdir, os.path.join(bb.paths.runroot, "plugins")):
        azurite.rclone("mkdir", ":azureblob:plugged")
        options = {"type": "azureblob", "azureblob-account": azurite.account,
                   "azureblob-key": azurite.key, "azureblob-endpoint": azurite.endpoint,
                   "path": "plugged/vol"}
        opts = [x for k, v in options.items() for x in ("--opt", f"{k}={v}")]
        bb.ok("volume", "create", "--driver", "rclone", *opts, "azplug")
        bb.ok("run", "--rm", "--network", "none", "-v", "azplug:/data", "bb",
              "sh", "-c", "echo via-plugin > /data/f")
        deadline = time.monotonic() + 20
        while True:
            try:
                got = azurite.rclone("cat", ":azureblob:plugged/vol/f")
                break
            except Exception:               # noqa: BLE001 - not uploaded yet
                assert time.monotonic() < deadline, "the blob never reached Azurite"
                time.sleep(0.3)
        assert got == "via-plugin\n"
        inspect = bb.ok("volume", "inspect", "azplug")
        assert azurite.key not in inspect and '"azureblob-key": "********"' in inspect
        bb.ok("volume", "rm", "azplug")


class _SwitchablePlugin(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    """A minimal volume plugin on a unix socket that can be made to hang."""

    daemon_threads = True
    hang = False


class _Handler(http.server.BaseHTTPRequestHandler):
    def address_string(self):
        return "plugin-client"

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.server.hang:
            time.sleep(60)
            return
        answers = {"/Plugin.Activate": {"Implements": ["VolumeDriver"]},
                   "/VolumeDriver.Capabilities": {"Capabilities": {"Scope": "local"}}}
        body = json.dumps(answers.get(self.path, {})).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_hung_plugin_never_holds_up_volume_ls(hold):
    plugins = os.path.join(hold.paths.runroot, "plugins")
    os.makedirs(plugins)
    server = _SwitchablePlugin(os.path.join(plugins, "sleepy.sock"), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        hold.ok("volume", "create", "-d", "sleepy", "drowsy")
        server.hang = True
        started = time.monotonic()
        listing = hold.ok("volume", "ls")
        assert "drowsy" in listing and "sleepy" in listing
        assert time.monotonic() - started < 8
        r = hold("volume", "inspect", "drowsy")          # one timeout, then marked down
        assert r.returncode == 0 and '"Mountpoint": ""' in r.stdout
        assert time.monotonic() - started < 30
    finally:
        server.hang = False
        server.shutdown()
        server.server_close()
