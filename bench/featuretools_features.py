"""Benchmark: the windowed lead counts in Featuretools (deep feature synthesis with cutoff
times), beside ours on the same rows.

Featuretools computes, for each (lead, snapshot) cutoff, COUNT(events) and COUNT(events
WHERE activity_type = x) over a training window; one `calculate_feature_matrix` call per
window (7, 30, 90 days), as its API takes one window per call. Its counts are checked
equal to our lead table's. It runs on a seeded sample of the cutoff rows (it is too slow
for all of them here); the time per row is then scaled to all rows, and the table says
so.

    python bench/featuretools_features.py --rows 3000

Needs featuretools (`pip install featuretools`; bench only) and a trained project
(`dvc repro`: data/raw, data/processed). Writes bench/results/featuretools_features.md.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.polars_features import TYPES, WINDOWS  # noqa: E402


def featuretools_counts(events: pd.DataFrame, cutoffs: pd.DataFrame) -> pd.DataFrame:
    """Counts per window and activity type at each (lead, snapshot) cutoff."""
    import featuretools as ft

    entities = ft.EntitySet("leads")
    leads = pd.DataFrame({"lead_id": cutoffs["lead_id"].unique()})
    entities.add_dataframe(dataframe_name="leads", dataframe=leads, index="lead_id")
    entities.add_dataframe(
        dataframe_name="events",
        dataframe=events,
        index="event_id",
        time_index="occurred_at",
        logical_types={"activity_type": "Categorical"},
    )
    entities.add_relationship("leads", "lead_id", "events", "lead_id")
    entities["events"].ww.columns["activity_type"].metadata["interesting_values"] = TYPES
    cutoff_time = cutoffs.rename(columns={"snapshot_date": "time"})[["lead_id", "time"]]
    parts = []
    for window in WINDOWS:
        matrix, _ = ft.dfs(
            entityset=entities,
            target_dataframe_name="leads",
            agg_primitives=["count"],
            where_primitives=["count"],
            trans_primitives=[],
            cutoff_time=cutoff_time,
            training_window=f"{window} days",
            cutoff_time_in_index=True,
            max_depth=1,
        )
        names = {"COUNT(events)": f"events_{window}d"}
        names |= {f"COUNT(events WHERE activity_type = {a})": f"{a}_{window}d" for a in TYPES}
        parts.append(matrix.rename(columns=names)[list(names.values())])
    out = pd.concat(parts, axis=1).reset_index()
    return out.rename(columns={"time": "snapshot_date"})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=3000, help="cutoff rows to sample")
    args = parser.parse_args()
    events = pd.read_parquet(
        ROOT / "data/raw/engagement.parquet",
        columns=["event_id", "lead_id", "occurred_at", "activity_type"],
    )
    table = pd.read_parquet(ROOT / "data/processed/lead_snapshots.parquet")
    sample = table.sample(args.rows, random_state=0)
    started = time.perf_counter()
    theirs = featuretools_counts(events[events["lead_id"].isin(sample["lead_id"])], sample)
    seconds = time.perf_counter() - started
    counts = [f"{a}_{w}d" for w in WINDOWS for a in ("events", *TYPES)]
    merged = sample[["lead_id", "snapshot_date", *counts]].merge(
        theirs, on=["lead_id", "snapshot_date"], suffixes=("", "_ft")
    )
    assert len(merged) == len(sample), f"{len(merged)} of {len(sample)} rows matched"
    for column in counts:
        gap = (merged[column] - merged[f"{column}_ft"].fillna(0)).abs().max()
        assert gap == 0, f"{column}: Featuretools differs by up to {gap}"
    scaled = seconds / len(sample) * len(table)
    text = (
        f"Featuretools {__import__('featuretools').__version__}, default world "
        f"({len(events):,} events, {len(table):,} lead rows): {len(sample):,} sampled cutoff "
        f"rows in {seconds:.1f} s, {len(merged) * len(counts):,} counts all equal to ours; "
        f"scaled to all {len(table):,} rows: {scaled:,.0f} s.\n"
    )
    print(text)
    (ROOT / "bench/results").mkdir(exist_ok=True)
    (ROOT / "bench/results/featuretools_features.md").write_text(text)


if __name__ == "__main__":
    main()
