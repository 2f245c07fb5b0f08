"""Per-container cgroups: memory, CPU and pids limits where the host allows.

Words: a **hierarchy** is one mounted cgroup tree; cgroup v1 has one per
controller (or per group of co-mounted controllers), cgroup v2 has a single
**unified** one.  A **controller** (memory, cpu, pids, ...) is *usable* when
hold can create a child cgroup under it and write its limit files.

Hosts come in three shapes, all handled by ``detect()``::

    v1 / hybrid  /sys/fs/cgroup/{memory,cpu,pids,...}     limits live here
                 /sys/fs/cgroup/unified   (cgroup2, no controllers; used only
                                           to track, freeze and kill)
    v2           /sys/fs/cgroup           (cgroup.controllers at the root)

Each container gets the cgroup ``hold/<name>`` in every hierarchy hold uses::

    <mount>/hold/            shared parent, created on demand, never removed
    <mount>/hold/<name>/     one per container
        v1: memory.limit_in_bytes, memory.memsw.limit_in_bytes,
            cpu.cfs_period_us, cpu.cfs_quota_us, pids.max, cgroup.procs
        v2: memory.max, memory.swap.max, cpu.max, pids.max, cgroup.procs,
            cgroup.kill, cgroup.freeze

Every container gets one, limits or not (Docker does the same): it is what
``hold stats``, ``top``, ``pause`` and ``kill_all`` work on.  ``<parent>``
is ``hold`` for the default data root and ``hold-<hash of the root>`` for
any other (``parent_for_root``), so that two data roots on one host (every
test has its own) never judge each other's cgroups.

Lifecycle: the CLI parses and checks the limits (``parse_*``,
``CgroupHost.check``) before anything exists; the monitor calls
``ContainerCgroup.create(limits)``, clones the container's first process
straight into the unified cgroup (``clone3`` with ``CLONE_INTO_CGROUP``,
``unified_fd``) and ``add(pid)``s it to the v1 hierarchies, if any, before
it execs; ``freeze``/``thaw`` pause it; ``kill_all`` and ``remove`` end it;
``cleanup_orphans`` (``hold system check``) removes the cgroups of
containers that no longer exist.  A ``ContainerCgroup`` holds no state
besides its name, so any process can rebuild one and act on it.

Cost, measured on a hybrid host (kernel 6.18, 2 CPUs): the mkdirs and
rmdirs of ten hierarchies take well under 1 ms; moving a process into a
cgroup by writing ``cgroup.procs`` costs one RCU grace period (the kernel
takes cgroup_threadgroup_rwsem for writing), 5-15 ms, whatever the number
of hierarchies.  ``CLONE_INTO_CGROUP`` avoids that write for the unified
hierarchy (all of a v2 host); on v1 the monitor overlaps it with the
container's own mount setup.
"""

from __future__ import annotations

import errno
import os
import time

from hold.errors import InvalidArgument, SystemError_, Unsupported

__all__ = ["CgroupHost", "ContainerCgroup", "Limits", "detect", "check_available",
           "parse_memory", "parse_memory_swap", "ram_in_bytes", "parse_cpus", "parse_pids",
           "cleanup_orphans", "parent_for_root", "MIN_MEMORY", "CPU_PERIOD_US"]

MIN_MEMORY = 6 * 1024 * 1024  # Docker's linuxMinMemory
CPU_PERIOD_US = 100_000
PARENT = "hold"
DEFAULT_ROOT = "/var/lib/hold"   # hold.store.paths.DEFAULT_ROOT (not imported: the
                                 # monitor must not pay for dataclasses)

# v1 hierarchies a container joins: the three that carry limits, plus the
# ones Docker also joins so that tools reading /proc/PID/cgroup see it whole.
_V1_JOIN = ("memory", "cpu", "cpuacct", "pids", "freezer", "blkio", "devices",
            "cpuset", "name=systemd")
_LIMIT_FLAGS = {"memory": "--memory", "cpu": "--cpus", "pids": "--pids-limit"}
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}
SIGKILL = 9  # the signal module costs an import in the monitor for one constant


def _name_ok(name: str) -> bool:
    return (0 < len(name) <= 128 and name[0] not in "._-"
            and all(c in _NAME_CHARS for c in name))


def parent_for_root(root: str) -> str:
    """The parent cgroup of the containers of data root ``root``.

    ``hold`` for the default root (as Docker uses ``docker``); for any other
    root ``hold-`` and the 64-bit FNV-1a hash of its path in hex.  Why not
    one shared parent: each data root is an engine of its own that only
    knows its own containers, so with a shared parent ``hold system check``
    of one root could not tell another root's cgroups from leftovers, nor
    could a test's leak check tell its cgroups from a concurrent test's.
    FNV, not sha256: importing hashlib costs ``hold run`` 3 ms, and this
    only has to tell a host's few data roots apart.
    """
    root = os.path.abspath(root).rstrip("/") or "/"
    if root == DEFAULT_ROOT:
        return PARENT
    value = 0xcbf29ce484222325
    for byte in root.encode():
        value = ((value ^ byte) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return f"{PARENT}-{value:016x}"


# --- parsing the flags (pure; the CLI calls these before creating anything) --

def parse_memory(text: str | int) -> int:
    """Docker's RAMInBytes: ``"512m"``, ``"1g"``, ``"1024k"``, ``"1.5GiB"``, bytes.

    Units are binary (k = 1024).  ``0`` means no limit; anything else below
    6 MiB is refused as Docker refuses it.
    """
    value = ram_in_bytes(text, "--memory")
    if 0 < value < MIN_MEMORY:
        raise InvalidArgument("Minimum memory limit allowed is 6MB", value=value)
    return value


def parse_memory_swap(text: str | int) -> int:
    """``--memory-swap``: memory plus swap in bytes, or ``-1`` for unlimited swap."""
    if str(text).strip() == "-1":
        return -1
    return ram_in_bytes(text, "--memory-swap")


def ram_in_bytes(text: str | int, flag: str) -> int:
    if isinstance(text, int) and not isinstance(text, bool):
        if text < 0:
            raise InvalidArgument(f"invalid size for {flag}: {text}")
        return text
    raw = str(text).strip().lower()
    end = 0
    while end < len(raw) and (raw[end].isdigit() or raw[end] == "."):
        end += 1
    number, suffix = raw[:end], raw[end:]
    suffix = suffix[1:] if suffix.startswith(" ") else suffix  # "1 g" is fine
    unit = suffix[:1] if suffix[:1] in ("k", "m", "g", "t", "p") else ""
    well_formed = (number[:1].isdigit() and number[-1:].isdigit() and number.count(".") <= 1
                   and suffix[len(unit):] in ("", "b", "i", "ib"))
    if not well_formed:
        raise InvalidArgument(f"invalid size: '{text}' for {flag} (examples: 512m, 1g, "
                              "1024k, 1073741824)", value=text)
    return int(float(number) * _UNITS[unit])


def parse_cpus(text: str | float) -> float:
    """``--cpus``: a decimal number of CPUs, more than 0 and at most this host's."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise InvalidArgument(f"invalid value \"{text}\" for --cpus: not a number") from None
    available = len(os.sched_getaffinity(0))
    if not 0.01 <= value <= available or value != value:
        raise InvalidArgument(f"range of CPUs is from 0.01 to {available}.00, as there "
                              f"are only {available} CPUs available", value=value)
    return value


def parse_pids(value: str | int) -> int:
    """``--pids-limit``: a positive number of tasks, or 0 / -1 for no limit."""
    try:
        number = int(str(value).strip())
    except ValueError:
        raise InvalidArgument(f"invalid value \"{value}\" for --pids-limit: "
                              "not an integer") from None
    if number < -1:
        raise InvalidArgument(f"invalid value \"{value}\" for --pids-limit: use a "
                              "positive number, or -1 for no limit")
    return -1 if number <= 0 else number


class Limits:
    """What a container may use.  Zero (or -1) means "no limit".

    ``memory_swap`` follows Docker: memory plus swap; 0 means twice
    ``memory``; -1 means unlimited swap; else it must be >= ``memory``.
    A plain class, not a dataclass: ``dataclasses`` costs the monitor 5 ms.
    """

    __slots__ = ("memory", "memory_swap", "cpus", "pids_limit")

    def __init__(self, memory: int = 0, memory_swap: int = 0, cpus: float = 0.0,
                 pids_limit: int = 0):
        self.memory, self.memory_swap = memory, memory_swap
        self.cpus, self.pids_limit = cpus, pids_limit
        if self.memory_swap and not self.memory:
            raise InvalidArgument("You should always set the Memory limit when using "
                                  "Memoryswap limit, see usage")
        if self.memory_swap > 0 and self.memory_swap < self.memory:
            raise InvalidArgument("Minimum memoryswap limit should be larger than "
                                  "memory limit, see usage")

    def __repr__(self) -> str:
        return (f"Limits(memory={self.memory}, memory_swap={self.memory_swap}, "
                f"cpus={self.cpus}, pids_limit={self.pids_limit})")

    def __eq__(self, other) -> bool:
        return isinstance(other, Limits) and repr(self) == repr(other)

    def as_dict(self) -> dict:
        """JSON-friendly form, for the runtime spec."""
        return {k: getattr(self, k) for k in self.__slots__}

    def controllers(self) -> list[str]:
        """The controllers these limits need, in a stable order."""
        wanted = [("memory", self.memory > 0), ("cpu", self.cpus > 0),
                  ("pids", self.pids_limit > 0)]
        return [name for name, needed in wanted if needed]


# --- the host -------------------------------------------------------------

class CgroupHost:
    """What this host offers: cgroup version, mounts and usable controllers.

    ``version`` is 1 (v1 or hybrid), 2 (unified only) or 0 (no usable
    cgroups).  ``hierarchies`` maps a hierarchy key (a v1 controller name
    such as ``"memory"`` or ``"name=systemd"``, or ``"unified"``) to its
    mount point.  ``controllers`` are the ones hold can put limits on;
    ``accounting`` (v2) the ones enabled for every container so that
    ``hold stats`` can read their usage (memory, cpu, pids, io).
    """

    __slots__ = ("version", "hierarchies", "controllers", "swap_accounting", "accounting")

    def __init__(self, version: int, hierarchies: dict[str, str] | None = None,
                 controllers: frozenset[str] = frozenset(), swap_accounting: bool = False,
                 accounting: frozenset[str] = frozenset()):
        self.version = version
        self.hierarchies = dict(hierarchies or {})
        self.controllers = frozenset(controllers)
        self.swap_accounting = swap_accounting
        self.accounting = frozenset(accounting) | self.controllers

    @property
    def usable(self) -> bool:
        """True when hold can make cgroups here at all."""
        return bool(self.hierarchies)

    def __repr__(self) -> str:
        return (f"CgroupHost(version={self.version}, controllers={sorted(self.controllers)}, "
                f"hierarchies={self.hierarchies}, swap_accounting={self.swap_accounting})")

    @property
    def unified(self) -> str | None:
        return self.hierarchies.get("unified")

    def check(self, limits: Limits) -> None:
        """Raise Unsupported, naming the flag, if a limit cannot be honoured."""
        for controller in limits.controllers():
            if controller not in self.controllers:
                raise Unsupported(f"{_LIMIT_FLAGS[controller]}: this host has no usable "
                                  f"{controller} cgroup controller", controller=controller)

    def warnings(self, limits: Limits) -> list[str]:
        """Docker's warnings for limits that are accepted but only partly applied."""
        if limits.memory and limits.memory_swap != -1 and not self.swap_accounting:
            return ["Your kernel does not support swap limit capabilities or the cgroup "
                    "is not mounted. Memory limited without swap."]
        return []


def check_available(limits: Limits | dict, host: CgroupHost | None = None) -> None:
    """For the CLI, before anything is created: validate ``limits`` (a Limits
    or its ``as_dict()`` form) and raise Unsupported, naming the flag, for a
    limit this host cannot enforce."""
    if isinstance(limits, dict):
        limits = Limits(**limits)
    (host or detect()).check(limits)


def _cgroup_mounts(mountinfo: str = "/proc/self/mountinfo") -> list[tuple[str, str, str]]:
    """(fstype, mount point, super options) of every cgroup / cgroup2 mount."""
    found = []
    with open(mountinfo, encoding="utf-8") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            fstype, _source, options = (right.split() + ["", ""])[:3]
            if fstype in ("cgroup", "cgroup2"):
                point = left.split()[4].replace("\\040", " ")
                found.append((fstype, point, options))
    return found


def detect(mountinfo: str = "/proc/self/mountinfo") -> CgroupHost:
    """Look at this host's cgroup mounts; never raises for a host without cgroups."""
    try:
        mounts = _cgroup_mounts(mountinfo)
    except OSError:
        return CgroupHost(version=0)
    hierarchies: dict[str, str] = {}
    v2_root = None
    for fstype, point, options in mounts:
        if fstype == "cgroup2":
            hierarchies.setdefault("unified", point)
            if os.path.exists(os.path.join(point, "cgroup.controllers")) and \
                    not any(f == "cgroup" for f, _, _ in mounts):
                v2_root = v2_root or point
            continue
        for option in options.split(","):
            if option in _V1_JOIN:
                hierarchies.setdefault(option, point)
    if v2_root:
        return _detect_v2(v2_root)
    writable = {key for key, point in hierarchies.items()
                if key != "unified" and os.access(point, os.W_OK)}
    usable = frozenset(c for c in ("memory", "cpu", "pids") if c in writable)
    swap = "memory" in usable and os.path.exists(
        os.path.join(hierarchies["memory"], "memory.memsw.limit_in_bytes"))
    if hierarchies.get("unified") and not os.access(hierarchies["unified"], os.W_OK):
        del hierarchies["unified"]
    joined = {k: v for k, v in hierarchies.items() if k in writable or k == "unified"}
    return CgroupHost(version=1 if joined else 0, hierarchies=joined,
                      controllers=usable, swap_accounting=swap)


def _detect_v2(root: str) -> CgroupHost:
    if not os.access(root, os.W_OK):
        return CgroupHost(version=2, hierarchies={})
    try:
        with open(os.path.join(root, "cgroup.controllers"), encoding="ascii") as f:
            offered = set(f.read().split())
    except OSError:
        offered = set()
    usable = frozenset(c for c in ("memory", "cpu", "pids") if c in offered)
    # memory.swap.max exists in every non-root cgroup when swap accounting is
    # compiled in; _write_v2 only writes it where it exists.
    return CgroupHost(version=2, hierarchies={"unified": root}, controllers=usable,
                      swap_accounting="memory" in usable,
                      accounting=frozenset(c for c in ("io",) if c in offered))


def _write(path: str, value: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)


def _read(path: str) -> str:
    with open(path, encoding="ascii") as f:
        return f.read().strip()


# --- one container's cgroup -----------------------------------------------

class ContainerCgroup:
    """The cgroup ``<parent>/<name>`` of one container, in every hierarchy used.

    ``parent`` is ``hold`` for real containers; tests (and anything that must
    stay apart from the containers on the machine) pass their own.
    """

    def __init__(self, name: str, host: CgroupHost, parent: str = PARENT):
        for word in (name, parent):
            if not _name_ok(word):
                raise InvalidArgument(f"invalid cgroup name {word!r}: use letters, "
                                      "digits, '_', '.' and '-'", name=word)
        self.name = name
        self.host = host
        self.parent = parent

    def paths(self) -> dict[str, str]:
        """Hierarchy key -> this container's directory, one per distinct mount."""
        seen, result = set(), {}
        for key, point in self.host.hierarchies.items():
            if point not in seen:
                seen.add(point)
                result[key] = os.path.join(point, self.parent, self.name)
        return result

    def _path_of(self, controller: str) -> str:
        key = "unified" if self.host.version == 2 else controller
        point = self.host.hierarchies[key]
        return os.path.join(point, self.parent, self.name)

    def exists(self) -> bool:
        return any(os.path.isdir(p) for p in self.paths().values())

    def create(self, limits: Limits = Limits(), *, track_only: bool = False) -> None:
        """Make the cgroup in every hierarchy and write ``limits``.

        ``track_only`` (what the monitor asks for): on a v1/hybrid host
        with a unified hierarchy, a container without limits gets its
        cgroup there only.  Why: membership of a v1 hierarchy can only be
        had by writing ``cgroup.procs`` after the fork, one RCU grace period
        (10-20 ms measured per ``hold run``), while the unified one is
        joined for free at clone time; and the unified cgroup is enough to
        track, freeze, kill and time the container (``usage`` counts its
        memory and block I/O from its processes then).

        Checks the controllers first (Unsupported, nothing created); a
        limit the kernel refuses removes what was made and raises
        SystemError_.  Creating an existing cgroup again is allowed: a
        restarted container gets its limits rewritten.
        """
        self.host.check(limits)
        if not self.host.hierarchies:
            return
        paths = self.paths()
        if (track_only and self.host.version == 1 and "unified" in paths
                and not limits.controllers()):
            paths = {"unified": paths["unified"]}
        try:
            for key, path in paths.items():
                self._make(key, path)
            if self.host.version == 2:
                self._write_v2(limits)
            else:
                self._write_v1(limits)
        except OSError as exc:
            self.remove()
            raise SystemError_(f"cgroup {self.parent}/{self.name}: {exc.strerror} "
                               f"({exc.filename or ''})", errno=exc.errno) from exc

    def _make(self, key: str, path: str) -> None:
        parent = os.path.dirname(path)
        for attempt in range(5):
            try:
                self._make_pair(key, parent, path)
                break
            except FileNotFoundError:
                # Another container's remove() took the empty parent away
                # between our two mkdirs: make it again.
                if attempt == 4:
                    raise
        if self.host.version == 2:
            self._enable_v2_controllers(parent)

    def _make_pair(self, key: str, parent: str, path: str) -> None:
        for directory in (parent, path):
            try:
                os.mkdir(directory, 0o755)
            except FileExistsError:
                continue
            if key == "cpuset":  # v1 cpuset refuses tasks until cpus and mems are set
                for knob in ("cpuset.cpus", "cpuset.mems"):
                    mine = os.path.join(directory, knob)
                    if not _read(mine):
                        _write(mine, _read(os.path.join(os.path.dirname(directory), knob)))

    def _enable_v2_controllers(self, parent: str) -> None:
        """Delegate the accounting controllers down to the container's cgroup.

        Read first, write only what is missing: after the first container
        this costs two small reads instead of two writes that the kernel
        serialises against every other cgroup change on the host."""
        names = sorted(self.host.accounting)
        for directory in (os.path.dirname(parent), parent):
            control = os.path.join(directory, "cgroup.subtree_control")
            missing = [c for c in names if c not in _read(control).split()]
            if missing:
                _write(control, " ".join("+" + c for c in missing))

    def _write_v1(self, limits: Limits) -> None:
        if limits.memory:
            memory = self._path_of("memory")
            _write(os.path.join(memory, "memory.limit_in_bytes"), str(limits.memory))
            memsw = os.path.join(memory, "memory.memsw.limit_in_bytes")
            if os.path.exists(memsw):
                total = {0: 2 * limits.memory, -1: -1}.get(limits.memory_swap,
                                                           limits.memory_swap)
                _write(memsw, str(total))
        if limits.cpus:
            cpu = self._path_of("cpu")
            _write(os.path.join(cpu, "cpu.cfs_period_us"), str(CPU_PERIOD_US))
            _write(os.path.join(cpu, "cpu.cfs_quota_us"),
                   str(max(1000, int(limits.cpus * CPU_PERIOD_US))))
        if limits.pids_limit > 0:
            _write(os.path.join(self._path_of("pids"), "pids.max"), str(limits.pids_limit))

    def _write_v2(self, limits: Limits) -> None:
        path = self._path_of("unified")
        if limits.memory:
            _write(os.path.join(path, "memory.max"), str(limits.memory))
            swap_file = os.path.join(path, "memory.swap.max")
            if os.path.exists(swap_file):
                swap = {0: limits.memory, -1: "max"}.get(
                    limits.memory_swap, limits.memory_swap - limits.memory)
                _write(swap_file, str(swap))
        if limits.cpus:
            quota = max(1000, int(limits.cpus * CPU_PERIOD_US))
            _write(os.path.join(path, "cpu.max"), f"{quota} {CPU_PERIOD_US}")
        if limits.pids_limit > 0:
            _write(os.path.join(path, "pids.max"), str(limits.pids_limit))

    def unified_fd(self) -> int | None:
        """An O_PATH-like directory fd of the unified cgroup, for clone3's
        CLONE_INTO_CGROUP (the caller closes it); None without one."""
        path = self.paths().get("unified")
        if path is None:
            return None
        try:
            return os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError:
            return None

    def add(self, pid: int, *, skip_unified: bool = False) -> None:
        """Move ``pid`` (the whole process) into this cgroup in every hierarchy
        (but the unified one with ``skip_unified``: clone3 put it there).

        Call before the process unshares its cgroup namespace, so that the
        namespace is rooted at the container's own cgroup.
        """
        made = {k: p for k, p in self.paths().items() if os.path.isdir(p)}
        if not made:
            raise SystemError_(f"moving process {pid} into cgroup {self.parent}/{self.name}: "
                               "no such cgroup")
        for key, path in made.items():
            if skip_unified and key == "unified":
                continue
            try:
                _write(os.path.join(path, "cgroup.procs"), str(pid))
            except OSError as exc:
                raise SystemError_(f"moving process {pid} into cgroup {path}: "
                                   f"{exc.strerror}", errno=exc.errno) from exc

    def _tracking_path(self) -> str | None:
        paths = self.paths()
        for key in ("unified", "pids", "memory", "freezer"):
            if key in paths:
                return paths[key]
        return next(iter(paths.values()), None)

    def pids(self) -> list[int]:
        """Processes in the cgroup now; empty if it does not exist."""
        path = self._tracking_path()
        if path is None:
            return []
        try:
            return sorted(int(p) for p in _read(os.path.join(path, "cgroup.procs")).split())
        except FileNotFoundError:
            return []

    def kill_all(self, sig: int = SIGKILL) -> None:
        """Signal every process in the cgroup, racing no fork.

        SIGKILL goes through cgroup v2's ``cgroup.kill`` when the kernel has
        it (5.14+), which the kernel applies atomically.  Otherwise the
        cgroup is frozen, every member signalled, and thawed: a frozen
        process cannot fork a child that escapes the signal.
        """
        kill_file = os.path.join(self.paths().get("unified", "/nonexistent"), "cgroup.kill")
        if sig == SIGKILL and os.path.exists(kill_file):
            try:
                _write(kill_file, "1")
                return
            except OSError:
                pass  # fall back to signalling one by one
        frozen = self._set_frozen(True)
        try:
            for pid in self.pids():
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    continue
        finally:
            if frozen:
                self._set_frozen(False)

    def _freezer(self) -> tuple[str, str] | None:
        """("v2", cgroup dir) or ("v1", freezer dir): where this cgroup freezes.

        v2's cgroup.freeze exists in every non-root cgroup of a unified
        hierarchy (also the controller-less one of a hybrid host), so it is
        preferred; v1's freezer controller is the fallback."""
        paths = self.paths()
        if "unified" in paths and os.path.exists(os.path.join(paths["unified"], "cgroup.freeze")):
            return "v2", paths["unified"]
        if "freezer" in paths and os.path.exists(os.path.join(paths["freezer"], "freezer.state")):
            return "v1", paths["freezer"]
        return None

    def can_freeze(self) -> bool:
        return self._freezer() is not None

    def freeze(self, timeout: float = 5.0) -> None:
        """Freeze every process and wait until the kernel says they are.

        Raises SystemError_ if the cgroup cannot freeze or does not settle
        within ``timeout`` (it is thawed again then, so nothing is left
        half-frozen)."""
        self._change_frozen(True, timeout)

    def thaw(self, timeout: float = 5.0) -> None:
        """Let the processes run again; a cgroup that is gone is fine."""
        self._change_frozen(False, timeout)

    def frozen(self) -> bool:
        """True while the cgroup is frozen (or freezing)."""
        where = self._freezer()
        if where is None:
            return False
        kind, path = where
        try:
            if kind == "v2":
                return _read(os.path.join(path, "cgroup.freeze")) == "1"
            return _read(os.path.join(path, "freezer.state")) != "THAWED"
        except OSError:
            return False

    def _change_frozen(self, frozen: bool, timeout: float) -> None:
        where = self._freezer()
        if where is None:
            if not frozen:
                return
            raise Unsupported("this host has no cgroup freezer (cgroup v2's cgroup.freeze "
                              "or the v1 freezer controller)")
        kind, path = where
        knob, value = (("cgroup.freeze", "1" if frozen else "0") if kind == "v2"
                       else ("freezer.state", "FROZEN" if frozen else "THAWED"))
        try:
            _write(os.path.join(path, knob), value)
            deadline = time.monotonic() + timeout
            while not self._settled(kind, path, frozen):
                if time.monotonic() > deadline:
                    if frozen:
                        _write(os.path.join(path, knob), "0" if kind == "v2" else "THAWED")
                    raise SystemError_(f"cgroup {path} did not "
                                       f"{'freeze' if frozen else 'thaw'} within {timeout:g}s")
                time.sleep(0.002)
        except FileNotFoundError:
            if frozen:
                raise SystemError_(f"cgroup {path} is gone") from None
        except OSError as exc:
            raise SystemError_(f"cgroup {path}: {exc.strerror}", errno=exc.errno) from exc

    @staticmethod
    def _settled(kind: str, path: str, frozen: bool) -> bool:
        """v2: cgroup.events says "frozen 1" once every task stopped; v1:
        freezer.state moves from FREEZING to FROZEN."""
        if kind == "v2":
            events = _read(os.path.join(path, "cgroup.events")).split()
            state = events[events.index("frozen") + 1] if "frozen" in events else "1" if frozen else "0"
            return state == ("1" if frozen else "0")
        return _read(os.path.join(path, "freezer.state")) == ("FROZEN" if frozen else "THAWED")

    def _set_frozen(self, frozen: bool) -> bool:
        """For kill_all: best effort, never raises; True if it changed."""
        try:
            self._change_frozen(frozen, 1.0)
            return self._freezer() is not None
        except (SystemError_, Unsupported):
            return False

    def stats(self) -> dict:
        """Usage now: memory bytes, memory limit, pids, CPU nanoseconds (None if unknown)."""
        result = {"memory_usage": None, "memory_limit": None, "pids_current": None,
                  "cpu_usage_ns": None}
        v2 = self.host.version == 2
        sources = {
            "memory_usage": ("memory", "memory.current" if v2 else "memory.usage_in_bytes"),
            "memory_limit": ("memory", "memory.max" if v2 else "memory.limit_in_bytes"),
            "pids_current": ("pids", "pids.current"),
            "cpu_usage_ns": ("cpu" if v2 else "cpuacct", "cpu.stat" if v2 else "cpuacct.usage"),
        }
        for key, (controller, filename) in sources.items():
            try:
                text = _read(os.path.join(self._path_of(controller), filename))
            except (KeyError, OSError):
                continue
            if filename == "cpu.stat":
                usage = dict(line.split() for line in text.splitlines()).get("usage_usec")
                result[key] = int(usage) * 1000 if usage else None
            else:
                result[key] = None if text == "max" else int(text)
        return result

    def usage(self) -> dict:
        """What ``hold stats`` shows, read from the cgroup now.

        Keys (None where the host does not account it): ``cpu_ns`` (CPU
        time used, all CPUs), ``memory`` (bytes, minus the inactive file
        cache as Docker's CLI counts it), ``memory_limit`` (None: none),
        ``pids``, ``blk_read`` and ``blk_write`` (bytes).
        """
        stats = self.stats()
        result = {"cpu_ns": stats["cpu_usage_ns"], "memory": stats["memory_usage"],
                  "memory_limit": stats["memory_limit"], "pids": stats["pids_current"],
                  "blk_read": None, "blk_write": None}
        v2 = self.host.version == 2
        if result["cpu_ns"] is None:       # hybrid: the unified cgroup has cpu.stat
            unified = self.paths().get("unified")
            try:
                text = _read(os.path.join(unified, "cpu.stat")) if unified else ""
                usage = dict(line.split() for line in text.splitlines()).get("usage_usec")
                result["cpu_ns"] = int(usage) * 1000 if usage else None
            except OSError:
                pass
        members = self.pids()
        if result["pids"] is None:
            result["pids"] = len(members) if self.exists() else None
        if result["memory"] is None:        # tracked in the unified hierarchy only
            result["memory"] = _resident_bytes(members)
        elif result["memory"] is not None:
            inactive = self._memory_stat("inactive_file" if v2 else "total_inactive_file")
            if inactive and inactive < result["memory"]:
                result["memory"] -= inactive
        if result["memory_limit"] is not None and result["memory_limit"] >= 1 << 62:
            result["memory_limit"] = None      # v1 writes "no limit" as a huge number
        result["blk_read"], result["blk_write"] = self._block_io()
        if result["blk_read"] is None:
            result["blk_read"], result["blk_write"] = _process_io(members)
        return result

    def _memory_stat(self, key: str) -> int | None:
        try:
            path = self._path_of("memory")
            with open(os.path.join(path, "memory.stat"), encoding="ascii") as f:
                for line in f:
                    name, _, value = line.partition(" ")
                    if name == key:
                        return int(value)
        except (KeyError, OSError, ValueError):
            pass
        return None

    def _block_io(self) -> tuple[int | None, int | None]:
        """Bytes read and written: v2 io.stat (rbytes/wbytes per device),
        v1 blkio's recursive service bytes (Read/Write per device)."""
        read = write = 0
        try:
            if self.host.version == 2:
                text = _read(os.path.join(self._path_of("unified"), "io.stat"))
                for line in text.splitlines():
                    for field in line.split()[1:]:
                        key, _, value = field.partition("=")
                        if key == "rbytes":
                            read += int(value)
                        elif key == "wbytes":
                            write += int(value)
                return read, write
            path = self.paths().get("blkio")
            if path is None:
                return None, None
            for name in ("blkio.throttle.io_service_bytes_recursive",
                         "blkio.io_service_bytes_recursive"):
                try:
                    text = _read(os.path.join(path, name))
                except FileNotFoundError:
                    continue
                for line in text.splitlines():
                    parts = line.split()
                    if len(parts) == 3 and parts[1] == "Read":
                        read += int(parts[2])
                    elif len(parts) == 3 and parts[1] == "Write":
                        write += int(parts[2])
                return read, write
        except (KeyError, OSError, ValueError):
            pass
        return (None, None) if not (read or write) else (read, write)

    def remove(self, timeout: float = 2.0) -> None:
        """Remove the cgroup everywhere; a cgroup already gone is fine.

        rmdir fails with EBUSY while member processes are still exiting, so
        it is retried for up to ``timeout`` seconds before SystemError_.
        """
        deadline = time.monotonic() + timeout
        for top in self.paths().values():
            # Children first: a container may have made cgroups of its own.
            nested = [root for root, _, _ in os.walk(top, topdown=False)] or [top]
            for path in nested:
                _rmdir_patiently(path, deadline)
            try:  # the shared parent goes with its last child
                os.rmdir(os.path.dirname(top))
            except OSError:
                pass


def _resident_bytes(pids) -> int:
    """Resident memory of these processes (statm), for a container whose
    cgroup has no memory controller: an estimate (shared pages count once
    per process), where the controller would give the exact charge."""
    page = os.sysconf("SC_PAGE_SIZE")
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/statm", encoding="ascii") as f:
                total += int(f.read().split()[1]) * page
        except (OSError, IndexError, ValueError):
            continue
    return total


def _process_io(pids) -> tuple[int, int]:
    """Storage bytes read and written by these (live) processes, from
    /proc/PID/io, for a container whose cgroup has no blkio/io controller."""
    read = write = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/io", encoding="ascii") as f:
                fields = dict(line.split(": ") for line in f.read().splitlines())
            read += int(fields.get("read_bytes", 0))
            write += int(fields.get("write_bytes", 0))
        except (OSError, ValueError):
            continue
    return read, write


def _rmdir_patiently(path: str, deadline: float) -> None:
    while True:
        try:
            os.rmdir(path)
            return
        except FileNotFoundError:
            return
        except OSError as exc:
            if exc.errno != errno.EBUSY or time.monotonic() > deadline:
                raise SystemError_(f"removing cgroup {path}: {exc.strerror}",
                                   errno=exc.errno) from exc
            time.sleep(0.02)


def cleanup_orphans(alive_ids, host: CgroupHost | None = None, *, parent: str = PARENT,
                    min_age: float = 30.0, kill_running: bool = False,
                    dead_ids=()) -> list[str]:
    """Remove the ``<parent>/<name>`` cgroups whose name is not in ``alive_ids``.

    For ``hold system check``, after a monitor was killed with SIGKILL.
    Conservative by default, because every hold data root (each test has
    its own) shares the one ``hold/`` cgroup and ``alive_ids`` only knows
    the caller's root:

    - a cgroup younger than ``min_age`` seconds is left alone (it may be
      between ``create`` and ``add`` in another hold process), unless its
      name is in ``dead_ids``: containers the caller knows were running
      and whose monitor and process are gone (killed), so no start of
      theirs can be under way;
    - a cgroup with processes is left alone unless ``kill_running``, which
      kills them first.  Pass it only when ``alive_ids`` covers every root.

    Returns the names removed, sorted.
    """
    host = host or detect()
    alive, dead = set(alive_ids), set(dead_ids)
    removed = []
    for name in sorted(_child_names(host, parent) - alive):
        if not _name_ok(name):
            continue
        cgroup = ContainerCgroup(name, host, parent)
        if name not in dead and _age(cgroup) < min_age:
            continue
        if cgroup.pids():
            if not kill_running:
                continue
            cgroup.kill_all(SIGKILL)
        try:
            cgroup.remove()
        except SystemError_:
            continue  # still busy: the next check will have it
        removed.append(name)
    return removed


def _child_names(host: CgroupHost, parent: str) -> set[str]:
    names: set[str] = set()
    for point in set(host.hierarchies.values()):
        try:
            names.update(e.name for e in os.scandir(os.path.join(point, parent))
                         if e.is_dir())
        except FileNotFoundError:
            continue
    return names


def _age(cgroup: ContainerCgroup) -> float:
    """Seconds since the cgroup was made (the newest of its directories)."""
    newest = 0.0
    for path in cgroup.paths().values():
        try:
            newest = max(newest, os.stat(path).st_mtime)
        except FileNotFoundError:
            continue
    return time.time() - newest if newest else float("inf")
