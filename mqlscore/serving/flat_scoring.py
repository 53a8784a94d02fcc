"""Flat mode's nightly side: check a flat file against its model, find the rows that
cannot be scored, and publish the scored rows with their reasons."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mqlscore.modeling.scorer import Scorer, grade, score_0_100
from mqlscore.privacy import shown
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


class NothingToScore(Refusal, ValueError):
    """A flat file with no row that can be scored: no rows, or every one rejected."""


def check_scoreable(problems: pd.Series, path: object) -> None:
    """Some row of the file can be scored, or the run stops saying why the first cannot
    (a header-only file, or an id column left blank on every row, scored nothing: the
    model was asked to score an empty table, exit 3)."""
    if not len(problems):
        raise NothingToScore(f"{path}: the file holds no rows to score")
    if (problems != "").all():
        raise NothingToScore(
            f"{path}: none of its {len(problems):,} rows can be scored; the first, data row "
            f"{problems.index[0] + 1}: {shown(problems.iloc[0])}"
        )


def ranks(p: np.ndarray, ties: np.ndarray | None = None) -> np.ndarray:
    """1 = the best row; equal probabilities rank by `ties` (the id), so the same leads in
    another order get the same ranks (by row order, a shuffled file ranked them anew), or
    without ids by row order."""
    keys = pd.DataFrame({"p": -np.asarray(p, dtype=float)})
    if ties is not None:
        keys["tie"] = pd.Series(ties).astype(str).to_numpy()
    order = keys.sort_values(list(keys.columns), kind="stable").index.to_numpy()
    rank = np.empty(len(order), dtype=int)
    rank[order] = np.arange(1, len(order) + 1)
    return rank


def flat_scores(scorer: Scorer, rows: pd.DataFrame, cuts: dict, has_id: bool) -> pd.DataFrame:
    """The published rows: id, probability, 0-100 score, grade, rank (ties by id), reasons
    in words (column = value), best first."""
    rows = rows.assign(**{c: None for c in scorer.features if c not in rows.columns})
    p = scorer.probability(rows)
    ids = rows["_id"].to_numpy() if has_id else rows.index.to_numpy() + 1
    out = pd.DataFrame(
        {
            "id": ids,
            "probability": np.round(p, 6),
            "score": score_0_100(p),
            "grade": grade(p, cuts),
            "rank": ranks(p, ids if has_id else None),
        }
    )
    reasons = explain(scorer, rows)
    for column in REASON_COLUMNS:
        out[column] = reasons[column].to_numpy()
    return out.sort_values("rank").reset_index(drop=True)
