"""The registered model as MLflow loads it: no pickles and no project code.

A model folder holds LightGBM's own text model (`booster.txt`) and one JSON file
(`model.json`: feature names, text levels, calibrator, training profile). MLflow runs
this file as "model code" (it is copied into the model), so the model needs only numpy,
pandas, lightgbm and mlflow wherever it loads: `mlflow models serve`, a Spark executor,
a notebook without mqlscore. The project scores with the same functions.
"""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd

BOOSTER_FILE = "booster.txt"
SPEC_FILE = "model.json"


def to_matrix(
    frame: pd.DataFrame, features: list[str], levels: dict[str, list[str]]
) -> pd.DataFrame:
    """The model's input matrix: feature columns in order, text as fixed categories
    (levels unseen in training score as missing), numbers as float64."""
    missing = [c for c in features if c not in frame.columns]
    if missing:
        raise KeyError(f"input lacks feature column(s): {', '.join(missing)}")
    matrix = frame[features].copy()
    for column, cats in levels.items():
        matrix[column] = pd.Categorical(matrix[column].astype("string"), categories=cats)
    for column in features:
        if column not in levels and matrix[column].dtype != "float64":
            matrix[column] = pd.to_numeric(matrix[column], errors="raise").astype("float64")
    return matrix


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def calibrate(raw: np.ndarray, spec: dict | None) -> np.ndarray:
    """Raw booster probabilities to calibrated ones, from the JSON calibrator."""
    raw = np.asarray(raw, dtype=float)
    if not spec:
        return raw
    if spec["method"] == "isotonic":
        low, high = spec["bounds"]
        # Isotonic steps tie many scores; a negligible share of the raw score breaks the
        # ties in the model's own order, so calibration does not cost ranking.
        return np.clip(np.interp(raw, spec["x"], spec["y"]), low, high) + 1e-9 * raw
    return 1.0 / (1.0 + np.exp(-(spec["coef"] * _logit(raw) + spec["intercept"])))


def read_folder(folder: Path) -> tuple[object, dict]:
    """The booster and the JSON spec from a folder written by `Scorer.save`."""
    import lightgbm as lgb

    folder = Path(folder)
    booster = lgb.Booster(model_file=str(folder / BOOSTER_FILE))
    return booster, json.loads((folder / SPEC_FILE).read_text())


class ProbabilityModel(mlflow.pyfunc.PythonModel):
    """`predict` returns a `probability` column (calibrated), never class labels."""

    def load_context(self, context) -> None:  # noqa: ANN001
        self.booster, self.spec = read_folder(Path(context.artifacts["model"]))

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:  # noqa: ANN001
        matrix = to_matrix(model_input, self.spec["features"], self.spec["levels"])
        probability = calibrate(self.booster.predict(matrix), self.spec["calibrator"])
        return pd.DataFrame({"probability": probability}, index=model_input.index)


if __name__ != "mqlscore.packaged":  # run by MLflow as model code, not imported by mqlscore
    mlflow.models.set_model(ProbabilityModel())
