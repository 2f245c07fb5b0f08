"""caps.resolve and friends: Docker's --cap-add/--cap-drop/--privileged rules."""

import pytest

from hold.errors import InvalidArgument
from hold.runtime import caps


def test_tables_cover_every_capability_up_to_checkpoint_restore():
    assert sorted(caps.ALL_CAPS.values()) == list(range(41))
    assert caps.ALL_CAPS["CAP_CHECKPOINT_RESTORE"] == 40
    assert len(caps.DEFAULT_CAPS) == 14
    assert caps.DEFAULT_CAPS <= set(caps.ALL_CAPS)


def test_no_flags_gives_docker_defaults():
    assert caps.resolve([], [], False) == caps.DEFAULT_CAPS


@pytest.mark.parametrize("spelling", ["NET_ADMIN", "net_admin", "CAP_NET_ADMIN", "cap_Net_Admin"])
def test_names_accepted_with_or_without_prefix_in_any_case(spelling):
    assert "CAP_NET_ADMIN" in caps.resolve([spelling], [], False)


def test_drop_then_add():
    keep = caps.resolve(["SYS_PTRACE"], ["chown", "CAP_KILL"], False)
    assert "CAP_SYS_PTRACE" in keep
    assert not {"CAP_CHOWN", "CAP_KILL"} & keep
    assert keep == (caps.DEFAULT_CAPS - {"CAP_CHOWN", "CAP_KILL"}) | {"CAP_SYS_PTRACE"}


def test_drop_all_keeps_only_the_added():
    assert caps.resolve(["net_bind_service"], ["ALL"], False) == {"CAP_NET_BIND_SERVICE"}
    assert caps.resolve([], ["all"], False) == frozenset()


def test_add_all_minus_drops():
    keep = caps.resolve(["ALL"], ["SYS_ADMIN"], False)
    assert keep == frozenset(caps.ALL_CAPS) - {"CAP_SYS_ADMIN"}


def test_privileged_gets_everything():
    assert caps.resolve([], ["CHOWN"], True) == frozenset(caps.ALL_CAPS)


@pytest.mark.parametrize("bad", ["foo", "CAP_FOO", "", "NET ADMIN"])
def test_unknown_capability_is_invalid_argument(bad):
    with pytest.raises(InvalidArgument) as info:
        caps.resolve([bad], [], False)
    assert str(info.value) == f"invalid capability: {bad}"
    assert len(str(info.value)) < 80


def test_unknown_capability_refused_even_when_privileged_or_dropping():
    with pytest.raises(InvalidArgument):
        caps.resolve([], ["nope"], True)


def test_mask_round_trip():
    bits = caps.mask(caps.DEFAULT_CAPS)
    assert bits == 0xA80425FB  # Docker's default CapEff as seen in /proc/PID/status
    assert caps.names_from_mask(bits) == caps.DEFAULT_CAPS
