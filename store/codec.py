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

Reading many chunks at once (:func:`decode_chunks`) parses only the small
headers chunk by chunk; the byte planes, zigzag, bases, GCD scaling, the
running sums of the differences and the XOR chains of *all* chunks are undone
together with a few numpy passes over the concatenated payloads (segmented
prefix sums: a global cumsum minus its value just before each segment, exact
modulo 2**64; likewise for XOR). :func:`decode_chunk` is the one-chunk
reference path and the two must agree bit for bit.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence

import numpy as np

from nightowl.errors import CorruptDatabaseError

__all__ = [
    "decode_chunk",
    "decode_chunks",
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


# -- batch decoding ----------------------------------------------------------------------------

#: Largest sample count a chunk header may claim (a 4 h window at 1 ms is 14.4 M).
_MAX_CHUNK_SAMPLES = 1 << 26


def _uv(buf: bytes, pos: int) -> tuple[int, int]:
    """An unsigned varint at `pos` of `buf`, and the position after it."""
    try:
        byte = buf[pos]
        if byte < 0x80:
            return byte, pos + 1
        value = byte & 0x7F
        shift = 7
        while True:
            pos += 1
            byte = buf[pos]
            value |= (byte & 0x7F) << shift
            if byte < 0x80:
                return value, pos + 1
            shift += 7
            if shift > 63:
                raise ValueError("bad varint")
    except IndexError:
        raise ValueError("truncated varint") from None


def _sv(buf: bytes, pos: int) -> tuple[int, int]:
    z, pos = _uv(buf, pos)
    return (z >> 1) ^ -(z & 1), pos


class _Column:
    """Headers of the int sections that make up one concatenated int64 column.

    The sections tile the column back to back. A section of one sample (or a
    placeholder for an XOR float section, whose slots are filled elsewhere)
    has order 0 and width 0: only its first value is set.
    """

    def __init__(self) -> None:
        #: Per section: (n, order, width, body offset in the joined payloads, base, g,
        #: first value); base and first as uint64 bit patterns.
        self.rows: list[tuple[int, int, int, int, int, int, int]] = []
        self.d1: list[int] = []  # first difference of order-2 sections, in section order

    def placeholder(self, n: int) -> None:
        self.rows.append((n, 0, 0, 0, 0, 1, 0))

    def parse(self, buf: bytes, pos: int, base_off: int) -> tuple[int, int]:
        """Parse the int section at `pos` of `buf`; returns (samples, position after it)."""
        n, pos = _uv(buf, pos)
        if n == 0:
            return 0, pos
        if n > _MAX_CHUNK_SAMPLES:
            raise ValueError("implausible sample count")
        first, pos = _sv(buf, pos)
        # One-byte varints (the usual GCD, base and first difference) inline.
        g = buf[pos] if pos < len(buf) else 0x80
        if g < 0x80:
            pos += 1
        else:
            g, pos = _uv(buf, pos)
        if not -(2**63) <= first < 2**63 or not 1 <= g < 2**64:
            raise ValueError("bad int section header")
        if n == 1:
            self.rows.append((1, 0, 0, 0, 0, 1, first & _MASK))
            return 1, pos
        if pos + 1 >= len(buf):
            raise ValueError("truncated chunk")
        packed = buf[pos]
        order, width = packed >> 4, packed & 0xF
        z = buf[pos + 1]
        if z < 0x80:
            base = (z >> 1) ^ -(z & 1)
            pos += 2
        else:
            base, pos = _sv(buf, pos + 1)
        if order not in (1, 2) or width > 8 or (order == 2 and n < 3):
            raise ValueError("bad int section header")
        if order == 2:
            d1, pos = _sv(buf, pos)
            self.d1.append(d1 & _MASK)
        end = pos + (n - order) * width
        if end > len(buf):
            raise ValueError("truncated chunk")
        self.rows.append((n, order, width, base_off + pos, base & _MASK, g, first & _MASK))
        return n, end

    def decode(self, payload: np.ndarray) -> np.ndarray:
        """The column (uint64; an int64 column's bits), all sections undone at once."""
        cols = list(zip(*self.rows, strict=True))
        n = np.array(cols[0], dtype=np.intp)
        total = int(n.sum())
        starts = np.cumsum(n) - n
        order = np.array(cols[1], dtype=np.intp)
        width = np.array(cols[2], dtype=np.intp)
        top = int(width.max()) if len(width) else 0
        if top:
            # Plane j of element i of a section sits at body + j*m + (i - order); reads
            # that fall outside a section's planes (order lead, narrower widths) are
            # clipped to the buffer and masked off below.
            small = np.uint16 if top <= 2 else np.uint32 if top <= 4 else np.uint64
            src = np.repeat(np.array(cols[3], dtype=np.intp) - starts - order, n)
            src += np.arange(total, dtype=np.intp)
            z = payload.take(src, mode="clip").astype(small)
            if top > 1:
                stride = np.repeat(np.where(width >= 2, n - order, 0), n)
                for j in range(1, top):
                    src += stride
                    z |= payload.take(src, mode="clip").astype(small) << small(8 * j)
            if (width != top).any():
                size = 8 * np.dtype(small).itemsize
                masks = [(1 << min(8 * w, size)) - 1 for w in cols[2]]
                z &= np.repeat(np.array(masks, dtype=small), n)
            # Undo the zigzag in the narrow type, then widen with sign extension.
            signed = {np.uint16: np.int16, np.uint32: np.int32, np.uint64: np.int64}[small]
            z = ((z >> small(1)) ^ (-(z & small(1)))).view(signed)
            u = z.astype(np.int64).view(np.uint64)
        else:
            u = np.zeros(total, np.uint64)
        if any(cols[4]):
            u += np.repeat(np.array(cols[4], dtype=np.uint64), n)
        u[starts] = np.array(cols[6], dtype=np.uint64)
        two = order == 2
        if self.d1:
            u[starts[two] + 1] = np.array(self.d1, dtype=np.uint64)
            # Second differences -> first differences, in order-2 sections only.
            inside = np.repeat(two, n)
            inside[starts] = False
            y = np.where(inside, u, np.uint64(0))
            np.cumsum(y, out=y)
            y -= np.repeat(y[starts], n)
            np.copyto(u, y, where=inside)
        if any(g != 1 for g in cols[5]):
            gs = np.repeat(np.array(cols[5], dtype=np.uint64), n)
            gs[starts] = 1
            u *= gs
        # Differences -> values with one running sum: each section's first entry
        # subtracts the previous section's last value, so the sum restarts there.
        if len(n) > 1:
            last = np.add.reduceat(u, starts)
            u[starts[1:]] -= last[:-1]
        np.cumsum(u, out=u)
        return u


#: Samples decoded per vectorised pass. Small enough that the temporaries stay
#: in the CPU cache and below malloc's mmap threshold (fresh mmap'ed pages
#: cost a page fault each: one big pass measured 2x slower than passes of this size).
_GROUP_SAMPLES = 1 << 16


class _Group:
    """Chunks decoded together: their parsed headers and joined payloads."""

    def __init__(self) -> None:
        self.tcol = _Column()
        self.vcol = _Column()
        self.payloads: list[bytes] = []
        self.dec_k: list[int] = []  # decimal scale per value section (-1: XOR)
        self.xor_body: list[int] = []
        self.exc_pos: list[np.ndarray] = []
        self.exc_bits: list[np.ndarray] = []
        self.base_off = 0
        self.total = 0

    def add(self, buf: bytes) -> int:
        """Parse one decompressed chunk payload; returns its sample count."""
        base_off = self.base_off
        self.payloads.append(buf)
        n, pos = self.tcol.parse(buf, 0, base_off)
        if pos >= len(buf):
            raise ValueError("truncated chunk")
        mode = buf[pos]
        mode, k = mode & 1, mode >> 1
        pos += 1
        if mode == _MODE_XOR:
            nv, pos = _uv(buf, pos)
            if pos + 8 * nv > len(buf):
                raise ValueError("truncated chunk")
            if nv == n and n:
                self.vcol.placeholder(n)
                self.dec_k.append(-1)
                self.xor_body.append(base_off + pos)
        else:
            nbad, pos = _uv(buf, pos)
            if k > _MAX_SCALE or nbad >= 2**32:
                raise ValueError("bad float section header")
            if nbad:
                if pos + 12 * nbad > len(buf):
                    raise ValueError("truncated chunk")
                bad = np.frombuffer(buf, dtype="<u4", count=nbad, offset=pos)
                bits = np.frombuffer(buf, dtype="<u8", count=nbad, offset=pos + 4 * nbad)
                pos += 12 * nbad
            nv, _ = self.vcol.parse(buf, pos, base_off)
            if nbad:
                if int(bad.max()) >= nv:
                    raise ValueError("exception position out of range")
                self.exc_pos.append(bad.astype(np.intp) + self.total)
                self.exc_bits.append(bits)
            if nv:
                self.dec_k.append(k)
        if nv != n:
            raise ValueError("column lengths differ")
        self.total += n
        self.base_off += len(buf)
        return n

    def decode(self) -> tuple[np.ndarray, np.ndarray]:
        """The group's timestamps and values."""
        payload = np.frombuffer(b"".join(self.payloads), dtype=np.uint8)
        ts = self.tcol.decode(payload).view(np.int64)
        ks = np.array(self.dec_k, dtype=np.intp)
        vn = np.array([r[0] for r in self.vcol.rows], dtype=np.intp)
        values = self.vcol.decode(payload).view(np.int64).astype(np.float64)
        if (ks > 0).any():
            scale = np.array(_POW10, dtype=np.float64)[np.maximum(ks, 0)]
            values /= np.repeat(scale, vn)
        if self.exc_pos:
            values.view(np.uint64)[np.concatenate(self.exc_pos)] = np.concatenate(self.exc_bits)
        if self.xor_body:
            xor = ks < 0
            xn = vn[xor]
            xstart = (np.cumsum(vn) - vn)[xor]
            xs = np.cumsum(xn) - xn
            xt = int(xn.sum())
            src = np.repeat(np.array(self.xor_body, dtype=np.intp) - xs, xn)
            src += np.arange(xt, dtype=np.intp)
            stride = np.repeat(xn, xn)
            x = payload[src].astype(np.uint64)
            for j in range(1, 8):
                src += stride
                x |= payload[src].astype(np.uint64) << np.uint64(8 * j)
            # XOR chains restart per section: a global XOR scan, undone at each start.
            np.bitwise_xor.accumulate(x, out=x)
            before = np.zeros(len(xn), np.uint64)
            before[1:] = x[xs[1:] - 1]
            x ^= np.repeat(before, xn)
            pos = np.repeat(xstart - xs, xn) + np.arange(xt, dtype=np.intp)
            values.view(np.uint64)[pos] = x
        return ts, values


def decode_chunks(
    blobs: Sequence[bytes],
    mint: int = -(2**63),
    maxt: int = 2**63 - 1,
    *,
    each: list[tuple[np.ndarray, np.ndarray]] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Decode many chunk blobs at once: (timestamps, values, counts).

    `timestamps` and `values` are the chunks' samples with timestamps in
    [mint, maxt], concatenated in the order of `blobs`; `counts[i]` is how many
    of them came from chunk i. When `each` is given, every chunk's complete
    columns are appended to it (for a cache): views into arrays that hold a
    group of chunks (up to about 64 k samples) and nothing else. Bit-identical
    to calling :func:`decode_chunk` on each blob. Raises
    :class:`CorruptDatabaseError` if any blob is damaged.
    """
    groups = [_Group()]
    sizes: list[list[int]] = [[]]
    try:
        for blob in blobs:
            group = groups[-1]
            if group.total >= _GROUP_SAMPLES:
                group = _Group()
                groups.append(group)
                sizes.append([])
            sizes[-1].append(group.add(_unpack(blob)))
    except (ValueError, IndexError) as exc:
        raise CorruptDatabaseError(f"chunk data is damaged ({exc})") from None
    # Upper-bound outputs: only the pages actually written are ever touched.
    total = sum(g.total for g in groups)
    ts_out = np.empty(total, np.int64)
    vs_out = np.empty(total, np.float64)
    counts: list[np.ndarray] = []
    pos = 0
    for group, n in zip(groups, sizes, strict=True):
        if group.total == 0:
            counts.append(np.zeros(len(n), np.int64))
            if each is not None:
                each.extend((np.empty(0, np.int64), np.empty(0, np.float64)) for _ in n)
            continue
        ts, vs = group.decode()
        if each is not None:
            ts.flags.writeable = False  # the views handed out inherit this
            vs.flags.writeable = False
            start = 0
            for end in np.cumsum(n).tolist():
                each.append((ts[start:end], vs[start:end]))
                start = end
        keep = ts >= mint
        keep &= ts <= maxt
        sizes_arr = np.array(n, dtype=np.intp)
        if keep.all():
            kept = sizes_arr
        elif sizes_arr.all():
            # (Summing bools through dtype= casts element by element: 15x slower.)
            kept = np.add.reduceat(keep.astype(np.intp), np.cumsum(sizes_arr) - sizes_arr)
        else:  # empty chunks: reduceat cannot express a zero-length run
            run = np.concatenate([[0], np.cumsum(keep.astype(np.intp))])
            ends = np.cumsum(sizes_arr)
            kept = run[ends] - run[ends - sizes_arr]
        k = int(kept.sum())
        if k == len(ts):
            ts_out[pos : pos + k] = ts
            vs_out[pos : pos + k] = vs
        elif k:
            np.compress(keep, ts, out=ts_out[pos : pos + k])
            np.compress(keep, vs, out=vs_out[pos : pos + k])
        pos += k
        counts.append(kept.astype(np.int64, copy=False))
    cnt = np.concatenate(counts) if counts else np.zeros(0, np.int64)
    return ts_out[:pos], vs_out[:pos], cnt
