"""Flat mode's nightly side: check a flat file against its model, find the rows that
cannot be scored, and publish the scored rows with their reasons."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mqlscore.modeling.scorer import Scorer, grade, score_0_100
from mqlscore.refusal import Refusal
from mqlscore.serving.outputs import REASON_COLUMNS
from mqlscore.serving.reasons import explain


def check_columns(raw: pd.DataFrame, features: list[str], path: object) -> None:
    """Every column the model learned from is in the file to score, or the run stops
    naming the missing ones and the closest the file has (a renamed column would
    otherwise score every lead alike, with exit 0)."""
    import difflib

    missing = [f for f in features if f not in raw.columns]
    if missing:
        near = {
            m: difflib.get_close_matches(m, list(raw.columns), n=1, cutoff=0.5) for m in missing
        }
        hints = "; ".join(
            f"{m!r}" + (f" (closest: {c[0]!r})" if c else "") for m, c in near.items()
        )
        raise Refusal(f"{path}: the model's column(s) {hints} are not in the file")


def row_problems(raw: pd.DataFrame, frame: pd.DataFrame, spec: dict) -> pd.Series:
    """Per row, why it cannot be scored ('' when it can): a blank id, or a number or
    yes/no cell that is neither. A category never seen in training scores as unknown."""
    problems = pd.Series("", index=frame.index)
    if spec["id"]:
        problems[frame["_id"].isna()] += "id is blank; "
    for column in spec["features"]:
        kind = spec["kinds"][column]
        if kind in ("number", "yes_no") and column in raw.columns:
            bad = raw[column].notna() & frame[column].isna()
            problems[bad] += (
                f"{column}: " + raw.loc[bad, column].astype(str) + f" is not a {kind}; "
            )
    return problems.str.rstrip("; ")


def flat_scores(scorer: Scorer, rows: pd.DataFrame, cuts: dict, has_id: bool) -> pd.DataFrame:
    """The published rows: id, probability, 0-100 score, grade, rank, reasons in words
    (column = value), best first."""
    rows = rows.assign(**{c: None for c in scorer.features if c not in rows.columns})
    p = scorer.probability(rows)
    order = np.argsort(-p, kind="stable")
    rank = np.empty(len(p), dtype=int)
    rank[order] = np.arange(1, len(p) + 1)
    out = pd.DataFrame(
        {
            "id": rows["_id"].to_numpy() if has_id else rows.index.to_numpy() + 1,
            "probability": np.round(p, 6),
            "score": score_0_100(p),
            "grade": grade(p, cuts),
            "rank": rank,
        }
    )
    reasons = explain(scorer, rows)
    for column in REASON_COLUMNS:
        out[column] = reasons[column].to_numpy()
    return out.sort_values("rank").reset_index(drop=True)
