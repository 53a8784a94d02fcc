"""Fuzz every `mqlscore` entry point with broken inputs and tally how each case ends.

Entry points: `ingest` through each shipped mapping (Salesforce, HubSpot, Marketo with
Salesforce, Olist) on broken exports and broken mapping files; `validate` on broken
canonical tables; `score` on broken nightly exports, `--column-map` files and model
folders; `score --mapping` on broken source-system exports and mapping files;
`train-flat` and `score-flat` on broken flat files, options and model folders; and kills
(SIGKILL, `MQLSCORE_FAULT=<point>`) at each named point of the publish of `score`,
`score-flat` and `train-flat`, after which the output folder must hold the old set or
the new set (checked with the manifest's output MD5s), never a mix.

Every case must end in exit 0 with its counts adding up (rows in = scored + rejected)
and, for a mutation that changes nothing a reader of the file could tell (another
dialect, column order, a re-spelled timestamp, a column renamed and mapped back), the
clean run's output; or in exit 2 with one line (a refusal). `validate` may also end in
exit 1 with its failed checks named, as documented, and must, on a table broken in a
way it checks (a repeated or blank id, a dangling key, a negative amount, a future
time). Anything else is counted against the entry point: a bug (exit 3 or any other
code, a traceback, a refusal in more than one line), a signal, a hang (over
`--timeout`), a wrong output (lost rows, a silent change of what is scored, something
published by a refused run, a mixed output set).

The parent imports the CLI once and forks a child per case, which mutates the case's
inputs and runs the typer app in process with the case's argv; the parent's runner
enforces the time limit and reads each ending from waitpid, and a second child checks
the outputs. The parent itself never runs the library (no thread pool is started before
a fork). Case i of a seed is always the same case, whatever ran before it; each verdict
is appended to <work>/results.jsonl as it ends, so an interrupted run resumes where it
stopped (the prepared world and models in <work> are reused).

    python bench/fuzz.py --cases 2400 --jobs 2     # writes bench/results/fuzz.md
    python bench/fuzz.py --cases 40 --only score   # a few cases of one entry point
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import sys
import tempfile
import time
import traceback
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")  # one thread per case: the cases run side by side

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# Entry points, in the order of the tally, and how often each is drawn (by cost).
ENTRIES = {
    "ingest": 4,
    "validate": 2,
    "score": 5,
    "score --mapping": 4,
    "train-flat": 2,
    "score-flat": 3,
    "kill at publish": 2,
}
OUTCOMES = ("exit 0", "exit 1", "exit 2", "bug", "signal", "hang", "wrong output")
SYSTEMS = {  # demo export -> the shipped mappings that read it
    "salesforce": ("salesforce",),
    "hubspot": ("hubspot",),
    "marketo": ("marketo", "salesforce"),
}
OLIST = ROOT.parent / "shared" / "data" / "olist-marketing-funnel"
OLIST_ROWS = 2000  # the first MQLs of the real file, and their won deals
FLAT_SCORE_FILES = ("scores.csv", "rejects.csv", "manifest.json")
FLAT_TRAIN_FILES = ("metrics.json", "leakage.json", "report.md", "importance.csv")
KINDS = ("lightgbm", "logistic_regression")  # the two model kinds train fits


# --- the prepared world: models, exports, tables, flat files and clean runs -----------


def tiny_params() -> dict:
    """The project's params with the tests' tiny world (250 accounts, 17 months)."""
    import yaml

    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["world"].update({"accounts": 250, "months": 17, "seed": 11})
    params["train"]["min_conversions"] = 10
    return params


def flat_file(path: Path, n: int, seed: int) -> Path:
    """Leads with a planted signal, an echo of the target and a post-sale status (the
    flat-mode test's file), `;`-separated with decimal commas."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    signal_ = rng.normal(size=n)
    source = rng.choice(["Google", "Direct Traffic", "Reference", "Select"], n)
    logit = -0.8 + 1.5 * signal_ + (source == "Reference")
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    frame = pd.DataFrame(
        {
            "Prospect ID": [f"p-{seed}-{i:05d}" for i in range(n)],
            "Lead Number": np.arange(600000, 600000 + n),
            "Lead Source": source,
            "Time On Site": [f"{v:.1f}".replace(".", ",") for v in np.abs(signal_ * 300 + 600)],
            "Do Not Email": rng.choice(["Yes", "No"], n),
            "Signup Date": pd.Timestamp("2025-01-01")
            + pd.to_timedelta(rng.integers(0, 300, n), unit="D"),
            "Echo": np.where(rng.random(n) < 0.03, 1 - y, y),
            "Lead Status": np.where(
                y == 1, "Closed - Converted", rng.choice(["Lost", "Ringing"], n)
            ),
            "Converted": np.where(y == 1, "Yes", "No"),
        }
    )
    frame["Signup Date"] = frame["Signup Date"].dt.strftime("%Y-%m-%d")
    frame.to_csv(path, index=False, sep=";")
    return path


def _command():
    """The installed `mqlscore` console script's function (its entry point, as a user's
    shell finds it; never an import of the CLI module)."""
    from importlib.metadata import entry_points

    (command,) = entry_points(group="console_scripts", name="mqlscore")
    return command.load()


def cli(argv: list[str], env: dict[str, str] | None = None) -> int:
    """Run the `mqlscore` command in this process, as the console script does (loaded from
    its installed entry point, as a user's shell would find it); its exit code."""
    run = _command()
    saved = dict(os.environ)
    os.environ.update(env or {})
    sys.argv = ["mqlscore", "-q", *argv]
    try:
        run()
    except SystemExit as stop:
        return stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return 0


def prepare(work: Path) -> None:
    """Everything the cases share, made once: the tiny world's models, its nightly
    export, its exports in each system's shape, its canonical tables, an Olist sample,
    flat files and a flat model, and the clean run of every entry point."""
    import pandas as pd
    import yaml

    from features.engine import build_snapshots
    from features.matching import match_leads
    from features.snapshots import data_end, snapshot_dates, spec_from
    from mqlscore.config import FeatureParams, MqlRule, TrainParams, WorldParams, load_section
    from mqlscore.modeling.training import train_model
    from mqlscore.tracking import save_local
    from sources.demo import write_demo_export
    from sources.exports import write_nightly_export
    from sources.world import generate_world

    work.mkdir(parents=True, exist_ok=True)
    params = work / "params.yaml"
    params.write_text(yaml.safe_dump(tiny_params()))
    world = generate_world(
        load_section(params, "world", WorldParams), load_section(params, "mql_rule", MqlRule)
    )
    tables = world.raw_tables()
    matched = tables | {"lead_accounts": match_leads(tables["leads"], tables["accounts"])}
    end = data_end(matched)
    features = load_section(params, "features", FeatureParams)
    spec = spec_from(features, load_section(params, "mql_rule", MqlRule))
    built = build_snapshots(
        matched, spec, snapshot_dates(tables["engagement"]["occurred_at"].min(), end, 3), end
    )
    for kind, frame in (("lead", built.leads), ("account", built.accounts)):
        trained = train_model(frame, load_section(params, "train", TrainParams), 90)
        for scorer in (trained.model, trained.comparison):  # both kinds: booster and linear
            save_local(scorer, scorer.example(frame), work / "models" / f"{kind}-{scorer.kind}")
    inputs = work / "in"
    write_nightly_export(tables, inputs / "nightly", world.exported_at)
    for system in SYSTEMS:
        write_demo_export(tables, system, inputs / system)
    olist = inputs / "olist"
    olist.mkdir(parents=True)
    leads = pd.read_csv(OLIST / "olist_marketing_qualified_leads_dataset.csv", dtype=str)
    leads = leads.head(OLIST_ROWS)
    leads.to_csv(olist / "olist_marketing_qualified_leads_dataset.csv", index=False)
    deals = pd.read_csv(OLIST / "olist_closed_deals_dataset.csv", dtype=str)
    deals = deals[deals["mql_id"].isin(leads["mql_id"])]
    deals.to_csv(olist / "olist_closed_deals_dataset.csv", index=False)
    flat = inputs / "flat"
    flat.mkdir()
    for name, n, seed in (("train", 800, 0), ("train2", 800, 3), ("score", 300, 1)):
        flat_file(flat / f"{name}.csv", n, seed)
    flat_file(flat / "score2.csv", 300, 2)
    info = {
        "exported_at": world.exported_at.isoformat(),
        "run_date": str(world.exported_at.date()),
    }
    (work / "world.json").write_text(json.dumps(info))

    base, ok = work / "base", True
    args = ["--params", str(params)]
    ok &= cli(["ingest", "--raw", str(inputs / "raw"), "--truth", str(base / "truth"), *args]) == 0
    validate = ["--summary", str(base / "validation.json"), "--baseline"]
    ok &= (
        cli(
            ["validate", "--raw", str(inputs / "raw"), *validate, str(work / "volume.json"), *args]
        )
        == 0
    )
    for system, mappings in {**SYSTEMS, "olist": ("olist",)}.items():
        ingest = ingest_params(work, inputs / system, mappings, base / f"ingest-{system}.yaml")
        raw = ["--raw", str(base / f"ingest-{system}"), "--truth", str(base / "truth")]
        ok &= cli(["ingest", *raw, "--params", str(ingest)]) == 0
    for kind in KINDS:
        models = {
            "model": work / "models" / f"lead-{kind}",
            "account_model": work / "models" / f"account-{kind}",
        }
        ok &= cli(score_args(work, inputs / "nightly", base / f"score-{kind}", **models)) == 0
    for system in SYSTEMS:
        ok &= cli(score_args(work, inputs / system, base / f"score-{system}", system=system)) == 0
    store = own_store(work, work / "mlflow")  # train-flat's MLflow store, copied into cases
    for name in ("train", "train2"):
        ok &= cli(train_flat_args(store, flat / f"{name}.csv", base / f"flat-{name}")) == 0
    model = base / "flat-train" / "model"
    for name in ("score", "score2"):
        ok &= cli(score_flat_args(work, model, flat / f"{name}.csv", base / f"flat-{name}")) == 0
    os.chdir(work)
    if not ok:
        raise RuntimeError("a clean run did not end in exit 0: see its log above")
    (work / "ready").write_text("ok\n")


def ingest_params(work: Path, export: Path, mappings: tuple[str, ...], path: Path) -> Path:
    """The tiny params with `source` pointing at an export and its mapping files (a name
    is a shipped mapping, a path a case's own copy)."""
    import yaml

    params = yaml.safe_load((work / "params.yaml").read_text())
    files = [m if "/" in m else str(ROOT / "mappings" / f"{m}.yaml") for m in mappings]
    params["source"] = {"mappings": files, "input": str(export)}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(params))
    return path


def score_args(
    work: Path,
    export: Path,
    out: Path,
    *,
    system: str | None = None,
    mappings: list[str] | None = None,
    model: Path | None = None,
    account_model: Path | str | None = None,
    column_map: Path | None = None,
    reasons: bool = False,
) -> list[str]:
    """`mqlscore score` of an export (in a source system's shape with `system`)."""
    args = [
        "score",
        "--export",
        str(export),
        "--out",
        str(out),
        "--params",
        str(work / "params.yaml"),
    ]
    args += ["--model", str(model or work / "models" / "lead-lightgbm")]
    args += ["--account-model", str(account_model or work / "models" / "account-lightgbm")]
    if system:
        names = mappings or [str(ROOT / "mappings" / f"{m}.yaml") for m in SYSTEMS[system]]
        for name in names:
            args += ["--mapping", name]
        args += ["--run-date", json.loads((work / "world.json").read_text())["run_date"]]
        if system == "hubspot":  # its CRM exports hold no touches: knowingly thin
            args.append("--allow-thin-context")
    if column_map:
        args += ["--column-map", str(column_map)]
    if not reasons:
        args.append("--no-reasons")
    return args


def own_store(work: Path, folder: Path) -> Path:
    """A folder of its own for a run that trains: the params and, when prepared, the
    MLflow store (train-flat keeps it beside its params.yaml, or in the current folder),
    so no two cases write one SQLite file. The folder is the one to pass to
    `train_flat_args` and to run in."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(work / "params.yaml", folder / "params.yaml")
    if (work / "mlflow" / "mlruns.db").exists() and folder != work / "mlflow":
        shutil.copy(work / "mlflow" / "mlruns.db", folder / "mlruns.db")
    os.chdir(folder)
    return folder


def train_flat_args(
    store: Path, source: Path, out: Path, extra: list[str] | None = None
) -> list[str]:
    args = ["train-flat", "--input", str(source), "--target", "Converted", "--id", "Prospect ID"]
    return [*args, "--out", str(out), "--params", str(store / "params.yaml"), *(extra or [])]


def score_flat_args(work: Path, model: Path, source: Path, out: Path) -> list[str]:
    args = ["score-flat", "--model", str(model), "--input", str(source), "--out", str(out)]
    return [*args, "--params", str(work / "params.yaml")]


# --- mutations ----------------------------------------------------------------------
# Each takes a file (or folder) in the case's copy of the inputs and an rng, changes it
# (always by writing a new file and renaming it over the old name: the inputs are hard
# links to the prepared ones) and returns its name and whether a reader could tell the
# difference (neutral: it must not change the outputs).

JUNK = [
    "",
    " ",
    "NULL",
    "N/A",
    "--",
    "💥",
    "12abc",
    "2031-13-45",
    "x" * 300,
    "=1+1",
    "-1e309",
    "1e400",
    "nan",
    "inf",
    "-0",
    "0x1F",
    "1,5",
    "'",
    '"',
    "\\",
    "a\nb",
    "<b>",
    "None",
    "TRUE",
    "２０２５-01-01",
    "9" * 40,
    "2025-02-30",
    "1970-01-01",
    "9999-12-31 23:59:59",
]
STAMP = r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}"


def replace(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.fuzz")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def cut_bytes(path: Path, raw: bytes, rng: random.Random) -> None:
    """The file cut at a random byte."""
    replace(path, raw[: rng.randrange(len(raw))])


def flip_bytes(path: Path, raw: bytes, rng: random.Random, most: int) -> None:
    """The file with 1 to `most` random bytes overwritten."""
    data = bytearray(raw)
    for _ in range(rng.randint(1, most)):
        data[rng.randrange(len(data))] = rng.randrange(256)
    replace(path, bytes(data))


def read_csv_text(raw: bytes, sep: str = ",") -> Any:
    import io

    import pandas as pd

    return pd.read_csv(io.BytesIO(raw), dtype=str, keep_default_na=False, sep=sep, index_col=False)


def separator(raw: bytes) -> str:
    """The separator of one of the prepared CSV files (`,`; the flat files use `;`)."""
    import csv

    head = "\n".join(raw.decode("utf-8", "replace").splitlines()[:20])
    try:
        return csv.Sniffer().sniff(head, delimiters=",;\t|").delimiter
    except csv.Error:
        return ","


def write_csv(path: Path, frame: Any, sep: str = ",", **extra: Any) -> None:
    replace(path, frame.to_csv(index=False, sep=sep, **extra).encode())


def csv_mutation(
    path: Path, rng: random.Random, ops: tuple[str, ...] | None = None
) -> tuple[str, bool]:
    """One of the ways a CSV export breaks, applied to `path`."""
    import csv

    raw = path.read_bytes()
    sep = separator(raw)
    frame = read_csv_text(raw, sep)
    names = ops or tuple(CSV_OPS)
    if len(frame.columns) < 2 or frame.empty:  # a header-only file: bytes only
        names = tuple(n for n in names if n in ("cut", "flip", "empty", "binary", "dialect")) or (
            "cut",
        )
    op = rng.choice(names)
    neutral = False
    if op == "cut":
        cut_bytes(path, raw, rng)
    elif op == "flip":
        flip_bytes(path, raw, rng, most=20)
    elif op == "empty":
        replace(path, b"")
    elif op == "header-only":
        replace(path, raw.split(b"\n", 1)[0] + b"\n")
    elif op == "binary":
        at = rng.randrange(len(raw))
        replace(path, raw[:at] + bytes(rng.randrange(256) for _ in range(64)) + b"\x00" + raw[at:])
    elif op == "dialect":
        sep = rng.choice([",", ";", "\t", "|"])
        text = frame.to_csv(index=False, sep=sep, lineterminator=rng.choice(["\n", "\r\n"]))
        encoding = rng.choice(["utf-8", "utf-8-sig", "latin-1", "cp1252"])
        replace(path, text.encode(encoding, "replace"))
        neutral = encoding.startswith("utf-8") or text.isascii()
    elif op == "quote-all":
        write_csv(path, frame, quoting=csv.QUOTE_ALL, sep=sep)
        neutral = True
    elif op == "shuffle-columns":
        columns = list(frame.columns)
        rng.shuffle(columns)
        write_csv(path, frame[columns], sep=sep)
        neutral = True
    elif op == "shuffle-rows":
        order = list(range(len(frame)))
        rng.shuffle(order)
        write_csv(path, frame.iloc[order], sep=sep)
        neutral = True
    elif op == "drop-column":
        write_csv(path, frame.drop(columns=rng.choice(list(frame.columns))), sep=sep)
    elif op == "repeat-column":
        a, b = rng.sample(list(frame.columns), 2)
        write_csv(path, frame.rename(columns={a: b}), sep=sep)
    elif op == "rename-column":
        column = rng.choice(list(frame.columns))
        new = rng.choice(
            [column.upper(), column.lower(), f" {column}", f"{column}_1", column[:-1]]
        )
        write_csv(path, frame.rename(columns={column: new or "x"}), sep=sep)
    elif op == "extra-column":
        write_csv(path, frame.assign(**{"Notes (fuzz)": rng.choice(JUNK)}), sep=sep)
    elif op == "garbage":
        column = rng.choice(list(frame.columns))
        rows = rng.sample(range(len(frame)), k=min(len(frame), rng.randint(1, 50)))
        frame.loc[frame.index[rows], column] = [rng.choice(JUNK) for _ in rows]
        write_csv(path, frame, sep=sep)
    elif op == "blank-column":
        frame[rng.choice(list(frame.columns))] = ""
        write_csv(path, frame, sep=sep)
    elif op == "placeholders":  # blanks spelled as CRMs spell them: still blank
        spelled = rng.choice(["NULL", "N/A", "--", "null"])
        write_csv(path, frame.mask(frame == "", spelled), sep=sep)
        neutral = not any(frame.isin([spelled]).any())
    elif op == "duplicate-rows":
        rows = rng.sample(range(len(frame)), k=min(len(frame), rng.randint(1, 20)))
        import pandas as pd

        write_csv(path, pd.concat([frame, frame.iloc[rows]], ignore_index=True), sep=sep)
    elif op == "whitespace":
        column = rng.choice(list(frame.columns))
        frame[column] = " " + frame[column] + "  "
        write_csv(path, frame, sep=sep)
    elif op in ("times", "times-shifted"):
        column = _stamp_column(frame, rng)
        if column is None:
            write_csv(path, frame, sep=sep)
            return op, True
        frame[column] = _respell(frame[column], rng, shifted=op == "times-shifted")
        write_csv(path, frame, sep=sep)
        neutral = op == "times"
    elif op == "huge-cell":
        frame.loc[frame.index[0], rng.choice(list(frame.columns))] = "y" * 200_000
        write_csv(path, frame, sep=sep)
    first = (raw.decode("utf-8-sig", "replace").splitlines() or [""])[0]
    header = next(csv.reader([first]), [])
    if op not in BYTE_LEVEL and len(set(header)) < len(header):  # HubSpot's repeated column:
        neutral = False  # pandas read it as `name.1`, so the file now says something else
    return op, neutral


BYTE_LEVEL = ("cut", "flip", "empty", "header-only", "binary")
CSV_OPS = (
    "cut",
    "flip",
    "empty",
    "header-only",
    "binary",
    "dialect",
    "quote-all",
    "shuffle-columns",
    "shuffle-rows",
    "drop-column",
    "repeat-column",
    "rename-column",
    "extra-column",
    "garbage",
    "blank-column",
    "placeholders",
    "duplicate-rows",
    "whitespace",
    "times",
    "times-shifted",
    "huge-cell",
)


def _stamp_column(frame: Any, rng: random.Random) -> str | None:
    stamped = [c for c in frame.columns if frame[c].str.match(STAMP).mean() > 0.5]
    return rng.choice(stamped) if stamped else None


def _respell(values: Any, rng: random.Random, shifted: bool) -> Any:
    """The same instants spelled another way (UTC as Z, +0000, +00:00, with
    milliseconds), or with shifted=True moved by an offset or to a day-first spelling."""
    import pandas as pd

    stamps = pd.to_datetime(values, errors="coerce", utc=True, format="ISO8601")
    if shifted:
        spellings = ["%Y-%m-%dT%H:%M:%S+02:00", "%d/%m/%Y %H:%M", "%m/%d/%Y", "%Y%m%d"]
    else:
        spellings = ["%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S+0000", "%Y-%m-%dT%H:%M:%S+00:00"]
        spellings.append("%Y-%m-%dT%H:%M:%S.000Z")
    out = []
    for text, stamp in zip(values, stamps, strict=True):
        out.append(text if pd.isna(stamp) else stamp.strftime(rng.choice(spellings)))
    return pd.Series(out, index=values.index)


PARQUET_OPS = (
    "cut",
    "flip",
    "empty-table",
    "drop-column",
    "rename-column",
    "as-text",
    "null-column",
    "null-cells",
    "junk-cells",
    "shuffle-rows",
    "shuffle-columns",
    "extra-column",
    "duplicate-rows",
    "negative",
    "future",
    "ancient",
    "tz-aware",
    "inf",
    "mixed-types",
)


def parquet_mutation(path: Path, rng: random.Random) -> tuple[str, bool]:
    """One of the ways a canonical table breaks, applied to a Parquet file."""
    import numpy as np
    import pandas as pd

    raw = path.read_bytes()
    frame = pd.read_parquet(path)
    op = rng.choice(PARQUET_OPS if len(frame) else ("cut", "flip", "drop-column", "extra-column"))
    neutral = False
    columns = list(frame.columns)
    column = rng.choice(columns)
    numeric = [
        c
        for c in columns
        if pd.api.types.is_numeric_dtype(frame[c]) and not pd.api.types.is_bool_dtype(frame[c])
    ]
    times = [c for c in columns if pd.api.types.is_datetime64_any_dtype(frame[c])]
    rows = (
        rng.sample(range(len(frame)), k=min(len(frame), rng.randint(1, 30))) if len(frame) else []
    )
    if op == "cut":
        cut_bytes(path, raw, rng)
        return op, False
    if op == "flip":
        flip_bytes(path, raw, rng, most=10)
        return op, False
    if op == "empty-table":
        frame = frame.head(0)
    elif op == "drop-column":
        frame = frame.drop(columns=column)
    elif op == "rename-column":
        frame = frame.rename(columns={column: column.upper()})
    elif op == "as-text":
        frame[column] = frame[column].astype(str)
    elif op == "null-column":
        frame[column] = None
    elif op == "null-cells":
        frame[column] = frame[column].astype(object)
        frame.loc[frame.index[rows], column] = None
    elif op == "junk-cells":
        frame[column] = frame[column].astype(object)
        frame.loc[frame.index[rows], column] = [rng.choice(JUNK) for _ in rows]
        frame[column] = frame[column].astype(str)
    elif op == "shuffle-rows":
        frame = frame.sample(frac=1.0, random_state=rng.randrange(1 << 30))
        neutral = True
    elif op == "shuffle-columns":
        rng.shuffle(columns)
        frame = frame[columns]
        neutral = True
    elif op == "extra-column":
        frame["fuzz_extra"] = rng.choice(JUNK)
    elif op == "duplicate-rows":
        frame = pd.concat([frame, frame.iloc[rows]], ignore_index=True)
    elif op == "negative" and numeric:
        column = rng.choice(numeric)
        frame.loc[frame.index[rows], column] = -1 - frame[column].iloc[rows].abs().fillna(0)
    elif op in ("future", "ancient") and times:
        column = rng.choice(times)
        when = pd.Timestamp("2099-01-01" if op == "future" else "1900-01-01")
        frame.loc[frame.index[rows], column] = when
    elif op == "tz-aware" and times:
        column = rng.choice(times)
        frame[column] = frame[column].dt.tz_localize("UTC")  # DuckDB would read it in the
        neutral = False  # session's zone downstream: validate may refuse it
    elif op == "inf" and numeric:
        column = rng.choice(numeric)
        frame[column] = frame[column].astype("float64")
        frame.loc[frame.index[rows], column] = rng.choice([np.inf, -np.inf, np.nan, 1e308])
    elif op == "mixed-types":
        frame[column] = frame[column].astype(object)
        frame.loc[frame.index[rows], column] = rng.choice([1, 2.5, True, "x"])
        frame[column] = frame[column].astype(str)
    else:
        return parquet_mutation(path, rng)
    tmp = path.with_name(f".{path.name}.fuzz")
    frame.to_parquet(tmp, index=False)
    os.replace(tmp, path)
    return f"{op}:{column}", neutral


def yaml_mutation(path: Path, rng: random.Random) -> str:
    """A mapping or column-map file broken: its bytes, or one node of its tree deleted,
    retyped, renamed or filled with junk."""
    import yaml

    raw = path.read_bytes()
    op = rng.choice(("cut", "flip", "empty", "not-yaml", "top-level", "bomb", *["node"] * 8))
    if op == "cut":
        cut_bytes(path, raw, rng)
    elif op == "flip":
        flip_bytes(path, raw, rng, most=5)
    elif op == "empty":
        replace(path, b"")
    elif op == "not-yaml":
        replace(
            path, rng.choice([b"{a: [b, c", b"\x00\x01\x02", b"a: b: c", b"- [", b"\t- x\n\t\ty"])
        )
    elif op == "top-level":
        replace(path, rng.choice([b"- a\n- b\n", b"42\n", b"just text\n", b"null\n"]))
    elif op == "bomb":
        letters = "abcdefghij"  # each level ten of the one before: 10^9 values
        lines = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
        for i in range(1, 9):
            refs = ", ".join([f"*{letters[i - 1]}"] * 10)
            lines.append(f"{letters[i]}: &{letters[i]} [{refs}]")
        replace(path, ("\n".join(lines) + "\n").encode())
    else:
        tree = yaml.safe_load(raw)
        paths = list(_nodes(tree, ()))
        where = rng.choice(paths) if paths else ()
        op = f"node:{_mutate_node(tree, where, rng)}:{'.'.join(map(str, where))}"
        replace(path, yaml.safe_dump(tree, allow_unicode=True).encode())
    return op


def _nodes(tree: Any, at: tuple) -> Any:
    if isinstance(tree, dict):
        for key, value in tree.items():
            yield (*at, key)
            yield from _nodes(value, (*at, key))
    elif isinstance(tree, list):
        for i, value in enumerate(tree):
            yield (*at, i)
            yield from _nodes(value, (*at, i))


def _mutate_node(tree: Any, where: tuple, rng: random.Random) -> str:
    if not where:
        return "none"
    parent = tree
    for step in where[:-1]:
        parent = parent[step]
    last = where[-1]
    how = rng.choice(("delete", "retype", "junk", "rename", "nest", "number", "blank"))
    if how == "delete":
        del parent[last]
    elif how == "retype":
        value = parent[last]
        parent[last] = [value] if not isinstance(value, list) else (value[0] if value else {})
    elif how == "junk":
        parent[last] = rng.choice([j for j in JUNK if j.strip()] + ["no_such_column", "Id"])
    elif how == "rename" and isinstance(parent, dict) and isinstance(last, str):
        parent[last.upper() + "_"] = parent.pop(last)
    elif how == "nest":
        parent[last] = {"file": parent[last], "json": [1, 2]}
    elif how == "number":
        parent[last] = rng.choice([0, -1, 1.5, 10**12, True])
    else:
        parent[last] = None
    return how


def model_mutation(folder: Path, rng: random.Random) -> tuple[str, bool]:
    """A model folder cut, flipped or edited: `booster.txt` (or `linear.json`) and
    `model.json` in `folder/artifacts/model`."""
    model = folder / "artifacts" / "model"
    files = sorted(p.name for p in model.iterdir())
    name = rng.choice(files)
    path = model / name
    raw = path.read_bytes()
    op = rng.choice(("cut", "cut-lines", "flip", "empty", "delete", "edit-number", "append"))
    if name.endswith(".json") and rng.random() < 0.5:
        op = "json-node"
    if op == "cut":
        cut_bytes(path, raw, rng)
    elif op == "cut-lines":
        lines = raw.split(b"\n")
        replace(path, b"\n".join(lines[: rng.randrange(len(lines))]) + b"\n")
    elif op == "flip":
        flip_bytes(path, raw, rng, most=5)
    elif op == "empty":
        replace(path, b"")
    elif op == "delete":
        path.unlink()
    elif op == "edit-number":  # one number changed, the file still well formed
        import re

        spans = [m.span() for m in re.finditer(rb"(?<![\w.])\d+\.\d+", raw)]
        if spans:
            a, b = rng.choice(spans)
            replace(path, raw[:a] + str(rng.uniform(0, 9)).encode()[:8] + raw[b:])
    elif op == "append":
        replace(path, raw + rng.choice([b"\nTree=999\n", b"\n{}", b"garbage\n", b"\x00"]))
    else:
        spec = json.loads(raw)
        paths = list(_nodes(spec, ()))
        where = rng.choice(paths)
        op = f"json-node:{_mutate_node(spec, where, rng)}:{'.'.join(map(str, where[:2]))}"
        replace(path, json.dumps(spec).encode())
    return f"{name}:{op}", False


# --- cases ---------------------------------------------------------------------------


@dataclass
class Plan:
    """What a case runs and what its outputs must show."""

    entry: str
    mutation: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    neutral: bool = False  # the outputs must be the clean run's
    must_fail: bool = False  # validate: a broken table it checks must not pass
    base: str = ""  # the clean run's output folder, for a neutral case or a kill
    out: str = ""  # the folder the case writes
    fault: str = ""  # kill: the fault point
    next_argv: list[str] = field(default_factory=list)  # kill: the next run into `out`
    old: str = ""  # kill: the output set the folder held before
    new: str = ""  # kill: the clean output set of the killed run


def link_tree(source: Path, target: Path) -> Path:
    """A copy of a folder of inputs as hard links (mutations replace files, never write
    into them)."""
    shutil.copytree(source, target, copy_function=os.link)
    return target


def case_rng(seed: int, i: int) -> random.Random:
    return random.Random(f"mqlscore-fuzz:{seed}:{i}")


def draw_entry(rng: random.Random, only: tuple[str, ...], i: int, spread: bool) -> str:
    """Case i's entry point: drawn by weight, or with `spread` each in turn."""
    names = [n for n in ENTRIES if not only or n in only]
    if spread:
        return names[i % len(names)]
    return rng.choices(names, weights=[ENTRIES[n] for n in names])[0]


def make_case(work: Path, case: Path, entry: str, rng: random.Random) -> Plan:
    """Lay out case `case`'s inputs (mutated) and say what to run."""
    return CASES[entry](work, case, rng)


def _export_file(folder: Path, rng: random.Random, suffix: str = ".csv") -> Path:
    return rng.choice(sorted(p for p in folder.iterdir() if p.name.endswith(suffix)))


def ingest_case(work: Path, case: Path, rng: random.Random) -> Plan:
    system = rng.choice([*SYSTEMS, "olist"])
    export = link_tree(work / "in" / system, case / "export")
    mappings = list(SYSTEMS.get(system, ("olist",)))
    base = str(work / "base" / f"ingest-{system}")
    if rng.random() < 0.25:  # a broken mapping file
        k = rng.randrange(len(mappings))
        mine = case / f"{mappings[k]}.yaml"
        shutil.copy(ROOT / "mappings" / f"{mappings[k]}.yaml", mine)
        mutation, neutral = f"mapping {mappings[k]}: {yaml_mutation(mine, rng)}", False
        mappings[k] = str(mine)
    elif rng.random() < 0.1:  # an export file missing
        gone = _export_file(export, rng)
        gone.unlink()
        mutation, neutral = f"{gone.name}: deleted", False
    else:
        path = _export_file(export, rng)
        op, neutral = csv_mutation(path, rng)
        mutation = f"{path.name}: {op}"
    params = ingest_params(work, export, tuple(mappings), case / "params.yaml")
    argv = ["ingest", "--raw", str(case / "raw"), "--truth", str(case / "truth")]
    argv += ["--params", str(params)]
    out = str(case / "raw")
    return Plan("ingest", f"{system}: {mutation}", argv, neutral=neutral, base=base, out=out)


MUST_FAIL = ("duplicate-rows", "negative", "future")  # what validate checks, by table below


def validate_case(work: Path, case: Path, rng: random.Random) -> Plan:
    raw = link_tree(work / "in" / "raw", case / "raw")
    shutil.copy(work / "volume.json", case / "volume.json")
    if rng.random() < 0.1:
        what = rng.choice(("delete-table", "export.json", "no-baseline", "half-table"))
        must = False
        if what == "delete-table":
            gone = _export_file(raw, rng, ".parquet")
            gone.unlink()
            mutation = f"{gone.name}: deleted"
        elif what == "export.json":
            path = raw / "export.json"
            mutation = f"export.json: {rng.choice(['cut', 'junk', 'no-time', 'bad-time'])}"
            text = {"cut": path.read_bytes()[:10], "junk": b"\xff\xfe", "no-time": b"{}"}
            replace(path, text.get(mutation.split(": ")[1], b'{"exported_at": "yesterday"}'))
        elif what == "no-baseline":
            (case / "volume.json").unlink()
            mutation, must = "no volume baseline", False
        else:
            import pandas as pd

            path = raw / rng.choice(["leads.parquet", "engagement.parquet", "accounts.parquet"])
            frame = pd.read_parquet(path)
            tmp = path.with_name(".half.parquet")
            frame.head(len(frame) // 3).to_parquet(tmp, index=False)
            os.replace(tmp, path)
            mutation, must = f"{path.name}: a third of its rows", True
        neutral = what == "no-baseline"
    else:
        path = _export_file(raw, rng, ".parquet")
        op, neutral = parquet_mutation(path, rng)
        mutation = f"{path.name}: {op}"
        must = _validate_must_fail(path.stem, op)
    argv = ["validate", "--raw", str(raw), "--summary", str(case / "validation.json")]
    argv += ["--baseline", str(case / "volume.json"), "--params", str(work / "params.yaml")]
    return Plan("validate", mutation, argv, neutral=neutral, must_fail=must)


def _validate_must_fail(table: str, op: str) -> bool:
    """Whether a mutated table breaks a check validate documents (so passing is wrong)."""
    name, _, column = op.partition(":")
    keys = {"accounts": "account_id", "leads": "lead_id", "engagement": "event_id"}
    keys |= {"sales_activities": "activity_id", "opportunities": "opportunity_id"}
    keys |= {"campaigns": "campaign_id"}
    if name == "duplicate-rows":
        return table in keys
    if name == "negative":
        return column in ("amount", "annual_revenue", "employees", "budgeted_cost", "actual_cost")
    if name == "future":  # a campaign may be planned after the export (validate's PLANNED)
        return (table, column) != ("campaigns", "started_at")
    return name == "null-column" and column == keys.get(table)


def score_case(work: Path, case: Path, rng: random.Random) -> Plan:
    export = link_tree(work / "in" / "nightly", case / "export")
    out = case / "out"
    kind = rng.choice(KINDS[:1] * 3 + KINDS[1:])
    model, account = work / "models" / f"lead-{kind}", work / "models" / f"account-{kind}"
    column_map, base = None, str(work / "base" / f"score-{kind}")
    roll = rng.random()
    neutral = False
    if roll < 0.15:  # a model folder cut or edited
        which = rng.choice(("lead", "account"))
        copy = case / "models" / which
        shutil.copytree(work / "models" / f"{which}-{kind}", copy)
        op, neutral = model_mutation(copy, rng)
        mutation = f"{which} model ({kind}) {op}"
        model, account = (copy, account) if which == "lead" else (model, copy)
    elif roll < 0.3:  # a column map: export columns renamed and mapped back, or a broken map
        column_map, mutation, neutral = _column_map(export, case, rng)
    elif roll < 0.45:  # another table of the export
        path = _export_file(export, rng, ".parquet")
        op, neutral = parquet_mutation(path, rng)
        mutation = f"{path.name}: {op}"
    else:
        op, neutral = csv_mutation(export / "leads.csv", rng)
        mutation = f"leads.csv: {op}"
    args = score_args(work, export, out, model=model, account_model=account, column_map=column_map)
    return Plan("score", mutation, args, neutral=neutral, base=base, out=str(out))


def _column_map(export: Path, case: Path, rng: random.Random) -> tuple[Path, str, bool]:
    """Some of the lead file's columns renamed, with the column map that names them back
    (neutral); or that map broken."""
    import yaml

    leads = export / "leads.csv"
    frame = read_csv_text(leads.read_bytes())
    picked = rng.sample(list(frame.columns), k=rng.randint(1, 4))
    renamed = {c: f"Export {c.replace('_', ' ').title()}" for c in picked}
    write_csv(leads, frame.rename(columns=renamed))
    path = case / "map.yaml"
    path.write_text(yaml.safe_dump({"leads": {new: old for old, new in renamed.items()}}))
    if rng.random() < 0.4:
        return path, f"column map of {len(picked)} lead column(s)", True
    return path, f"column map: {yaml_mutation(path, rng)}", False


def score_mapping_case(work: Path, case: Path, rng: random.Random) -> Plan:
    system = rng.choice(list(SYSTEMS))
    export = link_tree(work / "in" / system, case / "export")
    out = case / "out"
    mappings = [str(ROOT / "mappings" / f"{m}.yaml") for m in SYSTEMS[system]]
    if rng.random() < 0.3:
        k = rng.randrange(len(mappings))
        mine = case / Path(mappings[k]).name
        shutil.copy(mappings[k], mine)
        mutation, neutral = f"mapping {mine.stem}: {yaml_mutation(mine, rng)}", False
        mappings[k] = str(mine)
    else:
        path = _export_file(export, rng)
        op, neutral = csv_mutation(path, rng)
        mutation = f"{path.name}: {op}"
    args = score_args(work, export, out, system=system, mappings=mappings)
    base = str(work / "base" / f"score-{system}")
    mutation = f"{system}: {mutation}"
    return Plan("score --mapping", mutation, args, neutral=neutral, base=base, out=str(out))


def train_flat_case(work: Path, case: Path, rng: random.Random) -> Plan:
    source = case / "leads.csv"
    shutil.copy(work / "in" / "flat" / "train.csv", source)
    out, extra = case / "out", []
    own_store(work, case)
    roll = rng.random()
    neutral = False
    if roll < 0.2:  # the options
        import pandas as pd

        columns = list(pd.read_csv(source, sep=";", nrows=1).columns)
        option = rng.choice(("--date", "--keep", "--exclude", "--target", "--id"))
        value = rng.choice([*columns, "No Such Column", "", "💥"])
        extra = [option, value]
        mutation = f"{option} {value!r}"
    elif roll < 0.35:  # the target
        import pandas as pd

        frame = pd.read_csv(source, sep=";", dtype=str, keep_default_na=False)
        how = rng.choice(("one-class", "junk", "blank", "few", "numbers"))
        if how == "one-class":
            frame["Converted"] = "No"
        elif how == "junk":
            rows = rng.sample(range(len(frame)), k=rng.randint(1, 5))
            frame.loc[rows, "Converted"] = [rng.choice(JUNK) for _ in rows]
        elif how == "blank":
            rows = rng.sample(range(len(frame)), k=rng.randint(1, 100))
            frame.loc[rows, "Converted"] = ""
        elif how == "few":
            frame = frame.head(rng.randint(1, 40))
        else:
            frame["Converted"] = frame["Converted"].map({"Yes": "1", "No": "0"})
        write_csv(source, frame, sep=";")
        mutation = f"target: {how}"
    else:
        op, neutral = csv_mutation(source, rng)
        mutation = f"leads.csv: {op}"
        neutral = neutral and op in ("dialect", "quote-all")  # column order may move a tie
    args = train_flat_args(case, source, out, extra)  # --target or --id twice: the last counts
    base = str(work / "base" / "flat-train")
    return Plan("train-flat", mutation, args, neutral=neutral, base=base, out=str(out))


def score_flat_case(work: Path, case: Path, rng: random.Random) -> Plan:
    source = case / "leads.csv"
    shutil.copy(work / "in" / "flat" / "score.csv", source)
    model = work / "base" / "flat-train" / "model"
    out = case / "out"
    if rng.random() < 0.25:
        copy = case / "model"
        shutil.copytree(model, copy)
        op, neutral = model_mutation(copy, rng)
        mutation, model = f"model {op}", copy
    else:
        op, neutral = csv_mutation(source, rng)
        mutation = f"leads.csv: {op}"
    args = score_flat_args(work, model, source, out)
    base = str(work / "base" / "flat-score")
    return Plan("score-flat", mutation, args, neutral=neutral, base=base, out=str(out))


def kill_case(work: Path, case: Path, rng: random.Random) -> Plan:
    """A clean run killed at a named point of its publish, into a folder holding the
    previous run's set; the next run into the folder is refused."""
    what = rng.choice(("score", "score", "score-flat", "train-flat"))
    out = case / "out"
    base = work / "base"
    if what == "score":
        shutil.copytree(base / "score-lightgbm", out)
        drop = rng.random() < 0.3
        account = "none" if drop else None
        argv = score_args(work, work / "in" / "nightly", out, account_model=account, reasons=True)
        points = len(score_files()) - (2 if drop else 0)
        nxt = score_args(work, case / "no-such-export", out)
        old, new = base / "score-lightgbm", None  # the new set: the one its manifest names
    elif what == "score-flat":
        shutil.copytree(base / "flat-score", out)
        model = base / "flat-train" / "model"
        argv = score_flat_args(work, model, work / "in" / "flat" / "score2.csv", out)
        points, drop = len(FLAT_SCORE_FILES), False
        nxt = score_flat_args(work, model, case / "no-such.csv", out)
        old, new = base / "flat-score", base / "flat-score2"
    else:
        shutil.copytree(base / "flat-train", out)
        own_store(work, case)
        argv = train_flat_args(case, work / "in" / "flat" / "train2.csv", out)
        points, drop = len(FLAT_TRAIN_FILES) + 1, False
        nxt = train_flat_args(case, case / "no-such.csv", out)
        old, new = base / "flat-train", base / "flat-train2"
    named = ["publish:start", "publish:journal", "publish:dropped", "publish:end"]
    point = rng.choice(named + [f"publish:moved:{k}" for k in range(1, points + 1)])
    return Plan(
        "kill at publish",
        f"{what} at {point}" + (" (account scores dropped)" if drop else ""),
        argv,
        env={"MQLSCORE_FAULT": point},
        out=str(out),
        fault=point,
        next_argv=nxt,
        old=str(old),
        new=str(new or ""),
        base=what,
    )


CASES = {
    "ingest": ingest_case,
    "validate": validate_case,
    "score": score_case,
    "score --mapping": score_mapping_case,
    "train-flat": train_flat_case,
    "score-flat": score_flat_case,
    "kill at publish": kill_case,
}


# --- running a case: children, time limits, endings -----------------------------------

LOG_LINE = r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2},\d{3} (DEBUG|INFO|WARNING|ERROR|CRITICAL) "


@dataclass
class End:
    """How a child ended: `exit` with a code, `signal` with its number, or `hang`."""

    kind: str
    code: int = 0
    seconds: float = 0.0


def run_child(target: Any, timeout: float) -> End:
    """Fork a child running `target()` (which must end in os._exit) in its own process
    group; kill the group after `timeout` seconds."""
    started = time.monotonic()
    pid = os.fork()
    if pid == 0:  # the child
        try:
            os.setpgid(0, 0)
            target()
        except BaseException:
            traceback.print_exc()
        os._exit(96)
    with _suppress():
        os.setpgid(pid, pid)
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            seconds = time.monotonic() - started
            if os.WIFSIGNALED(status):
                return End("signal", os.WTERMSIG(status), seconds)
            return End("exit", os.WEXITSTATUS(status), seconds)
        if time.monotonic() - started > timeout:
            with _suppress():
                os.killpg(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return End("hang", 0, time.monotonic() - started)
        time.sleep(0.02)


class _suppress:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> bool:
        return exc[0] is not None and issubclass(exc[0], OSError)  # type: ignore[arg-type]


def _into(case: Path, name: str) -> None:
    """This process's stdout and stderr into files of the case (C-level output too)."""
    for fd, suffix in ((1, "stdout"), (2, "stderr")):
        handle = os.open(case / f"{name}.{suffix}", os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        os.dup2(handle, fd)
        os.close(handle)


def _cli_child(case: Path, name: str, plan_or_argv: Any) -> None:
    os.chdir(case)
    (case / "tmp").mkdir(exist_ok=True)
    tempfile.tempdir = str(case / "tmp")  # a bug's traceback log lands in the case
    if callable(plan_or_argv):
        _into(case, "plan")  # the harness's own failure to lay out a case lands here
        plan = plan_or_argv()
        (case / "plan.json").write_text(json.dumps(asdict(plan), indent=1))
        argv, env = plan.argv, plan.env
    else:
        argv, env = plan_or_argv, {}
    _into(case, name)
    try:
        code = cli(argv, env)
    except BaseException:
        (case / f"{name}.escaped").write_text(traceback.format_exc())
        code = 97
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def score_files() -> tuple[str, ...]:
    """The files a `score` run publishes (the library's list)."""
    from mqlscore.serving.outputs import OUTPUT_FILES

    return OUTPUT_FILES


def md5(path: Path) -> str:
    from mqlscore.io import file_md5

    return file_md5(path)


def flat_set(folder: Path, names: tuple[str, ...], model: bool) -> dict[str, str]:
    """MD5 of each file of a flat output set (the model's own files too)."""
    found = {n: md5(folder / n) for n in names if (folder / n).is_file()}
    inner = folder / "model" / "artifacts" / "model"
    if model and inner.is_dir():
        found |= {f"model/{p.name}": md5(p) for p in sorted(inner.iterdir())}
    return found


def set_state(plan: Plan) -> str:
    """What the output folder of a killed run holds: `old`, `new`, or `mixed: ...`
    (`, publish pending` when a publish journal is there to be finished)."""
    out = Path(plan.out)
    pending = ", publish pending" if any(out.glob(".publish*")) else ""
    what = plan.base
    if what == "score":
        present = {n for n in score_files() if (out / n).exists()}
        try:
            manifest = json.loads((out / "manifest.json").read_text())
        except (OSError, ValueError):
            return f"mixed: no readable manifest{pending}"
        outputs = manifest.get("outputs", {})
        wrong = sorted(n for n in present - {"manifest.json"} if md5(out / n) != outputs.get(n))
        wrong += sorted(n for n in outputs if n not in present)
        if wrong:
            return f"mixed: {', '.join(wrong)} not the manifest's{pending}"
        old = (Path(plan.old) / "manifest.json").read_bytes()
        return ("old" if (out / "manifest.json").read_bytes() == old else "new") + pending
    names, model = (FLAT_SCORE_FILES, False) if what == "score-flat" else (FLAT_TRAIN_FILES, True)
    found = flat_set(out, names, model)
    for label, folder in (("old", plan.old), ("new", plan.new)):
        if found == flat_set(Path(folder), names, model):
            return label + pending
    old = flat_set(Path(plan.old), names, model)
    new = flat_set(Path(plan.new), names, model)
    labels = []
    for name in sorted(set(found) | set(old) | set(new)):
        got = found.get(name)
        which = "old" if got == old.get(name) else "new" if got == new.get(name) else "neither"
        labels.append(f"{name}={which}")
    return f"mixed: {', '.join(labels)}{pending}"


def run_case(
    work: Path, i: int, seed: int, only: tuple[str, ...], timeout: float, spread: bool = False
) -> dict:
    """Case `i`: its inputs laid out and its command run in a child, the next run for a
    kill, then its outputs checked in another child; its verdict."""
    case = work / "cases" / str(i)
    shutil.rmtree(case, ignore_errors=True)
    case.mkdir(parents=True)
    rng = case_rng(seed, i)
    entry = draw_entry(rng, only, i, spread)
    plan_it = lambda: make_case(work, case, entry, rng)  # noqa: E731  (run in the child)
    end = run_child(lambda: _cli_child(case, "run", plan_it), timeout)
    record: dict[str, Any] = {"case": i, "entry": entry, "seconds": round(end.seconds, 2)}
    if not (case / "plan.json").exists():
        err = (case / "plan.stderr").read_text() if (case / "plan.stderr").exists() else ""
        return record | {"outcome": "harness", "why": f"no plan: {end} {err[-500:]}"}
    plan = Plan(**json.loads((case / "plan.json").read_text()))
    record["mutation"] = plan.mutation
    record["neutral"] = plan.neutral
    ends = {"run": asdict(end)}
    if plan.fault:
        ends["after kill"] = set_state(plan)
        nxt = run_child(lambda: _cli_child(case, "next", plan.next_argv), timeout)
        ends["next"] = asdict(nxt)
        ends["after next run"] = set_state(plan)
    (case / "ends.json").write_text(json.dumps(ends))
    check = run_child(lambda: _verify_child(case), timeout)
    if not (case / "verdict.json").exists():
        return record | {"outcome": "harness", "why": f"no verdict: {check}"}
    return record | json.loads((case / "verdict.json").read_text())


def _verify_child(case: Path) -> None:
    _into(case, "verify")
    plan = Plan(**json.loads((case / "plan.json").read_text()))
    ends = json.loads((case / "ends.json").read_text())
    outcome, why = verify(plan, ends, case)
    (case / "verdict.json").write_text(json.dumps({"outcome": outcome, "why": why}))
    os._exit(0)


# --- verdicts -----------------------------------------------------------------------


def ending(entry: str, end: dict, case: Path, name: str) -> tuple[str, str]:
    """A run's ending alone: exit 0/1/2 (to be checked further), or a bug, signal or
    hang with what it said."""
    import re

    if end["kind"] == "hang":
        return "hang", f"still running after {end['seconds']:.0f} s"
    if end["kind"] == "signal":
        return "signal", signal.Signals(end["code"]).name
    code = end["code"]
    stderr = (case / f"{name}.stderr").read_text(errors="replace")
    lines = [line for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if re.match(LOG_LINE, line) and " ERROR " in line[:40]]
    stray = [line for line in lines if not re.match(LOG_LINE, line)]
    said = errors[-1].split(": ", 1)[-1] if errors else (lines[-1] if lines else "")
    if "Traceback (most recent call last)" in stderr:
        return "bug", f"exit {code} with a traceback: {_last_line(stderr)}"
    if code == 3:
        log = re.search(r"the traceback is in (\S+)", stderr)
        text = Path(log.group(1)).read_text() if log and Path(log.group(1)).exists() else ""
        shutil.copy(log.group(1), case / "bug.log") if text else None
        return "bug", f"exit 3: {_last_line(text) or said}"
    if code == 97:
        return "bug", f"escaped the CLI: {_last_line((case / f'{name}.escaped').read_text())}"
    if code == 2:
        if len(errors) != 1 or stray:
            first = (stray or errors or [""])[0][:300]
            return "bug", f"exit 2 in {len(errors)} error line(s) and {len(stray)} other: {first}"
        return "exit 2", said[:400]
    if code == 1 and entry == "validate":
        return "exit 1", said[:400]
    if code == 0:
        return "exit 0", ""
    return "bug", f"exit {code}: {said[:300]}"


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:400] if lines else ""


def verify(plan: Plan, ends: dict, case: Path) -> tuple[str, str]:
    """The case's verdict: its ending, then what its outputs show."""
    if plan.fault:
        return verify_kill(plan, ends, case)
    outcome, why = ending(plan.entry, ends["run"], case, "run")
    try:
        if outcome == "exit 0":
            wrong = CHECKS[plan.entry](plan, case)
            if wrong:
                return "wrong output", wrong
        elif outcome == "exit 2":
            wrong = nothing_published(plan)
            if plan.neutral:
                wrong = f"refused a change that alters nothing: {why}"
            if wrong:
                return "wrong output", wrong
        elif outcome == "exit 1":
            summary = json.loads((case / "validation.json").read_text())
            if not summary.get("failed"):
                return "bug", "exit 1 without a failed check in the summary"
            if plan.neutral:
                return "wrong output", f"a change validate cannot tell failed it: {why}"
    except Exception as err:
        return "wrong output", f"outputs unreadable: {type(err).__name__}: {err}"[:400]
    return outcome, why


def nothing_published(plan: Plan) -> str:
    out = Path(plan.out) if plan.out else None
    if out is None:
        return ""
    landed = {
        "score": "manifest.json",
        "score --mapping": "manifest.json",
        "score-flat": "manifest.json",
    }
    landed |= {"train-flat": "metrics.json", "ingest": "export.json"}
    name = landed.get(plan.entry)
    if name and (out / name).exists():
        return f"refused, yet {name} was published"
    return ""


def counts_wrong(manifest: dict, scored: int, rejected: int) -> str:
    """What does not add up: rows in against scored + rejected, and the files' rows
    against the manifest's counts."""
    rows_in, said = manifest["rows_in"], (manifest["scored"], manifest["rejected"])
    if rows_in != sum(said):
        return f"rows in {rows_in} != scored {said[0]} + rejected {said[1]}"
    if (scored, rejected) != said:
        return f"the files hold {scored} scored and {rejected} rejected rows, the manifest {said}"
    return ""


def check_score(plan: Plan, case: Path) -> str:
    import pandas as pd

    out = Path(plan.out)
    manifest = json.loads((out / "manifest.json").read_text())
    leads = pd.read_parquet(out / "lead_scores.parquet")
    rejects = pd.read_csv(out / "rejects.csv", dtype=str, keep_default_na=False)
    wrong = counts_wrong(manifest, len(leads), len(rejects))
    if wrong:
        return wrong
    if leads["lead_id"].duplicated().any():
        return "a lead scored twice"
    for name, digest in manifest["outputs"].items():
        if md5(out / name) != digest:
            return f"{name} is not the manifest's"
    if plan.neutral:
        for name in ("lead_scores.parquet", "account_scores.parquet"):
            if (Path(plan.base) / name).exists():
                wrong = same_frame(Path(plan.base) / name, out / name, name.split("_")[0] + "_id")
                if wrong:
                    return f"a change that alters nothing changed {name}: {wrong}"
    return ""


def same_frame(a: Path, b: Path, key: str | None) -> str:
    """Whether two tables hold the same rows (in any order); what differs."""
    import pandas as pd

    def read(path: Path) -> pd.DataFrame:
        frame = (
            pd.read_parquet(path)
            if path.suffix == ".parquet"
            else pd.read_csv(path, dtype=str, keep_default_na=False)
        )
        by = [key] if key and key in frame.columns else list(frame.columns)
        return frame.sort_values(by, kind="stable").reset_index(drop=True)

    left, right = read(a), read(b)
    if list(left.columns) != list(right.columns):
        return f"columns {list(left.columns)} vs {list(right.columns)}"
    if len(left) != len(right):
        return f"{len(left)} rows vs {len(right)}"
    try:
        pd.testing.assert_frame_equal(left, right, check_dtype=False)
    except AssertionError as err:
        return " ".join(str(err).split())[:300]
    return ""


def check_flat_score(plan: Plan, case: Path) -> str:
    import pandas as pd

    out = Path(plan.out)
    manifest = json.loads((out / "manifest.json").read_text())
    scores = pd.read_csv(out / "scores.csv", dtype=str, keep_default_na=False)
    rejects = pd.read_csv(out / "rejects.csv", dtype=str, keep_default_na=False)
    wrong = counts_wrong(manifest, len(scores), len(rejects))
    if wrong:
        return wrong
    if plan.neutral:
        wrong = same_frame(Path(plan.base) / "scores.csv", out / "scores.csv", "id")
        if wrong:
            return f"a change that alters nothing changed scores.csv: {wrong}"
    return ""


def check_flat_train(plan: Plan, case: Path) -> str:
    out = Path(plan.out)
    missing = [n for n in (*FLAT_TRAIN_FILES, "model") if not (out / n).exists()]
    if missing:
        return f"exit 0 without {', '.join(missing)}"
    if plan.neutral:
        got = json.loads((out / "metrics.json").read_text())
        want = json.loads((Path(plan.base) / "metrics.json").read_text())
        if got != want:
            return "a change that alters nothing changed metrics.json"
    return ""


def check_ingest(plan: Plan, case: Path) -> str:
    from mqlscore.schema import PRIMARY_KEYS, RAW_TABLES

    out = Path(plan.out)
    missing = [n for n in RAW_TABLES if not (out / f"{n}.parquet").exists()]
    if missing or not (out / "export.json").exists():
        return f"exit 0 without {', '.join(missing) or 'export.json'}"
    if plan.neutral:
        for name in RAW_TABLES:
            wrong = same_frame(
                Path(plan.base) / f"{name}.parquet",
                out / f"{name}.parquet",
                PRIMARY_KEYS.get(name),
            )
            if wrong:
                return f"a change that alters nothing changed {name}: {wrong}"
    return ""


def check_validate(plan: Plan, case: Path) -> str:
    if plan.must_fail:
        return f"validate passed a table it checks: {plan.mutation}"
    return ""


CHECKS = {
    "ingest": check_ingest,
    "validate": check_validate,
    "score": check_score,
    "score --mapping": check_score,
    "train-flat": check_flat_train,
    "score-flat": check_flat_score,
}


def verify_kill(plan: Plan, ends: dict, case: Path) -> tuple[str, str]:
    """Killed at its point (or ended before it), the folder whole; the next run refused
    in one line and the folder whole after it."""
    run = ends["run"]
    if not (run["kind"] == "signal" and run["code"] == signal.SIGKILL):
        outcome, why = ending(plan.entry, run, case, "run")
        if outcome != "exit 0":
            return outcome, f"the run to be killed: {why}"
    nxt, why = ending(plan.entry, ends["next"], case, "next")
    if nxt not in ("exit 0", "exit 2"):
        return nxt, f"the next run: {why}"
    after, later = ends["after kill"], ends["after next run"]
    if later.startswith("mixed") or "pending" in later:
        return "wrong output", f"after the kill: {after}; after the next run: {later}"
    if after.startswith("mixed") and "pending" not in after:
        return "wrong output", f"after the kill: {after}"
    return "exit 0", f"after the kill: {after}; after the next run: {later}"


# --- the tally ----------------------------------------------------------------------


def load_results(path: Path) -> dict[int, dict]:
    results = {}
    if path.exists():
        for line in path.read_text().splitlines():
            if line.strip():
                record = json.loads(line)
                results[record["case"]] = record
    return results


def report(results: list[dict], seed: int, seconds: float, jobs: int) -> str:
    """The tally as Markdown: per entry point and outcome, then every case that is not
    an exit 0, 1 or 2, then the refusals and mutations seen."""
    by = Counter((r["entry"], r["outcome"]) for r in results)
    lines = [
        f"{len(results)} fuzzed cases (seed {seed}, {jobs} at a time on 2 cores, "
        f"{seconds / 60:.0f} min of wall time), every `mqlscore` entry point:",
        "",
        "| entry point | cases | exit 0 | exit 1 (failed check) | exit 2 (refused, one line) "
        "| bugs | signals | hangs | wrong outputs |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    totals = Counter()
    for entry in ENTRIES:
        n = sum(v for (e, _), v in by.items() if e == entry)
        cells = [by[(entry, o)] for o in OUTCOMES]
        totals.update({o: by[(entry, o)] for o in OUTCOMES})
        lines.append(f"| {entry} | {n} | " + " | ".join(str(c) for c in cells) + " |")
    lines.append(
        f"| **all** | **{len(results)}** | "
        + " | ".join(f"**{totals[o]}**" for o in OUTCOMES)
        + " |"
    )
    harness = [r for r in results if r["outcome"] == "harness"]
    bad = [r for r in results if r["outcome"] in ("bug", "signal", "hang", "wrong output")]
    lines += [
        "",
        "Exit 1 is `validate`'s documented ending for a failed check. For `kill at "
        "publish`, exit 0 means: the run was killed at its fault point and its output "
        "folder then held a whole set (the old one or the new one, by the manifest's "
        "MD5s), as it did after the next run into it.",
    ]
    lines += ["", f"Failures ({len(bad)}):" if bad else "Failures: none"]
    for r in bad[:200]:
        what = f"{r['entry']}, {r.get('mutation', '')}"
        lines.append(f"- case {r['case']} ({what}): {r['outcome']}: {r['why']}")
    if harness:
        lines += ["", f"Harness errors ({len(harness)}):"]
        lines += [f"- case {r['case']} ({r['entry']}): {r['why'][:300]}" for r in harness[:50]]
    kills = Counter(
        _held(r["why"].split(";")[0].removeprefix("after the kill: "))
        for r in results
        if r["entry"] == "kill at publish" and r["outcome"] == "exit 0"
    )
    if kills:
        lines += [
            "",
            "Kills at publish, what the folder held right after the kill (after the next "
            "run into it: the old or the new set, every time): "
            + ", ".join(f"{k} {v}" for k, v in sorted(kills.items())),
        ]
    neutral = Counter(r["entry"] for r in results if r.get("neutral"))
    if neutral:
        lines += [
            "",
            "Of these, changes a reader of the file cannot tell (another dialect or column "
            "order, re-spelled times, renamed columns mapped back), whose output had to be "
            "the clean run's: " + ", ".join(f"{e} {n}" for e, n in neutral.items()),
        ]
    families = Counter((r["entry"], _family(r.get("mutation", ""))) for r in results)
    lines += ["", "Mutations drawn, per entry point:", ""]
    for entry in ENTRIES:
        seen = sorted(
            ((f, n) for (e, f), n in families.items() if e == entry), key=lambda x: -x[1]
        )
        if seen:
            lines.append(f"- {entry}: " + ", ".join(f"{f} {n}" for f, n in seen))
    return "\n".join(lines) + "\n"


def _held(state: str) -> str:
    """What a killed run's folder held, in short."""
    journal = "pending" in state
    if state.startswith("mixed"):
        return "a mix with its journal, finished by the next run" if journal else "a mix"
    return state.split(",")[0] + (" set with a pending journal" if journal else " set")


def _family(mutation: str) -> str:
    """A mutation's kind, without its file, column or values."""
    text = mutation.split(": ", 1)[-1] if ": " in mutation else mutation
    if mutation.startswith(("salesforce", "hubspot", "marketo", "olist")):
        text = mutation.split(": ", 1)[1]
        text = (
            text.split(": ", 1)[-1]
            if not text.startswith("mapping")
            else "mapping " + text.split(": ", 1)[-1]
        )
    if "model" in mutation.split(":")[0]:
        text = "model " + mutation.split(":", 1)[1].split(":")[0].strip()
    return text.split(":")[0].split(" at ")[0].strip() or mutation


# --- main -----------------------------------------------------------------------------


def preload() -> None:
    """Import what the commands import (the CLI and the modules they load lazily), once,
    in the parent: each forked case starts with them loaded."""
    import great_expectations  # noqa: F401
    import lightgbm  # noqa: F401
    import mlflow.pyfunc  # noqa: F401
    import sklearn.linear_model
    import sklearn.metrics
    import sklearn.model_selection  # noqa: F401

    import mqlscore.registry
    import mqlscore.tracking
    import mqlscore.validation.expectations
    import mqlscore.validation.leakage  # noqa: F401

    _command()  # the CLI, loaded through its entry point


def _prepare_child(work: Path) -> None:
    work.mkdir(parents=True)
    _into(work, "prepare")
    prepare(work)
    os._exit(0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=2400)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=2, help="cases run side by side")
    parser.add_argument("--timeout", type=float, default=120, help="seconds a run may take")
    parser.add_argument("--only", action="append", default=[], choices=list(ENTRIES))
    parser.add_argument(
        "--work", type=Path, help="prepared world and results (default: a temp folder per seed)"
    )
    parser.add_argument(
        "--fresh", action="store_true", help="forget earlier results (keep the prepared world)"
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep every case folder, not only failures"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/fuzz.md")
    parser.add_argument("--spread", action="store_true", help="entry points in turn, not drawn")
    parser.add_argument(
        "--case", type=int, action="append", default=[], help="run only these cases (kept)"
    )
    args = parser.parse_args()
    for name in ("MQLSCORE_DEBUG", "MQLSCORE_FAULT", "MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI"):
        os.environ.pop(name, None)  # the cases' own embedded stores; faults only where planned
    work = (args.work or Path(tempfile.gettempdir()) / f"mqlscore-fuzz-{args.seed}").resolve()
    preload()
    if not (work / "ready").exists():
        shutil.rmtree(work, ignore_errors=True)
        print(f"preparing the world, models and clean runs in {work} ...", flush=True)
        setup = run_child(lambda: _prepare_child(work), 1800)
        if setup.kind != "exit" or setup.code != 0:
            sys.exit(f"preparing failed ({setup}): see {work}/prepare.stderr")
    results_file = work / "results.jsonl"
    if args.fresh:
        results_file.unlink(missing_ok=True)
    done = load_results(results_file)
    todo = [i for i in range(args.cases) if i not in done]
    if args.case:
        todo, args.keep = list(args.case), True
        done = {i: r for i, r in done.items() if i not in todo}
    print(f"{len(done)} cases done before, {len(todo)} to run", flush=True)
    started, running = time.monotonic(), {}
    only = tuple(args.only)
    with results_file.open("a") as log:
        while todo or running:
            while todo and len(running) < args.jobs:
                i = todo.pop(0)
                pid = os.fork()
                if pid == 0:
                    code = 0
                    try:
                        verdict = run_case(work, i, args.seed, only, args.timeout, args.spread)
                        (work / "cases" / str(i) / "record.json").write_text(json.dumps(verdict))
                    except BaseException:
                        traceback.print_exc()
                        code = 1
                    os._exit(code)
                running[pid] = i
            pid, _ = os.wait()
            i = running.pop(pid)
            case = work / "cases" / str(i)
            try:
                record = json.loads((case / "record.json").read_text())
            except (OSError, ValueError):
                record = {"case": i, "entry": "?", "outcome": "harness", "why": "runner died"}
            log.write(json.dumps(record) + "\n")
            log.flush()
            done[i] = record
            keep = args.keep or record["outcome"] not in ("exit 0", "exit 1", "exit 2")
            if keep:
                what = f"{record['entry']} {record.get('mutation')}"
                print(f"case {i} {what}: {record['outcome']}: {record.get('why')}", flush=True)
            else:
                shutil.rmtree(case, ignore_errors=True)
            if len(done) % 50 == 0:
                print(f"{len(done)} done, {time.monotonic() - started:.0f} s", flush=True)
    wall = work / "wall.json"  # wall time of every session that ran cases of these results
    sessions = json.loads(wall.read_text()) if wall.exists() and not args.fresh else []
    sessions.append(round(time.monotonic() - started, 1))
    wall.write_text(json.dumps(sessions))
    results = [
        done[i] for i in sorted(done) if i < args.cases and (not only or done[i]["entry"] in only)
    ]
    seconds = sum(sessions)
    text = report(results, args.seed, seconds, args.jobs)
    if not only:
        args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
