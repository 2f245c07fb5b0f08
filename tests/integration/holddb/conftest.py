"""Fixtures: a real holddb subprocess on a free loopback port with a
temporary dbpath (one per test module), a pymongo client on it, and a fresh
database per test.  Teardown stops the server and removes its files."""

from __future__ import annotations

import re
import shutil
import tempfile

import pymongo
import pytest

from holddb.testing import HolddbProcess, find_mongosh


@pytest.fixture(scope="module")
def holddb_server():
    workdir = tempfile.mkdtemp(prefix="holddb-test-")
    server = HolddbProcess(f"{workdir}/db", logpath=f"{workdir}/holddb.log")
    server.start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="module")
def client(holddb_server):
    mongo = pymongo.MongoClient(holddb_server.uri, serverSelectionTimeoutMS=5000)
    try:
        yield mongo
    finally:
        mongo.close()


@pytest.fixture
def db(client, request):
    name = "t_" + re.sub(r"[^A-Za-z0-9]", "_", request.node.name)[:50]
    client.drop_database(name)
    yield client[name]
    client.drop_database(name)


@pytest.fixture(scope="session")
def mongosh_bin():
    path = find_mongosh()
    if path is None:
        pytest.skip("mongosh is not installed (run .ci/install-holddb.sh)")
    return path
