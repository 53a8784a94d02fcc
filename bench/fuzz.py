"""Fuzz `mqlscore score` with broken nightly exports and tally how each run ends.

Every run must end with exit 0 and rows_in = scored + rejected, or exit 2 and one line
saying why; anything else (a traceback, another exit code, a lost row) is a failure.
The exports are the tiny synthetic world's, mutated the ways real files break: bytes
flipped or cut, another delimiter or encoding, columns dropped, repeated or renamed,
garbage cells, odd timestamps, empty tables.

    python bench/fuzz.py --runs 500        # writes bench/results/fuzz.md
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import random
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

LEADS = "leads.csv"


def _cut(raw: bytes, rng: random.Random) -> bytes:
    return raw[: rng.randrange(len(raw))]


def _flip(raw: bytes, rng: random.Random) -> bytes:
    data = bytearray(raw)
    for _ in range(rng.randint(1, 20)):
        data[rng.randrange(len(data))] = rng.randrange(256)
    return bytes(data)


def _drop(frame: pd.DataFrame, rng: random.Random) -> pd.DataFrame:
    return frame.drop(columns=rng.choice(list(frame.columns)))


def _repeat(frame: pd.DataFrame, rng: random.Random) -> pd.DataFrame:
    a, b = rng.sample(list(frame.columns), 2)
    return frame.rename(columns={a: b})


def _garbage(frame: pd.DataFrame, rng: random.Random) -> pd.DataFrame:
    column = rng.choice(list(frame.columns))
    rows = rng.sample(range(len(frame)), k=min(len(frame), rng.randint(1, 50)))
    junk = ["", "NULL", "N/A", "💥", "12abc", "2031-13-45", "  ", "x" * 300, "=1+1", "-1e309"]
    frame.loc[rows, column] = [rng.choice(junk) for _ in rows]
    return frame


def _times(frame: pd.DataFrame, rng: random.Random) -> pd.DataFrame:
    stamps = pd.to_datetime(frame["created_at"], errors="coerce")
    spellings = [
        stamps.dt.strftime("%Y-%m-%dT%H:%M:%S.000+0000"),
        stamps.dt.strftime("%Y-%m-%dT%H:%M:%SZ"),
        stamps.dt.strftime("%Y-%m-%dT%H:%M:%S+02:00"),
        stamps.dt.strftime("%m/%d/%Y %H:%M"),
    ]
    mixed = pd.concat(spellings, axis=1)
    frame["created_at"] = [mixed.iat[i, rng.randrange(4)] for i in range(len(frame))]
    return frame


def _text(raw: bytes, rng: random.Random) -> bytes:
    frame = pd.read_csv(io.BytesIO(raw), dtype=str, keep_default_na=False)
    sep = rng.choice([",", ";", "\t", "|"])
    text = frame.to_csv(index=False, sep=sep, lineterminator=rng.choice(["\n", "\r\n"]))
    encoding = rng.choice(["utf-8", "utf-8-sig", "latin-1", "cp1252"])
    return text.encode(encoding, "replace")


BYTE_OPS = {"cut": _cut, "flip": _flip, "dialect": _text}
FRAME_OPS = {"drop-column": _drop, "repeat-column": _repeat, "garbage": _garbage, "times": _times}
TABLE_OPS = ("empty-engagement", "empty-leads", "header-only")


def mutate(export: Path, out: Path, rng: random.Random) -> str:
    """Copy `export` to `out` with one mutation; return its name."""
    shutil.copytree(export, out)
    raw = (out / LEADS).read_bytes()
    name = rng.choice([*BYTE_OPS, *FRAME_OPS, *TABLE_OPS])
    if name in BYTE_OPS:
        (out / LEADS).write_bytes(BYTE_OPS[name](raw, rng))
    elif name in FRAME_OPS:
        frame = pd.read_csv(io.BytesIO(raw), dtype=str, keep_default_na=False)
        FRAME_OPS[name](frame, rng).to_csv(out / LEADS, index=False)
    elif name == "empty-engagement":
        engagement = pd.read_parquet(out / "engagement.parquet")
        engagement.head(0).to_parquet(out / "engagement.parquet", index=False)
    elif name == "empty-leads":
        (out / LEADS).write_bytes(b"")
    else:
        (out / LEADS).write_bytes(raw.split(b"\n", 1)[0] + b"\n")
    return name


def score_once(export: Path, out: Path, models: Path, params: Path) -> tuple[int, str]:
    """Run `mqlscore score` in this process exactly as the command line does (the
    package's `__main__`, not its functions); return the exit code and what it wrote to
    stderr (a traceback is exit code -1)."""
    import runpy
    import traceback

    args = ["mqlscore", "-q", "score", "--export", str(export), "--out", str(out)]
    args += ["--model", str(models / "lead"), "--account-model", str(models / "account")]
    args += ["--params", str(params), "--no-reasons"]
    err = io.StringIO()
    argv, sys.argv = sys.argv, args
    try:
        with contextlib.redirect_stderr(err):  # `python -m pipeline`, in this process
            runpy.run_module("pipeline", run_name="__main__", alter_sys=False)
        code = 0
    except SystemExit as stop:
        code = int(stop.code or 0)
    except BaseException:
        return -1, traceback.format_exc()
    finally:
        sys.argv = argv
    return code, err.getvalue()


def verdict(code: int, out: Path) -> str:
    """`scored`, `refused` (exit 2), or what went wrong."""
    if code == 2:
        return "refused"
    if code != 0:
        return "traceback" if code == -1 else f"exit {code}"
    manifest = json.loads((out / "manifest.json").read_text())
    ok = manifest["rows_in"] == manifest["scored"] + manifest["rejected"]
    return "scored" if ok else "rows lost"


def tiny_setup(work: Path) -> tuple[Path, Path, Path]:
    """A tiny world's nightly export, lead and account models trained on it, params."""
    import yaml

    from features.engine import build_snapshots
    from features.matching import match_leads
    from features.snapshots import data_end, snapshot_dates, spec_from
    from mqlscore.config import FeatureParams, MqlRule, TrainParams, WorldParams, load_section
    from mqlscore.modeling.training import train_model
    from mqlscore.tracking import save_local
    from sources.exports import write_nightly_export
    from sources.world import generate_world

    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["world"].update({"accounts": 250, "months": 17, "seed": 11})
    params["train"]["min_conversions"] = 10
    path = work / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    world = generate_world(
        load_section(path, "world", WorldParams), load_section(path, "mql_rule", MqlRule)
    )
    tables = world.raw_tables()
    tables["lead_accounts"] = match_leads(tables["leads"], tables["accounts"])
    end = data_end(tables)
    spec = spec_from(
        load_section(path, "features", FeatureParams), load_section(path, "mql_rule", MqlRule)
    )
    built = build_snapshots(
        tables, spec, snapshot_dates(tables["engagement"]["occurred_at"].min(), end, 3), end
    )
    for kind, frame in (("lead", built.leads), ("account", built.accounts)):
        window = load_section(path, "features", FeatureParams).label_window_days
        model = train_model(frame, load_section(path, "train", TrainParams), window).model
        save_local(model, model.example(frame), work / "models" / kind)
    write_nightly_export(world.raw_tables(), work / "export", world.exported_at)
    return work / "export", work / "models", path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    tally: Counter[tuple[str, str]] = Counter()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        export, models, params = tiny_setup(Path(tmp))
        for i in range(args.runs):
            case = Path(tmp) / f"case{i}"
            name = mutate(export, case, rng)
            code, _ = score_once(case, case / "out", models, params)
            tally[(name, verdict(code, case / "out"))] += 1
            shutil.rmtree(case)
    seconds = time.perf_counter() - started
    lines = [
        f"{args.runs} fuzzed nightly exports (seed {args.seed}), {seconds:.0f} s:",
        "",
        "| mutation | scored (exit 0, rows_in = scored + rejected) "
        "| refused (exit 2, one line) | anything else |",
        "|---|---:|---:|---:|",
    ]
    for name in [*BYTE_OPS, *FRAME_OPS, *TABLE_OPS]:
        other = sum(
            n for (m, v), n in tally.items() if m == name and v not in ("scored", "refused")
        )
        lines.append(
            f"| {name} | {tally[(name, 'scored')]} | {tally[(name, 'refused')]} | {other} |"
        )
    bad = {f"{m}: {v}": n for (m, v), n in tally.items() if v not in ("scored", "refused")}
    lines += ["", f"Failures: {bad or 'none'}"]
    text = "\n".join(lines) + "\n"
    (ROOT / "bench/results/fuzz.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
