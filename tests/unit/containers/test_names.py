import pytest

from hold.containers.names import random_name, validate
from hold.errors import InvalidArgument


def test_validate_like_docker():
    assert validate("/web-1") == "web-1"
    assert validate("a.b_c") == "a.b_c"
    for bad in ("a", "-x", "has space", "x/y", ""):
        with pytest.raises(InvalidArgument, match="Invalid container name"):
            validate(bad)


def test_random_name_avoids_taken():
    taken = set()
    for _ in range(50):
        name = random_name(lambda n: n in taken)
        assert name not in taken and "_" in name
        taken.add(name)
