"""Ranking metrics with ties at their expected value: ROC-AUC, PR-AUC, gains, precision at k."""

from __future__ import annotations

import numpy as np
import pandas as pd


def tie_groups(score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row order by descending score, and each ordered row's tie group (0: the best score)."""
    order = np.argsort(-np.asarray(score, dtype=float), kind="stable")
    ordered = np.asarray(score, dtype=float)[order]
    return order, np.r_[0, np.cumsum(ordered[1:] != ordered[:-1])].astype(np.int64)


def expected_hits(score: np.ndarray, label: np.ndarray, ks: np.ndarray) -> np.ndarray:
    """Expected positives among the top k rows for each k, rows of a tie in random order:
    a tie straddling k gives its positives in proportion to the slots left for it."""
    order, group = tie_groups(score)
    ends = np.flatnonzero(np.r_[group[1:] != group[:-1], True]) + 1
    hits = np.cumsum(np.asarray(label, dtype=float)[order])[ends - 1]
    return np.interp(np.asarray(ks, dtype=float), np.r_[0, ends], np.r_[0.0, hits])


def auc_ap(positives: np.ndarray, negatives: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """ROC-AUC and average precision from the positive and negative weight of each tie group
    (columns, best score first; rows: resamples). A tie counts half in the AUC and is one
    step of the precision-recall curve, as in sklearn, so row order never matters."""
    tp, fp = positives.cumsum(axis=1), negatives.cumsum(axis=1)
    p, n = tp[:, -1], fp[:, -1]
    with np.errstate(divide="ignore", invalid="ignore"):
        auc = (positives * (n[:, None] - fp + negatives / 2)).sum(axis=1) / (p * n)
        precision = np.where(tp + fp > 0, tp / (tp + fp), 0.0)
        ap = (positives * precision).sum(axis=1) / p
    return auc, ap


def ranking_point(score: np.ndarray, label: np.ndarray) -> tuple[float, float]:
    """ROC-AUC and PR-AUC (average precision) of one score, ties grouped."""
    order, group = tie_groups(score)
    y = np.asarray(label, dtype=float)[order]
    positives = np.bincount(group, weights=y)[None, :]
    negatives = np.bincount(group, weights=1 - y)[None, :]
    auc, ap = auc_ap(positives, negatives)
    return float(auc[0]), float(ap[0])


def gains_curve(test: pd.DataFrame, rankers: list[str], points: int = 50) -> pd.DataFrame:
    """Share of conversions captured when sales works the top x% of rows, per ranker
    (ties at their expected value)."""
    shares = np.linspace(0, 1, points + 1)
    out = {"share_worked": shares.round(4)}
    label = test["label"].to_numpy(dtype=float)
    total = max(label.sum(), 1.0)
    ks = np.rint(shares * len(test))
    for name in rankers:
        out[name] = (expected_hits(test[name].to_numpy(dtype=float), label, ks) / total).round(4)
    return pd.DataFrame(out)


def precision_at_k(test: pd.DataFrame, rankers: list[str], points: int = 30) -> pd.DataFrame:
    """Precision among the top k rows of the test period, per ranker, k up to 20% of rows
    (ties at their expected value)."""
    ks = np.unique(np.geomspace(10, max(len(test) // 5, 11), points).astype(int))
    out = {"k": ks}
    label = test["label"].to_numpy(dtype=float)
    for name in rankers:
        out[name] = (expected_hits(test[name].to_numpy(dtype=float), label, ks) / ks).round(4)
    return pd.DataFrame(out)


def flat_metrics(table: dict[str, dict], calibration: dict) -> dict[str, float]:
    """The side-by-side table and calibration as flat MLflow metric names."""
    flat = {}
    for volume, rows in table.items():
        for ranker, row in rows.items():
            for k, v in row.items():
                name = f"test_{volume}_{ranker}_{k}"
                if isinstance(v, list):  # an interval
                    flat[f"{name}_low"], flat[f"{name}_high"] = float(v[0]), float(v[1])
                elif v is not None:
                    flat[name] = float(v)
    return flat | {f"test_{k}": v for k, v in calibration.items() if k != "grades"}
