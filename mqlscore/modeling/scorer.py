"""The scorer: a fitted model with its calibrator, typical values, grades and 0-100 scores."""

from __future__ import annotations

import json
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from mqlscore.modeling.packaged import (
    BOOSTER_FILE,
    LINEAR_FILE,
    SPEC_FILE,
    DamagedModel,
    LinearModel,
    integrity,
    read_folder,
    to_matrix,
)
from mqlscore.refusal import BrokenModel

if TYPE_CHECKING:
    import lightgbm as lgb
from mqlscore.modeling.boosting import LIGHTGBM, LOGISTIC
from mqlscore.modeling.calibration import Calibrator
from mqlscore.modeling.matrix import input_frame


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
        `model.json`, which records the model file's size and SHA-256 and a hash of its
        own content (`packaged.integrity`), checked on every load."""
        folder.mkdir(parents=True, exist_ok=True)
        if isinstance(self.estimator, LinearModel):
            name = LINEAR_FILE
            (folder / name).write_text(json.dumps(self.estimator.spec, indent=1))
        else:
            name = BOOSTER_FILE
            self.estimator.save_model(
                str(folder / name), num_iteration=self.estimator.best_iteration
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
        spec["integrity"] = integrity(spec, {name: (folder / name).read_bytes()})
        (folder / SPEC_FILE).write_text(json.dumps(spec, indent=1, sort_keys=True))

    @classmethod
    def load(cls, folder: Path) -> Scorer:
        """A scorer from a folder written by `save` (text and JSON only); a file that is
        not what was saved is a `BrokenModel` refusal naming it."""
        try:
            estimator, spec = read_folder(folder)
        except DamagedModel as err:
            raise BrokenModel(str(err)) from None
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
        from mqlscore.modeling import treeshap

        if isinstance(self.estimator, LinearModel):
            return None
        return treeshap.parse(self.estimator)

    def contributions(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Per-row contributions (log-odds) of each feature: LightGBM's own SHAP values
        (by table lookup for shallow trees, `mqlscore.treeshap`), or the regression's
        exact coefficient x distance from the training mean."""
        from mqlscore.modeling import treeshap

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


def typical_values(
    frame: pd.DataFrame, features: list[str], noun: str, roles: tuple[str, ...] = ()
) -> dict:
    """Per numeric feature, the mean of the converting rows and of the others: what a
    reason against compares a row's value with; the buying group's `roles` by name."""
    numeric = [f for f in features if pd.api.types.is_numeric_dtype(frame[f])]
    converting = frame.loc[frame["label"] == 1, numeric].mean()
    others = frame.loc[frame["label"] == 0, numeric].mean()
    means = {
        f: [round(float(converting[f]), 6), round(float(others[f]), 6)]
        for f in numeric
        if pd.notna(converting[f]) and pd.notna(others[f])
    }
    return {"noun": noun, "features": means, "buying_group": list(roles)}


def grade(probability: np.ndarray, cuts: dict[str, float]) -> np.ndarray:
    """Letter grades: the best grade whose cut the probability reaches, else the last."""
    ordered = sorted(cuts.items(), key=lambda kv: -kv[1])
    fallback = chr(ord(max(cuts)) + 1)
    choices = [np.asarray(probability) >= cut for _, cut in ordered]
    return np.select(choices, [name for name, _ in ordered], default=fallback)


def score_0_100(probability: np.ndarray) -> np.ndarray:
    """The probability as a whole number from 0 to 100."""
    return np.rint(np.asarray(probability) * 100).astype(int)
