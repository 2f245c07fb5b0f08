"""The Go text/template subset behind --format: Go's semantics, Go's words."""

from __future__ import annotations

import pytest

from hold.cli._gotemplate import MISSING, Template, TemplateError, go_json, go_print


def render(src: str, data=None) -> str:
    return Template(src).execute(data if data is not None else {})


@pytest.mark.parametrize("value, text", [
    ("s", "s"), (None, "<nil>"), (MISSING, "<no value>"), (True, "true"),
    (3, "3"), (1.5, "1.5"), (1e6, "1e+06"), (123456.0, "123456"),
    (0.0001, "0.0001"), (0.00001, "1e-05"), (-2.5, "-2.5"),
    ([1, "a", None], "[1 a <nil>]"), ({"b": 1, "a": [2]}, "map[a:[2] b:1]")])
def test_values_print_as_fmt_sprint(value, text):
    assert go_print(value) == text


@pytest.mark.parametrize("value, text", [
    (1e21, "1e+21"), (1e20, "100000000000000000000"), (1e-7, "1e-7"),
    (0.000001, "0.000001"), (2.0, "2"), ("\u2028<\b", '"\\u2028<\\u0008"'),
    ("tab\there", '"tab\\there"'), ("back\\b", '"back\\\\b"'), (b"hi", '"aGk="')])
def test_json_encodes_as_go(value, text):
    assert go_json(value) == text


def test_trim_markers_and_comments():
    assert render("a  {{- 1 -}}  b") == "a1b"
    assert render("a {{/* note */}}b") == "a b"
    assert render("a {{- /* note */ -}} b") == "ab"
    assert render("{{-3}}") == "-3"


def test_literals():
    assert render('{{"a\\tb"}}|{{`raw\\t`}}|{{\'x\'}}|{{0x10}}|{{1_000}}|{{true}}') == \
        "a\tb|raw\\t|120|16|1000|true"


def test_variables_scope_and_assignment():
    assert render("{{$x := 1}}{{$x}}{{$x = 2}}{{$x}}") == "12"
    assert render("{{range $i, $v := .}}{{$i}}{{$v}}{{end}}", ["a", "b"]) == "0a1b"
    assert render("{{range .L}}{{$.Top}}{{.}}{{end}}", {"Top": "t", "L": [1, 2]}) == "t1t2"
    with pytest.raises(TemplateError, match='undefined variable "\\$v"'):
        Template("{{range $v := .}}{{end}}{{$v}}")


def test_range_forms_break_continue():
    assert render("{{range 3}}{{.}}{{end}}") == "012"
    assert render("{{range .}}{{if eq . 2}}{{continue}}{{end}}{{if eq . 4}}{{break}}{{end}}"
                  "{{.}}{{end}}", [1, 2, 3, 4, 5]) == "13"
    with pytest.raises(TemplateError, match="range can't iterate over 5"):
        render("{{range .X}}{{end}}", {"X": "5"})


def test_pipelines_pass_the_value_last():
    assert render('{{.S | printf "%s-%s" "a"}}', {"S": "b"}) == "a-b"
    assert render("{{.S | len | print}}", {"S": "abc"}) == "3"
    assert render('{{(index .M "k").Name}}', {"M": {"k": {"Name": "n"}}}) == "n"


def test_comparisons_and_logic():
    assert render('{{if and .A (not .B)}}y{{end}}', {"A": 1, "B": 0}) == "y"
    assert render('{{or .B .C "d"}}', {"B": 0, "C": ""}) == "d"
    assert render('{{eq .S "x" "y"}} {{ne 1 2}} {{lt 1 2}} {{ge "b" "a"}}', {"S": "y"}) == \
        "true true true true"
    with pytest.raises(TemplateError, match="incompatible types for comparison"):
        render('{{eq 1 "1"}}')


def test_printf_verbs():
    assert render('{{printf "%5.1f|%-3d|%03d|%x|%t|%v|%%" 3.14159 7 5 255 true .}}', [1]) == \
        "  3.1|7  |005|ff|true|[1]|%"
    assert render('{{printf "%d %s" "x"}}') == "%!d(string=x) %!s(MISSING)"


def test_slice_and_index():
    assert render("{{slice .S 1 3}} {{index .L 1}} {{slice .L 1}}", {"S": "abcd", "L": [1, 2, 3]}) == \
        "bc 2 [2 3]"


def test_header_rendering_uses_column_names_and_never_fails():
    tmpl = Template("{{.ID}}\t{{range .L}}{{.}}{{end}}\t{{index .M \"k\"}}\t{{.State.Status}}")
    assert tmpl.execute_header({"ID": "CONTAINER ID"}) == "CONTAINER ID\t\tM\tSTATUS"


@pytest.mark.parametrize("src, message", [
    ('{{.A | "x"}}', "non executable command in pipeline stage 2"),
    ("{{(.A}}", "unclosed left paren"),
    ("{{.A)}}", "unexpected right paren"),
    ("{{if .A}}{{else}}{{else}}{{end}}", "expected end; found {{else}}"),
    ("{{define \"x\"}}{{end}}", "{{define}} is not supported"),
    ("{{break}}", "{{break}} outside {{range}}"),
    ("{{/* open", "unclosed comment"),
    ("{{.A ,}}", 'unexpected "," in operand'),
])
def test_parse_errors(src, message):
    with pytest.raises(TemplateError) as info:
        Template(src)
    assert str(info.value) == f"template: :1: {message}"


def test_execution_error_position_is_line_and_column():
    with pytest.raises(TemplateError) as info:
        render("x\n  {{.A.B}}", {"A": None})
    assert str(info.value) == ('template: :2:6: executing "" at <.A.B>: '
                               'nil pointer evaluating interface {}.B')


def test_go_quirks_docker_users_meet():
    assert render("{{.A | }}", {"A": 1}) == "1"          # a trailing pipe is allowed
    with pytest.raises(TemplateError) as info:
        render('{{template "x"}}')
    assert str(info.value) == ('template: :1:11: executing "" at <{{template "x"}}>: '
                               'template "x" not defined')
    with pytest.raises(TemplateError) as info:
        render("{{upper 3}}")
    assert str(info.value) == 'template: :1:8: executing "" at <3>: expected string; found 3'
    with pytest.raises(TemplateError) as info:
        render("{{.ID.Foo}}", {"ID": "x"})
    assert str(info.value) == ('template: :1:5: executing "" at <.ID.Foo>: '
                               "can't evaluate field Foo in type string")
    assert go_json({"Label": lambda k: k, "a": 1}) == '{"a":1}'


def test_arguments_to_a_non_function_are_refused():
    with pytest.raises(TemplateError, match="A is not a method but has arguments"):
        render('{{.A "x"}}', {"A": 1})
    with pytest.raises(TemplateError, match="wrong type for value; expected string; got int"):
        render("{{upper .A}}", {"A": 1})
