"""Prometheus remote-write 1.0 wire format, encoded by hand (no protoc).

The messages (from Prometheus's `prompb/types.proto` and `remote.proto`)::

    WriteRequest { repeated TimeSeries timeseries = 1; }
    TimeSeries   { repeated Label labels = 1; repeated Sample samples = 2; }
    Label        { string name = 1; string value = 2; }
    Sample       { double value = 1; int64 timestamp = 2; }

A request body is the serialised `WriteRequest`, snappy block-compressed.
Samples are encoded for a whole batch at once with numpy (a Sample is at most
22 bytes: tag, length, tag, 8 value bytes, tag, varint of up to 10 bytes), so
the per-series Python work is one bytes join. Values go out as their float64
bit pattern, so Prometheus's staleness marker (a NaN payload) arrives intact.

:func:`decode_write_request` is the inverse, for tests and debugging.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

import cramjam
import numpy as np

__all__ = [
    "compress",
    "decode_write_request",
    "decompress",
    "encode_labels",
    "encode_samples",
    "encode_timeseries",
    "varint",
]

_SHIFTS = np.arange(0, 70, 7, dtype=np.uint64)[:10]
_THRESHOLDS = np.array([1 << (7 * k) for k in range(1, 10)], dtype=np.uint64)


def varint(n: int) -> bytes:
    """Protobuf base-128 varint of a non-negative int (negative: as uint64, 10 bytes)."""
    if n < 0:
        n &= (1 << 64) - 1
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _string_field(tag: int, text: str) -> bytes:
    data = text.encode()
    return bytes((tag,)) + varint(len(data)) + data


def encode_labels(pairs: Sequence[tuple[str, str]]) -> bytes:
    """The `labels` fields of a TimeSeries (pairs must be sorted by name)."""
    parts = []
    for name, value in pairs:
        label = _string_field(0x0A, name) + _string_field(0x12, value)
        parts.append(b"\x0a" + varint(len(label)) + label)
    return b"".join(parts)


def encode_samples(timestamps: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Encode `samples` fields (tag 2, length-delimited Sample) for every sample.

    Returns the bytes as a uint8 array and the start offset of each sample's
    record (length n + 1: the last entry is the total size), so the records of
    samples i..j are ``buf[offsets[i]:offsets[j]]``.
    """
    ts = np.ascontiguousarray(timestamps, dtype=np.int64).view(np.uint64)
    vals = np.ascontiguousarray(values, dtype=np.float64)
    n = len(ts)
    vlen = np.ones(n, dtype=np.int64)
    for threshold in _THRESHOLDS:
        vlen += ts >= threshold
    size = 12 + vlen  # 0x12, len, 0x09, 8 value bytes, 0x10, varint
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(size, out=offsets[1:])
    buf = np.zeros(int(offsets[-1]), dtype=np.uint8)
    start = offsets[:-1]
    buf[start] = 0x12
    buf[start + 1] = (10 + vlen).astype(np.uint8)
    buf[start + 2] = 0x09
    buf[start[:, None] + np.arange(3, 11)] = vals.view(np.uint8).reshape(n, 8)
    buf[start + 11] = 0x10
    for k in range(10):
        mask = vlen > k
        if not mask.any():
            break
        chunk = (ts[mask] >> _SHIFTS[k]) & np.uint64(0x7F)
        more = vlen[mask] > k + 1
        chunk |= more.astype(np.uint64) << np.uint64(7)
        buf[start[mask] + 12 + k] = chunk.astype(np.uint8)
    return buf, offsets


def encode_timeseries(label_bytes: bytes, sample_bytes: bytes) -> bytes:
    """One `timeseries` field of a WriteRequest from encoded labels and samples."""
    body_len = len(label_bytes) + len(sample_bytes)
    return b"\x0a" + varint(body_len) + label_bytes + sample_bytes


def compress(body: bytes) -> bytes:
    """Snappy block format, as remote write wants (not the framed format)."""
    return bytes(cramjam.snappy.compress_raw(body))


def decompress(body: bytes) -> bytes:
    """Inverse of :func:`compress`; raises ValueError on bad input."""
    try:
        return bytes(cramjam.snappy.decompress_raw(body))
    except cramjam.DecompressionError as exc:
        raise ValueError(f"bad snappy block: {exc}") from None


# -- decoding --------------------------------------------------------------------------


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    result = 0
    shift = 0
    while True:
        if pos >= len(data):
            raise ValueError("truncated varint")
        b = data[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")


def _fields(data: bytes) -> list[tuple[int, int, object]]:
    """(field number, wire type, value) of each field of one message."""
    out: list[tuple[int, int, object]] = []
    pos = 0
    while pos < len(data):
        key, pos = _read_varint(data, pos)
        num, wire = key >> 3, key & 7
        value: object
        if wire == 0:
            value, pos = _read_varint(data, pos)
        elif wire == 1:
            if pos + 8 > len(data):
                raise ValueError("truncated fixed64")
            value = data[pos : pos + 8]
            pos += 8
        elif wire == 2:
            length, pos = _read_varint(data, pos)
            if pos + length > len(data):
                raise ValueError("truncated length-delimited field")
            value = data[pos : pos + length]
            pos += length
        elif wire == 5:
            value = data[pos : pos + 4]
            pos += 4
        else:
            raise ValueError(f"unsupported wire type {wire}")
        out.append((num, wire, value))
    return out


def decode_write_request(
    body: bytes,
) -> list[tuple[list[tuple[str, str]], list[tuple[int, float]]]]:
    """Decode an uncompressed WriteRequest into (labels, [(timestamp, value)]) per series.

    Raises ValueError on malformed input.
    """
    series = []
    for num, wire, ts_raw in _fields(body):
        if num != 1 or wire != 2:
            continue
        labels: list[tuple[str, str]] = []
        samples: list[tuple[int, float]] = []
        for fnum, fwire, raw in _fields(ts_raw):  # type: ignore[arg-type]
            if fwire != 2:
                continue
            sub = _fields(raw)  # type: ignore[arg-type]
            if fnum == 1:
                name = value = ""
                for n, _, v in sub:
                    if n == 1:
                        name = bytes(v).decode()  # type: ignore[arg-type]
                    elif n == 2:
                        value = bytes(v).decode()  # type: ignore[arg-type]
                labels.append((name, value))
            elif fnum == 2:
                t, val = 0, 0.0
                for n, w, v in sub:
                    if n == 1 and w == 1:
                        val = struct.unpack("<d", v)[0]  # type: ignore[arg-type]
                    elif n == 2 and w == 0:
                        t = v if v < (1 << 63) else v - (1 << 64)  # type: ignore[operator]
                samples.append((t, val))
        series.append((labels, samples))
    return series
