"""The published lead and account tables: names and order are stable (documented in
docs/nightly-scoring.md)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from mqlscore.config import ScoreParams
from mqlscore.io import atomic_path, write_parquet
from mqlscore.modeling.scorer import grade, score_0_100
from mqlscore.schema import longest_window
from mqlscore.serving.handovers import qualify, top_percent

# What a scoring run publishes, the manifest last (it says the set is complete).
OUTPUT_FILES = (
    "lead_scores.parquet",
    "lead_scores.csv",
    "account_scores.parquet",
    "account_scores.csv",
    "rejects.csv",
    "handovers.parquet",
    "manifest.json",
)


REASON_COLUMNS = [f"reason_{d}_{k}" for d in ("up", "down") for k in (1, 2, 3)]


# The published output: names and order are stable (documented in docs/nightly-scoring.md).
LEAD_COLUMNS = [
    "lead_id",
    "account_id",
    "match_rule",
    "probability",
    "score",
    "grade",
    "rank",
    "top_percent",
    "qualified",
    "handed_over_at",
    "on_open_opportunity",
    "marketing_mql",
    "marketing_points",
    *REASON_COLUMNS,
]


ACCOUNT_COLUMNS = [
    "account_id",
    "probability",
    "score",
    "grade",
    "rank",
    "qualified",
    "on_open_opportunity",
    "engaged_buying_group_members",
    "buying_group_coverage",
    "leads_scored",
    "best_lead_id",
    "best_lead_score",
    *REASON_COLUMNS,  # the account model's own reasons, by the same rules
]


def lead_output(
    features: pd.DataFrame,
    probability: np.ndarray,
    rank: np.ndarray,
    qualified: np.ndarray,
    reasons: pd.DataFrame | None,
    cuts: dict[str, float],
    handed_over_at: np.ndarray | None = None,
    scored_total: int = 0,
) -> pd.DataFrame:
    """The published lead rows for one chunk (`scored_total`: the run's scored leads,
    which `top_percent` is a share of)."""
    out = pd.DataFrame(
        {
            "lead_id": features["lead_id"].to_numpy(),
            "account_id": features["account_id"].to_numpy(),
            "match_rule": features["match_rule"].to_numpy(),
            "probability": np.round(probability, 6),
            "score": score_0_100(probability),
            "grade": grade(probability, cuts),
            "rank": rank,
            "top_percent": top_percent(rank, scored_total or len(features)),
            "qualified": qualified.astype(bool),
            "handed_over_at": np.full(len(features), np.datetime64("NaT"), "datetime64[us]")
            if handed_over_at is None
            else handed_over_at,
            "on_open_opportunity": features["on_open_opportunity"].astype(bool).to_numpy(),
            "marketing_mql": features["is_mql"].astype(bool).to_numpy(),
            "marketing_points": features["marketing_points"].astype("int64").to_numpy(),
        }
    )
    for column in REASON_COLUMNS:
        out[column] = "" if reasons is None else reasons[column].to_numpy()
    return out[LEAD_COLUMNS]


def account_output(
    accounts: pd.DataFrame,
    probability: np.ndarray,
    leads: pd.DataFrame,
    cuts: dict[str, float],
    config: ScoreParams,
    reasons: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per account: its score, rank and the hand-over decision (as for leads,
    never an account already on an open deal), buying-group engagement, its best lead,
    and the account model's three strongest reasons each way."""
    out = pd.DataFrame(
        {
            "account_id": accounts["account_id"].to_numpy(),
            "probability": np.round(probability, 6),
            "score": score_0_100(probability),
            "grade": grade(probability, cuts),
            "on_open_opportunity": accounts["on_open_opportunity"].astype(bool).to_numpy(),
            "engaged_buying_group_members": accounts[
                longest_window(accounts.columns, "account_engaged_contacts")
            ]
            .astype("int64")
            .to_numpy(),
            "buying_group_coverage": accounts["buying_group_coverage"].round(3).to_numpy(),
        }
    )
    out["rank"], out["qualified"] = qualify(
        probability,
        out["account_id"].to_numpy(),
        out["on_open_opportunity"].to_numpy(),
        config,
        capacity=config.account_capacity_per_run,
    )
    matched = leads.dropna(subset=["account_id"]).sort_values(["rank"])
    best = matched.drop_duplicates("account_id").set_index("account_id")
    counts = matched.groupby("account_id").size()
    out["leads_scored"] = out["account_id"].map(counts).fillna(0).astype("int64")
    out["best_lead_id"] = out["account_id"].map(best["lead_id"])
    out["best_lead_score"] = out["account_id"].map(best["score"]).astype("Int64")
    for column in REASON_COLUMNS:
        out[column] = "" if reasons is None else reasons[column].to_numpy()
    return out[ACCOUNT_COLUMNS]


def write_table(frame: pd.DataFrame, stem: Path) -> None:
    """The same table as CSV and Parquet (one writer: same spelling), each atomically."""
    import pyarrow as pa
    import pyarrow.csv as pcsv

    write_parquet(frame, stem.with_suffix(".parquet"))
    with atomic_path(stem.with_suffix(".csv")) as tmp:
        pcsv.write_csv(pa.Table.from_pandas(frame, preserve_index=False), tmp)
