"""Follow-up propensity: weights for leads sales chose to work, and the logistic baseline."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from mqlscore.schema import (
    MARKETING_COLUMNS,
)

if TYPE_CHECKING:
    pass
from mqlscore.modeling.matrix import CATEGORICAL_DTYPES
from mqlscore.modeling.split import Split


def follow_up_weighted(split: Split, features: list[str], clip: float) -> Split:
    """Correct for follow-up bias: keep the leads sales worked in the label window, each
    weighted by 1 / P(worked) (clipped at `clip`), so the model learns who converts when
    worked, for leads like those sales usually skips too.

    P(worked) comes from a logistic regression on the features plus marketing's columns
    (the MQL flag drives follow-up), fitted on the training period.
    """
    marketing = [c for c in MARKETING_COLUMNS if c in split.train.columns and c not in features]
    drivers = features + marketing  # once each, when the model may use them too
    propensity = fit_logistic_baseline(split.train, drivers, target="worked")

    def weighted(frame: pd.DataFrame) -> pd.DataFrame:
        worked = frame[frame["worked"] == 1].copy()
        p = propensity.predict_proba(worked[drivers])[:, 1]
        worked["weight"] = 1.0 / np.clip(p, clip, 1.0)
        return worked

    return Split(train=weighted(split.train), valid=weighted(split.valid), test=split.test)


def fit_logistic_baseline(train: pd.DataFrame, features: list[str], target: str = "label"):
    """A plain logistic regression on the same features: the baseline a model must beat.

    Numbers: median-imputed, log-scaled (counts and sizes are skewed), standardized;
    text: one-hot. Returns a fitted scikit-learn pipeline.
    """
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

    text = [c for c in features if str(train[c].dtype) in CATEGORICAL_DTYPES]
    numbers = [c for c in features if c not in text]
    signed_log = FunctionTransformer(lambda x: np.sign(x) * np.log1p(np.abs(x)))
    prepare = ColumnTransformer(
        [
            (
                "numbers",
                make_pipeline(SimpleImputer(strategy="median"), signed_log, StandardScaler()),
                numbers,
            ),
            (
                "text",
                make_pipeline(
                    SimpleImputer(strategy="constant", fill_value="missing"),
                    OneHotEncoder(handle_unknown="ignore"),
                ),
                text,
            ),
        ]
    )
    model = make_pipeline(prepare, LogisticRegression(max_iter=500))
    return model.fit(train[features], train[target])
