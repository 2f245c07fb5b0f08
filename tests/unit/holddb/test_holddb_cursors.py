"""Cursor batching, exhaustion and idle timeouts."""

from holddb.cursors import CursorManager, first_batch_reply


def test_batches_and_exhaustion():
    manager = CursorManager()
    reply = first_batch_reply(manager, "d.c", [{"i": i} for i in range(250)], 1, None)
    assert len(reply["cursor"]["firstBatch"]) == 101
    cursor = manager.get(reply["cursor"]["id"], "d.c")
    more = manager.batch_reply(cursor, None, first=False)
    assert len(more["cursor"]["nextBatch"]) == 149 and more["cursor"]["id"] == 0
    assert len(manager) == 0


def test_single_batch_and_idle_reap():
    manager = CursorManager()
    reply = first_batch_reply(manager, "d.c", [{}] * 10, 1, 3, single_batch=True)
    assert reply["cursor"]["id"] == 0 and len(manager) == 0
    first_batch_reply(manager, "d.c", [{}] * 10, 1, 3)
    first_batch_reply(manager, "d.c", [{}] * 10, 1, 3, no_timeout=True)
    assert manager.reap(timeout=-1) == 1 and len(manager) == 1

