"""The container service: create, start, stop, kill, remove, find, list.

A container is a record (``containers`` table: config and state JSON) plus
a directory ``<root>/containers/<id>/`` holding its writable layer
(``upper/``, ``work/``), its init layer (``init/``: the mountpoints and the
/etc files hold generates, kept out of ``hold diff`` as Docker's ``-init``
layer is) and its json-file log.  Running is the monitor's business
(``hold.runtime.monitor``); this service builds the ``RuntimeSpec`` and
asks the monitor to start, and sends signals to stop.
"""

from __future__ import annotations

import json
import os
import signal
import time
from dataclasses import dataclass

from hold.containers import state as states
from hold.containers.names import random_name, validate
from hold.errors import (Conflict, ContainerNotFound, ContainerNotRunning,
                         ContainerRunning, HoldError, InvalidArgument, NameInUse)
from hold.store import Paths, Store

INIT_BINARIES = ("/usr/bin/tini-static", "/usr/bin/docker-init", "/sbin/tini")


@dataclass
class Container:
    id: str
    name: str
    image_id: str
    image_ref: str
    config: dict
    state: dict
    created: str

    @property
    def running(self) -> bool:
        return bool(self.state.get("Running"))

    @property
    def short_id(self) -> str:
        return self.id[:12]

    @classmethod
    def from_row(cls, row) -> "Container":
        return cls(row["id"], row["name"], row["image_id"], row["image_ref"],
                   json.loads(row["config"]), json.loads(row["state"]), row["created"])


class ContainerService:
    def __init__(self, store: Store, paths: Paths, images, networks=None):
        self.store = store
        self.paths = paths
        self.images = images
        self._networks = networks

    @property
    def networks(self):
        if self._networks is None:
            from hold.networks.service import NetworkService
            self._networks = NetworkService(self.store, self.paths)
        return self._networks

    @property
    def cgroup_parent(self) -> str:
        """The parent cgroup of this data root's containers (runtime.cgroups)."""
        from hold.runtime.cgroups import parent_for_root
        return parent_for_root(self.paths.root)

    def cgroup(self, container: Container):
        """The container's ContainerCgroup (it exists while the container runs)."""
        from hold.runtime import cgroups
        return cgroups.ContainerCgroup(container.id, cgroups.detect(), self.cgroup_parent)

    # -- lookup ---------------------------------------------------------------

    def get(self, ref: str) -> Container:
        """By full id, name (with or without '/'), or unique id prefix."""
        name = ref.lstrip("/")
        rows = self.store.query("SELECT * FROM containers WHERE id=? OR name=?", (ref, name))
        if not rows and ref and all(c in "0123456789abcdef" for c in ref):
            rows = self.store.query("SELECT * FROM containers WHERE id LIKE ?", (ref + "%",))
            if len(rows) > 1:
                raise InvalidArgument(f"multiple IDs found with provided prefix: {ref}")
        if not rows:
            raise ContainerNotFound(ref)
        return self._reconciled(Container.from_row(rows[0]))

    def list(self) -> list[Container]:
        rows = self.store.query("SELECT * FROM containers ORDER BY created DESC, rowid DESC")
        return [self._reconciled(Container.from_row(r)) for r in rows]

    def _reconciled(self, container: Container) -> Container:
        """A record that says running while its monitor is gone (killed -9,
        host reboot) is repaired here: the container is recorded as exited."""
        st = container.state
        if st.get("Running") and not _alive(st.get("MonitorPid", 0)) and not _alive(st.get("Pid", 0)):
            container.state = states.update(self.paths.db, container.id, {
                "Status": "exited", "Running": False, "Paused": False, "Pid": 0, "MonitorPid": 0,
                "ExitCode": st.get("ExitCode") or 137, "FinishedAt": _now()}) or st
        return container

    # -- create ---------------------------------------------------------------

    def create(self, image_ref: str, opts) -> Container:
        from hold.containers.config import build_config
        image = self.images.get(image_ref)
        config = build_config(opts, image.id, image_ref, image.config.get("config", {}))
        cid = os.urandom(32).hex()
        if opts.name is not None:
            name = validate(opts.name)
        else:
            name = random_name(lambda n: bool(self.store.query(
                "SELECT 1 FROM containers WHERE name=?", (n,))))
        if not config["Config"]["Hostname"]:
            config["Config"]["Hostname"] = cid[:12]
        networks = [(self.networks.get(name), endpoint)
                    for name, endpoint in config.get("Networks", {}).items()]
        config["Mounts"], new_volumes = self._resolve_mounts(opts, image.config.get("config", {}))
        self._prepare_dirs(cid, config)
        try:
            with self.store.transaction() as db:
                if not db.execute("SELECT 1 FROM images WHERE id=?", (image.id,)).fetchone():
                    from hold.errors import ImageNotFound
                    raise ImageNotFound(f"No such image: {image_ref} (removed meanwhile)")
                clash = db.execute("SELECT id FROM containers WHERE name=?", (name,)).fetchone()
                if clash:
                    raise NameInUse(
                        f'Conflict. The container name "/{name}" is already in use by '
                        f'container "{clash[0]}". You have to remove (or rename) that '
                        "container to be able to reuse that name.")
                db.execute("INSERT INTO containers (id, name, image_id, image_ref, config, "
                           "state, created) VALUES (?,?,?,?,?,?,?)",
                           (cid, name, image.id, image_ref, json.dumps(config),
                            json.dumps(states.initial_state()), _now()))
                if config["Mounts"]:
                    self.volumes.check_present(db, config["Mounts"])
                for net, endpoint in networks:
                    ipam_config = (endpoint or {}).get("IPAMConfig") or {}
                    self.networks.allocate(db, net, cid, ipam_config.get("IPv4Address"))
        except BaseException:
            from hold.store import remove_tree
            remove_tree(self.paths.container_dir(cid))
            if new_volumes:
                from hold.volumes.resolve import discard_created
                discard_created(self.volumes, new_volumes)
            raise
        return self.get(cid)

    def _prepare_dirs(self, cid: str, config: dict) -> None:
        base = self.paths.container_dir(cid)
        for sub in ("upper", "work", "init/etc", "init/dev", "init/proc", "init/sys"):
            os.makedirs(os.path.join(base, sub), exist_ok=True)
        for name in ("hosts", "hostname", "resolv.conf"):
            open(os.path.join(base, "init/etc", name), "a").close()
        os.symlink("/proc/mounts", os.path.join(base, "init/etc/mtab"))
        hostname = config["Config"]["Hostname"] or cid[:12]
        with open(os.path.join(base, "hostname"), "w") as f:
            f.write(hostname + "\n")
        with open(os.path.join(base, "hosts"), "w") as f:
            f.write("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
                    f"127.0.1.1\t{hostname}\n")
        with open(os.path.join(base, "resolv.conf"), "w") as f:
            f.write(_host_resolv_conf())

    # -- start ----------------------------------------------------------------

    def start(self, ref: str, *, attach: bool = False, pty=None):
        """Start a created or exited container; returns the monitor's Launch."""
        from hold.runtime.monitor import LaunchOptions, launch
        container = self.get(ref)
        if container.running:
            return None
        spec = self._runtime_spec(container)
        host = container.config["HostConfig"]
        cfg = container.config["Config"]
        options = LaunchOptions(
            container_id=container.id, db_path=self.paths.db, root=self.paths.root,
            runroot=self.paths.runroot,
            log_path=os.path.join(self.paths.container_dir(container.id), "json.log"),
            attach=attach, stdin_open=cfg["OpenStdin"], tty=cfg["Tty"],
            auto_remove=host["AutoRemove"], restart=host["RestartPolicy"]["Name"],
            restart_max=host["RestartPolicy"]["MaximumRetryCount"], pty=pty,
            cgroup=host.get("Limits") or {}, cgroup_parent=self.cgroup_parent)
        if spec.interfaces:
            self._before_start(spec)
        if spec.ports:
            states.update(self.paths.db, container.id, {"Ports": spec.ports})
        return launch(spec, options)

    def _runtime_spec(self, container: Container):
        from hold.runtime.spec import Process, RuntimeSpec, Security
        image = self.images.get(container.image_id)
        base = self.paths.container_dir(container.id)
        cfg, host = container.config["Config"], container.config["HostConfig"]
        layers = [os.path.join(base, "init")] + list(reversed(image.layer_dirs))
        security = host.get("Security") or {}
        init_binary = _find_init() if host.get("Init") else ""
        mounts = self._runtime_mounts(container, layers)
        interfaces = self.networks.endpoints(container.id) if container.config.get("Networks") else []
        _write_etc_files(base, cfg["Hostname"], interfaces, host)
        return RuntimeSpec(
            id=container.id, name=container.name, lowerdirs=layers,
            upperdir=os.path.join(base, "upper"), workdir=os.path.join(base, "work"),
            rootfs=os.path.join(self.paths.container_run_dir(container.id), "rootfs"),
            process=Process(args=(cfg.get("Entrypoint") or []) + (cfg.get("Cmd") or []),
                            env=cfg["Env"], cwd=cfg["WorkingDir"] or "/", user=cfg["User"],
                            tty=cfg["Tty"], init=bool(host.get("Init"))),
            hostname=cfg["Hostname"], mounts=mounts,
            security=Security(caps=host.get("Capabilities", []),
                              privileged=host.get("Privileged", False),
                              no_new_privs=_no_new_privs(host),
                              seccomp=security.get("seccomp", "default"),
                              seccomp_profile=security.get("seccomp_profile")),
            network="bridge" if interfaces else host["NetworkMode"],
            interfaces=interfaces, ports=self._ports(container, interfaces),
            init_binary=init_binary,
            etc_files={"/etc/hosts": os.path.join(base, "hosts"),
                       "/etc/hostname": os.path.join(base, "hostname"),
                       "/etc/resolv.conf": os.path.join(base, "resolv.conf")},
        )

    def _ports(self, container: Container, interfaces: list[dict]) -> list[dict]:
        """Published ports with a host port chosen now where none was given."""
        from hold.networks.ports import free_port
        bindings = container.config["HostConfig"].get("PortBindings") or {}
        if not interfaces or not bindings:
            return []
        result = []
        for key, hosts in sorted(bindings.items()):
            port, _, proto = key.partition("/")
            for binding in hosts:
                host_ip = binding.get("HostIp") or "0.0.0.0"
                host_port = int(binding.get("HostPort") or free_port(proto, host_ip))
                result.append({"proto": proto, "host_ip": host_ip, "host_port": host_port,
                               "container_port": int(port)})
        return result

    def _before_start(self, spec) -> None:
        """Resolvers for the user-defined networks this container joins."""
        from hold.networks import dns, kernel, nat
        for endpoint in spec.interfaces:
            kernel.create_bridge(endpoint["Bridge"], endpoint["Gateway"],
                                 endpoint["IPPrefixLen"], endpoint["MTU"], endpoint["NAT"])
            if endpoint["NAT"]:
                nat.enable(endpoint["Bridge"], endpoint["Subnet"])   # after a reboot
            if endpoint["DNS"]:
                dns.ensure_resolver(self.paths, endpoint["NetworkID"], endpoint["Gateway"])

    # -- mounts (hold.volumes) ---------------------------------------------------

    @property
    def volumes(self):
        from hold.volumes.service import VolumeService
        return VolumeService(self.store, self.paths)

    def _resolve_mounts(self, opts, image_config: dict) -> tuple[list[dict], list[str]]:
        """-v/--mount/--tmpfs/--volumes-from and the image's VOLUMEs ->
        (Mounts, volumes created for them); raises before anything exists."""
        if not (opts.volumes or opts.mounts or opts.tmpfs or opts.volumes_from
                or image_config.get("Volumes")):
            return [], []
        from hold.volumes import mountspec
        requests = ([mountspec.parse_volume(v) for v in opts.volumes]
                    + [mountspec.parse_mount(m) for m in opts.mounts]
                    + [mountspec.parse_tmpfs(t) for t in opts.tmpfs])
        return self.volumes.resolve_mounts(
            requests, volumes_from=opts.volumes_from,
            image_volumes=image_config.get("Volumes"), containers=self,
            allow_sensitive=opts.allow_sensitive_mounts)

    def _runtime_mounts(self, container: Container, layers: list[str]) -> list:
        """The runtime's mounts; volumes are mounted by their driver and
        filled by copy-up on the container's first start."""
        if not container.config.get("Mounts"):
            return []
        from hold.volumes.attach import runtime_mounts
        upper = os.path.join(self.paths.container_dir(container.id), "upper")
        first_start = container.state.get("StartedAt", states.ZERO_TIME) == states.ZERO_TIME
        try:
            return runtime_mounts(self.volumes, container.id, container.config["Mounts"],
                                  [upper] + layers, copy_up=first_start)
        except HoldError:
            if container.config["HostConfig"].get("AutoRemove"):
                self.remove(container.id, volumes=True)     # --rm: as if it had run
            raise

    # -- stop, kill, remove -----------------------------------------------------

    def stop(self, ref: str, timeout: int | None = None, signal_name: str | None = None) -> Container:
        from hold.containers.config import parse_signal
        container = self.get(ref)
        if not container.running:
            return container
        cfg = container.config["Config"]
        sig = parse_signal(signal_name or cfg.get("StopSignal") or "SIGTERM")
        if timeout is None:
            timeout = cfg.get("StopTimeout")
            timeout = 10 if timeout is None else timeout
        states.update(self.paths.db, container.id, {"ManuallyStopped": True})
        pid, monitor = container.state["Pid"], container.state["MonitorPid"]
        _signal(pid, sig)
        self._thaw_after_signal(container)
        if not _wait_gone(pid, timeout) and timeout >= 0:
            _signal(pid, signal.SIGKILL)
        _wait_gone(monitor, 30)
        return self.get(container.id)

    def kill(self, ref: str, signal_name: str = "KILL") -> Container:
        from hold.containers.config import parse_signal
        sig = parse_signal(signal_name)
        container = self.get(ref)
        if not container.running:
            raise ContainerNotRunning(f"Cannot kill container: {ref}: "
                                      f"Container {container.id} is not running")
        if sig in (signal.SIGKILL, signal.SIGTERM):
            states.update(self.paths.db, container.id, {"ManuallyStopped": True})
        _signal(container.state["Pid"], sig)
        if sig == signal.SIGKILL:
            self._thaw_after_signal(container)
            _wait_gone(container.state["MonitorPid"], 30)
        return container

    def remove(self, ref: str, force: bool = False, *, volumes: bool = False) -> Container:
        container = self.get(ref)
        if container.running:
            if not force:
                raise ContainerRunning(
                    f'cannot remove container "/{container.name}": container is running: '
                    "stop the container before removing or force remove")
            states.update(self.paths.db, container.id, {"ManuallyStopped": True})
            _signal(container.state["Pid"], signal.SIGKILL)
            self._thaw_after_signal(container)
            _wait_gone(container.state["MonitorPid"], 30)
            container = self.get(container.id) if self._exists(container.id) else container
        if container.state.get("MonitorPid") and _alive(container.state["MonitorPid"]):
            _wait_gone(container.state["MonitorPid"], 30)
        self._remove_stale_cgroup(container)
        _remove_stale_veths(container.id)
        states.remove_container(self.paths.db, container.id, self.paths.root,
                                self.paths.runroot, remove_volumes=volumes)
        return container

    def _thaw_after_signal(self, container: Container) -> None:
        if container.state.get("Paused"):
            from hold.containers.pause import thaw_after_signal
            thaw_after_signal(self, container)

    def _remove_stale_cgroup(self, container: Container) -> None:
        """A monitor killed with SIGKILL never removed its container's
        cgroup; the container is not running (its monitor is gone), so
        ``rm`` takes the cgroup with it, as it takes its files.  One that
        still holds processes is left for ``hold system check``."""
        try:
            group = self.cgroup(container)
            if group.exists() and not group.pids():
                group.remove(timeout=0.5)
        except HoldError:
            pass

    def _exists(self, cid: str) -> bool:
        return bool(self.store.query("SELECT 1 FROM containers WHERE id=?", (cid,)))

    def rename(self, ref: str, new_name: str) -> None:
        container = self.get(ref)
        new_name = validate(new_name)
        if new_name == container.name:
            raise InvalidArgument(f"Renaming a container with the same name as its current "
                                  f"name: {new_name}")
        with self.store.transaction() as db:
            clash = db.execute("SELECT id FROM containers WHERE name=?", (new_name,)).fetchone()
            if clash:
                raise Conflict(f'Error when allocating new name: Conflict. The container name '
                               f'"/{new_name}" is already in use by container "{clash[0]}". '
                               "You have to remove (or rename) that container to be able to "
                               "reuse that name.")
            db.execute("UPDATE containers SET name=? WHERE id=?", (new_name, container.id))

    def wait(self, ref: str) -> int:
        """Block until the container is not running; its exit code."""
        container = self.get(ref)
        while container.running or container.state.get("Restarting"):
            _wait_gone(container.state.get("MonitorPid", 0), 3600 * 24 * 365)
            if not self._exists(container.id):
                return container.state.get("ExitCode", 0)
            container = self.get(container.id)
        return container.state.get("ExitCode", 0)

    def log_path(self, container: Container) -> str:
        return os.path.join(self.paths.container_dir(container.id), "json.log")


def _write_etc_files(base: str, hostname: str, interfaces: list[dict], host: dict) -> None:
    """/etc/hosts, /etc/hostname and /etc/resolv.conf for this start.

    On a user-defined network the resolver is the network's gateway (hold's
    DNS server); on the default bridge, as in Docker, the host's own."""
    lines = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback"]
    if interfaces:
        lines.append(f"{interfaces[0]['IPAddress']}\t{hostname}")
    else:
        lines.append(f"127.0.1.1\t{hostname}")
    for entry in host.get("ExtraHosts") or ():
        name, _, ip = entry.partition(":")
        if ip == "host-gateway":
            ip = interfaces[0]["Gateway"] if interfaces else "127.0.0.1"
        lines.append(f"{ip}\t{name}")
    with open(os.path.join(base, "hosts"), "w") as f:
        f.write("\n".join(lines) + "\n")
    with open(os.path.join(base, "hostname"), "w") as f:
        f.write(hostname + "\n")
    dns_endpoint = next((e for e in interfaces if e["DNS"]), None)
    if dns_endpoint:
        resolv = f"nameserver {dns_endpoint['Gateway']}\noptions ndots:0\n"
    elif host.get("Dns"):
        resolv = "".join(f"nameserver {d}\n" for d in host["Dns"])
    else:
        resolv = _host_resolv_conf()
    with open(os.path.join(base, "resolv.conf"), "w") as f:
        f.write(resolv)


def _no_new_privs(host: dict) -> bool:
    """On unless the user said ``--security-opt no-new-privileges=false``
    (Docker's default is off; hold's is on, see docs/security.md)."""
    explicit = any(o.startswith("no-new-privileges") for o in host.get("SecurityOpt") or ())
    return bool(host["Security"]["no_new_privileges"]) if explicit else True


def _find_init() -> str:
    for path in INIT_BINARIES:
        if os.path.exists(path):
            return path
    from hold.errors import Unsupported
    raise Unsupported("--init needs tini on the host: apt-get install tini")


def _host_resolv_conf() -> str:
    try:
        with open("/etc/resolv.conf") as f:
            lines = [line for line in f if not line.startswith("nameserver 127.")]
    except OSError:
        lines = []
    return "".join(lines)


def _now() -> str:
    from hold.runtime._light import rfc3339_nano
    return rfc3339_nano()


def _alive(pid: int) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _signal(pid: int, sig: int) -> None:
    if pid:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def _wait_gone(pid: int, timeout: float) -> bool:
    """Wait until ``pid`` has exited (pidfd: no polling loop); True if gone."""
    if not _alive(pid):
        return True
    import select
    from hold.runtime.monitor import pidfd_open
    try:
        fd = pidfd_open(pid)
    except OSError:
        return not _alive(pid)
    try:
        deadline = time.monotonic() + max(timeout, 0)
        while True:
            remaining = deadline - time.monotonic()
            ready, _, _ = select.select([fd], [], [], max(0.0, min(remaining, 0.5)))
            if ready or not _alive(pid):
                return True
            if remaining <= 0:
                return False
    finally:
        os.close(fd)


def _remove_stale_veths(cid: str) -> None:
    """A monitor killed with SIGKILL never unplugged its container's veths,
    and the kernel keeps them while anything keeps the container's network
    namespace (kernel.unplug): ``rm`` takes them with the container."""
    from hold.networks import kernel
    kernel.unplug(kernel.host_veths(cid))
