"""Calibration on the test period: reliability curve and summary."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mqlscore.modeling.calibration import brier, expected_calibration_error
from mqlscore.modeling.scorer import grade


def calibration_summary(
    raw: np.ndarray, calibrated: np.ndarray, labels: np.ndarray, cuts: dict[str, float]
) -> dict:
    """Brier score and expected calibration error before and after calibration, and how
    each grade converted."""
    grades = grade(calibrated, cuts)
    by_grade = {}
    for name in sorted(set(cuts) | set(grades)):
        mask = grades == name
        by_grade[name] = {
            "rows": int(mask.sum()),
            "mean_probability": round(float(calibrated[mask].mean()), 4) if mask.any() else 0.0,
            "conversion_rate": round(float(labels[mask].mean()), 4) if mask.any() else 0.0,
        }
    return {
        "brier_raw": round(brier(raw, labels), 6),
        "brier": round(brier(calibrated, labels), 6),
        "ece_raw": round(expected_calibration_error(raw, labels), 5),
        "ece": round(expected_calibration_error(calibrated, labels), 5),
        "grades": by_grade,
    }


def reliability_curve(p: np.ndarray, y: np.ndarray, bins: int = 10) -> pd.DataFrame:
    """Mean predicted probability vs observed conversion rate over equal-count bins."""
    order = np.argsort(p, kind="stable")
    parts = [part for part in np.array_split(order, bins) if len(part)]
    return pd.DataFrame(
        {
            "predicted": [round(float(p[part].mean()), 5) for part in parts],
            "observed": [round(float(y[part].mean()), 5) for part in parts],
            "rows": [len(part) for part in parts],
        }
    )
