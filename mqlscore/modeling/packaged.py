"""The registered model as MLflow loads it: no pickles and no project code.

A model folder holds the model itself, LightGBM's own text model (`booster.txt`) or a
logistic regression's coefficients, means and scales (`linear.json`), and one JSON file
(`model.json`: feature names, text levels, calibrator, training profile). MLflow runs
this file as "model code" (it is copied into the model), so the model needs only numpy,
pandas, lightgbm and mlflow wherever it loads: `mlflow models serve`, a Spark executor,
a notebook without mqlscore. The project scores with the same functions.

`model.json` records the size and SHA-256 of the model file and a hash of its own content
(`integrity`), so a folder cut short, changed or half copied is refused, naming the file,
before LightGBM parses it (LightGBM's parser aborts or segfaults on a damaged text model
instead of raising).
"""

from __future__ import annotations

import hashlib
import json
import logging
import signal
import subprocess
import sys
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd

BOOSTER_FILE = "booster.txt"
LINEAR_FILE = "linear.json"
SPEC_FILE = "model.json"
INTEGRITY = "integrity"  # model.json's record of the files saved beside it
SPEC_KEYS = ("features", "levels", "calibrator", "profile")  # what every load needs
RETRAIN = "restore the folder or retrain (dvc repro)"
log = logging.getLogger(__name__)


class DamagedModel(ValueError):
    """A model folder whose files are not the ones saved (cut short, changed, missing) or
    whose model.json does not read: one line naming the file."""


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


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def content_digest(spec: dict) -> str:
    """A hash of model.json's content without its `integrity` record (key order and
    spacing aside): what `integrity` says the rest of the file was."""
    body = json.loads(json.dumps({k: v for k, v in spec.items() if k != INTEGRITY}))
    return _sha256(json.dumps(body, sort_keys=True).encode())


def integrity(spec: dict, files: dict[str, bytes]) -> dict:
    """The record model.json keeps of a saved folder: each model file's size and SHA-256
    and the hash of model.json's own content (`content_digest`)."""
    return {
        "files": {
            name: {"bytes": len(data), "sha256": _sha256(data)} for name, data in files.items()
        },
        SPEC_FILE: content_digest(spec),
    }


def _read_bytes(path: Path) -> bytes:
    if not path.is_file():
        raise DamagedModel(f"{path}: missing from the model folder; {RETRAIN}")
    return path.read_bytes()


def read_spec(folder: Path) -> dict:
    """model.json, refused (`DamagedModel`, naming it) when it is missing, not JSON, lacks
    a key every load needs, or no longer holds what its `integrity` record says."""
    path = Path(folder) / SPEC_FILE
    try:
        spec = json.loads(_read_bytes(path).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise DamagedModel(
            f"{path}: not valid JSON ({err}); cut short or changed; {RETRAIN}"
        ) from None
    missing = [k for k in SPEC_KEYS if k not in spec] if isinstance(spec, dict) else SPEC_KEYS
    if missing:
        raise DamagedModel(f"{path}: incomplete, no {', '.join(missing)}; {RETRAIN}")
    record = spec.get(INTEGRITY)
    if record is not None and (
        not isinstance(record, dict) or record.get(SPEC_FILE) != content_digest(spec)
    ):
        raise DamagedModel(
            f"{path}: changed since it was saved (not the content it records); {RETRAIN}"
        )
    return spec


def checked_file(folder: Path, name: str, expected: dict) -> bytes:
    """A model file's bytes, refused unless its size and SHA-256 are those recorded."""
    path = Path(folder) / name
    data = _read_bytes(path)
    if len(data) != expected.get("bytes"):
        raise DamagedModel(
            f"{path}: {len(data)} bytes where model.json records {expected.get('bytes')} "
            f"(cut short or replaced); {RETRAIN}"
        )
    if _sha256(data) != expected.get("sha256"):
        raise DamagedModel(
            f"{path}: its SHA-256 is not the one model.json records (changed since it was "
            f"saved); {RETRAIN}"
        )
    return data


# LightGBM aborts (SIGABRT) or segfaults on many cut or changed text models rather than
# raising, so a booster no recorded hash vouches for is parsed first in a child process.
_PARSE = "import sys, lightgbm; lightgbm.Booster(model_str=sys.stdin.buffer.read().decode())"


def parse_apart(data: bytes, path: Path) -> None:
    """Parse a booster in a child process; its death or error is a `DamagedModel`."""
    done = subprocess.run(
        [sys.executable, "-c", _PARSE], input=data, capture_output=True, timeout=600
    )
    if done.returncode == 0:
        return
    if done.returncode < 0:
        said = f"LightGBM's parser died of {signal.Signals(-done.returncode).name}"
    else:
        said = (done.stderr.decode(errors="replace").strip().splitlines() or ["failed"])[-1]
    raise DamagedModel(f"{path}: LightGBM cannot read it ({said}); {RETRAIN}")


def parse_booster(data: bytes, path: Path) -> object:
    """LightGBM's booster from its text model's bytes; an error names the file."""
    import lightgbm as lgb

    try:
        return lgb.Booster(model_str=data.decode("utf-8"))
    except (UnicodeDecodeError, lgb.basic.LightGBMError) as err:
        raise DamagedModel(f"{path}: LightGBM cannot read it ({err}); {RETRAIN}") from None


def _linear(data: bytes, path: Path) -> LinearModel:
    try:
        return LinearModel(json.loads(data.decode("utf-8")))
    except (UnicodeDecodeError, ValueError, KeyError, TypeError) as err:
        raise DamagedModel(f"{path}: not a readable linear model ({err}); {RETRAIN}") from None


def read_folder(folder: Path) -> tuple[object, dict]:
    """The model (a LightGBM booster or a `LinearModel`) and the JSON spec from a folder
    written by `Scorer.save`, each file checked against model.json's record before it is
    parsed (`DamagedModel` otherwise). A folder saved before files were recorded still
    loads: its booster is parsed in a child process first (`parse_apart`)."""
    folder = Path(folder)
    spec = read_spec(folder)
    record = spec.get(INTEGRITY)
    if record is None:
        log.warning(
            "%s was saved before model files were hashed: retrain to have it checked", folder
        )
        name = LINEAR_FILE if (folder / LINEAR_FILE).exists() else BOOSTER_FILE
        data = _read_bytes(folder / name)
        if name == BOOSTER_FILE:
            parse_apart(data, folder / name)
    else:
        files = record.get("files")
        names = [n for n in (LINEAR_FILE, BOOSTER_FILE) if isinstance(files, dict) and n in files]
        if len(names) != 1 or len(files) != 1 or not isinstance(files[names[0]], dict):
            raise DamagedModel(f"{folder / SPEC_FILE}: records no single model file; {RETRAIN}")
        name = names[0]
        data = checked_file(folder, name, files[name])
    if name == LINEAR_FILE:
        return _linear(data, folder / name), spec
    return parse_booster(data, folder / name), spec


def probability(model: object, spec: dict, rows: pd.DataFrame) -> np.ndarray:
    """Calibrated conversion probabilities of `rows` from a model and spec as `read_folder`
    gives them: what MLflow's `predict` and the Spark executors run (numpy, pandas and, for
    a booster, lightgbm; no other module of this file's package)."""
    matrix = to_matrix(rows, spec["features"], spec["levels"])
    return calibrate(model.predict(matrix), spec["calibrator"])


class ProbabilityModel(mlflow.pyfunc.PythonModel):
    """`predict` returns a `probability` column (calibrated), never class labels."""

    def load_context(self, context) -> None:
        self.model, self.spec = read_folder(Path(context.artifacts["model"]))

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        scores = probability(self.model, self.spec, model_input)
        return pd.DataFrame({"probability": scores}, index=model_input.index)


# Run by MLflow as model code, not imported by mqlscore:
if __name__ != "mqlscore.modeling.packaged":
    mlflow.models.set_model(ProbabilityModel())
