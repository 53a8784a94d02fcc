"""Probability calibration and its measures (Brier, expected calibration error)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from mqlscore.modeling.packaged import (
    calibrate,
)

if TYPE_CHECKING:
    pass


class Calibrator:
    """Maps raw model scores to probabilities that match observed conversion rates.

    Isotonic when validation holds enough conversions, else sigmoid (Platt) scaling.
    Isotonic steps at the ends rest on a handful of rows (one converted top lead makes a
    step of 1.0, a quiet bottom one of 0.0), so its output is bounded by the observed
    rate of the top `EDGE_ROWS` rows and of the bottom fifth (never below half a
    conversion in it). Kept as plain JSON (`spec`), applied by `packaged.calibrate`.
    """

    EDGE_ROWS = 100

    def __init__(self, spec: dict):
        self.spec = spec
        self.method = spec["method"]

    @classmethod
    def fit(cls, raw: np.ndarray, labels: np.ndarray, isotonic_min_positives: int) -> Calibrator:
        from sklearn.isotonic import IsotonicRegression
        from sklearn.linear_model import LogisticRegression

        raw, labels = np.asarray(raw, dtype=float), np.asarray(labels, dtype=float)
        if int(labels.sum()) >= isotonic_min_positives:
            model = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
            model.fit(raw, labels)
            ordered = labels[np.argsort(raw, kind="stable")]
            bottom = ordered[: max(len(ordered) // 5, 1)]
            low = max(float(bottom.mean()), 0.5 / len(bottom))
            high = float(ordered[-min(cls.EDGE_ROWS, len(ordered)) :].mean())
            return cls(
                {
                    "method": "isotonic",
                    "x": model.X_thresholds_.tolist(),
                    "y": model.y_thresholds_.tolist(),
                    "bounds": [low, max(high, low)],
                }
            )
        clip = np.clip(raw, 1e-6, 1 - 1e-6)
        model = LogisticRegression().fit(np.log(clip / (1 - clip))[:, None], labels)
        spec = {"coef": float(model.coef_[0, 0]), "intercept": float(model.intercept_[0])}
        return cls({"method": "sigmoid", **spec})

    def __call__(self, raw: np.ndarray) -> np.ndarray:
        return calibrate(raw, self.spec)


def brier(p: np.ndarray, y: np.ndarray) -> float:
    """Mean squared error of probabilities."""
    return float(np.mean((np.asarray(p) - np.asarray(y)) ** 2))


def expected_calibration_error(p: np.ndarray, y: np.ndarray, bins: int = 10) -> float:
    """Gap between predicted and observed rates, over equal-count bins, weighted by size."""
    order = np.argsort(p, kind="stable")
    gaps = [
        abs(np.mean(np.asarray(p)[part]) - np.mean(np.asarray(y)[part])) * len(part)
        for part in np.array_split(order, bins)
        if len(part)
    ]
    return float(sum(gaps) / len(p))
