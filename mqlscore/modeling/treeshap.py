"""Exact SHAP values of shallow LightGBM trees by table lookup.

Path-dependent TreeSHAP (LightGBM's `pred_contrib`) gives a row's contributions from one
tree as a function of the row's decision at each split of that tree, and of nothing
else: a tree with k splits has at most 2^k patterns (128 at depth 3). So each tree's
contributions are computed once per pattern (by LightGBM itself, on one row showing it)
and every other row showing the pattern gets them by lookup. Trees with more than
`MAX_SPLITS` splits fall back to `pred_contrib` for the whole model.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import lightgbm as lgb
import numpy as np
import pandas as pd

MAX_SPLITS = 10  # 1,024 patterns per tree at most
ZERO = 1e-35  # LightGBM's kZeroThreshold


@dataclass
class Split:
    """One split node as LightGBM decides it."""

    feature: int
    threshold: float
    categories: np.ndarray | None  # categorical split: the codes that go left
    default_left: bool
    missing: str  # None, Zero or NaN


@dataclass
class Tree:
    """A tree's splits, the features they use, and the contributions of each pattern
    seen so far (NaN rows: not yet seen)."""

    index: int
    splits: list[Split]
    used: np.ndarray  # feature indices the tree splits on
    table: np.ndarray = field(init=False)  # (len(used) + 1, 2^k): contributions, bias

    def __post_init__(self) -> None:
        self.table = np.full((len(self.used) + 1, 2 ** len(self.splits)), np.nan)


def _splits(node: dict) -> list[dict]:
    if "split_index" not in node:
        return []
    return [node, *_splits(node["left_child"]), *_splits(node["right_child"])]


def _split(node: dict) -> Split:
    categorical = node["decision_type"] == "=="
    return Split(
        feature=int(node["split_feature"]),
        threshold=np.nan if categorical else float(node["threshold"]),
        categories=np.array(str(node["threshold"]).split("||"), dtype=np.int64)
        if categorical
        else None,
        default_left=bool(node["default_left"]),
        missing=str(node["missing_type"]),
    )


def parse(booster: lgb.Booster) -> list[Tree] | None:
    """The model's trees (up to its best iteration), or None when one is too deep."""
    info = booster.dump_model(num_iteration=booster.best_iteration or None)["tree_info"]
    trees = []
    for index, tree in enumerate(info):
        nodes = sorted(_splits(tree["tree_structure"]), key=lambda n: n["split_index"])
        if len(nodes) > MAX_SPLITS:
            return None
        splits = [_split(n) for n in nodes]
        used = np.unique([s.feature for s in splits]).astype(np.int64)
        trees.append(Tree(index, splits, used))
    return trees


def feature_major(matrix: pd.DataFrame) -> np.ndarray:
    """The input as LightGBM reads it (categories as codes, missing as NaN), one row per
    feature so that each split reads a contiguous column."""
    columns = []
    for name in matrix.columns:
        column = matrix[name]
        if isinstance(column.dtype, pd.CategoricalDtype):
            codes = column.cat.codes.to_numpy().astype(np.float64)
            columns.append(np.where(codes < 0, np.nan, codes))
        else:
            columns.append(column.to_numpy(dtype=np.float64))
    return np.vstack(columns) if columns else np.empty((0, len(matrix)))


@dataclass
class Columns:
    """The input as each split reads it: per feature, values with NaN as LightGBM's
    non-NaN splits see it (0.0), and where the value was missing."""

    raw: np.ndarray  # (features, rows)
    zero_filled: np.ndarray
    nan: np.ndarray
    seen: dict = field(default_factory=dict)  # decisions already made (trees share splits)

    @classmethod
    def of(cls, matrix: pd.DataFrame) -> Columns:
        raw = feature_major(matrix)
        nan = np.isnan(raw)
        return cls(raw, np.where(nan, 0.0, raw), nan)


def decision(split: Split, columns: Columns) -> np.ndarray:
    """`goes_left`, made once per distinct split in a call."""
    key = (split.feature, split.threshold, split.missing, split.default_left)
    key += (None if split.categories is None else tuple(split.categories),)
    if key not in columns.seen:
        columns.seen[key] = goes_left(split, columns).view(np.uint8)
    return columns.seen[key]


def goes_left(split: Split, columns: Columns) -> np.ndarray:
    """LightGBM's decision at one split for every row (tree.h, Numerical/Categorical)."""
    nan = columns.nan[split.feature]
    if split.categories is not None:  # NaN and negative codes go right
        codes = columns.zero_filled[split.feature].astype(np.int64)
        left = np.zeros(max(int(split.categories.max()), int(codes.max(initial=0))) + 1, bool)
        left[split.categories] = True
        return ~nan & (codes >= 0) & left[np.clip(codes, 0, None)]
    if split.missing == "NaN":  # NaN compares false, so it goes right unless default-left
        left = columns.raw[split.feature] <= split.threshold
        return left | nan if split.default_left else left
    values = columns.zero_filled[split.feature]
    if split.missing == "Zero":
        return np.where(np.abs(values) <= ZERO, split.default_left, values <= split.threshold)
    return values <= split.threshold


def patterns(tree: Tree, columns: Columns) -> np.ndarray:
    """Each row's decision pattern at the tree's splits, as an integer (an index)."""
    small = np.uint8 if len(tree.splits) <= 8 else np.uint16
    ids = np.zeros(columns.raw.shape[1], dtype=small)
    for bit, split in enumerate(tree.splits):
        ids |= decision(split, columns).astype(small, copy=False) << small(bit)
    return ids.astype(np.intp)


def _first_rows(ids: np.ndarray, size: int) -> np.ndarray:
    """For each pattern id, the first row showing it (-1: none)."""
    first = np.full(size, -1, dtype=np.int64)
    order = np.arange(len(ids) - 1, -1, -1)
    first[ids[order]] = order
    return first


def fill(tree: Tree, booster: lgb.Booster, columns: Columns, ids: np.ndarray) -> None:
    """Compute the contributions of the patterns first seen in these rows (LightGBM on
    one row per pattern, given as it reads a frame: category codes, NaN)."""
    unseen = np.isnan(tree.table[0])
    if not unseen[ids].any():  # every pattern here is known
        return
    first = _first_rows(ids, tree.table.shape[1])
    new = np.flatnonzero((first >= 0) & unseen)
    if not len(new):
        return
    rows = np.ascontiguousarray(columns.raw[:, first[new]].T)
    contrib = booster.predict(rows, start_iteration=tree.index, num_iteration=1, pred_contrib=True)
    tree.table[:, new] = contrib[:, [*tree.used, -1]].T


def contributions(booster: lgb.Booster, trees: list[Tree], matrix: pd.DataFrame) -> np.ndarray:
    """Per-row SHAP values (features, then the expected value), as `pred_contrib` gives.

    Returned as a transposed view of a feature-major array: each lookup adds into one
    contiguous row, and pandas keeps that layout without a copy.
    """
    columns = Columns.of(matrix)
    out = np.zeros((matrix.shape[1] + 1, len(matrix)))
    looked_up = np.empty(len(matrix))
    for tree in trees:
        ids = patterns(tree, columns)
        fill(tree, booster, columns, ids)
        for row, feature in enumerate(tree.used):
            np.take(tree.table[row], ids, out=looked_up)
            out[feature] += looked_up
        if len(ids):  # the tree's expected value: the same for every pattern
            out[-1] += tree.table[-1, ids[0]]
    return out.T
