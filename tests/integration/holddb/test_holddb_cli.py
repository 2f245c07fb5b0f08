"""The holddb / mongod command line: flags, YAML config, logs, signals."""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile

import pymongo
import pytest

from holddb.testing import HolddbProcess, free_port


@pytest.fixture
def workdir():
    path = tempfile.mkdtemp(prefix="holddb-cli-")
    yield path
    shutil.rmtree(path, ignore_errors=True)


def run(*args):
    return subprocess.run([sys.executable, "-m", "holddb.main", *args], capture_output=True,
                          text=True, timeout=30)


def test_version():
    done = run("--version")
    assert done.returncode == 0 and done.stdout.startswith("db version v7.0")


@pytest.mark.parametrize("args", [["--bogus"], ["--port", "notanumber"], ["--port", "70000"]])
def test_bad_flags_exit_2_with_one_line(args):
    done = run(*args)
    assert done.returncode == 2
    assert done.stderr.splitlines()[0].startswith("Error parsing command line")


def test_bad_config_file(workdir):
    path = os.path.join(workdir, "bad.yaml")
    with open(path, "w") as handle:
        handle.write("net:\n  prot: 1\n")
    done = run("--config", path)
    assert done.returncode == 2 and "net.prot" in done.stderr


def test_yaml_config_sigterm_and_json_log(workdir):
    port = free_port()
    config = os.path.join(workdir, "mongod.conf")
    log = os.path.join(workdir, "mongod.log")
    with open(config, "w") as handle:
        handle.write(f"net:\n  port: {port}\n  bindIp: 127.0.0.1\nstorage:\n  dbPath: {workdir}/db\n"
                     f"systemLog:\n  destination: file\n  path: {log}\n  logAppend: true\n")
    server = HolddbProcess(f"{workdir}/db", port=port, logpath=log)
    proc = subprocess.Popen([sys.executable, "-m", "holddb.main", "--config", config],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    server.process = proc
    try:
        with pymongo.MongoClient(f"mongodb://127.0.0.1:{port}/",
                                 serverSelectionTimeoutMS=10000) as client:
            opts = client.admin.command("getCmdLineOpts")
            assert opts["parsed"]["config"] == config
            client.x.y.insert_one({})
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
    finally:
        server.kill()
    with open(log) as handle:
        lines = [json.loads(line) for line in handle]
    assert {"t", "s", "c", "id", "ctx", "msg"} <= set(lines[0])
    messages = [line["msg"] for line in lines]
    assert "Waiting for connections" in messages and messages[-1] == "Now exiting"


def test_port_in_use_fails(workdir):
    with HolddbProcess(f"{workdir}/a", logpath=f"{workdir}/a.log") as first:
        done = run("--port", str(first.port), "--bind_ip", "127.0.0.1",
                   "--dbpath", f"{workdir}/b", "--logpath", f"{workdir}/b.log")
        assert done.returncode == 48


def test_repl_set_flag_answers_as_uninitialised_member(workdir):
    with HolddbProcess(f"{workdir}/db", extra_args=["--replSet", "rs0"],
                       logpath=f"{workdir}/log") as server:
        with pymongo.MongoClient(server.uri, directConnection=True) as client:
            hello = client.admin.command("hello")
            assert hello["isWritablePrimary"] is False and hello["isreplicaset"] is True
            assert client.admin.command("getCmdLineOpts")["parsed"]["replication"] == {
                "replSet": "rs0"}


def test_shutdown_command_stops_the_server(workdir):
    server = HolddbProcess(f"{workdir}/db", logpath=f"{workdir}/log").start()
    try:
        with pymongo.MongoClient(server.uri, serverSelectionTimeoutMS=2000) as client:
            with pytest.raises(pymongo.errors.AutoReconnect):
                client.admin.command("shutdown")  # mongod hangs up instead of replying
        assert server.process.wait(15) == 0
    finally:
        server.kill()


def test_second_server_on_same_dbpath_is_refused(workdir):
    with HolddbProcess(f"{workdir}/db", logpath=f"{workdir}/a.log"):
        done = run("--port", str(free_port()), "--bind_ip", "127.0.0.1",
                   "--dbpath", f"{workdir}/db", "--logpath", f"{workdir}/b.log")
        assert done.returncode == 100
        with open(f"{workdir}/b.log") as log:
            assert "DBPathInUse" in log.read()
