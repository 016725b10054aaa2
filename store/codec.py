"""The chunk codec: columns of int64 timestamps and float64 values <-> compact bytes.

A sealed chunk holds one series' samples for one time window. Encoding is
numpy-vectorised end to end (no per-sample Python objects) and lossless to the
bit: NaN payloads, the staleness marker, ±Inf and -0.0 come back exactly.

Layout of a chunk blob (all integers little-endian)::

    byte 0      format version (1)
    bytes 1..   raw DEFLATE stream (zlib, no header) of the *payload*

    payload     int section (timestamps) + float section (values)

An **int section** stores an int64 column as its first value, then either
its first differences (order 1) or the first difference and the second
differences (order 2, delta-of-delta), whichever is cheaper, all wrapping
modulo 2**64 so that any int64 sequence survives. Value columns divide the
differences by their GCD first. The stored numbers are zigzagged offsets from
their median, *byte-shuffled*: only the `w` low bytes that
the largest offset needs are kept, stored plane by plane (all lowest bytes,
then all next bytes, ...). Regular scrape timestamps give all-zero planes
that DEFLATE shrinks to almost nothing. Header integers are varints.

A **float section** picks one of two modes per column:

- *decimal*: the values are integers after scaling by 10**k (k = 0..6) for
  nearly all samples (counters, byte gauges, `%.3f` sums). The scaled integers
  are stored as an int section (with the GCD of their differences divided
  out: gauges moving in 4096-byte pages cost 12 bits less). Samples that do
  not round-trip bit-exactly (staleness markers, NaN, -0.0, ...) are
  *exceptions*, stored verbatim with their positions.
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
_POW10 = [10.0**k for k in range(_MAX_SCALE + 1)]
_EXACT = float(2**53)
_U64 = np.uint64
_MASK = 0xFFFFFFFFFFFFFFFF
#: Zigzag decoding of every 16-bit number, as uint64 (two's complement).
_Z16 = np.arange(65536, dtype=np.uint64)
_UNZIGZAG16 = (_Z16 >> np.uint64(1)) ^ (np.uint64(0) - (_Z16 & np.uint64(1)))
del _Z16
_LEVEL = 9


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
        buf = self.buf
        pos = self.pos
        if pos < len(buf) and buf[pos] < 0x80:  # fast path: one byte
            self.pos = pos + 1
            return buf[pos]
        value = shift = 0
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


def _put_ints(w: _Writer, x: np.ndarray, *, scale: bool = False) -> None:
    """Int section: n, first, g, order|width, base, [d1], byte planes.

    The first differences (wrapping) are divided by their GCD `g` when `scale`
    is set (value columns; timestamps keep g = 1). Order 1 stores those
    differences, order 2 the first one (`d1`) and then second differences;
    the cheaper wins. Either way the stored numbers are zigzagged offsets from
    their median (`base`), so a counter's typical increase or a jittered
    scrape interval costs only its spread.
    """
    x = np.ascontiguousarray(x, dtype=np.int64)
    n = len(x)
    w.uvarint(n)
    if n == 0:
        return
    w.svarint(int(x[0]))
    d = np.diff(x.view(np.uint64)).view(np.int64)  # wrapping first differences
    g = 1
    if scale and len(d):
        g = int(np.gcd.reduce(np.abs(d))) or 1
        if g > 1:
            d = d // g
    w.uvarint(g)
    if n == 1:
        return
    order = 1
    z, base = _offsets(d)
    if n > 2:
        dd = np.diff(d.view(np.uint64)).view(np.int64)
        z2, base2 = _offsets(dd)
        if _int_cost(z2) < _int_cost(z):
            order, z, base = 2, z2, base2
    width = _width(z)
    w.pack("B", order << 4 | width)
    w.svarint(base)
    if order == 2:
        w.svarint(int(d[0]))
    w.raw(_shuffle(z, width))


def _offsets(a: np.ndarray) -> tuple[np.ndarray, int]:
    """Zigzag of (a - median(a)) as uint64 (wrapping), and the median.

    Centring on the median and zigzagging keeps the typical numbers small, so
    the lowest byte plane carries most of the information and the others
    are nearly constant.
    """
    k = len(a) // 2
    base = int(np.partition(a, k)[k])  # the median (upper one for even lengths)
    x = (a.view(np.uint64) - np.uint64(base & _MASK)).view(np.int64)
    return ((x << 1) ^ (x >> 63)).view(np.uint64), base


def _unshuffle_into(dst: np.ndarray, buf: memoryview, m: int, w: int) -> None:
    """Fill uint64 `dst` (length m) from `w` byte planes."""
    if w == 0:
        dst[:] = 0
        return
    planes = np.frombuffer(buf, dtype=np.uint8, count=m * w).reshape(w, m)
    if w <= 3:
        dst[:] = planes[0]
        for j in range(1, w):
            dst |= planes[j].astype(np.uint64) << np.uint64(8 * j)
        return
    tmp = np.zeros((m, 8), dtype=np.uint8)
    tmp[:, :w] = planes.T
    dst[:] = tmp.view("<u8").reshape(m)


def _get_ints(r: _Reader) -> np.ndarray:
    n = r.uvarint()
    if n == 0:
        return np.empty(0, np.int64)
    first = r.svarint()
    g = r.uvarint()
    if not -(2**63) <= first < 2**63 or not 1 <= g < 2**64:
        raise ValueError("bad int section header")
    out = np.empty(n, np.uint64)
    out[0] = first & _MASK
    if n == 1:
        return out.view(np.int64)
    (packed,) = r.unpack("B")
    order, width = packed >> 4, packed & 0xF
    base = r.svarint()
    if order not in (1, 2) or width > 8 or (order == 2 and n < 3):
        raise ValueError("bad int section header")
    if order == 1:
        body = out[1:]
    else:
        out[1] = r.svarint() & _MASK
        body = out[2:]
    m = len(body)
    raw = r.take(m * width)
    if width == 0:
        body.fill(base & _MASK)
    elif width <= 2:
        # Small numbers: undo byte planes and zigzag with one table lookup.
        planes = np.frombuffer(raw, dtype=np.uint8, count=m * width).reshape(width, m)
        if width == 1:
            np.take(_UNZIGZAG16, planes[0], out=body)
        else:
            idx = planes[1].astype(np.intp) << 8
            idx |= planes[0]
            np.take(_UNZIGZAG16, idx, out=body)
        if base:
            body += np.uint64(base & _MASK)
    else:
        _unshuffle_into(body, raw, m, width)
        # Undo the zigzag, then add the base back (all modulo 2**64).
        sign = body & np.uint64(1)
        body >>= np.uint64(1)
        body ^= np.uint64(0) - sign
        if base:
            body += np.uint64(base & _MASK)
    if order == 2:
        np.cumsum(out[1:], out=out[1:])
    if g != 1:
        out[1:] *= np.uint64(g)
    np.cumsum(out, out=out)
    return out.view(np.int64)


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
    w.pack("B", _MODE_DEC | k << 1)
    w.uvarint(len(bad))
    if len(bad):
        w.raw(bad.astype("<u4").tobytes())
        w.raw(v.view(np.uint64)[bad].astype("<u8").tobytes())
    _put_ints(w, ints, scale=True)


def _get_floats(r: _Reader) -> np.ndarray:
    (mode,) = r.unpack("B")
    mode, k = mode & 1, mode >> 1
    if mode == _MODE_XOR:
        n = r.uvarint()
        x = np.empty(n, np.uint64)
        _unshuffle_into(x, r.take(n * 8), n, 8)
        return np.bitwise_xor.accumulate(x).view(np.float64) if n else np.empty(0, np.float64)
    nbad = r.uvarint()
    if k > _MAX_SCALE or nbad >= 2**32:
        raise ValueError("bad float section header")
    if nbad:
        bad = np.frombuffer(r.take(nbad * 4), dtype="<u4").astype(np.int64)
        raw = np.frombuffer(r.take(nbad * 8), dtype="<u8")
    ints = _get_ints(r)
    out = ints.astype(np.float64)
    if k:
        out /= _POW10[k]
    if nbad:
        if int(bad.max()) >= len(ints):
            raise ValueError("exception position out of range")
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
