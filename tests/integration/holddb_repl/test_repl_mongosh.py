"""The walkthrough's shell lines through mongosh 2 (installed by
.ci/install-holddb.sh) against three real members: rs.initiate, rs.status,
the 1000-insert loop at a ``replSet0:PRIMARY>`` prompt, rs.conf, rs.hello,
rs.add / rs.remove, rs.freeze and rs.stepDown."""

from __future__ import annotations

import json
import os
import subprocess
import time

import pymongo
from pymongo.read_preferences import ReadPreference

# mongosh shows "replSet0 [direct: primary] test>"; the legacy shell's prompt,
# which the walkthrough shows, is one line of ~/.mongoshrc.js away (docs/holddb.md)
LEGACY_PROMPT = (
    'prompt = function () { const h = db.hello(); const s = h.isWritablePrimary ? "PRIMARY" '
    ': h.secondary ? "SECONDARY" : "OTHER"; return h.setName ? `${h.setName}:${s}> ` : "> "; };\n')


def _shell(mongosh_bin, port, home, *, stdin=None, script=None, db="test"):
    args = [mongosh_bin, f"mongodb://127.0.0.1:{port}/{db}"]
    if script is not None:
        args += ["--quiet", "--eval", script]
    done = subprocess.run(args, input=stdin, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "HOME": home})
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def _home(workdir):
    home = os.path.join(workdir, "home")
    os.makedirs(home, exist_ok=True)
    with open(os.path.join(home, ".mongoshrc.js"), "w", encoding="utf-8") as handle:
        handle.write(LEGACY_PROMPT)
    return home


def test_walkthrough_through_mongosh(mongosh_bin, members, workdir):
    home = _home(workdir)
    members_doc = ",\n    ".join(
        f'{{ "_id": {i}, "host": "{host}" }}' for i, host in enumerate(members.hosts))
    out = _shell(mongosh_bin, members.ports[0], home, stdin=(
        f'rs.initiate({{ "_id": "replSet0", "members": [\n    {members_doc} ] }})\n'))
    assert "ok: 1" in out
    members.wait_for_states(1, 2)
    primary = members.primary_index()
    deadline = time.monotonic() + 10
    while True:
        states = _shell(mongosh_bin, members.ports[primary], home,
                        script="rs.status().members.map(m => m.stateStr).sort().join(',')")
        if states.strip() == "PRIMARY,SECONDARY,SECONDARY" or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert states.strip() == "PRIMARY,SECONDARY,SECONDARY"
    out = _shell(mongosh_bin, members.ports[primary], home, stdin=(
        "rs.status()\n"
        "for (var i = 1; i <= 1000; i++) { db.demo.insert({ exampleValue: i }) }\n"
        "db.demo.find()\n"
        "db.demo.countDocuments()\n"))
    assert "replSet0:PRIMARY> " in out and "stateStr: 'SECONDARY'" in out
    assert "exampleValue: 20 }" in out and "PRIMARY> 1000\n" in out
    secondary = (primary + 1) % 3
    out = _shell(mongosh_bin, members.ports[secondary], home, stdin=(
        "db.getMongo().setReadPref('secondaryPreferred')\n"
        "sleep(1000); db.demo.countDocuments()\n"))
    assert "replSet0:SECONDARY> 1000\n" in out
    result = json.loads(_shell(mongosh_bin, members.ports[primary], home, script=(
        "JSON.stringify({conf: rs.conf().members.length, hello: rs.hello().setName,"
        " primary: rs.hello().isWritablePrimary})")).strip().splitlines()[-1])
    assert result == {"conf": 3, "hello": "replSet0", "primary": True}


def test_add_remove_freeze_step_down(mongosh_bin, members, workdir):
    home = _home(workdir)
    # start as a two-member set, then rs.add the third and rs.remove it again
    with members.direct(0) as client:
        client.admin.command("replSetInitiate", {"_id": "replSet0", "members": [
            {"_id": 0, "host": members.hosts[0]}, {"_id": 1, "host": members.hosts[1]}]})
    deadline = time.monotonic() + 30
    while sorted(state for index, state in members.states().items()
                 if index < 2) != ["PRIMARY", "SECONDARY"]:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    primary = members.primary_index()
    with pymongo.MongoClient(members.processes[primary].uri, directConnection=True) as client:
        client.grow.c.insert_many([{"i": i} for i in range(50)])
    out = _shell(mongosh_bin, members.ports[primary], home,
                 script=f"rs.add('{members.hosts[2]}').ok")
    assert out.strip().endswith("1")
    members.wait_for_states(1, 2)
    deadline = time.monotonic() + 20
    count = -1
    with members.direct(2, read_preference=ReadPreference.SECONDARY_PREFERRED) as third:
        while count < 50 and time.monotonic() < deadline:
            try:
                count = third.grow.c.count_documents({})
            except pymongo.errors.PyMongoError:  # STARTUP2 during its initial sync
                time.sleep(0.1)
        assert count == 50  # initial sync of the new member
    out = _shell(mongosh_bin, members.ports[primary], home, script=(
        f"rs.remove('{members.hosts[2]}').ok + ' ' + rs.conf().members.length"))
    assert out.strip().endswith("1 2")
    secondary = 1 - primary if primary in (0, 1) else 0
    out = _shell(mongosh_bin, members.ports[secondary], home, script="rs.freeze(0).ok")
    assert out.strip().endswith("1")
    _shell(mongosh_bin, members.ports[primary], home,
           script="try { rs.stepDown(30) } catch (e) { print(e.message) }")
    deadline = time.monotonic() + 20
    while members.states().get(secondary) != "PRIMARY":
        assert time.monotonic() < deadline
        time.sleep(0.1)
