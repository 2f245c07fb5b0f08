"""Fixtures for hold's tests and for our users' tests.

``busybox_rootfs_tar`` makes a small real root filesystem from Debian's
busybox-static, ``temporary_paths`` a throw-away data root and runtime root.
Like trio.testing, these ship in the package so users can test against hold
the way we do.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import tempfile

from hold.store.paths import Paths

__all__ = ["BUSYBOX", "HoldCLI", "busybox_rootfs_tar", "leftovers", "temporary_paths"]

BUSYBOX = "/bin/busybox"


def busybox_rootfs_tar(dest: str) -> str:
    """Write a busybox root filesystem tarball to ``dest`` and return it.

    The tree has /bin with every applet linked, /etc/passwd and /etc/group
    with root and nobody, and empty /tmp /proc /sys /dev mountpoints.
    """
    if not os.path.exists(BUSYBOX):
        raise RuntimeError(f"{BUSYBOX} missing: apt-get install busybox-static")
    with tempfile.TemporaryDirectory(prefix="hold-busybox-") as tmp:
        root = os.path.join(tmp, "root")
        for d in ("bin", "etc", "tmp", "proc", "sys", "dev", "root", "home", "var"):
            os.makedirs(os.path.join(root, d))
        os.chmod(os.path.join(root, "tmp"), 0o1777)
        shutil.copy2(BUSYBOX, os.path.join(root, "bin", "busybox"))
        applets = subprocess.run([BUSYBOX, "--list"], capture_output=True,
                                 text=True, check=True).stdout.split()
        for applet in applets:
            link = os.path.join(root, "bin", applet)
            if not os.path.exists(link):
                os.symlink("busybox", link)
        with open(os.path.join(root, "etc", "passwd"), "w") as f:
            f.write("root:x:0:0:root:/root:/bin/sh\n"
                    "nobody:x:65534:65534:nobody:/home:/bin/false\n")
        with open(os.path.join(root, "etc", "group"), "w") as f:
            f.write("root:x:0:\nnogroup:x:65534:\n")
        with tarfile.open(dest, "w") as tar:
            for name in sorted(os.listdir(root)):
                tar.add(os.path.join(root, name), arcname=name)
    return dest


def temporary_paths(base: str | None = None) -> Paths:
    """A fresh data root and runtime root under ``base`` (a temp dir)."""
    base = base or tempfile.mkdtemp(prefix="hold-test-")
    return Paths(os.path.join(base, "root"), os.path.join(base, "run"))


class HoldCLI:
    """Runs the real ``hold`` command against one data root, as a user would.

    ``cli("run", "--rm", "bb", "true")`` returns a CompletedProcess with
    text stdout/stderr; ``check=True`` raises with both streams shown.
    ``cleanup()`` force-removes every container so nothing keeps running.
    """

    def __init__(self, paths: Paths):
        self.paths = paths
        self.base = [sys.executable, "-m", "hold.cli.main", "--root", paths.root,
                     "--runroot", paths.runroot]

    def __call__(self, *args: str, input: str | None = None, check: bool = False,
                 timeout: float = 120, env: dict | None = None) -> subprocess.CompletedProcess:
        result = subprocess.run(self.base + list(args), input=input, capture_output=True,
                                text=True, timeout=timeout,
                                stdin=None if input is not None else subprocess.DEVNULL,
                                env=env)
        if check and result.returncode != 0:
            raise AssertionError(f"hold {' '.join(args)} exited {result.returncode}\n"
                                 f"stdout: {result.stdout}\nstderr: {result.stderr}")
        return result

    def ok(self, *args: str, **kw) -> str:
        """Run, require exit 0, return stdout."""
        return self(*args, check=True, **kw).stdout

    def cleanup(self) -> None:
        """Remove every container, then every network and its bridge, and
        drop every `hold storage map` mapping (they mount outside the root)."""
        ids = self("ps", "-aq", "--no-trunc").stdout.split()
        if ids:
            self("rm", "-f", *ids)
        mapped = self("storage", "ls", "-q").stdout.split()
        if mapped:
            self("storage", "unmap", "-f", *mapped)
        for name in self("network", "ls", "--format", "{{.Name}}").stdout.split():
            if name not in ("bridge", "host", "none"):
                self("network", "rm", name)
        for bridge in _bridges_of(self.paths):
            subprocess.run(["ip", "link", "del", bridge], capture_output=True)
        _stop_resolvers(self.paths)


def _mapped_paths(paths: Paths) -> list[str]:
    """Host paths of the `hold storage map` mappings recorded in this root."""
    from hold.volumes.remote.mapping import MappingService
    try:
        return [m.path for m in MappingService(paths).list()]
    except Exception:   # noqa: BLE001 - a root too broken to list has none to report
        return []


def _bridges_of(paths: Paths) -> list[str]:
    """Bridges of the networks recorded in this data root."""
    import json
    import sqlite3
    if not os.path.exists(paths.db):
        return []
    db = sqlite3.connect(paths.db)
    try:
        rows = db.execute("SELECT config FROM networks").fetchall()
    except sqlite3.Error:
        rows = []
    finally:
        db.close()
    return [json.loads(r[0])["Bridge"] for r in rows
            if os.path.exists(f"/sys/class/net/{json.loads(r[0])['Bridge']}")]


def _resolver_pids(paths: Paths) -> list[int]:
    from hold.networks.dns import resolver_pid
    base = os.path.join(paths.runroot, "networks")
    pids = (resolver_pid(paths.runroot, net) for net in
            (os.listdir(base) if os.path.isdir(base) else ()))
    return [pid for pid in pids if pid]


def _stop_resolvers(paths: Paths) -> None:
    import signal
    import time
    pids = _resolver_pids(paths)
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.time() + 3
    while _resolver_pids(paths) and time.time() < deadline:
        time.sleep(0.05)


def _cgroups_of(paths: Paths) -> list[str]:
    """Container cgroups under this data root's own parent cgroup (see
    ``runtime.cgroups.parent_for_root``: a test root's parent is its own,
    so this never sees a concurrent test's containers)."""
    from hold.runtime import cgroups
    host = cgroups.detect()
    parent = cgroups.parent_for_root(paths.root)
    found = []
    for point in sorted(set(host.hierarchies.values())):
        try:
            found += [e.path for e in os.scandir(os.path.join(point, parent)) if e.is_dir()]
        except FileNotFoundError:
            continue
    return found


def leftovers(paths: Paths, networks: bool = True) -> list[str]:
    """Mounts, monitor processes, container dirs and cgroups that outlived
    their containers: what a test must never leave behind."""
    found = []
    roots = (paths.root.rstrip("/") + "/", paths.runroot.rstrip("/") + "/")
    mapped = tuple(_mapped_paths(paths))
    with open("/proc/self/mountinfo") as f:
        for line in f:
            point = line.split()[4]
            if point.startswith(roots):
                found.append(f"mount {point}")
            elif point in mapped:
                found.append(f"storage mapping {point}")
    if networks:     # after cleanup: not even the default bridge may remain
        found += [f"bridge {b}" for b in _bridges_of(paths)]
        found += [f"resolver {pid}" for pid in _resolver_pids(paths)]
    found += [f"cgroup {path}" for path in _cgroups_of(paths)]
    run_containers = os.path.join(paths.runroot, "containers")
    if os.path.isdir(run_containers):
        for cid in os.listdir(run_containers):
            pidfile = os.path.join(run_containers, cid, "monitor.pid")
            try:
                with open(pidfile) as f:
                    pid = int(f.read())
                os.kill(pid, 0)
                with open(f"/proc/{pid}/stat") as f:
                    if f.read().rsplit(")", 1)[1].split()[0] != "Z":
                        found.append(f"monitor {pid} of {cid[:12]}")
            except (OSError, ValueError):
                pass
    return found
