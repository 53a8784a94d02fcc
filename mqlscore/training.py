"""Training: fit the lead or account model on a time-based split, calibrate it, and say
what drives it. No files and no MLflow here (see `tracking`)."""

from __future__ import annotations

import logging

import pandas as pd

from mqlscore.config import TrainParams
from mqlscore.console import progress
from mqlscore.drift import profile
from mqlscore.model import (
    Calibrator,
    Scorer,
    Split,
    check_enough_conversions,
    fit_model,
    follow_up_weighted,
    split_for,
    to_matrix,
    typical_values,
)
from mqlscore.schema import context_features, feature_columns

log = logging.getLogger(__name__)
KINDS = ("lead", "account")


def importance_table(model: Scorer, sample: pd.DataFrame) -> pd.DataFrame:
    """Per feature: mean |SHAP| on a sample, gain and splits; largest mean |SHAP| first."""
    shap = model.contributions(sample).abs().mean()
    return (
        pd.DataFrame(
            {
                "feature": model.features,
                "mean_abs_shap": shap.reindex(model.features).to_numpy(),
                "gain": model.booster.feature_importance("gain"),
                "splits": model.booster.feature_importance("split"),
            }
        )
        .sort_values("mean_abs_shap", ascending=False)
        .reset_index(drop=True)
    )


def train_model(frame: pd.DataFrame, params: TrainParams) -> tuple[Scorer, dict]:
    """Fit a model on snapshot rows (lead or account); return it with its training figures."""
    from sklearn.metrics import roc_auc_score  # slow import: here only

    split = split_for(frame, params)
    check_enough_conversions(split, params.min_conversions)
    features = feature_columns(frame, params.use_marketing_features)
    corrected = params.follow_up_correction == "ipw" and "worked" in frame.columns
    fit_split = follow_up_weighted(split, features, params.propensity_clip) if corrected else split
    trials = []
    if params.search_trials:
        params, trials = search(fit_split, features, params)
    booster, levels = fit_model(fit_split, features, params)
    recent = split.valid  # drift and context are judged against the latest checked period
    context = {c: float(recent[c].mean()) for c in context_features(features)}
    noun = "leads" if "lead_id" in frame.columns else "accounts"
    model = Scorer(
        booster,
        features,
        levels,
        profile=profile(recent, features),
        context=context,
        typical=typical_values(split.train, features, noun),
    )
    raw_valid = model.raw_score(split.valid)
    model.calibrator = Calibrator.fit(
        raw_valid, split.valid["label"].to_numpy(), params.isotonic_min_positives
    )
    figures = {
        "calibration": model.calibrator.method,
        "follow_up_correction": "ipw" if corrected else "none",
        "fit_rows": len(fit_split.train),
        "train_rows": len(split.train),
        "train_positives": int(split.train["label"].sum()),
        "valid_rows": len(split.valid),
        "valid_roc_auc": float(
            roc_auc_score(split.valid["label"], model.probability(split.valid))
        ),
        "best_iteration": int(booster.best_iteration),
        "feature_count": len(features),
        "train_end": str(split.train["snapshot_date"].max().date()),
        "test_start": str(split.test["snapshot_date"].min().date()),
    }
    if trials:
        figures["search"] = trials
        figures |= {f"best_{k}": getattr(params, k) for k in params.search_space}
    return model, figures


def search(split: Split, features: list[str], params: TrainParams) -> tuple[TrainParams, list]:
    """Random search over `search_space` (`search_trials` draws, seeded), judged by PR-AUC
    on the validation period; the current params are the first candidate. Returns the best
    params and every trial."""
    from sklearn.metrics import average_precision_score
    from sklearn.model_selection import ParameterSampler

    draws = ParameterSampler(
        {k: list(v) for k, v in params.search_space.items()},
        n_iter=params.search_trials,
        random_state=params.seed,
    )
    candidates = [params] + [params.model_copy(update=d) for d in draws]
    trials, best, best_score = [], params, -1.0
    for candidate in progress(candidates, "hyperparameter search"):
        booster, levels = fit_model(split, features, candidate)
        raw = booster.predict(
            to_matrix(split.valid, features, levels), num_iteration=booster.best_iteration
        )
        score = float(average_precision_score(split.valid["label"], raw))
        trials.append({**{k: getattr(candidate, k) for k in params.search_space}, "pr_auc": score})
        if score > best_score:
            best, best_score = candidate, score
    log.info("search: best validation PR-AUC %.4f of %d trials", best_score, len(trials))
    return best, trials
