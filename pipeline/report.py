"""Stage `report`: the revenue team's review, one self-contained HTML file (images
inline, no network) built from the evaluated test rows; attached to the MLflow run."""

from __future__ import annotations

import json
import logging
from functools import partial
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer

from mqlscore.config import (
    EvaluateParams,
    FeatureParams,
    ReportParams,
    TrainParams,
    load_section,
    registered_name,
)
from mqlscore.evaluation.kinds import KINDS
from mqlscore.io import read_export_info, read_optional_tables, write_text
from mqlscore.reporting import page
from mqlscore.serving.reasons import explain

log = logging.getLogger(__name__)


def _json(path: Path | None) -> dict | None:
    return json.loads(path.read_text()) if path and path.exists() else None


def main(
    evaluation: Annotated[Path, typer.Option(help="The evaluate stage's JSON (lead model).")],
    test_scores: Annotated[Path, typer.Option(help="The evaluated test rows (Parquet).")],
    outcomes: Annotated[Path, typer.Option(help="Opportunities behind each positive row.")],
    plots: Annotated[Path, typer.Option(help="The evaluate stage's plot tables.")],
    model_dir: Annotated[Path, typer.Option(help="The lead model folder (reasons, importance).")],
    raw: Annotated[Path, typer.Option(help="Canonical tables (engagement and campaigns).")],
    out: Annotated[Path, typer.Option(help="The HTML file to write.")],
    validation: Annotated[Path | None, typer.Option(help="Validation summary JSON.")] = None,
    join: Annotated[Path | None, typer.Option(help="Match-rate summary JSON.")] = None,
    run_info: Annotated[Path | None, typer.Option(help="Attach to this MLflow run.")] = None,
    scores: Annotated[
        Path | None, typer.Option(help="A scoring run's folder: drift from its manifest.")
    ] = None,
    tracking: Annotated[
        Path | None, typer.Option(help="`mqlscore track` JSON: realised conversion.")
    ] = None,
    params: Annotated[Path, typer.Option(help="params.yaml to read.")] = Path("params.yaml"),
) -> None:
    """Write the review page: the headline, MQL rule vs model, curves, drivers,
    breakdowns, campaign quality, outcome tracking and data health."""
    from mqlscore.modeling.registered import load_scorer
    from mqlscore.modeling.training import importance_table
    from mqlscore.tracking import attach

    summary = json.loads(evaluation.read_text())
    features = load_section(params, "features", FeatureParams)
    test = pd.read_parquet(test_scores)
    scorer = load_scorer(str(model_dir))
    engagement = raw / "engagement.parquet"
    campaigns = read_optional_tables(raw, ("campaigns",)).get("campaigns")
    evidence = page.Evidence(
        kind=KINDS["lead"],
        summary=summary,
        test=test,
        outcomes=pd.read_parquet(outcomes),
        curves={n: pd.read_csv(plots / f"{n}.csv") for n in ("gains", "calibration")},
        grades=load_section(params, "evaluate", EvaluateParams).grades,
        label_window_days=features.label_window_days,
        lookback_days=max(features.windows_days),
        buying_group_roles=len(features.buying_group),
        engagement=pd.read_parquet(engagement) if engagement.exists() else None,
        campaigns=campaigns,
        importance=importance_table(scorer, test.sample(min(len(test), 20_000), random_state=0)),
        explain=partial(explain, scorer),
        validation=_json(validation) or {},
        join=_json(join) or {},
        manifest=_this_source(_json(scores / "manifest.json") if scores else None, params),
        tracking=_own_tracking(_json(tracking), params),
        currency=load_section(params, "report", ReportParams).currency,
    )
    html = page.review_page(evidence, read_export_info(raw).get("source", "synthetic"))
    write_text(html, out)
    log.info("report: %s (%.0f kB)", out, len(html) / 1024)
    if run_info and run_info.exists():
        attach(json.loads(run_info.read_text())["run_id"], out)


def _this_source(manifest: dict | None, params: Path) -> dict | None:
    """The latest scoring run, if it scored with this source's lead model (a run of
    another source's model is not this source's drift)."""
    name = (manifest or {}).get("model", {}).get("name")
    prefix = load_section(params, "train", TrainParams).model_prefix
    if name and name != registered_name(params, prefix, "lead"):
        log.info("report: the scoring run in --scores used %s, not this source's model", name)
        return None
    return manifest


def _own_tracking(tracking: dict | None, params: Path) -> dict | None:
    """`mqlscore track`'s result, if every run it tracked scored with this source's lead
    model (tracking written before it named its models is kept)."""
    names = set((tracking or {}).get("models", []))
    prefix = load_section(params, "train", TrainParams).model_prefix
    if names - {registered_name(params, prefix, "lead")}:
        log.info("report: --tracking follows runs of %s, not this source's model", names)
        return None
    return tracking
