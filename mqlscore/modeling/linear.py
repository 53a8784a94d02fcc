"""The logistic regression kept as plain JSON: transforms, fit and the penalty search."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from mqlscore.config import TrainParams
from mqlscore.modeling.packaged import (
    LinearModel,
    to_matrix,
)

if TYPE_CHECKING:
    pass
from mqlscore.modeling.matrix import category_levels, row_weights
from mqlscore.modeling.split import Split


def fit_linear(
    rows: pd.DataFrame,
    features: list[str],
    levels: dict[str, list[str]],
    c: float,
    increasing: tuple[str, ...],
) -> LinearModel:
    """A logistic regression with L2 penalty 1 / (2c) on `rows` (see `LinearModel` for
    its columns); the value columns of features named by `increasing` get non-negative
    coefficients, so more intent never lowers a score here either."""
    matrix = to_matrix(rows, features, levels)
    numbers = {
        f: number_transform(matrix[f].to_numpy(dtype=float)) for f in features if f not in levels
    }
    names, x = LinearModel.columns(matrix, numbers)
    mean, scale = x.mean(axis=0), x.std(axis=0)
    flags = np.array([part != "value" for _, part in names], dtype=bool)
    scale[flags | (scale == 0)] = 1.0  # 0/1 columns unscaled: a rare level is shrunk, not
    # blown up by a tiny standard deviation (Olist's 495 landing pages)
    up = [part == "value" and f.startswith(tuple(increasing)) for f, part in names]
    coef, intercept = logistic_fit(
        (x - mean) / scale, rows["label"].to_numpy(dtype=float), row_weights(rows), c, up
    )
    return LinearModel(
        {
            "numbers": numbers,
            "columns": names,
            "mean": mean.tolist(),
            "scale": scale.tolist(),
            "coef": coef.tolist(),
            "intercept": intercept,
            "c": c,
        }
    )


def number_transform(values: np.ndarray) -> dict:
    """How a numeric feature enters the logistic regression: log1p when training saw no
    negative value (counts and sizes are skewed), the missing value's fill (median)."""
    seen = values[~np.isnan(values)]
    log = bool(len(seen)) and bool(seen.min() >= 0)
    shown = np.log1p(seen) if log else seen
    return {"log": log, "fill": float(np.median(shown)) if len(shown) else 0.0}


def logistic_fit(
    z: np.ndarray, y: np.ndarray, weights: np.ndarray | None, c: float, non_negative: list[bool]
) -> tuple[np.ndarray, float]:
    """Weighted L2 logistic regression (scikit-learn's C = `c`) by L-BFGS-B, with
    coefficients bounded at zero where `non_negative`; returns coefficients, intercept."""
    from scipy.optimize import minimize
    from scipy.special import expit

    w = np.ones(len(y)) if weights is None else weights / weights.mean()
    rate = np.clip(np.average(y, weights=w), 1e-6, 1 - 1e-6)

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        eta = theta[0] + z @ theta[1:]
        p = expit(eta)
        value = np.sum(w * (np.logaddexp(0.0, eta) - y * eta)) + theta[1:] @ theta[1:] / (2 * c)
        residual = w * (p - y)
        return value, np.concatenate([[residual.sum()], z.T @ residual + theta[1:] / c])

    start = np.concatenate([[np.log(rate / (1 - rate))], np.zeros(z.shape[1])])
    bounds = [(None, None)] + [(0.0, None) if b else (None, None) for b in non_negative]
    fit = minimize(
        loss, start, jac=True, method="L-BFGS-B", bounds=bounds, options={"maxiter": 2000}
    )
    return fit.x[1:], float(fit.x[0])


def fit_logistic(
    split: Split, features: list[str], params: TrainParams
) -> tuple[LinearModel, dict[str, list[str]]]:
    """The logistic regression whose penalty (`train.logistic_c`) ranks validation best
    by PR-AUC."""
    from sklearn.metrics import average_precision_score

    levels = category_levels(split.train, features)
    valid = to_matrix(split.valid, features, levels)
    fits = [
        fit_linear(split.train, features, levels, c, params.monotone_increasing)
        for c in params.logistic_c
    ]
    scores = [average_precision_score(split.valid["label"], m.predict(valid)) for m in fits]
    return fits[int(np.argmax(scores))], levels
