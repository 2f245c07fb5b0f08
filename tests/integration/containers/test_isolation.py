"""Real isolation: namespaces, capabilities, masked /proc, read-only /sys,
no way back to hold's own interpreter."""

import os


def test_pid_namespace_command_is_pid_1(bb):
    assert bb.ok("run", "--rm", "bb", "sh", "-c", "echo $$") == "1\n"


def test_own_mount_uts_ipc_net_namespaces(bb):
    out = bb.ok("run", "--rm", "bb", "sh", "-c",
                "for n in mnt uts ipc net pid; do readlink /proc/1/ns/$n; done").split()
    host = [os.readlink(f"/proc/self/ns/{n}") for n in ("mnt", "uts", "ipc", "net", "pid")]
    assert all(a != b for a, b in zip(out, host))


def test_network_none_has_only_loopback_up(bb):
    out = bb.ok("run", "--rm", "--network", "none", "bb", "sh", "-c", "ls /sys/class/net; ip -o link show lo")
    assert out.split("\n")[0] == "lo" and "UP" in out


def test_network_host_shares_host_namespace(bb):
    out = bb.ok("run", "--rm", "--network", "host", "bb", "readlink", "/proc/self/ns/net")
    assert out.strip() == os.readlink("/proc/self/ns/net")


def test_default_capabilities_are_dockers(bb):
    out = bb.ok("run", "--rm", "bb", "grep", "CapEff", "/proc/self/status")
    assert out.split()[1] == "00000000a80425fb"


def test_cap_add_and_drop(bb):
    out = bb.ok("run", "--rm", "--cap-drop", "ALL", "--cap-add", "NET_ADMIN", "bb",
                "grep", "CapEff", "/proc/self/status")
    assert int(out.split()[1], 16) == 1 << 12


def test_privileged_has_all_caps_and_writable_sys(bb):
    out = bb.ok("run", "--rm", "--privileged", "bb", "sh", "-c",
                "grep CapEff /proc/self/status; touch /sys/kernel/x 2>&1; mount | grep ' /sys '")
    assert int(out.split()[1], 16) >= 0x1ffffffffff >> 2
    assert "(rw," in out


def test_sys_is_read_only_and_proc_paths_masked(bb):
    out = bb("run", "--rm", "bb", "sh", "-c",
             "mount | grep ' /sys '; cat /proc/kcore | wc -c; ls /proc/acpi | wc -l; "
             "echo 1 > /proc/sys/kernel/domainname && echo wrote")
    assert "(ro," in out.stdout
    assert out.stdout.split("\n")[1:3] == ["0", "0"]
    assert "wrote" not in out.stdout


def test_seccomp_blocks_unshare_and_nnp_set(bb):
    out = bb("run", "--rm", "bb", "sh", "-c",
             "grep -E 'Seccomp:|NoNewPrivs' /proc/self/status; unshare -m true && echo escaped")
    assert "Seccomp:\t2" in out.stdout and "NoNewPrivs:\t1" in out.stdout
    assert "escaped" not in out.stdout


def test_seccomp_unconfined(bb):
    out = bb.ok("run", "--rm", "--security-opt", "seccomp=unconfined", "bb",
                "grep", "Seccomp:", "/proc/self/status")
    assert out.split()[1] == "0"


def test_minimal_dev(bb):
    out = bb.ok("run", "--rm", "bb", "ls", "/dev").split()
    for node in ("null", "zero", "full", "random", "urandom", "tty", "pts", "shm"):
        assert node in out
    assert "sda" not in out and "vda" not in out


def test_container_cannot_open_hold_interpreter_during_exec(bb):
    """CVE-2019-5736 class: while `hold exec` joins, the joining process is
    hold's Python; a container process scanning /proc must not be able to
    open any process's exe for writing, nor read a non-dumpable one."""
    bb.ok("run", "-d", "--name", "attacker", "bb", "sh", "-c",
          "while true; do for p in /proc/[0-9]*; do "
          "(exec 3>>$p/exe) 2>/dev/null && echo OPENED-$p >> /tmp/hits; "
          "readlink $p/exe >> /tmp/seen 2>/dev/null; done; done")
    for _ in range(30):
        bb("exec", "attacker", "true")
    hits = bb("exec", "attacker", "cat", "/tmp/hits").stdout
    seen = bb("exec", "attacker", "cat", "/tmp/seen").stdout
    assert hits == ""
    assert "python" not in seen
    bb.ok("rm", "-f", "attacker")
