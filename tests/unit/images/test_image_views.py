from datetime import datetime, timedelta, timezone

import pytest

from hold.cli.commands._image_views import ellipsis, history_view, human_size, path_match
from hold.cli.commands.images import _take_bool_flag
from hold.cli.formatting import human_duration, tabwrite
from hold.errors import InvalidArgument
from hold.images.model import parse_time


@pytest.mark.parametrize("size, text", [
    (0, "0B"), (999, "999B"), (1000, "1kB"), (1984234, "1.98MB"),
    (12_345_678_901, "12.3GB"), (999_900, "1e+03kB")])
def test_human_size_matches_go_units(size, text):
    assert human_size(size) == text


@pytest.mark.parametrize("seconds, text", [
    (0.5, "Less than a second"), (1, "1 second"), (59, "59 seconds"),
    (60, "About a minute"), (150, "2 minutes"), (3600, "About an hour"),
    (3 * 3600, "3 hours"), (3 * 86400, "3 days"), (20 * 86400, "2 weeks"),
    (90 * 86400, "3 months"), (800 * 86400, "2 years")])
def test_human_duration_matches_go_units(seconds, text):
    assert human_duration(seconds) == text


def test_path_match_is_go_path_match():
    assert path_match("bb*", "bb:latest")
    assert not path_match("*", "team/app")
    assert path_match("*/*", "team/app")
    assert path_match("b?", "bb") and path_match("[a-c]b", "bb")


def test_tabwrite_like_docker():
    text = tabwrite("REPOSITORY\tTAG\tSIZE\nbb\tlatest\t1MB\n")
    assert text == "REPOSITORY   TAG       SIZE\nbb           latest    1MB\n"


def test_bool_flag():
    assert _take_bool_flag(["--human=false", "img"], ("-H", "--human"), True) == (["img"], False)
    assert _take_bool_flag(["-H", "img"], ("-H", "--human"), False) == (["img"], True)
    with pytest.raises(InvalidArgument):
        _take_bool_flag(["--human=maybe"], ("-H", "--human"), True)


def test_history_view_truncates_and_raw_mode():
    created = int((datetime.now(timezone.utc) - timedelta(minutes=2)).timestamp())
    entry = {"Id": "sha256:" + "a" * 64, "Created": created, "CreatedBy": "x\t" * 40,
             "Size": 1500, "Comment": "c"}
    row = history_view([entry], human=True, no_trunc=False)[0]
    assert row["ID"] == "a" * 12 and row["CreatedSince"] == "2 minutes ago"
    assert len(row["CreatedBy"]) == 45 and row["CreatedBy"].endswith("…")
    assert row["Size"] == "1.5kB"
    raw = history_view([entry], human=False, no_trunc=True)[0]
    assert raw["Size"] == "1500" and raw["ID"] == entry["Id"]
    assert raw["CreatedSince"].endswith("Z")
    assert ellipsis("abc", 5) == "abc"


def test_parse_time_takes_nanoseconds():
    t = parse_time("2024-05-06T07:08:09.123456789Z")
    assert t == datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=timezone.utc)
    assert parse_time("2024-05-06T07:08:09Z").tzinfo is not None


def test_public_surface():
    import hold.images as images
    assert sorted(images.__all__) == ["Image", "ImageService", "Reference", "parse_reference"]
    for name in images.__all__:
        assert getattr(images, name)


def test_service_module_imports_no_heavy_modules():
    import subprocess
    import sys
    # hold.store is on every path anyway; what images adds must stay light.
    code = ("import sys, hold.store; before = set(sys.modules); "
            "import hold.images.service; "
            "print(','.join(m for m in ('tarfile','hashlib','gzip','bz2','lzma','zlib') "
            "if m in sys.modules and m not in before))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == ""
