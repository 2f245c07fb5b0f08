"""Safety under churn (bounded): a w:majority writer while members are
killed (SIGKILL) or stopped (SIGTERM) and restarted, primaries included.
Afterwards every acknowledged write is on every member, the members hold
identical data, and no term had two primaries."""

from __future__ import annotations

import random
import threading
import time

import pymongo


def test_acknowledged_writes_survive_churn(replset):
    acknowledged: list[int] = []
    stop = threading.Event()

    def writer() -> None:
        with pymongo.MongoClient(replset.uri, serverSelectionTimeoutMS=30000) as client:
            coll = client.safety.c.with_options(
                write_concern=pymongo.WriteConcern(w="majority", wtimeout=15000))
            n = 0
            while not stop.is_set():
                try:
                    coll.insert_one({"_id": n})
                    acknowledged.append(n)
                except pymongo.errors.DuplicateKeyError:
                    pass  # an earlier attempt of n landed; its reply was lost
                except pymongo.errors.PyMongoError:
                    time.sleep(0.05)
                    continue
                n += 1

    rng = random.Random(2026)
    thread = threading.Thread(target=writer)
    thread.start()
    try:
        for cycle in range(4):
            time.sleep(1.0)
            victim = replset.primary_index() if cycle % 2 == 0 else rng.randrange(3)
            (replset.kill if rng.random() < 0.5 else replset.stop)(victim)
            time.sleep(rng.uniform(0.3, 1.5))
            replset.restart(victim)
        time.sleep(1.0)
    finally:
        stop.set()
        thread.join(90)
    assert len(acknowledged) > 100
    replset.wait_for_states(1, 2)
    deadline = time.monotonic() + 30
    while True:
        contents = []
        for index in range(3):
            try:
                with replset.direct(index) as client:
                    contents.append({doc["_id"] for doc in client.safety.c.find()})
            except pymongo.errors.PyMongoError:
                contents.append(set())
        if contents[0] == contents[1] == contents[2] or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert contents[0] == contents[1] == contents[2]
    assert set(acknowledged) <= contents[0]
    terms = [term for term, _ in replset.elections()]
    assert len(terms) == len(set(terms)) >= 3
