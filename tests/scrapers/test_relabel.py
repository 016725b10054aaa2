"""Relabeling: one table row per action and edge case, as Prometheus behaves."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st
from nightowl.scrapers.relabel import ACTIONS, RelabelRule, compile_rules, expand, relabel

from nightowl.errors import ConfigError

BASE = {"__name__": "http_requests_total", "job": "api", "instance": "10.0.0.1:9100", "a": "foo"}

CASES = [
    # (name, rules, input, expected output or None for dropped)
    (
        "replace defaults copy the joined source labels",
        [{"source_labels": ["job", "a"], "target_label": "both"}],
        BASE,
        {**BASE, "both": "api;foo"},
    ),
    (
        "replace with groups and separator",
        [
            {
                "source_labels": ["instance"],
                "regex": "([^:]+):(\\d+)",
                "target_label": "host",
                "replacement": "${1}-$2",
            }
        ],
        BASE,
        {**BASE, "host": "10.0.0.1-9100"},
    ),
    (
        "replace: regex is anchored, so a partial match does nothing",
        [{"source_labels": ["a"], "regex": "fo", "target_label": "x", "replacement": "y"}],
        BASE,
        BASE,
    ),
    (
        "replace: an empty result deletes the target label",
        [{"source_labels": ["missing"], "target_label": "a"}],
        BASE,
        {k: v for k, v in BASE.items() if k != "a"},
    ),
    (
        "replace: $1x is the group named 1x (empty), as in Go",
        [{"source_labels": ["a"], "regex": "(.*)", "target_label": "x", "replacement": "$1x"}],
        BASE,
        BASE,
    ),
    (
        "replace: $$ is a literal dollar",
        [{"source_labels": ["a"], "target_label": "x", "replacement": "$$1"}],
        BASE,
        {**BASE, "x": "$1"},
    ),
    (
        "replace: target_label may use groups",
        [{"source_labels": ["a"], "regex": "(f)oo", "target_label": "t_$1", "replacement": "v"}],
        BASE,
        {**BASE, "t_f": "v"},
    ),
    (
        "replace: named groups",
        [
            {
                "source_labels": ["instance"],
                "regex": "(?P<ip>[^:]+):.*",
                "target_label": "ip",
                "replacement": "$ip",
            }
        ],
        BASE,
        {**BASE, "ip": "10.0.0.1"},
    ),
    ("keep matching", [{"action": "keep", "source_labels": ["job"], "regex": "api"}], BASE, BASE),
    ("keep not matching", [{"action": "keep", "source_labels": ["job"], "regex": "a"}], BASE, None),
    ("drop matching", [{"action": "drop", "source_labels": ["a"], "regex": "foo|bar"}], BASE, None),
    ("drop not matching", [{"action": "drop", "source_labels": ["a"], "regex": "bar"}], BASE, BASE),
    (
        "drop on a missing label matches the empty string",
        [{"action": "drop", "source_labels": ["nope"], "regex": ""}],
        BASE,
        None,
    ),
    (
        "keepequal keeps equal values",
        [{"action": "keepequal", "source_labels": ["a"], "target_label": "b"}],
        {**BASE, "b": "foo"},
        {**BASE, "b": "foo"},
    ),
    (
        "keepequal drops different values",
        [{"action": "keepequal", "source_labels": ["a"], "target_label": "job"}],
        BASE,
        None,
    ),
    (
        "dropequal drops equal values",
        [{"action": "dropequal", "source_labels": ["a"], "target_label": "b"}],
        {**BASE, "b": "foo"},
        None,
    ),
    (
        "dropequal keeps different values",
        [{"action": "dropequal", "source_labels": ["a"], "target_label": "job"}],
        BASE,
        BASE,
    ),
    (
        "labelmap copies matching names",
        [{"action": "labelmap", "regex": "__meta_kube_(.+)"}],
        {"__meta_kube_pod": "p1", "__meta_kube_ns": "default", "x": "1"},
        {
            "__meta_kube_pod": "p1",
            "__meta_kube_ns": "default",
            "x": "1",
            "pod": "p1",
            "ns": "default",
        },
    ),
    (
        "labeldrop",
        [{"action": "labeldrop", "regex": "a|instance"}],
        BASE,
        {"__name__": "http_requests_total", "job": "api"},
    ),
    (
        "labelkeep",
        [{"action": "labelkeep", "regex": "__name__|job"}],
        BASE,
        {"__name__": "http_requests_total", "job": "api"},
    ),
    (
        "lowercase",
        [{"action": "lowercase", "source_labels": ["u"], "target_label": "l"}],
        {"u": "MiXeD"},
        {"u": "MiXeD", "l": "mixed"},
    ),
    (
        "uppercase",
        [{"action": "uppercase", "source_labels": ["u"], "target_label": "u"}],
        {"u": "MiXeD"},
        {"u": "MIXED"},
    ),
    (
        "rules apply in order",
        [
            {"source_labels": ["a"], "target_label": "b"},
            {"action": "keep", "source_labels": ["b"], "regex": "foo"},
            {"action": "labeldrop", "regex": "a"},
        ],
        BASE,
        {"__name__": "http_requests_total", "job": "api", "instance": "10.0.0.1:9100", "b": "foo"},
    ),
]


@pytest.mark.parametrize(
    ("name", "rules", "given_labels", "expected"), CASES, ids=[c[0] for c in CASES]
)
def test_relabel_table(name: str, rules: list, given_labels: dict, expected: dict | None) -> None:
    """Each action behaves as Prometheus's relabel package."""
    compiled = compile_rules(rules)
    assert relabel(given_labels, compiled) == expected


def test_hashmod_matches_prometheus() -> None:
    """hashmod uses the last 8 bytes of the MD5 (big endian), as Prometheus does."""
    import hashlib

    rule = RelabelRule.from_config(
        {"action": "hashmod", "source_labels": ["instance"], "modulus": 8, "target_label": "shard"}
    )
    out = relabel({"instance": "10.0.0.1:9100"}, [rule])
    digest = hashlib.md5(b"10.0.0.1:9100").digest()
    assert out is not None
    assert out["shard"] == str(int.from_bytes(digest[8:], "big") % 8)
    shards = {relabel({"instance": f"h{i}"}, [rule])["shard"] for i in range(200)}  # type: ignore[index]
    assert shards == {str(i) for i in range(8)}


def test_relabel_does_not_mutate_input() -> None:
    """relabel works on a copy."""
    labels = dict(BASE)
    relabel(labels, compile_rules([{"action": "labeldrop", "regex": ".*"}]))
    assert labels == BASE


@pytest.mark.parametrize(
    ("cfg", "fragment"),
    [
        ({"action": "explode"}, "unknown relabel action"),
        ({"regex": "("}, "invalid regex"),
        ({"action": "hashmod", "source_labels": ["a"], "target_label": "b"}, "modulus"),
        ({"action": "replace", "source_labels": ["a"]}, "target_label"),
        ({"action": "lowercase", "source_labels": ["a"], "target_label": "1bad"}, "invalid"),
        ({"action": "labeldrop", "regex": "a", "source_labels": ["x"]}, "only takes 'regex'"),
        (
            {"action": "keepequal", "source_labels": ["a"], "target_label": "b", "regex": "x"},
            "takes only",
        ),
    ],
)
def test_bad_rules_name_where(cfg: dict, fragment: str) -> None:
    """Invalid rules raise ConfigError naming the rule's position."""
    with pytest.raises(ConfigError) as err:
        compile_rules(
            [{"action": "labeldrop", "regex": "x"}, cfg], "scrape_configs[0].relabel_configs"
        )
    assert fragment in str(err.value)
    assert "scrape_configs[0].relabel_configs[1]" in str(err.value)


def test_rules_from_config_dataclasses() -> None:
    """Rules compile from nightowl.config's RelabelConfig too."""
    from nightowl.config import RelabelConfig

    rules = compile_rules(
        [RelabelConfig(source_labels=("a",), target_label="b", replacement="x-$1")]
    )
    assert relabel({"a": "1"}, rules) == {"a": "1", "b": "x-1"}


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("$1", "ab"),
        ("${1}x", "abx"),
        ("$1x", ""),
        ("${name}", "c"),
        ("$name-$2", "c-c"),
        ("$$", "$"),
        ("$9", ""),
        ("${bad-name}", "${bad-name}"),
        ("a$", "a$"),
        ("${}", "${}"),
    ],
)
def test_expand_like_go(template: str, expected: str) -> None:
    """Template expansion follows Go's Regexp.Expand."""
    m = re.fullmatch(r"(ab)(?P<name>c)", "abc")
    assert m is not None
    assert expand(template, m) == expected


@given(st.text(max_size=30), st.text(max_size=30))
def test_expand_never_crashes(template: str, value: str) -> None:
    """Any template expands against any match without raising."""
    m = re.fullmatch(r"(?s:(.*))", value)
    assert m is not None
    assert isinstance(expand(template, m), str)


_label_names = st.sampled_from(["__name__", "job", "instance", "a", "b", "__meta_x", "__address__"])
_label_dicts = st.dictionaries(_label_names, st.text(max_size=8), max_size=6)
_rules = st.fixed_dictionaries(
    {
        "action": st.sampled_from(sorted(ACTIONS)),
        "source_labels": st.lists(_label_names, max_size=3),
        "regex": st.sampled_from(["(.*)", "a.*", "(?P<x>[^_]*)_(.*)", "", "__meta_(.+)", "b|job"]),
        "target_label": st.sampled_from(["t", "job", "__address__", "a"]),
        "replacement": st.sampled_from(["$1", "${1}x", "$x-$2", "", "lit", "$$"]),
        "modulus": st.integers(1, 16),
    }
)


@given(st.lists(_rules, max_size=5), _label_dicts)
def test_any_valid_rule_list_never_crashes(rules: list[dict], labels: dict[str, str]) -> None:
    """Whatever valid rules do, relabeling returns labels or None and never raises."""
    compiled = []
    for cfg in rules:
        try:
            compiled.append(RelabelRule.from_config(cfg))
        except ConfigError:
            continue
    out = relabel(labels, compiled)
    assert out is None or all(isinstance(k, str) and isinstance(v, str) for k, v in out.items())
