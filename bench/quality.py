"""Benchmark: lead-model quality over many synthetic worlds, not one draw of luck.

For each world seed, the real stages run in a temp folder with that seed (ingest, join,
features, train, evaluate; no validation, account model or promotion; MLflow in the
folder). Per ranker it reports the mean and spread over seeds of ROC-AUC, PR-AUC as a
share of the oracle's, and deals reached and won deals at marketing's volume, as shares
of the oracle's and as multiples of the MQL flag's.

    python bench/quality.py --seeds 7 8 9 10 11

Writes bench/results/quality.md (and prints it) and the per-seed figures as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
# the comparison row is named by its kind: the one the model is not
RANKERS = [
    "model", "lightgbm", "logistic_regression", "mql_flag", "mql_points", "lead_source_rate",
    "oracle",
]  # fmt: skip


def stages(work: Path) -> list[list[str]]:
    """The stage commands for one seed, as dvc.yaml runs them (lead model only)."""
    raw, params = work / "raw", f"--params={work / 'params.yaml'}"
    processed = work / "processed"
    return [
        ["ingest", f"--raw={raw}", f"--truth={work / 'truth'}", params],
        ["join", f"--raw={raw}", f"--out={work / 'matches.parquet'}",
         f"--summary={work / 'join.json'}", f"--baseline={work / 'match.json'}", params],
        ["features", f"--raw={raw}", f"--matches={work / 'matches.parquet'}",
         f"--leads-out={processed / 'lead.parquet'}",
         f"--accounts-out={processed / 'account.parquet'}",
         f"--outcomes-out={processed / 'lead_outcomes.parquet'}",
         f"--account-outcomes-out={processed / 'account_outcomes.parquet'}",
         f"--summary={work / 'features.json'}", params],
        ["train", "--kind=lead", f"--snapshots={processed / 'lead.parquet'}",
         f"--model-dir={work / 'model'}", f"--metrics={work / 'train.json'}",
         f"--run-info={work / 'run.json'}", params],
        ["evaluate", "--kind=lead", f"--snapshots={processed / 'lead.parquet'}",
         f"--outcomes={processed / 'lead_outcomes.parquet'}",
         f"--truth={work / 'truth' / 'leads.parquet'}", f"--model-dir={work / 'model'}",
         f"--run-info={work / 'run.json'}", f"--metrics={work / 'evaluate.json'}",
         f"--headline={work / 'headline.json'}", f"--report={work / 'evaluate.md'}",
         f"--plots={work / 'plots'}", f"--test-scores={work / 'test.parquet'}", params],
    ]  # fmt: skip


def run_seed(seed: int, work: Path, overrides: list[str]) -> dict:
    """One world: the evaluate stage's JSON (its exit code is the gate, not an error).
    `overrides` are `section.key=value` changes to params.yaml (a trial)."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["world"]["seed"] = seed
    for change in overrides:
        path, _, value = change.partition("=")
        section, key = path.split(".", 1)
        params[section][key] = yaml.safe_load(value)
    (work / "params.yaml").write_text(yaml.safe_dump(params))
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{work / 'mlflow.db'}"}
    for args in stages(work):
        done = subprocess.run(
            [sys.executable, "-m", "pipeline", "-q", *args],
            cwd=work, env=env, capture_output=True, text=True,
        )  # fmt: skip
        gate = args[0] == "evaluate" and (work / "evaluate.json").exists()
        if done.returncode != 0 and not gate:
            raise RuntimeError(f"seed {seed}: {args[0]} failed:\n{done.stderr[-2000:]}")
    return json.loads((work / "evaluate.json").read_text())


def figures(result: dict) -> dict[str, dict[str, float]]:
    """Per ranker: ROC-AUC, PR-AUC share of the oracle's, deals and won deals at MQL
    volume as shares of the oracle's and multiples of the MQL flag's."""
    ranking, volume = result["ranking"], result["mql_volume"]
    out = {}
    for name in [r for r in RANKERS if r in ranking]:
        row = volume[name]
        out[name] = {
            "roc_auc": ranking[name]["roc_auc"],
            "pr_auc": ranking[name]["pr_auc"],
            "pr_auc_share_of_oracle": ranking[name]["pr_auc"] / ranking["oracle"]["pr_auc"],
            "deals_share_of_oracle": row["deals_reached"] / volume["oracle"]["deals_reached"],
            "won_share_of_oracle": row["won_deals"] / max(volume["oracle"]["won_deals"], 1),
            "deals_x_mql": row["deals_reached"] / max(volume["mql_flag"]["deals_reached"], 1),
            "won_x_mql": row["won_deals"] / max(volume["mql_flag"]["won_deals"], 1),
        }
    return out


def table(per_seed: dict[int, dict]) -> str:
    """Mean ± standard deviation over seeds per ranker and figure, as Markdown."""
    rows = [
        {"seed": seed, "ranker": name, **values}
        for seed, result in per_seed.items()
        for name, values in figures(result).items()
    ]
    frame = pd.DataFrame(rows)
    columns = [c for c in frame.columns if c not in ("seed", "ranker")]
    lines = [
        f"Lead model over {len(per_seed)} world seeds ({', '.join(map(str, per_seed))}): "
        "mean ± standard deviation. The model is the kind chosen on validation per seed "
        "("
        + ", ".join(f"{s}: {r.get('model_kind', 'lightgbm')}" for s, r in per_seed.items())
        + "); the other kind is its comparison row.",
        "",
        "| ranker | " + " | ".join(c.replace("_", " ") for c in columns) + " |",
        "|---" * (len(columns) + 1) + "|",
    ]
    for name in [r for r in RANKERS if r in set(frame["ranker"])]:
        part = frame[frame["ranker"] == name]
        cells = [f"{part[c].mean():.3f} ± {part[c].std(ddof=1):.3f}" for c in columns]
        lines.append(f"| {name.replace('_', ' ')} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[7, 8, 9, 10, 11])
    parser.add_argument("--set", nargs="*", default=[], help="section.key=value (a trial)")
    parser.add_argument("--name", default="quality", help="results file stem")
    args = parser.parse_args()
    per_seed = {}
    for seed in args.seeds:
        started = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix=f"mqlscore-quality-{seed}-") as tmp:
            per_seed[seed] = run_seed(seed, Path(tmp), args.set)
        model = per_seed[seed]["ranking"]["model"]
        kind = per_seed[seed].get("model_kind", "lightgbm")
        print(f"seed {seed}: {kind}, ROC-AUC {model['roc_auc']}, PR-AUC {model['pr_auc']} "
              f"({time.perf_counter() - started:.0f} s)", flush=True)  # fmt: skip
    text = table(per_seed)
    if args.set:
        text = f"Trial: {', '.join(args.set)}.\n\n" + text
    print(text)
    results = ROOT / "bench/results"
    results.mkdir(exist_ok=True)
    (results / f"{args.name}.md").write_text(text)
    (results / f"{args.name}.json").write_text(json.dumps(per_seed, indent=1, sort_keys=True))


if __name__ == "__main__":
    main()
