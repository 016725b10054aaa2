"""Fuzzing the config loader: whatever the text, the only error is a ConfigError."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nightowl.config import (
    ConfigValidationError,
    _join,
    _key_lines,
    _key_parts,
    config_to_toml,
    parse_config,
    schema_key_paths,
)
from nightowl.errors import ConfigError

EXAMPLE = Path(__file__).resolve().parent.parent / "config.example.toml"
EXAMPLE_RAW = tomllib.loads(EXAMPLE.read_text())
KEY_NAMES = sorted({p.rsplit(".", 1)[-1] for p in schema_key_paths()} | {"global", "for"})
SECTIONS = sorted({p.split(".", 1)[0] for p in schema_key_paths()})

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

scalars = st.one_of(
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(
        [
            "15s",
            "1h30m",
            "0",
            "0s",
            "-5s",
            "512MiB",
            "10GB",
            "localhost:9100",
            "[::1]:1",
            "(.*)",
            "(",
            "up",
            "rate(x[5m])",
            "http://a:1/w",
            "/metrics",
            "replace",
            "hashmod",
            "counter",
            "histogram",
            "json",
            "number",
            "$2b$10$" + "a" * 53,
            "a.b[*].c",
        ]
    ),
)
keys = st.one_of(st.sampled_from(KEY_NAMES), st.text(min_size=1, max_size=12))
values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(keys, children, max_size=5)
    ),
    max_leaves=25,
)
documents = st.dictionaries(st.one_of(st.sampled_from(SECTIONS), keys), values, max_size=6)


def _parse(text: str) -> None:
    try:
        config = parse_config(text, "fuzz.toml")
    except ConfigError:
        return
    # Whatever loads must write out and read back to the same thing.
    assert parse_config(config_to_toml(config), "fuzz.toml") == config


@FUZZ
@given(st.text(max_size=300))
def test_arbitrary_text_only_raises_config_error(text: str) -> None:
    """Random text (mostly not TOML) is a ConfigError, never another exception."""
    _parse(text)


@FUZZ
@given(documents)
def test_arbitrary_toml_documents_only_raise_config_error(doc: dict[str, Any]) -> None:
    """Valid TOML with schema-like keys and any values: ConfigError or a Config."""
    _parse(tomli_w.dumps(doc))


def _leaf_paths(obj: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(obj, dict):
        out = [prefix] if prefix else []
        for k, v in obj.items():
            out.extend(_leaf_paths(v, (*prefix, k)))
        return out
    if isinstance(obj, list):
        out = [prefix]
        for i, v in enumerate(obj):
            out.extend(_leaf_paths(v, (*prefix, i)))
        return out
    return [prefix]


EXAMPLE_PATHS = _leaf_paths(EXAMPLE_RAW)


def _replace(obj: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(obj, dict):
        return {k: (_replace(v, rest, value) if k == head else v) for k, v in obj.items()}
    return [(_replace(v, rest, value) if i == head else v) for i, v in enumerate(obj)]


@FUZZ
@given(st.lists(st.tuples(st.sampled_from(EXAMPLE_PATHS), values), min_size=1, max_size=3))
def test_mutated_example_only_raises_config_error(edits: list[tuple[tuple[Any, ...], Any]]) -> None:
    """The full example with a few values swapped for junk reaches every validator."""
    doc: Any = EXAMPLE_RAW
    for path, value in edits:
        try:
            doc = _replace(doc, path, value)
        except (IndexError, TypeError):
            continue
    _parse(tomli_w.dumps(doc))


def test_problems_in_a_mutated_example_name_the_mutated_key() -> None:
    """A bad value deep inside the example is reported at its own key path."""
    doc = _replace(EXAMPLE_RAW, ("scrape_configs", 1, "static_configs", 0, "targets", 0), "nope")
    try:
        parse_config(tomli_w.dumps(doc), "m.toml")
    except ConfigValidationError as exc:
        assert [p.key for p in exc.problems] == ["scrape_configs[1].static_configs[0].targets[0]"]
    else:
        raise AssertionError("a bad target was accepted")


def _table_paths(doc: dict[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """(key path, key) reachable through tables only (tomli_w writes `key =` or headers)."""
    out = []
    for k, v in doc.items():
        p = _join(prefix, k)
        out.append((p, k))
        if isinstance(v, dict):
            out.extend(_table_paths(v, p))
    return out


@FUZZ
@given(documents)
def test_key_lines_point_at_the_key(doc: dict[str, Any]) -> None:
    """Every key reachable through tables is located, on a line that names it."""
    text = tomli_w.dumps(doc)
    lines = text.split("\n")
    located = _key_lines(text)
    for path, key in _table_paths(doc):
        assert path in located, (path, text)
        assert key in _key_parts(lines[located[path] - 1].split("=")[0].strip("[] ")) or (
            tomli_w.dumps({key: 0}).split(" = ")[0] in lines[located[path] - 1]
        ), (path, located[path], text)
