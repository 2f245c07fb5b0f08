"""Install seccomp filters in a real forked child and watch the kernel enforce them."""

import ctypes
import json
import os

import pytest

from hold.runtime import _linux, _syscalls, seccomp

pytestmark = [pytest.mark.root,
              pytest.mark.skipif(os.geteuid() != 0, reason="needs root"),
              pytest.mark.skipif(os.uname().machine not in seccomp.AUDIT_ARCH,
                                 reason="no syscall table for this machine")]

BUSYBOX = "/bin/busybox"
NR = _syscalls.table(os.uname().machine)
libc = ctypes.CDLL(None, use_errno=True)


def _errno_of(nr: int, *args) -> int:
    """Call syscall ``nr``; 0 on success, else its errno."""
    result = libc.syscall(ctypes.c_long(nr), *[ctypes.c_ulong(a) for a in args])
    return 0 if result != -1 else ctypes.get_errno()


def _in_child(program: bytes, probe, then_exec=None) -> dict:
    """Fork; install ``program``; run ``probe()``; send its dict back as JSON.

    If ``then_exec`` is given, the child execs it afterwards (stdout to the
    pipe, after the JSON line) to show exec still works under the filter.
    """
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 99
        try:
            os.close(read_fd)
            _linux.prctl(_linux.PR_SET_NO_NEW_PRIVS, 1)
            seccomp.install(program)
            os.write(write_fd, (json.dumps(probe()) + "\n").encode())
            if then_exec:
                os.dup2(write_fd, 1)
                os.execv(then_exec[0], then_exec)
            code = 0
        except BaseException as exc:  # noqa: BLE001 - report and die
            os.write(2, f"child failed: {exc!r}\n".encode())
        os._exit(code)
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as pipe:
        out = pipe.read().decode()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, out
    first, _, rest = out.partition("\n")
    return {**json.loads(first), "exec_output": rest}


def _default_probe():
    return {
        "seccomp_mode": int(open("/proc/self/status").read().split("Seccomp:")[1].split()[0]),
        "unshare": _errno_of(NR["unshare"], _linux.CLONE_NEWNS),
        "keyctl": _errno_of(NR["keyctl"], 0, 0),
        "mount": _errno_of(NR["mount"], 0, 0, 0, 0, 0),
        "clone3": _errno_of(NR["clone3"], 0, 0),
        "personality_bad": _errno_of(NR["personality"], 0x0040000),
        "getpid": libc.syscall(ctypes.c_long(NR["getpid"])) == os.getpid(),
        "personality_query": libc.personality(ctypes.c_ulong(0xFFFFFFFF)) != -1,
    }


def test_default_filter_denies_namespace_and_keyring_calls():
    got = _in_child(seccomp.default_filter(), _default_probe,
                    then_exec=[BUSYBOX, "echo", "still-runs"])
    assert got["seccomp_mode"] == 2
    assert got["unshare"] == got["keyctl"] == got["mount"] == 1  # EPERM
    assert got["clone3"] == 38  # ENOSYS, so libc falls back to clone
    assert got["personality_bad"] == 1
    assert got["getpid"] and got["personality_query"]
    assert got["exec_output"].strip() == "still-runs"


def test_forking_still_works_under_the_default_filter():
    got = _in_child(seccomp.default_filter(), lambda: {},
                    then_exec=[BUSYBOX, "sh", "-c", "/bin/busybox true && echo forked"])
    assert got["exec_output"].strip() == "forked"


def test_custom_docker_profile_is_enforced(tmp_path):
    text = json.dumps({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13},
        {"names": ["getpriority"], "action": "SCMP_ACT_ERRNO",
         "args": [{"index": 0, "op": "SCMP_CMP_EQ", "value": 1}]},
    ]})
    target = str(tmp_path / "made-here")

    def probe():
        try:
            os.mkdir(target)
            made = 0
        except OSError as exc:
            made = exc.errno
        return {"mkdir": made,
                "getpriority_pgrp": _errno_of(NR["getpriority"], 1, 0),
                "getpriority_self": _errno_of(NR["getpriority"], 0, 0)}

    got = _in_child(seccomp.filter_from_docker_profile(text), probe)
    assert got["mkdir"] == 13
    assert got["getpriority_pgrp"] == 1 and got["getpriority_self"] == 0
    assert not os.path.exists(target)


def test_malformed_program_is_refused():
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            seccomp.install(b"\x00" * 7)
            os.write(write_fd, b"accepted")
        except Exception as exc:  # noqa: BLE001
            os.write(write_fd, type(exc).__name__.encode())
        os._exit(0)
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as pipe:
        answer = pipe.read().decode()
    os.waitpid(pid, 0)
    assert answer == "InvalidArgument"


def test_large_allow_list_profile_runs_a_shell(tmp_path):
    """An allow-list profile shaped like Docker's (default ERRNO, every call
    named) installs in the kernel, and what it leaves out is refused."""
    names = sorted(set(NR) - {"mkdir", "mkdirat"})
    text = json.dumps({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1,
                       "syscalls": [{"names": names, "action": "SCMP_ACT_ALLOW"}]})
    target = tmp_path / "refused"
    got = _in_child(seccomp.filter_from_docker_profile(text), lambda: {},
                    then_exec=[BUSYBOX, "sh", "-c",
                               f"/bin/busybox mkdir {target} 2>/dev/null || echo refused"])
    assert got["exec_output"].strip() == "refused"
    assert not target.exists()
