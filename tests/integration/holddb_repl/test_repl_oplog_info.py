"""The oplog described like a capped collection: collStats, $collStats,
dataSize and first/last entries by $natural order, which is what mongosh's
rs.printReplicationInfo() / db.getReplicationInfo() read."""

from __future__ import annotations

import json
import os
import subprocess

import pytest
from pymongo.errors import OperationFailure


def _shell(mongosh_bin, port, home, script):
    done = subprocess.run([mongosh_bin, f"mongodb://127.0.0.1:{port}/test", "--quiet",
                           "--eval", script], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "HOME": home})
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def _fields(out: str) -> dict[str, str]:
    fields = {}
    for block in out.split("---"):
        lines = [line for line in block.strip().splitlines() if line.strip()]
        if len(lines) >= 2:
            fields[lines[0].strip()] = " ".join(lines[1:]).strip()
    return fields


def test_oplog_stats_through_pymongo(shared_replset):
    primary = shared_replset.primary_index()
    with shared_replset.direct(primary) as client:
        for i in range(20):
            client.info.c.insert_one({"i": i})
        local = client.local
        stats = local.command("collStats", "oplog.rs")
        count = local["oplog.rs"].count_documents({})
        assert stats["ns"] == "local.oplog.rs" and stats["capped"] is True
        assert stats["maxSize"] == 1024 * 1024 * 1024  # --oplogSize's default, 1024MB
        assert stats["count"] >= 20 and stats["size"] > 0 and abs(stats["count"] - count) <= 2
        scaled = local.command("collStats", "oplog.rs", scale=1024)
        assert scaled["maxSize"] == 1024 * 1024 and scaled["scaleFactor"] == 1024
        agg = list(local["oplog.rs"].aggregate([{"$collStats": {"storageStats": {},
                                                                 "count": {}}}]))
        assert agg[0]["ns"] == "local.oplog.rs" and agg[0]["storageStats"]["capped"] is True
        assert agg[0]["count"] >= 20
        size = local.command("dataSize", "local.oplog.rs")
        assert size["numObjects"] >= 20 and size["size"] > 0
        first = local["oplog.rs"].find().sort("$natural", 1).limit(1).next()
        last = local["oplog.rs"].find().sort("$natural", -1).limit(1).next()
        assert first["ts"] < last["ts"]
        assert first["o"] == {"msg": "initiating set"}
        newest = list(local["oplog.rs"].find().sort("$natural", -1).limit(3))
        assert [e["ts"] for e in newest] == sorted((e["ts"] for e in newest), reverse=True)
        assert newest[0]["ts"] == last["ts"]
        with pytest.raises(OperationFailure) as info:
            local.command("dataSize", "local.oplog.rs", keyPattern={"ts": 1})
        assert info.value.code == 2 and "keyPattern" in str(info.value)
        with pytest.raises(OperationFailure) as info:
            local.command("dataSize", "nodot")
        assert info.value.code == 73


def test_print_replication_info_in_mongosh(mongosh_bin, shared_replset, workdir):
    primary = shared_replset.primary_index()
    home = workdir
    out = _shell(mongosh_bin, shared_replset.ports[primary], home, "rs.printReplicationInfo()")
    # --eval prints each field's name, then its value, then "---"
    fields = _fields(out)
    assert fields["configured oplog size"] == "'1024 MB'", out
    assert fields["actual oplog size"] == "'1024 MB'", out
    assert fields["log length start to end"].endswith("hrs)'"), out
    for name in ("oplog first event time", "oplog last event time", "now"):
        assert "GMT" in fields[name], out
    out = _shell(mongosh_bin, shared_replset.ports[primary], home,
                 "JSON.stringify(db.getReplicationInfo())")
    info = json.loads(out.strip().splitlines()[-1])
    assert info["configuredLogSizeMB"] == 1024 and info["usedMB"] > 0
    assert info["timeDiff"] >= 0 and info["tFirst"] and info["tLast"]
    secondary = (primary + 1) % 3
    out = _shell(mongosh_bin, shared_replset.ports[secondary], home, "rs.printReplicationInfo()")
    assert "configured oplog size" in out, out
