"""nightowl's own PromQL conformance cases (`tests/query/testdata/*.test`), one test per eval.

The files cover what Prometheus's shared test files do not (`@` with start()/end(),
subqueries, classic histograms, `__name__` dropping, offset and staleness corners).
Their expected values were recorded from the real Prometheus 2.42 with
`tests/tools/prom_oracle.py`; the suite does not need Prometheus. Each file is run
twice by the runner `query/promqltest.py`: against the in-memory store and against
a real SQLite store in a temporary directory.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from nightowl.query.promqltest import CaseResult, run_file
from nightowl.store import Store

TESTDATA = Path(__file__).with_name("testdata")
FILES = sorted(TESTDATA.glob("*.test"))
_CACHE: dict[tuple[str, str], list[CaseResult]] = {}


def _sqlite_factory(root: Path):
    counter = iter(range(1_000_000))

    def make() -> Store:
        return Store.open(root / f"conf{next(counter)}.db")

    return make


def _results(name: str, backend: str) -> list[CaseResult]:
    key = (name, backend)
    if key not in _CACHE:
        if backend == "memory":
            _CACHE[key] = run_file(TESTDATA / name)
        else:
            with tempfile.TemporaryDirectory(prefix="nightowl-conf-") as tmp:
                _CACHE[key] = run_file(TESTDATA / name, make_store=_sqlite_factory(Path(tmp)))
    return _CACHE[key]


def _params() -> list:
    out = []
    for f in FILES:
        for r in _results(f.name, "memory"):
            for backend in ("memory", "sqlite"):
                out.append(pytest.param(f.name, r.line, backend, id=f"{f.name}:{r.line}-{backend}"))
    return out


def test_testdata_present() -> None:
    """The five topic files exist and each holds evals."""
    names = {f.name for f in FILES}
    assert {
        "at_modifier.test",
        "classic_histograms.test",
        "name_dropping.test",
        "offset_staleness.test",
        "subqueries.test",
    } <= names
    for f in FILES:
        assert _results(f.name, "memory"), f"{f.name} has no eval"


@pytest.mark.parametrize(("file", "line", "backend"), _params())
def test_own_case(file: str, line: int, backend: str) -> None:
    """One eval gives the answer Prometheus 2.42 gave."""
    (result,) = [r for r in _results(file, backend) if r.line == line]
    assert result.status == "pass", f"{result.where} [{backend}]: {result.expr}\n{result.message}"


def test_runner_fails_a_wrong_expectation(tmp_path: Path) -> None:
    """A changed expected value in one of these files makes its case fail."""
    text = (TESTDATA / "at_modifier.test").read_text(encoding="utf-8")
    bad = text.replace('metric{job="a"} 10\n', 'metric{job="a"} 11\n', 1)
    assert bad != text
    path = tmp_path / "bad.test"
    path.write_text(bad, encoding="utf-8")
    statuses = [r.status for r in run_file(path)]
    assert statuses.count("fail") == 1
    assert statuses.count("pass") == len(statuses) - 1
