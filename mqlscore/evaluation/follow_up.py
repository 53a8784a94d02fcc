"""Follow-up bias: the test rows by lead source and the propensity-weighted comparison."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mqlscore.config import TrainParams
from mqlscore.evaluation.kinds import KINDS, marketing_columns
from mqlscore.evaluation.volume import never_worked_check
from mqlscore.modeling.scorer import Scorer
from mqlscore.modeling.split import split_for


def test_rows(
    frame: pd.DataFrame,
    scorer: Scorer,
    comparison: Scorer,
    params: TrainParams,
    window_days: int,
    kind: str,
    truth: pd.DataFrame | None,
) -> pd.DataFrame:
    """The test period with every ranker as a score column: the model, the other model
    kind fitted on the same purged split (named by its kind: `logistic_regression` or
    `lightgbm`), marketing's own pick, and the oracle when a truth table exists."""
    split = split_for(frame, params, window_days)
    test = marketing_columns(split.test, kind)
    test[comparison.kind] = comparison.probability(test)
    test["model"] = scorer.probability(test)
    if kind == "lead" and "lead_source" in test.columns:
        test["lead_source_rate"] = source_rates(split.train, test)
    if np.isnan(test["model"]).any():
        raise ValueError("model returned missing probabilities")
    if truth is not None:
        key = KINDS[kind].key
        oracle = truth.set_index([key, "snapshot_date"])["p_opportunity"]
        keys = pd.MultiIndex.from_frame(test[[key, "snapshot_date"]])
        test["oracle"] = oracle.reindex(keys).fillna(0.0).to_numpy()
    return test


def source_rates(train: pd.DataFrame, test: pd.DataFrame) -> np.ndarray:
    """A one-feature baseline: each test lead scored by its lead source's conversion rate
    on the training period (unseen or blank sources: the overall rate)."""
    sources = train["lead_source"].fillna("(blank)")
    rates = train.groupby(sources)["label"].mean()
    mapped = test["lead_source"].fillna("(blank)").map(rates)
    return mapped.fillna(train["label"].mean()).to_numpy(dtype=float)


def follow_up_comparison(
    frame: pd.DataFrame, test: pd.DataFrame, params: TrainParams, window_days: int, kind: str
) -> dict[str, dict[str, float]]:
    """The lead model with the other follow-up setting (the same model `kind`, so the
    duel is the setting's, not the kinds'), both ranked on the leads sales never worked
    against the truth (needs the oracle column)."""
    from mqlscore.modeling.training import train_model

    corrected = params.follow_up_correction == "ipw"
    update = {"follow_up_correction": "none" if corrected else "ipw"}
    trained = train_model(frame, params.model_copy(update=update), window_days)
    other = trained.model if trained.model.kind == kind else trained.comparison
    test = test.assign(**{"naive_model" if corrected else "ipw_model": other.raw_score(test)})
    test["ipw_model" if corrected else "naive_model"] = test["model"]
    return never_worked_check(test, ["ipw_model", "naive_model", "oracle"])
