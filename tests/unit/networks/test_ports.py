import pytest

from hold.errors import InvalidArgument
from hold.networks.ports import expose_all, parse_add_host, parse_dns, parse_publish


def test_forms():
    assert parse_publish(["8080:80"]) == {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}]}
    assert parse_publish(["127.0.0.1:53:53/udp"]) == {
        "53/udp": [{"HostIp": "127.0.0.1", "HostPort": "53"}]}
    assert parse_publish(["127.0.0.1::80"])["80/tcp"][0]["HostPort"] == ""
    assert parse_publish(["80"])["80/tcp"][0] == {"HostIp": "0.0.0.0", "HostPort": ""}
    ranged = parse_publish(["8000-8001:80-81"])
    assert ranged["81/tcp"][0]["HostPort"] == "8001"


@pytest.mark.parametrize("spec", ["x:80", "80/icmp", "1.2.3:80:80", "a:b:c:d", "8000-8002:80-81",
                                  "70000:80", "80:"])
def test_bad_specs(spec):
    with pytest.raises(InvalidArgument):
        parse_publish([spec])


def test_expose_all_keeps_explicit_bindings():
    result = expose_all({"80/tcp": {}, "53/udp": {}}, parse_publish(["9000:80"]))
    assert result["80/tcp"][0]["HostPort"] == "9000"
    assert result["53/udp"][0]["HostPort"] == ""


def test_add_host_and_dns():
    assert parse_add_host(["db:10.0.0.5", "gw=host-gateway"]) == ["db:10.0.0.5", "gw:host-gateway"]
    for bad in (["nohost"], ["db:notanip"]):
        with pytest.raises(InvalidArgument):
            parse_add_host(bad)
    assert parse_dns(["1.1.1.1"]) == ["1.1.1.1"]
    with pytest.raises(InvalidArgument):
        parse_dns(["dns.example"])
