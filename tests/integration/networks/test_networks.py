"""User-defined bridge networks: real bridges, veths, DNS by name, ports."""

import json
import os
import shutil
import socket
import subprocess
import tarfile
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

HERE = os.path.dirname(__file__)


@pytest.fixture(scope="module")
def udp_image_tar(busybox_tar, tmp_path_factory):
    """busybox plus /bin/udpecho, a static UDP echo server built here."""
    work = tmp_path_factory.mktemp("udpecho")
    binary = work / "udpecho"
    subprocess.run(["gcc", "-static", "-O2", "-o", str(binary),
                    os.path.join(HERE, "udpecho.c")], check=True)
    out = work / "image.tar"
    shutil.copy(busybox_tar, out)
    with tarfile.open(out, "a") as tar:
        tar.add(str(binary), arcname="bin/udpecho")
    return str(out)


def net_json(hold, name):
    return json.loads(hold.ok("network", "inspect", name))[0]


def test_create_ls_inspect_rm(hold):
    nid = hold.ok("network", "create", "--label", "team=db", "mongo-cluster").strip()
    assert len(nid) == 64
    names = hold.ok("network", "ls", "--format", "{{.Name}}").split()
    assert {"bridge", "host", "none", "mongo-cluster"} <= set(names)
    info = net_json(hold, "mongo-cluster")
    assert info["Driver"] == "bridge" and info["Labels"] == {"team": "db"}
    bridge = info["Options"]["com.docker.network.bridge.name"]
    assert os.path.exists(f"/sys/class/net/{bridge}")
    assert hold.ok("network", "rm", "mongo-cluster").strip() == "mongo-cluster"
    assert not os.path.exists(f"/sys/class/net/{bridge}")


def test_nat_driver_is_accepted_as_bridge(hold):
    r = hold("network", "create", "--driver", "nat", "winlike")
    assert r.returncode == 0 and "notice" in r.stderr
    assert net_json(hold, "winlike")["Driver"] == "bridge"


def test_bad_inputs_change_nothing(hold):
    hold.ok("network", "create", "--subnet", "10.123.0.0/24", "first")
    cases = [
        (["network", "create", "first"], "already exists"),
        (["network", "create", "--subnet", "10.123.0.0/25", "second"], "overlaps"),
        (["network", "create", "--subnet", "nonsense", "third"], "invalid subnet"),
        (["network", "create", "--subnet", "10.124.0.5/24", "fourth"], "it should be"),
        (["network", "create", "--subnet", "10.125.0.0/24", "--gateway", "10.126.0.1", "fifth"],
         "not a host address"),
        (["network", "create", "--driver", "overlay", "sixth"], "not found"),
        (["network", "rm", "nosuch"], "not found"),
        (["network", "create", "host"], "pre-defined"),
    ]
    for args, needle in cases:
        r = hold(*args)
        assert r.returncode != 0 and needle in r.stderr, (args, r.stderr)
    names = set(hold.ok("network", "ls", "--format", "{{.Name}}").split())
    assert names == {"bridge", "host", "none", "first"}


def test_run_on_unknown_network_creates_nothing(bb):
    r = bb("run", "--net", "ghost-net", "--name", "nope", "bb", "true")
    assert r.returncode == 125 and "network ghost-net not found" in r.stderr
    assert bb.ok("ps", "-aq") == ""


def test_ip_outside_subnet_is_refused(bb):
    bb.ok("network", "create", "--subnet", "10.127.0.0/24", "fixed")
    r = bb("run", "--net", "fixed", "--ip", "10.128.0.9", "bb", "true")
    assert r.returncode != 0 and "not a host address" in r.stderr
    assert bb.ok("ps", "-aq") == ""
    bb.ok("run", "-d", "--name", "pinned", "--net", "fixed", "--ip", "10.127.0.9", "bb", "sleep", "60")
    assert "10.127.0.9" in bb.ok("exec", "pinned", "ip", "-4", "addr", "show", "eth0")
    r = bb("run", "--net", "fixed", "--ip", "10.127.0.9", "bb", "true")
    assert r.returncode != 0 and "already in use" in r.stderr


def test_rm_refused_while_containers_attached(bb):
    bb.ok("network", "create", "busy-net")
    bb.ok("create", "--name", "member", "--net", "busy-net", "bb", "true")
    r = bb("network", "rm", "busy-net")
    assert r.returncode != 0 and "active endpoints" in r.stderr
    bb.ok("rm", "member")
    bb.ok("network", "rm", "busy-net")


def _ask(bb, client, server, attempts=25):
    """The server's greeting, retried while it (re)starts listening."""
    for _ in range(attempts):
        r = bb("exec", client, "sh", "-c", f"echo x | nc -w 2 {server} 7000")
        if r.stdout.strip():
            return r.stdout.strip()
        time.sleep(0.2)
    return r.stdout.strip() + r.stderr.strip()


def _server(bb, name, net, extra=()):
    bb.ok("run", "-d", "--name", name, "--net", net, *extra, "bb", "sh", "-c",
          f"while true; do echo from-{name} | nc -l -p 7000; done")


def test_containers_talk_by_name_and_alias_both_ways(bb):
    bb.ok("network", "create", "mongo-cluster")
    _server(bb, "node1", "mongo-cluster")
    _server(bb, "node2", "mongo-cluster", ("--network-alias", "db"))
    time.sleep(0.3)
    assert _ask(bb, "node1", "node2") == "from-node2"
    assert _ask(bb, "node2", "node1") == "from-node1"
    assert _ask(bb, "node1", "db") == "from-node2"
    short = json.loads(bb.ok("inspect", "node2"))[0]["Id"][:12]
    assert _ask(bb, "node1", short) == "from-node2"


def test_other_networks_are_isolated_until_connected(bb):
    bb.ok("network", "create", "left")
    bb.ok("network", "create", "right")
    _server(bb, "lefty", "left")
    bb.ok("run", "-d", "--name", "righty", "--net", "right", "bb", "sleep", "60")
    time.sleep(0.3)
    r = bb("exec", "righty", "nslookup", "lefty")
    assert "Address" not in r.stdout.split("Name:")[-1] if "Name:" in r.stdout else r.returncode != 0
    left_ip = net_json(bb, "left")["Containers"]
    ip = next(iter(left_ip.values()))["IPv4Address"].split("/")[0]
    r = bb("exec", "righty", "sh", "-c", f"echo x | nc -w 1 {ip} 7000")
    assert "from-lefty" not in r.stdout
    bb.ok("network", "connect", "left", "righty")
    assert _ask(bb, "righty", "lefty") == "from-lefty"
    bb.ok("network", "disconnect", "left", "righty")
    r = bb("exec", "righty", "sh", "-c", "echo x | nc -w 1 lefty 7000")
    assert "from-lefty" not in r.stdout


def test_container_started_later_and_restarted_is_resolved(bb):
    bb.ok("network", "create", "late")
    bb.ok("run", "-d", "--name", "early", "--net", "late", "bb", "sleep", "60")
    _server(bb, "later", "late")
    time.sleep(0.3)
    assert _ask(bb, "early", "later") == "from-later"
    bb.ok("restart", "-t", "0", "later")
    time.sleep(0.3)
    assert _ask(bb, "early", "later") == "from-later"


def test_internal_network_does_not_forward_unknown_names(bb):
    bb.ok("network", "create", "--internal", "sealed")
    bb.ok("run", "-d", "--name", "inside", "--net", "sealed", "bb", "sleep", "60")
    r = bb("exec", "inside", "nslookup", "example.invalid")
    assert r.returncode != 0 or "NXDOMAIN" in r.stdout + r.stderr or "can't" in r.stdout + r.stderr
    assert "default" not in bb.ok("exec", "inside", "ip", "route")


def test_published_tcp_and_udp_ports_on_loopback(bb, udp_image_tar):
    bb.ok("import", udp_image_tar, "udpbb:latest")
    bb.ok("run", "-d", "--name", "pub", "-p", "127.0.0.1::80", "-p", "127.0.0.1::81/udp",
          "udpbb", "sh", "-c", "nc -ll -p 80 -e echo hello-tcp & udpecho 81 & wait")
    lines = bb.ok("port", "pub").splitlines()
    tcp = int(next(l for l in lines if l.startswith("80/tcp")).rsplit(":", 1)[1])
    udp = int(next(l for l in lines if l.startswith("81/udp")).rsplit(":", 1)[1])
    assert bb.ok("port", "pub", "80").strip() == f"127.0.0.1:{tcp}"
    time.sleep(0.3)
    for _ in range(2):
        with socket.create_connection(("127.0.0.1", tcp), timeout=5) as s:
            assert s.recv(100).strip() == b"hello-tcp"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(5)
        s.sendto(b"ping", ("127.0.0.1", udp))
        assert s.recv(100) == b"echo:ping"


def test_published_port_in_use_fails_clearly(bb):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        r = bb("run", "--name", "clash", "-p", f"127.0.0.1:{port}:80", "bb", "true")
        assert r.returncode != 0 and "already allocated" in r.stderr


def test_fifty_parallel_containers_get_distinct_addresses_and_resolve(bb):
    bb.ok("network", "create", "crowd")
    def start(i):
        return bb("run", "-d", "--name", f"member{i}", "--net", "crowd", "bb", "sleep", "120")
    with ThreadPoolExecutor(max_workers=10) as pool:
        results = list(pool.map(start, range(50)))
    assert all(r.returncode == 0 for r in results), [r.stderr for r in results if r.returncode]
    members = net_json(bb, "crowd")["Containers"]
    addresses = [m["IPv4Address"] for m in members.values()]
    assert len(addresses) == 50 and len(set(addresses)) == 50
    script = "for i in $(seq 0 49); do nslookup member$i >/dev/null 2>&1 || echo miss$i; done"
    assert bb.ok("exec", "member0", "sh", "-c", script).strip() == ""


@pytest.fixture
def silent_upstream():
    """A DNS server on loopback that reads queries and never answers, as an
    unreachable or overloaded upstream looks to the resolver."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.77", 53))
        yield "127.0.0.77"


def test_a_silent_upstream_does_not_hold_up_names_on_the_network(bb, silent_upstream):
    """Names the network does not know go upstream; while those wait, the
    containers' own names are still answered at once (the replica set's
    members ask for a peer that is not up yet while a client asks for one
    that is)."""
    bb.ok("network", "create", "slowup")
    _server(bb, "known", "slowup")
    bb.ok("run", "-d", "--name", "asker", "--net", "slowup", "--dns", silent_upstream, "bb", "sh", "-c",
          "i=0; while true; do i=$((i+1)); nslookup nowhere-$i >/dev/null 2>&1 & sleep 0.1; done")
    bb.ok("run", "-d", "--name", "client", "--net", "slowup", "bb", "sleep", "120")
    time.sleep(1)
    script = "for i in $(seq 1 20); do nslookup known >/dev/null 2>&1 || echo miss$i; done"
    assert bb.ok("exec", "client", "sh", "-c", script).strip() == ""
    assert _ask(bb, "client", "known") == "from-known"


def test_the_gateway_keeps_its_mac_while_containers_come_and_go(bb):
    """A Linux bridge with no address of its own takes its lowest port's
    MAC, so the gateway's MAC changed as veths came and went and containers
    that had cached it lost the resolver for ~30 s.  hold's bridges have
    an address of their own."""
    bb.ok("network", "create", "steady")
    bb.ok("run", "-d", "--name", "first", "--net", "steady", "bb", "sleep", "120")
    bridge = net_json(bb, "steady")["Options"]["com.docker.network.bridge.name"]

    def bridge_mac():
        with open(f"/sys/class/net/{bridge}/address") as f:
            return f.read().strip()
    with open(f"/sys/class/net/{bridge}/addr_assign_type") as f:
        assert f.read().strip() == "3"                 # NET_ADDR_SET: not a port's
    before = bridge_mac()
    for i in range(8):
        bb.ok("run", "-d", "--name", f"passing{i}", "--net", "steady", "bb", "sleep", "120")
    assert bridge_mac() == before
    bb.ok("rm", "-f", *(f"passing{i}" for i in range(8)))
    assert bridge_mac() == before
    assert bb.ok("exec", "first", "nslookup", "first").count("Address") >= 2


def test_a_bridge_made_without_its_own_mac_gets_one_while_empty(bb):
    """Bridges made by an older hold borrow a port's MAC; the next container
    start on it, with no container attached yet, gives it one of its own."""
    bb.ok("network", "create", "older")
    bridge = net_json(bb, "older")["Options"]["com.docker.network.bridge.name"]
    subprocess.run(["ip", "link", "del", bridge], capture_output=True)
    subprocess.run(["ip", "link", "add", bridge, "type", "bridge"], check=True)
    with open(f"/sys/class/net/{bridge}/addr_assign_type") as f:
        assert f.read().strip() != "3"
    bb.ok("run", "-d", "--name", "upgrader", "--net", "older", "bb", "sleep", "60")
    with open(f"/sys/class/net/{bridge}/addr_assign_type") as f:
        assert f.read().strip() == "3"



def test_kill_9_of_hold_mid_run_on_a_network_leaves_nothing_after_check(bb):
    """hold killed at any point of `run --net`: `system check`, `rm -f` and
    `network rm` leave no container, veth, lease or resolver behind."""
    from hold.networks.dns import resolver_pid
    from hold.testing import leftovers
    bb.ok("network", "create", "crashnet")
    network = net_json(bb, "crashnet")
    bridge = network["Options"]["com.docker.network.bridge.name"]
    for delay in (0.0, 0.05, 0.1, 0.2, 0.3, 0.5):
        proc = subprocess.Popen(bb.base + ["run", "--rm", "--net", "crashnet", "-p", "127.0.0.1::80",
                                           "bb", "sleep", "30"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        proc.kill()
        proc.wait()
    bb.ok("system", "check")
    ids = bb.ok("ps", "-aq", "--no-trunc").split()
    if ids:
        bb.ok("rm", "-f", *ids)
    deadline = time.monotonic() + 10           # the kernel destroys a dead netns's veth lazily
    while os.listdir(f"/sys/class/net/{bridge}/brif") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert os.listdir(f"/sys/class/net/{bridge}/brif") == []
    bb.ok("network", "rm", "crashnet")          # nothing attached, nothing leased
    import sqlite3
    db = sqlite3.connect(bb.paths.db)
    try:
        assert db.execute("SELECT COUNT(*) FROM leases").fetchone()[0] == 0
    finally:
        db.close()
    assert not os.path.exists(f"/sys/class/net/{bridge}")
    assert resolver_pid(bb.paths.runroot, network["Id"]) is None
    assert leftovers(bb.paths, networks=False) == []


def test_a_removed_container_leaves_the_bridge_at_once_though_its_netns_lingers(bb):
    """Something in the kernel can keep a dead container's network namespace,
    and so its veth, alive after the container is gone (orphaned TCP
    sockets retransmitting to peers removed with it: a replica set's veths
    outlived `rm` and `network rm` by minutes).  Here an open handle on the
    namespace does that; the monitor deletes the veth itself at exit."""
    bb.ok("network", "create", "linger")
    bridge = net_json(bb, "linger")["Options"]["com.docker.network.bridge.name"]
    client = bb.ok("run", "-d", "--name", "cli", "--net", "linger", "bb", "sleep", "3600").strip()
    pid = json.loads(bb.ok("inspect", "cli"))[0]["State"]["Pid"]
    netns = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY)
    try:
        veth = f"vh{client[:10]}00"
        assert os.path.exists(f"/sys/class/net/{bridge}/brif/{veth}")
        bb.ok("rm", "-f", "cli")
        deadline = time.monotonic() + 5
        while os.path.exists(f"/sys/class/net/{veth}") and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not os.path.exists(f"/sys/class/net/{veth}")
    finally:
        os.close(netns)


def test_a_start_right_after_an_exit_keeps_the_new_veth(bb):
    """The exited run's monitor unplugs after it recorded the exit, by
    ifindex: a start that follows at once has made a new veth of the same
    name, and that one stays."""
    bb.ok("network", "create", "quick")
    bridge = net_json(bb, "quick")["Options"]["com.docker.network.bridge.name"]
    cid = bb.ok("run", "-d", "--name", "again", "--net", "quick", "bb", "sh", "-c",
                "[ -e /ran ] && exec sleep 3600; touch /ran; sleep 1").strip()
    pid = json.loads(bb.ok("inspect", "again"))[0]["State"]["Pid"]
    netns = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY)     # the old veth outlives the run
    try:
        deadline = time.monotonic() + 10
        while bb.ok("inspect", "-f", "{{.State.Running}}", "again").strip() != "false":
            assert time.monotonic() < deadline
            time.sleep(0.01)
        bb.ok("start", "again")         # the first run's monitor may still be finishing
        time.sleep(1)                   # any late unplug has happened by now
    finally:
        os.close(netns)
    assert os.path.exists(f"/sys/class/net/{bridge}/brif/vh{cid[:10]}00")
    gateway = net_json(bb, "quick")["IPAM"]["Config"][0]["Gateway"]
    bb.ok("exec", "again", "ping", "-c", "1", "-W", "2", gateway)


def test_rm_takes_the_veths_a_killed_monitor_left(bb):
    """A monitor killed with SIGKILL never unplugs; while something keeps
    the container's network namespace (an open handle here), its veth would
    stay on the bridge: `rm` removes it with the container."""
    bb.ok("network", "create", "orphaned")
    bridge = net_json(bb, "orphaned")["Options"]["com.docker.network.bridge.name"]
    cid = bb.ok("run", "-d", "--name", "orphan", "--net", "orphaned", "bb", "sleep", "3600").strip()
    pid = json.loads(bb.ok("inspect", "orphan"))[0]["State"]["Pid"]
    with open(os.path.join(bb.paths.runroot, "containers", cid, "monitor.pid")) as f:
        monitor = int(f.read())
    netns = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY)
    try:
        os.kill(monitor, 9)
        os.kill(pid, 9)
        bb.ok("rm", "-f", "orphan")
        assert not os.path.exists(f"/sys/class/net/vh{cid[:10]}00")
        assert os.listdir(f"/sys/class/net/{bridge}/brif") == []
    finally:
        os.close(netns)
