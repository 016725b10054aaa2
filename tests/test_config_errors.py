"""Bad config files, one per kind of problem, under tests/data/config/.

Each fixture states what it must produce in its header comments:

    # expect: <key path>: <message or the start of it>
    # expect-line: <line>:<column> <message start>

and must produce exactly those problems, no more (so one mistake is reported
once, where it is).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from nightowl.config import ConfigValidationError, load_config, parse_config
from nightowl.errors import ConfigError

DATA = Path(__file__).parent / "data" / "config"
FIXTURES = sorted(DATA.glob("*.toml"))

_EXPECT = re.compile(r"^# expect: (?P<key>\S+): (?P<msg>.+)$")
_EXPECT_LINE = re.compile(r"^# expect-line: (?P<line>\d+):(?P<col>\d+) (?P<msg>.+)$")


def _expectations(text: str) -> list[re.Match[str]]:
    return [m for ln in text.splitlines() if (m := _EXPECT.match(ln) or _EXPECT_LINE.match(ln))]


def test_there_is_a_fixture_per_kind() -> None:
    """The fixture folder is not empty and every file states its expectations."""
    assert len(FIXTURES) >= 20
    for path in FIXTURES:
        assert _expectations(path.read_text()), f"{path.name} has no '# expect:' lines"


@pytest.mark.parametrize("path", FIXTURES, ids=[p.stem for p in FIXTURES])
def test_bad_config_reports_key_path_and_message(path: Path) -> None:
    """Loading the fixture raises every expected problem, each at its key path."""
    with pytest.raises(ConfigValidationError) as info:
        load_config(path)
    problems = info.value.problems
    rendered = str(info.value)
    expected = _expectations(path.read_text())
    for m in expected:
        if "line" in m.groupdict():
            hits = [
                p
                for p in problems
                if p.line == int(m["line"])
                and p.column == int(m["col"])
                and p.message.startswith(m["msg"])
            ]
            assert hits, f"{path.name}: no problem at {m['line']}:{m['col']}: {rendered}"
            assert f"{path}:{m['line']}:{m['col']}: " in rendered
        else:
            hits = [p for p in problems if p.key == m["key"] and m["msg"] in p.message]
            assert hits, f"{path.name}: expected {m['key']}: {m['msg']}\n got:\n{rendered}"
            assert hits[0].line is not None, f"{m['key']} has no line"
            assert f"{path}:{hits[0].line}: {m['key']}: " in rendered
    assert len(problems) == len(expected), rendered
    assert rendered.count("\n") == len(problems) - 1  # one line per problem


def test_all_problems_are_reported_together() -> None:
    """Problems in different sections come out of one load, in file order of sections."""
    text = """
[global]
scrape_interval = "soon"
[[scrape_configs]]
job_name = "a"
scheme = "gopher"
[storage]
retention_size = "lots"
[tui]
theme = 3
"""
    with pytest.raises(ConfigValidationError) as info:
        parse_config(text, "many.toml")
    keys = [p.key for p in info.value.problems]
    assert keys == [
        "global.scrape_interval",
        "scrape_configs[0].scheme",
        "storage.retention_size",
        "tui.theme",
    ]


def test_validation_error_is_a_config_error_with_exit_code_2() -> None:
    """Callers that catch ConfigError (the CLI) get validation problems too."""
    with pytest.raises(ConfigError) as info:
        parse_config("[global]\nscrape_interval = 5\n", "x.toml")
    assert info.value.exit_code == 2


def test_problems_carry_the_line_of_their_key() -> None:
    """Each problem points at the line of its key, or of the nearest key holding it."""
    text = """\
[global]
scrape_interval = "15s"

[[scrape_configs]]
job_name = "a"

[[scrape_configs]]
job_name = "b"
scrape_interval = "15 seconds"
static_configs = [
  { targets = ["localhost"] },
]

[[scrape_configs.relabel_configs]]
action = "hashmod"
target_label = "shard"

[storage.extra]
x = 1
"""
    lines = text.splitlines()

    def line_of(fragment: str) -> int:
        return next(i for i, ln in enumerate(lines, 1) if fragment in ln)

    with pytest.raises(ConfigValidationError) as info:
        parse_config(text, "l.toml")
    got = {p.key: p.line for p in info.value.problems}
    assert got == {
        "scrape_configs[1].scrape_interval": line_of("15 seconds"),
        "scrape_configs[1].static_configs[0].targets[0]": line_of("static_configs = ["),
        "scrape_configs[1].relabel_configs[0].modulus": line_of("[[scrape_configs.relabel"),
        "storage.extra": line_of("[storage.extra]"),
    }
