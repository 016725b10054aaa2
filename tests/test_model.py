"""Tests for nightowl.model: labels, matchers, staleness markers, batches."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from nightowl.model import (
    STALE_NAN,
    Labels,
    Matcher,
    MatchOp,
    Sample,
    SampleBatch,
    is_stale,
    stale_mask,
)


def test_labels_sorted_hashable_and_drop_empty() -> None:
    """Labels sort their pairs, drop empty values and compare by content."""
    a = Labels.of("up", job="api", instance="h:1", empty="")
    b = Labels([("job", "api"), ("__name__", "up"), ("instance", "h:1")])
    assert a == b and hash(a) == hash(b)
    assert a.name == "up"
    assert a.get("empty") == ""
    assert str(a) == 'up{instance="h:1", job="api"}'
    assert a.without_name().name == ""
    assert a.with_(job="web").get("job") == "web"
    assert a.keep("job") == Labels([("job", "api")])


def test_label_value_escaping() -> None:
    """Quotes, backslashes and newlines are escaped in the text form."""
    assert str(Labels.of("m", a='x"y\\z\n')) == 'm{a="x\\"y\\\\z\\n"}'


@pytest.mark.parametrize(
    ("op", "pattern", "value", "expected"),
    [
        (MatchOp.EQ, "a", "a", True),
        (MatchOp.EQ, "a", "b", False),
        (MatchOp.NE, "a", "b", True),
        (MatchOp.RE, "a.*", "abc", True),
        (MatchOp.RE, "a.*", "babc", False),  # fully anchored
        (MatchOp.RE, "a|b", "ab", False),
        (MatchOp.NRE, "a.*", "babc", True),
        (MatchOp.EQ, "", "", True),  # a missing label has the value ""
        (MatchOp.RE, ".*", "", True),
        (MatchOp.RE, "a.b", "a\nb", True),  # . matches newline, as in RE2's s flag
    ],
)
def test_matcher(op: MatchOp, pattern: str, value: str, expected: bool) -> None:
    """Each operator, with regexes anchored at both ends."""
    assert Matcher("l", op, pattern).matches(value) is expected


def test_bad_regex_fails_at_construction() -> None:
    """A malformed regex raises when the matcher is built, not when it is used."""
    with pytest.raises(re.error):
        Matcher("l", MatchOp.RE, "(")


def test_stale_marker_is_distinct_from_nan() -> None:
    """The staleness marker is one NaN bit pattern; an ordinary NaN is not stale."""
    assert math.isnan(STALE_NAN) and is_stale(STALE_NAN)
    assert not is_stale(float("nan"))
    assert not is_stale(1.0)
    mask = stale_mask(np.array([STALE_NAN, float("nan"), 0.0, -math.inf]))
    assert mask.tolist() == [True, False, False, False]


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["a", "b", "c"]), st.integers(0, 10**12), st.floats(allow_nan=True)
        ),
        max_size=50,
    )
)
def test_batch_roundtrip(rows: list[tuple[str, int, float]]) -> None:
    """A batch built from samples iterates back the same samples in order."""
    samples = [Sample(Labels.of(n), t, v) for n, t, v in rows]
    batch = SampleBatch.from_samples(samples)
    assert len(batch) == len(samples)
    back = list(batch)
    assert [(s.labels, s.t) for s in back] == [(s.labels, s.t) for s in samples]
    for x, y in zip(back, samples, strict=True):
        assert (math.isnan(x.v) and math.isnan(y.v)) or x.v == y.v
    assert len(batch.series) == len({s.labels for s in samples})


@pytest.mark.parametrize(
    ("text", "quoted"),
    [
        ("plain", '"plain"'),
        ('a"b\\c', '"a\\"b\\\\c"'),
        ("l1\nl2\tx\ry", '"l1\\nl2\\tx\\ry"'),
        ("\x01\x7f", '"\\x01\\x7f"'),
        ("\a\b\f\v", '"\\a\\b\\f\\v"'),
        ("é ünïcode", '"é ünïcode"'),
        ("\xa0", '"\\u00a0"'),
        (b"\xff".decode("utf-8", "surrogateescape"), '"\\xff"'),
    ],
)
def test_go_quote(text: str, quoted: str) -> None:
    """Strings are quoted as Go's strconv.Quote does, as Prometheus's messages show them."""
    from nightowl.model import go_quote

    assert go_quote(text) == quoted
