"""Real peers for the transport tests: a Docker engine on a private socket
(module-scoped) and Debian's docker-registry on a free loopback port.

Both are torn down completely: their processes ended by pid (found by the
private base directory in their command lines: only what this fixture
started names it), dockerd's overlay and shm mounts unmounted, and the base
directory removed only once /proc/self/mountinfo shows nothing under it.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time

import pytest


def mounts_under(path: str) -> list[str]:
    prefix = os.path.realpath(path).rstrip("/") + "/"
    found = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            target = line.split()[4].encode().decode("unicode_escape")
            if (target + "/").startswith(prefix):
                found.append(target)
    return found


def unmount_all_under(path: str) -> None:
    for _ in range(5):
        targets = sorted(set(mounts_under(path)), key=len, reverse=True)
        if not targets:
            return
        for target in targets:
            if subprocess.run(["umount", target], capture_output=True).returncode:
                subprocess.run(["umount", "-l", target], capture_output=True)


def pids_naming(text: str) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                if text.encode() in f.read():
                    pids.append(int(entry))
        except OSError:
            pass
    return pids


def end_processes(pids: list[int], grace: float = 10.0) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and any(os.path.exists(f"/proc/{p}") for p in pids):
            time.sleep(0.05)
        pids = [p for p in pids if os.path.exists(f"/proc/{p}")]
        if not pids:
            return


def remove_base(base: str) -> None:
    """Unmount, then remove ``base``; refuses while anything is mounted."""
    unmount_all_under(base)
    left = mounts_under(base)
    if left:
        raise RuntimeError(f"not removing {base}: still mounted: {left}")
    shutil.rmtree(base, ignore_errors=True)


class Dockerd:
    """dockerd 20.10 with no bridge and no iptables, on private roots."""

    def __init__(self):
        # short: containerd's socket path must stay under 108 bytes
        self.base = tempfile.mkdtemp(prefix="hdk-", dir="/tmp")
        self.socket = os.path.join(self.base, "docker.sock")
        self.env = dict(os.environ, DOCKER_HOST=f"unix://{self.socket}",
                        DOCKER_BUILDKIT="0", DOCKER_CONFIG=os.path.join(self.base, "cli"))
        self.daemon: subprocess.Popen | None = None

    def start(self) -> None:
        from hold.testing.dockerd import launch_dockerd
        self.daemon, env = launch_dockerd(self.base)
        self.env.update(DOCKER_HOST=env["DOCKER_HOST"])

    def __call__(self, args: list[str], check: bool = True, input: bytes | None = None,
                 timeout: float = 180) -> subprocess.CompletedProcess:
        proc = subprocess.run(["docker", *args], env=self.env, capture_output=True,
                              input=input, timeout=timeout,
                              stdin=None if input is not None else subprocess.DEVNULL)
        if check and proc.returncode != 0:
            raise AssertionError(f"docker {' '.join(args)} exited {proc.returncode}: "
                                 f"{proc.stderr.decode(errors='replace')}")
        return proc

    def stop(self) -> None:
        if self.daemon is not None and self.daemon.poll() is None:
            ids = self(["ps", "-aq"], check=False).stdout.split()
            if ids:
                self(["rm", "-f", *[i.decode() for i in ids]], check=False)
            self.daemon.terminate()
            try:
                self.daemon.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.daemon.kill()
                self.daemon.wait()
        end_processes(pids_naming(self.base))
        remove_base(self.base)


@pytest.fixture(scope="module")
def docker(busybox_tar):
    """A running dockerd with busybox imported as dbb:latest."""
    if shutil.which("dockerd") is None or shutil.which("docker") is None:
        pytest.skip("docker.io is not installed (.ci/install-transport.sh installs it)")
    engine = Dockerd()
    try:
        engine.start()
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
        engine.stop()
        pytest.skip(f"dockerd cannot start here: {exc}")
    try:
        engine(["import", busybox_tar, "dbb:latest"])
        yield engine
    finally:
        engine.stop()


# ---------------------------------------------------------------- registry

def free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Registry:
    """docker-registry (distribution 2.8) on 127.0.0.1:<free port>, storage
    and config in a temporary directory.  ``auth``: None, "htpasswd" (user
    ``tester``, password ``s3cret``) or "token" (a token server in this
    process issues ES256 JWTs for the same user)."""

    USER, PASSWORD = "tester", "s3cret"

    def __init__(self, auth: str | None = None):
        self.base = tempfile.mkdtemp(prefix="hreg-", dir="/tmp")
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.auth = auth
        self.process: subprocess.Popen | None = None
        self.token_server = None

    def _auth_config(self) -> str:
        if self.auth == "htpasswd":
            path = os.path.join(self.base, "htpasswd")
            line = subprocess.run(["htpasswd", "-nbB", self.USER, self.PASSWORD],
                                  capture_output=True, text=True, check=True).stdout
            with open(path, "w") as f:
                f.write(line.strip() + "\n")
            return f"auth:\n  htpasswd:\n    realm: hold-test\n    path: {path}\n"
        if self.auth == "token":
            TokenServer = _token_server_class()
            self.token_server = TokenServer(self.base, self.USER, self.PASSWORD)
            return ("auth:\n  token:\n"
                    f"    realm: http://127.0.0.1:{self.token_server.port}/token\n"
                    f"    service: {TokenServer.SERVICE}\n"
                    f"    issuer: {TokenServer.ISSUER}\n"
                    f"    rootcertbundle: {self.token_server.cert_path}\n")
        return ""

    def start(self) -> None:
        config = os.path.join(self.base, "config.yml")
        with open(config, "w") as f:
            f.write("version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n"
                    f"storage:\n  filesystem:\n    rootdirectory: {self.base}/data\n"
                    "  delete:\n    enabled: true\n"
                    f"http:\n  addr: {self.host}\n  secret: hold-test-secret\n"
                    + self._auth_config())
        log = open(os.path.join(self.base, "registry.log"), "w")
        self.process = subprocess.Popen(["docker-registry", "serve", config], stdout=log,
                                        stderr=log, stdin=subprocess.DEVNULL,
                                        start_new_session=True)
        log.close()
        import urllib.error
        import urllib.request
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"docker-registry exited {self.process.returncode}: "
                                   f"{open(os.path.join(self.base, 'registry.log')).read()[-500:]}")
            try:
                urllib.request.urlopen(f"http://{self.host}/v2/", timeout=2)
                return
            except urllib.error.HTTPError:
                return                      # 401: it answers
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("docker-registry did not answer within 30 s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.token_server is not None:
            self.token_server.close()
        remove_base(self.base)


def _token_server_class():
    """token_server.py beside this file (tests import in importlib mode)."""
    import importlib.util
    import sys
    name = "hold_transport_token_server"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            name, os.path.join(os.path.dirname(__file__), "token_server.py"))
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name].TokenServer


def start_registry(auth: str | None = None) -> Registry:
    if shutil.which("docker-registry") is None:
        pytest.skip("docker-registry is not installed (.ci/install-transport.sh installs it)")
    if auth == "htpasswd" and shutil.which("htpasswd") is None:
        pytest.skip("htpasswd (apache2-utils) is not installed")
    registry = Registry(auth)
    try:
        registry.start()
    except BaseException:
        registry.stop()
        raise
    return registry


@pytest.fixture(scope="module")
def registry():
    registry = start_registry()
    yield registry
    registry.stop()


@pytest.fixture(scope="module")
def basic_registry():
    registry = start_registry("htpasswd")
    yield registry
    registry.stop()


@pytest.fixture(scope="module")
def token_registry():
    try:
        import cryptography  # noqa: F401
    except ImportError:
        pytest.skip("the token server needs the cryptography module")
    registry = start_registry("token")
    yield registry
    registry.stop()


@pytest.fixture
def hold_config(tmp_path, monkeypatch):
    """HOLD_CONFIG for this test: where `hold login` keeps credentials."""
    path = tmp_path / "config"
    monkeypatch.setenv("HOLD_CONFIG", str(path))
    return path
