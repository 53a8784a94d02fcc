"""Benchmark: the hottest feature query written in ibis vs. our SQL, both on DuckDB.

Issue 4 suggested ibis-framework as the way to write the features once for DuckDB and
Spark. This measures that choice on the query that dominates the build: every event
joined to the snapshots whose longest window holds it, then counts per activity type
and window plus decayed engagement per (lead, snapshot). Both versions read the same
engagement Parquet, must give identical counts, and run alternately (best of `--repeat`)
in one process. ibis is not a project dependency:

    pip install 'ibis-framework[duckdb]'
    python bench/ibis_vs_sql.py --events 1 10

Writes a Markdown table to bench/results/ibis_vs_sql.md (and prints it).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.features import generate_world, save_table  # noqa: E402
from features.snapshots import (  # noqa: E402
    HIGH_INTENT,
    _recent,
    snapshot_dates,
    spec_from,
    window_aggregates,
)
from mqlscore.config import FeatureParams, MqlRule, load_section  # noqa: E402
from mqlscore.schema import ACTIVITY_TYPES  # noqa: E402

PARAMS = ROOT / "params.yaml"
SPEC = spec_from(
    load_section(PARAMS, "features", FeatureParams), load_section(PARAMS, "mql_rule", MqlRule)
)


def snapshots(path: Path) -> list[pd.Timestamp]:
    """Monthly snapshots from the third month of the events to their end."""
    first, last = duckdb.sql(
        f"SELECT min(occurred_at), max(occurred_at) FROM read_parquet('{path}')"
    ).fetchall()[0]
    return snapshot_dates(pd.Timestamp(first), pd.Timestamp(last), first_month=3)


def sql_query(path: Path) -> str:
    """Our spelling: the aggregates of features/snapshots.py, keyed by the text lead id."""
    return f"""
        SELECT e.lead_id, s.snapshot_date, {", ".join(window_aggregates(SPEC))}
        FROM read_parquet('{path}') e
        JOIN snaps s ON e.occurred_at < s.snapshot_date
                    AND {_recent("e.occurred_at", max(SPEC.windows_days))}
        GROUP BY e.lead_id, s.snapshot_date
    """


def ibis_expr(con, path: Path, snaps: list[pd.Timestamp]):
    """The same query in ibis."""
    import ibis

    events = con.read_parquet(path)
    grid = ibis.memtable(pd.DataFrame({"snapshot_date": snaps}))
    longest = ibis.interval(days=max(SPEC.windows_days))
    joined = events.join(
        grid,
        [
            events.occurred_at < grid.snapshot_date,
            events.occurred_at >= grid.snapshot_date - longest,
        ],
    )
    aggs = {}
    for w in SPEC.windows_days:
        recent = joined.occurred_at >= joined.snapshot_date - ibis.interval(days=w)
        aggs[f"events_{w}d"] = joined.count(where=recent)
        for a in ACTIVITY_TYPES:
            aggs[f"{a}_{w}d"] = joined.count(where=recent & (joined.activity_type == a))
        aggs[f"high_intent_{w}d"] = joined.count(
            where=recent & joined.activity_type.isin(HIGH_INTENT)
        )
    age = joined.snapshot_date.date().delta(joined.occurred_at.date(), unit="day").cast("float64")
    aggs["decayed_engagement"] = (ibis.literal(0.5) ** (age / SPEC.half_life_days)).sum()
    return joined.group_by(["lead_id", "snapshot_date"]).aggregate(**aggs)


def _spark_sql_chars(expr) -> int:
    """ibis also spells the query for Spark (its PySpark backend must be loaded)."""
    import ibis

    ibis.pyspark  # noqa: B018 - registers the backend's compile options
    return len(ibis.to_sql(expr, dialect="pyspark"))


def run(millions: float, repeat: int) -> dict[str, float]:
    import ibis

    with tempfile.TemporaryDirectory(prefix="mqlscore-ibis-") as tmp:
        raw = generate_world(millions, Path(tmp))
        path = raw / "engagement.parquet"
        snaps = snapshots(path)
        sql_con = duckdb.connect()
        sql_con.register("snaps", pd.DataFrame({"snapshot_date": snaps}))
        ibis_con = ibis.duckdb.connect()
        expr = ibis_expr(ibis_con, path, snaps)
        times: dict[str, list[float]] = {"sql": [], "ibis": []}
        outputs = {}
        for _ in range(repeat):
            start = time.perf_counter()
            outputs["sql"] = sql_con.execute(sql_query(path)).to_arrow_table().to_pandas()
            times["sql"].append(time.perf_counter() - start)
            start = time.perf_counter()
            outputs["ibis"] = ibis_con.to_pyarrow(expr).to_pandas()
            times["ibis"].append(time.perf_counter() - start)
        keys = ["lead_id", "snapshot_date"]
        a, b = (outputs[k].sort_values(keys).reset_index(drop=True) for k in ("sql", "ibis"))
        b["snapshot_date"] = b["snapshot_date"].astype(a["snapshot_date"].dtype)
        counts = [c for c in a.columns if c not in (*keys, "decayed_engagement")]
        assert a[keys + counts].equals(b[keys + counts].astype(a[keys + counts].dtypes))
        assert (a["decayed_engagement"] - b["decayed_engagement"]).abs().max() < 1e-9
        return {
            "events": int(
                duckdb.sql(f"SELECT count(*) FROM read_parquet('{path}')").fetchall()[0][0]
            ),
            "rows": len(a),
            "sql_s": min(times["sql"]),
            "ibis_s": min(times["ibis"]),
            "spark_sql_chars": _spark_sql_chars(expr),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=float, nargs="+", default=[1, 10])
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/ibis_vs_sql.md")
    args = parser.parse_args()
    lines = [
        "| events | (lead, snapshot) rows | our SQL (s) | ibis (s) | ibis / SQL |",
        "|---:|---:|---:|---:|---:|",
    ]
    for millions in args.events:
        r = run(millions, args.repeat)
        print(r, flush=True)
        lines.append(
            f"| {r['events']:,} | {r['rows']:,} | {r['sql_s']:.2f} | {r['ibis_s']:.2f} | "
            f"{r['ibis_s'] / r['sql_s']:.2f}x |"
        )
    save_table(lines, args.out)


if __name__ == "__main__":
    main()
