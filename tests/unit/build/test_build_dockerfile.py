"""The Dockerfile parser: pure, no engine."""

import pytest

from hold.build.dockerfile import DockerfileError, parse


def one(text):
    return parse("FROM scratch\n" + text).stages[0].instructions[0]


def test_chapter_dockerfile():
    df = parse("FROM nginx\nRUN rm -rf /srv/www/*\nWORKDIR /srv/www\nCOPY index.html .\n")
    stage = df.stages[0]
    assert stage.base == "nginx" and stage.name == ""
    assert [(i.keyword, i.args, i.line) for i in stage.instructions] == [
        ("RUN", "rm -rf /srv/www/*", 2), ("WORKDIR", "/srv/www", 3),
        ("COPY", "index.html .", 4)]


def test_keywords_are_case_insensitive_and_original_kept():
    ins = one("run echo hi")
    assert ins.keyword == "RUN" and ins.original == "run echo hi"


def test_continuations_join_and_skip_comments_and_blanks():
    ins = one("RUN echo a \\\n  # a comment\n\n  && echo b\n")
    assert ins.args == "echo a   && echo b"
    assert ins.line == 2


def test_escape_directive_backtick():
    df = parse("# escape=`\nFROM scratch\nRUN echo a `\n b\nCOPY c:\\x /y\n")
    assert df.escape == "`"
    assert df.stages[0].instructions[0].args == "echo a  b"
    assert df.stages[0].instructions[1].args == "c:\\x /y"


def test_syntax_directive_recorded_and_directives_stop_after_comment():
    df = parse("# syntax=docker/dockerfile:1\n# hello\n# escape=`\nFROM scratch\n")
    assert df.directives == {"syntax": "docker/dockerfile:1"}
    assert df.escape == "\\"


def test_invalid_escape_directive():
    with pytest.raises(DockerfileError, match="invalid escape token"):
        parse("# escape=x\nFROM scratch\n")


def test_exec_and_shell_forms():
    assert one('RUN ["echo", "a b"]').json == ["echo", "a b"]
    assert one("RUN [not json").json is None
    assert one('CMD ["sh"]').json == ["sh"]


def test_unknown_instruction_names_line_and_instruction():
    with pytest.raises(DockerfileError) as info:
        parse("FROM scratch\n\nFROBNICATE x\n")
    assert "line 3" in str(info.value) and "FROBNICATE" in str(info.value)


def test_instruction_before_from():
    with pytest.raises(DockerfileError, match="line 1.*no build stage"):
        parse("RUN true\nFROM scratch\n")


def test_empty_dockerfile():
    with pytest.raises(DockerfileError, match="no FROM"):
        parse("# just a comment\n\n")


def test_meta_args_and_stages():
    df = parse("ARG BASE=busybox\nFROM $BASE AS Build\nRUN x\nFROM scratch\n"
               "COPY --from=build /a /b\n")
    assert [a.args for a in df.meta_args] == ["BASE=busybox"]
    assert df.stages[0].name == "build"
    assert df.stage_index("BUILD") == 0 and df.stage_index("1") == 1
    assert df.stage_index("nope") is None
    assert df.stages[1].instructions[0].flags == {"from": "build"}


def test_duplicate_stage_name():
    with pytest.raises(DockerfileError, match="duplicate name"):
        parse("FROM scratch AS a\nFROM scratch AS a\n")


def test_from_arity():
    with pytest.raises(DockerfileError, match="one or three arguments"):
        parse("FROM a b\n")


def test_from_platform_flag():
    df = parse("FROM --platform=linux/amd64 scratch\n")
    assert df.stages[0].platform == "linux/amd64"


@pytest.mark.parametrize("text, message", [
    ("COPY onlyone", "at least two arguments"),
    ("ADD x", "at least two arguments"),
    ("COPY --bogus=1 a b", "unknown flag: --bogus"),
    ("COPY --chown a b", "needs a value"),
    ("RUN --mount=type=cache,target=/x true", "BuildKit"),
    ("COPY --parents a/b /c/", "BuildKit extension"),
    ("RUN <<EOF", "here-documents"),
    ("ADD --checksum=sha256:00 a /b", "BuildKit extension"),
    ("SHELL /bin/bash -c", "JSON form"),
    ("ARG 1abc", "invalid ARG name"),
    ("ENV ONLYKEY", "has no value"),
    ("LABEL key", "has no value"),
    ("ENV a=1 b", "not KEY=VALUE"),
    ("ONBUILD ONBUILD RUN x", "isn't allowed"),
    ("ONBUILD FROM x", "isn't allowed"),
    ("HEALTHCHECK --interval=abc CMD true", "invalid duration"),
    ("HEALTHCHECK --retries=0 CMD true", "at least 1"),
    ("HEALTHCHECK true", "expected HEALTHCHECK"),
    ("HEALTHCHECK NONE extra", "takes no other"),
    ("WORKDIR", "requires at least one argument"),
    ("RUN", "requires at least one argument"),
])
def test_malformed_lines_are_errors_naming_the_line(text, message):
    with pytest.raises(DockerfileError, match=message) as info:
        parse("FROM scratch\n" + text + "\n")
    assert "line 2" in str(info.value)


def test_every_instruction_parses():
    df = parse("""FROM scratch
RUN true
CMD ["sh"]
LABEL a=b "c d"="e f"
MAINTAINER me
EXPOSE 80 443/udp
ENV A=1 B="two words"
ENV LEGACY some value
ADD a.tar /
COPY --chown=1:1 --chmod=644 a /b
ENTRYPOINT ["sh", "-c"]
VOLUME ["/data"]
VOLUME /a /b
USER nobody
WORKDIR /srv
ARG X Y=2
ONBUILD RUN echo hi
STOPSIGNAL SIGKILL
HEALTHCHECK --interval=5s --timeout=1m30s --retries=3 CMD true
HEALTHCHECK NONE
SHELL ["/bin/sh", "-ec"]
""")
    assert len(df.stages[0].instructions) == 20
