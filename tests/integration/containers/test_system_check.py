"""`hold system check` repairs what a killed hold leaves behind."""

import json
import os
import signal
import subprocess
import time


def test_killed_monitor_is_repaired(bb):
    bb.ok("run", "-d", "--name", "orphan", "bb", "sleep", "60")
    st = json.loads(bb.ok("inspect", "orphan"))[0]["State"]
    pidfile = os.path.join(bb.paths.runroot, "containers",
                           json.loads(bb.ok("inspect", "orphan"))[0]["Id"], "monitor.pid")
    monitor = int(open(pidfile).read())
    os.kill(st["Pid"], signal.SIGKILL)
    os.kill(monitor, signal.SIGKILL)
    time.sleep(0.2)
    report = json.loads(bb.ok("system", "check", "--json"))
    assert report["containers"]
    assert json.loads(bb.ok("inspect", "orphan"))[0]["State"]["Running"] is False


def test_stray_dirs_and_tmp_are_removed(bb):
    stray = os.path.join(bb.paths.root, "containers", "f" * 64)
    os.makedirs(os.path.join(stray, "upper"))
    report = json.loads(bb.ok("system", "check", "--json"))
    assert stray in report["dirs"]
    assert not os.path.exists(stray)


def test_kill_9_during_run_leaves_nothing_after_check(bb):
    for delay in (0.0, 0.05, 0.1, 0.2):
        proc = subprocess.Popen(bb.base + ["run", "--rm", "bb", "sleep", "30"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        proc.kill()
        proc.wait()
    bb.cleanup()
    bb.ok("system", "check")
    assert bb.ok("ps", "-aq") == ""


def test_system_df_counts_images_containers_and_volumes(bb):
    bb.ok("volume", "create", "dfvol")
    bb.ok("run", "--name", "dfuser", "-v", "dfvol:/data", "bb", "sh", "-c", "echo 12345 > /data/f")
    summary = bb.ok("system", "df")
    assert "Local Volumes" in summary and "Images" in summary
    verbose = bb.ok("system", "df", "-v")
    line = next(l for l in verbose.splitlines() if l.startswith("dfvol"))
    assert line.split()[1] == "1"          # one container links it


def test_bridge_of_a_thrown_away_root_is_removed(bb, tmp_path):
    from hold.testing import HoldCLI, temporary_paths
    other = HoldCLI(temporary_paths(str(tmp_path / "other")))
    other.ok("network", "create", "doomed")
    bridge = json.loads(other.ok("network", "inspect", "doomed"))[0]["Options"][
        "com.docker.network.bridge.name"]
    import shutil
    shutil.rmtree(str(tmp_path / "other"))          # the root is thrown away, bridge stays
    assert os.path.exists(f"/sys/class/net/{bridge}")
    report = json.loads(bb.ok("system", "check", "--json"))
    assert bridge in report["bridges"]
    assert not os.path.exists(f"/sys/class/net/{bridge}")


def test_inspect_shows_network_addresses(bb):
    bb.ok("network", "create", "shown")
    bb.ok("run", "-d", "--name", "addr", "--net", "shown", "-p", "127.0.0.1::80", "bb", "sleep", "60")
    settings = json.loads(bb.ok("inspect", "addr"))[0]["NetworkSettings"]
    ip = settings["Networks"]["shown"]["IPAddress"]
    assert ip and ip in bb.ok("exec", "addr", "ip", "-4", "addr", "show", "eth0")
    assert "80/tcp" in settings["Ports"]
    out = bb.ok("inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", "addr")
    assert out.strip() == ip
