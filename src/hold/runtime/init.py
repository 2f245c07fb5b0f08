"""The container's first process, between clone and execve.

``enter_container`` runs in the child the monitor cloned into new
namespaces.  It never returns: it either execs the container's command or
reports why it could not over ``error_fd`` (a CLOEXEC pipe, so a successful
exec closes it with nothing written) and exits 125/126/127.

The order matters and is the same as runc's:

    wait for the monitor's go (network ready)
    make / a slave mount tree, so nothing we mount reaches the host
    mount the overlay (image layers + writable layer) at rootfs
    /proc, /dev (tmpfs + nodes + pts + shm + mqueue), /sys read-only
    /etc/hosts, /etc/hostname, /etc/resolv.conf, volumes, binds, tmpfs
    mask and read-only /proc paths
    pivot_root into rootfs, detach the old root
    wait for the monitor's "c" (cgroup joined: it overlaps the above)
    hostname, user lookup in the container's own /etc/passwd, cwd
    capabilities, no_new_privs, seccomp (last: it filters what follows)
    execve
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import signal
import socket
import stat
import struct
import termios

# Everything this module needs is imported here, at the top: after
# pivot_root (or setns into a mount namespace) the host's Python files are
# no longer reachable, so a lazy import there would fail.
from hold.runtime import _linux as L
from hold.runtime import caps, seccomp
from hold.rootpath import resolve_inside
from hold.runtime.spec import Mount, RuntimeSpec

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
MASKED_PATHS = (
    "/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys",
    "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
    "/proc/sched_debug", "/proc/scsi", "/sys/firmware",
    "/sys/devices/virtual/powercap",
)
READONLY_PATHS = ("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys",
                  "/proc/sysrq-trigger")
DEVICES = (("null", 1, 3), ("zero", 1, 5), ("full", 1, 7), ("random", 1, 8),
           ("urandom", 1, 9), ("tty", 5, 0))
INIT_TARGET = "/sbin/docker-init"
MS_SYNCHRONOUS, MS_NOATIME, MS_NODIRATIME, MS_RELATIME = 16, 1024, 2048, 1 << 21
# tmpfs flag words (Docker's --tmpfs options): word -> (bits to set, bits to clear)
TMPFS_FLAG_WORDS = {
    "noexec": (L.MS_NOEXEC, 0), "exec": (0, L.MS_NOEXEC),
    "nosuid": (L.MS_NOSUID, 0), "suid": (0, L.MS_NOSUID),
    "nodev": (L.MS_NODEV, 0), "dev": (0, L.MS_NODEV),
    "sync": (MS_SYNCHRONOUS, 0), "async": (0, MS_SYNCHRONOUS),
    "noatime": (MS_NOATIME, 0), "atime": (0, MS_NOATIME | L.MS_STRICTATIME),
    "nodiratime": (MS_NODIRATIME, 0), "diratime": (0, MS_NODIRATIME),
    "relatime": (MS_RELATIME, 0), "norelatime": (0, MS_RELATIME),
    "strictatime": (L.MS_STRICTATIME, 0), "nostrictatime": (0, L.MS_STRICTATIME),
}


class StartError(Exception):
    """Why the container process could not start; ``code`` is its exit code."""

    def __init__(self, message: str, code: int = 125):
        super().__init__(message)
        self.code = code


def enter_container(spec: RuntimeSpec, stdio: tuple[int, int, int],
                    sync_fd: int, error_fd: int, tty_slave: int | None) -> None:
    """Set up the container from inside its namespaces and exec; never returns."""
    try:
        # Until execve this process is hold's interpreter: keep it out of
        # reach of /proc/PID/exe for everything in the container.
        L.prctl(L.PR_SET_DUMPABLE, 0)
        if os.read(sync_fd, 1) != b"g":       # the monitor died or said no
            os._exit(125)
        _setup_filesystem(spec, tty_slave)
        # Meanwhile the monitor moved us into the cgroup's v1 hierarchies;
        # nothing of the container's own may run before that is done.
        if os.read(sync_fd, 1) != b"c":
            os._exit(125)
        os.close(sync_fd)
        _setup_identity_and_exec(spec, stdio, tty_slave, error_fd)
    except StartError as exc:
        _report(error_fd, str(exc), exc.code)
    except OSError as exc:
        _report(error_fd, f"container init: {exc}", 125)
    except BaseException as exc:  # noqa: BLE001 - the child must never unwind
        _report(error_fd, f"container init: {type(exc).__name__}: {exc}", 125)


def _report(error_fd: int, message: str, code: int) -> None:
    try:
        os.write(error_fd, json.dumps({"message": message, "code": code}).encode())
    finally:
        os._exit(code)


# -- filesystem -------------------------------------------------------------

def _setup_filesystem(spec: RuntimeSpec, tty_slave: int | None) -> None:
    L.mount(None, "/", None, L.MS_REC | L.MS_SLAVE)
    if spec.network != "host":
        _loopback_up()
    rootfs = spec.rootfs
    _mount_overlay(spec)
    privileged = spec.security.privileged
    _mount_kernel_filesystems(rootfs, privileged)
    if tty_slave is not None:
        console = in_root(rootfs, "/dev/console")
        open(console, "a").close()
        L.mount(os.ttyname(tty_slave), console, None, L.MS_BIND)
    for target, source in spec.etc_files.items():
        _bind_file(source, in_root(rootfs, target))
    if spec.init_binary:
        _bind_file(spec.init_binary, in_root(rootfs, INIT_TARGET), readonly=True)
    for mount in spec.mounts:
        _apply_mount(rootfs, mount)
    if spec.security.masked_paths and not privileged:
        _mask_paths(rootfs)
    os.chdir(rootfs)
    L.pivot_root(".", ".")
    L.umount2(".", L.MNT_DETACH)
    os.chdir("/")


def _mount_overlay(spec: RuntimeSpec) -> None:
    os.makedirs(spec.rootfs, exist_ok=True)
    # Relative lowerdirs keep the option string under the kernel's page-size
    # limit for deep images: mount from inside the layers' common parent.
    parent = os.path.commonpath(spec.lowerdirs) if len(spec.lowerdirs) > 1 else ""
    if parent and os.path.isdir(parent):
        os.chdir(parent)
        lower = ":".join(os.path.relpath(d, parent) for d in spec.lowerdirs)
    else:
        lower = ":".join(spec.lowerdirs)
    options = f"lowerdir={lower},upperdir={spec.upperdir},workdir={spec.workdir}"
    try:
        # redirect_dir and metacopy would leave content of the writable layer
        # in lower layers, and `hold commit` / `hold diff` read the upperdir
        # alone; kernels without the options get the plain mount.
        try:
            L.mount("overlay", spec.rootfs, "overlay", 0,
                    options + ",redirect_dir=off,metacopy=off")
        except OSError as exc:
            if exc.errno != errno.EINVAL:
                raise
            L.mount("overlay", spec.rootfs, "overlay", 0, options)
    except OSError as exc:
        raise StartError(f"mounting the container's root filesystem: {exc}") from exc
    finally:
        os.chdir("/")


def _mount_kernel_filesystems(rootfs: str, privileged: bool) -> None:
    nsx = L.MS_NOSUID | L.MS_NODEV | L.MS_NOEXEC
    proc = _mkdir_in(rootfs, "/proc")
    L.mount("proc", proc, "proc", nsx)
    dev = _mkdir_in(rootfs, "/dev")
    L.mount("tmpfs", dev, "tmpfs", L.MS_NOSUID | L.MS_STRICTATIME, "mode=755,size=65536k")
    for name, major, minor in DEVICES:
        path = os.path.join(dev, name)
        os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(major, minor))
        os.chmod(path, 0o666)
    pts = _mkdir_in(rootfs, "/dev/pts")
    L.mount("devpts", pts, "devpts", L.MS_NOSUID | L.MS_NOEXEC,
            "newinstance,ptmxmode=0666,mode=0620,gid=5")
    os.symlink("pts/ptmx", os.path.join(dev, "ptmx"))
    shm = _mkdir_in(rootfs, "/dev/shm")
    L.mount("shm", shm, "tmpfs", nsx, "mode=1777,size=65536k")
    mqueue = _mkdir_in(rootfs, "/dev/mqueue")
    L.mount("mqueue", mqueue, "mqueue", nsx)
    for link, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                         ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2"),
                         ("core", "/proc/kcore")):
        os.symlink(target, os.path.join(dev, link))
    sys_dir = _mkdir_in(rootfs, "/sys")
    flags = nsx | (0 if privileged else L.MS_RDONLY)
    try:
        L.mount("sysfs", sys_dir, "sysfs", flags)
    except PermissionError:
        # Outside a new network namespace the kernel may refuse a fresh
        # sysfs; a read-only recursive bind of the host's is equivalent.
        L.mount("/sys", sys_dir, None, L.MS_BIND | L.MS_REC)
        if not privileged:
            L.mount(None, sys_dir, None, L.MS_BIND | L.MS_REMOUNT | L.MS_RDONLY | L.MS_REC)


def _apply_mount(rootfs: str, mount: Mount) -> None:
    if mount.kind == "tmpfs":
        target = _mkdir_in(rootfs, mount.target)
        opts = []
        if mount.size:
            opts.append(f"size={mount.size}")
        if mount.mode is not None:
            opts.append(f"mode={mount.mode:o}")
        flags = L.MS_NOSUID | L.MS_NODEV | (L.MS_RDONLY if mount.readonly else 0)
        for option in mount.options:
            if option in TMPFS_FLAG_WORDS:
                set_bits, clear_bits = TMPFS_FLAG_WORDS[option]
                flags = (flags | set_bits) & ~clear_bits
            else:
                opts.append(option)
        L.mount("tmpfs", target, "tmpfs", flags, ",".join(opts) or None)
        return
    if os.path.isdir(mount.source):
        target = _mkdir_in(rootfs, mount.target)
    else:
        target = in_root(rootfs, mount.target)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if not os.path.lexists(target):
            open(target, "a").close()
    L.mount(mount.source, target, None, L.MS_BIND | L.MS_REC)
    propagation = {"private": L.MS_PRIVATE, "rprivate": L.MS_PRIVATE | L.MS_REC,
                   "slave": L.MS_SLAVE, "rslave": L.MS_SLAVE | L.MS_REC,
                   "shared": L.MS_SHARED, "rshared": L.MS_SHARED | L.MS_REC}
    L.mount(None, target, None, propagation.get(mount.propagation, L.MS_PRIVATE | L.MS_REC))
    if mount.readonly:
        L.mount(None, target, None, L.MS_BIND | L.MS_REMOUNT | L.MS_RDONLY)


def _bind_file(source: str, target: str, readonly: bool = False) -> None:
    os.makedirs(os.path.dirname(target), exist_ok=True)
    if not os.path.lexists(target):
        open(target, "a").close()
    L.mount(source, target, None, L.MS_BIND)
    if readonly:
        L.mount(None, target, None, L.MS_BIND | L.MS_REMOUNT | L.MS_RDONLY)


def _mask_paths(rootfs: str) -> None:
    for path in MASKED_PATHS:
        target = in_root(rootfs, path)
        if os.path.isdir(target):
            L.mount("tmpfs", target, "tmpfs", L.MS_RDONLY)
        elif os.path.exists(target):
            L.mount("/dev/null", target, None, L.MS_BIND)
    for path in READONLY_PATHS:
        target = in_root(rootfs, path)
        if os.path.exists(target):
            L.mount(target, target, None, L.MS_BIND | L.MS_REC)
            L.mount(None, target, None,
                    L.MS_BIND | L.MS_REMOUNT | L.MS_RDONLY | L.MS_REC)


def _mkdir_in(rootfs: str, path: str) -> str:
    target = in_root(rootfs, path)
    os.makedirs(target, exist_ok=True)
    return target


def in_root(root: str, path: str) -> str:
    """``path`` inside ``root``, resolving symlinks as the container would:
    a symlink planted in an image (``/proc -> /etc``) must never make a
    mount land on the host."""
    def link_of(rel: str) -> str | None:
        candidate = root + rel
        return os.readlink(candidate) if os.path.islink(candidate) else None
    return os.path.join(root, resolve_inside(path, link_of, StartError).lstrip("/"))


def _loopback_up() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        ifreq = struct.pack("16sH14x", b"lo", 0)
        flags = struct.unpack("16sH14x", fcntl.ioctl(s, 0x8913, ifreq))[1]
        fcntl.ioctl(s, 0x8914, struct.pack("16sH14x", b"lo", flags | 1))


# -- identity and exec ------------------------------------------------------

def _setup_identity_and_exec(spec: RuntimeSpec, stdio, tty_slave, error_fd) -> None:
    process = spec.process
    L.sethostname(spec.hostname)
    uid, gid, groups, home = resolve_user(process.user)
    env = container_env(process.env, spec.hostname, home, process.tty)
    enter_cwd(process.cwd, uid, gid)
    wire_stdio(stdio, tty_slave)
    if spec.security.no_new_privs:
        L.prctl(L.PR_SET_NO_NEW_PRIVS, 1)
    # Installed while CAP_SYS_ADMIN is still held, so it works without
    # no_new_privs too (as runc does); the filter allows what follows.
    install_seccomp(spec)
    switch_user(uid, gid, groups, spec.security)
    args = list(process.args)
    if process.init:
        args = [INIT_TARGET, "--"] + args
    close_other_fds(error_fd)
    exec_command(args, env)


def switch_user(uid: int, gid: int, groups: list[int], security) -> None:
    """Become the container's user with exactly the capabilities it keeps.

    Root keeps ``security.caps``.  Another user keeps CAP_SETUID/SETGID in
    the bounding set until setuid, which then clears every capability, as
    the kernel does for a non-root exec.
    """
    keep = frozenset(spec_caps(security))
    if uid == 0:
        os.setgroups(groups)
        os.setgid(gid)
        if not security.privileged:
            caps.apply(keep)
        return
    if not security.privileged:
        caps.apply(keep | {"CAP_SETUID", "CAP_SETGID"})
    os.setgroups(groups)
    os.setgid(gid)
    os.setuid(uid)


def spec_caps(security) -> set[str]:
    return {c if c.startswith("CAP_") else f"CAP_{c}" for c in security.caps}


def install_seccomp(spec: RuntimeSpec) -> None:
    security = spec.security
    if security.privileged or security.seccomp == "unconfined":
        return
    held = frozenset(spec_caps(security))
    if security.seccomp == "custom" and security.seccomp_profile:
        program = seccomp.filter_from_docker_profile(security.seccomp_profile, caps=held)
    else:
        program = seccomp.default_filter(caps=held)
    seccomp.install(program)


def reset_signals() -> None:
    """Default dispositions and an empty mask, as a fresh process has.

    Python ignores SIGPIPE and the monitor ignores SIGTERM/SIGINT; ignored
    signals survive execve, and a shell cannot even trap a signal that was
    ignored when it started, so every one is reset before exec.
    """
    for sig in range(1, signal.NSIG):
        if sig in (signal.SIGKILL, signal.SIGSTOP):
            continue
        try:
            signal.signal(sig, signal.SIG_DFL)
        except (OSError, ValueError):
            pass
    signal.pthread_sigmask(signal.SIG_SETMASK, [])


def exec_command(args: list[str], env: dict[str, str]) -> None:
    reset_signals()
    path = env.get("PATH", DEFAULT_PATH)
    command = args[0]
    candidates = [command] if "/" in command else [
        os.path.join(d or ".", command) for d in path.split(":")]
    denied = None
    for candidate in candidates:
        try:
            os.execve(candidate, args, env)
        except (FileNotFoundError, NotADirectoryError):
            continue
        except PermissionError as exc:
            denied = exc
        except OSError as exc:
            if exc.errno == errno.ENOEXEC:
                raise StartError(f'exec: "{command}": exec format error', 126) from exc
            raise StartError(f'exec: "{command}": {exc.strerror}', 126) from exc
    if denied is not None:
        raise StartError(f'exec: "{command}": permission denied', 126)
    if "/" in command:
        raise StartError(f'exec: "{command}": stat {command}: no such file or directory', 127)
    raise StartError(f'exec: "{command}": executable file not found in $PATH', 127)


def container_env(env_list: list[str], hostname: str, home: str, tty: bool) -> dict[str, str]:
    env: dict[str, str] = {}
    for item in env_list:
        key, _, value = item.partition("=")
        env[key] = value
    env.setdefault("PATH", DEFAULT_PATH)
    env.setdefault("HOSTNAME", hostname)
    env.setdefault("HOME", home)
    if tty:
        env.setdefault("TERM", "xterm")
    return env


def enter_cwd(cwd: str, uid: int, gid: int) -> None:
    cwd = cwd or "/"
    if not os.path.isdir(cwd):
        try:
            os.makedirs(cwd, mode=0o755)
            os.chown(cwd, uid, gid) if uid else None
        except OSError as exc:
            raise StartError(f"cannot create working directory {cwd}: {exc.strerror}") from exc
    os.chdir(cwd)


def wire_stdio(stdio: tuple[int, int, int], tty_slave: int | None) -> None:
    if tty_slave is not None:
        os.setsid()
        fcntl.ioctl(tty_slave, termios.TIOCSCTTY, 0)
        stdio = (tty_slave, tty_slave, tty_slave)
    for target, fd in enumerate(stdio):
        if fd != target:
            os.dup2(fd, target)


def close_other_fds(keep: int) -> None:
    os.closerange(3, keep)
    os.closerange(keep + 1, 65536)


def resolve_user(user: str) -> tuple[int, int, list[int], str]:
    """uid, gid, supplementary groups and home for Docker's ``-u`` forms.

    Accepts ``name``, ``uid``, ``name:group``, ``uid:gid`` (any mix), read
    from the container's own /etc/passwd and /etc/group: call it after
    pivot_root.
    """
    name, _, group = (user or "root").partition(":")
    passwd = _read_db("/etc/passwd")
    entry = next((e for e in passwd if e[0] == name or (name.isdigit() and e[2] == name)), None)
    if entry is None:
        if not name.isdigit():
            raise StartError(f"unable to find user {name}: no matching entries in passwd file", 126)
        uid, gid, home, username = int(name), 0, "/", None
    else:
        uid, gid, home, username = int(entry[2]), int(entry[3]), entry[5] or "/", entry[0]
    groups_db = _read_db("/etc/group")
    if group:
        match = next((g for g in groups_db if g[0] == group or (group.isdigit() and g[2] == group)), None)
        if match is None:
            if not group.isdigit():
                raise StartError(f"unable to find group {group}: no matching entries in group file", 126)
            gid = int(group)
        else:
            gid = int(match[2])
    extra = sorted({int(g[2]) for g in groups_db
                    if username and len(g) > 3 and username in g[3].split(",") and g[2].isdigit()})
    return uid, gid, [gid] + [g for g in extra if g != gid], home


def _read_db(path: str) -> list[list[str]]:
    try:
        with open(path, errors="replace") as f:
            return [line.rstrip("\n").split(":") for line in f
                    if line.strip() and not line.startswith("#") and line.count(":") >= 2]
    except OSError:
        return []
