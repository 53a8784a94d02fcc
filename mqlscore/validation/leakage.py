"""Leakage audits: a column that alone ranks conversions almost perfectly, or one value of
which converts on every row (or on none) of many, was likely filled in after the outcome.

Used on a flat lead table before training (`mqlscore.flat_mode`) and on the model tables in
`validate_features`, where a CRM field read as today's value (a lead's account filled at
conversion, a status) shows up as a feature too good to be true.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import pandas as pd

from mqlscore.config import ValidateParams
from mqlscore.schema import feature_columns

log = logging.getLogger(__name__)

# Likely causes by feature name (prefix or exact): the first that fits is named.
CAUSES: tuple[tuple[tuple[str, ...], str], ...] = (
    (
        ("match_rule", "no_account", "account_", "buying_group", "employees", "industry"),
        "the leads' CRM account may be filled only when sales converts them (Salesforce's "
        "ConvertedAccountId): map a lookup set before conversion, or drop "
        "`known_at_creation: [account_id]` from the mapping",
    ),
    (
        ("x_",),
        "a lead column the mapping passes through (`extra`) may be filled in by sales "
        "after the lead converted (a status, a stage, a reason)",
    ),
    (
        ("sales_touches",),
        "sales touches may be logged only on leads already handed over or converted",
    ),
)
DEFAULT_CAUSE = "a field recorded after the outcome, read as if it were known before"
MIN_ROWS = 30  # a value on fewer rows than this says nothing on its own


def single_column_auc(values: pd.Series, labels: pd.Series, kind: str) -> float:
    """How well one column alone ranks conversions on the training rows: numbers by
    value (either direction), other kinds by each value's conversion rate there (levels
    of fewer than `MIN_ROWS` rows pooled: scored on the rows that made it, a rare level
    would look like a perfect predictor)."""
    from sklearn.metrics import roc_auc_score

    if labels.nunique() < 2:
        return 0.5
    if kind in ("number", "yes_no"):
        score = values.astype(float).fillna(values.astype(float).median())
        if score.nunique() < 2:
            return 0.5
    else:
        keys = values.astype(object).where(values.notna(), "(missing)").astype(str)
        sizes = keys.map(keys.value_counts())
        keys = keys.where(sizes >= MIN_ROWS, "(rare)")  # a level's own rows would fit it
        score = keys.map(labels.groupby(keys).mean())
    auc = float(roc_auc_score(labels, score))
    return round(max(auc, 1 - auc), 4)


def one_sided_values(
    values: pd.Series, labels: pd.Series, lift: float
) -> list[tuple[str, int, float]]:
    """Values of at least `MIN_ROWS` rows that convert on every row, or that hold at least
    half of all conversions at `lift` times the base rate or more (value, rows, rate): a
    field filled in once a lead converted (a converted account, a status). A value that
    never converts is no sign: students and account-less people rightly never do."""
    keys = values.astype(object).where(values.notna(), "(missing)").astype(str)
    stats = labels.groupby(keys).agg(["size", "sum"])
    positives, base = float(labels.sum()), float(labels.mean())
    found = []
    for value, (rows, hits) in stats[stats["size"] >= MIN_ROWS].iterrows():
        rate = hits / rows
        concentrated = hits >= positives / 2 and rate >= lift * base
        if positives and (hits == rows or concentrated):
            found.append((str(value), int(rows), round(float(rate), 4)))
    return found


@dataclass(frozen=True)
class Leak:
    """A feature the audit stops on, unless kept."""

    column: str
    auc: float
    why: str
    cause: str
    kept: bool

    def message(self, table: str) -> str:
        kept = " (kept: validate.leak_keep)" if self.kept else ""
        return (
            f"{table}.{self.column}: {self.why}; likely cause: {self.cause}; if it is known "
            f"before the outcome, list it in validate.leak_keep{kept}"
        )


def cause_of(column: str) -> str:
    """The likely cause of a leak in a feature of this name."""
    for prefixes, cause in CAUSES:
        if column.startswith(prefixes):
            return cause
    return DEFAULT_CAUSE


def audit_features(
    frame: pd.DataFrame,
    features: list[str],
    leak_auc: float,
    lift: float,
    keep: tuple[str, ...] = (),
) -> tuple[pd.DataFrame, list[Leak]]:
    """Each feature's single-column ROC-AUC and one-sided values on the rows with a
    complete label (those a model learns from); the features at `leak_auc` or above, or
    with a one-sided value, as leaks (kept where `keep` names them)."""
    rows = frame[frame["label_complete"] == 1] if "label_complete" in frame else frame
    labels = rows["label"].astype(int)
    table, leaks = [], []
    for column in features:
        kind = "number" if pd.api.types.is_numeric_dtype(rows[column]) else "category"
        auc = single_column_auc(rows[column], labels, kind)
        sided = one_sided_values(rows[column], labels, lift)
        table.append({"column": column, "auc": auc, "one_sided": len(sided)})
        why = []
        if auc >= leak_auc:
            why.append(
                f"alone ranks conversions at ROC-AUC {auc:.3f} (validate.leak_auc {leak_auc})"
            )
        why += [
            f"value {v!r} converts {rate:.1%} of {n} rows (all rows: {labels.mean():.2%})"
            for v, n, rate in sided[:3]
        ]
        if why:
            leaks.append(Leak(column, auc, "; ".join(why), cause_of(column), column in keep))
    audit = pd.DataFrame(table, columns=["column", "auc", "one_sided"])
    return audit.sort_values("auc", ascending=False).reset_index(drop=True), leaks


def audit_tables(
    frames: dict[str, pd.DataFrame], config: ValidateParams, use_marketing: bool
) -> tuple[dict, list[dict]]:
    """The leakage audit of each model table: its most telling features (DVC metrics) and
    a failure per leaking feature not kept by `validate.leak_keep`."""
    summary, failures = {}, []
    for kind, frame in frames.items():
        features = feature_columns(frame, use_marketing)
        audit, leaks = audit_features(
            frame, features, config.leak_auc, config.leak_lift, config.leak_keep
        )
        table = f"{kind}_snapshots"
        summary[kind] = {
            "top_auc": audit.head(5).to_dict("records"),
            "leaks": [leak.message(table) for leak in leaks],
        }
        for leak in leaks:
            if leak.kept:
                log.warning("warning: %s", leak.message(table))
            else:
                failures.append(
                    {"table": table, "column": leak.column, "auc": leak.auc}
                    | {"check": "leakage", "message": leak.message(table)}
                )
    for name in sorted(set(config.leak_keep) - {c for f in frames.values() for c in f}):
        log.warning("validate.leak_keep names %s, which no model table has", name)
    return summary, failures
