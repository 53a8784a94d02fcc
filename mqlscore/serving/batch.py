"""Scoring in batches: rank, grade and explain feature rows, and the drift summary."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mqlscore.config import ScoreParams
from mqlscore.console import progress
from mqlscore.io import atomic_path
from mqlscore.modeling.scorer import score_0_100
from mqlscore.serving.drift import bin_counts
from mqlscore.serving.handovers import Handovers, qualify
from mqlscore.serving.outputs import LEAD_COLUMNS, account_output, lead_output, write_table
from mqlscore.serving.reasons import explain as explain_rows

log = logging.getLogger(__name__)


def _batches(path: Path, rows: int, columns: list[str]) -> tuple[int, Any]:
    """How many chunks, and a generator of them (only `columns`)."""
    import pyarrow.parquet as pq

    source = pq.ParquetFile(path)
    count = -(-source.metadata.num_rows // rows)
    chunks = (b.to_pandas() for b in source.iter_batches(batch_size=rows, columns=columns))
    return count, chunks


def _unique(columns: list[str]) -> list[str]:
    return list(dict.fromkeys(columns))


def _lead_schema():
    import pyarrow as pa

    kinds = {
        "probability": pa.float64(),
        "score": pa.int64(),
        "rank": pa.int64(),
        "top_percent": pa.int64(),
        "qualified": pa.bool_(),
        "handed_over_at": pa.timestamp("us"),
        "on_open_opportunity": pa.bool_(),
        "marketing_mql": pa.bool_(),
        "marketing_points": pa.int64(),
    }
    return pa.schema([(c, kinds.get(c, pa.string())) for c in LEAD_COLUMNS])


def score_leads(
    features: Path,
    scorer: Any,
    config: ScoreParams,
    cuts: dict[str, float],
    explain: bool,
    stem: Path,
    probabilities: pd.Series | None = None,
    handovers: Handovers | None = None,
) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Score the lead features in chunks and stream the published rows to
    `<stem>.parquet` and `<stem>.csv` (atomically). Two passes: probabilities and drift
    counts first (the rank needs them all), then reasons and writing.

    `probabilities` (by lead id) replaces the local model, e.g. from Spark; `handovers`
    holds back the leads handed over recently. Returns each lead's id, account,
    probability, rank, score, qualified and held flags, and the drift bin counts.
    """
    import pyarrow as pa
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    keys = ["lead_id", "account_id", "on_open_opportunity"]
    shown = ["match_rule", "is_mql", "marketing_points"]
    parts, counts = [], {}
    total, chunks = _batches(features, config.chunk_rows, _unique(keys + scorer.features))
    for chunk in progress(chunks, "scoring", total=total):
        if probabilities is None:
            p = scorer.probability(chunk)
        else:
            p = probabilities.reindex(chunk["lead_id"]).to_numpy()
        parts.append(chunk[keys].assign(probability=p))
        for column, part in bin_counts(scorer.profile, chunk).items():
            counts[column] = counts.get(column, 0) + part
    empty = pd.DataFrame({k: [] for k in [*keys, "probability"]})
    scored = pd.concat(parts, ignore_index=True) if parts else empty
    p_all = scored["probability"].to_numpy(dtype=float)
    ids = scored["lead_id"].to_numpy()
    held = handovers.held(ids) if handovers else np.zeros(len(ids), dtype=bool)
    rank, qualified = qualify(p_all, ids, scored["on_open_opportunity"].to_numpy(), config, held)
    when = handovers.when(ids, qualified) if handovers else None
    scored["rank"], scored["score"], scored["qualified"] = rank, score_0_100(p_all), qualified
    scored["held"] = held
    schema = _lead_schema()
    wanted = _unique(keys + shown + (scorer.features if explain else []))
    total, chunks = _batches(features, config.chunk_rows, wanted)
    with (
        atomic_path(stem.with_suffix(".parquet")) as parquet_tmp,
        atomic_path(stem.with_suffix(".csv")) as csv_tmp,
        pq.ParquetWriter(parquet_tmp, schema) as parquet,
        pcsv.CSVWriter(str(csv_tmp), schema) as csv,
    ):
        start = 0
        if not parts:
            parquet.write_table(schema.empty_table())
        for chunk in progress(chunks, "explaining" if explain else "writing", total=total):
            stop = start + len(chunk)
            why = explain_rows(scorer, chunk) if explain else None
            rows = lead_output(
                chunk,
                p_all[start:stop],
                rank[start:stop],
                qualified[start:stop],
                why,
                cuts,
                handed_over_at=None if when is None else when[start:stop],
                scored_total=len(p_all),
            )
            table = pa.Table.from_pandas(rows, schema=schema, preserve_index=False)
            parquet.write_table(table)
            csv.write_table(table)
            start = stop
    return scored, counts


# Features that drift by construction: a later export is older than the training rows.
AGES = frozenset({"lead_age_days"})


def thin_context(context: dict[str, float], features: Path, min_ratio: float) -> dict:
    """Tonight's touches per lead against training's, per context feature: an export
    whose engagement or sales table came through empty or cut scores as if nobody had
    engaged, confidently and wrongly."""
    import pyarrow.parquet as pq

    columns = [c for c in context if context[c] > 0]
    tonight = pq.read_table(features, columns=columns).to_pandas().mean() if columns else {}
    checks = {
        c: {"training": round(context[c], 4), "tonight": round(float(tonight[c]), 4)}
        for c in columns
    }
    for check in checks.values():
        check["ratio"] = round(check["tonight"] / check["training"], 4)
    thin = sorted(c for c, check in checks.items() if check["ratio"] < min_ratio)
    says = "; ".join(
        f"{c} per lead {checks[c]['tonight']} vs {checks[c]['training']} in training: the "
        "engagement or sales table looks cut"
        for c in thin
    )
    return {"per_lead": checks, "min_ratio": min_ratio, "thin": thin, "says": says}


def score_outputs(
    paths: dict[str, Path],
    scorer: Any,
    account_scorer: Any,
    config: ScoreParams,
    cuts: dict[str, float],
    explain: bool,
    staged: Path,
    probabilities: pd.Series | None = None,
    handovers: Handovers | None = None,
) -> tuple[pd.DataFrame, dict[str, np.ndarray], int]:
    """Lead scores (and account scores, with an account model) into `staged`; returns
    the scored leads, the drift bin counts and how many accounts were scored."""
    scored, counts = score_leads(
        paths["leads"],
        scorer,
        config,
        cuts,
        explain,
        staged / "lead_scores",
        probabilities,
        handovers,
    )
    if account_scorer is None:
        return scored, counts, 0
    accounts = pd.read_parquet(paths["accounts"])
    why = explain_rows(account_scorer, accounts) if explain else None
    probability = account_scorer.probability(accounts)
    rows = account_output(accounts, probability, scored, cuts, config, why)
    write_table(rows, staged / "account_scores")
    return scored, counts, len(accounts)


def drift_summary(profile: dict, counts: dict, warn_above: float) -> dict:
    """PSI of every feature against training, and those above `warn_above`. Ages and
    days-since features are left out (they drift by construction) and named."""
    from mqlscore.serving.drift import psi

    aging = sorted(c for c in counts if c in AGES or c.startswith("days_since_"))
    compared = {c: n for c, n in counts.items() if c not in aging}
    values = psi({c: profile[c] for c in compared}, compared) if compared else {}
    drifting = {k: v for k, v in sorted(values.items()) if v > warn_above}
    for column, value in drifting.items():
        log.warning("drift: %s PSI %.3f vs training (above %.2f)", column, value, warn_above)
    return {"psi": values, "warn_above": warn_above, "drifting": drifting, "not_compared": aging}
