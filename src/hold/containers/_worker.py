"""A short-lived process that stands inside a container's file system.

``hold cp`` never reads or writes a container's files from the host's view
of them.  It forks a **copy worker** whose root directory *is* the
container's root, and moves a tar stream between the worker and the CLI
over a pipe::

    hold cp (CLI, host view) <--tar over a pipe--> worker (container's root)
                              <--JSON lines------

- running container: the worker makes itself non-dumpable, then joins the
  container's mount namespace with setns (so it sees exactly the mounts the
  container sees: overlay, volumes, binds, tmpfs).  Non-dumpable first, as
  ``hold exec``'s joiner: no container process can open /proc/PID/exe of
  hold's interpreter; it is not even visible, as the worker stays out of
  the container's PID namespace.
- stopped (created, exited) container: the worker unshares a private mount
  namespace, makes every mount private (nothing propagates to the host),
  mounts the container's overlay (image layers + writable layer) and its
  volumes (the driver's host path, mounted for the worker under a mount id
  of its own and unmounted after), binds and tmpfs mounts as a start would,
  and chroots into it.  When the worker exits, its namespace and every
  mount in it are gone: nothing to clean up, even after a kill -9.

Everything the worker needs is imported before it enters the container:
after that the host's Python files are out of reach.  Inside, paths are
still opened with ``hold.inroot`` (RESOLVE_IN_ROOT), so magic links in a
running container's /proc cannot lead out either.

Protocol: the worker writes JSON lines on a control pipe: ``{"stat": ...}``
or ``{"ready": ...}`` first, then ``{"ok": ...}``, or ``{"error": message,
"kind": ...}`` at any point, then exits.
"""

from __future__ import annotations

import json
import os
import types

from hold import inroot  # noqa: F401 - loaded (with libc) before entering
from hold.containers import _tarstream  # noqa: F401 - loaded before entering
from hold.containers._tarstream import CopyError
from hold.runtime import _linux as L
from hold.runtime import init as runtime_init

__all__ = ["Worker", "PSEUDO_FS"]

PSEUDO_FS = {"proc", "sysfs", "devpts", "mqueue", "cgroup", "cgroup2", "debugfs",
             "securityfs", "tracefs", "bpf", "fusectl", "configfs", "pstore"}


class Worker:
    """One forked copy worker running ``job(report, *fds)`` inside a container.

    Use as a context manager; ``message()`` reads the worker's next control
    message (raising CopyError for an ``error`` one), ``close()`` waits for
    it and undoes what the parent set up (volume driver mounts, the
    mountpoint directory).
    """

    def __init__(self, engine, container, job, child_fds: tuple[int, ...] = (), *,
                 close_in_child: tuple[int, ...] = ()):
        self.engine, self.container = engine, container
        self._volume_mounts: list[tuple[object, str, str]] = []
        self._rootfs = ""
        self._ns_fd = None
        self._ctl = None
        self.pid = 0
        try:
            enter = self._prepare()
            ctl_r, ctl_w = os.pipe2(os.O_CLOEXEC)
            self.pid = os.fork()
        except BaseException:
            for fd in child_fds + close_in_child:
                os.close(fd)
            self.close()
            raise
        if self.pid == 0:
            # The parent's ends must go: a worker holding the other end of
            # its own data pipe would never see EOF (or EPIPE) and hang.
            for fd in (ctl_r,) + close_in_child:
                os.close(fd)
            _child(enter, job, ctl_w, child_fds)
        os.close(ctl_w)
        for fd in child_fds:
            os.close(fd)
        if self._ns_fd is not None:
            os.close(self._ns_fd)
            self._ns_fd = None
        self._ctl = os.fdopen(ctl_r, "rb")

    # -- parent side ----------------------------------------------------------

    def _prepare(self):
        c = self.container
        if c.running:
            try:
                pseudo = _pseudo_mountpoints(c.state["Pid"])
                ns_fd = self._ns_fd = os.open(f"/proc/{c.state['Pid']}/ns/mnt",
                                              os.O_RDONLY | os.O_CLOEXEC)
                return lambda: _enter_running(ns_fd, pseudo)
            except OSError:
                pass         # it stopped meanwhile: read its files as a stopped one
        return self._prepare_stopped()

    def _prepare_stopped(self):
        engine, c = self.engine, self.container
        image = engine.images.get(c.image_id)
        base = engine.paths.container_dir(c.id)
        overlay = types.SimpleNamespace(
            lowerdirs=[os.path.join(base, "init")] + list(reversed(image.layer_dirs)),
            upperdir=os.path.join(base, "upper"), workdir=os.path.join(base, "work"),
            rootfs=os.path.join(engine.paths.container_run_dir(c.id), f"cp-{os.getpid()}"))
        os.makedirs(overlay.rootfs, exist_ok=True)
        self._rootfs = overlay.rootfs
        mounts = self._stopped_mounts()
        return lambda: _enter_stopped(overlay, mounts)

    def _stopped_mounts(self) -> list:
        from hold.runtime.spec import Mount
        result = []
        mount_id = f"cp-{self.container.id}-{os.getpid()}"
        for m in self.container.config.get("Mounts") or []:
            readonly = not m.get("RW", True)
            if m["Type"] == "tmpfs":
                result.append((Mount(kind="tmpfs", target=m["Destination"], readonly=readonly,
                                     size=m.get("TmpfsSize"), mode=m.get("TmpfsMode")), ""))
            elif m["Type"] == "bind":
                if os.path.exists(m["Source"]):
                    result.append((Mount(kind="bind", target=m["Destination"],
                                         source=m["Source"], readonly=readonly), ""))
            else:
                driver = self.engine.containers.volumes.driver(m.get("Driver") or "local")
                path = driver.mount(m["Name"], mount_id)
                self._volume_mounts.append((driver, m["Name"], mount_id))
                result.append((Mount(kind="volume", target=m["Destination"], source=path,
                                     readonly=readonly), m.get("Subpath") or ""))
        return result

    def message(self) -> dict:
        line = self._ctl.readline()
        if not line:
            raise CopyError("the copy worker ended without a word")
        msg = json.loads(line)
        if "error" in msg:
            raise CopyError(msg["error"], msg.get("kind", "error"))
        return msg

    def close(self) -> None:
        if self.pid:
            os.waitpid(self.pid, 0)
            self.pid = 0
        if self._ctl is not None:
            self._ctl.close()
            self._ctl = None
        for driver, name, mount_id in self._volume_mounts:
            try:
                driver.unmount(name, mount_id)
            except Exception:        # noqa: BLE001 - the copy's result matters more
                pass
        self._volume_mounts = []
        if self._rootfs:
            try:
                os.rmdir(self._rootfs)
            except OSError:
                pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _pseudo_mountpoints(pid: int) -> list[str]:
    """Mount points (as the container sees them) of proc, sysfs and the like:
    an archive of a directory stops at them, as Docker's does."""
    points = []
    with open(f"/proc/{pid}/mountinfo") as f:
        for line in f:
            fields = line.split()
            fstype = fields[fields.index("-") + 1]
            if fstype in PSEUDO_FS:
                points.append(_unescape(fields[4]))
    return points


def _unescape(path: str) -> str:
    import re
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), path)


# -- child side -----------------------------------------------------------------

def _child(enter, job, ctl_w: int, fds: tuple[int, ...]) -> None:
    def report(**msg) -> None:
        os.write(ctl_w, (json.dumps(msg) + "\n").encode())
    code = 1
    try:
        L.prctl(L.PR_SET_DUMPABLE, 0)
        skip_devs = enter()
        job(report, skip_devs, *fds)
        code = 0
    except CopyError as exc:
        _safe(report, error=str(exc), kind=exc.kind)
    except runtime_init.StartError as exc:
        _safe(report, error=str(exc), kind="error")
    except OSError as exc:
        _safe(report, error=_os_message(exc), kind="error")
    except BaseException as exc:  # noqa: BLE001 - never unwind into the CLI's code
        _safe(report, error=f"copy: {exc}", kind="error")
    finally:
        os._exit(code)


def _safe(report, **msg) -> None:
    try:
        report(**msg)
    except OSError:
        pass


def _os_message(exc: OSError) -> str:
    import errno
    if exc.errno == errno.EROFS:
        return "mounted volume is marked read-only"
    text = (exc.strerror or str(exc))
    text = text[:1].lower() + text[1:]
    return f"{exc.filename}: {text}" if exc.filename else text


def _enter_running(ns_fd: int, pseudo: list[str]) -> frozenset[int]:
    L.setns(ns_fd, L.CLONE_NEWNS)
    os.chdir("/")
    devs = set()
    for point in pseudo:
        try:
            devs.add(os.stat(point).st_dev)
        except OSError:
            pass
    return frozenset(devs)


def _enter_stopped(overlay, mounts) -> frozenset[int]:
    L.unshare(L.CLONE_NEWNS)
    L.mount(None, "/", None, L.MS_REC | L.MS_PRIVATE)
    runtime_init._mount_overlay(overlay)
    for mount, subpath in mounts:
        if subpath:
            from hold.volumes.subpath import open_beneath
            fd = open_beneath(mount.source, subpath)
            mount.source = f"/proc/self/fd/{fd}"
        runtime_init._apply_mount(overlay.rootfs, mount)
    os.chdir(overlay.rootfs)
    os.chroot(".")
    os.chdir("/")
    return frozenset()
