"""Network partitions: each member in its own network namespace, joined by
veth links that the tests cut (``holddb.repl.netns_testing``).

``test_isolated_primary_steps_down_and_rolls_back`` is the one partition
spelled out: the primary loses both links, steps down within the election
timeout, the majority side elects a new primary, the old side cannot
acknowledge a ``w: "majority"`` write, and on heal it rolls back what it
took with ``w: 1`` (saved under ``<dbpath>/rollback``).

``test_acknowledged_writes_survive_partitions`` is the long safety test
(bounded in time): three ``w: "majority"`` writers on distinct ``_id``
ranges and one ``w: 1`` updater while a seeded nemesis isolates the primary
or a secondary, cuts one pair (A sees B, B sees C, A does not see C), makes
members drop packets silently, pauses, kills and restarts members, and
heals.  Afterwards: every acknowledged write is on the final primary, no
two members were primary in the same term (from the members' logs), and all
three members hold identical data.  ``HOLDDB_PARTITION_SEED`` replays a
seed (each run prints its own), ``HOLDDB_PARTITION_SECONDS`` lengthens the
nemesis, ``HOLDDB_REPL_KEEP=1`` keeps the members' logs.
"""

from __future__ import annotations

import glob
import json
import os
import random
import shutil
import signal
import tempfile
import threading
import time

import bson
import pymongo
import pytest
from pymongo.errors import NotPrimaryError, PyMongoError, WriteConcernError

from holddb.repl.netns_testing import PartitionableReplicaSet, remove_stale_networks

# 3 s instead of mongod's 10: a minute then holds a dozen faults, most long
# enough for an election; heartbeats every 500 ms keep the views fresh
ELECTION_TIMEOUT_MS = 3000
SETTINGS = {"electionTimeoutMillis": ELECTION_TIMEOUT_MS, "heartbeatIntervalMillis": 500}
ELECTION_TIMEOUT = ELECTION_TIMEOUT_MS / 1000


@pytest.fixture
def partitioned():
    """Three initiated members in their own namespaces; teardown removes
    every process, namespace and link (and fails the test that leaks one)."""
    for name in remove_stale_networks():  # from a test process that crashed
        print(f"removed a stale namespace: {name}")
    workdir = tempfile.mkdtemp(prefix="holddb-partition-")
    members = PartitionableReplicaSet(workdir, settings=SETTINGS)
    try:
        members.start()
        members.initiate(timeout=60)
        yield members
    finally:
        members.close()
        leaks = members.leftovers()
        if os.environ.get("HOLDDB_REPL_KEEP"):
            print(f"member logs kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
        assert not leaks, f"the test left behind: {leaks}"




def _wait(predicate, timeout: float, what: str, interval: float = 0.05):
    """``predicate()``'s first value other than None or False."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value is not None and value is not False:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout}s")
        time.sleep(interval)


def _is_primary(members, index: int) -> bool | None:
    """What member ``index`` says (None: no answer)."""
    try:
        with members.direct(index, serverSelectionTimeoutMS=1000) as client:
            return bool(client.admin.command("hello").get("isWritablePrimary"))
    except PyMongoError:
        return None


def _contents(members, index: int, db: str) -> dict[str, list]:
    """Every collection of ``db`` on member ``index``, documents by _id."""
    with members.direct(index, serverSelectionTimeoutMS=5000) as client:
        database = client[db]
        return {name: sorted(database[name].find(), key=lambda doc: repr(doc["_id"]))
                for name in sorted(database.list_collection_names())}


def _converged(members, db: str, timeout: float = 60) -> list[dict]:
    """Members' contents once all three are equal (or the last reading)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            contents = [_contents(members, index, db) for index in range(3)]
        except PyMongoError:  # e.g. a member in ROLLBACK for a moment
            contents = []
        if contents and contents[0] == contents[1] == contents[2]:
            return contents
        if time.monotonic() > deadline:
            return contents
        time.sleep(0.2)


def test_isolated_primary_steps_down_and_rolls_back(partitioned):
    members = partitioned
    old = members.primary_index()
    with members.direct(old) as client:
        client.ps.c.with_options(write_concern=pymongo.WriteConcern(w="majority")).insert_many(
            [{"_id": i, "v": "kept"} for i in range(10)])
    members.isolate(old)  # both member links down; the test still reaches it
    cut_at = time.monotonic()
    with members.direct(old) as client:
        coll = client.ps.c
        # it does not know yet: it takes w:1 writes that only it will ever have
        coll.insert_many([{"_id": i, "v": "lost"} for i in range(10, 15)])
        coll.update_one({"_id": 0}, {"$set": {"v": "changed-and-lost"}})
        majority = coll.with_options(write_concern=pymongo.WriteConcern(w="majority",
                                                                        wtimeout=1500))
        with pytest.raises((WriteConcernError, NotPrimaryError)):
            majority.insert_one({"_id": 20, "v": "never acknowledged"})
    _wait(lambda: True if _is_primary(members, old) is False else None, ELECTION_TIMEOUT + 5,
          "the cut-off primary steps down")
    stepped_down = time.monotonic() - cut_at
    assert stepped_down < ELECTION_TIMEOUT + 2, stepped_down
    others = [i for i in range(3) if i != old]
    new = _wait(lambda: next((i for i in others if _is_primary(members, i) is True), None),
                4 * ELECTION_TIMEOUT + 10, "the majority side elects a primary")
    with members.direct(new) as client:
        client.ps.c.with_options(write_concern=pymongo.WriteConcern(
            w="majority", wtimeout=20000)).insert_one({"_id": 100, "v": "new primary"})
        with members.direct(old) as stale:  # the old side has none of it
            assert stale.ps.c.find_one({"_id": 100}) is None
    members.heal()
    states = members.wait_for_states(1, 2, timeout=60)
    assert states[old] == "SECONDARY"
    contents = _converged(members, "ps")
    assert len(contents) == 3 and contents[0] == contents[1] == contents[2], contents
    docs = {doc["_id"]: doc["v"] for doc in contents[old]["c"]}
    assert docs == {**{i: "kept" for i in range(10)}, 100: "new primary"}
    saved = []
    for path in glob.glob(f"{members.workdir}/db{old}/rollback/ps.c.*.bson"):
        with open(path, "rb") as handle:
            saved.extend(bson.decode_all(handle.read()))
    saved_ids = {doc["_id"] for doc in saved}
    assert {0, 10, 11, 12, 13, 14} <= saved_ids <= {0, 10, 11, 12, 13, 14, 20}, saved_ids
    assert [doc for doc in saved if doc["_id"] == 0][0]["v"] == "changed-and-lost"
    terms = [term for term, _ in members.elections()]
    assert len(terms) == len(set(terms)) >= 2


def _barrier(members, timeout: float = 90) -> None:
    """A w: 3 write: once every member has it, each has applied every entry
    before it.  Retried (with a new _id) while the set settles after the heal."""
    deadline = time.monotonic() + timeout
    attempt = 0
    with pymongo.MongoClient(members.uri, serverSelectionTimeoutMS=30000) as client:
        coll = client.safety.barrier.with_options(
            write_concern=pymongo.WriteConcern(w=3, wtimeout=30000))
        while True:
            attempt += 1
            try:
                coll.insert_one({"_id": f"end-{attempt}"})
                return
            except PyMongoError as exc:
                if time.monotonic() > deadline:
                    raise AssertionError(f"no w: 3 write within {timeout}s: {exc}\n"
                                         f"{_diagnose(members)}") from exc
                time.sleep(0.5)


def _diagnose(members) -> str:
    """Each member's process state and last log lines, for a failure message."""
    lines = []
    for index, process in enumerate(members.processes):
        proc = process.process
        state = "not started"
        if proc is not None:
            try:
                with open(f"/proc/{proc.pid}/stat", encoding="ascii") as handle:
                    state = handle.read().rsplit(")", 1)[1].split()[0]
                with open(f"/proc/{proc.pid}/wchan", encoding="ascii") as handle:
                    state += f" in {handle.read() or '-'}"
            except OSError:
                state = f"exited {proc.poll()}"
        events = []  # the last few, connections left out
        with open(f"{members.workdir}/member{index}.log", encoding="utf-8") as handle:
            for line in handle:
                if '"c":"NETWORK"' not in line:
                    events = (events + [line])[-4:]
        described = []
        for line in events:
            try:
                entry = json.loads(line)
            except ValueError:  # a line being written
                continue
            described.append(f"{entry['t']['$date'][11:23]} {entry['msg']} "
                             f"{entry.get('attr', '')}"[:300])
        lines.append(f"member {index}: pid {proc.pid if proc else '-'} {state}; "
                     f"last logged: {'; '.join(described)}")
    return "\n".join(lines)


class _Writers:
    """Three w:"majority" inserters on distinct _id ranges and one w:1
    updater, each with its own replica-set client, until ``stop()``."""

    def __init__(self, members, seed: int) -> None:
        self.members = members
        self.seed = seed
        self.acknowledged: list[int] = []
        self.failures = 0
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._insert, args=(k,), daemon=True)
                         for k in range(3)]
        self._threads.append(threading.Thread(target=self._update, daemon=True))

    def _client(self) -> pymongo.MongoClient:
        return pymongo.MongoClient(self.members.uri, serverSelectionTimeoutMS=5000,
                                   connectTimeoutMS=3000, socketTimeoutMS=10000)

    def _insert(self, writer: int) -> None:
        with self._client() as client:
            coll = client.safety.acked.with_options(
                write_concern=pymongo.WriteConcern(w="majority", wtimeout=6000))
            n = 0
            while not self._stop.is_set():
                doc_id = writer * 1_000_000 + n
                try:
                    coll.insert_one({"_id": doc_id, "writer": writer})
                    self.acknowledged.append(doc_id)
                except PyMongoError:  # not acknowledged: may or may not be kept
                    self.failures += 1
                    time.sleep(0.05)
                n += 1  # a failed attempt may have landed: never reuse its _id

    def _update(self) -> None:
        rng = random.Random(self.seed)
        with self._client() as client:
            coll = client.safety.churn  # w:1: what a cut-off primary takes and rolls back
            while not self._stop.is_set():
                key = rng.randrange(20)
                try:
                    if rng.random() < 0.1:
                        coll.delete_one({"_id": key})
                    else:
                        coll.update_one({"_id": key}, {"$inc": {"n": 1}}, upsert=True)
                except PyMongoError:
                    time.sleep(0.05)
                time.sleep(0.01)

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(60)
        assert not any(thread.is_alive() for thread in self._threads), "a writer hung"


class _Nemesis:
    """Seeded faults, one step at a time, each held for a random fraction of
    a few election timeouts; some steps pile a second fault on the first
    before everything heals.  ``history`` says what happened when."""

    FAULTS = ("isolate_primary", "isolate_primary", "isolate_secondary", "bridge",
              "silence_primary", "one_way", "isolate_fully", "kill", "kill_primary", "pause")

    def __init__(self, members, rng: random.Random) -> None:
        self.members = members
        self.rng = rng
        self.started = time.monotonic()
        self.history: list[str] = []
        self.down: set[int] = set()
        self.paused: set[int] = set()

    def _note(self, what: str) -> None:
        self.history.append(f"{time.monotonic() - self.started:6.1f}s {what}")

    def _primary(self, wait: float) -> int | None:
        """The primary, waiting up to ``wait`` seconds for one (after a heal
        the set may be electing)."""
        deadline = time.monotonic() + wait
        while True:
            states = self.members.states()
            primary = next((i for i, s in states.items() if s == "PRIMARY"), None)
            if primary is not None or time.monotonic() > deadline:
                return primary
            time.sleep(0.1)

    def step(self, fault: str | None = None) -> None:
        fault = fault or self.rng.choice(self.FAULTS)
        primary = self._primary(2 * ELECTION_TIMEOUT if "primary" in fault else 0)
        target = primary if primary is not None and "primary" in fault \
            else self.rng.randrange(3)
        others = [i for i in range(3) if i != target]
        if fault in ("isolate_primary", "isolate_secondary"):
            if fault == "isolate_secondary" and primary is not None and target == primary:
                target = self.rng.choice(others)
            self.members.isolate(target)
        elif fault == "bridge":
            self.members.cut(target, self.rng.choice(others))
        elif fault == "silence_primary":  # its packets and theirs vanish: timeouts, no errors
            for other in others:
                self.members.drop(target, other)
                self.members.drop(other, target)
        elif fault == "one_way":
            self.members.drop(target, self.rng.choice(others))
        elif fault == "isolate_fully":  # not even the test's clients reach it
            self.members.isolate(target, client=True)
        elif fault in ("kill", "kill_primary") and target not in self.down | self.paused:
            self.members.kill(target)
            self.down.add(target)
        elif fault == "pause" and target not in self.down | self.paused:
            os.kill(self.members.processes[target].process.pid, signal.SIGSTOP)
            self.paused.add(target)
        self._note(f"{fault} {target} (primary was {primary}): {self.members.describe()}"
                   f"{f', down {sorted(self.down)}' if self.down else ''}"
                   f"{f', paused {sorted(self.paused)}' if self.paused else ''}")

    def heal(self) -> None:
        self.members.heal()
        for index in sorted(self.paused):
            os.kill(self.members.processes[index].process.pid, signal.SIGCONT)
        for index in sorted(self.down):
            self.members.restart(index)
        self.paused.clear()
        self.down.clear()
        self._note("healed")

    def run(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        first = True
        while time.monotonic() < deadline:
            # The first fault always cuts the primary off, long enough for the
            # others to elect: every run then has more than one term, which
            # the one-primary-per-term check needs (a seed could otherwise
            # only ever hit secondaries).
            self.step("isolate_primary" if first else None)
            low = 2.0 if first else 0.5
            first = False
            time.sleep(self.rng.uniform(low, 3.0) * ELECTION_TIMEOUT)
            if self.rng.random() < 0.3:
                self.step()  # a second fault on top of the first
                time.sleep(self.rng.uniform(0.3, 1.5) * ELECTION_TIMEOUT)
            self.heal()
            time.sleep(self.rng.uniform(0.5, 2.0) * ELECTION_TIMEOUT)


def test_acknowledged_writes_survive_partitions(partitioned):
    members = partitioned
    seed = int(os.environ.get("HOLDDB_PARTITION_SEED") or random.SystemRandom().randrange(2**32))
    seconds = float(os.environ.get("HOLDDB_PARTITION_SECONDS") or 45)
    print(f"HOLDDB_PARTITION_SEED={seed}")
    rng = random.Random(seed)
    writers = _Writers(members, seed)
    nemesis = _Nemesis(members, rng)
    writers.start()
    try:
        nemesis.run(seconds)
    finally:
        try:
            nemesis.heal()
        finally:
            writers.stop()
    story = f"seed {seed}:\n" + "\n".join(nemesis.history)
    print(story)
    assert len(writers.acknowledged) > 50, story
    try:
        members.wait_for_states(1, 2, timeout=90)
    except TimeoutError as exc:
        raise AssertionError(f"{exc}\n{_diagnose(members)}\n{story}") from exc
    _barrier(members)
    primary = members.primary_index()
    contents = _converged(members, "safety")
    assert len(contents) == 3, story
    for index in (0, 1, 2):
        assert contents[index] == contents[primary], \
            f"member {index} differs from the primary {primary}; {story}"
    kept = {doc["_id"] for doc in contents[primary]["acked"]}
    lost = sorted(set(writers.acknowledged) - kept)
    assert not lost, f"acknowledged w:majority writes lost: {lost[:20]}; {story}"
    won = members.elections()
    terms = [term for term, _ in won]
    assert len(terms) == len(set(terms)), f"two primaries in one term: {won}; {story}"
    assert len(terms) >= 2, story
    print(f"{len(writers.acknowledged)} acknowledged writes, {writers.failures} failed "
          f"attempts, elections {won}")
