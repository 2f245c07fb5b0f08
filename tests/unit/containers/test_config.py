"""Pure rules for turning `hold run` flags into a container config."""


import pytest

from hold.containers.config import (RunOptions, build_config, merge_env,
                                    parse_restart, parse_signal, read_env_files)
from hold.errors import InvalidArgument, Unsupported

IMAGE = {"Env": ["PATH=/bin", "A=image"], "Cmd": ["sh"], "WorkingDir": "/w",
         "User": "nobody", "Labels": {"from": "image"}}


def test_parse_restart():
    assert parse_restart("no") == ("no", 0)
    assert parse_restart("on-failure:3") == ("on-failure", 3)
    assert parse_restart("always") == ("always", 0)
    for bad in ("sometimes", "always:2", "on-failure:x"):
        with pytest.raises(InvalidArgument):
            parse_restart(bad)


def test_parse_signal():
    assert parse_signal("KILL") == parse_signal("SIGKILL") == parse_signal("9") == 9
    assert parse_signal("sigterm") == 15
    with pytest.raises(InvalidArgument):
        parse_signal("NOPE")


def test_merge_env_later_wins_in_place(monkeypatch):
    monkeypatch.setenv("FROM_HOST", "h")
    assert merge_env(["A=1", "B=2"], ["A=3", "FROM_HOST", "MISSING_HOST_VAR_X"]) == \
        ["A=3", "B=2", "FROM_HOST=h"]
    with pytest.raises(InvalidArgument):
        merge_env([], ["=x"])


def test_env_file(tmp_path):
    f = tmp_path / "env"
    f.write_text("# c\n\nX=1\nY=a=b\n")
    assert read_env_files([str(f)]) == ["X=1", "Y=a=b"]
    bad = tmp_path / "bad"
    bad.write_text("BAD KEY=1\n")
    with pytest.raises(InvalidArgument, match="whitespaces"):
        read_env_files([str(bad)])
    with pytest.raises(InvalidArgument):
        read_env_files([str(tmp_path / "missing")])


def test_build_config_merges_with_image():
    cfg = build_config(RunOptions(command=["echo", "hi"], env=["A=run"]), "sha256:x", "img", IMAGE)
    assert cfg["Config"]["Cmd"] == ["echo", "hi"]
    assert cfg["Config"]["Env"] == ["PATH=/bin", "A=run"]
    assert cfg["Config"]["WorkingDir"] == "/w" and cfg["Config"]["User"] == "nobody"
    assert cfg["HostConfig"]["Capabilities"][0].startswith("CAP_")


def test_entrypoint_override_drops_image_cmd():
    cfg = build_config(RunOptions(entrypoint="ls"), "sha256:x", "img", IMAGE)
    assert cfg["Config"]["Entrypoint"] == ["ls"] and cfg["Config"]["Cmd"] == []


def test_conflicts_and_unsupported():
    with pytest.raises(InvalidArgument, match="--rm"):
        build_config(RunOptions(auto_remove=True, restart="always"), "x", "img", IMAGE)
    with pytest.raises(Unsupported, match="hyperv"):
        build_config(RunOptions(isolation="hyperv"), "x", "img", IMAGE)
    with pytest.raises(InvalidArgument, match="no command"):
        build_config(RunOptions(), "x", "img", {})
