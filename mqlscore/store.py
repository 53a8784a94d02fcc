"""The embedded MLflow store: SQLite `mlruns.db` with artifacts in `mlartifacts/`, both in
the project folder (`MLFLOW_TRACKING_URI` overrides it), and following a moved folder."""

from __future__ import annotations

import logging
import os
import sqlite3
from pathlib import Path

import mlflow

log = logging.getLogger(__name__)


def use_store(root: Path = Path(".")) -> None:
    """Point MLflow at MLFLOW_TRACKING_URI, or at the embedded SQLite store under `root`."""
    uri = os.environ.get("MLFLOW_TRACKING_URI")
    if uri:
        mlflow.set_tracking_uri(uri)
        mlflow.set_registry_uri(uri)
        return
    db = (root / "mlruns.db").resolve()
    if db.exists():
        relocate_store(db)
    mlflow.set_tracking_uri(f"sqlite:///{db}")
    mlflow.set_registry_uri(f"sqlite:///{db}")
    for name in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI"):  # MLflow sets them: the
        os.environ.pop(name, None)  # store stays embedded, never mistaken for the user's


def has_store(root: Path = Path(".")) -> bool:
    """Whether there is a store to read: MLFLOW_TRACKING_URI, or `root`'s mlruns.db (a
    reader never points MLflow at a missing one: that would create it)."""
    return bool(os.environ.get("MLFLOW_TRACKING_URI")) or (root / "mlruns.db").is_file()


# Where MLflow's SQLite store keeps absolute artifact paths.
_PATH_COLUMNS = {
    "experiments": ("artifact_location",),
    "runs": ("artifact_uri",),
    "logged_models": ("artifact_location",),
    "model_versions": ("source", "storage_location"),
}


def relocate_store(db: Path) -> None:
    """Follow a moved project folder: MLflow stores artifact paths as absolute paths, so
    rewrite those under the folder the store was made in to the folder it is in now."""
    here = str(db.parent)
    with sqlite3.connect(db) as con:
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if "experiments" not in tables:
            return
        rows = con.execute(
            "SELECT artifact_location FROM experiments WHERE artifact_location LIKE ?",
            ("%/mlartifacts",),
        ).fetchall()
        roots = {Path(r[0].removeprefix("file://")).parent.as_posix() for r in rows}
        for old in roots - {here}:
            for table, columns in _PATH_COLUMNS.items():
                for column in columns if table in tables else ():
                    con.execute(
                        f"UPDATE {table} SET {column} = replace({column}, ?, ?) "
                        f"WHERE {column} LIKE ?",
                        (old + "/", here + "/", f"%{old}/%"),
                    )
            log.info("MLflow store moved from %s to %s: artifact paths updated", old, here)


# MLflow's UI opens an experiment without this tag on its GenAI pages (traces, tokens).
KIND_TAG, KIND = "mlflow.experimentKind", "custom_model_development"


def experiment_id(name: str, root: Path) -> str:
    existing = mlflow.get_experiment_by_name(name)
    if existing:
        if existing.tags.get(KIND_TAG) != KIND:
            mlflow.MlflowClient().set_experiment_tag(existing.experiment_id, KIND_TAG, KIND)
        return existing.experiment_id
    location = None
    if not os.environ.get("MLFLOW_TRACKING_URI"):
        location = (root / "mlartifacts").resolve().as_uri()
    return mlflow.create_experiment(name, artifact_location=location, tags={KIND_TAG: KIND})


EVALUATION = "evaluation"  # beside the served model: the fits without the test period
