"""The lead model: time-based split, input matrix, LightGBM fit and scorer (no MLflow here)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from features.snapshots import AUDIT_COLUMNS, KEY_COLUMNS, LABEL_COLUMNS, MARKETING_COLUMNS
from mqlscore.config import TrainParams

if TYPE_CHECKING:
    import lightgbm as lgb

CATEGORICAL_DTYPES = ("object", "category", "string", "str")


class NotEnoughData(ValueError):
    """Too few snapshots or conversions to train and test honestly."""


@dataclass(frozen=True)
class Split:
    train: pd.DataFrame
    valid: pd.DataFrame
    test: pd.DataFrame


def feature_columns(frame: pd.DataFrame, use_marketing: bool) -> list[str]:
    """Model inputs: everything but keys and labels; marketing's columns only if allowed."""
    excluded = set(KEY_COLUMNS) | set(LABEL_COLUMNS) | set(AUDIT_COLUMNS)
    if not use_marketing:
        excluded |= set(MARKETING_COLUMNS)
    return [c for c in frame.columns if c not in excluded]


def time_split(frame: pd.DataFrame, test_snapshots: int, valid_snapshots: int) -> Split:
    """Latest complete snapshots are test, the ones before are validation, the rest train."""
    complete = frame[frame["label_complete"] == 1]
    dates = np.sort(complete["snapshot_date"].unique())
    if len(dates) < test_snapshots + valid_snapshots + 1:
        raise NotEnoughData(
            f"{len(dates)} complete snapshots; need at least "
            f"{test_snapshots + valid_snapshots + 1} (test {test_snapshots}, "
            f"validation {valid_snapshots}, train 1)"
        )
    test_dates = dates[-test_snapshots:]
    valid_dates = dates[-(test_snapshots + valid_snapshots) : -test_snapshots]
    when = complete["snapshot_date"]
    return Split(
        train=complete[when < valid_dates[0]],
        valid=complete[when.isin(valid_dates)],
        test=complete[when.isin(test_dates)],
    )


def category_levels(frame: pd.DataFrame, features: list[str]) -> dict[str, list[str]]:
    """Levels of each text feature as seen in training; unseen levels score as missing."""
    return {
        c: sorted(frame[c].dropna().astype(str).unique())
        for c in features
        if str(frame[c].dtype) in CATEGORICAL_DTYPES
    }


def input_frame(
    frame: pd.DataFrame, features: list[str], levels: dict[str, list[str]]
) -> pd.DataFrame:
    """The model's public input: feature columns, numbers as float64 (NaN if missing), text."""
    out = frame[features].copy()
    for column in features:
        if column in levels:
            out[column] = out[column].astype("object").where(out[column].notna(), None)
        else:
            out[column] = pd.to_numeric(out[column], errors="raise").astype("float64")
    return out


def to_matrix(
    frame: pd.DataFrame, features: list[str], levels: dict[str, list[str]]
) -> pd.DataFrame:
    """The model's input matrix: feature columns in order, text as fixed categories."""
    missing = [c for c in features if c not in frame.columns]
    if missing:
        raise KeyError(f"input lacks feature column(s): {', '.join(missing)}")
    matrix = frame[features].copy()
    for column, cats in levels.items():
        matrix[column] = pd.Categorical(matrix[column].astype("string"), categories=cats)
    for column in features:
        if column not in levels:
            matrix[column] = pd.to_numeric(matrix[column], errors="raise").astype("float64")
    return matrix


def fit_lead_model(
    split: Split, features: list[str], params: TrainParams
) -> tuple[lgb.Booster, dict[str, list[str]]]:
    """Fit LightGBM on train with early stopping on validation."""
    import lightgbm as lgb  # slow import (pulls in scikit-learn): only when training

    levels = category_levels(split.train, features)
    train_set = lgb.Dataset(to_matrix(split.train, features, levels), split.train["label"])
    valid_set = lgb.Dataset(
        to_matrix(split.valid, features, levels), split.valid["label"], reference=train_set
    )
    booster = lgb.train(
        {
            "objective": "binary",
            "learning_rate": params.learning_rate,
            "num_leaves": params.num_leaves,
            "min_data_in_leaf": params.min_data_in_leaf,
            "feature_fraction": params.feature_fraction,
            "bagging_fraction": params.bagging_fraction,
            "bagging_freq": 1,
            "lambda_l2": params.lambda_l2,
            "seed": params.seed,
            "deterministic": True,
            "num_threads": 2,
            "verbose": -1,
        },
        train_set,
        num_boost_round=params.num_boost_round,
        valid_sets=[valid_set],
        callbacks=[lgb.early_stopping(params.early_stopping_rounds, verbose=False)],
    )
    return booster, levels


class LeadScorer:
    """Conversion probabilities (not class labels) from snapshot feature rows."""

    def __init__(self, booster: lgb.Booster, features: list[str], levels: dict[str, list[str]]):
        self.booster = booster
        self.features = features
        self.levels = levels

    def example(self, frame: pd.DataFrame, rows: int = 5) -> pd.DataFrame:
        """A small input example (features only, no ids) for the model signature."""
        return input_frame(frame.head(rows), self.features, self.levels).reset_index(drop=True)

    def probability(self, frame: pd.DataFrame) -> np.ndarray:
        matrix = to_matrix(frame, self.features, self.levels)
        return self.booster.predict(matrix, num_iteration=self.booster.best_iteration)
