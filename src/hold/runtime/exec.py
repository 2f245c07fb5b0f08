"""`hold exec`: run another process inside a running container.

The CLI forks a *joiner* that enters the container's namespaces with setns
(mount last), then forks the process that really enters the container (a
PID namespace only applies to children) and waits for it::

    hold exec (CLI) --fork--> joiner (setns ipc uts net pid mnt) --fork--> process --execve

Both are made non-dumpable *before* they join anything: a process of the
container, even root, then cannot open /proc/PID/exe of either (that needs
CAP_SYS_PTRACE, which containers do not have), so hold's interpreter can
never be reached and overwritten from inside (the runc CVE-2019-5736
class).  execve makes the container's process dumpable again, as normal.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

# Imported up front: after setns into the container's mount namespace the
# host's Python files are out of reach.
from hold.runtime import _linux as L
from hold.runtime import init
from hold.runtime.init import StartError
from hold.runtime.monitor import _clone     # before setns: host files out of reach after
from hold.runtime.spec import Security

NAMESPACES = ("ipc", "uts", "net", "pid", "mnt")


@dataclass
class ExecSpec:
    pid: int                       # the container's first process
    args: list[str]
    env: list[str]
    cwd: str = ""
    user: str = ""
    tty: bool = False
    interactive: bool = False
    caps: list[str] = field(default_factory=list)
    privileged: bool = False
    no_new_privs: bool = True
    seccomp: str = "default"
    seccomp_profile: str | None = None
    hostname: str = ""
    cgroup_id: str | None = None    # the container's cgroup, joined when it exists
    cgroup_parent: str = "hold"


class ExecError(Exception):
    def __init__(self, message: str, code: int):
        super().__init__(message)
        self.code = code


def start_exec(spec: ExecSpec, tty_slave: int | None = None) -> tuple[int, int]:
    """Fork the joiner; returns (joiner pid, error pipe read end)."""
    ns_fds = []
    try:
        for ns in NAMESPACES:
            ns_fds.append(os.open(f"/proc/{spec.pid}/ns/{ns}", os.O_RDONLY | os.O_CLOEXEC))
    except OSError as exc:
        for fd in ns_fds:
            os.close(fd)
        raise ExecError(f"container process {spec.pid} is gone: {exc.strerror}", 125) from exc
    error_r, error_w = os.pipe2(os.O_CLOEXEC)
    joiner = os.fork()
    if joiner == 0:
        os.close(error_r)
        _joiner(spec, ns_fds, error_w, tty_slave)
    for fd in ns_fds:
        os.close(fd)
    os.close(error_w)
    return joiner, error_r


def finish_exec(joiner: int, error_r: int) -> int:
    """Wait for the exec'd process; its exit code, or ExecError if it never ran."""
    report = b""
    while chunk := os.read(error_r, 65536):
        report += chunk
    os.close(error_r)
    _, status = os.waitpid(joiner, 0)
    if report:
        error = json.loads(report)
        raise ExecError(error["message"], error["code"])
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


def _joiner(spec: ExecSpec, ns_fds: list[int], error_w: int, tty_slave) -> None:
    try:
        L.prctl(L.PR_SET_DUMPABLE, 0)
        unified, procs = (_cgroup_fds(spec.cgroup_id, spec.cgroup_parent)
                          if spec.cgroup_id else (None, {}))
        for fd in ns_fds:
            L.setns(fd, 0)
            os.close(fd)
        child, placed = _clone(0, unified)      # born in the unified cgroup if any
        if child == 0:
            for key, fd in procs.items():   # "0": the writer; only the exec'd process joins
                if not (placed and key == "unified"):
                    os.write(fd, b"0")
                os.close(fd)
            _enter(spec, error_w, tty_slave)
        for fd in list(procs.values()) + ([unified] if unified is not None else []):
            os.close(fd)
        os.close(error_w)
        _, status = os.waitpid(child, 0)
        code = os.waitstatus_to_exitcode(status)
        os._exit(128 - code if code < 0 else code)
    except StartError as exc:
        _report(error_w, str(exc), exc.code)
    except BaseException as exc:  # noqa: BLE001 - never unwind into the CLI's code
        _report(error_w, f"exec: {exc}", 126)


def _cgroup_fds(cid: str, parent: str) -> tuple[int | None, dict[str, int]]:
    """The unified cgroup's directory fd (for clone3's CLONE_INTO_CGROUP,
    which spares a 10-20 ms migration) and fds on the ``cgroup.procs``
    files of every hierarchy the container's cgroup exists in.

    The exec'd process (not this joiner, which only waits for it) joins the
    cgroup, so it counts against the container's limits and shows in its
    stats, top and pause, as in Docker.  The files are opened here because
    after setns into the container's mount namespace the host's
    /sys/fs/cgroup is out of sight.  A container without a cgroup (a host
    without a usable cgroup fs) is joined as it is: without.
    """
    from hold.runtime import cgroups
    group = cgroups.ContainerCgroup(cid, cgroups.detect(), parent)
    fds = {}
    for key, path in group.paths().items():
        try:
            fds[key] = os.open(os.path.join(path, "cgroup.procs"), os.O_WRONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            continue
    return (group.unified_fd() if "unified" in fds else None), fds


def _enter(spec: ExecSpec, error_w: int, tty_slave) -> None:
    try:
        os.chdir("/")
        uid, gid, groups, home = init.resolve_user(spec.user)
        env = init.container_env(spec.env, spec.hostname, home, spec.tty)
        init.enter_cwd(spec.cwd or "/", uid, gid)
        if tty_slave is not None:
            init.wire_stdio((0, 1, 2), tty_slave)
        elif not spec.interactive:
            devnull = os.open("/dev/null", os.O_RDONLY)
            os.dup2(devnull, 0)
            os.close(devnull)
        security = Security(caps=spec.caps, privileged=spec.privileged,
                            no_new_privs=spec.no_new_privs, seccomp=spec.seccomp,
                            seccomp_profile=spec.seccomp_profile)
        if security.no_new_privs:
            L.prctl(L.PR_SET_NO_NEW_PRIVS, 1)
        holder = _SpecView(security)
        init.install_seccomp(holder)
        init.switch_user(uid, gid, groups, security)
        init.close_other_fds(error_w)
        init.exec_command(list(spec.args), env)
    except init.StartError as exc:
        _report(error_w, str(exc), exc.code)
    except BaseException as exc:  # noqa: BLE001
        _report(error_w, f"exec: {exc}", 126)


class _SpecView:
    """What ``init.install_seccomp`` reads from a RuntimeSpec."""

    def __init__(self, security):
        self.security = security


def _report(error_w: int, message: str, code: int) -> None:
    try:
        os.write(error_w, json.dumps({"message": message, "code": code}).encode())
    finally:
        os._exit(code)
