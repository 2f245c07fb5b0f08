import json

import pytest

from hold.errors import InvalidArgument
from hold.images.config import (apply_changes, config_bytes, expand, host_architecture,
                                manifest_for, new_config, shell_words)


def test_cmd_and_entrypoint_exec_and_shell_forms():
    c = apply_changes({}, ['CMD ["sh", "-c", "echo hi"]', "ENTRYPOINT /bin/init --x"])
    assert c["Cmd"] == ["sh", "-c", "echo hi"]
    assert c["Entrypoint"] == ["/bin/sh", "-c", "/bin/init --x"]


def test_malformed_json_falls_back_to_shell_form_like_docker():
    assert apply_changes({}, ['CMD ["sh"'])["Cmd"] == ["/bin/sh", "-c", '["sh"']


def test_env_forms_quotes_and_expansion():
    c = apply_changes({}, ['ENV A=1 B="two words" C=\'$A lit\'',
                           "ENV PATH=/bin:$A", "ENV LEGACY some value",
                           "ENV D=${A:-x}${NOPE:-def}${A:+alt}"])
    env = dict(e.split("=", 1) for e in c["Env"])
    assert env == {"A": "1", "B": "two words", "C": "$A lit", "PATH": "/bin:1",
                   "LEGACY": "some value", "D": "1defalt"}


def test_env_override_keeps_order():
    c = apply_changes({"Env": ["A=1", "B=2"]}, ["ENV A=3"])
    assert c["Env"] == ["A=3", "B=2"]


def test_workdir_user_expose_label_volume_stopsignal():
    c = apply_changes({}, ["WORKDIR /srv", "WORKDIR www", "USER nobody:nogroup",
                           "EXPOSE 80 53/udp 8000-8001", 'LABEL a=b "c d"=e',
                           'VOLUME ["/data", "/logs"]', "VOLUME /x /y",
                           "STOPSIGNAL SIGINT", "workdir ../other"])
    assert c["WorkingDir"] == "/srv/other"
    assert c["User"] == "nobody:nogroup"
    assert c["ExposedPorts"] == {"80/tcp": {}, "53/udp": {}, "8000/tcp": {}, "8001/tcp": {}}
    assert c["Labels"] == {"a": "b", "c d": "e"}
    assert c["Volumes"] == {"/data": {}, "/logs": {}, "/x": {}, "/y": {}}
    assert c["StopSignal"] == "SIGINT"


def test_changes_do_not_touch_the_input():
    base = {"Env": ["A=1"]}
    apply_changes(base, ["ENV B=2"])
    assert base == {"Env": ["A=1"]}


@pytest.mark.parametrize("change, needle", [
    ("FROM busybox", "FROM is not a valid change command"),
    ("RUN true", "RUN is not a valid change command"),
    ("", "is not a valid change command"),
    ("CMD", "requires at least one argument"),
    ("EXPOSE 80/xyz", "invalid port"),
    ("EXPOSE 70000", "invalid port range"),
    ("STOPSIGNAL SIGNOPE", "invalid signal"),
    ("ENV =x", "not KEY=VALUE"),
    ("LABEL a=1 b", "not KEY=VALUE"),
    ('ENV A="unterminated', "unmatched double quote"),
    ('VOLUME [""]', "empty string"),
])
def test_bad_changes_are_named(change, needle):
    with pytest.raises(InvalidArgument) as info:
        apply_changes({}, [change])
    assert needle in str(info.value)


def test_shell_words_and_expand():
    assert shell_words(r'a "b c" d\ e \'f\'') == ["a", "b c", "d e", "'f'"]
    assert expand(r"\$HOME ${X}", {"X": "1"}) == "$HOME 1"


def test_config_bytes_are_canonical_and_config_is_oci():
    cfg = new_config(["sha256:" + "0" * 64], {"Cmd": ["sh"]}, "2024-01-01T00:00:00Z",
                     [{"created": "2024-01-01T00:00:00Z"}], author="me", comment="c")
    data = config_bytes(cfg)
    assert data == config_bytes(json.loads(data))
    assert b" " not in data
    assert cfg["rootfs"] == {"type": "layers", "diff_ids": ["sha256:" + "0" * 64]}
    assert cfg["os"] == "linux" and cfg["architecture"] == host_architecture()
    m = manifest_for("sha256:" + "1" * 64, 10, [("sha256:" + "0" * 64, 2048)])
    assert m["schemaVersion"] == 2
    assert m["layers"][0]["mediaType"] == "application/vnd.oci.image.layer.v1.tar"


def test_architecture_mapping(monkeypatch):
    import platform
    monkeypatch.setattr(platform, "machine", lambda: "x86_64")
    assert host_architecture() == "amd64"
    monkeypatch.setattr(platform, "machine", lambda: "aarch64")
    assert host_architecture() == "arm64"
