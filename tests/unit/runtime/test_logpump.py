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
