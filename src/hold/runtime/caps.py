"""Linux capabilities for containers, the way Docker hands them out.

Two halves, used at two different moments::

    CLI process (before anything exists)      container child (fork .. execve)
    ------------------------------------      --------------------------------
    resolve(cap_add, cap_drop, privileged)    apply(keep)
      -> frozenset of "CAP_*" names             bounding set  := keep
         or InvalidArgument                     eff/perm      := keep
                                                inheritable   := {}
                                                ambient       := {}

``resolve`` is pure, so a bad ``--cap-add`` is refused before a container
record, a layer or a cgroup is made.  ``apply`` runs as root in the forked
child and must be the last privileged step but one (seccomp comes after it,
because the filter may forbid the calls that setup still needs).

After ``apply`` and an ``execve`` of a root process, the kernel computes
``P'(permitted) = P(inheritable) & F(inheritable) | F(permitted) & bounding``
with both file sets treated as full for uid 0, so the new program holds
exactly ``keep`` in its effective, permitted and bounding sets.  The
inheritable set is left empty on purpose: Docker did the same after
CVE-2022-24769, where a non-empty inheritable set let a non-root user in
the container gain capabilities through a binary with inheritable file
capabilities.  A non-root ``--user`` therefore starts with no effective
capabilities, like in Docker.

The module imports only os, errno and the ctypes bindings: it runs in the
container child between fork and exec, where start-up cost is paid per
container.
"""

from __future__ import annotations

import errno
import os

from hold.errors import InvalidArgument, SystemError_
from hold.runtime import _linux

__all__ = ["ALL_CAPS", "DEFAULT_CAPS", "resolve", "normalize", "apply",
           "mask", "last_cap", "names_from_mask"]

#: Every capability Linux defines up to 6.x, by its number (capability.h).
ALL_CAPS: dict[str, int] = {
    "CAP_CHOWN": 0, "CAP_DAC_OVERRIDE": 1, "CAP_DAC_READ_SEARCH": 2,
    "CAP_FOWNER": 3, "CAP_FSETID": 4, "CAP_KILL": 5, "CAP_SETGID": 6,
    "CAP_SETUID": 7, "CAP_SETPCAP": 8, "CAP_LINUX_IMMUTABLE": 9,
    "CAP_NET_BIND_SERVICE": 10, "CAP_NET_BROADCAST": 11, "CAP_NET_ADMIN": 12,
    "CAP_NET_RAW": 13, "CAP_IPC_LOCK": 14, "CAP_IPC_OWNER": 15,
    "CAP_SYS_MODULE": 16, "CAP_SYS_RAWIO": 17, "CAP_SYS_CHROOT": 18,
    "CAP_SYS_PTRACE": 19, "CAP_SYS_PACCT": 20, "CAP_SYS_ADMIN": 21,
    "CAP_SYS_BOOT": 22, "CAP_SYS_NICE": 23, "CAP_SYS_RESOURCE": 24,
    "CAP_SYS_TIME": 25, "CAP_SYS_TTY_CONFIG": 26, "CAP_MKNOD": 27,
    "CAP_LEASE": 28, "CAP_AUDIT_WRITE": 29, "CAP_AUDIT_CONTROL": 30,
    "CAP_SETFCAP": 31, "CAP_MAC_OVERRIDE": 32, "CAP_MAC_ADMIN": 33,
    "CAP_SYSLOG": 34, "CAP_WAKE_ALARM": 35, "CAP_BLOCK_SUSPEND": 36,
    "CAP_AUDIT_READ": 37, "CAP_PERFMON": 38, "CAP_BPF": 39,
    "CAP_CHECKPOINT_RESTORE": 40,
}

#: Docker's default set (moby oci/caps/defaults.go): enough to run a normal
#: Unix userland as root, nothing that reaches past the container.
DEFAULT_CAPS: frozenset[str] = frozenset({
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
    "CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
})

_ALL = "ALL"


def normalize(name: str) -> str:
    """``"net_admin"``, ``"CAP_NET_ADMIN"`` -> ``"CAP_NET_ADMIN"``; ``"all"`` -> ``"ALL"``.

    Raises InvalidArgument for a name Linux does not define, with Docker's
    wording, so ``--cap-add foo`` fails the same way it does there.
    """
    upper = name.strip().upper()
    if upper == _ALL:
        return _ALL
    full = upper if upper.startswith("CAP_") else "CAP_" + upper
    if full not in ALL_CAPS:
        raise InvalidArgument(f"invalid capability: {name}", capability=name)
    return full


def resolve(cap_add: list[str], cap_drop: list[str], privileged: bool) -> frozenset[str]:
    """The capability names a container keeps, by Docker's rules.

    - ``privileged``: every capability (add and drop are still validated,
      so a typo is never silently ignored).
    - ``ALL`` in cap_add: every capability but those dropped.
    - ``ALL`` in cap_drop: only those added.
    - otherwise: the default set, minus drops, plus adds.

    Pure: validation belongs in the CLI process, before anything is created.
    """
    adds = {normalize(n) for n in cap_add}
    drops = {normalize(n) for n in cap_drop}
    everything = frozenset(ALL_CAPS)
    if privileged:
        return everything
    if _ALL in adds:
        return everything - drops
    if _ALL in drops:
        return frozenset(adds - {_ALL})
    return frozenset((DEFAULT_CAPS - drops) | adds)


def mask(names: frozenset[str] | set[str]) -> int:
    """The 64-bit kernel mask for capability names (``CAP_*`` form)."""
    bits = 0
    for name in names:
        bits |= 1 << ALL_CAPS[name]
    return bits


def names_from_mask(bits: int) -> frozenset[str]:
    """The names of the capabilities set in a kernel mask (unknown bits dropped)."""
    return frozenset(n for n, nr in ALL_CAPS.items() if bits >> nr & 1)


def last_cap() -> int:
    """The highest capability number the running kernel knows.

    Read from /proc/sys/kernel/cap_last_cap; kernels that predate it (or a
    /proc that is not mounted yet) fall back to probing the bounding set,
    which answers EINVAL past the last capability.
    """
    try:
        with open("/proc/sys/kernel/cap_last_cap", "rb") as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        pass
    nr = 0
    while nr < 63:
        try:
            _linux.prctl(_linux.PR_CAPBSET_READ, nr + 1)
        except OSError:
            break
        nr += 1
    return nr


def apply(keep: frozenset[str]) -> None:
    """Reduce the calling process to exactly ``keep``; call as root before execve.

    Order matters: the bounding set is cut first, while CAP_SETPCAP is still
    effective; then capset() sets effective and permitted to ``keep`` (and
    inheritable to nothing, see the module docstring); last, the ambient set
    is cleared so nothing survives execve outside the bounding set.
    Capabilities newer than the running kernel are skipped: a container asking
    for CAP_CHECKPOINT_RESTORE on a 5.4 kernel simply does not get it.
    """
    top = last_cap()
    for name, nr in ALL_CAPS.items():
        if nr > top or name in keep:
            continue
        try:
            _linux.prctl(_linux.PR_CAPBSET_DROP, nr)
        except OSError as exc:
            if exc.errno == errno.EINVAL:  # the kernel does not know it
                continue
            raise SystemError_(f"dropping {name} from the bounding set: {exc.strerror}",
                               errno=exc.errno) from exc
    bits = mask(frozenset(n for n in keep if ALL_CAPS[n] <= top))
    try:
        _linux.capset(bits, bits, 0)
    except OSError as exc:
        raise SystemError_(f"capset: {os.strerror(exc.errno)} (keeping {len(keep)} "
                           "capabilities; is the process root with those capabilities?)",
                           errno=exc.errno) from exc
    try:
        _linux.prctl(_linux.PR_CAP_AMBIENT, _linux.PR_CAP_AMBIENT_CLEAR_ALL)
    except OSError as exc:
        if exc.errno != errno.EINVAL:  # pre-4.3 kernels have no ambient set
            raise SystemError_(f"clearing the ambient capabilities: {exc.strerror}",
                               errno=exc.errno) from exc
