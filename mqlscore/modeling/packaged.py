"""The registered model as MLflow loads it: no pickles and no project code.

A model folder holds the model itself, LightGBM's own text model (`booster.txt`) or a
logistic regression's coefficients, means and scales (`linear.json`), and one JSON file
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
LINEAR_FILE = "linear.json"
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
    """Raw model probabilities to calibrated ones, from the JSON calibrator."""
    raw = np.asarray(raw, dtype=float)
    if not spec:
        return raw
    if spec["method"] == "isotonic":
        low, high = spec["bounds"]
        # Isotonic steps tie many scores; a negligible share of the raw score breaks the
        # ties in the model's own order, so calibration does not cost ranking.
        return np.clip(np.interp(raw, spec["x"], spec["y"]), low, high) + 1e-9 * raw
    return 1.0 / (1.0 + np.exp(-(spec["coef"] * _logit(raw) + spec["intercept"])))


class LinearModel:
    """A logistic regression kept as JSON: each number log1p-scaled when training saw no
    negative value, missing values filled with the training median beside a missing
    flag, each text level one-hot with a flag for missing or unseen; every column
    standardized by its training mean and scale. `spec` holds those, the coefficients
    and the intercept."""

    def __init__(self, spec: dict):
        self.spec = spec
        self.coef = np.asarray(spec["coef"], dtype=float)
        self.mean = np.asarray(spec["mean"], dtype=float)
        self.scale = np.asarray(spec["scale"], dtype=float)

    @staticmethod
    def columns(matrix: pd.DataFrame, numbers: dict[str, dict]) -> tuple[list, np.ndarray]:
        """The design columns of `matrix` (from `to_matrix`): names [feature, part] (part
        "value", "missing" or "=level") and values, before standardizing."""
        names, values = [], []
        for feature in matrix.columns:
            column = matrix[feature]
            if feature in numbers:
                x = column.to_numpy(dtype=float)
                if numbers[feature]["log"]:
                    x = np.log1p(np.clip(x, 0.0, None))
                missing = np.isnan(x)
                names += [[feature, "value"], [feature, "missing"]]
                values += [np.where(missing, numbers[feature]["fill"], x), missing]
                continue
            codes = column.cat.codes.to_numpy()
            names += [[feature, f"={level}"] for level in column.cat.categories]
            names.append([feature, "missing"])
            values += [codes == i for i in range(len(column.cat.categories))] + [codes < 0]
        return names, np.column_stack(values).astype(float)

    def standardized(self, matrix: pd.DataFrame) -> np.ndarray:
        """Design columns as distances from the training mean, in training scales."""
        return (self.columns(matrix, self.spec["numbers"])[1] - self.mean) / self.scale

    def contributions(self, matrix: pd.DataFrame) -> pd.DataFrame:
        """Exact per-feature log-odds contributions: coefficient x standardized value,
        summed over each feature's columns; with the intercept they add up to the score."""
        parts = self.standardized(matrix) * self.coef
        owner = [feature for feature, _ in self.spec["columns"]]  # contiguous per feature
        starts = [i for i, f in enumerate(owner) if i == 0 or owner[i - 1] != f]
        summed = np.add.reduceat(parts, starts, axis=1)
        return pd.DataFrame(summed, columns=list(matrix.columns), index=matrix.index)

    def predict(self, matrix: pd.DataFrame) -> np.ndarray:
        """Uncalibrated conversion probability."""
        logit = self.spec["intercept"] + self.standardized(matrix) @ self.coef
        return 1.0 / (1.0 + np.exp(-logit))


def read_folder(folder: Path) -> tuple[object, dict]:
    """The model (a LightGBM booster or a `LinearModel`) and the JSON spec from a folder
    written by `Scorer.save`."""
    folder = Path(folder)
    spec = json.loads((folder / SPEC_FILE).read_text())
    if (folder / LINEAR_FILE).exists():
        return LinearModel(json.loads((folder / LINEAR_FILE).read_text())), spec
    import lightgbm as lgb

    return lgb.Booster(model_file=str(folder / BOOSTER_FILE)), spec


class ProbabilityModel(mlflow.pyfunc.PythonModel):
    """`predict` returns a `probability` column (calibrated), never class labels."""

    def load_context(self, context) -> None:
        self.model, self.spec = read_folder(Path(context.artifacts["model"]))

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        matrix = to_matrix(model_input, self.spec["features"], self.spec["levels"])
        probability = calibrate(self.model.predict(matrix), self.spec["calibrator"])
        return pd.DataFrame({"probability": probability}, index=model_input.index)


# Run by MLflow as model code, not imported by mqlscore:
if __name__ != "mqlscore.modeling.packaged":
    mlflow.models.set_model(ProbabilityModel())
