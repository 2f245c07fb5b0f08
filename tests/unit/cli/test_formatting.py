"""hold.cli.formatting: --format, tables, units, statuses, as Docker prints."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys

import pytest

from hold.cli import formatting as fm
from hold.errors import InvalidArgument

PS_TABLE = ("table {{.ID}}\\t{{.Image}}\\t{{.Command}}\\t{{.RunningFor}}"
            "\\t{{.Status}}\\t{{.Ports}}\\t{{.Names}}")
PS_HEADERS = {"ID": "CONTAINER ID", "RunningFor": "CREATED"}
ROW = {"ID": "3f2a9c1d0b7e", "Image": "bb:latest", "Command": '"sleep 3600"',
       "RunningFor": "2 minutes ago", "Status": "Up 2 minutes", "Ports": "",
       "Names": "idle", "Labels": {"b": "2", "a": "1"}, "Mounts": ["v1", "v2"]}


# --------------------------------------------------------------- formats --

def test_public_surface_is_declared():
    for name in fm.__all__:
        assert hasattr(fm, name), name


def test_field_and_nested_field_on_dicts_and_objects():
    class RunState:
        Status = "running"

    class Container:
        ID = "abc"
        State = RunState()

        def Label(self, key):
            return {"x": "1"}.get(key, "")

    assert fm.apply_format("{{.ID}} {{.State.Status}}", Container()) == "abc running"
    assert fm.apply_format('{{.Label "x"}}', Container()) == "1"
    assert fm.apply_format("{{.A.B}}", {"A": {"B": 3}}) == "3"
    assert fm.apply_format('{{.Label "x"}}', {"Label": lambda k: k * 2}) == "xx"


def test_missing_map_key_prints_no_value_like_go():
    assert fm.apply_format("{{.Nope}}", {}) == "<no value>"


def test_missing_attribute_is_an_execution_error():
    with pytest.raises(InvalidArgument) as info:
        fm.apply_format("{{.Nope}}", object())
    assert str(info.value) == ('failed to execute template: template: :1:2: executing "" '
                               'at <.Nope>: can\'t evaluate field Nope in type object')


def test_json_is_compact_sorted_and_not_html_escaped():
    assert fm.apply_format("{{json .Labels}}", ROW) == '{"a":"1","b":"2"}'
    assert fm.apply_format("{{json .}}", {"x": "<&>", "n": 1.0, "f": 0.5}) == \
        '{"f":0.5,"n":1,"x":"<&>"}'
    assert fm.apply_format("{{.Mounts | json}}", ROW) == '["v1","v2"]'
    assert fm.apply_format("json", {"b": None, "a": [True]}) == '{"a":[true],"b":null}'


def test_docker_functions():
    data = {"L": ["a", "b"], "S": "hello world", "M": {"k": "v"}, "E": ""}
    assert fm.apply_format('{{join .L ","}}', data) == "a,b"
    assert fm.apply_format('{{index .M "k"}}|{{index .M "zz"}}', data) == "v|"
    assert fm.apply_format("{{upper .S}} {{.S | title}} {{lower \"AbC\"}}", data) == \
        "HELLO WORLD Hello World abc"
    assert fm.apply_format("{{truncate .S 5}}|{{pad .S 1 2}}|{{pad .E 1 2}}|", data) == \
        "hello| hello world  ||"
    assert fm.apply_format('{{split "a:b" ":"}} {{len (split "a:b:c" ":")}}', data) == "[a b] 3"
    assert fm.apply_format("{{println .S}}", data) == "hello world\n"


def test_range_if_else_with():
    data = {"L": ["a", "b"], "N": 0, "M": {"y": 2, "x": 1}}
    assert fm.apply_format("{{range .L}}<{{.}}>{{end}}", data) == "<a><b>"
    assert fm.apply_format("{{range $k, $v := .M}}{{$k}}={{$v}};{{end}}", data) == "x=1;y=2;"
    assert fm.apply_format("{{if .N}}yes{{else}}no{{end}}", data) == "no"
    assert fm.apply_format("{{if .N}}a{{else if .L}}b{{else}}c{{end}}", data) == "b"
    assert fm.apply_format("{{with .M}}{{.x}}{{end}}", data) == "1"
    assert fm.apply_format("{{range .Nope}}x{{else}}empty{{end}}", data) == "empty"


def test_escapes_typed_on_the_command_line_become_tabs_and_newlines():
    assert fm.apply_format(r"{{.ID}}\t{{.Names}}\n", ROW) == "3f2a9c1d0b7e\tidle\n"


@pytest.mark.parametrize("template, message", [
    ("{{.ID}", "template: :1: bad character U+007D '}'"),
    ('{{.ID"x"}}', "template: :1: bad character U+0022 '\"'"),
    ("{{.A ,}}", 'template: :1: unexpected "," in operand'),
    ("{{.ID", "template: :1: unclosed action"),
    ("{{end}}", "template: :1: unexpected {{end}}"),
    ("{{if .X}}x", "template: :1: unexpected EOF"),
    ("{{nosuch .X}}", 'template: :1: function "nosuch" not defined'),
    ("{{}}", "template: :1: missing value for command"),
    ('{{"abc}}', "template: :1: unterminated quoted string"),
    ("a\n{{else}}", "template: :2: unexpected {{else}}"),
    ("{{$x}}", 'template: :1: undefined variable "$x"'),
    ("{{range}}{{end}}", "template: :1: missing value for range"),
])
def test_malformed_templates_are_invalid_arguments_worded_like_docker(template, message):
    with pytest.raises(InvalidArgument) as info:
        fm.apply_format(template, {})
    assert str(info.value) == "failed to parse template: " + message


def test_execution_errors_name_the_node():
    with pytest.raises(InvalidArgument, match=r"at <json>: wrong number of args for json: want 1 got 0"):
        fm.apply_format("{{json}}", {})
    with pytest.raises(InvalidArgument, match=r"index out of range: 5"):
        fm.apply_format("{{index .L 5}}", {"L": [1]})


# ---------------------------------------------------------------- tables --

def test_table_format_matches_docker_ps_alignment():
    out = fm.format_rows(PS_TABLE, [ROW], headers=PS_HEADERS)
    assert out == (
        "CONTAINER ID   IMAGE       COMMAND        CREATED         STATUS         PORTS     NAMES\n"
        '3f2a9c1d0b7e   bb:latest   "sleep 3600"   2 minutes ago   Up 2 minutes             idle\n')


def test_empty_table_still_has_its_header_with_minimum_width_ten():
    out = fm.format_rows(PS_TABLE, [], headers=PS_HEADERS)
    assert out == "CONTAINER ID   IMAGE     COMMAND   CREATED   STATUS    PORTS     NAMES\n"


def test_bare_table_means_the_default_and_headers_default_from_field_names():
    out = fm.format_rows("table", [{"CreatedAt": "now", "X": 1}],
                         default_table="table {{.CreatedAt}}\t{{.X}}")
    assert out.splitlines() == ["CREATED AT   X", "now          1"]


def test_table_header_keeps_column_names_through_functions():
    out = fm.format_rows("table {{.Names | upper}}\t{{json .Labels}}", [ROW])
    assert out.splitlines()[0].split() == ["NAMES", "LABELS"]


def test_non_table_rows_end_in_newlines_and_json_lines():
    assert fm.format_rows("{{.Names}}", [ROW, ROW]) == "idle\nidle\n"
    assert fm.format_rows("json", [{"a": 1}, {"a": 2}]) == '{"a":1}\n{"a":2}\n'
    assert fm.format_json_lines([{"b": 1, "a": "x"}]) == '{"a":"x","b":1}\n'


def test_apply_format_table_gives_header_and_row():
    assert fm.apply_format("table {{.Names}}\t{{.Image}}", ROW) == \
        "NAMES     IMAGE\nidle      bb:latest"


def test_render_table():
    out = fm.render_table(
        [{"name": "data", "driver": "local"}, {"name": "a-much-longer-name", "driver": None}],
        [("driver", "DRIVER"), ("name", "VOLUME NAME")])
    assert out == ("DRIVER    VOLUME NAME\n"
                   "local     data\n"
                   "          a-much-longer-name\n")


def test_tabwrite_columns_are_contiguous_blocks():
    # Go's tabwriter: a line without the cell ends the column block.
    text = "aaaa\tbbb\td\naa\tb\tdd\na\naa\tcccc\teee\n"
    assert fm.tabwrite(text, minwidth=0, padding=1) == (
        "aaaa bbb d\n"
        "aa   b   dd\n"
        "a\n"
        "aa cccc eee\n")


def test_tabwrite_counts_wide_characters_twice():
    out = fm.tabwrite("日本\tx\nab\ty\n", minwidth=0, padding=1)
    assert out == "日本 x\nab   y\n"


def test_formatting_imports_no_template_engine_until_used():
    code = ("import sys; import hold.cli.formatting; "
            "print('hold.cli._gotemplate' in sys.modules, 'json' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split()[0] == "False"


def test_ellipsis_like_docker_ps_command():
    assert fm.ellipsis("sleep 3600", 20) == "sleep 3600"
    assert fm.ellipsis("sh -c 'while true; do date; done'", 20) == "sh -c 'while true; …"
    assert len(fm.ellipsis("x" * 30, 20)) == 20
    assert fm.ellipsis("日本語のコマンド", 7) == "日本語…"
    assert fm.ellipsis("abc", 0) == ""
    assert fm.ellipsis("日本", 1) == "日"


# ----------------------------------------------------------------- units --

@pytest.mark.parametrize("size, text", [
    (0, "0B"), (999, "999B"), (1000, "1kB"), (5600, "5.6kB"), (1234567, "1.23MB"),
    (12.3e9, "12.3GB"), (72_800_000, "72.8MB"), (999_999, "1e+03kB")])
def test_human_size(size, text):
    assert fm.human_size(size) == text


def test_human_size_precision_and_bytes_size():
    assert fm.human_size(1234567, precision=4) == "1.235MB"
    assert fm.bytes_size(1536) == "1.5KiB"
    assert fm.bytes_size(1024 ** 3 * 3) == "3GiB"
    assert fm.bytes_size(10) == "10B"


@pytest.mark.parametrize("seconds, text", [
    (0.45, "Less than a second"), (1, "1 second"), (47, "47 seconds"),
    (60, "About a minute"), (3 * 60, "3 minutes"), (35 * 60 + 40, "35 minutes"),
    (3600, "About an hour"), (3600 + 29 * 60, "About an hour"),
    (3600 + 31 * 60, "2 hours"), (3 * 3600, "3 hours"), (24 * 3600, "24 hours"),
    (36 * 3600, "36 hours"), (2 * 86400, "2 days"), (13 * 86400 + 5 * 3600, "13 days"),
    (14 * 86400, "2 weeks"), (30 * 86400, "4 weeks"), (44 * 86400, "6 weeks"),
    (60 * 86400, "2 months"), (13 * 30 * 86400, "13 months"),
    (24 * 30 * 86400, "24 months"), (24 * 30 * 86400 + 14 * 86400, "2 years"),
    (3 * 365 * 86400 + 60 * 86400, "3 years"), (-5, "Less than a second")])
def test_human_duration_matches_go_units(seconds, text):
    assert fm.human_duration(seconds) == text


def test_human_ago_accepts_strings_datetimes_and_epochs():
    now = 1_700_000_000.0
    assert fm.human_ago(now - 180, now=now) == "3 minutes ago"
    when = dt.datetime.fromtimestamp(now - 7200, dt.timezone.utc)
    assert fm.human_ago(when, now=now) == "2 hours ago"
    assert fm.human_ago(when.isoformat().replace("+00:00", "Z"), now=now) == "2 hours ago"
    assert fm.human_ago("0001-01-01T00:00:00Z", now=now) == ""


def _iso(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%S.%f") + "123Z"


@pytest.mark.parametrize("state, text", [
    ({"Status": "running", "Running": True, "StartedAt": -180}, "Up 3 minutes"),
    ({"Status": "running", "Running": True, "StartedAt": -0.2}, "Up Less than a second"),
    ({"Status": "paused", "Running": True, "Paused": True, "StartedAt": -7200},
     "Up 2 hours (Paused)"),
    ({"Status": "running", "Running": True, "StartedAt": -5,
      "Health": {"Status": "starting"}}, "Up 5 seconds (health: starting)"),
    ({"Status": "running", "Running": True, "StartedAt": -5,
      "Health": {"Status": "healthy"}}, "Up 5 seconds (healthy)"),
    ({"Status": "restarting", "Running": True, "Restarting": True, "ExitCode": 1,
      "StartedAt": -60, "FinishedAt": -2}, "Restarting (1) 2 seconds ago"),
    ({"Status": "exited", "ExitCode": 0, "StartedAt": -60, "FinishedAt": -2},
     "Exited (0) 2 seconds ago"),
    ({"Status": "exited", "ExitCode": 137, "StartedAt": -7200, "FinishedAt": -3600},
     "Exited (137) About an hour ago"),
    ({"Status": "created", "StartedAt": "0001-01-01T00:00:00Z",
      "FinishedAt": "0001-01-01T00:00:00Z"}, "Created"),
    ({"Status": "removing", "StartedAt": -9, "FinishedAt": -1}, "Removal In Progress"),
    ({"Status": "dead", "Dead": True, "StartedAt": -9, "FinishedAt": -1}, "Dead"),
])
def test_status_text(state, text):
    now = 1_700_000_000.0
    state = {k: (_iso(now + v) if k.endswith("At") and isinstance(v, (int, float)) else v)
             for k, v in state.items()}
    assert fm.status_text(state, now=now) == text


def test_status_text_accepts_objects():
    class State:
        Status, Running, StartedAt = "running", True, 100.0
    assert fm.status_text(State(), now=160.0) == "Up About a minute"


def test_truncate_id():
    full = "sha256:" + "ab" * 32
    assert fm.truncate_id(full) == "abababababab"
    assert fm.truncate_id("0123456789abcdef") == "0123456789ab"


def test_parse_timestamp():
    ts = fm.parse_timestamp("2024-03-04T05:06:07.123456789Z")
    assert ts == dt.datetime(2024, 3, 4, 5, 6, 7, 123456, tzinfo=dt.timezone.utc)
    ts = fm.parse_timestamp("2024-03-04T05:06:07+02:00")
    assert ts.utcoffset() == dt.timedelta(hours=2)
    with pytest.raises(InvalidArgument, match="cannot parse"):
        fm.parse_timestamp("yesterday")
    with pytest.raises(InvalidArgument):
        fm.parse_timestamp("2024-13-04T05:06:07Z")
