"""`mqlscore track`: past nightly scores against what sales later converted."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer

from mqlscore.config import FeatureParams, load_section
from mqlscore.io import JOURNAL, file_md5, read_export_time, read_tables, write_json
from mqlscore.refusal import MissingInput
from mqlscore.reporting import outcomes

log = logging.getLogger(__name__)
COLUMNS = ["lead_id", "probability", "grade", "qualified", "marketing_mql"]


def read_scores(folder: Path) -> pd.DataFrame:
    """One scoring run's lead scores, stamped with the run date from its manifest."""
    manifest = folder / "manifest.json"
    if (folder / JOURNAL).exists():
        raise MissingInput(
            f"{folder}: a scoring run was stopped while publishing here; the next "
            "`mqlscore score` into it finishes that set"
        )
    if not manifest.exists():
        raise MissingInput(f"{folder}: no manifest.json, so not a finished scoring run")
    said = json.loads(manifest.read_text())
    scores_file = folder / "lead_scores.parquet"
    outputs = said.get("outputs")  # {file: MD5}; older runs listed names only
    expected = outputs.get(scores_file.name) if isinstance(outputs, dict) else None
    if expected and file_md5(scores_file) != expected:
        raise MissingInput(
            f"{scores_file}: not the file its manifest.json lists (another run's?): a mixed set"
        )
    scores = pd.read_parquet(scores_file, columns=COLUMNS)
    model = said.get("model") or {}  # a registered model's name; a folder's says nothing
    model = model.get("name") if model.get("version", "local") != "local" else None
    return scores.assign(run_date=pd.Timestamp(said["run_date"]), model=model)


def main(
    scores: Annotated[list[Path], typer.Option(help="Scoring output folders (repeat).")],
    raw: Annotated[
        Path, typer.Option(help="A later export's canonical tables (opportunities, contacts).")
    ] = Path("data/raw"),
    out: Annotated[Path, typer.Option(help="Realised conversion (JSON).")] = Path(
        "reports/tracking.json"
    ),
    params: Annotated[Path, typer.Option(help="params.yaml to read.")] = Path("params.yaml"),
) -> None:
    """Realised conversion by grade and score decile per scoring month, beside the MQL
    flag's: does grade A keep converting better than B, and when does the model decay?"""
    window = load_section(params, "features", FeatureParams).label_window_days
    rows = pd.concat([read_scores(folder) for folder in scores], ignore_index=True)
    tables = read_tables(raw, ("opportunities", "opportunity_contacts"))
    seen = outcomes.realised(
        rows,
        tables["opportunities"],
        tables["opportunity_contacts"],
        window,
        read_export_time(raw),
    )
    grades = outcomes.by_grade(seen)
    result = {
        "runs": len(scores),
        "models": sorted(rows["model"].dropna().unique().tolist()),  # whose scores these are
        "label_window_days": window,
        "says": outcomes.verdict(grades),
        "by_grade": grades.to_dict(orient="records"),
        "by_decile": outcomes.by_decile(seen).to_dict(orient="records"),
    }
    write_json(result, out)
    log.info(
        "tracking %d runs: %s\n%s", len(scores), result["says"], grades.to_string(index=False)
    )
