"""seccomp programs checked branch by branch with a small BPF interpreter.

The interpreter below follows the classic BPF semantics the kernel's
seccomp uses (accumulator A, 8-byte instructions, jumps relative to the
next instruction), so every rule and every argument comparison can be run
against many inputs without installing anything.
"""

import errno
import json
import struct

import pytest
from hypothesis import given, settings, strategies as st

from hold.errors import InvalidArgument
from hold.runtime import caps, seccomp, _syscalls

X86 = seccomp.AUDIT_ARCH["x86_64"]
ARM64 = seccomp.AUDIT_ARCH["aarch64"]
ALLOW = seccomp.RET_ALLOW
EPERM = seccomp.RET_ERRNO | errno.EPERM
NR = _syscalls.table("x86_64")
NR64 = _syscalls.table("aarch64")


def run(program: bytes, nr: int, args=(), arch=X86) -> int:
    """What the kernel's seccomp would return for this call."""
    args = tuple(args) + (0,) * (6 - len(args))
    data = struct.pack("<IIQ6Q", nr, arch, 0x401000, *args)
    insns = [struct.unpack_from("=HBBI", program, i) for i in range(0, len(program), 8)]
    pc, acc = 0, 0
    for _ in range(10_000):
        code, jt, jf, k = insns[pc]
        pc += 1
        if code == 0x20:  # ld [k]
            acc = struct.unpack_from("<I", data, k)[0]
        elif code == 0x54:  # and #k
            acc &= k
        elif code == 0x05:  # ja
            pc += k
        elif code in (0x15, 0x25, 0x35):  # jeq, jgt, jge
            hit = {0x15: acc == k, 0x25: acc > k, 0x35: acc >= k}[code]
            pc += jt if hit else jf
        elif code == 0x06:  # ret #k
            return k
        else:
            raise AssertionError(f"unexpected opcode {code:#x} at {pc - 1}")
    raise AssertionError("program did not return")


@pytest.fixture(scope="module")
def default():
    return seccomp.default_filter(arch="x86_64")


def test_foreign_arch_is_killed_and_x32_refused(default):
    assert run(default, NR["getpid"], arch=0x40000003) == seccomp.RET_KILL_PROCESS  # i386
    assert run(default, 0x40000000 + NR["getpid"]) == EPERM


@pytest.mark.parametrize("name", [
    "kexec_load", "kexec_file_load", "open_by_handle_at", "init_module", "finit_module",
    "delete_module", "iopl", "ioperm", "swapon", "swapoff", "syslog", "acct",
    "settimeofday", "clock_settime", "bpf",
    "perf_event_open", "keyctl", "add_key", "request_key", "userfaultfd", "mount",
    "umount2", "pivot_root", "unshare", "setns", "lookup_dcookie", "quotactl",
    "name_to_handle_at", "create_module", "get_kernel_syms", "query_module", "uselib",
    "nfsservctl", "_sysctl", "sysfs", "ustat", "move_pages", "mbind", "set_mempolicy",
    "get_mempolicy", "fanotify_init", "kcmp", "reboot", "open_tree", "fsopen",
    "vhangup",
    "io_uring_setup", "io_uring_enter", "io_uring_register",
])
def test_dangerous_calls_get_eperm(default, name):
    assert run(default, NR[name]) == EPERM


@pytest.mark.parametrize("name", ["getpid", "read", "write", "openat", "execve", "fork",
                                  "ptrace", "process_vm_readv", "chroot", "mknodat",
                                  "setuid", "arch_prctl", "modify_ldt"])
def test_ordinary_calls_allowed(default, name):
    assert run(default, NR[name]) == ALLOW


def test_unknown_future_syscalls_allowed(default):
    assert run(default, 1000) == ALLOW


def test_clone_namespace_flags(default):
    sigchld, clone_vm = 17, 0x100
    assert run(default, NR["clone"], [sigchld | clone_vm]) == ALLOW
    for flag in (0x20000, 0x02000000, 0x04000000, 0x08000000, 0x10000000, 0x20000000,
                 0x40000000):
        assert run(default, NR["clone"], [sigchld | flag]) == EPERM
    assert run(default, NR["clone3"]) == seccomp.RET_ERRNO | errno.ENOSYS


def test_personality_only_docker_values(default):
    for value in (0, 8, 0x20000, 0x20008, 0xFFFFFFFF):
        assert run(default, NR["personality"], [value]) == ALLOW
    for value in (1, 0x0040000, 0x1_0000_0000, 0xFFFFFFFF_FFFFFFFF):
        assert run(default, NR["personality"], [value]) == EPERM


def test_vsock_sockets_refused(default):
    assert run(default, NR["socket"], [40]) == EPERM
    assert run(default, NR["socket"], [2]) == ALLOW


def test_capabilities_lift_denials():
    program = seccomp.default_filter(caps.DEFAULT_CAPS | {"CAP_SYS_ADMIN", "CAP_SYS_TIME"},
                                     arch="x86_64")
    for name in ("mount", "unshare", "setns", "clone3", "settimeofday", "syslog", "bpf"):
        assert run(program, NR[name]) == ALLOW, name
    assert run(program, NR["clone"], [0x20000]) == ALLOW
    for name in ("keyctl", "kexec_load", "init_module", "pivot_root"):
        assert run(program, NR[name]) == EPERM, name


def test_syslog_needs_either_capability():
    with_syslog = seccomp.default_filter(frozenset({"CAP_SYSLOG"}), arch="x86_64")
    assert run(with_syslog, NR["syslog"]) == ALLOW
    assert run(with_syslog, NR["mount"]) == EPERM


def test_aarch64_uses_its_own_numbers():
    program = seccomp.default_filter(arch="aarch64")
    assert run(program, NR64["unshare"], arch=ARM64) == EPERM
    assert run(program, NR64["keyctl"], arch=ARM64) == EPERM
    assert run(program, NR64["getpid"], arch=ARM64) == ALLOW
    assert run(program, NR["mount"], arch=ARM64) == ALLOW  # 165 is getrusage there
    assert run(program, NR64["getpid"], arch=X86) == seccomp.RET_KILL_PROCESS
    assert run(program, 0x40000000, arch=ARM64) == ALLOW  # no x32 on arm64


def test_every_default_name_is_known_somewhere():
    """A typo in DEFAULT_PROFILE would silently allow a call: refuse typos."""
    thirty_two_bit_only = {"vm86", "vm86old", "stime", "umount"}
    known = set(NR) | set(NR64) | thirty_two_bit_only
    for entry in seccomp.DEFAULT_PROFILE["syscalls"]:
        assert set(entry["names"]) <= known, entry["names"]


# --- Docker profile format ------------------------------------------------

def profile(syscalls, default="SCMP_ACT_ERRNO", **extra):
    return json.dumps({"defaultAction": default, "syscalls": syscalls, **extra})


def test_allow_list_profile():
    program = seccomp.filter_from_docker_profile(profile(
        [{"names": ["read", "write", "exit_group", "chown32"], "action": "SCMP_ACT_ALLOW"}]),
        arch="x86_64")
    assert run(program, NR["read"]) == ALLOW
    assert run(program, NR["getpid"]) == EPERM


@pytest.mark.parametrize("action,expected", [
    ({"action": "SCMP_ACT_ERRNO", "errnoRet": 38}, seccomp.RET_ERRNO | 38),
    ({"action": "SCMP_ACT_ERRNO"}, seccomp.RET_ERRNO | 5),  # defaultErrnoRet
    ({"action": "SCMP_ACT_KILL"}, seccomp.RET_KILL_THREAD),
    ({"action": "SCMP_ACT_KILL_PROCESS"}, seccomp.RET_KILL_PROCESS),
    ({"action": "SCMP_ACT_TRAP"}, seccomp.RET_TRAP),
    ({"action": "SCMP_ACT_LOG"}, seccomp.RET_LOG),
    ({"action": "SCMP_ACT_TRACE", "errnoRet": 7}, seccomp.RET_TRACE | 7),
])
def test_actions(action, expected):
    program = seccomp.filter_from_docker_profile(profile(
        [{"names": ["getpid"], **action}], default="SCMP_ACT_ALLOW", defaultErrnoRet=5),
        arch="x86_64")
    assert run(program, NR["getpid"]) == expected
    assert run(program, NR["getppid"]) == ALLOW


def test_includes_and_excludes():
    entries = [
        {"names": ["getpid"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}},
        {"names": ["getppid"], "action": "SCMP_ACT_ALLOW", "excludes": {"caps": ["CAP_SYS_ADMIN"]}},
        {"names": ["gettid"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["arm64"]}},
        {"names": ["getuid"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["amd64"]}},
        {"names": ["getgid"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "99.0"}},
        {"names": ["geteuid"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "3.10"}},
    ]
    plain = seccomp.filter_from_docker_profile(profile(entries), arch="x86_64")
    admin = seccomp.filter_from_docker_profile(profile(entries), arch="x86_64",
                                               caps=frozenset({"CAP_SYS_ADMIN"}))
    assert (run(plain, NR["getpid"]), run(admin, NR["getpid"])) == (EPERM, ALLOW)
    assert (run(plain, NR["getppid"]), run(admin, NR["getppid"])) == (ALLOW, EPERM)
    assert run(plain, NR["gettid"]) == EPERM
    assert run(plain, NR["getuid"]) == ALLOW
    assert run(plain, NR["getgid"]) == EPERM
    assert run(plain, NR["geteuid"]) == ALLOW


def test_legacy_single_name_field():
    program = seccomp.filter_from_docker_profile(profile(
        [{"name": "getpid", "action": "SCMP_ACT_ALLOW"}]), arch="x86_64")
    assert run(program, NR["getpid"]) == ALLOW


OPS = {
    "SCMP_CMP_EQ": lambda a, v, w: a == v, "SCMP_CMP_NE": lambda a, v, w: a != v,
    "SCMP_CMP_LT": lambda a, v, w: a < v, "SCMP_CMP_LE": lambda a, v, w: a <= v,
    "SCMP_CMP_GT": lambda a, v, w: a > v, "SCMP_CMP_GE": lambda a, v, w: a >= v,
    "SCMP_CMP_MASKED_EQ": lambda a, v, w: a & v == w,
}
U64 = st.one_of(st.integers(0, 2**64 - 1), st.sampled_from(
    [0, 1, 2**32 - 1, 2**32, 2**32 + 1, 2**63, 2**64 - 1, 0xFFFFFFFF00000000]))


@settings(max_examples=300, deadline=None)
@given(op=st.sampled_from(sorted(OPS)), arg=U64, value=U64, value2=U64,
       index=st.integers(0, 5))
def test_argument_comparisons_match_64_bit_semantics(op, arg, value, value2, index):
    program = seccomp.filter_from_docker_profile(profile([{
        "names": ["ioctl"], "action": "SCMP_ACT_ALLOW",
        "args": [{"index": index, "op": op, "value": value, "valueTwo": value2}]}]),
        arch="x86_64")
    args = [0] * 6
    args[index] = arg
    expected = ALLOW if OPS[op](arg, value, value2) else EPERM
    assert run(program, NR["ioctl"], args) == expected
    args[index] = value  # the boundary itself
    expected = ALLOW if OPS[op](value, value, value2) else EPERM
    assert run(program, NR["ioctl"], args) == expected


def test_several_conditions_are_anded_and_rules_ored():
    program = seccomp.filter_from_docker_profile(profile([
        {"names": ["ioctl"], "action": "SCMP_ACT_ALLOW",
         "args": [{"index": 0, "op": "SCMP_CMP_EQ", "value": 1},
                  {"index": 1, "op": "SCMP_CMP_GT", "value": 10}]},
        {"names": ["ioctl"], "action": "SCMP_ACT_ALLOW",
         "args": [{"index": 0, "op": "SCMP_CMP_EQ", "value": 7}]},
    ]), arch="x86_64")
    assert run(program, NR["ioctl"], [1, 11]) == ALLOW
    assert run(program, NR["ioctl"], [1, 10]) == EPERM
    assert run(program, NR["ioctl"], [7, 0]) == ALLOW
    assert run(program, NR["ioctl"], [2, 99]) == EPERM


def test_a_large_allow_list_stays_within_kernel_limits():
    names = sorted(NR)
    entries = [{"names": names[:-20], "action": "SCMP_ACT_ALLOW"}]
    entries += [{"names": [n], "action": "SCMP_ACT_ALLOW",
                 "args": [{"index": 0, "op": "SCMP_CMP_NE", "value": 40}]} for n in names[-20:]]
    program = seccomp.filter_from_docker_profile(profile(entries), arch="x86_64")
    assert len(program) // 8 < 4096
    for name in names[:-20]:
        assert run(program, NR[name]) == ALLOW, name
    for name in names[-20:]:
        assert run(program, NR[name], [40]) == EPERM
        assert run(program, NR[name], [41]) == ALLOW


@pytest.mark.parametrize("text,words", [
    ("{not json", "not valid JSON"),
    ("[]", "JSON object"),
    (profile([], default="SCMP_ACT_EXPLODE"), "unknown action 'SCMP_ACT_EXPLODE'"),
    (profile([{"names": ["read"], "action": "SCMP_ACT_NOTIFY"}]), "unknown action"),
    (profile([{"names": ["read"], "action": "SCMP_ACT_ALLOW",
               "args": [{"index": 6, "op": "SCMP_CMP_EQ", "value": 1}]}]), "index must be 0..5"),
    (profile([{"names": ["read"], "action": "SCMP_ACT_ALLOW",
               "args": [{"index": 0, "op": "SCMP_CMP_XX", "value": 1}]}]), "unknown operator"),
    (profile([{"names": ["read"], "action": "SCMP_ACT_ALLOW",
               "args": [{"index": 0, "op": "SCMP_CMP_EQ", "value": -1}]}]), "64-bit unsigned"),
    (profile([{"names": ["read"], "action": "SCMP_ACT_ERRNO", "errnoRet": "x"}]), "errnoRet"),
    (profile([{"names": "read", "action": "SCMP_ACT_ALLOW"}]), "list of syscall names"),
    (profile([{"names": ["read"], "action": "SCMP_ACT_ALLOW", "includes": []}]),
     "includes must be an object"),
    (profile({"names": ["read"]}), "\"syscalls\" must be a list"),
])
def test_bad_profiles_are_invalid_argument(text, words):
    with pytest.raises(InvalidArgument) as info:
        seccomp.filter_from_docker_profile(text, arch="x86_64")
    assert words in str(info.value)


# --- --security-opt ---------------------------------------------------------

def test_security_opts_defaults():
    opts = seccomp.parse_security_opts([])
    assert opts["seccomp"] == "default" and opts["no_new_privileges"] is False


def test_security_opts_all_kinds(tmp_path):
    path = tmp_path / "p.json"
    path.write_text(profile([{"names": ["read"], "action": "SCMP_ACT_ALLOW"}]))
    opts = seccomp.parse_security_opts([f"seccomp={path}", "no-new-privileges",
                                        "apparmor=docker-default", "label=disable"])
    assert opts["seccomp"] == "custom"
    assert json.loads(opts["seccomp_profile"])["syscalls"][0]["names"] == ["read"]
    assert opts["no_new_privileges"] is True
    assert opts["apparmor"] == "docker-default" and opts["label"] == ["disable"]
    assert len(opts["notes"]) == 2
    assert seccomp.parse_security_opts(["seccomp:unconfined"])["seccomp"] == "unconfined"
    assert seccomp.parse_security_opts(["no-new-privileges=false"])["no_new_privileges"] is False
    assert seccomp.parse_security_opts(["no-new-privileges:true"])["no_new_privileges"] is True


@pytest.mark.parametrize("opt,words", [
    ("foo=bar", "accepted: seccomp="),
    ("seccomp", "accepted"),
    ("no-new-privileges=maybe", "true or false"),
    ("seccomp=/nonexistent/profile.json", "opening seccomp profile"),
])
def test_security_opts_refused(opt, words):
    with pytest.raises(InvalidArgument) as info:
        seccomp.parse_security_opts([opt])
    assert words in str(info.value)


def test_security_opts_bad_profile_file(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(profile([], default="SCMP_ACT_NOPE"))
    with pytest.raises(InvalidArgument) as info:
        seccomp.parse_security_opts([f"seccomp={path}"])
    assert str(path) in str(info.value) and "unknown action" in str(info.value)
