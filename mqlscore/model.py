"""Lead and account models: purged time split, input matrix, LightGBM and logistic
regression fits, and the scorer that serves either.

No MLflow here (see `tracking`); the same code fits the lead and the account model.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from mqlscore.config import TrainParams
from mqlscore.packaged import (
    BOOSTER_FILE,
    LINEAR_FILE,
    SPEC_FILE,
    LinearModel,
    calibrate,
    read_folder,
    to_matrix,
)
from mqlscore.refusal import Refusal
from mqlscore.schema import (
    MARKETING_COLUMNS,
)

if TYPE_CHECKING:
    import lightgbm as lgb

CATEGORICAL_DTYPES = ("object", "category", "string", "str")
LIGHTGBM, LOGISTIC = "lightgbm", "logistic_regression"


class NotEnoughData(Refusal, ValueError):
    """Too few snapshots or conversions to train and test honestly."""


@dataclass(frozen=True)
class Split:
    train: pd.DataFrame
    valid: pd.DataFrame
    test: pd.DataFrame


def window_ends_by(dates: pd.Series | np.ndarray, start: object, window_days: int) -> np.ndarray:
    """Whether a snapshot lies before `start` and its label window [date, date +
    `window_days`) closes by it."""
    dates = pd.to_datetime(pd.Series(np.asarray(dates)))
    start = pd.Timestamp(start)
    return ((dates < start) & (dates + pd.Timedelta(days=window_days) <= start)).to_numpy()


def time_split(
    frame: pd.DataFrame, test_snapshots: int, valid_snapshots: int, window_days: int
) -> Split:
    """Purged split: the latest complete snapshots are test, the latest whose label
    windows close by the test start are validation, those whose windows close by the
    validation start are train.

    The snapshots between periods are an embargo, dropped rather than given shorter
    labels: a cut label would mean "converted within fewer days" near each boundary, and
    the served model is refit on every complete row anyway (`training.refit`), so the
    embargo costs the evaluation model only.
    """
    complete = frame[frame["label_complete"] == 1]
    dates = np.sort(complete["snapshot_date"].unique())
    train_dates = valid_dates = dates[:0]
    if len(dates) > test_snapshots:
        before_test = dates[window_ends_by(dates, dates[-test_snapshots], window_days)]
        if len(before_test) >= valid_snapshots:
            valid_dates = before_test[-valid_snapshots:]
            train_dates = dates[window_ends_by(dates, valid_dates[0], window_days)]
    if len(train_dates) == 0:
        raise NotEnoughData(
            f"{len(dates)} complete snapshots; need at least "
            f"{test_snapshots + valid_snapshots + 1} (test {test_snapshots}, validation "
            f"{valid_snapshots}, train 1) plus, between periods, the snapshots of a "
            f"{window_days}-day label window (features.label_window_days), so that no "
            "label window crosses into the next period"
        )
    when = complete["snapshot_date"]
    return Split(
        train=complete[when.isin(train_dates)],
        valid=complete[when.isin(valid_dates)],
        test=complete[when >= dates[-test_snapshots]],
    )


def first_test_date(per_date: pd.Series, test_share: float, test_from: object) -> pd.Timestamp:
    """The first test snapshot: the first on or after `test_from`, else the latest from
    which on the snapshots hold `test_share` of the conversions (`per_date`: conversions
    per snapshot date, sorted)."""
    if test_from is not None:
        return per_date.index[per_date.index >= pd.Timestamp(test_from)].min()
    from_end = per_date[::-1].cumsum() / per_date.sum()  # share at or after each date
    return from_end[from_end >= test_share].index.max()


def conversion_split(
    frame: pd.DataFrame,
    test_share: float,
    valid_share: float,
    window_days: int,
    test_from: object = None,
) -> Split:
    """Purged split by conversions: test = the latest complete snapshots holding
    `test_share` of the conversions (or those from `test_from` on), validation = the
    latest before them whose label windows close by the test start, holding `valid_share`,
    train = those whose windows close by the validation start: a split that fits a year
    of daily snapshots as well as two years of monthly ones. The embargo is as in
    `time_split`."""
    complete = frame[frame["label_complete"] == 1]
    per_date = complete.groupby("snapshot_date")["label"].sum().sort_index()
    total = per_date.sum()
    if total == 0:
        raise NotEnoughData("no conversions in any complete snapshot: nothing to learn from")
    test_start = first_test_date(per_date, test_share, test_from)
    if test_from is not None:  # the share the date gives, for the message
        at_or_after = per_date[per_date.index >= test_start].sum() if pd.notna(test_start) else 0
        test_share = float(at_or_after / total)
    valid_start = train_end = pd.NaT
    if pd.notna(test_start):
        eligible = per_date[window_ends_by(per_date.index, test_start, window_days)]
        back = eligible[::-1].cumsum() / total
        valid_start = back[back >= valid_share].index.max()
    if pd.notna(valid_start):
        train_end = per_date.index[window_ends_by(per_date.index, valid_start, window_days)].max()
    if pd.isna(train_end):
        raise NotEnoughData(
            f"{len(per_date)} complete snapshots with {int(total)} conversions cannot hold "
            f"train, validation ({valid_share:.0%}) and test ({test_share:.0%}) periods with "
            f"a {window_days}-day label window (features.label_window_days) between them"
        )
    when = complete["snapshot_date"]
    return Split(
        train=complete[when <= train_end],
        valid=complete[(when >= valid_start) & window_ends_by(when, test_start, window_days)],
        test=complete[when >= test_start],
    )


def cut_labels(rows: pd.DataFrame, boundary: pd.Timestamp) -> pd.DataFrame:
    """Rows whose label comes only from deals created on or after `boundary` (the next
    period's start) count as not converted: what a row of this period could be seen to
    do before the next period began."""
    late = rows["label_at"].notna() & (rows["label_at"] >= boundary)
    return rows.assign(
        label=rows["label"].where(~late, 0), label_won=rows["label_won"].where(~late, 0)
    )


def period_starts(
    complete: pd.DataFrame, params: TrainParams
) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The validation and test starts `train.split` asks for, without any embargo."""
    per_date = complete.groupby("snapshot_date")["label"].sum().sort_index()
    dates, total = per_date.index, per_date.sum()
    if params.split == "snapshots":
        needed = params.test_snapshots + params.valid_snapshots + 1
        if len(dates) < needed:
            raise NotEnoughData(f"{len(dates)} complete snapshots; need at least {needed}")
        return dates[-params.test_snapshots - params.valid_snapshots], dates[
            -params.test_snapshots
        ]
    if total == 0:
        raise NotEnoughData("no conversions in any complete snapshot: nothing to learn from")
    test_from = params.test_from if params.split == "date" else None
    test_start = first_test_date(per_date, params.test_share, test_from)
    before = per_date[dates < test_start]
    back = before[::-1].cumsum() / total
    valid_start = back[back >= params.valid_share].index.max()
    if pd.isna(test_start) or pd.isna(valid_start) or not (dates < valid_start).any():
        raise NotEnoughData(
            f"{len(dates)} complete snapshots with {int(total)} conversions cannot hold "
            f"train, validation ({params.valid_share:.0%}) and test periods"
        )
    return valid_start, test_start


def cut_split(frame: pd.DataFrame, params: TrainParams) -> Split:
    """Periods back to back, each row's label cut at the next period's start
    (`cut_labels`): no label window crosses a boundary and no row is dropped, for
    sources whose long windows leave no room for an embargo (a year of daily rows)."""
    complete = frame[frame["label_complete"] == 1]
    valid_start, test_start = period_starts(complete, params)
    when = complete["snapshot_date"]
    return Split(
        train=cut_labels(complete[when < valid_start], valid_start),
        valid=cut_labels(complete[(when >= valid_start) & (when < test_start)], test_start),
        test=complete[when >= test_start],
    )


def split_for(frame: pd.DataFrame, params: TrainParams, window_days: int) -> Split:
    """The purged time split `train.split` asks for; `window_days` is the label window
    (features.label_window_days); `train.purge` says how: an embargo or cut labels."""
    if params.purge == "cut":
        return cut_split(frame, params)
    if params.split in ("conversions", "date"):
        test_from = params.test_from if params.split == "date" else None
        return conversion_split(
            frame, params.test_share, params.valid_share, window_days, test_from
        )
    return time_split(frame, params.test_snapshots, params.valid_snapshots, window_days)


def category_levels(frame: pd.DataFrame, features: list[str]) -> dict[str, list[str]]:
    """Levels of each text feature as seen in training; unseen levels score as missing."""
    return {
        c: sorted(frame[c].dropna().astype(str).unique())
        for c in features
        if str(frame[c].dtype) in CATEGORICAL_DTYPES
    }


def input_frame(
    frame: pd.DataFrame, features: list[str], levels: dict[str, list[str]]
) -> pd.DataFrame:
    """The model's public input: feature columns, numbers as float64 (NaN if missing), text."""
    out = frame[features].copy()
    for column in features:
        if column in levels:
            out[column] = out[column].astype("object").where(out[column].notna(), None)
        else:
            out[column] = pd.to_numeric(out[column], errors="raise").astype("float64")
    return out


def row_weights(frame: pd.DataFrame) -> np.ndarray | None:
    """Row weights from a `weight` column (the follow-up correction), else None."""
    return frame["weight"].to_numpy(dtype=float) if "weight" in frame.columns else None


def lightgbm_params(features: list[str], params: TrainParams) -> dict:
    """LightGBM's training parameters from `train` params."""
    return {
        "objective": "binary",
        "learning_rate": params.learning_rate,
        "num_leaves": params.num_leaves,
        "max_depth": params.max_depth,
        "min_data_in_leaf": params.min_data_in_leaf,
        "feature_fraction": params.feature_fraction,
        "bagging_fraction": params.bagging_fraction,
        "bagging_freq": 1,
        "lambda_l2": params.lambda_l2,
        "monotone_constraints": monotone(features, params.monotone_increasing),
        "seed": params.seed,
        "deterministic": True,
        "num_threads": 2,
        "verbose": -1,
    }


def fit_model(
    split: Split, features: list[str], params: TrainParams
) -> tuple[lgb.Booster, dict[str, list[str]]]:
    """Fit LightGBM on train with early stopping on validation (row weights from a
    `weight` column when present)."""
    import lightgbm as lgb  # slow import (pulls in scikit-learn): only when training

    levels = category_levels(split.train, features)
    train_set = lgb.Dataset(
        to_matrix(split.train, features, levels),
        split.train["label"],
        weight=row_weights(split.train),
    )
    valid_set = lgb.Dataset(
        to_matrix(split.valid, features, levels),
        split.valid["label"],
        weight=row_weights(split.valid),
        reference=train_set,
    )
    booster = lgb.train(
        lightgbm_params(features, params),
        train_set,
        num_boost_round=params.num_boost_round,
        valid_sets=[valid_set],
        callbacks=[lgb.early_stopping(params.early_stopping_rounds, verbose=False)],
    )
    return booster, levels


def refit_lightgbm(
    rows: pd.DataFrame, features: list[str], params: TrainParams, trees: int
) -> tuple[lgb.Booster, dict[str, list[str]]]:
    """LightGBM with the same params and exactly `trees` trees (the early-stopped count)
    on `rows`, with no held-out rows."""
    import lightgbm as lgb

    levels = category_levels(rows, features)
    data = lgb.Dataset(to_matrix(rows, features, levels), rows["label"], weight=row_weights(rows))
    booster = lgb.train(lightgbm_params(features, params), data, num_boost_round=trees)
    booster.best_iteration = trees
    return booster, levels


def fit_linear(
    rows: pd.DataFrame,
    features: list[str],
    levels: dict[str, list[str]],
    c: float,
    increasing: tuple[str, ...],
) -> LinearModel:
    """A logistic regression with L2 penalty 1 / (2c) on `rows` (see `LinearModel` for
    its columns); the value columns of features named by `increasing` get non-negative
    coefficients, so more intent never lowers a score here either."""
    matrix = to_matrix(rows, features, levels)
    numbers = {
        f: number_transform(matrix[f].to_numpy(dtype=float)) for f in features if f not in levels
    }
    names, x = LinearModel.columns(matrix, numbers)
    mean, scale = x.mean(axis=0), x.std(axis=0)
    flags = np.array([part != "value" for _, part in names], dtype=bool)
    scale[flags | (scale == 0)] = 1.0  # 0/1 columns unscaled: a rare level is shrunk, not
    # blown up by a tiny standard deviation (Olist's 495 landing pages)
    up = [part == "value" and f.startswith(tuple(increasing)) for f, part in names]
    coef, intercept = logistic_fit(
        (x - mean) / scale, rows["label"].to_numpy(dtype=float), row_weights(rows), c, up
    )
    return LinearModel(
        {
            "numbers": numbers,
            "columns": names,
            "mean": mean.tolist(),
            "scale": scale.tolist(),
            "coef": coef.tolist(),
            "intercept": intercept,
            "c": c,
        }
    )


def number_transform(values: np.ndarray) -> dict:
    """How a numeric feature enters the logistic regression: log1p when training saw no
    negative value (counts and sizes are skewed), the missing value's fill (median)."""
    seen = values[~np.isnan(values)]
    log = bool(len(seen)) and bool(seen.min() >= 0)
    shown = np.log1p(seen) if log else seen
    return {"log": log, "fill": float(np.median(shown)) if len(shown) else 0.0}


def logistic_fit(
    z: np.ndarray, y: np.ndarray, weights: np.ndarray | None, c: float, non_negative: list[bool]
) -> tuple[np.ndarray, float]:
    """Weighted L2 logistic regression (scikit-learn's C = `c`) by L-BFGS-B, with
    coefficients bounded at zero where `non_negative`; returns coefficients, intercept."""
    from scipy.optimize import minimize
    from scipy.special import expit

    w = np.ones(len(y)) if weights is None else weights / weights.mean()
    rate = np.clip(np.average(y, weights=w), 1e-6, 1 - 1e-6)

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        eta = theta[0] + z @ theta[1:]
        p = expit(eta)
        value = np.sum(w * (np.logaddexp(0.0, eta) - y * eta)) + theta[1:] @ theta[1:] / (2 * c)
        residual = w * (p - y)
        return value, np.concatenate([[residual.sum()], z.T @ residual + theta[1:] / c])

    start = np.concatenate([[np.log(rate / (1 - rate))], np.zeros(z.shape[1])])
    bounds = [(None, None)] + [(0.0, None) if b else (None, None) for b in non_negative]
    fit = minimize(
        loss, start, jac=True, method="L-BFGS-B", bounds=bounds, options={"maxiter": 2000}
    )
    return fit.x[1:], float(fit.x[0])


def fit_logistic(
    split: Split, features: list[str], params: TrainParams
) -> tuple[LinearModel, dict[str, list[str]]]:
    """The logistic regression whose penalty (`train.logistic_c`) ranks validation best
    by PR-AUC."""
    from sklearn.metrics import average_precision_score

    levels = category_levels(split.train, features)
    valid = to_matrix(split.valid, features, levels)
    fits = [
        fit_linear(split.train, features, levels, c, params.monotone_increasing)
        for c in params.logistic_c
    ]
    scores = [average_precision_score(split.valid["label"], m.predict(valid)) for m in fits]
    return fits[int(np.argmax(scores))], levels


def monotone(features: list[str], increasing: tuple[str, ...]) -> list[int]:
    """LightGBM's constraints: +1 for features starting with one of `increasing` (more
    intent never lowers a score), 0 for the rest."""
    return [int(f.startswith(tuple(increasing))) for f in features]


def check_enough_conversions(split: Split, minimum: int) -> None:
    """Refuse to train on too few conversions to trust a model."""
    counts = {name: int(getattr(split, name)["label"].sum()) for name in ("train", "valid")}
    if counts["train"] < minimum:
        raise NotEnoughData(
            f"only {counts['train']} conversions in training ({counts['valid']} in validation, "
            f"{len(split.train)} rows); at least {minimum} are needed for a trustworthy model "
            "(train.min_conversions). Add history or widen the label window."
        )
    if counts["valid"] == 0:
        raise NotEnoughData(
            f"no conversions in the validation period ({len(split.valid)} rows): nothing to "
            "stop early on or choose a model by; widen train.valid_share or valid_snapshots"
        )


class Calibrator:
    """Maps raw model scores to probabilities that match observed conversion rates.

    Isotonic when validation holds enough conversions, else sigmoid (Platt) scaling.
    Isotonic steps at the ends rest on a handful of rows (one converted top lead makes a
    step of 1.0, a quiet bottom one of 0.0), so its output is bounded by the observed
    rate of the top `EDGE_ROWS` rows and of the bottom fifth (never below half a
    conversion in it). Kept as plain JSON (`spec`), applied by `packaged.calibrate`.
    """

    EDGE_ROWS = 100

    def __init__(self, spec: dict):
        self.spec = spec
        self.method = spec["method"]

    @classmethod
    def fit(cls, raw: np.ndarray, labels: np.ndarray, isotonic_min_positives: int) -> Calibrator:
        from sklearn.isotonic import IsotonicRegression
        from sklearn.linear_model import LogisticRegression

        raw, labels = np.asarray(raw, dtype=float), np.asarray(labels, dtype=float)
        if int(labels.sum()) >= isotonic_min_positives:
            model = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
            model.fit(raw, labels)
            ordered = labels[np.argsort(raw, kind="stable")]
            bottom = ordered[: max(len(ordered) // 5, 1)]
            low = max(float(bottom.mean()), 0.5 / len(bottom))
            high = float(ordered[-min(cls.EDGE_ROWS, len(ordered)) :].mean())
            return cls(
                {
                    "method": "isotonic",
                    "x": model.X_thresholds_.tolist(),
                    "y": model.y_thresholds_.tolist(),
                    "bounds": [low, max(high, low)],
                }
            )
        clip = np.clip(raw, 1e-6, 1 - 1e-6)
        model = LogisticRegression().fit(np.log(clip / (1 - clip))[:, None], labels)
        spec = {"coef": float(model.coef_[0, 0]), "intercept": float(model.intercept_[0])}
        return cls({"method": "sigmoid", **spec})

    def __call__(self, raw: np.ndarray) -> np.ndarray:
        return calibrate(raw, self.spec)


def brier(p: np.ndarray, y: np.ndarray) -> float:
    """Mean squared error of probabilities."""
    return float(np.mean((np.asarray(p) - np.asarray(y)) ** 2))


def expected_calibration_error(p: np.ndarray, y: np.ndarray, bins: int = 10) -> float:
    """Gap between predicted and observed rates, over equal-count bins, weighted by size."""
    order = np.argsort(p, kind="stable")
    gaps = [
        abs(np.mean(np.asarray(p)[part]) - np.mean(np.asarray(y)[part])) * len(part)
        for part in np.array_split(order, bins)
        if len(part)
    ]
    return float(sum(gaps) / len(p))


class Scorer:
    """Conversion probabilities (not class labels) from snapshot feature rows, and each
    feature's contribution (in words: `mqlscore.reasons.explain`).

    The estimator is a LightGBM booster or a `LinearModel` (`kind`). `profile` holds the
    training distribution of each feature, for drift checks. Saved as LightGBM's text
    model or the regression's JSON, plus JSON (`save`, `load`): loading runs no code.
    """

    def __init__(
        self,
        estimator: lgb.Booster | LinearModel,
        features: list[str],
        levels: dict[str, list[str]],
        calibrator: Calibrator | None = None,
        profile: dict | None = None,
        context: dict | None = None,
        meta: dict | None = None,
        typical: dict | None = None,
    ):
        self.estimator = estimator
        self.features = features
        self.levels = levels
        self.calibrator = calibrator
        self.profile = profile or {}
        self.context = context or {}  # mean touches per training row, by feature
        self.meta = meta or {}  # what reads its input (flat mode: column kinds, id)
        self.typical = typical or {}  # means of converting and other rows (reasons)

    @property
    def kind(self) -> str:
        """`lightgbm` or `logistic_regression`."""
        return LOGISTIC if isinstance(self.estimator, LinearModel) else LIGHTGBM

    def save(self, folder: Path) -> None:
        """Write `booster.txt` (the best iteration's trees) or `linear.json`, and
        `model.json`."""
        folder.mkdir(parents=True, exist_ok=True)
        if isinstance(self.estimator, LinearModel):
            (folder / LINEAR_FILE).write_text(json.dumps(self.estimator.spec, indent=1))
        else:
            self.estimator.save_model(
                str(folder / BOOSTER_FILE), num_iteration=self.estimator.best_iteration
            )
        spec = {
            "kind": self.kind,
            "features": self.features,
            "levels": self.levels,
            "calibrator": self.calibrator.spec if self.calibrator else None,
            "profile": self.profile,
            "context": self.context,
            "meta": self.meta,
            "typical": self.typical,
        }
        (folder / SPEC_FILE).write_text(json.dumps(spec, indent=1, sort_keys=True))

    @classmethod
    def load(cls, folder: Path) -> Scorer:
        """A scorer from a folder written by `save` (text and JSON only)."""
        estimator, spec = read_folder(folder)
        calibrator = Calibrator(spec["calibrator"]) if spec["calibrator"] else None
        return cls(
            estimator,
            spec["features"],
            spec["levels"],
            calibrator,
            spec["profile"],
            spec.get("context"),
            spec.get("meta"),
            spec.get("typical"),
        )

    def example(self, frame: pd.DataFrame, rows: int = 5) -> pd.DataFrame:
        """A small input example (features only, no ids) for the model signature."""
        return input_frame(frame.head(rows), self.features, self.levels).reset_index(drop=True)

    def raw_score(self, frame: pd.DataFrame) -> np.ndarray:
        """The estimator's own (uncalibrated) probability."""
        matrix = to_matrix(frame, self.features, self.levels)
        if isinstance(self.estimator, LinearModel):
            return self.estimator.predict(matrix)
        return self.estimator.predict(matrix, num_iteration=self.estimator.best_iteration)

    @cached_property
    def trees(self) -> list | None:
        """The booster's trees with their SHAP tables (None: too deep to tabulate, or no
        trees)."""
        from mqlscore import treeshap

        if isinstance(self.estimator, LinearModel):
            return None
        return treeshap.parse(self.estimator)

    def contributions(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Per-row contributions (log-odds) of each feature: LightGBM's own SHAP values
        (by table lookup for shallow trees, `mqlscore.treeshap`), or the regression's
        exact coefficient x distance from the training mean."""
        from mqlscore import treeshap

        matrix = to_matrix(frame, self.features, self.levels)
        if isinstance(self.estimator, LinearModel):
            return self.estimator.contributions(matrix).set_axis(frame.index)
        if self.trees is None:  # deep trees: LightGBM's TreeSHAP
            values = self.estimator.predict(
                matrix, num_iteration=self.estimator.best_iteration, pred_contrib=True
            )
        else:
            values = treeshap.contributions(self.estimator, self.trees, matrix)
        return pd.DataFrame(values[:, :-1], columns=self.features, index=frame.index)

    def probability(self, frame: pd.DataFrame) -> np.ndarray:
        """Calibrated conversion probability."""
        raw = self.raw_score(frame)
        return self.calibrator(raw) if self.calibrator else raw


def typical_values(frame: pd.DataFrame, features: list[str], noun: str) -> dict:
    """Per numeric feature, the mean of the converting rows and of the others: what a
    reason against compares a row's value with."""
    numeric = [f for f in features if pd.api.types.is_numeric_dtype(frame[f])]
    converting = frame.loc[frame["label"] == 1, numeric].mean()
    others = frame.loc[frame["label"] == 0, numeric].mean()
    means = {
        f: [round(float(converting[f]), 6), round(float(others[f]), 6)]
        for f in numeric
        if pd.notna(converting[f]) and pd.notna(others[f])
    }
    return {"noun": noun, "features": means}


def grade(probability: np.ndarray, cuts: dict[str, float]) -> np.ndarray:
    """Letter grades: the best grade whose cut the probability reaches, else the last."""
    ordered = sorted(cuts.items(), key=lambda kv: -kv[1])
    fallback = chr(ord(max(cuts)) + 1)
    choices = [np.asarray(probability) >= cut for _, cut in ordered]
    return np.select(choices, [name for name, _ in ordered], default=fallback)


def score_0_100(probability: np.ndarray) -> np.ndarray:
    """The probability as a whole number from 0 to 100."""
    return np.rint(np.asarray(probability) * 100).astype(int)


def follow_up_weighted(split: Split, features: list[str], clip: float) -> Split:
    """Correct for follow-up bias: keep the leads sales worked in the label window, each
    weighted by 1 / P(worked) (clipped at `clip`), so the model learns who converts when
    worked, for leads like those sales usually skips too.

    P(worked) comes from a logistic regression on the features plus marketing's columns
    (the MQL flag drives follow-up), fitted on the training period.
    """
    marketing = [c for c in MARKETING_COLUMNS if c in split.train.columns and c not in features]
    drivers = features + marketing  # once each, when the model may use them too
    propensity = fit_logistic_baseline(split.train, drivers, target="worked")

    def weighted(frame: pd.DataFrame) -> pd.DataFrame:
        worked = frame[frame["worked"] == 1].copy()
        p = propensity.predict_proba(worked[drivers])[:, 1]
        worked["weight"] = 1.0 / np.clip(p, clip, 1.0)
        return worked

    return Split(train=weighted(split.train), valid=weighted(split.valid), test=split.test)


def fit_logistic_baseline(train: pd.DataFrame, features: list[str], target: str = "label"):  # noqa: ANN201
    """A plain logistic regression on the same features: the baseline a model must beat.

    Numbers: median-imputed, log-scaled (counts and sizes are skewed), standardized;
    text: one-hot. Returns a fitted scikit-learn pipeline.
    """
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

    text = [c for c in features if str(train[c].dtype) in CATEGORICAL_DTYPES]
    numbers = [c for c in features if c not in text]
    signed_log = FunctionTransformer(lambda x: np.sign(x) * np.log1p(np.abs(x)))
    prepare = ColumnTransformer(
        [
            (
                "numbers",
                make_pipeline(SimpleImputer(strategy="median"), signed_log, StandardScaler()),
                numbers,
            ),
            (
                "text",
                make_pipeline(
                    SimpleImputer(strategy="constant", fill_value="missing"),
                    OneHotEncoder(handle_unknown="ignore"),
                ),
                text,
            ),
        ]
    )
    model = make_pipeline(prepare, LogisticRegression(max_iter=500))
    return model.fit(train[features], train[target])
