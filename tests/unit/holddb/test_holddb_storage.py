"""Storage on a temporary directory: the oplog cap and the dbpath lock."""

import shutil
import tempfile

import bson
import pytest

from holddb.errors import MongoError
from holddb.storage import Storage


@pytest.fixture
def tmp_path():
    """A temporary directory removed after the test (pytest's own keeps the
    last runs' directories around)."""
    import pathlib
    path = tempfile.mkdtemp(prefix="holddb-unit-")
    yield pathlib.Path(path)
    shutil.rmtree(path, ignore_errors=True)


def test_oplog_is_capped(tmp_path):
    storage = Storage(str(tmp_path / "db"), oplog_size_mb=0.05)  # ~52KB
    try:
        with storage.transaction():
            info = storage.ensure_collection("d", "c")
        for i in range(400):
            with storage.transaction():
                storage.insert(info, {"_id": i, "pad": "x" * 300})
        entries = list(storage.oplog.entries())
        total = sum(len(bson.encode(e)) for e in entries)
        assert total <= storage.oplog.size_limit
        assert entries[-1]["o"]["_id"] == 399 and entries[0]["op"] == "i"
    finally:
        storage.close()


def test_dbpath_is_locked(tmp_path):
    first = Storage(str(tmp_path / "db"))
    try:
        with pytest.raises(MongoError) as info:
            Storage(str(tmp_path / "db"))
        assert info.value.code == 98
    finally:
        first.close()
    Storage(str(tmp_path / "db")).close()  # released on close
