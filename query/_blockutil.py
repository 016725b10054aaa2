"""Small helpers over :class:`~nightowl.query.block.Block` shared by the evaluator parts."""

from __future__ import annotations

import numpy as np
from nightowl.query.block import Block

from nightowl.errors import QueryError
from nightowl.model import METRIC_NAME, Labels

__all__ = [
    "DUPLICATE_LABELSET",
    "drops",
    "merge_rows",
    "metric_name",
    "signature",
    "strip_name",
    "take_rows",
]

DUPLICATE_LABELSET = "vector cannot contain metrics with the same labelset"


def drops(block: Block) -> np.ndarray:
    """The block's per-row drop-name flags as a bool array (all False when unset)."""
    if block.drop_name is None:
        return np.zeros(len(block.labels), dtype=bool)
    return block.drop_name


def strip_name(labels: Labels) -> Labels:
    """`labels` without `__name__` (fast: a sorted label set stays sorted without it)."""
    if labels and labels[0][0] == METRIC_NAME:
        return tuple.__new__(Labels, labels[1:])
    return tuple.__new__(Labels, tuple(p for p in labels if p[0] != METRIC_NAME))


def metric_name(labels: Labels) -> str:
    """The value of `__name__` ("" when absent); fast when it sorts first, as usual."""
    if labels and labels[0][0] == METRIC_NAME:
        return labels[0][1]
    return labels.name


def take_rows(block: Block, rows: np.ndarray | list[int]) -> Block:
    """A block with only the given rows (in that order)."""
    idx = np.asarray(rows, dtype=np.int64)
    return Block(
        [block.labels[i] for i in idx.tolist()],
        block.values[idx],
        block.present[idx],
        None if block.timestamps is None else block.timestamps[idx],
        None,
        None if block.drop_name is None else block.drop_name[idx],
    )


def signature(labels: Labels, on: bool, names: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """The vector-matching key of a series: `on(names)` keeps, `ignoring` drops (and the name)."""
    if on:
        keep = set(names)
        return tuple(p for p in labels if p[0] in keep)
    drop = set(names)
    drop.add(METRIC_NAME)
    return tuple(p for p in labels if p[0] not in drop)


def merge_rows(block: Block, *, strict: bool = False) -> Block:
    """Merge rows with identical labels whose samples never overlap in time.

    Rows that do overlap stay separate (Prometheus with delayed name removal only
    complains when the result is produced), unless `strict`: then it is the
    "vector cannot contain metrics with the same labelset" error.
    """
    labels = block.labels
    if len(set(labels)) == len(labels):
        return block
    first: dict[Labels, int] = {}
    groups: dict[int, list[int]] = {}
    for i, lab in enumerate(labels):
        j = first.setdefault(lab, i)
        groups.setdefault(j, []).append(i)
    keep: list[int] = []
    values = block.values.copy()
    present = block.present.copy()
    ts = None if block.timestamps is None else block.timestamps.copy()
    dn = drops(block).copy()
    extra: list[int] = []
    for j, rows in groups.items():
        if len(rows) == 1:
            keep.append(j)
            continue
        counts = block.present[rows].sum(axis=0)
        if (counts > 1).any():
            if strict:
                raise QueryError(DUPLICATE_LABELSET)
            keep.append(j)
            extra.extend(rows[1:])
            continue
        for r in rows[1:]:
            m = block.present[r]
            values[j, m] = block.values[r, m]
            present[j, m] = True
            if ts is not None:
                ts[j, m] = block.timestamps[r, m]  # type: ignore[index]
            dn[j] = dn[j] or dn[r]
        keep.append(j)
    order = sorted(keep + extra)
    idx = np.asarray(order, dtype=np.int64)
    return Block(
        [labels[i] for i in order],
        values[idx],
        present[idx],
        None if ts is None else ts[idx],
        None,
        dn[idx],
    )
