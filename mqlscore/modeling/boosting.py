"""LightGBM: parameters, fitting with early stopping on validation, and the refit."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from mqlscore.config import TrainParams
from mqlscore.modeling.packaged import (
    to_matrix,
)

if TYPE_CHECKING:
    import lightgbm as lgb
from mqlscore.modeling.matrix import category_levels, row_weights
from mqlscore.modeling.split import Split

LIGHTGBM, LOGISTIC = "lightgbm", "logistic_regression"


def lightgbm_params(features: list[str], params: TrainParams) -> dict:
    """LightGBM's training parameters from `train` params."""
    return {
        "objective": "binary",
        "learning_rate": params.learning_rate,
        "num_leaves": params.num_leaves,
        "max_depth": params.max_depth,
        "min_data_in_leaf": params.min_data_in_leaf,
        "feature_fraction": params.feature_fraction,
        "bagging_fraction": params.bagging_fraction,
        "bagging_freq": 1,
        "lambda_l2": params.lambda_l2,
        "monotone_constraints": monotone(features, params.monotone_increasing),
        "seed": params.seed,
        "deterministic": True,
        "num_threads": 2,
        "verbose": -1,
    }


def fit_model(
    split: Split, features: list[str], params: TrainParams
) -> tuple[lgb.Booster, dict[str, list[str]]]:
    """Fit LightGBM on train with early stopping on validation (row weights from a
    `weight` column when present)."""
    import lightgbm as lgb  # slow import (pulls in scikit-learn): only when training

    levels = category_levels(split.train, features)
    train_set = lgb.Dataset(
        to_matrix(split.train, features, levels),
        split.train["label"],
        weight=row_weights(split.train),
    )
    valid_set = lgb.Dataset(
        to_matrix(split.valid, features, levels),
        split.valid["label"],
        weight=row_weights(split.valid),
        reference=train_set,
    )
    booster = lgb.train(
        lightgbm_params(features, params),
        train_set,
        num_boost_round=params.num_boost_round,
        valid_sets=[valid_set],
        callbacks=[lgb.early_stopping(params.early_stopping_rounds, verbose=False)],
    )
    return booster, levels


def refit_lightgbm(
    rows: pd.DataFrame, features: list[str], params: TrainParams, trees: int
) -> tuple[lgb.Booster, dict[str, list[str]]]:
    """LightGBM with the same params and exactly `trees` trees (the early-stopped count)
    on `rows`, with no held-out rows."""
    import lightgbm as lgb

    levels = category_levels(rows, features)
    data = lgb.Dataset(to_matrix(rows, features, levels), rows["label"], weight=row_weights(rows))
    booster = lgb.train(lightgbm_params(features, params), data, num_boost_round=trees)
    booster.best_iteration = trees
    return booster, levels


def monotone(features: list[str], increasing: tuple[str, ...]) -> list[int]:
    """LightGBM's constraints: +1 for features starting with one of `increasing` (more
    intent never lowers a score), 0 for the rest."""
    return [int(f.startswith(tuple(increasing))) for f in features]
