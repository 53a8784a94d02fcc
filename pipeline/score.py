"""`mqlscore score`: nightly batch scoring of a lead export, ranked and explained.

Reads an export folder (`generate --export nightly` writes one), checks it (table-level
problems stop the run with exit code 2; bad rows go to `rejects.csv` with their reasons),
builds features as of the run date with the training code, scores leads and accounts
with the registered champions, and writes, each file atomically:

- `lead_scores.csv` / `.parquet`: one row per good lead (columns in `LEAD_COLUMNS`);
- `account_scores.csv` / `.parquet`: one row per account (`ACCOUNT_COLUMNS`);
- `rejects.csv`: every rejected lead row, its file row number and reasons;
- `manifest.json`: model versions, input hashes, row counts, drift, run time.
"""

from __future__ import annotations

import logging
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import pandas as pd
import typer

from features.matching import match_leads
from mqlscore.config import (
    EvaluateParams,
    FeatureParams,
    MqlRule,
    ScoreParams,
    load_section,
)
from mqlscore.console import progress
from mqlscore.drift import bin_counts, psi
from mqlscore.intake import (
    SCORING_TABLES,
    ExportError,
    RowRules,
    find_file,
    lead_chunks,
    lead_row_problems,
    load_column_map,
    stage_table,
    typed_leads,
)
from mqlscore.io import (
    atomic_path,
    file_md5,
    read_export_time,
    write_json,
    write_parquet,
    write_text,
)
from mqlscore.model import grade, score_0_100
from mqlscore.schema import TABLES
from pipeline.featurize import spec_from

log = logging.getLogger(__name__)
REASON_COLUMNS = [f"reason_{d}_{k}" for d in ("up", "down") for k in (1, 2, 3)]
# The published output: names and order are stable (documented in the README).
LEAD_COLUMNS = [
    "lead_id",
    "account_id",
    "match_rule",
    "probability",
    "score",
    "grade",
    "rank",
    "qualified",
    "on_open_opportunity",
    "marketing_mql",
    "marketing_points",
    *REASON_COLUMNS,
]
ACCOUNT_COLUMNS = [
    "account_id",
    "probability",
    "score",
    "grade",
    "rank",
    "on_open_opportunity",
    "engaged_buying_group_members",
    "buying_group_coverage",
    "leads_scored",
    "best_lead_id",
    "best_lead_score",
]


def qualify(
    probability: np.ndarray, lead_ids: np.ndarray, open_deal: np.ndarray, config: ScoreParams
) -> tuple[np.ndarray, np.ndarray]:
    """Rank (1 = best; ties by lead id) and the qualified decision: the top `capacity`
    leads, or all at `threshold` and above. Leads already on an open deal never qualify."""
    order = np.lexsort((lead_ids, -probability))
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(1, len(order) + 1)
    eligible = open_deal == 0
    if config.qualify == "threshold":
        return rank, eligible & (probability >= config.threshold)
    eligible_rank = np.empty(len(order), dtype=np.int64)
    eligible_rank[order] = np.cumsum(eligible[order])
    return rank, eligible & (eligible_rank <= config.capacity)


def lead_output(
    features: pd.DataFrame,
    probability: np.ndarray,
    rank: np.ndarray,
    qualified: np.ndarray,
    reasons: pd.DataFrame | None,
    cuts: dict[str, float],
) -> pd.DataFrame:
    """The published lead rows for one chunk."""
    out = pd.DataFrame(
        {
            "lead_id": features["lead_id"].to_numpy(),
            "account_id": features["account_id"].to_numpy(),
            "match_rule": features["match_rule"].to_numpy(),
            "probability": np.round(probability, 6),
            "score": score_0_100(probability),
            "grade": grade(probability, cuts),
            "rank": rank,
            "qualified": qualified.astype(bool),
            "on_open_opportunity": features["on_open_opportunity"].astype(bool).to_numpy(),
            "marketing_mql": features["is_mql"].astype(bool).to_numpy(),
            "marketing_points": features["marketing_points"].astype("int64").to_numpy(),
        }
    )
    for column in REASON_COLUMNS:
        out[column] = "" if reasons is None else reasons[column].to_numpy()
    return out[LEAD_COLUMNS]


def account_output(
    accounts: pd.DataFrame, probability: np.ndarray, leads: pd.DataFrame, cuts: dict[str, float]
) -> pd.DataFrame:
    """One row per account: its score and rank, buying-group engagement, its best lead."""
    out = pd.DataFrame(
        {
            "account_id": accounts["account_id"].to_numpy(),
            "probability": np.round(probability, 6),
            "score": score_0_100(probability),
            "grade": grade(probability, cuts),
            "on_open_opportunity": accounts["on_open_opportunity"].astype(bool).to_numpy(),
            "engaged_buying_group_members": accounts["account_engaged_contacts_90d"]
            .astype("int64")
            .to_numpy(),
            "buying_group_coverage": accounts["buying_group_coverage"].round(3).to_numpy(),
        }
    )
    order = np.lexsort((out["account_id"].to_numpy(), -out["probability"].to_numpy()))
    out.loc[out.index[order], "rank"] = np.arange(1, len(out) + 1)
    out["rank"] = out["rank"].astype("int64")
    matched = leads.dropna(subset=["account_id"]).sort_values(["rank"])
    best = matched.drop_duplicates("account_id").set_index("account_id")
    counts = matched.groupby("account_id").size()
    out["leads_scored"] = out["account_id"].map(counts).fillna(0).astype("int64")
    out["best_lead_id"] = out["account_id"].map(best["lead_id"])
    out["best_lead_score"] = out["account_id"].map(best["score"]).astype("Int64")
    return out[ACCOUNT_COLUMNS]


def load_scorer(uri: str) -> Any:
    """The Scorer inside a pyfunc model, from the registry or a folder."""
    from mqlscore import tracking

    try:
        return tracking.load_model(uri).unwrap_python_model().scorer
    except Exception as err:
        raise ExportError(f"cannot load model {uri}: {err}") from err


def _lead_tables_schema():  # noqa: ANN202
    import pyarrow as pa

    kinds = {"time": pa.timestamp("us"), "int": pa.float64(), "float": pa.float64()}
    leads = pa.schema([(c, kinds.get(k, pa.string())) for c, k in TABLES["leads"].items()])
    matches = pa.schema(
        [
            ("lead_id", pa.string()),
            ("account_id", pa.string()),
            ("match_rule", pa.string()),
            ("personal_email", pa.bool_()),
        ]
    )
    return leads, matches


def read_inputs(
    export: Path,
    rules: RowRules,
    mapping: dict[str, dict[str, str]],
    config: ScoreParams,
    work: Path,
) -> tuple[dict[str, pd.DataFrame | Path], pd.DataFrame, int, dict[str, Path]]:
    """Tables to score from, the rejected lead rows and the lead rows read.

    The other tables are checked and typed by DuckDB into Parquet in `work`; leads are
    checked, typed and matched to accounts chunk by chunk, and the good ones streamed to
    Parquet there too, so memory follows the chunk size, not the export.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    files = {table: find_file(export, table) for table in SCORING_TABLES}
    staged = work / "tables"
    staged.mkdir()
    others = [(table, path) for table, path in files.items() if table != "leads"]
    tables: dict[str, pd.DataFrame | Path] = {
        table: stage_table(path, table, mapping.get(table, {}), staged / f"{table}.parquet")
        for table, path in progress(others, "checking tables")
    }
    accounts = pd.read_parquet(tables["accounts"])
    rules = replace(rules, known_accounts=frozenset(accounts["account_id"]))
    bad, seen, rows_in = [], {}, 0
    lead_schema, match_schema = _lead_tables_schema()
    tables["leads"], tables["lead_accounts"] = work / "leads_in.parquet", work / "matches.parquet"
    chunks = lead_chunks(files["leads"], mapping.get("leads", {}), config.chunk_rows)
    with (
        pq.ParquetWriter(tables["leads"], lead_schema) as leads_out,
        pq.ParquetWriter(tables["lead_accounts"], match_schema) as matches_out,
    ):
        for chunk in progress(chunks, "checking leads"):
            rows_in += len(chunk)
            problems = lead_row_problems(chunk, rules, seen)
            rejected = problems != ""
            bad.append(chunk[rejected].assign(reasons=problems[rejected]))
            good = typed_leads(chunk[~rejected])
            leads_out.write_table(pa.Table.from_pandas(good, lead_schema, preserve_index=False))
            matches = match_leads(good, accounts)
            matches_out.write_table(
                pa.Table.from_pandas(matches, match_schema, preserve_index=False)
            )
    if rows_in == 0:
        raise ExportError(f"{files['leads']}: the lead export has no rows")
    rejects = pd.concat(bad, ignore_index=True)
    if len(rejects) > config.max_reject_share * rows_in:
        raise ExportError(
            f"{files['leads']}: {len(rejects)} of {rows_in} rows fail row checks (more than "
            f"{config.max_reject_share:.0%}); the export looks broken. First: row "
            f"{rejects['source_row'].iloc[0]}: {rejects['reasons'].iloc[0]}"
        )
    return tables, rejects, rows_in, files


def build_features(
    tables: dict[str, pd.DataFrame | Path],
    spec: Any,
    run_date: pd.Timestamp,
    engine: str,
    work: Path,
) -> dict[str, Path]:
    """Lead and account features as of the run date, as Parquet files in `work`."""
    from features.engine import build_snapshots_spark, write_snapshots

    targets = {"leads": work / "leads.parquet", "accounts": work / "accounts.parquet"}
    if engine == "spark":
        from pipeline.featurize import spark_session

        spark = spark_session()
        tables = {
            name: spark.read.parquet(str(t.resolve())) if isinstance(t, Path) else t
            for name, t in tables.items()
        }
        products = build_snapshots_spark(spark, tables, spec, [run_date], run_date)
        for name, target in targets.items():
            getattr(products, name).to_parquet(target, index=False)
    else:
        write_snapshots(tables, spec, [run_date], run_date, targets)
    return targets


def check_every_lead_has_features(features: Path, good_rows: int) -> None:
    """Before anything is published: one feature row per good lead, or stop."""
    import pyarrow.parquet as pq

    built = pq.ParquetFile(features).metadata.num_rows
    if built != good_rows:
        raise RuntimeError(
            f"{good_rows} leads passed the checks but {built} got features; nothing written"
        )


def _batches(path: Path, rows: int, columns: list[str]) -> tuple[int, Any]:
    """How many chunks, and a generator of them (only `columns`)."""
    import pyarrow.parquet as pq

    source = pq.ParquetFile(path)
    count = -(-source.metadata.num_rows // rows)
    chunks = (b.to_pandas() for b in source.iter_batches(batch_size=rows, columns=columns))
    return count, chunks


def _unique(columns: list[str]) -> list[str]:
    return list(dict.fromkeys(columns))


def _lead_schema():  # noqa: ANN202
    import pyarrow as pa

    kinds = {
        "probability": pa.float64(),
        "score": pa.int64(),
        "rank": pa.int64(),
        "qualified": pa.bool_(),
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
) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Score the lead features in chunks and stream the published rows to
    `<stem>.parquet` and `<stem>.csv` (atomically). Two passes: probabilities and drift
    counts first (the rank needs them all), then reasons and writing.

    `probabilities` (by lead id) replaces the local model, e.g. from Spark. Returns each
    lead's id, account, probability, rank and score, and the drift bin counts.
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
    rank, qualified = qualify(
        p_all, scored["lead_id"].to_numpy(), scored["on_open_opportunity"].to_numpy(), config
    )
    scored["rank"], scored["score"], scored["qualified"] = rank, score_0_100(p_all), qualified
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
            why = scorer.reasons(chunk) if explain else None
            rows = lead_output(
                chunk, p_all[start:stop], rank[start:stop], qualified[start:stop], why, cuts
            )
            table = pa.Table.from_pandas(rows, schema=schema, preserve_index=False)
            parquet.write_table(table)
            csv.write_table(table)
            start = stop
    return scored, counts


def spark_probabilities(uri: str, features: Path, scorer: Any) -> pd.DataFrame:
    """Lead probabilities computed on Spark with MLflow's `spark_udf`."""
    from pyspark.sql import functions as F

    from mqlscore import tracking
    from pipeline.featurize import spark_session

    spark = spark_session()
    frame = spark.read.parquet(str(features.resolve()))
    predict = tracking.spark_probability_udf(spark, uri)
    scored = frame.select(
        "lead_id", predict(F.struct(*[F.col(c) for c in scorer.features])).alias("probability")
    )
    return scored.toPandas()


def main(
    export: Annotated[Path, typer.Option(help="Folder of the nightly export.")],
    out: Annotated[Path, typer.Option(help="Folder for scores, rejects and the manifest.")],
    run_date: Annotated[
        str | None, typer.Option(help="Score as of this date (default: the export's time).")
    ] = None,
    model: Annotated[
        str | None,
        typer.Option(help="Lead model: models:/name@alias, models:/name/3 or a folder."),
    ] = None,
    account_model: Annotated[
        str | None, typer.Option(help="Account model URI or folder, or 'none'.")
    ] = None,
    column_map: Annotated[
        Path | None, typer.Option(help="YAML {table: {export column: canonical column}}.")
    ] = None,
    engine: Annotated[str, typer.Option(help="duckdb (one machine) or spark.")] = "duckdb",
    reasons: Annotated[bool, typer.Option(help="Explain each lead (top 3 up and down).")] = True,
    params: Annotated[Path, typer.Option(help="params.yaml to read.")] = Path("params.yaml"),
) -> None:
    """Score a nightly lead export: ranked, graded, explained; bad rows to rejects."""
    started = time.perf_counter()
    config = load_section(params, "score", ScoreParams)
    cuts = load_section(params, "evaluate", EvaluateParams).grades
    spec = replace(
        spec_from(
            load_section(params, "features", FeatureParams),
            load_section(params, "mql_rule", MqlRule),
        ),
        scoring=True,
    )
    if engine not in ("duckdb", "spark"):
        raise typer.BadParameter(f"--engine must be duckdb or spark, not {engine!r}")
    when = pd.Timestamp(run_date) if run_date else read_export_time(export)
    model_uri = model or config.model
    account_uri = account_model or config.account_model
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".score.", dir=out) as tmp:
        try:
            scorer = load_scorer(model_uri)
            account_scorer = None if account_uri == "none" else load_scorer(account_uri)
            rules = RowRules(run_date=when, lead_id_pattern=config.lead_id_pattern)
            tables, rejects, rows_in, files = read_inputs(
                export, rules, load_column_map(column_map), config, Path(tmp)
            )
        except (ExportError, FileNotFoundError) as err:
            log.error("score: %s", err)
            raise typer.Exit(2) from err
        paths = build_features(tables, spec, when, engine, Path(tmp))
        check_every_lead_has_features(paths["leads"], rows_in - len(rejects))
        from_spark = None
        if engine == "spark":
            from_spark = spark_probabilities(model_uri, paths["leads"], scorer)
            from_spark = from_spark.set_index("lead_id")["probability"]
        scored, counts = score_leads(
            paths["leads"], scorer, config, cuts, reasons, out / "lead_scores", from_spark
        )
        account_frame = pd.read_parquet(paths["accounts"])
    if account_scorer is not None:
        account_scores = account_output(
            account_frame, account_scorer.probability(account_frame), scored, cuts
        )
        write_table(account_scores, out / "account_scores")
    write_text(rejects.to_csv(index=False), out / "rejects.csv")
    from mqlscore import tracking

    drift = psi(scorer.profile, counts) if counts else {}
    drifting = {k: v for k, v in sorted(drift.items()) if v > config.drift_warn_psi}
    for column, value in drifting.items():
        log.warning(
            "drift: %s PSI %.3f vs training (above %.2f)", column, value, config.drift_warn_psi
        )
    manifest = {
        "run_date": str(when),
        "engine": engine,
        "model": tracking.model_version(model_uri),
        "account_model": None if account_scorer is None else tracking.model_version(account_uri),
        "inputs": {path.name: file_md5(path) for path in files.values()},
        "rows_in": rows_in,
        "scored": len(scored),
        "rejected": len(rejects),
        "qualified": int(scored["qualified"].sum()),
        "accounts_scored": 0 if account_scorer is None else len(account_frame),
        "reasons": reasons,
        "drift": {"psi": drift, "warn_above": config.drift_warn_psi, "drifting": drifting},
        "run_seconds": round(time.perf_counter() - started, 2),
    }
    if manifest["rows_in"] != manifest["scored"] + manifest["rejected"]:
        raise RuntimeError(f"row count mismatch: {manifest}")
    write_json(manifest, out / "manifest.json")
    log.info(
        "score: %d rows in, %d scored, %d rejected, %d qualified, in %.1f s",
        rows_in,
        len(scored),
        len(rejects),
        manifest["qualified"],
        manifest["run_seconds"],
    )


def write_table(frame: pd.DataFrame, stem: Path) -> None:
    """The same table as CSV and Parquet (one writer: same spelling), each atomically."""
    import pyarrow as pa
    import pyarrow.csv as pcsv

    write_parquet(frame, stem.with_suffix(".parquet"))
    with atomic_path(stem.with_suffix(".csv")) as tmp:
        pcsv.write_csv(pa.Table.from_pandas(frame, preserve_index=False), tmp)
