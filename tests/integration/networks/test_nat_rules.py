"""The opt-in outbound NAT rules, applied for real but inside a throw-away
network namespace with no route anywhere: nothing can leave the machine."""

import subprocess
import sys
import uuid


def test_enable_then_disable_leaves_no_rule():
    ns = f"holdnat{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        subprocess.run(["ip", "-n", ns, "link", "add", "hbr-t", "type", "bridge"], check=True)
        code = ("from hold.networks import nat;"
                "nat.enable('hbr-t', '10.99.0.0/24'); nat.enable('hbr-t', '10.99.0.0/24');"
                "print(len(nat._handles('hbr-t')));"
                "print(open('/proc/sys/net/ipv4/conf/hbr-t/forwarding').read().strip());"
                "nat.disable('hbr-t'); print(len(nat._handles('hbr-t')))")
        out = subprocess.run(["ip", "netns", "exec", ns, sys.executable, "-c", code],
                             capture_output=True, text=True, check=True).stdout.split()
        assert out == ["2", "1", "0"]
    finally:
        subprocess.run(["ip", "netns", "del", ns], check=True)
