"""The Go-template subset: functions, control flow, errors, and fuzzing."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nightowl.alerts.template import (
    Template,
    TemplateData,
    TemplateError,
    go_format_float,
    humanize,
    humanize_1024,
    humanize_duration,
    humanize_percentage,
    humanize_timestamp,
)


def _x(text: str, labels: dict[str, str] | None = None, value: float = 0.0, **kw: object) -> str:
    return Template.parse(text).expand(TemplateData(labels or {}, value, **kw))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("v", "want"),
    [
        (0.0, "0"),
        (1234567.0, "1.235M"),
        (0.0012, "1.2m"),
        (-2500.0, "-2.5k"),
        (float("nan"), "NaN"),
    ],
)
def test_humanize(v: float, want: str) -> None:
    """SI prefixes as Prometheus prints them."""
    assert humanize(v) == want


def test_humanize_family() -> None:
    """humanize1024, humanizeDuration, humanizePercentage, humanizeTimestamp."""
    assert humanize_1024(1048576) == "1Mi"
    assert humanize_1024(0.5) == "0.5"
    assert humanize_duration(90061) == "1d 1h 1m 1s"
    assert humanize_duration(0.25) == "250ms"
    assert humanize_duration(0) == "0s"
    assert humanize_percentage(0.1234) == "12.34%"
    assert humanize_timestamp(1.5) == "1970-01-01 00:00:01.5 +0000 UTC"


def test_go_float_formatting() -> None:
    """Go's %v for float64."""
    assert go_format_float(123456.0) == "123456"
    assert go_format_float(1234567.0) == "1.234567e+06"
    assert go_format_float(0.0001) == "0.0001"
    assert go_format_float(0.00001) == "1e-05"
    assert go_format_float(float("inf")) == "+Inf"


def test_variables_fields_and_pipelines() -> None:
    """$labels, .Labels, $value, $externalLabels, pipelines with arguments."""
    out = _x(
        '{{ $labels.job }}/{{ .Labels.job }} {{ $value | printf "%.1f" }} '
        "{{ $externalLabels.region }} {{ $labels.missing }}|",
        {"job": "api"},
        2.25,
        external_labels={"region": "eu"},
    )
    assert out == "api/api 2.2 eu |"


def test_control_flow() -> None:
    """if / else if / else, with, range with two variables, trim markers, comments."""
    t = (
        '{{- /* c */ -}} {{ if eq $labels.a "x" }}X{{ else if eq $labels.a "y" }}Y'
        "{{ else }}Z{{ end }} {{ with $labels.b }}<{{ . }}>{{ else }}none{{ end }} "
        "{{ range $k, $v := $labels }}{{ $k }}={{ $v }},{{ end }}"
    )
    assert _x(t, {"a": "y"}) == "Y none a=y,"
    assert _x(t, {"a": "q", "b": "1"}) == "Z <1> a=q,b=1,"


def test_variable_assignment_and_logic() -> None:
    """$x := ..., and/or/not, comparisons, len, index."""
    t = (
        '{{ $x := "a" }}{{ $x = "b" }}{{ $x }} {{ and 1 0 }} {{ or 0 "" "z" }} {{ not true }} '
        '{{ len $labels }} {{ index $labels "k" }} {{ lt 1 2 }}'
    )
    assert _x(t, {"k": "v"}) == "b 0 z false 1 v true"


def test_query_first_value_label() -> None:
    """query / first / value / label use the QueryFn."""

    def q(expr: str) -> list[tuple[dict[str, str], float]]:
        assert expr == "up"
        return [({"instance": "a"}, 1.0), ({"instance": "b"}, 0.0)]

    t = '{{ with query "up" }}{{ . | first | label "instance" }}={{ . | first | value }}{{ end }}'
    assert _x(t, query=q) == "a=1"


@pytest.mark.parametrize(
    "text",
    [
        "{{ .Labels.x ",
        "{{ if 1 }}no end",
        "{{ end }}",
        "{{ nosuchfunc 1 }}",
        "{{ | x }}",
        '{{ "unterminated }}',
        "{{ else }}",
        '{{ template "x" }}',
    ],
)
def test_parse_errors_have_positions(text: str) -> None:
    """Bad templates raise TemplateError with a line and column."""
    with pytest.raises(TemplateError) as info:
        Template.parse(text)
    assert info.value.line == 1 and info.value.column is not None


def test_execution_errors() -> None:
    """Runtime failures are TemplateErrors, not crashes."""
    with pytest.raises(TemplateError):
        _x('{{ humanize "abc" }}')
    with pytest.raises(TemplateError):
        _x("{{ first $labels }}")


@settings(max_examples=300, deadline=None)
@given(
    st.text(
        alphabet=st.sampled_from(list("{}$.|() \"'`-:=abcxyz01if elsendrangewith")), max_size=60
    )
)
def test_fuzz_parse_never_crashes(text: str) -> None:
    """Any text either parses and expands or raises TemplateError."""
    try:
        t = Template.parse(text)
    except TemplateError:
        return
    try:
        t.expand(TemplateData({"a": "b"}, 1.0))
    except TemplateError:
        pass
