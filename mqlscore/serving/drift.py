"""Feature drift: population stability index (PSI) of scored rows against training.

At training, `profile` records each feature's decile edges (numbers) or level shares
(text); at scoring, `psi` compares the new rows with it. Rule of thumb: below 0.1
stable, 0.1-0.25 some shift, above 0.25 a real shift.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

_FLOOR = 1e-4  # share given to an empty bin, so the log stays finite
MISSING = "(missing)"


def _numeric_bins(values: pd.Series, edges: list[float]) -> np.ndarray:
    numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    bins = np.searchsorted(np.asarray(edges), numbers, side="right")
    return np.where(np.isnan(numbers), len(edges) + 1, bins)


def _shares(codes: np.ndarray, size: int) -> list[float]:
    counts = np.bincount(codes, minlength=size)[:size]
    return (counts / max(len(codes), 1)).round(6).tolist()


def profile(frame: pd.DataFrame, features: list[str], bins: int = 10) -> dict[str, dict]:
    """Per feature: bin edges (or levels) and the share of training rows in each bin."""
    out = {}
    for column in features:
        values = frame[column]
        if values.dtype.kind in "biuf":
            cuts = np.linspace(0, 1, bins + 1)[1:-1]
            edges = np.unique(np.nanquantile(values.astype(float), cuts))
            codes = _numeric_bins(values, edges.tolist())
            out[column] = {"edges": edges.tolist(), "shares": _shares(codes, len(edges) + 2)}
        else:
            text = values.astype("object").where(values.notna(), MISSING).astype(str)
            levels = sorted(text.unique())
            codes = pd.Categorical(text, categories=levels).codes
            out[column] = {"levels": levels, "shares": _shares(codes, len(levels))}
    return out


def bin_counts(reference: dict[str, dict], frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """Rows of `frame` per training bin of each feature; text levels unseen in training
    fall in one extra bin. Counts from chunks add up."""
    counts = {}
    for column, ref in reference.items():
        size = len(ref["shares"])
        if "edges" in ref:
            codes = _numeric_bins(frame[column], ref["edges"])
        else:
            text = frame[column].astype("object").where(frame[column].notna(), MISSING)
            codes = pd.Categorical(text.astype(str), categories=ref["levels"]).codes
            codes = np.where(codes < 0, size, codes)
        counts[column] = np.bincount(codes, minlength=size + 1)[: size + 1]
    return counts


def psi(reference: dict[str, dict], counts: dict[str, np.ndarray]) -> dict[str, float]:
    """PSI of each feature: training shares vs the shares in `counts` (from `bin_counts`)."""
    result = {}
    for column, ref in reference.items():
        expected = np.append(np.asarray(ref["shares"], dtype=float), 0.0)
        actual = counts[column] / max(int(counts[column].sum()), 1)
        expected, actual = np.maximum(expected, _FLOOR), np.maximum(actual, _FLOOR)
        result[column] = round(float(np.sum((actual - expected) * np.log(actual / expected))), 5)
    return result
