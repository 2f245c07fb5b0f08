"""Variable substitution, .dockerignore rules and metadata instructions."""

import pytest

from hold.build import _metadata
from hold.build.context import IgnoreRules
from hold.build.dockerfile import parse
from hold.build.words import expand_word, expand_words
from hold.errors import InvalidArgument

ENV = {"A": "x y", "EMPTY": "", "P": "/srv"}


@pytest.mark.parametrize("text, expected", [
    ("$A", "x y"), ("${A}", "x y"), ("${P}/www", "/srv/www"),
    ("${UNSET:-dflt}", "dflt"), ("${EMPTY:-dflt}", "dflt"), ("${EMPTY-dflt}", ""),
    ("${UNSET-dflt}", "dflt"), ("${A:+alt}", "alt"), ("${EMPTY:+alt}", ""),
    ("${EMPTY+alt}", "alt"), ("${UNSET:+alt}", ""), ("${UNSET:-$P}", "/srv"),
    ("\\$A", "$A"), ("'$A'", "$A"), ('"$A"', "x y"), ("$", "$"), ("a$1", "a$1"),
    ('"a\\"b"', 'a"b'), ('"a\\nb"', "a\\nb"),
])
def test_expand_word(text, expected):
    assert expand_word(text, ENV) == expected


def test_expand_words_splits_unquoted_values_only():
    assert expand_words('a $A "$A" \'b c\'', ENV) == ["a", "x", "y", "x y", "b c"]


def test_backtick_escape():
    assert expand_word("c:\\dir `$A", ENV, escape="`") == "c:\\dir $A"


@pytest.mark.parametrize("text", ["${UNSET:?must be set}", "${EMPTY:?}", "${A%%x}",
                                  "'open", '"open', "${A"])
def test_bad_substitutions(text):
    with pytest.raises(InvalidArgument):
        expand_word(text, ENV)


def test_dockerignore_rules():
    rules = IgnoreRules(["# comment", "*.log", "build/", "**/secret*", "!keep.log",
                         "/docs/*.md", "[a-c].txt"])
    assert rules.excluded("x.log")
    assert not rules.excluded("keep.log")
    assert not rules.excluded("sub/x.log")          # * does not cross /
    assert rules.excluded("build/out/file")         # a directory excludes its contents
    assert rules.excluded("a/b/secret.key") and rules.excluded("secret")
    assert rules.excluded("docs/readme.md") and not rules.excluded("docs/sub/x.md")
    assert rules.excluded("b.txt") and not rules.excluded("d.txt")
    assert not rules.excluded("src/main.py")


def _apply(line, config=None, env=None):
    ins = parse("FROM scratch\n" + line + "\n").stages[0].instructions[0]
    config = config if config is not None else {}
    text = _metadata.apply(ins, config, dict(env or {}), "\\")
    return text, config


def test_metadata_history_texts_and_config():
    assert _apply("WORKDIR /srv/www") == ("WORKDIR /srv/www", {"WorkingDir": "/srv/www"})
    assert _apply("WORKDIR b", {"WorkingDir": "/a"})[1]["WorkingDir"] == "/a/b"
    # one ENV line expands with the values from before it (Docker's rule)
    text, config = _apply('ENV A=1 B="two words" C=$A', {"Env": ["A=0"]}, {"A": "0"})
    assert text == " ENV A=1 B=two words C=0"
    assert config["Env"] == ["A=1", "B=two words", "C=0"]
    assert _apply("ENV LEGACY a value")[1]["Env"] == ["LEGACY=a value"]
    text, config = _apply('CMD ["nginx", "-g", "daemon off;"]')
    assert text == ' CMD ["nginx" "-g" "daemon off;"]'
    assert _apply("CMD echo hi")[1]["Cmd"] == ["/bin/sh", "-c", "echo hi"]
    assert _apply("EXPOSE 80 53/udp")[1]["ExposedPorts"] == {"80/tcp": {}, "53/udp": {}}
    assert _apply('VOLUME ["/data"]') == (" VOLUME [/data]", {"Volumes": {"/data": {}}})
    assert _apply("USER $U", env={"U": "nobody"})[1] == {"User": "nobody"}
    assert _apply("LABEL a=b")[0] == " LABEL a=b"
    assert _apply("STOPSIGNAL SIGQUIT")[1] == {"StopSignal": "SIGQUIT"}
    assert _apply('SHELL ["/bin/bash", "-c"]')[1] == {"Shell": ["/bin/bash", "-c"]}
    assert _apply("ONBUILD run echo hi")[1] == {"OnBuild": ["RUN echo hi"]}


def test_entrypoint_resets_inherited_cmd_only():
    assert _apply('ENTRYPOINT ["x"]', {"Cmd": ["sh"]})[1]["Cmd"] is None
    assert _apply('ENTRYPOINT ["x"]', {"Cmd": ["sh"], "_cmd_set": True})[1]["Cmd"] == ["sh"]


def test_healthcheck_stored():
    _, config = _apply("HEALTHCHECK --interval=5s --retries=3 CMD curl -f http://x/")
    assert config["Healthcheck"] == {"Test": ["CMD-SHELL", "curl -f http://x/"],
                                     "Interval": 5_000_000_000, "Retries": 3}
    assert _apply("HEALTHCHECK NONE")[1] == {"Healthcheck": {"Test": ["NONE"]}}


@pytest.mark.parametrize("line, message", [
    ("EXPOSE 99999", "invalid port"), ("STOPSIGNAL SIGNOPE", "invalid signal"),
    ("VOLUME [\"/a\", 1]", "malformed"),
])
def test_metadata_errors_name_the_line(line, message):
    with pytest.raises(InvalidArgument, match=message) as info:
        _apply(line)
    assert "line 2" in str(info.value)
