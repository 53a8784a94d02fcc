"""MLflow run logging: training and evaluation runs, and local model folders.

The store is `mqlscore/store.py`'s (SQLite `mlruns.db` in the project folder unless
`MLFLOW_TRACKING_URI` says otherwise). DVC's files stay the source of truth; runs
record their hashes, the params and the git commit. Nothing personal is logged: only
feature names, figures and the model."""

from __future__ import annotations

import logging
import shutil
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
from mqlscore.store import EVALUATION, experiment_id, use_store

log = logging.getLogger(__name__)


PIP_REQUIREMENTS = [
    f"lightgbm=={__import__('lightgbm').__version__}",
    f"pandas=={pd.__version__}",
    f"mlflow=={mlflow.__version__}",
    f"numpy=={__import__('numpy').__version__}",
]


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


def save_model_folder(
    model: Scorer, example: pd.DataFrame, evaluation: dict, folder: Path
) -> None:
    """The served model and the evaluation models in `folder`, staged beside it and
    moved in only when complete."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".model.", dir=folder.parent)) / "model"
    save_local(model, example, staging)
    save_evaluation(evaluation, staging)
    shutil.rmtree(folder, ignore_errors=True)
    staging.rename(folder)
    shutil.rmtree(staging.parent)


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
    exp_id = experiment_id(experiment, root)
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
