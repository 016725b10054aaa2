"""`nightowl test rules` on files that are not UTF-8: promtool's failure, never a traceback."""

from __future__ import annotations

import io
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nightowl.alerts.ruletest import run_test_files

PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
HAVE_PROMTOOL = os.path.exists(PROMTOOL)

# Bytes and the problem promtool's YAML reader names for them (checked against
# promtool 2.42 by test_not_utf8_agrees_with_promtool).
CASES = [
    (b"a: \x01\xff", "control characters are not allowed"),
    (b"a: b\xc3", "incomplete UTF-8 octet sequence"),
    (b"a: \xc0\x80", "invalid length of a UTF-8 sequence"),
    (b"a: \xe0\x80\x80", "invalid length of a UTF-8 sequence"),
    (b"a: \xed\xa0\x80", "invalid Unicode character"),
    (b"a: \xf5\x80\x80\x80", "invalid Unicode character"),
    (b"a: \xc3\x28", "invalid trailing UTF-8 octet"),
    (b"a: [\n\xff", "invalid leading UTF-8 octet"),
    (b"rule_files: [x.yml]\n# caf\xc3\xa9 \xfa\n", "invalid leading UTF-8 octet"),
]


def _run(cmd: list[str], cwd: Path) -> tuple[int, str, str]:
    p = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=60)
    return p.returncode, p.stdout, p.stderr


def _garbage(seed: int) -> bytes:
    return random.Random(seed).randbytes(3000)


def test_garbage_file_fails_without_traceback(tmp_path: Path) -> None:
    """3000 random bytes: exit 1, promtool's FAILED block, no Python traceback."""
    (tmp_path / "garbage.om").write_bytes(_garbage(7))
    cmd = [sys.executable, "-m", "nightowl", "test", "rules", "garbage.om"]
    code, out, err = _run(cmd, tmp_path)
    assert code == 1
    assert "Traceback" not in err
    assert out.startswith("Unit Testing:  garbage.om\n")
    assert err.startswith("  FAILED:\nyaml: ")


@pytest.mark.parametrize(("data", "problem"), CASES)
def test_not_utf8_names_the_problem(data: bytes, problem: str, tmp_path: Path) -> None:
    """Each kind of bad octet gets the words promtool uses; the next file still runs."""
    bad = tmp_path / "bad.yml"
    bad.write_bytes(data)
    good = tmp_path / "good.yml"
    good.write_text("tests: []\n")
    out, err = io.StringIO(), io.StringIO()
    assert run_test_files([str(bad), str(good)], out, err) == 1
    assert err.getvalue() == f"  FAILED:\nyaml: {problem}\n"
    assert f"Unit Testing:  {good}\n  SUCCESS\n" in out.getvalue()


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_any_bytes_never_crash(data: bytes) -> None:
    """Fuzz: any file content gives a verdict (0 or 1), never an exception."""
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "t.yml"
        p.write_bytes(data)
        assert run_test_files([str(p)], io.StringIO(), io.StringIO()) in (0, 1)


@pytest.mark.skipif(
    not HAVE_PROMTOOL and not os.environ.get("CI"),
    reason="promtool (Debian package prometheus) is not installed",
)
def test_not_utf8_agrees_with_promtool(tmp_path: Path) -> None:
    """Same exit status and same output as the real promtool on every case and on garbage."""
    files = [d for d, _ in CASES] + [_garbage(s) for s in range(5)]
    for i, data in enumerate(files):
        name = f"t{i}.yml"
        (tmp_path / name).write_bytes(data)
        prom = _run([PROMTOOL, "test", "rules", name], tmp_path)
        ours = _run([sys.executable, "-m", "nightowl", "test", "rules", name], tmp_path)
        assert prom[0] == 1, data
        assert ours == prom, data
