"""Did past scores come true? Past nightly scoring outputs joined with the opportunities
of a later export: realised conversion by grade and score decile per scoring month, the
MQL flag's beside them.

A scored lead converted when it is a contact on an opportunity created within the label
window after the scoring run, as in training. Pure functions: frames in, frames out.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def realised(
    scores: pd.DataFrame,
    opportunities: pd.DataFrame,
    contacts: pd.DataFrame,
    window_days: int,
    seen_until: pd.Timestamp,
) -> pd.DataFrame:
    """Each scored row (`lead_id`, `run_date`, ...) with `converted`, `won` and `complete`
    (the label window had ended by the later export)."""
    window = pd.Timedelta(days=window_days)
    deals = contacts[["opportunity_id", "lead_id"]].merge(
        opportunities[["opportunity_id", "created_at", "is_won"]], on="opportunity_id"
    )
    pairs = scores[["lead_id", "run_date"]].drop_duplicates().merge(deals, on="lead_id")
    inside = (pairs["created_at"] >= pairs["run_date"]) & (
        pairs["created_at"] < pairs["run_date"] + window
    )
    pairs = pairs[inside].assign(won=pairs["is_won"].eq(True))
    hits = pairs.groupby(["lead_id", "run_date"]).agg(
        converted=("opportunity_id", "size"), won=("won", "max")
    )
    out = scores.merge(hits.reset_index(), on=["lead_id", "run_date"], how="left")
    out["converted"] = out["converted"].fillna(0).gt(0)
    out["won"] = out["won"].fillna(False).astype(bool)
    out["complete"] = out["run_date"] + window <= seen_until
    out["month"] = out["run_date"].dt.strftime("%Y-%m")
    return out


def _rates(rows: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    table = rows.groupby(by, observed=True).agg(
        leads=("lead_id", "size"), converted=("converted", "sum"), won=("won", "sum")
    )
    table["conversion_rate"] = (table["converted"] / table["leads"]).round(4)
    return table.reset_index()


def by_grade(rows: pd.DataFrame) -> pd.DataFrame:
    """Per scoring month: realised conversion per grade, for the handed-over leads and for
    every lead marketing had flagged MQL by then (grade column "MQL flag")."""
    graded = _rates(rows, ["month", "grade"])
    handed = _rates(rows[rows["qualified"]], ["month"]).assign(grade="handed over")
    mqls = _rates(rows[rows["marketing_mql"]], ["month"]).assign(grade="MQL flag")
    table = pd.concat([graded, handed, mqls], ignore_index=True)
    complete = rows.groupby("month")["complete"].all()
    table["window_complete"] = table["month"].map(complete)
    return table.sort_values(["month", "grade"]).reset_index(drop=True)


def by_decile(rows: pd.DataFrame) -> pd.DataFrame:
    """Per scoring month, realised conversion by score decile (1 = the top tenth)."""
    ranked = rows.groupby("month")["probability"].rank(method="first", ascending=False, pct=True)
    decile = np.ceil(ranked * 10).clip(upper=10).astype(int)
    table = _rates(rows.assign(decile=decile), ["month", "decile"])
    return table.pivot(index="decile", columns="month", values="conversion_rate").reset_index()


def verdict(grades: pd.DataFrame) -> str:
    """One sentence: does grade A keep converting above B, and above marketing's MQLs?"""
    done = grades[grades["window_complete"]]
    wide = done.pivot(index="month", columns="grade", values="conversion_rate")
    months = len(wide)
    if not months or not {"A", "B"} <= set(wide.columns):
        return "No scoring month has both A and B leads with a finished label window yet."
    a_over_b = int((wide["A"] > wide["B"]).sum())
    text = f"In {a_over_b} of {months} scoring months with a finished label window, grade A "
    text += f"converted above grade B (A {wide['A'].mean():.1%} vs B {wide['B'].mean():.1%} "
    text += "on average)"
    if "MQL flag" in wide:
        text += f"; every lead marketing had flagged MQL: {wide['MQL flag'].mean():.1%}"
    return text + "."
