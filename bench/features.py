"""Benchmark: feature build time and peak memory vs. a bare DuckDB group-by floor.

Generates synthetic worlds of about N million engagement events, runs the real
`mqlscore join` + `mqlscore features` commands on them, and times a plain DuckDB
group-by over the same engagement Parquet as the floor. A second reference, the output
floor, is DuckDB rewriting the built lead table to a new Parquet file: what writing the
product alone costs. Each measured command runs in its own process under /usr/bin/time,
so peak memory is that process's maximum RSS.

    python bench/features.py --events 1 10 30

Writes a Markdown table to bench/results/features.md (and prints it).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EVENTS_AT_SCALE_1 = 1_454_901  # default world (params.yaml), measured
FLOOR_SQL = (
    "SELECT count(*) FROM (SELECT lead_id, activity_type, count(*) AS n, max(occurred_at) AS t "
    "FROM read_parquet('{path}') GROUP BY lead_id, activity_type)"
)

REWRITE_SQL = "COPY (SELECT * FROM read_parquet('{path}')) TO '{path}.copy' (FORMAT parquet)"


def timed(args: list[str], cwd: Path) -> tuple[float, float]:
    """Run a command; return (wall seconds, peak RSS in GB)."""
    out = subprocess.run(
        ["/usr/bin/time", "-f", "%e %M", *args], cwd=cwd, capture_output=True, text=True
    )
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed:\n{out.stderr[-3000:]}")
    seconds, kb = out.stderr.strip().splitlines()[-1].split()
    return float(seconds), int(kb) / 1024**2


def generate_world(millions: float, work: Path) -> Path:
    """A synthetic world of about `millions` engagement events; returns its raw folder."""
    raw = work / "raw"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pipeline",
            "-q",
            "generate",
            "--raw",
            str(raw),
            "--truth",
            str(work / "truth"),
            "--scale",
            f"{millions * 1e6 / EVENTS_AT_SCALE_1:.4f}",
            "--params",
            str(ROOT / "params.yaml"),
        ],
        check=True,
    )
    return raw


def save_table(lines: list[str], out: Path) -> None:
    """Write a Markdown table to `out` and print it."""
    table = "\n".join(lines) + "\n"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(table)
    print(table)


def run(millions: float, work: Path) -> dict[str, float]:
    exe = [sys.executable, "-m", "pipeline", "-q"]
    raw = generate_world(millions, work)
    events = int(
        subprocess.run(
            [
                sys.executable,
                "-c",
                f"import pyarrow.parquet as pq; print(pq.ParquetFile('{raw}/engagement.parquet')"
                ".metadata.num_rows)",
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    subprocess.run(
        [
            *exe,
            "join",
            "--raw",
            str(raw),
            "--out",
            str(work / "matches.parquet"),
            "--summary",
            str(work / "join.json"),
        ],
        check=True,
    )
    floor_s, floor_gb = timed(
        [
            sys.executable,
            "-c",
            f'import duckdb; duckdb.sql("{FLOOR_SQL.format(path=raw / "engagement.parquet")}")'
            ".fetchall()",
        ],
        work,
    )
    build_s, build_gb = timed(
        [
            *exe,
            "features",
            "--raw",
            str(raw),
            "--matches",
            str(work / "matches.parquet"),
            "--leads-out",
            str(work / "leads.parquet"),
            "--accounts-out",
            str(work / "accounts.parquet"),
            "--outcomes-out",
            str(work / "outcomes.parquet"),
            "--account-outcomes-out",
            str(work / "account_outcomes.parquet"),
            "--summary",
            str(work / "features.json"),
            "--params",
            str(ROOT / "params.yaml"),
        ],
        work,
    )
    rewrite_s, _ = timed(
        [
            sys.executable,
            "-c",
            f'import duckdb; duckdb.execute("{REWRITE_SQL.format(path=work / "leads.parquet")}")',
        ],
        work,
    )
    return {
        "events": events,
        "rewrite_s": rewrite_s,
        "build_s": build_s,
        "build_gb": build_gb,
        "floor_s": floor_s,
        "floor_gb": floor_gb,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--events",
        type=float,
        nargs="+",
        default=[1, 10, 30],
        help="world sizes in millions of engagement events",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/features.md")
    args = parser.parse_args()
    rows = []
    for millions in args.events:
        with tempfile.TemporaryDirectory(prefix="mqlscore-bench-") as tmp:
            result = run(millions, Path(tmp))
        rows.append(result)
        print(result, flush=True)
    lines = [
        "| events | feature build (s) | peak memory (GB) | bare group-by floor (s) | "
        "build / floor | rewrite lead table (s) | rewrite / floor | build s per M events |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['events']:,} | {r['build_s']:.1f} | {r['build_gb']:.2f} | {r['floor_s']:.1f} | "
            f"{r['build_s'] / r['floor_s']:.1f}x | {r['rewrite_s']:.1f} | "
            f"{r['rewrite_s'] / r['floor_s']:.1f}x | {r['build_s'] / (r['events'] / 1e6):.2f} |"
        )
    save_table(lines, args.out)


if __name__ == "__main__":
    main()
