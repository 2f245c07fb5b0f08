"""mongosh 2.x (the npm package, installed by .ci/install-holddb.sh) against a
real holddb, running the walkthrough's lines unchanged."""

import json
import subprocess


def shell(mongosh_bin, server, script, db="test", stdin=None):
    args = [mongosh_bin, f"{server.uri}{db}", "--quiet"]
    if stdin is None:
        args += ["--eval", script]
    done = subprocess.run(args, input=stdin, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout.strip()


def test_walkthrough_lines(mongosh_bin, holddb_server):
    out = shell(mongosh_bin, holddb_server,
                "for (var i = 1; i <= 1000; i++) { db.demo.insert({ exampleValue: i }) };"
                "print(db.demo.countDocuments());", db="walk")
    assert out.splitlines()[-1] == "1000"
    out = shell(mongosh_bin, holddb_server, "db.demo.find()", db="walk")
    assert "exampleValue: 1 }" in out and "exampleValue: 20 }" in out
    assert 'Type "it" for more' in out
    out = shell(mongosh_bin, holddb_server,
                "print(db.demo.find().toArray().length, db.demo.countDocuments(),"
                " db.demo.estimatedDocumentCount())", db="walk")
    assert out == "1000 1000 1000"


def test_interactive_session_from_stdin(mongosh_bin, holddb_server):
    out = shell(mongosh_bin, holddb_server, None, db="inter",
                stdin="db.people.insertOne({name: 'ann', age: 31})\n"
                      "db.people.find({age: {$gt: 30}}, {_id: 0})\n"
                      "show collections\n")
    assert "name: 'ann'" in out and "people" in out


def test_crud_indexes_and_errors(mongosh_bin, holddb_server):
    script = """
    db.c.drop();
    db.c.insertMany([{k: 1, tags: ['a']}, {k: 2, tags: []}, {k: 3}]);
    db.c.updateMany({k: {$gte: 2}}, {$push: {tags: 'z'}});
    db.c.createIndex({k: 1}, {unique: true});
    let dup = null;
    try { db.c.insertOne({k: 1}); } catch (e) { dup = e.code; }
    let unknown = null;
    try { db.runCommand({frobnicate: 1}); db.adminCommand({frobnicate: 1}).ok || (unknown = 59); }
    catch (e) { unknown = e.code; }
    db.c.deleteOne({k: 3});
    print(JSON.stringify({
      dup: dup, unknown: unknown,
      docs: db.c.find({}, {_id: 0}).sort({k: -1}).toArray(),
      idx: db.c.getIndexes().map(i => i.name),
      agg: db.c.aggregate([{$unwind: '$tags'}, {$count: 'n'}]).toArray(),
      stats: db.c.stats().count,
    }));
    """
    result = json.loads(shell(mongosh_bin, holddb_server, script, db="shellcrud").splitlines()[-1])
    assert result["dup"] == 11000 and result["unknown"] == 59
    assert result["docs"] == [{"k": 2, "tags": ["z"]}, {"k": 1, "tags": ["a"]}]
    assert result["idx"] == ["_id_", "k_1"]
    assert result["agg"] == [{"n": 2}] and result["stats"] == 2


def test_show_dbs_and_server_info(mongosh_bin, holddb_server):
    out = shell(mongosh_bin, holddb_server,
                "db.getSiblingDB('shellinfo').x.insertOne({}); "
                "print(db.version()); print(db.adminCommand({listDatabases: 1}).databases.length > 0);"
                "print(db.serverStatus().storageEngine.name); print(db.hello().isWritablePrimary)")
    assert out.splitlines() == ["7.0.12", "true", "sqlite", "true"]


def test_shell_paging_with_it_and_show_dbs(mongosh_bin, holddb_server):
    shell(mongosh_bin, holddb_server,
          "for (var i = 1; i <= 150; i++) { db.pages.insertOne({ n: i }) }", db="paging")
    out = shell(mongosh_bin, holddb_server, None, db="paging",
                stdin="db.pages.find({}, {_id: 0}).sort({n: 1})\nit\nit\nshow dbs\n")
    assert "n: 20 }" in out and "n: 40 }" in out and "n: 60 }" in out
    assert "paging" in out and "admin" in out and "local" in out


def test_shell_updates_and_aggregation(mongosh_bin, holddb_server):
    script = """
    db.u.drop();
    db.u.insertMany([{_id: 1, tags: ['a'], n: 1}, {_id: 2, tags: [], n: 5}]);
    db.u.updateOne({_id: 1}, {$push: {tags: {$each: ['b', 'c'], $slice: -2}}, $inc: {n: 10}});
    db.u.updateMany({}, {$set: {seen: true}, $currentDate: {at: true}});
    db.u.updateOne({_id: 3}, {$setOnInsert: {n: 0}}, {upsert: true});
    const agg = db.u.aggregate([{$group: {_id: null, total: {$sum: '$n'}, ids: {$push: '$_id'}}}]).toArray();
    print(JSON.stringify({one: db.u.findOne({_id: 1}, {_id: 0, at: 0}), agg: agg,
                          upserted: db.u.findOne({_id: 3})}));
    """
    out = json.loads(shell(mongosh_bin, holddb_server, script, db="shellupd").splitlines()[-1])
    assert out["one"] == {"tags": ["b", "c"], "n": 11, "seen": True}
    assert out["agg"] == [{"_id": None, "total": 16, "ids": [1, 2, 3]}]
    assert out["upserted"] == {"_id": 3, "n": 0}
