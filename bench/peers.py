"""Docker, Podman and hold side by side, each on private roots under one
temporary directory, for benchmarks and behaviour checks.

    with Peers() as peers:                 # base dir, busybox tarball
        engine = peers.start("docker")     # or "podman", "hold"
        engine.run_rm(["true"])            # run --rm --network none IMG true
        engine.run_detached("idle-1", ["sleep", "3600"])
        engine.remove(["idle-1"])
        engine.create_network("benchnet")  # user-defined bridge; removed by stop()
        engine.run_on_network("srv", "benchnet", ["sleep", "3600"])
        engine.ip_on("benchnet", "srv"); engine.exec_in("srv", ["true"])
    # every daemon stopped, every mount under the base unmounted, base gone

Lifecycle of an engine: ``start()`` (a daemon for Docker; nothing for the
daemonless ones) -> ``import_image(tar)`` -> runs -> ``stop()``.  ``stop``
is safe to call twice and after a failed start; it ends the engine's
processes (found by the base path in their command lines), unmounts what
the engine left mounted under its directory (dockerd leaves overlay and
shm mounts) and removes the directory.

How each engine is run here (see shared/PEERS.md): Docker 20.10 with no
bridge and no iptables, so containers use ``--network none``; Podman 4.3
with ``--runtime runc`` (crun fails on hybrid cgroups) and a private
containers.conf with ``default_ulimits = []``; hold through its console
script beside ``sys.executable`` (the pyenv shim costs ~50 ms of bash).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

__all__ = ["Peers", "Engine", "DockerEngine", "PodmanEngine", "HoldEngine",
           "ensure_installed", "unmount_under", "kill_under"]

PACKAGES = ["docker.io", "podman", "runc", "busybox-static"]
IMAGE_TAG = "bb:latest"


class EngineError(RuntimeError):
    """An engine could not be started or did not do what was asked."""


def ensure_installed() -> None:
    """apt-get install the peers when one is missing (needs root)."""
    wanted = {"dockerd": "docker.io", "docker": "docker.io", "podman": "podman",
              "runc": "runc"}
    missing = {pkg for tool, pkg in wanted.items() if shutil.which(tool) is None}
    if not os.path.exists("/bin/busybox"):
        missing.add("busybox-static")
    if not missing:
        return
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-q"], check=True, env=env,
                   stdout=subprocess.DEVNULL)
    subprocess.run(["apt-get", "install", "-y", "-q", *PACKAGES], check=True,
                   env=env, stdout=subprocess.DEVNULL)


def _mounts_under(path: str) -> list[str]:
    path = os.path.realpath(path).rstrip("/") + "/"
    found = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            target = line.split()[4].encode().decode("unicode_escape")
            if (target + "/").startswith(path):
                found.append(target)
    return found


def unmount_under(path: str) -> list[str]:
    """Unmount everything mounted at or below ``path``, deepest first."""
    done = []
    for _ in range(5):
        targets = sorted(set(_mounts_under(path)), key=len, reverse=True)
        if not targets:
            break
        for target in targets:
            if subprocess.run(["umount", target], capture_output=True).returncode:
                subprocess.run(["umount", "-l", target], capture_output=True)
            done.append(target)
    return done


def _pids_mentioning(text: str) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read()
        except OSError:
            continue
        if text.encode() in cmdline:
            pids.append(int(entry))
    return pids


def kill_under(path: str, grace: float = 5.0) -> list[int]:
    """SIGTERM, then SIGKILL, every process whose command line names ``path``."""
    pids = _pids_mentioning(path)
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
            break
    return pids


class Engine:
    """One engine on its own directory; subclasses say how to call it."""

    name = "engine"
    image = IMAGE_TAG

    def __init__(self, base: str):
        self.base = os.path.join(base, self.name)
        os.makedirs(self.base, exist_ok=True)
        self.env = dict(os.environ)
        self.networks: list[str] = []       # made by create_network, removed by stop
        self.bridges: list[str] = []        # their host bridges, deleted if left over

    # -- what subclasses define
    def cli(self) -> list[str]:
        raise NotImplementedError

    def run_flags(self) -> list[str]:
        return ["--network", "none"]

    def start(self) -> None:
        """Nothing to start for a daemonless engine."""

    # -- shared behaviour
    def call(self, args: list[str], *, check: bool = True, timeout: float = 120):
        proc = subprocess.run(self.cli() + args, env=self.env, capture_output=True,
                              text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise EngineError(f"{self.name} {' '.join(args[:3])}... exited "
                              f"{proc.returncode}: {proc.stderr.strip()[-500:]}")
        return proc

    def import_image(self, tarball: str) -> None:
        self.call(["import", tarball, self.image])

    def run_rm_argv(self, command: list[str]) -> list[str]:
        return self.cli() + ["run", "--rm", *self.run_flags(), self.image, *command]

    def run_rm(self, command: list[str]) -> str:
        proc = subprocess.run(self.run_rm_argv(command), env=self.env,
                              capture_output=True, text=True, timeout=120)
        if proc.returncode != 0:
            raise EngineError(f"{self.name} run --rm exited {proc.returncode}: "
                              f"{proc.stderr.strip()[-500:]}")
        return proc.stdout

    def run_detached(self, name: str, command: list[str]) -> None:
        self.call(["run", "-d", *self.run_flags(), "--name", name, self.image, *command])

    def remove(self, names: list[str]) -> None:
        for start in range(0, len(names), 25):
            self.call(["rm", "-f", *names[start:start + 25]], check=False, timeout=300)

    # -- user-defined networks (net_bench.py)
    def create_network(self, network: str) -> str:
        """``network create NETWORK`` (a bridge); returns the host bridge's name."""
        self.networks.append(network)
        self.call(["network", "create", network])
        bridge = self.bridge_of(network)
        self.bridges.append(bridge)
        return bridge

    def network_json(self, network: str) -> dict:
        import json
        return json.loads(self.call(["network", "inspect", network]).stdout)[0]

    def bridge_of(self, network: str) -> str:
        """The host interface of a bridge network: hold and Docker both name
        it in the options (Docker only when asked for), else br-<id12>."""
        info = self.network_json(network)
        return ((info.get("Options") or {}).get("com.docker.network.bridge.name")
                or "br-" + info["Id"][:12])

    def ip_on(self, network: str, container: str) -> str:
        """The IPv4 address ``container`` has on ``network`` (from network inspect)."""
        for entry in (self.network_json(network).get("Containers") or {}).values():
            if entry.get("Name") == container and entry.get("IPv4Address"):
                return entry["IPv4Address"].split("/")[0]
        raise EngineError(f"{self.name}: {container} has no address on {network}")

    def run_on_network(self, name: str, network: str, command: list[str]) -> None:
        """``run -d --network NETWORK --name NAME IMG COMMAND...``."""
        self.call(["run", "-d", "--network", network, "--name", name, self.image, *command])

    def exec_in(self, name: str, command: list[str], timeout: float = 120):
        """``exec NAME COMMAND...``; the CompletedProcess (text), checked."""
        return self.call(["exec", name, *command], timeout=timeout)

    def remove_networks(self) -> None:
        """Remove every container, then the networks create_network made, then
        any of their bridges still on the host.  Never raises."""
        if not self.networks and not self.bridges:
            return
        try:
            names = self.call(["ps", "-a", "-q"], check=False, timeout=60).stdout.split()
            if names:
                self.remove(names)
            for network in self.networks:
                self.call(["network", "rm", network], check=False, timeout=60)
        except (OSError, subprocess.SubprocessError):
            pass
        for bridge in self.bridges:
            if os.path.exists(f"/sys/class/net/{bridge}"):
                subprocess.run(["ip", "link", "del", bridge], capture_output=True)
        self.networks.clear()
        self.bridges.clear()

    def stop(self) -> None:
        self.remove_networks()
        kill_under(self.base)
        unmount_under(self.base)
        shutil.rmtree(self.base, ignore_errors=True)


class DockerEngine(Engine):
    """dockerd 20.10 on a private socket, data root and exec root."""

    name = "docker"

    def __init__(self, base: str):
        super().__init__(base)
        self.socket = os.path.join(self.base, "docker.sock")
        self.env["DOCKER_HOST"] = f"unix://{self.socket}"
        self.daemon: subprocess.Popen | None = None

    def cli(self) -> list[str]:
        return ["docker"]

    def start(self) -> None:
        from hold.testing.dockerd import launch_dockerd
        try:
            self.daemon, env = launch_dockerd(self.base)
        except RuntimeError as exc:
            raise EngineError(str(exc)) from exc
        self.env["DOCKER_HOST"] = env["DOCKER_HOST"]

    def stop(self) -> None:
        if self.daemon is not None and self.daemon.poll() is None:
            self.remove_networks()      # while dockerd can still answer
            self.daemon.terminate()
            try:
                self.daemon.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.daemon.kill()
                self.daemon.wait()
        super().stop()


class PodmanEngine(Engine):
    """podman 4.3 with runc, cgroupfs and file events, on private roots."""

    name = "podman"
    image = f"localhost/{IMAGE_TAG}"

    def __init__(self, base: str):
        super().__init__(base)
        conf = os.path.join(self.base, "containers.conf")
        with open(conf, "w") as f:
            f.write("[containers]\ndefault_ulimits = []\n\n"
                    "[engine]\nevents_logger = \"file\"\ncgroup_manager = \"cgroupfs\"\n")
        self.env["CONTAINERS_CONF"] = conf

    def cli(self) -> list[str]:
        return ["podman", "--root", os.path.join(self.base, "root"),
                "--runroot", os.path.join(self.base, "run"),
                "--tmpdir", os.path.join(self.base, "tmp"),
                "--storage-driver", "overlay", "--runtime", "runc"]

    def stop(self) -> None:
        if os.path.isdir(os.path.join(self.base, "root")):
            self.call(["rm", "-a", "-f", "-t", "0"], check=False, timeout=300)
        super().stop()


class HoldEngine(Engine):
    """hold's documented CLI, through the console script (no pyenv shim)."""

    name = "hold"

    def __init__(self, base: str):
        super().__init__(base)
        self.executable = os.path.join(os.path.dirname(sys.executable), "hold")
        # Start-up time is what is measured: let Python keep its bytecode.
        self.env.pop("PYTHONDONTWRITEBYTECODE", None)

    def cli(self) -> list[str]:
        return [self.executable, "--root", os.path.join(self.base, "root"),
                "--runroot", os.path.join(self.base, "run")]

    def start(self) -> None:
        if not os.access(self.executable, os.X_OK):
            raise EngineError(f"no hold console script at {self.executable}")

    def stop(self) -> None:
        if os.path.isdir(os.path.join(self.base, "root")):
            names = self.call(["ps", "-a", "-q"], check=False).stdout.split()
            if names:
                self.remove(names)
        super().stop()


ENGINES = {"docker": DockerEngine, "podman": PodmanEngine, "hold": HoldEngine}


class Peers:
    """A temporary base directory with a busybox tarball; engines under it."""

    def __init__(self):
        self.base = ""
        self.tarball = ""
        self.engines: list[Engine] = []

    def __enter__(self) -> "Peers":
        ensure_installed()
        sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "src"))
        from hold.testing import busybox_rootfs_tar
        # Short path: containerd's sockets live under it (108-byte limit).
        self.base = tempfile.mkdtemp(prefix="hb-", dir="/tmp")
        self.tarball = busybox_rootfs_tar(os.path.join(self.base, "busybox.tar"))
        return self

    def start(self, name: str) -> Engine:
        """Start engine ``name`` and import the busybox image into it."""
        engine = ENGINES[name](self.base)
        self.engines.append(engine)
        engine.start()
        engine.import_image(self.tarball)
        return engine

    def stop(self, engine: Engine) -> None:
        engine.stop()
        if engine in self.engines:
            self.engines.remove(engine)

    def __exit__(self, *exc) -> None:
        if not self.base:       # __enter__ failed early: nothing of ours to end
            return
        for engine in reversed(self.engines):
            engine.stop()
        self.engines.clear()
        kill_under(self.base)
        unmount_under(self.base)
        shutil.rmtree(self.base, ignore_errors=True)


def main() -> int:
    """Smoke check: start each engine, run echo, stop it."""
    names = sys.argv[1:] or ["docker", "podman", "hold"]
    status = 0
    with Peers() as peers:
        for name in names:
            try:
                engine = peers.start(name)
                print(f"{name}: {engine.run_rm(['echo', 'hi']).strip()}")
            except (EngineError, OSError, subprocess.SubprocessError) as exc:
                print(f"{name}: skipped: {exc}")
                status = 1
            finally:
                for engine in list(peers.engines):
                    peers.stop(engine)
    return status


if __name__ == "__main__":
    sys.exit(main())
