"""What differs between evaluating the lead and the account model."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd


@dataclass(frozen=True)
class Kind:
    """What differs between evaluating the lead and the account model."""

    key: str  # the row id besides snapshot_date
    rankers: dict[str, str]  # score column -> label
    baseline: str  # marketing's own pick, which the model must beat
    volume_name: str  # the volume marketing's pick hands sales
    capacity: str  # EvaluateParams field: rows sales can work per snapshot
    noun: str


KINDS = {
    "lead": Kind(
        key="lead_id",
        rankers={
            "model": "mqlscore lead model",
            "logistic_regression": "logistic regression (same features)",
            "lightgbm": "LightGBM (same features)",
            "lead_source_rate": "lead source alone (its training conversion rate)",
            "mql_flag": "marketing MQL flag",
            "mql_points": "marketing points score",
            "oracle": "oracle (synthetic truth)",
        },
        baseline="mql_flag",
        volume_name="mql_volume",
        capacity="capacity_leads",
        noun="lead",
    ),
    "account": Kind(
        key="account_id",
        rankers={
            "model": "mqlscore account model",
            "logistic_regression": "logistic regression (same features)",
            "lightgbm": "LightGBM (same features)",
            "target_accounts": "all target accounts",
            "marketing_points_sum": "account-summed marketing points",
            "oracle": "oracle (synthetic truth)",
        },
        baseline="target_accounts",
        volume_name="target_volume",
        capacity="capacity_accounts",
        noun="account",
    ),
}


def marketing_columns(test: pd.DataFrame, kind: str) -> pd.DataFrame:
    """Marketing's own rankers as score columns (the baseline's picks set the volume),
    those the source's columns support."""
    sources = {
        "lead": {"mql_flag": "new_mql", "mql_points": "marketing_points"},
        "account": {
            "target_accounts": "is_target_account",
            "marketing_points_sum": "account_marketing_points",
        },
    }[kind]
    test = test.copy()
    for ranker, column in sources.items():
        if column in test.columns:
            test[ranker] = test[column].astype(float)
    return test
