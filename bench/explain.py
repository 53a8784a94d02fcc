"""Benchmark: per-lead SHAP values three ways on the same rows, and the step to words.

- LightGBM's own TreeSHAP (`pred_contrib`), what mqlscore used before;
- mqlscore's tabulated SHAP (`mqlscore.treeshap`: one table per tree, lookups per row);
- `shap.TreeExplainer` (shap's C++ TreeSHAP, path-dependent), the library a user would
  pick; installed for the bench only (`pip install shap`), not a product dependency.

Every method must match `pred_contrib` to 1e-9 on the rows, or the bench stops.
Needs a trained project (`dvc repro`): reads models/lead and data/processed.

    python bench/explain.py --rows 200000 1000000

Writes a Markdown table to bench/results/explain.md (and prints it).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.features import save_table  # noqa: E402


def seconds(work) -> tuple[float, object]:
    started = time.perf_counter()
    result = work()
    return time.perf_counter() - started, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[200_000, 1_000_000])
    parser.add_argument("--shap-rows", type=int, default=200_000, help="largest run for shap")
    args = parser.parse_args()

    from mqlscore.modeling import treeshap
    from mqlscore.modeling.packaged import to_matrix
    from mqlscore.modeling.registered import load_scorer
    from mqlscore.serving.reasons import top_reasons

    scorer = load_scorer(str(ROOT / "models/lead"))
    booster = scorer.estimator
    frame = pd.read_parquet(ROOT / "data/processed/lead_snapshots.parquet")
    splits = max(len(t.splits) for t in treeshap.parse(booster))
    lines = [
        f"Lead model: {booster.num_trees()} trees, at most {splits} splits each, "
        f"{len(scorer.features)} features. Seconds on 2 cores (one process).",
        "",
        "| rows | LightGBM pred_contrib | tabulated (first call) | tabulated (tables "
        "filled) | shap.TreeExplainer | speed-up vs shap | reasons in words |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for rows in args.rows:
        sample = frame.sample(rows, replace=True, random_state=0).reset_index(drop=True)
        matrix = to_matrix(sample, scorer.features, scorer.levels)
        lgb_s, expected = seconds(lambda m=matrix: booster.predict(m, pred_contrib=True))
        trees = treeshap.parse(booster)
        first_s, got = seconds(lambda m=matrix, t=trees: treeshap.contributions(booster, t, m))
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-9)
        warm_s, _ = seconds(lambda m=matrix, t=trees: treeshap.contributions(booster, t, m))
        shap_cell, ratio = "not run", ""
        if rows <= args.shap_rows:
            import shap

            explainer = shap.TreeExplainer(booster, feature_perturbation="tree_path_dependent")
            shap_s, values = seconds(lambda m=matrix, e=explainer: e.shap_values(m))
            values = values[1] if isinstance(values, list) else values
            np.testing.assert_allclose(values, expected[:, :-1], rtol=0, atol=1e-9)
            shap_cell, ratio = f"{shap_s:.2f}", f"{shap_s / first_s:.1f}x"
        contributions = pd.DataFrame(got[:, :-1], columns=scorer.features)
        words_s, _ = seconds(
            lambda c=contributions, s=sample: top_reasons(c, s[scorer.features], 3, scorer.typical)
        )
        lines.append(
            f"| {rows:,} | {lgb_s:.2f} | {first_s:.2f} | {warm_s:.2f} | {shap_cell} | "
            f"{ratio} | {words_s:.2f} |"
        )
        print(lines[-1], flush=True)
    save_table(lines, ROOT / "bench/results/explain.md")


if __name__ == "__main__":
    main()
