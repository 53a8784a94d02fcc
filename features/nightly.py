"""A nightly export to features: find and check its tables, type and match the leads
chunk by chunk, and build the features as of the run date with the training code."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd

from features.engine import build_snapshots_spark, spark_session, write_snapshots
from features.matching import match_leads
from mqlscore.config import ScoreParams
from mqlscore.console import progress
from mqlscore.intake import (
    SCORING_TABLES,
    ExportError,
    RowRules,
    check_known_values,
    find_file,
    lead_chunks,
    lead_extras,
    lead_row_problems,
    stage_table,
    typed_leads,
)
from mqlscore.schema import TABLES

log = logging.getLogger(__name__)


def _lead_tables_schema(extras: list[str]):  # noqa: ANN202
    import pyarrow as pa

    kinds = {"time": pa.timestamp("us"), "int": pa.float64(), "float": pa.float64()}
    columns = [(c, kinds.get(k, pa.string())) for c, k in TABLES["leads"].items()]
    leads = pa.schema(columns + [(c, pa.string()) for c in extras])
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
    paths = {
        table: stage_table(path, table, mapping.get(table, {}), staged / f"{table}.parquet")
        for table, path in progress(others, "checking tables")
    }
    check_known_values(paths)  # what validation refuses in training, mapped or canonical
    tables: dict[str, pd.DataFrame | Path] = dict(paths)
    accounts = pd.read_parquet(tables["accounts"])
    rules = replace(rules, known_accounts=frozenset(accounts["account_id"]))
    folded = {str(a).strip().lower(): a for a in accounts["account_id"]}
    rules = replace(rules, folded_accounts=folded)
    bad, seen, rows_in = [], {}, 0
    lead_schema, match_schema = _lead_tables_schema(lead_extras(files["leads"]))
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
            good = typed_leads(chunk[~rejected], rules.dayfirst)
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


def id_case_mismatches(tables: dict[str, pd.DataFrame | Path]) -> dict[str, int]:
    """Touches whose lead id matches a lead only when case and spaces are ignored: they
    would silently join nothing (Salesforce ids are case-sensitive, so no id is folded)."""
    import duckdb

    counts = {}
    leads = str(tables["leads"])
    for name in ("engagement", "sales_activities"):
        found = duckdb.sql(
            f"""SELECT count(*) FROM read_parquet('{tables[name]}') t
            WHERE t.lead_id NOT IN (SELECT lead_id FROM read_parquet('{leads}'))
              AND lower(trim(t.lead_id)) IN
                  (SELECT lower(trim(lead_id)) FROM read_parquet('{leads}'))"""
        ).fetchall()[0][0]
        if found:
            log.warning(
                "%s: %d rows name a lead only up to case or spaces: not joined", name, found
            )
            counts[name] = int(found)
    return counts


def build_features(
    tables: dict[str, pd.DataFrame | Path],
    spec: Any,
    run_date: pd.Timestamp,
    engine: str,
    work: Path,
) -> dict[str, Path]:
    """Lead and account features as of the run date, as Parquet files in `work`."""
    targets = {"leads": work / "leads.parquet", "accounts": work / "accounts.parquet"}
    if engine == "spark":
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


def spark_probabilities(uri: str, features: Path, scorer: Any) -> pd.DataFrame:
    """Lead probabilities computed on Spark with MLflow's `spark_udf`."""
    from pyspark.sql import functions as F

    from mqlscore import tracking

    spark = spark_session()
    frame = spark.read.parquet(str(features.resolve()))
    predict = tracking.spark_probability_udf(spark, uri)
    scored = frame.select(
        "lead_id", predict(F.struct(*[F.col(c) for c in scorer.features])).alias("probability")
    )
    return scored.toPandas()
