"""query.wire: Prometheus's JSON `data` shapes, byte for byte.

The `PROM_*` strings are the `data` members of real Prometheus 2.42 answers (captured
with tests/tools/prom_oracle.py's throwaway server: the series below remote-written, then
queried over HTTP). The suite checks that nightowl's engine, given the same data and
queries, encodes exactly those bytes, and that decoding then encoding reproduces them.
"""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from nightowl.query.engine import Engine
from nightowl.query.values import InstantSample, Matrix, RangeSeries, Scalar, String, Vector
from nightowl.query.wire import (
    WireError,
    decode_data,
    dumps_data,
    encode_data,
    format_timestamp,
    format_value,
    parse_timestamp,
)
from nightowl.store.memory import MemoryStore

from nightowl.model import STALE_NAN, Labels

#: The values of series w{i="00"} ... w{i="15"} (each at 1.5 s, 2.001 s and 62.01 s).
W_VALUES = [
    math.nan, math.inf, -math.inf, 1e-7, 1e21, 0.1, -0.0, 5e-324, 1.7976931348623157e308,
    123456789.123, 1 / 3, -2.5, 100.0, 1e15 + 0.3, 1e-6, 1e20,
]  # fmt: skip
Q_LABEL = 'a"b\\cé\n'
PROM_VECTOR = (
    '{"resultType":"vector","result":[{"metric":{"__name__":"w","i":"00",'
    '"q":"a\\"b\\\\cé\\n"},"value":[62.010,"NaN"]},{"metric":{"__name__":"w","i":"01",'
    '"q":"a\\"b\\\\cé\\n"},"value":[62.010,"+Inf"]},{"metric":{"__name__":"w","i":"02",'
    '"q":"a\\"b\\\\cé\\n"},"value":[62.010,"-Inf"]},{"metric":{"__name__":"w","i":"03",'
    '"q":"a\\"b\\\\cé\\n"},"value":[62.010,"1e-07"]},{"metric":{"__name__":"w","i":"04",'
    '"q":"a\\"b\\\\cé\\n"},"value":[62.010,"1e+21"]},{"metric":{"__name__":"w","i":"05",'
    '"q":"a\\"b\\\\cé\\n"},"value":[62.010,"0.1"]},{"metric":{"__name__":"w","i":"06",'
    '"q":"a\\"b\\\\cé\\n"},"value":[62.010,"-0"]},{"metric":{"__name__":"w","i":"07",'
    '"q":"a\\"b\\\\cé\\n"},"value":[62.010,"5e-324"]},{"metric":{"__name__":"w","i":"08",'
    '"q":"a\\"b\\\\cé\\n"},"value":[62.010,"1.7976931348623157e+308"]},'
    '{"metric":{"__name__":"w","i":"09","q":"a\\"b\\\\cé\\n"},"value":[62.010,'
    '"123456789.123"]},{"metric":{"__name__":"w","i":"10","q":"a\\"b\\\\cé\\n"},'
    '"value":[62.010,"0.3333333333333333"]},{"metric":{"__name__":"w","i":"11",'
    '"q":"a\\"b\\\\cé\\n"},"value":[62.010,"-2.5"]},{"metric":{"__name__":"w","i":"12",'
    '"q":"a\\"b\\\\cé\\n"},"value":[62.010,"100"]},{"metric":{"__name__":"w","i":"13",'
    '"q":"a\\"b\\\\cé\\n"},"value":[62.010,"1000000000000000.2"]},'
    '{"metric":{"__name__":"w","i":"14","q":"a\\"b\\\\cé\\n"},"value":[62.010,"0.000001"]},'
    '{"metric":{"__name__":"w","i":"15","q":"a\\"b\\\\cé\\n"},"value":[62.010,'
    '"100000000000000000000"]}]}'
)
PROM_EMPTY = '{"resultType":"vector","result":[]}'
PROM_SCALAR = '{"resultType":"scalar","result":[62.5,"0.1"]}'
PROM_STRING = '{"resultType":"string","result":[1.5,"a\\"b"]}'
PROM_RANGE = (
    '{"resultType":"matrix","result":[{"metric":{"__name__":"w","i":"00",'
    '"q":"a\\"b\\\\cé\\n"},"values":[[1.500,"NaN"],[2.001,"NaN"],[2.502,"NaN"],[3.003,'
    '"NaN"],[3.504,"NaN"]]},{"metric":{"__name__":"w","i":"01","q":"a\\"b\\\\cé\\n"},'
    '"values":[[1.500,"+Inf"],[2.001,"+Inf"],[2.502,"+Inf"],[3.003,"+Inf"],[3.504,'
    '"+Inf"]]},{"metric":{"__name__":"w","i":"02","q":"a\\"b\\\\cé\\n"},"values":[[1.500,'
    '"-Inf"],[2.001,"-Inf"],[2.502,"-Inf"],[3.003,"-Inf"],[3.504,"-Inf"]]},'
    '{"metric":{"__name__":"w","i":"03","q":"a\\"b\\\\cé\\n"},"values":[[1.500,"1e-07"],'
    '[2.001,"1e-07"],[2.502,"1e-07"],[3.003,"1e-07"],[3.504,"1e-07"]]},'
    '{"metric":{"__name__":"w","i":"04","q":"a\\"b\\\\cé\\n"},"values":[[1.500,"1e+21"],'
    '[2.001,"1e+21"],[2.502,"1e+21"],[3.003,"1e+21"],[3.504,"1e+21"]]},'
    '{"metric":{"__name__":"w","i":"05","q":"a\\"b\\\\cé\\n"},"values":[[1.500,"0.1"],'
    '[2.001,"0.1"],[2.502,"0.1"],[3.003,"0.1"],[3.504,"0.1"]]},{"metric":{"__name__":"w",'
    '"i":"06","q":"a\\"b\\\\cé\\n"},"values":[[1.500,"-0"],[2.001,"-0"],[2.502,"-0"],'
    '[3.003,"-0"],[3.504,"-0"]]}]}'
)
PROM_MATRIX = (
    '{"resultType":"matrix","result":[{"metric":{"__name__":"w","i":"03",'
    '"q":"a\\"b\\\\cé\\n"},"values":[[62.010,"1e-07"]]},{"metric":{"__name__":"w","i":"04",'
    '"q":"a\\"b\\\\cé\\n"},"values":[[62.010,"1e+21"]]},{"metric":{"__name__":"w","i":"05",'
    '"q":"a\\"b\\\\cé\\n"},"values":[[62.010,"0.1"]]},{"metric":{"__name__":"w","i":"06",'
    '"q":"a\\"b\\\\cé\\n"},"values":[[62.010,"-0"]]},{"metric":{"__name__":"w","i":"07",'
    '"q":"a\\"b\\\\cé\\n"},"values":[[62.010,"5e-324"]]},{"metric":{"__name__":"w",'
    '"i":"08","q":"a\\"b\\\\cé\\n"},"values":[[62.010,"1.7976931348623157e+308"]]},'
    '{"metric":{"__name__":"w","i":"09","q":"a\\"b\\\\cé\\n"},"values":[[62.010,'
    '"123456789.123"]]}]}'
)
PROM_VECTOR1 = '{"resultType":"matrix","result":[{"metric":{},"values":[[0,"1"],[1,"1"],[2,"1"]]}]}'
PROM_ESCAPES = (
    '{"resultType":"vector","result":[{"metric":{"__name__":"h",'
    '"v":"\\u003ca\\u0026b\\u003e\\u2028\\u2029\\u0001\\t/\x7f"},"value":[1,"1"]}]}'
)

#: (name, query, params) of each capture above.
CAPTURES = [
    ("VECTOR", "w", {"time": 62.01}),
    ("EMPTY", "w", {"time": -1}),
    ("SCALAR", 'scalar(w{i="05"})', {"time": 62.5}),
    ("STRING", '"a\\"b"', {"time": 1.5}),
    ("RANGE", 'w{i=~"0[0-6]"}', {"start": 1.5, "end": 3.504, "step": 0.501}),
    ("MATRIX", 'w{i=~"0[3-9]"}[1m]', {"time": 62.01}),
    ("VECTOR1", "vector(1)", {"start": 0, "end": 2, "step": 1}),
    ("ESCAPES", "h", {"time": 1}),
]


@pytest.fixture(scope="module")
def engine() -> Engine:
    """The captured data in an in-memory store."""
    store = MemoryStore()
    for i, v in enumerate(W_VALUES):
        labels = Labels.of("w", i=f"{i:02d}", q=Q_LABEL)
        store.add_series(labels, [1500, 2001, 62010], [v, v, v])
    store.add_series(Labels.of("h", v="<a&b>\u2028\u2029\x01\t/\x7f"), [1000], [1.0])
    return Engine(store)


@pytest.mark.parametrize(("name", "query", "params"), CAPTURES, ids=[c[0] for c in CAPTURES])
def test_engine_answer_encodes_as_prometheus(
    engine: Engine, name: str, query: str, params: dict[str, float]
) -> None:
    """The same query over the same data gives Prometheus's `data` bytes."""
    expected = globals()[f"PROM_{name}"]
    if "time" in params:
        result = engine.instant(query, round(params["time"] * 1000))
    else:
        ms = {k: round(v * 1000) for k, v in params.items()}
        result = engine.range(query, ms["start"], ms["end"], ms["step"])
    assert dumps_data(result.value) == expected


@pytest.mark.parametrize("name", [c[0] for c in CAPTURES])
def test_decode_then_encode_is_identity(name: str) -> None:
    """Decoding a Prometheus answer and encoding it again gives the same bytes."""
    text = globals()[f"PROM_{name}"]
    assert dumps_data(decode_data(text)) == text
    assert dumps_data(decode_data(json.loads(text))) == text
    assert encode_data(decode_data(text)) == json.loads(text)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        # value strings Prometheus 2.42 wrote for these floats
        (1e-06, "0.000001"),
        (9.99e-07, "9.99e-07"),
        (1e20, "100000000000000000000"),
        (9.99e20, "999000000000000000000"),
        (1.5e-10, "1.5e-10"),
        (1.2345e22, "1.2345e+22"),
        (1e100, "1e+100"),
        (1e-100, "1e-100"),
        (-1e-07, "-1e-07"),
        (-1e21, "-1e+21"),
        (0.000123, "0.000123"),
        (1e16, "10000000000000000"),
        (1.2345678901234568e20, "123456789012345680000"),
        (2.2250738585072014e-308, "2.2250738585072014e-308"),
        (0.0, "0"),
        (-0.0, "-0"),
        (math.nan, "NaN"),
        (math.inf, "+Inf"),
        (-math.inf, "-Inf"),
        (1e15 + 0.3, "1000000000000000.2"),
    ],
)
def test_format_value_matches_prometheus(value: float, text: str) -> None:
    """Sample values print as Prometheus prints them."""
    assert format_value(value) == text


@pytest.mark.parametrize(
    ("ms", "text"),
    [
        (0, "0"),
        (1500, "1.500"),
        (2001, "2.001"),
        (62010, "62.010"),
        (-1, "-0.001"),
        (-1500, "-1.500"),
    ],
)
def test_format_timestamp(ms: int, text: str) -> None:
    """Timestamps are seconds with three decimals when there is a fraction."""
    assert format_timestamp(ms) == text
    assert parse_timestamp(json.loads(text)) == ms


def test_matrix_drops_stale_markers() -> None:
    """Staleness markers never reach the wire."""
    m = Matrix(
        [RangeSeries(Labels.of("x"), np.array([1000, 2000, 3000]), np.array([1.0, STALE_NAN, 3.0]))]
    )
    assert dumps_data(m) == (
        '{"resultType":"matrix","result":[{"metric":{"__name__":"x"},"values":[[1,"1"],[3,"3"]]}]}'
    )


@pytest.mark.parametrize(
    ("data", "where"),
    [
        ("{", "data: not JSON"),
        ("[]", "data: expected an object"),
        ('{"resultType":"bogus","result":[]}', "data.resultType"),
        ('{"resultType":"vector","result":{}}', "data.result: expected an array"),
        ('{"resultType":"vector","result":[{"metric":{},"value":[1]}]}', "data.result[0].value"),
        (
            '{"resultType":"vector","result":[{"metric":{},"value":[1,2]}]}',
            "data.result[0].value[1]",
        ),
        (
            '{"resultType":"vector","result":[{"metric":{},"value":[1,"x"]}]}',
            "invalid sample value",
        ),
        ('{"resultType":"vector","result":[{"metric":{"a":1},"value":[1,"1"]}]}', "metric.a"),
        ('{"resultType":"vector","result":[{"metric":{},"value":["x","1"]}]}', "value[0]"),
        ('{"resultType":"vector","result":[{"metric":{},"value":[true,"1"]}]}', "value[0]"),
        ('{"resultType":"matrix","result":[{"metric":{},"values":[[1,"1"],3]}]}', "values[1]"),
        (
            '{"resultType":"vector","result":[{"metric":{},"histogram":[1,{}]}]}',
            "native histograms are not supported",
        ),
        ('{"resultType":"scalar","result":[1,1]}', "data.result[1]"),
        ('{"resultType":"string","result":[1,1]}', "data.result[1]"),
    ],
)
def test_decode_rejects_bad_input(data: str, where: str) -> None:
    """Malformed answers raise WireError naming the JSON path."""
    with pytest.raises(WireError, match=re.escape(where)):
        decode_data(data)


finite = st.floats(allow_nan=False)
label_text = st.text(max_size=8)
names = st.from_regex(r"[a-z_]{1,5}", fullmatch=True)


@given(
    st.lists(
        st.tuples(
            st.dictionaries(st.from_regex(r"[a-z_]{1,5}", fullmatch=True), label_text, max_size=3),
            st.integers(-(10**12), 10**13),
            st.one_of(finite, st.just(math.nan)),
        ),
        max_size=5,
    )
)
def test_vector_roundtrip(items: list) -> None:
    """Any vector survives encode -> JSON -> decode exactly (values bit for bit but NaN)."""
    vec = Vector(InstantSample(Labels.from_dict(d), t, v) for d, t, v in items)
    back = decode_data(dumps_data(vec))
    assert isinstance(back, Vector)
    assert len(back) == len(vec)
    for a, b in zip(vec, back, strict=True):
        assert a.labels == b.labels and a.t == b.t
        assert (math.isnan(a.v) and math.isnan(b.v)) or (
            a.v == b.v and math.copysign(1, a.v) == math.copysign(1, b.v)
        )


@given(st.integers(-(10**13), 10**13), finite, st.text(max_size=10))
def test_scalar_string_roundtrip(t: int, v: float, s: str) -> None:
    """Scalars and strings survive the round trip."""
    assert decode_data(dumps_data(Scalar(t, v))) == Scalar(t, v)
    assert decode_data(dumps_data(String(t, s))) == String(t, s)
    json.loads(dumps_data(String(t, s)))  # always valid JSON


@given(st.binary(max_size=60))
def test_decode_never_crashes(blob: bytes) -> None:
    """Arbitrary bytes either decode or raise WireError."""
    try:
        decode_data(blob)
    except WireError:
        pass


def test_scalar_values_are_plain_decimal() -> None:
    """Prometheus writes a scalar answer's value with Go's 'f' format, never an exponent,
    while a vector point of the same value uses the exponent form."""
    from nightowl.query.values import InstantSample, Scalar, Vector
    from nightowl.query.wire import dumps_data

    assert dumps_data(Scalar(62_500, 1e-7)) == (
        '{"resultType":"scalar","result":[62.5,"0.0000001"]}'
    )
    assert dumps_data(Scalar(2_000, 1e21)) == (
        '{"resultType":"scalar","result":[2,"1000000000000000000000"]}'
    )
    assert dumps_data(Scalar(0, float("nan"))) == '{"resultType":"scalar","result":[0,"NaN"]}'
    vec = dumps_data(Vector([InstantSample(Labels(), 62_500, 1e-7)]))
    assert '"1e-07"' in vec
