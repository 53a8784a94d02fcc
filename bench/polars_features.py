"""Benchmark: our point-in-time lead features against the same features in Polars.

The features: per (lead, snapshot), counts per activity type and all events in the
7/30/90-day windows before the snapshot, days since the last event (9999: never) and
decayed engagement (half-life 14 days, events of the last 90 days). Ours come from the
real `mqlscore features` command (the whole lead table: these and everything else);
Polars computes just these, idiomatically (an inequality join of events to snapshots,
then one group-by), on the same engagement file and the same (lead, snapshot) rows,
and the bench checks the values are identical. Each side runs in its own process under
/usr/bin/time (wall seconds, peak RSS).

    python bench/polars_features.py --events 1 10

Needs polars (`pip install polars`; bench only). Writes bench/results/polars_features.md.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.features import generate_world, save_table, timed  # noqa: E402

TYPES = [
    "email_open", "email_click", "web_visit", "pricing_page_visit", "content_download",
    "form_fill", "webinar_attend", "event_scan", "ad_click",
]  # fmt: skip
WINDOWS, HALF_LIFE = (7, 30, 90), 14.0


def polars_features(events: Path, keys: Path, out: Path) -> None:
    """The features in Polars for the (lead_id, snapshot_date) rows in `keys`."""
    import polars as pl

    ev = pl.scan_parquet(events).select("lead_id", "occurred_at", "activity_type")
    rows = pl.scan_parquet(keys).select("lead_id", "snapshot_date")
    snaps = rows.select("snapshot_date").unique()
    starts = snaps.with_columns(start=pl.col("snapshot_date") - pl.duration(days=max(WINDOWS)))
    joined = ev.join_where(  # join_where takes plain columns: the window start is one
        starts,
        pl.col("occurred_at") < pl.col("snapshot_date"),
        pl.col("occurred_at") >= pl.col("start"),
    )
    age = (pl.col("snapshot_date").dt.date() - pl.col("occurred_at").dt.date()).dt.total_days()
    aggs = []
    for w in WINDOWS:
        recent = pl.col("occurred_at") >= pl.col("snapshot_date") - pl.duration(days=w)
        aggs.append(recent.sum().alias(f"events_{w}d"))
        aggs += [(recent & (pl.col("activity_type") == a)).sum().alias(f"{a}_{w}d") for a in TYPES]
    aggs.append((0.5 ** (age.cast(pl.Float64) / HALF_LIFE)).sum().alias("decayed_engagement"))
    windowed = joined.group_by("lead_id", "snapshot_date").agg(aggs)
    last = (
        ev.join_where(snaps, pl.col("occurred_at") < pl.col("snapshot_date"))
        .group_by("lead_id", "snapshot_date")
        .agg(pl.col("occurred_at").max().alias("last_event_at"))
    )
    days = (pl.col("snapshot_date").dt.date() - pl.col("last_event_at").dt.date()).dt.total_days()
    counts = [c for c in windowed.collect_schema().names() if c.endswith(("7d", "30d", "90d"))]
    result = (
        rows.join(windowed, on=["lead_id", "snapshot_date"], how="left")
        .join(last, on=["lead_id", "snapshot_date"], how="left")
        .with_columns(
            *[pl.col(c).fill_null(0).cast(pl.Float64) for c in counts],
            pl.col("decayed_engagement").fill_null(0).round(9),
            days.fill_null(9999).cast(pl.Float64).alias("days_since_last_event"),
        )
        .drop("last_event_at")
    )
    result.sink_parquet(out)


def duckdb_features(events: Path, keys: Path, out: Path) -> None:
    """The same features with our own SQL pieces (`window_aggregates`) on DuckDB, for a
    like-for-like time beside Polars."""
    import duckdb

    from features.snapshots import spec_from, window_aggregates
    from mqlscore.config import FeatureParams, MqlRule, load_section

    params = ROOT / "params.yaml"
    spec = spec_from(
        load_section(params, "features", FeatureParams), load_section(params, "mql_rule", MqlRule)
    )
    counts = [f"{a}_{w}d" for w in WINDOWS for a in ("events", *TYPES)]
    duckdb.sql(f"""
    COPY (
      WITH snaps AS (SELECT DISTINCT snapshot_date FROM read_parquet('{keys}')),
      e AS (SELECT lead_id, occurred_at, activity_type FROM read_parquet('{events}')),
      w AS (SELECT e.lead_id, s.snapshot_date, {", ".join(window_aggregates(spec))}
            FROM e JOIN snaps s ON e.occurred_at < s.snapshot_date
                               AND e.occurred_at >= s.snapshot_date - INTERVAL {max(WINDOWS)} DAY
            GROUP BY ALL),
      l AS (SELECT e.lead_id, s.snapshot_date, max(e.occurred_at) AS last_at
            FROM e JOIN snaps s ON e.occurred_at < s.snapshot_date GROUP BY ALL)
      SELECT k.lead_id, k.snapshot_date,
             {", ".join(f"CAST(coalesce(w.{c}, 0) AS DOUBLE) AS {c}" for c in counts)},
             round(coalesce(w.decayed_engagement, 0), 9) AS decayed_engagement,
             CAST(coalesce(date_diff('day', CAST(l.last_at AS DATE),
                  CAST(k.snapshot_date AS DATE)), 9999) AS DOUBLE) AS days_since_last_event
      FROM read_parquet('{keys}') k
      LEFT JOIN w USING (lead_id, snapshot_date) LEFT JOIN l USING (lead_id, snapshot_date)
    ) TO '{out}' (FORMAT parquet)
    """)


def compare(ours: Path, theirs: Path) -> int:
    """The number of compared values; raises on the first difference."""
    import pandas as pd

    other = pd.read_parquet(theirs)
    columns = [c for c in other.columns if c not in ("lead_id", "snapshot_date")]
    mine = pd.read_parquet(ours, columns=["lead_id", "snapshot_date", *columns])
    other["snapshot_date"] = other["snapshot_date"].astype(mine["snapshot_date"].dtype)
    merged = mine.merge(other, on=["lead_id", "snapshot_date"], suffixes=("", "_pl"))
    if len(merged) != len(mine):
        raise AssertionError(f"rows differ: {len(mine)} ours vs {len(merged)} matched")
    for column in columns:
        gap = (merged[column] - merged[f"{column}_pl"]).abs().max()
        if gap > 1e-9:
            raise AssertionError(f"{column}: largest difference {gap}")
    return len(merged) * len(columns)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=float, nargs="+", default=[1.0, 10.0])
    parser.add_argument("--worker", nargs=4, metavar=("ENGINE", "EVENTS", "KEYS", "OUT"))
    args = parser.parse_args()
    if args.worker:
        engine = {"polars": polars_features, "duckdb": duckdb_features}[args.worker[0]]
        engine(*(Path(a) for a in args.worker[1:]))
        return
    exe = [sys.executable, "-m", "pipeline", "-q"]
    lines = [
        "| events | lead rows | `mqlscore features`, whole tables (s) | peak GB | our SQL, "
        "these features only (s) | peak GB | Polars, these features only (s) | peak GB | "
        "values compared, all equal |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for millions in args.events:
        with tempfile.TemporaryDirectory(prefix="mqlscore-polars-") as tmp:
            work = Path(tmp)
            raw = generate_world(millions, work)
            matches = work / "matches.parquet"
            subprocess.run([*exe, "join", "--raw", str(raw), "--out", str(matches),
                            "--summary", str(work / "j.json"), "--baseline",
                            str(work / "b.json")], cwd=ROOT, check=True)  # fmt: skip
            leads = work / "leads.parquet"
            outputs = {"--leads-out": leads, "--accounts-out": work / "a.parquet",
                       "--outcomes-out": work / "o.parquet",
                       "--account-outcomes-out": work / "ao.parquet",
                       "--summary": work / "f.json"}  # fmt: skip
            ours = timed(
                [*exe, "features", "--raw", str(raw), "--matches", str(matches)]
                + [str(part) for pair in outputs.items() for part in pair],
                ROOT,
            )
            same = {}
            for engine in ("duckdb", "polars"):
                result = work / f"{engine}.parquet"
                worker = [engine, str(raw / "engagement.parquet"), str(leads), str(result)]
                same[engine] = timed([sys.executable, __file__, "--worker", *worker], ROOT)
                compared = compare(leads, result)
            import pyarrow.parquet as pq

            events = pq.ParquetFile(raw / "engagement.parquet").metadata.num_rows
            rows = pq.ParquetFile(leads).metadata.num_rows
        (sql, sql_gb), (pol, pol_gb) = same["duckdb"], same["polars"]
        lines.append(
            f"| {events:,} | {rows:,} | {ours[0]:.1f} | {ours[1]:.2f} | {sql:.1f} | "
            f"{sql_gb:.2f} | {pol:.1f} | {pol_gb:.2f} | {compared:,} |"
        )
        print(lines[-1], flush=True)
    save_table(lines, ROOT / "bench/results/polars_features.md")


if __name__ == "__main__":
    main()
