"""Prometheus's own PromQL test files, one pytest case per `eval`.

The files live in the workplace's shared folder (never copied into the
project); without it these tests skip. Native-histogram cases are reported as
skips with that reason, never as passes.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from nightowl.query.promqltest import CaseResult, run_file

_REPO = Path(__file__).resolve().parents[2]
SHARED_TESTS = Path(os.environ.get("NIGHTOWL_SHARED", _REPO.parent / "shared")) / "promql-tests"
_FILES = sorted(SHARED_TESTS.glob("*.test")) if SHARED_TESTS.is_dir() else []
_CACHE: dict[str, list[CaseResult]] = {}


def _cases() -> list[tuple[str, int]]:
    out = []
    for f in _FILES:
        for r in _results(f.name):
            out.append((f.name, r.line))
    return out


def _results(name: str) -> list[CaseResult]:
    if name not in _CACHE:
        _CACHE[name] = run_file(SHARED_TESTS / name)
    return _CACHE[name]


def _params() -> list:
    try:
        cases = _cases()
    except Exception as exc:  # a runner crash must show up as a failing test
        return [pytest.param("<runner>", 0, marks=pytest.mark.xfail(reason=str(exc), strict=True))]
    return [pytest.param(f, line, id=f"{f}:{line}") for f, line in cases]


@pytest.mark.parametrize(("file", "line"), _params())
def test_promql_case(shared_dir: Path, file: str, line: int) -> None:
    """One eval of Prometheus's test files gives Prometheus's answer."""
    (result,) = [r for r in _results(file) if r.line == line]
    if result.status == "skip":
        pytest.skip(f"{result.where}: {result.message}")
    assert result.status == "pass", f"{result.where}: {result.expr}\n{result.message}"
