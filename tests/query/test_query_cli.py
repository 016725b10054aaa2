"""`nightowl query`: real SQLite databases in tmp dirs, in-process and as a subprocess."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nightowl.query.parser import parse
from nightowl.store import Store

from nightowl.cli import main
from nightowl.commands.query import format_labels, format_parse_error
from nightowl.errors import ParseError
from nightowl.model import Labels, SampleBatch
from nightowl.timeutil import now_ms

T0 = 1_700_000_000_000  # 2023-11-14T22:13:20Z
LONG = "x" * 120


def _write(path: Path, series: dict[Labels, list[tuple[int, float]]]) -> None:
    labels = list(series)
    refs, ts, vs = [], [], []
    for i, lab in enumerate(labels):
        for t, v in series[lab]:
            refs.append(i)
            ts.append(t)
            vs.append(v)
    with Store.open(path) as store:
        store.append_sync(SampleBatch(labels, np.array(refs), np.array(ts), np.array(vs)))


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two counters and a gauge with a long label, one sample a minute for 10 minutes."""
    path = tmp_path_factory.mktemp("qcli") / "q.db"
    _write(
        path,
        {
            Labels.of("http_total", job="api", code="200"): [
                (T0 + i * 60_000, 10.0 * i) for i in range(11)
            ],
            Labels.of("http_total", job="api", code="500"): [
                (T0 + i * 60_000, float(i)) for i in range(11)
            ],
            Labels.of("temp", room=LONG): [(T0 + i * 60_000, 20.5 + i) for i in range(11)],
        },
    )
    return path


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["query", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_json_instant_is_prometheus_data(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """-o json prints exactly the `data` of /api/v1/query."""
    code, out, err = _run(
        capsys, "--db", str(db), "--time", str((T0 + 600_000) / 1000), "-o", "json", "http_total"
    )
    assert code == 0, err
    assert out == (
        '{"resultType":"vector","result":['
        '{"metric":{"__name__":"http_total","code":"200","job":"api"},'
        '"value":[1700000600,"100"]},'
        '{"metric":{"__name__":"http_total","code":"500","job":"api"},'
        '"value":[1700000600,"10"]}]}\n'
    )


def test_json_range_with_rfc3339(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A range query over RFC 3339 times gives a matrix with one point per step."""
    code, out, _ = _run(
        capsys,
        "--db", str(db),
        "--start", "2023-11-14T22:13:20Z",
        "--end", "2023-11-14T22:23:20Z",
        "--step", "5m",
        "-o", "json",
        'sum(rate(http_total[5m]))',
    )  # fmt: skip
    assert code == 0
    data = json.loads(out)
    assert data["resultType"] == "matrix"
    (series,) = data["result"]
    assert series["metric"] == {}
    # the first step has a single sample in its window: no rate there; later ones
    # extrapolate 4 intervals to the 5 m window: 50/300 + 5/300, summed as Go does
    assert 10 / 60 + 1 / 60 == 0.18333333333333332
    assert series["values"] == [
        [1700000300, "0.18333333333333332"],
        [1700000600, "0.18333333333333332"],
    ]


def test_scalar_and_string(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Scalars and strings print in every format."""
    code, out, _ = _run(capsys, "--db", str(db), "--time", "1700000000.5", "-o", "json", "1/4")
    assert (code, out) == (0, '{"resultType":"scalar","result":[1700000000.5,"0.25"]}\n')
    code, out, _ = _run(capsys, "--db", str(db), "--time", "1700000000", '"hi"')
    assert code == 0 and out.startswith("string  hi  at 2023-11-14 22:13:20")
    code, out, _ = _run(capsys, "--db", str(db), "--time", "1700000000", "-o", "csv", "2")
    assert out == "timestamp,value\n1700000000,2\n"


def test_table_fits_80_columns(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The default table is aligned and no line passes 80 columns, even with long labels."""
    code, out, _ = _run(
        capsys, "--db", str(db), "--time", str((T0 + 600_000) / 1000), '{job="api"} or temp'
    )
    assert code == 0
    lines = out.rstrip("\n").split("\n")
    assert all(len(line) <= 80 for line in lines), lines
    assert lines[0].startswith("SERIES") and lines[0].endswith("VALUE")
    assert 'http_total{code="200", job="api"}' in out and out.count("…") == 1
    value_col = {len(line) for line in lines[1:4]}
    assert value_col == {80 if any("…" in line for line in lines) else len(lines[0])}
    assert lines[-1] == "3 series at 2023-11-14 22:23:20"


def test_table_range(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A range result prints one block per series with times and values."""
    code, out, _ = _run(
        capsys, "--db", str(db), "--start", str(T0 / 1000), "--end", str((T0 + 120_000) / 1000),
        "--step", "60", 'http_total{code="500"}',
    )  # fmt: skip
    assert code == 0
    assert out.split("\n")[:5] == [
        'http_total{code="500", job="api"}',
        "  TIME                 VALUE",
        "  2023-11-14 22:13:20      0",
        "  2023-11-14 22:14:20      1",
        "  2023-11-14 22:15:20      2",
    ]
    assert out.rstrip().endswith("1 series, 3 points")


def test_csv_rows(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """CSV has timestamp, value, then one column per label name (`__name__` first)."""
    code, out, _ = _run(
        capsys, "--db", str(db), "--start", str(T0 / 1000), "--end", str((T0 + 60_000) / 1000),
        "--step", "1m", "-o", "csv", "http_total",
    )  # fmt: skip
    assert code == 0
    rows = list(csv.reader(io.StringIO(out)))
    assert rows[0] == ["timestamp", "value", "__name__", "code", "job"]
    assert rows[1:] == [
        ["1700000000", "0", "http_total", "200", "api"],
        ["1700000060", "10", "http_total", "200", "api"],
        ["1700000000", "0", "http_total", "500", "api"],
        ["1700000060", "1", "http_total", "500", "api"],
    ]


def test_chart(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """-o chart draws a plotext chart (no colour codes when not a terminal)."""
    code, out, _ = _run(
        capsys, "--db", str(db), "--start", str(T0 / 1000), "--end", str((T0 + 600_000) / 1000),
        "--step", "30", "-o", "chart", "http_total",
    )  # fmt: skip
    assert code == 0
    assert "\x1b[" not in out
    assert 'http_total{code="200", job="api"}' in out
    assert "22:13" in out and "22:23" in out and "UTC" in out
    assert any(ch in out for ch in "⠁⠂⠄⡀⢀⣀")  # braille line segments
    code, out, _ = _run(
        capsys, "--db", str(db), "--time", str((T0 + 600_000) / 1000), "-o", "chart", "http_total"
    )
    assert code == 0 and "█" in out


def test_relative_times(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`now-10m` style times work for instant and range queries."""
    now = now_ms()
    path = tmp_path / "rel.db"
    _write(path, {Labels.of("up", job="x"): [(now - 600_000 + i * 60_000, 1.0) for i in range(10)]})
    code, out, _ = _run(capsys, "--db", str(path), "--time", "now-2m", "-o", "json", "up")
    assert code == 0 and json.loads(out)["result"][0]["value"][1] == "1"
    code, out, _ = _run(
        capsys, "--db", str(path), "--start", "now-5m", "--step", "1m", "-o", "json", "up"
    )
    assert code == 0
    assert len(json.loads(out)["result"][0]["values"]) == 6


def test_bad_promql_caret_exit_2() -> None:
    """A parse error prints the message and a caret under the position; exit 2, no traceback."""
    proc = subprocess.run(
        [sys.executable, "-m", "nightowl", "query", "sum(rate(x[5m])"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "NO_COLOR": "1"},
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    # where the error sits is the parser's business (tests/query/test_query_parse_errors.py);
    # the command prints the parser's message and puts the caret under its column
    with pytest.raises(ParseError) as info:
        parse("sum(rate(x[5m])")
    err = info.value
    assert err.line == 1 and err.column is not None
    assert proc.stderr.splitlines() == [
        f"nightowl: {err}",
        "  sum(rate(x[5m])",
        "  " + " " * (err.column - 1) + "^",
    ]
    assert "unclosed left parenthesis" in str(err)


@pytest.mark.parametrize(
    ("expr", "line"),
    [("foo{a=}", 1), ("x +", 1), ("rate(x)", 1), ("a\n  and (b", 2)],
)
def test_caret_positions(expr: str, line: int) -> None:
    """The caret sits under the parser's column, on the right line of a multi-line query."""
    with pytest.raises(ParseError) as info:
        parse(expr)
    err = info.value
    assert err.line == line and err.column is not None
    text = format_parse_error(expr, err).split("\n")
    assert text[0] == str(err)
    assert text[1] == "  " + expr.split("\n")[line - 1]
    assert text[2].index("^") - 2 == min(err.column - 1, len(expr.split("\n")[line - 1]))


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--time", "now", "--start", "now-1h", "up"], "--time is for instant queries"),
        (["--end", "now", "up"], "needs --start"),
        (["--start", "now", "--end", "now-1h", "up"], "before --start"),
        (["--start", "now-1h", "--step", "0", "up"], "must be positive"),
        (["--start", "now-1h", "--step", "nonsense", "up"], "nonsense"),
        (["--time", "yesterday", "up"], "yesterday"),
    ],
)
def test_usage_errors_exit_2(
    db: Path, capsys: pytest.CaptureFixture[str], argv: list[str], needle: str
) -> None:
    """Contradictory or malformed times exit 2 with a message naming the problem."""
    code, out, err = _run(capsys, "--db", str(db), *argv)
    assert code == 2 and out == ""
    assert needle in err


def test_missing_database_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A database that does not exist is a user error naming the path."""
    code, _, err = _run(capsys, "--db", str(tmp_path / "none.db"), "up")
    assert code == 2 and "none.db" in err and "does not exist" in err


def test_evaluation_error(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A query the engine refuses reports Prometheus's message without a traceback."""
    code, _, err = _run(
        capsys, "--db", str(db), "--start", "0", "--end", "100000", "--step", "1", "up"
    )
    assert code != 0 and "11,000 points" in err and "Traceback" not in err


def test_config_storage_path(db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Without --db the database is the config's [storage] path."""
    cfg = tmp_path / "nightowl.toml"
    cfg.write_text(f'[storage]\npath = "{db}"\n')
    code, out, _ = _run(
        capsys, "--config", str(cfg), "--time", str(T0 / 1000), "-o", "json", "count(http_total)"
    )
    assert code == 0 and '"2"' in out


def test_expression_starting_with_minus(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """After `--`, an expression may start with `-`."""
    code, out, _ = _run(capsys, "--db", str(db), "--time", "0", "-o", "json", "--", "-(2)")
    assert (code, out) == (0, '{"resultType":"scalar","result":[0,"-2"]}\n')


def test_format_labels() -> None:
    """Series print as PromQL writes them."""
    assert format_labels(Labels.of("up")) == "up"
    assert format_labels(Labels.of("up", job="a")) == 'up{job="a"}'
    assert format_labels(Labels.from_dict({"a": 'q"\\\n'})) == '{a="q\\"\\\\\\n"}'
    assert format_labels(Labels()) == "{}"


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.text(alphabet="abx(){}[]=~!\"',:+-*/^@ 015m.\n", max_size=25))
def test_any_expression_is_answered_cleanly(
    db: Path, capsys: pytest.CaptureFixture[str], expr: str
) -> None:
    """Whatever the text, the command answers with an exit status, never an exception."""
    code = main(["query", "--db", str(db), "--time", str(T0 / 1000), "-o", "json", "--", expr])
    out, err = capsys.readouterr()
    assert code in (0, 1, 2)
    if code == 0:
        assert json.loads(out)["resultType"] in ("vector", "scalar", "string", "matrix")
    else:
        assert err.startswith("nightowl: ") and "Traceback" not in err
