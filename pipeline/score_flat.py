"""`mqlscore score-flat`: a flat lead file scored with a `train-flat` model: ranked,
graded, explained; rows that cannot be scored go to `rejects.csv` with their reasons.
It reads the project's params.yaml (found walking up from the current folder unless
--params names it) and a models:/ URI from that folder's MLflow store, never creating one.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

from mqlscore.config import EvaluateParams, find_params, load_section
from mqlscore.io import (
    finish_publish,
    publish,
    staging_folder,
    write_json,
    write_text,
)
from mqlscore.serving import flat_scoring
from sources.flat_file import flat_frame, read_flat

log = logging.getLogger(__name__)


def main(
    model: Annotated[str, typer.Option(help="A train-flat model folder or models:/ URI.")],
    input: Annotated[Path, typer.Option(help="The flat lead file to score.")],
    out: Annotated[Path, typer.Option(help="Folder for scores, rejects and the manifest.")],
    params: Annotated[
        Path | None, typer.Option(help="params.yaml (default: found walking up from here).")
    ] = None,
) -> None:
    """Score a flat lead file with a train-flat model: ranked, graded, explained."""
    from mqlscore.modeling.registered import load_scorer, pinned

    params = find_params(params)
    finish_publish(out)  # a killed run's set lands first, even if this run is refused
    cuts = load_section(params, "evaluate", EvaluateParams).grades
    model = pinned(model, root=params.parent)  # an alias resolved once
    scorer = load_scorer(model, root=params.parent)
    spec = scorer.meta["flat"]
    raw = read_flat(input)
    flat_scoring.check_columns(raw, scorer.features, input)
    frame = flat_frame(raw, None, spec["id"], spec["kinds"])[0]
    problems = flat_scoring.row_problems(raw, frame, spec)
    flat_scoring.check_scoreable(problems, input)
    scores = flat_scoring.flat_scores(scorer, frame[problems == ""], cuts, bool(spec["id"]))
    rejects = raw[problems != ""].assign(
        source_row=lambda f: f.index + 1, reasons=problems[problems != ""]
    )
    manifest = {"rows_in": len(frame), "scored": len(scores), "rejected": len(rejects)}
    if manifest["rows_in"] != manifest["scored"] + manifest["rejected"]:
        raise RuntimeError(f"a bug: rows in and out do not add up: {manifest}")
    with staging_folder(out, "score-flat") as work:  # holds `out`: one writer
        write_text(scores.to_csv(index=False), work / "scores.csv")
        write_text(rejects.to_csv(index=False), work / "rejects.csv")
        write_json(manifest | {"model": model}, work / "manifest.json")
        publish([work / n for n in ("scores.csv", "rejects.csv", "manifest.json")], out)
    log.info("score-flat: %d rows in, %d scored, %d rejected", *manifest.values())
