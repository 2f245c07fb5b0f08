import ipaddress

import pytest

from hold.errors import Conflict, InvalidArgument
from hold.networks import ipam


def nets(*texts):
    return [ipaddress.ip_network(t) for t in texts]


def test_pick_skips_used_subnets():
    assert str(ipam.pick_subnet(nets("10.89.0.0/24", "10.89.1.0/24"))) == "10.89.2.0/24"


def test_plan_defaults_gateway_to_first_host():
    plan = ipam.plan("10.5.0.0/24", None, None, [])
    assert plan == {"Subnet": "10.5.0.0/24", "Gateway": "10.5.0.1", "IPRange": ""}


@pytest.mark.parametrize("subnet,gateway,ip_range,error", [
    ("bad", None, None, InvalidArgument),
    ("10.5.0.7/24", None, None, InvalidArgument),
    ("10.5.0.0/31", None, None, InvalidArgument),
    ("10.5.0.0/24", "10.6.0.1", None, InvalidArgument),
    ("10.5.0.0/24", "10.5.0.0", None, InvalidArgument),
    ("10.5.0.0/24", None, "10.6.0.0/28", InvalidArgument),
    (None, "10.5.0.1", None, InvalidArgument),
])
def test_plan_rejects(subnet, gateway, ip_range, error):
    with pytest.raises(error):
        ipam.plan(subnet, gateway, ip_range, [])


def test_plan_rejects_overlap():
    with pytest.raises(Conflict, match="overlaps"):
        ipam.plan("10.5.0.0/16", None, None, nets("10.5.3.0/24"))


def test_choose_address_skips_gateway_and_taken():
    cfg = {"Subnet": "10.5.0.0/29", "Gateway": "10.5.0.1", "IPRange": ""}
    assert ipam.choose_address(cfg, set()) == "10.5.0.2"
    assert ipam.choose_address(cfg, {"10.5.0.2", "10.5.0.3"}) == "10.5.0.4"
    with pytest.raises(Conflict):
        ipam.choose_address(cfg, {f"10.5.0.{i}" for i in range(2, 7)})
    with pytest.raises(Conflict, match="already in use"):
        ipam.choose_address(cfg, {"10.5.0.2"}, "10.5.0.2")
    with pytest.raises(InvalidArgument):
        ipam.choose_address(cfg, set(), "10.9.0.2")


def test_ip_range_limits_automatic_addresses():
    cfg = {"Subnet": "10.5.0.0/24", "Gateway": "10.5.0.1", "IPRange": "10.5.0.128/28"}
    assert ipam.choose_address(cfg, set()) == "10.5.0.129"


def test_mac_like_docker():
    assert ipam.mac_for("10.89.2.3") == "02:42:0a:59:02:03"


def test_nat_rules_are_tagged_and_keep_networks_apart():
    from hold.networks import nat
    assert not nat.wanted({}) and nat.wanted({nat.OPTION: "true"})
    script = nat.rules("hbr-abc", "10.89.3.0/24")
    assert 'ip saddr 10.89.3.0/24 oifname != "hbr-abc" masquerade comment "hold:hbr-abc"' in script
    assert 'iifname "hbr-abc" oifname "hbr-*" oifname != "hbr-abc" drop' in script
