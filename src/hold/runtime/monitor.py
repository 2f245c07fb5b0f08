"""The per-container monitor: hold's answer to a daemon (Podman's conmon).

``launch`` is called by the CLI.  It forks twice so the monitor belongs to
no terminal session and outlives the CLI, then waits on a status pipe until
the monitor says the container started (or why it did not)::

    hold run (CLI) --fork--> (setsid) --fork--> monitor --clone(new ns)--> container
         ^                                         |
         +------ status pipe: "started PID" -------+
         +------ (attached only) "exited CODE" ----+

The monitor owns the container's output (pipes, or the pty master) and
writes Docker's json-file log, reaps the container, records the exit code
and finish time, applies the restart policy and performs ``--rm`` cleanup.
A detached monitor then re-executes itself as the idle monitor, so that an
idle container costs little, not the CLI's whole heap: the native one
(``runtime/native``, C, built on first use; ~0.1 MB) or, where it cannot
be built or ``HOLD_MONITOR=python``, a fresh minimal interpreter
(``python -S -I`` running ``runtime/_light.py``; ~3 MB).  exec keeps the
PID, so the container stays its child.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import sys
import time
from dataclasses import dataclass, field

from hold.runtime import _linux as L
from hold.runtime.spec import RuntimeSpec

SIGCHLD = 17
SYS_CLONE = 56
SYS_PIDFD_OPEN = 434
SYS_CLONE3 = 435
CLONE_INTO_CGROUP = 0x200000000


@dataclass
class LaunchOptions:
    """How the container's stdio and lifetime are wired."""

    container_id: str
    db_path: str
    root: str
    runroot: str
    log_path: str
    attach: bool = False            # CLI stays and receives output + exit code
    stdin_open: bool = False        # -i
    tty: bool = False               # -t
    auto_remove: bool = False       # --rm
    restart: str = "no"
    restart_max: int = 0
    pty: tuple[int, int] | None = None   # (master, slave), made by the CLI
    cgroup: dict = field(default_factory=dict)   # Limits as a dict; {}: none
    cgroup_parent: str = "hold"     # cgroups.parent_for_root(root), chosen by the CLI
    restarts: int = 0               # runs the restart policy has made so far


class LaunchError(Exception):
    def __init__(self, message: str, code: int):
        super().__init__(message)
        self.code = code


class Launch:
    """The CLI's handle on a started container."""

    def __init__(self, pid: int, monitor_pid: int, status):
        self.pid = pid
        self.monitor_pid = monitor_pid
        self._status = status
        self._buffer = b""

    def wait_exit(self) -> int:
        """Block until the monitor reports the exit code (attached mode)."""
        while b"\n" not in self._buffer:
            chunk = self._status.read(4096)
            if not chunk:
                raise LaunchError("the container's monitor exited unexpectedly", 125)
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        kind, _, value = line.decode().partition(" ")
        if kind != "exited":
            raise LaunchError(f"unexpected monitor message: {line!r}", 125)
        return int(value)

    def close(self) -> None:
        self._status.close()


def launch(spec: RuntimeSpec, options: LaunchOptions) -> Launch:
    """Start the container under a new monitor; return once it runs."""
    if not options.attach:
        _check_idle_monitor(options.root)
    status_r, status_w = os.pipe()
    os.set_inheritable(status_w, False)
    sys.stdout.flush()
    sys.stderr.flush()
    middle = os.fork()
    if middle == 0:
        try:
            os.close(status_r)
            os.setsid()
            if os.fork() == 0:
                _monitor_main(spec, options, status_w)
        finally:
            os._exit(0)
    os.close(status_w)
    os.waitpid(middle, 0)
    reader = os.fdopen(status_r, "rb", buffering=0)
    first = b""
    while not first.endswith(b"\n"):
        chunk = reader.read(1)
        if not chunk:
            raise LaunchError("the container's monitor died before the container started", 125)
        first += chunk
    kind, _, rest = first.decode().strip().partition(" ")
    if kind == "error":
        reader.close()
        error = json.loads(rest)
        raise LaunchError(error["message"], error["code"])
    pid, monitor_pid = (int(x) for x in rest.split())
    return Launch(pid, monitor_pid, reader)


def _check_idle_monitor(root: str) -> None:
    """HOLD_MONITOR=native must fail the run here, with the reason, rather
    than quietly in the detached monitor (which then falls back)."""
    from hold.runtime import native
    try:
        if native.choice() == "native":
            native.monitor_binary(root, required=True)
    except native.NativeMonitorUnavailable as exc:
        raise LaunchError(str(exc), 125) from exc


# -- inside the monitor -----------------------------------------------------

def _monitor_main(spec: RuntimeSpec, options: LaunchOptions, status_w: int) -> None:
    """Body of the monitor process; never returns."""
    code = 125
    try:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT):
            signal.signal(sig, signal.SIG_IGN)
        signal.signal(SIGCHLD, signal.SIG_DFL)
        L.prctl(L.PR_SET_CHILD_SUBREAPER, 1)
        _name_process()
        wiring = _Wiring.create(options)
        try:
            pid = spawn_container(spec, wiring, options)
        except LaunchError as exc:
            _record_failed_start(options, str(exc), exc.code)
            _write(status_w, "error " + json.dumps({"message": str(exc), "code": exc.code}) + "\n")
            os._exit(0)
        _record_started(options, pid)
        _write(status_w, f"started {pid} {os.getpid()}\n")
        if not options.attach:
            os.close(status_w)
            status_w = -1
            _detach_stdio()
        _persist(spec, options)
        if not options.attach:
            _reexec_light(options, wiring, pid)
        code = run_loop(spec, options, wiring, pid, status_w)
    except BaseException as exc:  # noqa: BLE001 - report, never unwind into the CLI
        try:
            _write(status_w, "error " + json.dumps({"message": f"monitor: {exc}", "code": 125}) + "\n")
        except Exception:
            pass
    os._exit(code if isinstance(code, int) else 125)


def _name_process() -> None:
    """Show as "hold-monitor" in ps/top (and to `hold system check`)."""
    name = ctypes.create_string_buffer(b"hold-monitor")
    L.prctl(L.PR_SET_NAME, ctypes.addressof(name))


def _write(fd: int, text: str) -> None:
    if fd >= 0:
        try:
            os.write(fd, text.encode())
        except OSError:
            pass


def _detach_stdio() -> None:
    devnull = os.open("/dev/null", os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.close(devnull)


class _Wiring:
    """The monitor's ends of the container's stdio.

    ``container_stdio`` is what the container gets as fds 0, 1, 2;
    ``outputs`` maps a readable fd to its stream name; ``stdin_source`` is
    the user's input copied into the pty (tty + -i, attached).
    """

    def __init__(self):
        self.container_stdio: tuple[int, int, int] = (0, 1, 2)
        self.outputs: dict[int, str] = {}
        self.tty_master: int | None = None
        self.tty_slave: int | None = None
        self.stdin_source: int | None = None
        self.held: list[int] = []          # kept open so a -d -i stdin never sees EOF
        self.to_close_after_spawn: list[int] = []
        self.proxy_pid = 0

    @classmethod
    def create(cls, options: LaunchOptions) -> "_Wiring":
        w = cls()
        if options.tty:
            master, slave = options.pty if options.pty else os.openpty()
            w.tty_master, w.tty_slave = master, slave
            w.outputs[master] = "stdout"
            w.to_close_after_spawn.append(slave)
            if options.attach and options.stdin_open:
                w.stdin_source = 0
            return w
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        w.outputs = {out_r: "stdout", err_r: "stderr"}
        w.to_close_after_spawn += [out_w, err_w]
        if options.stdin_open and options.attach:
            stdin = 0
        elif options.stdin_open:
            stdin, hold_w = os.pipe()
            w.held.append(hold_w)
            w.to_close_after_spawn.append(stdin)
        else:
            stdin = os.open("/dev/null", os.O_RDONLY)
            w.to_close_after_spawn.append(stdin)
        w.container_stdio = (stdin, out_w, err_w)
        return w


class _CloneArgs(ctypes.Structure):
    """struct clone_args (linux/sched.h), up to ``cgroup`` (CLONE_ARGS_SIZE_VER2)."""
    _fields_ = [(name, ctypes.c_uint64) for name in (
        "flags", "pidfd", "child_tid", "parent_tid", "exit_signal", "stack",
        "stack_size", "tls", "set_tid", "set_tid_size", "cgroup")]


def _clone(flags: int, cgroup_fd: int | None = None) -> tuple[int, bool]:
    """fork(2) with namespace flags: the child starts in new namespaces.

    os.fork cannot pass CLONE_NEW*; the raw clone syscall with no new stack
    behaves like fork, and Python's own before/after-fork hooks keep the
    interpreter consistent in both processes, exactly as os.fork does.

    With ``cgroup_fd`` (a cgroup v2 directory) clone3's CLONE_INTO_CGROUP
    makes the child a member from its first instruction: no migration
    afterwards, which would cost an RCU grace period (5-15 ms).  Kernels
    before 5.7 (or a refusal) fall back to plain clone.  Returns (pid,
    whether the child was born in the cgroup).
    """
    libc = L.libc()
    api = ctypes.pythonapi
    placed = cgroup_fd is not None
    api.PyOS_BeforeFork()
    if placed:
        args = _CloneArgs(flags=flags | CLONE_INTO_CGROUP, exit_signal=SIGCHLD,
                          cgroup=cgroup_fd)
        pid = libc.syscall(ctypes.c_long(SYS_CLONE3), ctypes.byref(args),
                           ctypes.c_size_t(ctypes.sizeof(args)))
        err = ctypes.get_errno()
        if pid < 0:     # ENOSYS, E2BIG (old kernel), EBUSY, ...: place it later
            placed = False
    if not placed:
        pid = libc.syscall(ctypes.c_long(SYS_CLONE), ctypes.c_ulong(flags | SIGCHLD),
                           ctypes.c_void_p(0), None, None, ctypes.c_ulong(0))
        err = ctypes.get_errno()
    if pid == 0:
        api.PyOS_AfterFork_Child()
    else:
        api.PyOS_AfterFork_Parent()
    if pid < 0:
        raise OSError(err, f"clone: {os.strerror(err)}")
    return pid, placed


def spawn_container(spec: RuntimeSpec, wiring: _Wiring, options: LaunchOptions) -> int:
    """Clone the container's first process and wait until it has exec'd."""
    flags = L.CLONE_NEWPID | L.CLONE_NEWNS | L.CLONE_NEWUTS | L.CLONE_NEWIPC
    if spec.network in ("none", "bridge"):
        flags |= L.CLONE_NEWNET
    group = _make_cgroup(spec, options)
    cgroup_fd = group.unified_fd() if group is not None else None
    sync_r, sync_w = os.pipe()
    error_r, error_w = os.pipe2(os.O_CLOEXEC)
    try:
        pid, placed = _clone(flags, cgroup_fd)
    except OSError as exc:
        _close_quietly(sync_r, sync_w, error_r, error_w)
        _remove_cgroup(spec, options)
        raise LaunchError(str(exc), 125) from exc
    finally:
        if cgroup_fd is not None:
            os.close(cgroup_fd)
    if pid == 0:
        os.close(sync_w)
        os.close(error_r)
        if spec.network not in ("none", "host", "bridge"):
            _join_netns(spec.network)
        from hold.runtime.init import enter_container
        enter_container(spec, wiring.container_stdio, sync_r, error_w, wiring.tty_slave)
        os._exit(125)
    os.close(sync_r)
    os.close(error_w)
    try:
        if spec.interfaces:
            _connect_interfaces(spec, pid)
        if spec.ports:
            wiring.proxy_pid = _start_port_proxy(spec)
        os.write(sync_w, b"g")
        # The child mounts its filesystems now; meanwhile it joins the v1
        # hierarchies (the slow write: see runtime.cgroups), and waits for
        # "c" before it execs.
        if group is not None:
            group.add(pid, skip_unified=placed)
        try:
            os.write(sync_w, b"c")
        except BrokenPipeError:
            pass                # it failed already: its report is on error_r
    except Exception as exc:
        os.close(sync_w)
        os.waitpid(pid, 0)
        _stop_port_proxy(wiring)
        os.close(error_r)
        _remove_cgroup(spec, options)
        raise LaunchError(str(exc), 125) from exc
    os.close(sync_w)
    report = b""
    while chunk := os.read(error_r, 65536):
        report += chunk
    os.close(error_r)
    if report:
        os.waitpid(pid, 0)
        _remove_cgroup(spec, options)
        error = json.loads(report)
        raise LaunchError(error["message"], error["code"])
    for fd in wiring.to_close_after_spawn:
        os.close(fd)
    wiring.to_close_after_spawn = []
    return pid


def _connect_interfaces(spec: RuntimeSpec, pid: int) -> None:
    """veth pairs from the networks' bridges into the new network namespace."""
    from hold.networks import kernel
    for index, endpoint in enumerate(spec.interfaces):
        kernel.create_bridge(endpoint["Bridge"], endpoint["Gateway"],
                             endpoint["IPPrefixLen"], endpoint["MTU"], endpoint.get("NAT", False))
        kernel.attach(pid, endpoint["Bridge"], kernel.host_veth_name(spec.id, index),
                      endpoint["Interface"], endpoint["IPAddress"], endpoint["IPPrefixLen"],
                      endpoint["Gateway"], endpoint["MacAddress"], endpoint["MTU"],
                      endpoint["DefaultRoute"])


def _veths_at_exit(spec: RuntimeSpec) -> dict[str, int]:
    """The exited container's veths, to delete once its exit is recorded and
    reported, not when the kernel gets round to its network namespace
    (kernel.unplug says why; deleting one costs ~20 ms of kernel time)."""
    if not spec.interfaces:
        return {}
    from hold.networks import kernel
    return kernel.host_veths(spec.id)


def _unplug(veths: dict[str, int]) -> None:
    if veths:
        from hold.networks import kernel
        kernel.unplug(veths)


def _start_port_proxy(spec: RuntimeSpec) -> int:
    from hold.networks.portproxy import start_proxy
    address = spec.interfaces[0]["IPAddress"]
    return start_proxy([{**p, "container_ip": address} for p in spec.ports])


def _stop_port_proxy(wiring) -> None:
    if getattr(wiring, "proxy_pid", 0):
        from hold.networks.portproxy import stop_proxy
        stop_proxy(wiring.proxy_pid)
        wiring.proxy_pid = 0


def _join_netns(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        L.setns(fd, L.CLONE_NEWNET)
    finally:
        os.close(fd)


def _close_quietly(*fds: int) -> None:
    for fd in fds:
        try:
            os.close(fd)
        except OSError:
            pass


_HOST = []


def _cgroup_host():
    """cgroups.detect(), once per monitor (it parses mountinfo: 0.4 ms)."""
    if not _HOST:
        from hold.runtime import cgroups
        _HOST.append(cgroups.detect())
    return _HOST[0]


def _make_cgroup(spec: RuntimeSpec, options: LaunchOptions):
    """The container's own cgroup, made (limits written) before the clone.

    Every container gets one, as in Docker.  On a host without a usable
    cgroup filesystem the container runs without (``hold stats``, ``top``
    and ``pause`` then say they need cgroups), unless it asked for limits:
    those must not be silently dropped, so that is a LaunchError."""
    from hold.runtime import cgroups
    from hold.errors import HoldError
    host = _cgroup_host()
    limits = cgroups.Limits(**options.cgroup)
    group = cgroups.ContainerCgroup(spec.id, host, options.cgroup_parent)
    try:
        if not host.usable:
            host.check(limits)
            return None
        group.create(limits, track_only=True)
    except HoldError as exc:
        if options.cgroup:
            raise LaunchError(str(exc), 125) from exc
        return None
    return group


# -- the state the monitor records ------------------------------------------

def _record_started(options: LaunchOptions, pid: int) -> None:
    from hold.containers import state
    state.record_started(options.db_path, options.container_id, pid, os.getpid())


def _record_failed_start(options: LaunchOptions, message: str, code: int) -> None:
    from hold.containers import state
    state.record_start_failed(options.db_path, options.container_id, message, code,
                              remove=options.auto_remove, root=options.root,
                              runroot=options.runroot)


def _persist(spec: RuntimeSpec, options: LaunchOptions) -> None:
    """Write spec.json so a re-executed monitor can restart the container."""
    run_dir = os.path.join(options.runroot, "containers", options.container_id)
    os.makedirs(run_dir, exist_ok=True)
    with open(os.path.join(run_dir, "spec.json"), "w") as f:
        f.write(spec.to_json())
    with open(os.path.join(run_dir, "monitor.pid"), "w") as f:
        f.write(f"{os.getpid()}\n")


def _reexec_light(options: LaunchOptions, wiring: _Wiring, pid: int) -> None:
    """Become the idle monitor: the native one when it can be had (see
    ``runtime.native``), else a fresh minimal interpreter running
    ``hold.runtime._light``.  Both get the same arguments."""
    keep = list(wiring.outputs) + wiring.held + (
        [wiring.tty_master] if wiring.tty_master is not None else [])
    for fd in keep:
        os.set_inheritable(fd, True)
    options.pty = None
    run_dir = os.path.join(options.runroot, "containers", options.container_id)
    with open(os.path.join(run_dir, "options.json"), "w") as f:
        json.dump(vars(options), f)
    args = [f"cid={options.container_id}", f"runroot={options.runroot}", f"pid={pid}",
            f"log={options.log_path}", f"proxy={wiring.proxy_pid}",
            "outputs=" + ",".join(f"{fd}:{stream}" for fd, stream in wiring.outputs.items()),
            "held=" + ",".join(str(fd) for fd in wiring.held)]
    package_parent = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    code = ("import sys;sys.path.insert(0,sys.argv[1]);"
            "from hold.runtime._light import main;main(sys.argv[2:])")
    python = [sys.executable, "-S", "-I", "-c", code, package_parent]
    binary = _native_monitor(options.root)
    if binary:
        try:    # it execs `python` with cid= runroot= exited=CODE at the end
            os.execv(binary, [binary] + args + ["--"] + python)
        except OSError:
            pass    # e.g. a noexec data root: the Python monitor does the same work
    os.execv(sys.executable, python + args)


def _native_monitor(root: str) -> str | None:
    """The native idle monitor's path, or None for the Python one.

    Never raises: the container already runs, and losing its monitor over
    the monitor's kind would be far worse than 3 MB."""
    try:
        from hold.runtime import native
        kind = native.choice()
        if kind == "python":
            return None
        return native.monitor_binary(root)
    except Exception:       # noqa: BLE001 - the Python monitor always works
        return None


def resume_after_exit(runroot: str, cid: str, code: int) -> None:
    """The idle monitor's container exited: record it, restart or clean up."""
    run_dir = os.path.join(runroot, "containers", cid)
    with open(os.path.join(run_dir, "spec.json")) as f:
        spec = RuntimeSpec.from_json(f.read())
    with open(os.path.join(run_dir, "options.json")) as f:
        options = LaunchOptions(**json.load(f))
    from hold.runtime.logpump import _reap_orphans
    _reap_orphans()
    run_loop(spec, options, _Wiring(), 0, -1, first_code=code)


def run_loop(spec: RuntimeSpec, options: LaunchOptions, wiring: _Wiring, pid: int,
             status_w: int, first_code: int | None = None) -> int:
    """Copy output, reap, record, restart or clean up; returns the exit code.

    ``first_code`` is given when the idle monitor already saw the run end;
    the loop then starts at recording it.  A detached monitor that has
    restarted the container becomes the idle monitor again (carrying the
    restart count in options.json): a restarted container costs what a
    started one does."""
    from hold.runtime.logpump import LogPump
    restarts = options.restarts
    while True:
        if first_code is not None:
            code, first_code = first_code, None
        else:
            pump = LogPump(options.log_path, wiring.outputs,
                           echo=options.attach, stdin_source=wiring.stdin_source,
                           tty_master=wiring.tty_master)
            code = pump.run_until_exit(pid)
        _stop_port_proxy(wiring)
        veths = _veths_at_exit(spec)
        decision = _after_exit(options, code, restarts)
        if decision != "restart":
            break
        restarts += 1
        time.sleep(min(0.1 * (2 ** (restarts - 1)), 5.0))
        options.pty = None
        wiring = _Wiring.create(options)
        try:
            pid = spawn_container(spec, wiring, options)
        except LaunchError as exc:
            _record_failed_start(options, str(exc), exc.code)
            code = exc.code
            break
        _record_started(options, pid)
        if not options.attach:
            options.restarts = restarts
            _reexec_light(options, wiring, pid)
    _remove_cgroup(spec, options)
    _write(status_w, f"exited {code}\n")
    _unplug(veths)              # after the status line: no caller waits for it
    return 0


def _remove_cgroup(spec: RuntimeSpec, options: LaunchOptions) -> None:
    from hold.runtime import cgroups
    try:
        cgroups.ContainerCgroup(spec.id, _cgroup_host(), options.cgroup_parent).remove()
    except Exception:       # noqa: BLE001 - `hold system check` collects leftovers
        pass


def _after_exit(options: LaunchOptions, code: int, restarts: int) -> str:
    from hold.containers import state
    return state.record_exited(options.db_path, options.container_id, code,
                               restart=options.restart, restart_max=options.restart_max,
                               restarts=restarts, auto_remove=options.auto_remove,
                               root=options.root, runroot=options.runroot)


def pidfd_open(pid: int) -> int:
    """A pollable fd that becomes readable when ``pid`` exits."""
    return L.syscall(SYS_PIDFD_OPEN, ctypes.c_int(pid), ctypes.c_uint(0))
