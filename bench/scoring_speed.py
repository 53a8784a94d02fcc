"""Benchmark: nightly scoring time and peak memory, with and without reasons.

Two parts:

1. Scoring core (`mqlscore.scoring.score_leads`: probabilities, rank, drift counts, reasons,
   streaming CSV + Parquet output) on 250k, 500k and 1M lead feature rows, resampled
   from the trained world's lead snapshots. Each run is its own process under
   /usr/bin/time, so peak memory is that process's maximum RSS (imports included).
2. The whole `mqlscore score` command (intake, row checks, matching, features as of the
   run date, both models, all outputs) on the default nightly export.

Needs a trained project (`dvc repro`): reads models/lead and data/processed.

    python bench/scoring_speed.py --rows 0.25 0.5 1

Writes a Markdown table to bench/results/scoring_speed.md (and prints it).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def timed(args: list[str]) -> tuple[float, float]:
    """Run a command; return (wall seconds, peak RSS in GB)."""
    out = subprocess.run(["/usr/bin/time", "-f", "%e %M", *args], capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed:\n{out.stderr[-3000:]}")
    seconds, kb = out.stderr.strip().splitlines()[-1].split()
    return float(seconds), int(kb) / 1024**2


def make_features(rows: int, target: Path) -> None:
    """`rows` lead feature rows resampled from the latest snapshots, with fresh lead ids."""
    import pandas as pd

    frame = pd.read_parquet(ROOT / "data/processed/lead_snapshots.parquet")
    latest = frame[
        frame["snapshot_date"] >= frame["snapshot_date"].max() - pd.DateOffset(months=3)
    ]
    sample = latest.sample(rows, replace=True, random_state=0).reset_index(drop=True)
    sample["lead_id"] = [f"L{i:09d}" for i in range(rows)]
    sample["on_open_opportunity"] = 0
    sample.to_parquet(target, index=False)


def worker(features: Path, out: Path, explain: bool) -> None:
    """Score one feature file (the measured process); print the scoring seconds."""
    from mqlscore.config import EvaluateParams, ScoreParams, load_section
    from mqlscore.modeling.registered import load_scorer
    from mqlscore.serving.batch import score_leads

    params = ROOT / "params.yaml"
    scorer = load_scorer(str(ROOT / "models/lead"))
    started = time.perf_counter()
    score_leads(
        features,
        scorer,
        load_section(params, "score", ScoreParams),
        load_section(params, "evaluate", EvaluateParams).grades,
        explain,
        out / "lead_scores",
    )
    print(f"{time.perf_counter() - started:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=float, nargs="+", default=[0.25, 0.5, 1.0])
    parser.add_argument("--worker", nargs=3, metavar=("FEATURES", "OUT", "EXPLAIN"))
    args = parser.parse_args()
    if args.worker:
        worker(Path(args.worker[0]), Path(args.worker[1]), args.worker[2] == "1")
        return
    lines = [
        "| leads | with reasons (s) | peak memory (GB) | without reasons (s) | "
        "peak memory (GB) | s per M leads (with reasons) |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    with tempfile.TemporaryDirectory(prefix="mqlscore-bench-") as tmp:
        work = Path(tmp)
        for millions in args.rows:
            rows = int(millions * 1e6)
            features = work / f"features_{rows}.parquet"
            make_features(rows, features)
            figures = []
            for explain in (1, 0):
                seconds, gb = timed(
                    [sys.executable, __file__, "--worker", str(features), str(work), str(explain)]
                )
                figures.append((seconds, gb))
            (w, wm), (n, nm) = figures
            lines.append(
                f"| {rows:,} | {w:.1f} | {wm:.2f} | {n:.1f} | {nm:.2f} | {w / millions:.1f} |"
            )
            print(lines[-1], flush=True)
        export, out = work / "nightly", work / "scores"
        exe = [sys.executable, "-m", "pipeline", "-q"]
        subprocess.run([*exe, "generate", "--export", "nightly", "--out", str(export)], check=True)
        seconds, gb = timed(
            [*exe, "score", "--export", str(export), "--out", str(out), "--model",
             str(ROOT / "models/lead"), "--account-model", str(ROOT / "models/account")]
        )  # fmt: skip
        import json

        manifest = json.loads((out / "manifest.json").read_text())
    text = (
        "Scoring core (wall time of the whole process, imports and model load included):\n\n"
        + "\n".join(lines)
        + f"\n\nWhole `mqlscore score` on the default nightly export "
        f"({manifest['rows_in']:,} leads, {manifest['accounts_scored']:,} accounts): "
        f"{seconds:.1f} s wall, {gb:.2f} GB peak.\n"
    )
    print(text)
    (ROOT / "bench/results").mkdir(exist_ok=True)
    (ROOT / "bench/results/scoring_speed.md").write_text(text)


if __name__ == "__main__":
    main()
