"""holddb benchmark: the same document workload on holddb (through pymongo),
on raw SQLite (our storage floor) and on PostgreSQL JSONB (what a user might
pick instead), in one run, printing each system's time and the ratios.

Workload (sizes set by --n): single-document inserts, each acknowledged
and durable; one bulk insert; finds by an indexed field; single-document
updates by an indexed field.  Every system commits durably (SQLite
synchronous=FULL in WAL mode, PostgreSQL fsync+synchronous_commit on,
holddb j:true).

PostgreSQL is started by this script on a loopback port in a temporary
cluster (initdb from Debian's ``postgresql`` package, run as the
``postgres`` user) when the package and a Python driver (psycopg2 or
psycopg 3) are present; otherwise that column is skipped with a note.

    python3 bench/holddb_bench.py [--n 2000] [--bulk 20000]
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from typing import Any, Callable

import pymongo

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "src"))
from holddb.testing import HolddbProcess, free_port  # noqa: E402


def doc(i: int) -> dict:
    return {"k": i, "name": f"user{i}", "tags": ["a", "b", str(i % 10)],
            "profile": {"age": i % 90, "city": "Paris" if i % 2 else "Oslo"}}


def timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


class Holddb:
    name = "holddb"

    def __init__(self, workdir: str) -> None:
        self.server = HolddbProcess(f"{workdir}/holddb", logpath=f"{workdir}/holddb.log",
                                    extra_args=["--quiet"]).start()
        self.client = pymongo.MongoClient(self.server.uri, w=1, journal=True)
        self.coll = self.client.bench.docs
        self.coll.drop()
        self.coll.create_index("k")

    def single_inserts(self, n: int) -> None:
        for i in range(n):
            self.coll.insert_one(doc(i))

    def bulk_insert(self, start: int, count: int) -> None:
        self.coll.insert_many([doc(i) for i in range(start, start + count)])

    def finds(self, keys: list[int]) -> None:
        for k in keys:
            assert self.coll.find_one({"k": k}) is not None

    def updates(self, keys: list[int]) -> None:
        for k in keys:
            self.coll.update_one({"k": k}, {"$inc": {"profile.age": 1}})

    def close(self) -> None:
        self.client.close()
        self.server.stop()


class RawSqlite:
    """JSON text in one table with an expression index: the floor under holddb."""

    name = "sqlite"

    def __init__(self, workdir: str) -> None:
        self.conn = sqlite3.connect(f"{workdir}/raw.sqlite", isolation_level=None)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=FULL")
        self.conn.execute("CREATE TABLE docs (id INTEGER PRIMARY KEY, body TEXT NOT NULL)")
        self.conn.execute("CREATE INDEX docs_k ON docs (json_extract(body, '$.k'))")

    def single_inserts(self, n: int) -> None:
        for i in range(n):
            self.conn.execute("INSERT INTO docs (body) VALUES (?)", (json.dumps(doc(i)),))

    def bulk_insert(self, start: int, count: int) -> None:
        self.conn.execute("BEGIN")
        self.conn.executemany("INSERT INTO docs (body) VALUES (?)",
                              [(json.dumps(doc(i)),) for i in range(start, start + count)])
        self.conn.execute("COMMIT")

    def finds(self, keys: list[int]) -> None:
        for k in keys:
            row = self.conn.execute("SELECT body FROM docs WHERE json_extract(body, '$.k') = ?"
                                    " LIMIT 1", (k,)).fetchone()
            assert json.loads(row[0])["k"] == k

    def updates(self, keys: list[int]) -> None:
        for k in keys:
            self.conn.execute(
                "UPDATE docs SET body = json_set(body, '$.profile.age', "
                "json_extract(body, '$.profile.age') + 1) WHERE rowid = (SELECT rowid FROM docs "
                "WHERE json_extract(body, '$.k') = ? LIMIT 1)", (k,))

    def close(self) -> None:
        self.conn.close()


class Postgres:
    """A throw-away PostgreSQL cluster on 127.0.0.1, JSONB with an expression index."""

    name = "postgres"

    def __init__(self, workdir: str) -> None:
        driver = _pg_driver()
        bindir = _pg_bindir()
        if driver is None or bindir is None:
            raise RuntimeError("needs Debian's postgresql package and psycopg2 or psycopg")
        self.datadir = f"{workdir}/pg"
        os.makedirs(self.datadir)
        shutil.chown(self.datadir, "postgres")
        os.chmod(workdir, 0o755)
        self.port = free_port()
        as_pg = ["runuser", "-u", "postgres", "--"]
        subprocess.run(as_pg + [f"{bindir}/initdb", "-D", self.datadir, "--auth=trust", "-U",
                                "postgres"], check=True, capture_output=True)
        self._pg_ctl = as_pg + [f"{bindir}/pg_ctl", "-D", self.datadir, "-w", "-l",
                                f"{self.datadir}/log"]
        subprocess.run(self._pg_ctl + ["-o", f"-p {self.port} -k {self.datadir} "
                                       "-c listen_addresses=127.0.0.1", "start"],
                       check=True, capture_output=True)
        self.conn = driver.connect(host="127.0.0.1", port=self.port, user="postgres",
                                   dbname="postgres")
        self.conn.autocommit = True
        cur = self.conn.cursor()
        cur.execute("CREATE TABLE docs (id BIGSERIAL PRIMARY KEY, body JSONB NOT NULL)")
        cur.execute("CREATE INDEX docs_k ON docs (((body->>'k')::bigint))")

    def single_inserts(self, n: int) -> None:
        cur = self.conn.cursor()
        for i in range(n):
            cur.execute("INSERT INTO docs (body) VALUES (%s::jsonb)", (json.dumps(doc(i)),))

    def bulk_insert(self, start: int, count: int) -> None:
        self.conn.autocommit = False
        cur = self.conn.cursor()
        cur.executemany("INSERT INTO docs (body) VALUES (%s::jsonb)",
                        [(json.dumps(doc(i)),) for i in range(start, start + count)])
        self.conn.commit()
        self.conn.autocommit = True

    def finds(self, keys: list[int]) -> None:
        cur = self.conn.cursor()
        for k in keys:
            cur.execute("SELECT body FROM docs WHERE (body->>'k')::bigint = %s LIMIT 1", (k,))
            assert cur.fetchone() is not None

    def updates(self, keys: list[int]) -> None:
        cur = self.conn.cursor()
        for k in keys:
            cur.execute("UPDATE docs SET body = jsonb_set(body, '{profile,age}', "
                        "to_jsonb((body->'profile'->>'age')::int + 1)) WHERE id = (SELECT id "
                        "FROM docs WHERE (body->>'k')::bigint = %s LIMIT 1)", (k,))

    def close(self) -> None:
        self.conn.close()
        subprocess.run(self._pg_ctl + ["-m", "fast", "stop"], capture_output=True)


def _pg_driver() -> Any:
    for name in ("psycopg2", "psycopg"):
        try:
            return __import__(name)
        except ImportError:
            continue
    return None


def _pg_bindir() -> str | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return os.path.dirname(found[-1]) if found else None


def run_system(system_cls: type, workdir: str, n: int, bulk: int) -> dict[str, float]:
    system = system_cls(workdir)
    keys = random.Random(1).sample(range(n), min(n, 1000))
    try:
        return {
            f"insert_one x{n}": timed(lambda: system.single_inserts(n)),
            f"bulk insert {bulk}": timed(lambda: system.bulk_insert(n, bulk)),
            f"indexed find x{len(keys)}": timed(lambda: system.finds(keys)),
            f"indexed update x{len(keys)}": timed(lambda: system.updates(keys)),
        }
    finally:
        system.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="single inserts (default 2000)")
    parser.add_argument("--bulk", type=int, default=20000, help="bulk insert size")
    args = parser.parse_args()
    results: dict[str, dict[str, float]] = {}
    for system_cls in (Holddb, RawSqlite, Postgres):
        workdir = tempfile.mkdtemp(prefix=f"holddb-bench-{system_cls.name}-")
        try:
            results[system_cls.name] = run_system(system_cls, workdir, args.n, args.bulk)
        except Exception as exc:  # one missing system must not hide the others
            print(f"# {system_cls.name}: skipped ({exc})")
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
    names = list(results)
    ops = list(results[names[0]])
    header = f"{'operation':<22}" + "".join(f"{n + ' s':>12}" for n in names)
    others = [n for n in names if n != "holddb"]
    header += "".join(f"{'holddb/' + n:>18}" for n in others)
    print(header)
    for op in ops:
        line = f"{op:<22}" + "".join(f"{results[n][op]:>12.3f}" for n in names)
        line += "".join(f"{results['holddb'][op] / results[n][op]:>17.1f}x" for n in others)
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
