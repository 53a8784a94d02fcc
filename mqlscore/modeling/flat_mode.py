"""Flat mode: one table of leads with a target column, an honest model out.

The leakage audit runs first: a column that alone predicts the outcome almost perfectly,
or whose name says sales filled it in (status, stage, tags, quality, last activity, ...)
and predicts far better than the rest, was recorded after the outcome and is left out.
The model, calibration and evaluation are the main pipeline's own.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from mqlscore.config import FlatParams, TrainParams
from mqlscore.modeling.boosting import fit_model
from mqlscore.modeling.calibration import Calibrator, expected_calibration_error
from mqlscore.modeling.propensity import fit_logistic_baseline
from mqlscore.modeling.scorer import Scorer
from mqlscore.modeling.split import NotEnoughData, Split, check_enough_conversions
from mqlscore.refusal import Refusal
from mqlscore.validation.leakage import single_column_auc

FEATURE_KINDS = ("number", "yes_no", "category")  # the other kinds are named, not used
# Words in a column name that say an outcome or a sales hand: recorded after the lead
# arrived, often after it converted. "last ... activity" in any wording: a CRM's last
# activity is stamped at export time.
LEAKY_NAME = re.compile(
    r"status|stage|tag|quality|convert|\bwon\b|\blost\b|closed|disqualif|reason|owner"
    r"|last\b.*\bactivit|activit.*\blast\b|notable",
    re.IGNORECASE,
)


def leakage_audit(train: pd.DataFrame, kinds: dict[str, str], params: FlatParams) -> pd.DataFrame:
    """Per column: kind, single-column AUC, flagged or not, and why."""
    rows = []
    for column, kind in kinds.items():
        auc = single_column_auc(train[column], train["label"], kind)
        rows.append({"column": column, "kind": kind, "auc": auc})
    table = pd.DataFrame(rows)
    typical = float(table["auc"].median()) if len(table) else 0.5
    named = table["column"].map(lambda c: bool(LEAKY_NAME.search(c)))
    too_good = table["auc"] >= params.leak_auc
    suspicious = named & (table["auc"] >= max(params.name_leak_auc, typical + 0.1))
    table["flagged"] = too_good | suspicious
    table["why"] = np.select(
        [too_good, suspicious],
        [
            f"alone ranks conversions at AUC >= flat.leak_auc ({params.leak_auc})",
            "its name says sales filled it in, and it ranks far above the other columns",
        ],
        default="",
    )
    return table.sort_values("auc", ascending=False).reset_index(drop=True)


def stratified_split(frame: pd.DataFrame, params: FlatParams, date: str | None) -> Split:
    """By time when a date column is named (latest rows test), else stratified by the
    label with a fixed seed."""
    from sklearn.model_selection import train_test_split

    counts = frame["label"].value_counts()
    if len(counts) < 2 or counts.min() < 10:
        raise NotEnoughData(
            f"{len(frame)} labelled rows ({int(counts.get(1, 0))} converted, "
            f"{int(counts.get(0, 0))} not): a flat model needs at least 10 of each to learn "
            "and be tested on"
        )
    test_n = params.test_share
    valid_n = params.valid_share / (1 - test_n)
    if date:
        ordered = frame.sort_values(date, kind="stable")
        cut_test = int(len(ordered) * (1 - test_n))
        cut_valid = int(cut_test * (1 - valid_n))
        return Split(
            ordered.iloc[:cut_valid], ordered.iloc[cut_valid:cut_test], ordered.iloc[cut_test:]
        )
    rest, test = train_test_split(
        frame, test_size=test_n, stratify=frame["label"], random_state=params.seed
    )
    train, valid = train_test_split(
        rest, test_size=valid_n, stratify=rest["label"], random_state=params.seed
    )
    return Split(train, valid, test)


def fit_flat(split: Split, features: list[str], params: TrainParams) -> Scorer:
    """The main pipeline's LightGBM and calibration on the flat columns."""
    booster, levels = fit_model(split, features, params)
    model = Scorer(booster, features, levels)
    model.calibrator = Calibrator.fit(
        model.raw_score(split.valid),
        split.valid["label"].to_numpy(),
        params.isotonic_min_positives,
    )
    return model


def test_metrics(labels: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """ROC-AUC, PR-AUC, precision and lift in the top 10%, calibration error."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    order = np.argsort(-p, kind="stable")[: max(len(p) // 10, 1)]
    top = float(labels[order].mean())
    return {
        "roc_auc": round(float(roc_auc_score(labels, p)), 4),
        "pr_auc": round(float(average_precision_score(labels, p)), 4),
        "precision_at_10pct": round(top, 4),
        "lift_at_10pct": round(top / max(float(labels.mean()), 1e-12), 3),
        "ece": round(expected_calibration_error(p, labels), 4),
    }


def evaluate_flat(
    split: Split, model: Scorer, features: list[str], leaky: Scorer | None
) -> dict[str, dict]:
    """Test figures: the model, a logistic regression on the same columns, and the model
    with the flagged columns kept (what the leak was worth)."""
    labels = split.test["label"].to_numpy()
    baseline = fit_logistic_baseline(split.train, features)
    rows = {
        "model": test_metrics(labels, model.probability(split.test)),
        "logistic_regression": test_metrics(
            labels, baseline.predict_proba(split.test[features])[:, 1]
        ),
    }
    if leaky is not None:
        rows["model_with_flagged_columns"] = test_metrics(labels, leaky.probability(split.test))
    return rows


def check_options(
    columns: list[str],
    target: str,
    id_column: str | None,
    date: str | None,
    named: dict[str, Iterable[str]],
    path: object,
) -> None:
    """The columns train-flat's options name are columns of the file (the target, the id
    and the date three different ones), or the run stops naming the option, the column
    and the closest the file has: a typo in --exclude would otherwise train on the very
    column meant to be left out, and one in --date stopped with a KeyError."""
    import difflib

    def closest(name: str) -> str:
        near = difflib.get_close_matches(name, columns, n=1, cutoff=0.5)
        return f" (closest: {near[0]!r})" if near else ""

    given = {"--target": [target], "--id": [id_column] if id_column is not None else []}
    given |= {"--date": [date] if date is not None else [], **named}
    for option, names in given.items():
        for name in names:
            if name not in columns:
                raise Refusal(
                    f"{path}: {option} {name!r} is not a column of the file{closest(name)}"
                )
    roles = {"--target": target, "--id": id_column, "--date": date}
    taken = [(o, c) for o, c in roles.items() if c is not None]
    for i, (option, column) in enumerate(taken):
        for other, same in taken[i + 1 :]:
            if column == same:
                raise Refusal(f"{path}: {option} and {other} both name {column!r}")


@dataclass(frozen=True)
class FlatTraining:
    """A flat table's training: the model (the flagged columns left out), its test
    figures beside the logistic regression and the leaky model, the audit."""

    model: Scorer
    example: pd.DataFrame  # a few training rows, for the model's signature
    table: dict[str, dict]  # test figures per model
    metrics: dict  # the model's test figures, the other rows, rows and conversions per split
    audit: pd.DataFrame  # per column: kind, AUC alone, flagged and why, kept anyway
    leakage: dict  # the audit, the flagged columns and the columns that are no features
    importance: pd.DataFrame
    features: list[str]
    flagged: list[str]
    dropped: dict[str, str]  # column -> kind, for the columns of no feature kind


def train_flat(
    frame: pd.DataFrame,
    kinds: dict[str, str],
    config: FlatParams,
    train: TrainParams,
    *,
    id_column: str | None = None,
    date: str | None = None,
    exclude: Iterable[str] = (),
    keep: Iterable[str] = (),
) -> FlatTraining:
    """Split, audit every usable column for leakage, fit without the flagged ones (and
    with them, to show what the leak was worth), evaluate on the test rows."""
    from mqlscore.modeling.training import importance_table

    frame = frame[frame["label"].notna()].astype({"label": int})
    kinds = {c: k for c, k in kinds.items() if c not in set(exclude)}
    split = stratified_split(frame, config, date)
    check_enough_conversions(split, train.min_conversions)
    usable = {c: k for c, k in kinds.items() if k in FEATURE_KINDS}
    audit = leakage_audit(split.train, usable, config)
    audit["kept_anyway"] = audit["column"].isin(list(keep))
    flagged = audit.loc[audit["flagged"] & ~audit["kept_anyway"], "column"].tolist()
    features = [c for c in usable if c not in flagged]
    model = fit_flat(split, features, train)
    model.meta = {"flat": {"kinds": kinds, "id": id_column, "features": features}}
    leaky = fit_flat(split, list(usable), train) if flagged else None
    table = evaluate_flat(split, model, features, leaky)
    parts = ("train", "valid", "test")
    metrics = table["model"] | {k: v for k, v in table.items() if k != "model"}
    metrics["rows"] = {n: len(getattr(split, n)) for n in parts}
    metrics["conversions"] = {n: int(getattr(split, n)["label"].sum()) for n in parts}
    dropped = {c: k for c, k in kinds.items() if k not in FEATURE_KINDS}
    leakage = {
        "columns": audit.to_dict(orient="records"),
        "flagged": flagged,
        "not_features": dropped,
    }
    importance = importance_table(
        model, split.train.sample(min(len(split.train), 20_000), random_state=0)
    )
    return FlatTraining(
        model=model,
        example=model.example(split.train),
        table=table,
        metrics=metrics,
        audit=audit,
        leakage=leakage,
        importance=importance,
        features=features,
        flagged=flagged,
        dropped=dropped,
    )
