"""Bad input: a clear message, a non-zero exit code, and nothing changed."""


def names(bb):
    return bb.ok("ps", "-a", "--format", "{{.Names}}").split()


def test_unknown_image(bb):
    r = bb("run", "--rm", "nope:latest", "true")
    assert r.returncode == 125 and "nope" in r.stderr
    assert names(bb) == []


def test_duplicate_name(bb):
    bb.ok("create", "--name", "dup", "bb", "true")
    r = bb("create", "--name", "dup", "bb", "true")
    assert r.returncode == 1       # Docker: create exits 1, run 125
    assert 'Conflict. The container name "/dup" is already in use' in r.stderr
    assert names(bb) == ["dup"]


def test_invalid_name(bb):
    r = bb("run", "--name", "bad name!", "bb", "true")
    assert r.returncode == 125 and "Invalid container name" in r.stderr
    assert names(bb) == []


def test_exec_into_stopped_container(bb):
    bb.ok("create", "--name", "stopped", "bb", "sleep", "1")
    r = bb("exec", "stopped", "true")
    assert r.returncode != 0 and "is not running" in r.stderr


def test_unknown_container(bb):
    for cmd in (["start", "ghost"], ["stop", "ghost"], ["logs", "ghost"],
                ["exec", "ghost", "true"], ["diff", "ghost"], ["rm", "ghost"]):
        r = bb(*cmd)
        assert r.returncode != 0 and "No such container: ghost" in r.stderr, cmd


def test_malformed_flags(bb):
    for args, needle in ((["run", "--restart", "sometimes", "bb", "true"], "restart policy"),
                         (["run", "--memory", "lots", "bb", "true"], "memory"),
                         (["run", "--cap-add", "NOT_A_CAP", "bb", "true"], "capabilit"),
                         (["run", "--security-opt", "bogus=1", "bb", "true"], "security"),
                         (["run", "--rm", "--restart", "always", "bb", "true"], "--rm"),
                         (["run", "--bogus-flag", "bb"], "unknown flag"),
                         (["kill", "-s", "NOPE", "x"], "signal"),
                         (["logs", "--tail", "many", "x"], "tail")):
        r = bb(*args)
        assert r.returncode != 0, args
        assert needle.lower() in r.stderr.lower(), (args, r.stderr)
    assert names(bb) == []


def test_no_command(hold, busybox_tar):
    hold.ok("import", busybox_tar, "nocmd:latest")
    r = hold("run", "nocmd")
    assert r.returncode == 125 and "no command specified" in r.stderr


def test_unknown_command(hold):
    r = hold("frobnicate")
    assert r.returncode != 0 and "is not a hold command" in r.stderr
