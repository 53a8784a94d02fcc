"""MLflow run logging: the embedded store, training and evaluation runs, model folders.

Default store: SQLite `mlruns.db` with artifacts in `mlartifacts/`, both in the project
folder. `MLFLOW_TRACKING_URI` overrides it. DVC's files stay the source of truth; runs
record their hashes, the params and the git commit. Nothing personal is logged: only
feature names, figures and the model."""

from __future__ import annotations

import logging
import os
import sqlite3
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from mlflow.models import infer_signature

from mqlscore.io import file_md5
from mqlscore.modeling import packaged
from mqlscore.modeling.scorer import Scorer

log = logging.getLogger(__name__)


PIP_REQUIREMENTS = [
    f"lightgbm=={__import__('lightgbm').__version__}",
    f"pandas=={pd.__version__}",
    f"mlflow=={mlflow.__version__}",
    f"numpy=={__import__('numpy').__version__}",
]


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


def _experiment(name: str, root: Path) -> str:
    existing = mlflow.get_experiment_by_name(name)
    if existing:
        if existing.tags.get(KIND_TAG) != KIND:
            mlflow.MlflowClient().set_experiment_tag(existing.experiment_id, KIND_TAG, KIND)
        return existing.experiment_id
    location = None
    if not os.environ.get("MLFLOW_TRACKING_URI"):
        location = (root / "mlartifacts").resolve().as_uri()
    return mlflow.create_experiment(name, artifact_location=location, tags={KIND_TAG: KIND})


def run_name(kind: str, source: str, digest: str, when: pd.Timestamp) -> str:
    """A name a reviewer can tell apart: model kind, source, data version, date."""
    return f"{kind} {source} data-{digest[:8]} {when:%Y-%m-%d %H:%M}"


def log_datasets(inputs: dict[str, Path], digests: dict[str, str]) -> None:
    """Each input table as an MLflow dataset (schema and row count), its digest the
    DVC hash, its source the file path."""
    import pyarrow.parquet as pq

    for name, path in inputs.items():
        if Path(path).suffix != ".parquet":  # a flat file: its md5 param says enough
            continue
        table = pq.ParquetFile(path)
        frame = next(table.iter_batches(batch_size=1000)).to_pandas()  # the schema's rows
        target = "label" if "label" in frame.columns else None
        dataset = mlflow.data.from_pandas(
            frame, source=str(path), name=name, digest=digests[name], targets=target
        )
        rows = table.metadata.num_rows
        mlflow.log_input(dataset, context="training", tags={"rows": str(rows)})


def git_commit(root: Path = Path(".")) -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True
        )
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _model_kwargs(scorer: Scorer, example: pd.DataFrame, folder: Path) -> dict[str, Any]:
    """What `save_model` and `log_model` need: the model code file, the scorer's files
    (text and JSON) and every requirement, so the model loads without mqlscore."""
    scorer.save(folder)
    output = pd.DataFrame({"probability": scorer.probability(example)})
    return {
        "python_model": str(Path(packaged.__file__)),
        "artifacts": {"model": str(folder)},
        "signature": infer_signature(example, output),
        "input_example": example,
        "pip_requirements": PIP_REQUIREMENTS,
    }


def save_local(scorer: Scorer, example: pd.DataFrame, path: Path) -> None:
    """Save the pyfunc model to a folder (the DVC output)."""
    with tempfile.TemporaryDirectory() as tmp:
        mlflow.pyfunc.save_model(str(path), **_model_kwargs(scorer, example, Path(tmp) / "model"))


EVALUATION = "evaluation"  # beside the served model: the fits without the test period


def save_evaluation(models: dict[str, Scorer], folder: Path) -> None:
    """Write the evaluation models (`model`, the chosen one, and `comparison`, the other
    kind, both fitted without the test period) under `folder/evaluation/` (text, JSON)."""
    for name, scorer in models.items():
        scorer.save(Path(folder) / EVALUATION / name)


def load_evaluation(folder: Path) -> dict[str, Scorer]:
    """The evaluation models saved by `save_evaluation` (no code from the folder runs)."""
    root = Path(folder) / EVALUATION
    return {name: Scorer.load(root / name) for name in ("model", "comparison")}


def log_training_run(
    *,
    experiment: str,
    registered_model: str,
    model: Scorer,
    example: pd.DataFrame,
    params: dict[str, Any],
    metrics: dict[str, float],
    inputs: dict[str, Path],
    importance: pd.DataFrame,
    kind: str,
    source: str,
    root: Path = Path("."),
    texts: dict[str, str] | None = None,
    tags: dict[str, str] | None = None,
    evaluation: dict[str, Scorer] | None = None,
) -> dict[str, str]:
    """Log one training run, register its model (the one to serve); the `evaluation`
    models, fitted without the test period, go beside it as run artifacts
    (`evaluation/`), so a later run's duel scores like with like. Return run id and
    model version."""
    use_store(root)
    exp_id = _experiment(experiment, root)
    digests = {name: file_md5(path) for name, path in inputs.items()}
    title = run_name(kind, source, next(iter(digests.values()), ""), pd.Timestamp.now())
    with mlflow.start_run(experiment_id=exp_id, run_name=title) as run:
        mlflow.log_params(params)
        mlflow.log_params({f"data.{name}.md5": digest for name, digest in digests.items()})
        log_datasets(inputs, digests)
        mlflow.set_tag("git_commit", git_commit(root))
        mlflow.set_tags(tags or {})
        mlflow.log_metrics(metrics)
        mlflow.log_text(importance.to_csv(index=False), "feature_importance.csv")
        for name, text in (texts or {}).items():
            mlflow.log_text(text, name)
        if (root / "dvc.lock").exists():
            mlflow.log_artifact(str(root / "dvc.lock"))
        with tempfile.TemporaryDirectory() as tmp:
            if evaluation:
                save_evaluation(evaluation, Path(tmp))
                mlflow.log_artifacts(str(Path(tmp) / EVALUATION), EVALUATION)
        with tempfile.TemporaryDirectory() as tmp:
            info = mlflow.pyfunc.log_model(
                name="model",
                registered_model_name=registered_model,
                **_model_kwargs(model, example, Path(tmp) / "model"),
            )
    version = str(info.registered_model_version)
    log.info(
        "MLflow run %r registered %s version %s; in `mlflow ui`: "
        "/#/experiments/%s?workflowType=machine_learning",
        title,
        registered_model,
        version,
        exp_id,
    )
    return {"run_id": run.info.run_id, "registered_model": registered_model, "version": version}


def log_evaluation(
    run_id: str,
    metrics: dict[str, float],
    report: str,
    curves: dict[str, pd.DataFrame],
    figures: dict[str, Any],
    root: Path = Path("."),
) -> None:
    """Add evaluation figures, curves (CSV) and the report to the training run; the
    figures (matplotlib, by artifact path) are drawn by the caller, so nothing that logs
    a training run depends on how a chart looks."""
    use_store(root)
    try:
        with mlflow.start_run(run_id=run_id):
            mlflow.log_metrics(metrics)
            mlflow.log_text(report, "evaluate.md")
            for name, curve in curves.items():
                mlflow.log_text(curve.to_csv(index=False), f"plots/{name}.csv")
            for path, figure in figures.items():
                mlflow.log_figure(figure, path)
    except mlflow.exceptions.MlflowException as err:
        log.warning("could not log evaluation to MLflow run %s: %s", run_id, err)


def attach(run_id: str, path: Path, root: Path = Path(".")) -> None:
    """Attach a file (the HTML report) to a run; a missing run is a warning."""
    use_store(root)
    try:
        with mlflow.start_run(run_id=run_id):
            mlflow.log_artifact(str(path))
    except mlflow.exceptions.MlflowException as err:
        log.warning("could not attach %s to MLflow run %s: %s", path.name, run_id, err)
