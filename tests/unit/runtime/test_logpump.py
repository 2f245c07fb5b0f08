import json
import os

from hold.runtime.logpump import LogPump, rfc3339_nano


def test_rfc3339_nano_shape():
    stamp = rfc3339_nano(1700000000.5)
    assert stamp == "2023-11-14T22:13:20.500000000Z"


def test_lines_are_never_split(tmp_path):
    log = tmp_path / "log"
    r, w = os.pipe()
    pump = LogPump(str(log), {r: "stdout"}, echo=False)
    os.write(w, b"hel")
    assert pump._pump(r)
    os.write(w, b"lo\nwor")
    assert pump._pump(r)
    os.close(w)
    assert not pump._pump(r)
    pump._finish(r)
    pump.log.close()
    entries = [json.loads(line) for line in log.read_text().splitlines()]
    assert [e["log"] for e in entries] == ["hello\n", "wor"]
    assert all(e["stream"] == "stdout" for e in entries)


def test_split_entries_cuts_long_lines_as_docker_does():
    from hold.runtime._light import MAX_ENTRY, split_entries
    assert split_entries(b"a\nbc\nde") == ([b"a\n", b"bc\n"], b"de")
    long = b"x" * (2 * MAX_ENTRY + 5)
    assert split_entries(long + b"\n") == (
        [b"x" * MAX_ENTRY, b"x" * MAX_ENTRY, b"xxxxx\n"], b"")
    exact = b"y" * (2 * MAX_ENTRY)
    assert split_entries(exact + b"\n") == ([b"y" * MAX_ENTRY, b"y" * (MAX_ENTRY) + b"\n"], b"")
    # no newline yet: pieces go, at most MAX_ENTRY bytes stay, and a rest of
    # exactly MAX_ENTRY waits for the byte that says whether the line ends
    assert split_entries(exact) == ([b"y" * MAX_ENTRY], b"y" * MAX_ENTRY)
    assert split_entries(b"\n") == ([b"\n"], b"")


def test_a_stream_without_newlines_is_logged_as_it_comes(tmp_path):
    """A container writing megabytes without a newline: the monitor keeps
    at most one entry's worth, and every byte reaches the log in order."""
    from hold.runtime._light import MAX_ENTRY
    log = tmp_path / "log"
    r, w = os.pipe()
    pump = LogPump(str(log), {r: "stdout"}, echo=False)
    sent = bytes(range(97, 123)) * 40000            # ~1 MB of letters, no newline
    for start in range(0, len(sent), 60000):
        os.write(w, sent[start:start + 60000])
        assert pump._pump(r)
        assert len(pump.partial[r]) <= MAX_ENTRY
    os.close(w)
    assert not pump._pump(r)
    pump._finish(r)
    pump.log.close()
    entries = [json.loads(line)["log"] for line in log.read_text().splitlines()]
    assert "".join(entries).encode() == sent
    assert all(len(e) == MAX_ENTRY for e in entries[:-1]) and 0 < len(entries[-1]) <= MAX_ENTRY
