"""Seccomp filters for containers, built as classic BPF here (no libseccomp).

The kernel runs the filter on every system call with a ``seccomp_data``::

    offset  0  u32 nr                   system call number
            4  u32 arch                 AUDIT_ARCH_* of the calling ABI
            8  u64 instruction_pointer
           16  u64 args[6]              little-endian: low word first

and acts on the 32-bit value it returns (ALLOW, ERRNO|errno, KILL, ...).
Every program this module builds has the same shape::

    ld arch;  arch != native          -> KILL_PROCESS   (i386/arm32 entry points)
    ld nr;    nr >= 0x40000000 (x86)  -> ERRNO(EPERM)   (x32 ABI)
    binary search on nr               -> the syscall's rule block, or default
    rule block: rules in order, conditional ones first; the first whose
                argument tests all pass returns its action; else default

Conditional jumps only ever skip one instruction; every far jump is a
``ja`` with a 32-bit offset, so no program outgrows the 8-bit jt/jf fields.

Policies are written in Docker's seccomp profile JSON (``defaultAction``,
``syscalls[{names, action, args, errnoRet, includes, excludes}]``), so
``--security-opt seccomp=profile.json`` takes the files people already
have.  hold's default policy (``DEFAULT_PROFILE``) is written in the same
form, but as a deny list on top of ALLOW: it refuses what Docker's default
profile refuses to a container with the default capabilities (module
loading, kexec, keyrings, mount and namespace calls, clock setting, bpf,
perf, userfaultfd, io_uring, namespace-creating clone flags, clone3 as ENOSYS so libc
falls back to clone, ...) while a new syscall the kernel grows later stays
usable.  Capabilities widen it the way Docker's ``includes.caps`` do: a
container with CAP_SYS_ADMIN may mount, one with CAP_SYS_TIME may set the
clock.

Who calls what: the CLI calls ``parse_security_opts`` (pure; reads and
validates a profile file before anything is created); the container child
builds the program with ``default_filter(caps)`` or
``filter_from_docker_profile(text, caps=...)`` and calls ``install`` last,
after no_new_privs (the caller's job) and just before execve, because the
filter may forbid calls its own setup still needs (sethostname, mount).
"""

from __future__ import annotations

import errno
import json
import os
import struct

from hold.errors import InvalidArgument, SystemError_, Unsupported
from hold.runtime import _linux, _syscalls

__all__ = ["DEFAULT_PROFILE", "default_filter", "filter_from_docker_profile",
           "compile_profile", "install", "parse_security_opts", "native_arch",
           "AUDIT_ARCH", "RET_ALLOW", "RET_ERRNO", "RET_KILL_PROCESS",
           "RET_KILL_THREAD", "RET_TRAP", "RET_LOG", "RET_TRACE"]

# Return values (linux/seccomp.h).
RET_KILL_PROCESS = 0x80000000
RET_KILL_THREAD = 0x00000000
RET_TRAP = 0x00030000
RET_ERRNO = 0x00050000
RET_TRACE = 0x7FF00000
RET_LOG = 0x7FFC0000
RET_ALLOW = 0x7FFF0000

# Classic BPF opcodes (linux/filter.h): class | size/op | source.
_LD_W_ABS = 0x20
_AND_K = 0x54
_JA = 0x05
_JEQ = 0x15
_JGT = 0x25
_JGE = 0x35
_RET_K = 0x06

AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}
_DOCKER_ARCH_NAMES = {"x86_64": {"amd64", "SCMP_ARCH_X86_64"},
                      "aarch64": {"arm64", "SCMP_ARCH_AARCH64"}}
_X32_SYSCALL_BIT = 0x40000000
_MAX_INSNS = 4096  # BPF_MAXINSNS
_U32 = 0xFFFFFFFF

_ACTIONS = {
    "SCMP_ACT_ALLOW": RET_ALLOW, "SCMP_ACT_ERRNO": RET_ERRNO,
    "SCMP_ACT_KILL": RET_KILL_THREAD, "SCMP_ACT_KILL_THREAD": RET_KILL_THREAD,
    "SCMP_ACT_KILL_PROCESS": RET_KILL_PROCESS, "SCMP_ACT_TRAP": RET_TRAP,
    "SCMP_ACT_LOG": RET_LOG, "SCMP_ACT_TRACE": RET_TRACE,
}
_OPS = ("SCMP_CMP_EQ", "SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE",
        "SCMP_CMP_GT", "SCMP_CMP_GE", "SCMP_CMP_MASKED_EQ")

_CLONE_NEW_ANY = 0x7E020000  # NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET
_AF_VSOCK = 40


def _deny(names, *, unless=(), errno_ret=None, min_kernel=None, args=None):
    rule = {"names": list(names), "action": "SCMP_ACT_ERRNO"}
    if unless or min_kernel:
        rule["excludes"] = {"caps": list(unless)}
        if min_kernel:
            rule["excludes"]["minKernel"] = min_kernel
    if errno_ret is not None:
        rule["errnoRet"] = errno_ret
    if args:
        rule["args"] = args
    return rule


def _eq(index, value):
    return {"index": index, "value": value, "op": "SCMP_CMP_EQ"}


#: hold's default policy, in Docker's profile format: ALLOW by default, EPERM
#: for what Docker's default profile refuses a default-capability container.
#: ``excludes.caps`` lifts a denial when the container holds any listed cap.
DEFAULT_PROFILE: dict = {
    "defaultAction": "SCMP_ACT_ALLOW",
    "defaultErrnoRet": errno.EPERM,
    "syscalls": [
        _deny(["kexec_load", "kexec_file_load", "swapon", "swapoff", "keyctl",
               "add_key", "request_key", "userfaultfd", "pivot_root",
               "create_module", "get_kernel_syms", "query_module", "uselib",
               "nfsservctl", "vm86", "vm86old", "_sysctl", "sysfs", "ustat",
               "afs_syscall", "tuxcall", "security", "getpmsg", "putpmsg",
               "vserver",
               # Docker dropped io_uring from its default profile (moby/profiles
               # 0.2): a large, often-exploited attack surface, easily done without.
               "io_uring_setup", "io_uring_enter", "io_uring_register"]),
        _deny(["mount", "umount", "umount2", "unshare", "setns", "fsopen",
               "fsconfig", "fsmount", "fspick", "open_tree", "move_mount",
               "mount_setattr", "quotactl", "quotactl_fd", "lookup_dcookie",
               "fanotify_init", "sethostname", "setdomainname"],
              unless=["CAP_SYS_ADMIN"]),
        {"names": ["clone"], "action": "SCMP_ACT_ALLOW",
         "args": [{"index": 0, "value": _CLONE_NEW_ANY, "valueTwo": 0,
                   "op": "SCMP_CMP_MASKED_EQ"}],
         "excludes": {"caps": ["CAP_SYS_ADMIN"]}},
        _deny(["clone"], unless=["CAP_SYS_ADMIN"]),
        _deny(["clone3"], unless=["CAP_SYS_ADMIN"], errno_ret=errno.ENOSYS),
        _deny(["syslog"], unless=["CAP_SYSLOG", "CAP_SYS_ADMIN"]),
        _deny(["bpf"], unless=["CAP_BPF", "CAP_SYS_ADMIN"]),
        _deny(["perf_event_open"], unless=["CAP_PERFMON", "CAP_SYS_ADMIN"]),
        _deny(["open_by_handle_at", "name_to_handle_at"], unless=["CAP_DAC_READ_SEARCH"]),
        _deny(["init_module", "finit_module", "delete_module"], unless=["CAP_SYS_MODULE"]),
        _deny(["acct"], unless=["CAP_SYS_PACCT"]),
        _deny(["reboot"], unless=["CAP_SYS_BOOT"]),
        _deny(["chroot"], unless=["CAP_SYS_CHROOT"]),
        _deny(["iopl", "ioperm"], unless=["CAP_SYS_RAWIO"]),
        # adjtimex/clock_adjtime stay allowed, as in Docker: reading the
        # clock's state is harmless and changing it needs CAP_SYS_TIME anyway.
        _deny(["settimeofday", "stime", "clock_settime"], unless=["CAP_SYS_TIME"]),
        _deny(["vhangup"], unless=["CAP_SYS_TTY_CONFIG"]),
        _deny(["mbind", "set_mempolicy", "get_mempolicy", "set_mempolicy_home_node",
               "move_pages", "migrate_pages"], unless=["CAP_SYS_NICE"]),
        _deny(["kcmp", "pidfd_getfd", "process_madvise"], unless=["CAP_SYS_PTRACE"]),
        # Docker allows these to everyone from Linux 4.8, which closed the
        # ptrace-bypasses-seccomp hole; older kernels need CAP_SYS_PTRACE.
        _deny(["ptrace", "process_vm_readv", "process_vm_writev"],
              unless=["CAP_SYS_PTRACE"], min_kernel="4.8"),
        *({"names": ["personality"], "action": "SCMP_ACT_ALLOW", "args": [_eq(0, v)]}
          for v in (0x0, 0x8, 0x20000, 0x20008, 0xFFFFFFFF)),
        _deny(["personality"]),
        _deny(["socket"], args=[_eq(0, _AF_VSOCK)]),
    ],
}


def native_arch() -> str:
    """The running machine's architecture, if hold has a syscall table for it."""
    machine = os.uname().machine
    if machine not in AUDIT_ARCH:
        raise Unsupported(f"seccomp: no system call table for {machine}; "
                          "use --security-opt seccomp=unconfined")
    return machine


def default_filter(caps: frozenset[str] | None = None, arch: str | None = None) -> bytes:
    """The BPF program of hold's default policy for a container holding ``caps``.

    ``caps`` defaults to Docker's default set; pass the container's resolved
    set so that e.g. ``--cap-add SYS_ADMIN`` also lifts the mount denials.
    """
    return compile_profile(DEFAULT_PROFILE, caps=caps, arch=arch)


def filter_from_docker_profile(json_text: str, *, caps: frozenset[str] | None = None,
                               arch: str | None = None) -> bytes:
    """Compile a Docker seccomp profile (JSON text) into a BPF program.

    Raises InvalidArgument naming the problem for malformed JSON, unknown
    actions or operators, bad argument indexes, or a program too large for
    the kernel.
    """
    try:
        profile = json.loads(json_text)
    except ValueError as exc:
        raise InvalidArgument(f"seccomp profile is not valid JSON: {exc}") from exc
    return compile_profile(profile, caps=caps, arch=arch)


def compile_profile(profile: dict, *, caps: frozenset[str] | None = None,
                    arch: str | None = None) -> bytes:
    """Compile a parsed Docker-format profile (see the module docstring)."""
    from hold.runtime.caps import DEFAULT_CAPS  # same package, import-light
    if not isinstance(profile, dict):
        raise InvalidArgument("seccomp profile must be a JSON object")
    arch = arch or native_arch()
    if arch not in AUDIT_ARCH:
        raise Unsupported(f"seccomp: no system call table for {arch}")
    held = DEFAULT_CAPS if caps is None else caps
    default_errno = _errno_of(profile.get("defaultErrnoRet"), errno.EPERM)
    default = _action(profile.get("defaultAction"), None, default_errno, "defaultAction")
    entries = profile.get("syscalls") or []
    if not isinstance(entries, list):
        raise InvalidArgument("seccomp profile: \"syscalls\" must be a list")
    rules = _rules_by_number(entries, _syscalls.table(arch), arch, held, default_errno)
    program = _assemble(AUDIT_ARCH[arch], arch == "x86_64", rules, default)
    if len(program) // 8 > _MAX_INSNS:
        raise InvalidArgument(f"seccomp profile compiles to {len(program) // 8} BPF "
                              f"instructions, more than the kernel's {_MAX_INSNS}")
    return program


def _errno_of(value, fallback: int) -> int:
    if value is None:
        return fallback
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 0xFFFF:
        raise InvalidArgument(f"seccomp profile: errnoRet must be 0..65535, not {value!r}")
    return value


def _action(name, errno_ret, default_errno: int, where: str) -> int:
    if name not in _ACTIONS:
        raise InvalidArgument(f"seccomp profile: unknown action {name!r} in {where} "
                              f"(accepted: {', '.join(sorted(_ACTIONS))})")
    base = _ACTIONS[name]
    if base in (RET_ERRNO, RET_TRACE):
        return base | _errno_of(errno_ret, default_errno if base == RET_ERRNO else 0)
    return base


def _kernel_at_least(version: str) -> bool:
    def parts(text):
        nums = []
        for piece in text.split(".")[:2]:
            digits = "".join(c for c in piece if c.isdigit()) or "0"
            nums.append(int(digits))
        return tuple(nums + [0] * (2 - len(nums)))
    return parts(os.uname().release) >= parts(str(version))


def _applies(entry: dict, arch: str, held: frozenset[str]) -> bool:
    """Docker's includes/excludes: includes need all listed caps and one
    listed arch; excludes drop the entry if any listed cap or arch matches."""
    names = _DOCKER_ARCH_NAMES[arch]
    inc, exc = entry.get("includes") or {}, entry.get("excludes") or {}
    if inc.get("caps") and not all(c in held for c in inc["caps"]):
        return False
    if inc.get("arches") and not names & set(inc["arches"]):
        return False
    if inc.get("minKernel") and not _kernel_at_least(inc["minKernel"]):
        return False
    if exc.get("caps") and any(c in held for c in exc["caps"]):
        return False
    if exc.get("arches") and names & set(exc["arches"]):
        return False
    if exc.get("minKernel") and _kernel_at_least(exc["minKernel"]):
        return False
    return True


def _conditions(entry: dict, where: str) -> tuple:
    conds = []
    for arg in entry.get("args") or []:
        if not isinstance(arg, dict):
            raise InvalidArgument(f"seccomp profile: bad argument test in {where}")
        index, op = arg.get("index"), arg.get("op")
        value, value2 = arg.get("value", 0), arg.get("valueTwo", 0)
        if not isinstance(index, int) or not 0 <= index <= 5:
            raise InvalidArgument(f"seccomp profile: argument index must be 0..5 in {where}")
        if op not in _OPS:
            raise InvalidArgument(f"seccomp profile: unknown operator {op!r} in {where} "
                                  f"(accepted: {', '.join(_OPS)})")
        for v in (value, value2):
            if not isinstance(v, int) or not 0 <= v < 1 << 64:
                raise InvalidArgument(f"seccomp profile: argument value {v!r} in {where} "
                                      "is not a 64-bit unsigned integer")
        conds.append((index, op[len("SCMP_CMP_"):], value, value2))
    return tuple(conds)


def _rules_by_number(entries, table, arch, held, default_errno) -> dict[int, list]:
    """syscall number -> [(conditions, return value)], conditional rules first."""
    rules: dict[int, list] = {}
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise InvalidArgument(f"seccomp profile: syscalls[{i}] must be an object")
        names = entry.get("names") or ([entry["name"]] if entry.get("name") else [])
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise InvalidArgument(f"seccomp profile: syscalls[{i}].names must be a "
                                  "list of syscall names")
        where = f"syscalls[{i}] ({', '.join(names[:3]) or 'no names'})"
        for key in ("includes", "excludes"):
            if entry.get(key) is not None and not isinstance(entry[key], dict):
                raise InvalidArgument(f"seccomp profile: {key} must be an object in {where}")
        ret = _action(entry.get("action"), entry.get("errnoRet"), default_errno, where)
        conds = _conditions(entry, where)
        if not _applies(entry, arch, held):
            continue
        for name in names:
            if name in table:  # names of other ABIs (chown32, ...) are skipped
                rules.setdefault(table[name], []).append((conds, ret))
    for nr in rules:
        rules[nr].sort(key=lambda rule: not rule[0])  # stable: conditional first
    return rules


class _Assembler:
    """Instructions with symbolic ``ja`` targets, resolved by ``bytes()``."""

    def __init__(self):
        self.insns: list[list] = []
        self.labels: dict[str, int] = {}
        self._made = 0

    def new_label(self) -> str:
        self._made += 1
        return f"L{self._made}"

    def place(self, label: str) -> None:
        self.labels[label] = len(self.insns)

    def op(self, code: int, k: int = 0, jt: int = 0, jf: int = 0) -> None:
        self.insns.append([code, jt, jf, k & _U32, None])

    def jump_if(self, code: int, k: int, target: str) -> None:
        self.op(code, k, 0, 1)
        self.insns.append([_JA, 0, 0, 0, target])

    def jump_unless(self, code: int, k: int, target: str) -> None:
        self.op(code, k, 1, 0)
        self.insns.append([_JA, 0, 0, 0, target])

    def load(self, offset: int) -> None:
        self.op(_LD_W_ABS, offset)

    def ret(self, value: int) -> None:
        self.op(_RET_K, value)

    def __bytes__(self) -> bytes:
        out = bytearray()
        for pos, (code, jt, jf, k, target) in enumerate(self.insns):
            if target is not None:
                k = self.labels[target] - pos - 1
            out += struct.pack("=HBBI", code, jt, jf, k)
        return bytes(out)


def _assemble(audit_arch: int, reject_x32: bool, rules: dict, default: int) -> bytes:
    asm = _Assembler()
    asm.load(4)
    asm.op(_JEQ, audit_arch, 1, 0)
    asm.ret(RET_KILL_PROCESS)
    asm.load(0)
    if reject_x32:
        asm.op(_JGE, _X32_SYSCALL_BIT, 0, 1)
        asm.ret(RET_ERRNO | errno.EPERM)
    blocks = {nr: asm.new_label() for nr in rules}
    _dispatch(asm, sorted(rules), blocks, default)
    for nr, label in blocks.items():
        asm.place(label)
        for conds, ret in rules[nr]:
            next_rule = asm.new_label()
            for cond in conds:
                _condition(asm, *cond, fail=next_rule)
            asm.ret(ret)
            asm.place(next_rule)
            if not conds:
                break  # an unconditional rule ends the block
        else:
            asm.ret(default)
    return bytes(asm)


def _dispatch(asm: _Assembler, nrs: list[int], blocks: dict, default: int) -> None:
    """Binary search over sorted syscall numbers; the accumulator holds nr."""
    if len(nrs) <= 4:
        for nr in nrs:
            asm.jump_if(_JEQ, nr, blocks[nr])
        asm.ret(default)
        return
    mid = len(nrs) // 2
    upper = asm.new_label()
    asm.jump_if(_JGE, nrs[mid], upper)
    _dispatch(asm, nrs[:mid], blocks, default)
    asm.place(upper)
    _dispatch(asm, nrs[mid:], blocks, default)


def _condition(asm: _Assembler, index: int, op: str, value: int, value2: int,
               fail: str) -> None:
    """Test one 64-bit argument; fall through when it holds, else go to ``fail``."""
    lo, hi = 16 + 8 * index, 16 + 8 * index + 4
    vh, vl = value >> 32, value & _U32
    passed = asm.new_label()
    if op == "EQ":
        asm.load(hi), asm.jump_unless(_JEQ, vh, fail)
        asm.load(lo), asm.jump_unless(_JEQ, vl, fail)
    elif op == "NE":
        asm.load(hi), asm.jump_unless(_JEQ, vh, passed)
        asm.load(lo), asm.jump_if(_JEQ, vl, fail)
    elif op == "MASKED_EQ":  # (arg & value) == valueTwo
        wh, wl = value2 >> 32, value2 & _U32
        if vh or wh:
            asm.load(hi), asm.op(_AND_K, vh), asm.jump_unless(_JEQ, wh, fail)
        asm.load(lo), asm.op(_AND_K, vl), asm.jump_unless(_JEQ, wl, fail)
    elif op in ("GT", "GE"):
        asm.load(hi), asm.jump_if(_JGT, vh, passed), asm.jump_unless(_JEQ, vh, fail)
        asm.load(lo), asm.jump_unless(_JGT if op == "GT" else _JGE, vl, fail)
    else:  # LT is "not GE", LE is "not GT"
        asm.load(hi), asm.jump_if(_JGT, vh, fail), asm.jump_unless(_JEQ, vh, passed)
        asm.load(lo), asm.jump_if(_JGE if op == "LT" else _JGT, vl, fail)
    asm.place(passed)


def install(program: bytes) -> None:
    """Install ``program`` as the calling process's seccomp filter.

    Setting no_new_privs first (prctl(PR_SET_NO_NEW_PRIVS, 1)) is the
    caller's job, as is calling this last before execve. The filter is
    inherited across fork and execve and can never be removed.
    """
    try:
        _linux.seccomp_set_filter(program)
    except ValueError as exc:
        raise InvalidArgument(f"seccomp: {exc}") from exc
    except OSError as exc:
        if exc.errno == errno.EACCES:
            raise SystemError_("seccomp: installing a filter needs no_new_privs or "
                               "CAP_SYS_ADMIN", errno=exc.errno) from exc
        if exc.errno == errno.EINVAL:
            raise Unsupported("seccomp: the kernel refused the filter (no "
                              "CONFIG_SECCOMP_FILTER?)", errno=exc.errno) from exc
        raise SystemError_(f"seccomp: {exc.strerror}", errno=exc.errno) from exc


_SECURITY_OPT_KEYS = ("seccomp=unconfined|PROFILE.json", "no-new-privileges[=true|false]",
                      "apparmor=PROFILE", "label=...")


def parse_security_opts(opts: list[str]) -> dict:
    """Validate ``--security-opt`` values in the CLI process; pure but for
    reading a seccomp profile file, which is compiled once here so a bad
    profile fails before anything is created.

    Returns ``{"seccomp": "default"|"unconfined"|"custom", "seccomp_profile":
    JSON text or None, "no_new_privileges": bool, "apparmor": str or None,
    "label": [str], "notes": [str]}``.  Like Docker, ``key:value`` is taken
    as ``key=value``.  AppArmor and SELinux options are recorded but have no
    effect: hold does not drive either LSM (see docs/security.md); ``notes``
    says so for the CLI to print.
    """
    result = {"seccomp": "default", "seccomp_profile": None, "no_new_privileges": False,
              "apparmor": None, "label": [], "notes": []}
    for opt in opts:
        key, sep, value = opt.partition("=")
        if not sep:
            key, sep, value = opt.partition(":")
        key = key.strip()
        if key == "seccomp" and sep and value:
            _parse_seccomp_opt(value, result)
        elif key == "no-new-privileges":
            result["no_new_privileges"] = _parse_bool(opt, value if sep else "true")
        elif key == "apparmor" and sep and value:
            result["apparmor"] = value
            result["notes"].append(f"--security-opt {opt}: recorded; hold does not "
                                   "apply AppArmor profiles")
        elif key == "label" and sep and value:
            result["label"].append(value)
            result["notes"].append(f"--security-opt {opt}: recorded; hold does not "
                                   "apply SELinux labels")
        else:
            raise InvalidArgument(f"invalid --security-opt: {opt!r} (accepted: "
                                  f"{', '.join(_SECURITY_OPT_KEYS)})", option=opt)
    return result


def _parse_bool(opt: str, value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("true", "1"):
        return True
    if lowered in ("false", "0"):
        return False
    raise InvalidArgument(f"invalid --security-opt: {opt!r}: "
                          "no-new-privileges takes true or false", option=opt)


def _parse_seccomp_opt(value: str, result: dict) -> None:
    if value == "unconfined":
        result["seccomp"], result["seccomp_profile"] = "unconfined", None
        return
    try:
        with open(value, encoding="utf-8") as f:
            text = f.read()
    except OSError as exc:
        raise InvalidArgument(f"opening seccomp profile ({value}) failed: "
                              f"{exc.strerror}", path=value) from exc
    try:
        filter_from_docker_profile(text)
    except InvalidArgument as exc:
        raise InvalidArgument(f"{value}: {exc}", path=value) from exc
    result["seccomp"], result["seccomp_profile"] = "custom", text
