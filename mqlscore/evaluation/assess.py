"""One model's assessment on its test period: every ranker side by side at marketing's
volume and sales' capacity, calibration, the follow-up check, the gate and the curves."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from mqlscore.config import EvaluateParams, TrainParams
from mqlscore.evaluation.follow_up import follow_up_comparison, test_rows
from mqlscore.evaluation.gate import quality_gate
from mqlscore.evaluation.intervals import bootstrap_for
from mqlscore.evaluation.kinds import KINDS
from mqlscore.evaluation.ranking import gains_curve, precision_at_k
from mqlscore.evaluation.reliability import calibration_summary, reliability_curve
from mqlscore.evaluation.volume import (
    absent_rankers,
    capacity_per_snapshot,
    present_rankers,
    side_by_side,
)
from mqlscore.modeling.scorer import Scorer


@dataclass(frozen=True)
class Assessment:
    """What evaluate writes: the figures (`summary`), the scored test rows, the curves,
    and the rankers this source cannot supply."""

    summary: dict
    table: dict[str, dict]  # the side-by-side part of the summary
    test: pd.DataFrame
    curves: dict[str, pd.DataFrame]
    absent: list[str]


def assess(
    kind: str,
    frame: pd.DataFrame,
    outcomes: pd.DataFrame,
    evaluated: dict[str, Scorer],
    oracle: pd.DataFrame | None,
    params: tuple[TrainParams, EvaluateParams, int],
) -> Assessment:
    """Score the test period with the model and the comparison (both fitted without it),
    beside marketing's rankers; `params`: train, evaluate and the label window in days."""
    train, config, window = params
    spec, scorer = KINDS[kind], evaluated["model"]
    test = test_rows(frame, scorer, evaluated["comparison"], train, window, kind, oracle)
    capacity = capacity_per_snapshot(test, getattr(config, spec.capacity))
    boot = bootstrap_for(
        test, spec.key, config.bootstrap_resamples, config.bootstrap_seed, config.interval
    )
    table = side_by_side(test, outcomes, spec, capacity, boot)
    labels, calibrated = test["label"].to_numpy(), test["model"].to_numpy()
    calibration = calibration_summary(scorer.raw_score(test), calibrated, labels, config.grades)
    extra = {}
    if kind == "lead" and "oracle" in test:
        extra["never_worked"] = follow_up_comparison(frame, test, train, window, scorer.kind)
    rankers = present_rankers(test, spec)
    curves = {
        "gains": gains_curve(test, rankers),
        "precision_at_k": precision_at_k(test, rankers),
        "calibration": reliability_curve(calibrated, labels),
    }
    own = spec.rankers[scorer.kind]  # the model's own kind is the model row, not absent
    summary = {
        **table,
        "model_kind": scorer.kind,
        "comparison_kind": evaluated["comparison"].kind,
        "calibration": calibration,
        "gate": quality_gate(table, spec, config.require_beats_mql, config.min_roc_auc),
        **extra,
    }
    absent = [label for label in absent_rankers(test, spec) if label != own]
    return Assessment(summary, table, test, curves, absent)
