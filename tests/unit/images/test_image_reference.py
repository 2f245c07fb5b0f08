import pytest

from hold.errors import InvalidArgument
from hold.images.reference import is_full_id, is_id_prefix, parse_reference, short_id


@pytest.mark.parametrize("text, familiar", [
    ("busybox", "busybox:latest"),
    ("busybox:1.36", "busybox:1.36"),
    ("library/busybox:x", "busybox:x"),
    ("docker.io/library/busybox", "busybox:latest"),
    ("docker.io/team/app:v1", "team/app:v1"),
    ("team/app", "team/app:latest"),
    ("registry:5000/name:tag", "registry:5000/name:tag"),
    ("localhost/app", "localhost/app:latest"),
    ("localhost:5000/a/b/c:V_1.2-rc", "localhost:5000/a/b/c:V_1.2-rc"),
    ("my.registry.example/x", "my.registry.example/x:latest"),
    ("a__b.c-d---e", "a__b.c-d---e:latest"),
])
def test_parses_and_normalises(text, familiar):
    assert parse_reference(text).familiar == familiar


def test_digest_reference_has_no_default_tag():
    ref = parse_reference("app@sha256:" + "a" * 64)
    assert ref.tag == "" and ref.digest == "sha256:" + "a" * 64
    assert ref.familiar == "app@sha256:" + "a" * 64


@pytest.mark.parametrize("text, needle", [
    ("", "empty"),
    ("Busybox", "must be lowercase"),
    ("bad::tag", "invalid reference format"),
    ("name:", "tag"),
    ("name:-bad", "tag"),
    ("-name", "invalid reference format"),
    ("name/", "invalid reference format"),
    ("na me", "invalid reference format"),
    ("a" * 256, "longer than 255"),
    ("name:" + "t" * 129, "tag"),
    ("x@sha256:zz", "digest"),
    ("a" * 64, "64-byte hexadecimal"),
    ("bad_host_/x", "invalid reference format"),
])
def test_rejects_bad_references(text, needle):
    with pytest.raises(InvalidArgument) as info:
        parse_reference(text)
    assert needle in str(info.value)
    assert "\n" not in str(info.value)


def test_id_helpers():
    full = "sha256:" + "ab" * 32
    assert is_full_id(full) and is_full_id("ab" * 32)
    assert is_id_prefix("abc") and is_id_prefix("sha256:abc")
    assert not is_id_prefix("xyz") and not is_full_id("abc")
    assert short_id(full) == "ab" * 6
