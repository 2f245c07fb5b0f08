"""Fixtures: three real holddb members on free loopback ports, each with its
own temporary dbpath.  ``replset`` is a fresh, initiated set per test (the
failover tests kill members); ``shared_replset`` is one initiated set per
module for tests that leave it as it was.  Teardown kills every member and
removes the files: no process or directory outlives a test."""

from __future__ import annotations

import os
import shutil
import signal
import tempfile

import pytest

from holddb.repl.testing import LocalReplicaSet
from holddb.testing import find_mongosh


@pytest.fixture
def workdir():
    path = tempfile.mkdtemp(prefix="holddb-repl-")
    try:
        yield path
    finally:
        if not os.environ.get("HOLDDB_REPL_KEEP"):  # keep the logs to debug a failure
            shutil.rmtree(path, ignore_errors=True)


def _members(path: str):
    members = LocalReplicaSet(path)
    try:
        members.start()
        yield members
    finally:
        for process in members.processes:  # a test may leave one SIGSTOPped
            if process.process is not None and process.process.poll() is None:
                os.kill(process.process.pid, signal.SIGCONT)
        members.close()


@pytest.fixture
def members(workdir):
    """Three started members, not initiated."""
    yield from _members(workdir)


@pytest.fixture
def replset(members):
    members.initiate()
    return members


@pytest.fixture(scope="module")
def shared_replset():
    path = tempfile.mkdtemp(prefix="holddb-repl-")
    try:
        for members in _members(path):
            members.initiate()
            yield members
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def mongosh_bin():
    path = find_mongosh()
    if path is None:
        pytest.skip("mongosh is not installed (run .ci/install-holddb.sh)")
    return path
