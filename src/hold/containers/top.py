"""`hold top CONTAINER [ps OPTIONS]`: the host's ``ps``, cut down to one
container's processes.

As Docker does it: run the host's ``ps`` with the user's options (``-ef``
by default: UID PID PPID C STIME TTY TIME CMD), find the PID column in its
header and keep the lines whose PID belongs to the container.  PIDs are the
host's, not the container's own (its first process is PID 1 inside).

Which processes belong: the members of the container's cgroup (every
container has one; ``exec``'d processes join it too), or, where the host
has no usable cgroups, every process in the container's PID namespace.
"""

from __future__ import annotations

import os
import subprocess

from hold.errors import Conflict, ContainerNotRunning, HoldError, InvalidArgument, SystemError_

__all__ = ["top", "container_pids"]

DEFAULT_PS_ARGS = ["-ef"]


def container_pids(service, container) -> set[int]:
    """Host PIDs of the container's processes now."""
    group = service.cgroup(container)
    if group.exists():
        return set(group.pids())
    return _pid_namespace_members(container.state.get("Pid") or 0)


def _pid_namespace_members(init_pid: int) -> set[int]:
    """Processes whose PID namespace is that of ``init_pid`` (no cgroup)."""
    try:
        wanted = os.stat(f"/proc/{init_pid}/ns/pid").st_ino
    except OSError:
        return set()
    members = set()
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                if os.stat(f"/proc/{name}/ns/pid").st_ino == wanted:
                    members.add(int(name))
            except OSError:
                continue
    return members


def top(service, ref: str, ps_args: list[str] | None = None) -> tuple[list[str], list[list[str]]]:
    """(titles, rows) of ``ps`` for the container's processes."""
    container = service.get(ref)
    if not container.running:
        raise ContainerNotRunning(f"Container {container.id} is not running")
    if container.state.get("Restarting"):
        raise Conflict(f"Container {container.id} is restarting, wait until the container "
                       "is running")
    args = list(ps_args) if ps_args else list(DEFAULT_PS_ARGS)
    output = _run_ps(args)
    pids = container_pids(service, container)
    return parse_ps(output, pids)


def _run_ps(args: list[str]) -> str:
    try:
        done = subprocess.run(["ps", *args], capture_output=True, text=True, timeout=30,
                              stdin=subprocess.DEVNULL)
    except FileNotFoundError:
        raise SystemError_("hold top needs the host's ps (apt-get install procps)") from None
    except subprocess.TimeoutExpired:
        raise SystemError_(f"ps {' '.join(args)} did not finish within 30s") from None
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip().splitlines()
        raise InvalidArgument(f"Error running ps {' '.join(args)}: exit status "
                              f"{done.returncode}: {detail[0] if detail else ''}".rstrip(": "))
    return done.stdout


def parse_ps(output: str, pids: set[int]) -> tuple[list[str], list[list[str]]]:
    """Split ``ps`` output into titles and the rows whose PID is in ``pids``.

    The last column takes the rest of the line (a command has spaces), as
    Docker splits it; the PID column is found by its title.
    """
    lines = output.splitlines()
    if not lines:
        raise HoldError("ps printed nothing")
    titles = lines[0].split()
    if "PID" not in titles:
        raise InvalidArgument("Couldn't find PID field in ps output (use an -o list "
                              "that includes pid)")
    column = titles.index("PID")
    rows = []
    for line in lines[1:]:
        fields = line.split()
        if len(fields) <= column:
            continue
        try:
            pid = int(fields[column])
        except ValueError:
            raise InvalidArgument(f"Unexpected pid '{fields[column]}' in ps output") from None
        if pid in pids:
            rows.append(fields[:len(titles) - 1] + [" ".join(fields[len(titles) - 1:])])
    return titles, rows
