"""`hold exec`: the container-side choices (env, user, security) for an
exec, and the terminal relay when ``-t`` gives it a pty."""

from __future__ import annotations

import os
import select
import signal
import sys

from hold.errors import Conflict, ContainerNotRunning


def run_exec(engine, ns) -> int:
    from hold.containers.config import merge_env, read_env_files
    from hold.runtime.exec import ExecSpec, finish_exec, start_exec
    container = engine.containers.get(ns.container)
    if not container.running:
        raise ContainerNotRunning(f"container {container.id} is not running")
    if container.state.get("Paused"):
        raise Conflict(f"Container {container.id} is paused, unpause the container "
                       "before exec")
    cfg, host = container.config["Config"], container.config["HostConfig"]
    from hold.containers.service import _no_new_privs
    security = host.get("Security") or {}
    spec = ExecSpec(
        pid=container.state["Pid"], args=ns.command,
        env=merge_env(cfg["Env"], read_env_files(ns.env_file) + ns.env),
        cwd=ns.workdir or cfg.get("WorkingDir") or "/",
        user=ns.user if ns.user is not None else cfg.get("User", ""),
        tty=ns.tty, interactive=ns.interactive,
        caps=_all_caps() if ns.privileged else host.get("Capabilities", []),
        privileged=ns.privileged or host.get("Privileged", False),
        no_new_privs=_no_new_privs(host),
        seccomp=security.get("seccomp", "default"),
        seccomp_profile=security.get("seccomp_profile"),
        hostname=cfg.get("Hostname", ""),
        cgroup_id=container.id, cgroup_parent=engine.containers.cgroup_parent)
    if ns.detach:
        return _detached(spec)
    if ns.tty:
        return _with_pty(spec, ns.interactive)
    joiner, error_r = start_exec(spec)
    return finish_exec(joiner, error_r)


def _all_caps() -> list[str]:
    from hold.runtime import caps
    return sorted(caps.resolve(["ALL"], [], True))


def _detached(spec) -> int:
    from hold.runtime.exec import finish_exec, start_exec
    if os.fork() == 0:
        os.setsid()
        devnull = os.open("/dev/null", os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
        try:
            joiner, error_r = start_exec(spec)
            finish_exec(joiner, error_r)
        finally:
            os._exit(0)
    return 0


def _with_pty(spec, interactive: bool) -> int:
    from hold.cli.terminal import RawTerminal, copy_window_size, make_pty
    from hold.runtime.exec import finish_exec, start_exec
    master, slave = make_pty()
    with RawTerminal(active=interactive and sys.stdin.isatty()):
        joiner, error_r = start_exec(spec, tty_slave=slave)
        os.close(slave)
        signal.signal(signal.SIGWINCH, lambda *_: copy_window_size(master))
        _relay(master, interactive)
        code = finish_exec(joiner, error_r)
    os.close(master)
    return code


def _relay(master: int, interactive: bool) -> None:
    """Copy our stdin to the pty and the pty to our stdout until it closes."""
    sources = [master] + ([0] if interactive else [])
    while master in sources:
        try:
            ready, _, _ = select.select(sources, [], [])
        except InterruptedError:
            continue
        for fd in ready:
            try:
                data = os.read(fd, 65536)
            except OSError:
                data = b""
            if fd == master:
                if not data:
                    sources.remove(master)
                    break
                os.write(1, data)
            elif data:
                os.write(master, data)
            else:
                sources.remove(0)
