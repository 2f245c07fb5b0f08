"""Bootstrap's pure parts: targets and the host's apt sources."""

import pytest

from hold.build.bootstrap import host_mirror, parse_target
from hold.errors import InvalidArgument


def test_parse_target():
    assert parse_target("debian:bookworm") == "bookworm"
    assert parse_target("debian") == "bookworm"
    for bad in ("ubuntu:jammy", "debian:Bad", "debian:../x"):
        with pytest.raises(InvalidArgument, match="expected debian:SUITE"):
            parse_target(bad)


def test_host_mirror_from_deb822_skips_security(tmp_path):
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list.d" / "a.sources").write_text(
        "Types: deb\nURIs: http://security.example/debian-security\n"
        "Suites: bookworm-security\nComponents: main\n\n"
        "Types: deb\nURIs: http://archive.example/debian\n"
        "Suites: bookworm bookworm-updates\nComponents: main\n")
    assert host_mirror(str(tmp_path)) == "http://archive.example/debian"


def test_host_mirror_from_one_line_sources(tmp_path):
    (tmp_path / "sources.list").write_text(
        "# comment\ndeb [signed-by=/k.gpg] http://one.example/debian bookworm main\n")
    assert host_mirror(str(tmp_path)) == "http://one.example/debian"
    assert host_mirror(str(tmp_path / "missing")) is None
