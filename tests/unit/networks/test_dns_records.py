"""The resolver's view of the store: who answers to a name, and when a
store that cannot be read means the network is gone (only when its file is)."""

import json
import os
import sqlite3

import pytest

from hold.networks.dns_records import NetworkRecords
from hold.store.schema import SCHEMA


@pytest.fixture
def db(tmp_path):
    path = str(tmp_path / "hold.db")
    con = sqlite3.connect(path)
    con.executescript(SCHEMA)
    con.execute("INSERT INTO networks VALUES ('n1', 'mongo-cluster', 'bridge', ?, '')",
                (json.dumps({"Internal": False}),))
    con.execute("INSERT INTO networks VALUES ('n2', 'other', 'bridge', '{}', '')")

    def container(cid, name, ip, running, network="n1", aliases=()):
        config = {"Networks": {"mongo-cluster": {"Aliases": list(aliases)}}}
        con.execute("INSERT INTO containers VALUES (?,?,?,?,?,?,?)",
                    (cid, name, "img", "img", json.dumps(config),
                     json.dumps({"Running": running}), ""))
        con.execute("INSERT INTO leases (network_id, ip, container_id) VALUES (?,?,?)",
                    (network, ip, cid))

    container("a" * 64, "mongo-node1", "10.89.0.2", True, aliases=["db"])
    container("b" * 64, "mongo-node2", "10.89.0.3", False)
    container("c" * 64, "elsewhere", "10.90.0.2", True, network="n2")
    con.commit()
    con.close()
    return path


def test_running_containers_by_name_alias_and_short_id(db):
    records = NetworkRecords(db, "n1")
    for name in ("mongo-node1", "db", "a" * 12):
        assert records.lookup(name, "10.89.0.9") == (["10.89.0.2"], True)


def test_a_stopped_container_is_ours_with_no_address(db):
    assert NetworkRecords(db, "n1").lookup("mongo-node2") == ([], True)


def test_names_on_other_networks_are_not_ours(db):
    assert NetworkRecords(db, "n1").lookup("elsewhere", "10.89.0.2") == ([], False)


def test_liveness(db):
    records = NetworkRecords(db, "n1")
    assert records.network_exists() and records.anyone_running()
    assert not NetworkRecords(db, "missing").network_exists()


def test_an_unreadable_store_is_not_a_gone_network(db):
    records = NetworkRecords(db, "n1")
    records.db.close()                    # every query now raises sqlite3.Error
    assert records.network_exists() and records.anyone_running()
    os.unlink(db)
    assert not records.network_exists() and not records.anyone_running()
