"""The chunk codec: columns of int64 timestamps and float64 values <-> compact bytes.

A sealed chunk holds one series' samples for one time window. Encoding is
numpy-vectorised end to end (no per-sample Python objects) and lossless to the
bit: NaN payloads, the staleness marker, ±Inf and -0.0 come back exactly.

Layout of a chunk blob (all integers little-endian)::

    byte 0      format version (1)
    bytes 1..   raw DEFLATE stream (zlib, no header) of the *payload*

    payload     int section (timestamps) + float section (values)

An **int section** stores an int64 column as its first value, then the first
difference and the second differences (delta-of-delta), all wrapping modulo
2**64 so that any int64 sequence survives, zigzag-mapped so small magnitudes
are small numbers, then *byte-shuffled*: only the `w` low bytes that the
largest number needs are kept, stored plane by plane (all lowest bytes, then
all next bytes, ...). Regular scrape timestamps give all-zero planes that
DEFLATE shrinks to almost nothing.

A **float section** picks one of two modes per column:

- *decimal*: the values are integers after scaling by 10**k (k = 0..6) for
  nearly all samples (counters, byte gauges, `%.3f` sums). The scaled integers
  are differenced, divided by the GCD of their differences (gauges moving in
  4096-byte pages cost 12 bits less), delta-of-delta'd when that is cheaper,
  and stored as an int section. Samples that do not round-trip bit-exactly
  (staleness markers, NaN, -0.0, ...) are *exceptions*, stored verbatim with
  their positions.
- *xor*: each value's bits XOR the previous value's bits, byte-shuffled (all
  8 planes). Used when decimal scaling does not fit.

The same sections encode rollup blocks (see :func:`encode_columns`).
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence

import numpy as np

from nightowl.errors import CorruptDatabaseError

__all__ = [
    "decode_chunk",
    "decode_columns",
    "encode_chunk",
    "encode_columns",
]

_VERSION = 1
_MODE_XOR = 0
_MODE_DEC = 1
_MAX_SCALE = 6
_EXACT = float(2**53)
_U64 = np.uint64
_LEVEL = 9


def _zigzag(x: np.ndarray) -> np.ndarray:
    """int64 (wrapping) -> uint64 with small magnitudes first."""
    x = x.astype(np.int64, copy=False)
    return ((x << 1) ^ (x >> 63)).view(np.uint64)


def _unzigzag(z: np.ndarray) -> np.ndarray:
    z = z.astype(np.uint64, copy=False)
    return ((z >> _U64(1)) ^ (np.uint64(0) - (z & _U64(1)))).view(np.int64)


def _width(z: np.ndarray) -> int:
    """Bytes needed for the largest uint64 in `z` (0 when all are zero)."""
    if len(z) == 0:
        return 0
    top = int(z.max())
    return (top.bit_length() + 7) // 8


def _shuffle(z: np.ndarray, w: int) -> bytes:
    if w == 0 or len(z) == 0:
        return b""
    planes = np.ascontiguousarray(z.astype("<u8", copy=False)).view(np.uint8).reshape(-1, 8)
    return planes[:, :w].T.tobytes()


def _unshuffle(buf: memoryview, n: int, w: int) -> np.ndarray:
    out = np.zeros((n, 8), dtype=np.uint8)
    if w and n:
        out[:, :w] = np.frombuffer(buf, dtype=np.uint8, count=n * w).reshape(w, n).T
    return out.view("<u8").reshape(n).astype(np.uint64, copy=False)


def _int_cost(z: np.ndarray) -> float:
    """Rough cost in bits of storing zigzagged numbers (for choosing an order)."""
    if len(z) == 0:
        return 0.0
    return float(np.log2(z.astype(np.float64) + 1.0).sum())


class _Writer:
    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def pack(self, fmt: str, *values: int) -> None:
        self.parts.append(struct.pack("<" + fmt, *values))

    def raw(self, data: bytes) -> None:
        self.parts.append(data)

    def uvarint(self, value: int) -> None:
        out = bytearray()
        while value >= 0x80:
            out.append((value & 0x7F) | 0x80)
            value >>= 7
        out.append(value)
        self.parts.append(bytes(out))

    def svarint(self, value: int) -> None:
        self.uvarint((value << 1) ^ (value >> 63) if value < 0 else value << 1)

    def getvalue(self) -> bytes:
        return b"".join(self.parts)


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.buf = memoryview(data)
        self.pos = 0

    def unpack(self, fmt: str) -> tuple[int, ...]:
        fmt = "<" + fmt
        size = struct.calcsize(fmt)
        if self.pos + size > len(self.buf):
            raise ValueError("truncated chunk")
        values = struct.unpack_from(fmt, self.buf, self.pos)
        self.pos += size
        return values

    def uvarint(self) -> int:
        value = shift = 0
        buf = self.buf
        while True:
            if self.pos >= len(buf) or shift > 63:
                raise ValueError("truncated or bad varint")
            byte = buf[self.pos]
            self.pos += 1
            value |= (byte & 0x7F) << shift
            if byte < 0x80:
                return value
            shift += 7

    def svarint(self) -> int:
        z = self.uvarint()
        return (z >> 1) ^ -(z & 1)

    def take(self, size: int) -> memoryview:
        if self.pos + size > len(self.buf):
            raise ValueError("truncated chunk")
        view = self.buf[self.pos : self.pos + size]
        self.pos += size
        return view


def _put_ints(w: _Writer, x: np.ndarray) -> None:
    """Int section: n, first, order, bias, width, shuffled zigzag of differences.

    Order 1 stores first differences minus `bias` (their median: a counter's
    typical increase); order 2 stores the first difference, then second
    differences. Whichever is cheaper wins.
    """
    x = np.ascontiguousarray(x, dtype=np.int64)
    n = len(x)
    w.uvarint(n)
    if n == 0:
        return
    d = np.diff(x.view(np.uint64)).view(np.int64)  # wrapping first differences
    bias = 0
    if len(d) > 2:
        med = np.median(d.astype(np.float64))
        if abs(med) < 2.0**62:
            bias = int(med)
    z1 = _zigzag((d.view(np.uint64) - np.uint64(bias & 0xFFFFFFFFFFFFFFFF)).view(np.int64))
    order, z = 1, z1
    if n > 2:
        dd = np.diff(d.view(np.uint64)).view(np.int64)
        z2 = np.concatenate([_zigzag(d[:1]), _zigzag(dd)])
        if _int_cost(z2) < _int_cost(z1):
            order, z, bias = 2, z2, 0
    width = _width(z)
    w.svarint(int(x[0]))
    w.pack("B", order << 4 | width)
    w.svarint(bias)
    w.raw(_shuffle(z, width))


def _get_ints(r: _Reader) -> np.ndarray:
    n = r.uvarint()
    if n == 0:
        return np.empty(0, np.int64)
    first = r.svarint()
    (packed,) = r.unpack("B")
    order, width = packed >> 4, packed & 0xF
    bias = r.svarint()
    if order not in (1, 2) or width > 8 or not -(2**63) <= first < 2**63:
        raise ValueError("bad int section header")
    z = _unshuffle(r.take((n - 1) * width), n - 1, width)
    d = _unzigzag(z).view(np.uint64)
    if order == 2 and len(d):
        d = np.cumsum(d, dtype=np.uint64)
    elif bias:
        d = d + np.uint64(bias & 0xFFFFFFFFFFFFFFFF)
    signed = np.empty(n, np.int64)
    signed[0] = first
    out = signed.view(np.uint64)
    np.cumsum(d, dtype=np.uint64, out=out[1:])
    out[1:] += out[0]
    return signed


def _decimal_fit(v: np.ndarray) -> tuple[int, np.ndarray, np.ndarray] | None:
    """Best scale k with scaled integers and the mask of samples that round-trip."""
    bits = v.view(np.uint64)
    best: tuple[int, np.ndarray, np.ndarray] | None = None
    best_ok = -1
    with np.errstate(all="ignore"):
        for k in range(_MAX_SCALE + 1):
            scale = 10.0**k
            r = np.rint(v * scale) + 0.0  # -0.0 becomes 0.0 and so fails the check
            ok = (np.abs(r) <= _EXACT) & ((r / scale).view(np.uint64) == bits)
            count = int(ok.sum())
            if count > best_ok:
                best, best_ok = (k, r, ok), count
            if count == len(v):
                break
    if best is None or best_ok * 4 < len(v) * 3:
        return None
    return best


def _put_floats(w: _Writer, v: np.ndarray) -> None:
    v = np.ascontiguousarray(v, dtype=np.float64)
    n = len(v)
    fit = _decimal_fit(v) if n else None
    if fit is None:
        bits = v.view(np.uint64)
        x = bits.copy()
        if n > 1:
            x[1:] ^= bits[:-1]
        w.pack("B", _MODE_XOR)
        w.uvarint(n)
        w.raw(_shuffle(x, 8 if n else 0))
        return
    k, r, ok = fit
    bad = np.flatnonzero(~ok)
    ints = np.zeros(n, np.int64)
    with np.errstate(all="ignore"):
        ints[ok] = r[ok].astype(np.int64)
    if len(bad):
        # Carry the previous good value over exceptions so differences stay small.
        idx = np.where(ok, np.arange(n), -1)
        np.maximum.accumulate(idx, out=idx)
        idx[idx < 0] = int(np.argmax(ok))
        ints = ints[idx]
    d = np.diff(ints)
    g = int(np.gcd.reduce(np.abs(d))) if len(d) else 0
    g = g or 1
    w.pack("B", _MODE_DEC | k << 1)
    w.uvarint(n)
    w.uvarint(g)
    w.uvarint(len(bad))
    if len(bad):
        w.raw(bad.astype("<u4").tobytes())
        w.raw(v.view(np.uint64)[bad].astype("<u8").tobytes())
    # Store ints[0] and the differences divided by g, as an int section.
    base = np.empty(n, np.int64)
    base[0] = ints[0]
    if n > 1:
        base[1:] = d // g
    _put_ints(w, np.cumsum(base, dtype=np.int64) if n > 1 else base)


def _get_floats(r: _Reader) -> np.ndarray:
    (mode,) = r.unpack("B")
    mode, k = mode & 1, mode >> 1
    if mode == _MODE_XOR:
        n = r.uvarint()
        x = _unshuffle(r.take(n * 8), n, 8 if n else 0)
        return np.bitwise_xor.accumulate(x).view(np.float64) if n else np.empty(0, np.float64)
    n, g, nbad = r.uvarint(), r.uvarint(), r.uvarint()
    if k > _MAX_SCALE or g >= 2**64 or nbad > n:
        raise ValueError("bad float section header")
    bad = np.frombuffer(r.take(nbad * 4), dtype="<u4").astype(np.int64)
    raw = np.frombuffer(r.take(nbad * 8), dtype="<u8")
    packed = _get_ints(r)
    if len(packed) != n:
        raise ValueError("value count mismatch")
    if n > 1:
        ints = np.empty(n, np.int64)
        ints[0] = packed[0]
        ints[1:] = np.diff(packed) * np.int64(g)
        np.cumsum(ints, out=ints)
    else:
        ints = packed
    out = ints.astype(np.float64)
    if k:
        out /= 10.0**k
    if nbad:
        out.view(np.uint64)[bad] = raw
    return out


def _pack(payload: bytes) -> bytes:
    c = zlib.compressobj(_LEVEL, zlib.DEFLATED, -15, 9)
    return bytes([_VERSION]) + c.compress(payload) + c.flush()


def _unpack(blob: bytes) -> bytes:
    if not blob or blob[0] != _VERSION:
        raise CorruptDatabaseError("chunk has an unknown format version")
    try:
        return zlib.decompress(memoryview(blob)[1:], -15)
    except zlib.error as exc:
        raise CorruptDatabaseError(f"chunk data is damaged ({exc})") from None


def encode_chunk(timestamps: np.ndarray, values: np.ndarray) -> bytes:
    """Encode one series' samples (timestamps strictly increasing) into a chunk blob."""
    if len(timestamps) != len(values):
        raise ValueError("timestamps and values differ in length")
    w = _Writer()
    _put_ints(w, np.asarray(timestamps, np.int64))
    _put_floats(w, np.asarray(values, np.float64))
    return _pack(w.getvalue())


def decode_chunk(blob: bytes) -> tuple[np.ndarray, np.ndarray]:
    """Decode a chunk blob into (int64 timestamps, float64 values).

    Raises :class:`CorruptDatabaseError` if the blob is damaged.
    """
    r = _Reader(_unpack(blob))
    try:
        ts = _get_ints(r)
        vs = _get_floats(r)
    except (ValueError, struct.error) as exc:
        raise CorruptDatabaseError(f"chunk data is damaged ({exc})") from None
    if len(ts) != len(vs):
        raise CorruptDatabaseError("chunk data is damaged (column lengths differ)")
    return ts, vs


def encode_columns(kinds: str, columns: Sequence[np.ndarray]) -> bytes:
    """Encode equally long columns; `kinds` has "i" (int64) or "f" (float64) per column."""
    if len(kinds) != len(columns):
        raise ValueError("one kind per column")
    w = _Writer()
    for kind, col in zip(kinds, columns, strict=True):
        if kind == "i":
            _put_ints(w, np.asarray(col, np.int64))
        else:
            _put_floats(w, np.asarray(col, np.float64))
    return _pack(w.getvalue())


def decode_columns(kinds: str, blob: bytes) -> list[np.ndarray]:
    """Decode what :func:`encode_columns` wrote with the same `kinds`."""
    r = _Reader(_unpack(blob))
    try:
        return [_get_ints(r) if kind == "i" else _get_floats(r) for kind in kinds]
    except (ValueError, struct.error) as exc:
        raise CorruptDatabaseError(f"rollup data is damaged ({exc})") from None
