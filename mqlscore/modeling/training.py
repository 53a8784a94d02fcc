"""Training: fit LightGBM and a logistic regression on a purged time split, keep the one
that ranks validation better, calibrate it only where that helps, say what drives it,
and refit it on every complete row for serving. No files and no MLflow here (see
`tracking`)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from mqlscore.config import TrainParams
from mqlscore.console import progress
from mqlscore.modeling.boosting import LIGHTGBM, fit_model, refit_lightgbm
from mqlscore.modeling.calibration import Calibrator, brier
from mqlscore.modeling.linear import fit_linear, fit_logistic
from mqlscore.modeling.matrix import category_levels
from mqlscore.modeling.packaged import to_matrix
from mqlscore.modeling.propensity import follow_up_weighted
from mqlscore.modeling.scorer import Scorer, typical_values
from mqlscore.modeling.split import Split, check_enough_conversions, split_for
from mqlscore.schema import context_features, feature_columns
from mqlscore.serving.drift import profile

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Trained:
    """The chosen model and the other kind, both fitted without the test period (what
    evaluate scores), the split, the params the chosen model was fitted with (after any
    search), and the training figures."""

    model: Scorer
    comparison: Scorer
    split: Split
    params: TrainParams
    corrected: bool  # trained with the follow-up correction (ipw)
    figures: dict


def importance_table(model: Scorer, sample: pd.DataFrame) -> pd.DataFrame:
    """Per feature: mean |contribution| (SHAP for LightGBM) on a sample, then LightGBM's
    gain and splits or the regression's largest |coefficient|; largest mean first."""
    shap = model.contributions(sample).abs().mean()
    table = pd.DataFrame(
        {"feature": model.features, "mean_abs_shap": shap.reindex(model.features).to_numpy()}
    )
    if model.kind == LIGHTGBM:
        table["gain"] = model.estimator.feature_importance("gain")
        table["splits"] = model.estimator.feature_importance("split")
    else:
        spec = model.estimator.spec
        coef = pd.Series(np.abs(spec["coef"]), index=[f for f, _ in spec["columns"]])
        table["abs_coefficient"] = coef.groupby(level=0).max().reindex(model.features).to_numpy()
    return table.sort_values("mean_abs_shap", ascending=False).reset_index(drop=True)


def calibration_halves(valid: pd.DataFrame) -> np.ndarray:
    """True for the validation rows that check the calibrator, False for those that fit
    it: split by account (a lead without one is its own), so no deal stands behind
    positives in both halves. Two monthly snapshots cannot be split in time and purged
    of a 90-day label window."""
    key = valid["account_id"].astype("object")
    if "lead_id" in valid.columns:
        key = key.where(key.notna(), "lead:" + valid["lead_id"].astype(str))
    hashed = pd.util.hash_array(key.astype(str).to_numpy())
    return (hashed % 2).astype(bool)


def choose_calibration(
    raw: np.ndarray, labels: np.ndarray, check: np.ndarray, min_positives: int
) -> tuple[Calibrator | None, dict]:
    """A calibrator fitted on the `~check` rows is kept (refitted on all of them) only if
    it lowers the Brier score of the `check` rows; else raw probabilities are served."""
    if check.all() or not check.any() or labels[~check].sum() == 0 or labels[~check].all():
        return None, {"calibration": "none", "calibration_tried": "none (no slice to check)"}
    trial = Calibrator.fit(raw[~check], labels[~check], min_positives)
    before, after = brier(raw[check], labels[check]), brier(trial(raw[check]), labels[check])
    kept = after < before
    figures = {
        "calibration": trial.method if kept else "none",
        "calibration_tried": trial.method,
        "calibration_check_rows": int(check.sum()),
        "calibration_check_brier_raw": round(before, 6),
        "calibration_check_brier": round(after, 6),
    }
    return (Calibrator.fit(raw, labels, min_positives) if kept else None), figures


def train_model(
    frame: pd.DataFrame, params: TrainParams, window_days: int, roles: tuple[str, ...] = ()
) -> Trained:
    """Fit both kinds on snapshot rows (lead or account) split with a `window_days` label
    window; the better on validation PR-AUC is the model. `roles`: the buying group's
    role names (`features.buying_group`), which its reasons name."""
    from sklearn.metrics import average_precision_score, roc_auc_score  # slow import

    split = split_for(frame, params, window_days)
    check_enough_conversions(split, params.min_conversions)
    features = feature_columns(frame, params.use_marketing_features)
    corrected = params.follow_up_correction == "ipw" and "worked" in frame.columns
    fit_split = follow_up_weighted(split, features, params.propensity_clip) if corrected else split
    trials = []
    if params.search_trials:
        params, trials = search(fit_split, features, params)
    booster, levels = fit_model(fit_split, features, params)
    linear, linear_levels = fit_logistic(fit_split, features, params)
    recent = split.valid  # drift and context are judged against the latest checked period
    context = {c: float(recent[c].mean()) for c in context_features(features)}
    noun = "leads" if "lead_id" in frame.columns else "accounts"

    def scorer(estimator: object, kind_levels: dict) -> Scorer:
        return Scorer(
            estimator,
            features,
            kind_levels,
            profile=profile(recent, features),
            context=context,
            typical=typical_values(split.train, features, noun, roles),
        )

    candidates = [scorer(booster, levels), scorer(linear, linear_levels)]
    labels = split.valid["label"].to_numpy()
    valid_pr = [
        float(average_precision_score(labels, m.raw_score(split.valid))) for m in candidates
    ]
    model, comparison = candidates if valid_pr[0] >= valid_pr[1] else candidates[::-1]
    model.calibrator, calibration = choose_calibration(
        model.raw_score(split.valid),
        labels,
        calibration_halves(split.valid),
        params.isotonic_min_positives,
    )
    figures = {
        "model_kind": model.kind,
        "comparison_kind": comparison.kind,
        **{
            f"valid_pr_auc_{m.kind}": round(p, 6)
            for m, p in zip(candidates, valid_pr, strict=True)
        },
        **calibration,
        "follow_up_correction": "ipw" if corrected else "none",
        "fit_rows": len(fit_split.train),
        "train_rows": len(split.train),
        "train_positives": int(split.train["label"].sum()),
        "valid_rows": len(split.valid),
        "valid_roc_auc": float(roc_auc_score(labels, model.probability(split.valid))),
        "best_iteration": int(booster.best_iteration),
        "logistic_c": linear.spec["c"],
        "feature_count": len(features),
        "label_window_days": window_days,
        "train_end": str(split.train["snapshot_date"].max().date()),
        "valid_start": str(split.valid["snapshot_date"].min().date()),
        "valid_end": str(split.valid["snapshot_date"].max().date()),
        "test_start": str(split.test["snapshot_date"].min().date()),
    }
    if trials:
        figures["search"] = trials
        figures |= {f"best_{k}": getattr(params, k) for k in params.search_space}
    return Trained(model, comparison, split, params, corrected, figures)


def refit(frame: pd.DataFrame, trained: Trained) -> tuple[Scorer, dict]:
    """The chosen model refitted on every complete row (train, validation, test and the
    embargoed snapshots between them) with the chosen hyperparameters: LightGBM's
    early-stopped number of trees, the regression's penalty. It keeps the evaluation
    model's calibration decision and calibrator: no held-out rows are left to fit a new
    one. Returns the model to serve and how it was fitted, in words."""
    params, model = trained.params, trained.model
    rows = frame[frame["label_complete"] == 1]
    fit_rows = rows
    if trained.corrected:  # propensity refitted on every row too
        fit_rows = follow_up_weighted(
            Split(rows, rows, rows), model.features, params.propensity_clip
        ).train
    if model.kind == LIGHTGBM:
        trees = max(int(trained.figures["best_iteration"]), 1)
        estimator, levels = refit_lightgbm(fit_rows, model.features, params, trees)
        how = f"{trees} trees"
    else:
        levels = category_levels(fit_rows, model.features)
        c = float(model.estimator.spec["c"])
        estimator = fit_linear(fit_rows, model.features, levels, c, params.monotone_increasing)
        how = f"C {c}"
    latest = trained.split.test  # the latest complete period, now part of the fit
    served = Scorer(
        estimator,
        model.features,
        levels,
        calibrator=model.calibrator,
        profile=profile(latest, model.features),
        context={c: float(latest[c].mean()) for c in context_features(model.features)},
        typical=typical_values(
            rows,
            model.features,
            model.typical.get("noun", "leads"),
            tuple(model.typical.get("buying_group", ())),
        ),
    )
    end = rows["snapshot_date"].max().date()
    test_start = trained.split.test["snapshot_date"].min().date()
    return served, {
        "served": f"{model.kind} refit on {len(fit_rows)} rows up to {end} ({how})",
        "evaluated": f"{model.kind} fit on rows before {test_start}",
        "refit_rows": len(fit_rows),
        "refit_end": str(end),
    }


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
