"""Nightly scoring end to end on the tiny world: rejects, atomic output, same bytes, Spark."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import typer
import yaml

from features import nightly
from mqlscore.config import ScoreParams
from mqlscore.serving import batch
from mqlscore.serving.handovers import HANDOVERS, handovers_as_of, qualify
from mqlscore.serving.outputs import ACCOUNT_COLUMNS, LEAD_COLUMNS, lead_output
from pipeline import score
from sources.exports import NIGHTLY_LEADS, write_nightly_export
from sources.world import World
from tests.conftest import ROOT, tiny_params_dict

OUTPUTS = ("lead_scores.csv", "lead_scores.parquet", "account_scores.csv", "rejects.csv")


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory, tiny_world: World) -> Path:
    """A nightly export with planted bad rows: file rows 1-4, and a duplicate id at the end."""
    folder = tmp_path_factory.mktemp("nightly")
    write_nightly_export(tiny_world.raw_tables(), folder, tiny_world.exported_at)
    leads = pd.read_csv(folder / NIGHTLY_LEADS, dtype=str, keep_default_na=False)
    bad = leads.head(4).copy()
    bad["lead_id"] = ["X-123", "L9000001", "L9000002", "L9000003"]  # the first: bad format
    bad.loc[1, ["email", "account_id"]] = ""  # nothing to match the lead by
    bad.loc[2, "created_at"] = "2031-01-01 00:00:00"
    bad.loc[3, "marketing_score"] = "12abc"
    duplicate = leads.tail(1)  # the same id again, read after the first copy
    pd.concat([bad, leads, duplicate], ignore_index=True).to_csv(
        folder / NIGHTLY_LEADS, index=False
    )
    return folder


def _score(export: Path, out: Path, models: Path, params: Path, **extra: object) -> dict:
    score.main(
        export=export,
        out=out,
        model=str(models / "lead"),
        params=params,
        **{"account_model": str(models / "account")} | extra,
    )
    return json.loads((out / "manifest.json").read_text())


@pytest.fixture(scope="module")
def scored(tmp_path_factory, export: Path, models: Path, tiny_params_file: Path):
    out = tmp_path_factory.mktemp("scores")
    return out, _score(export, out, models, tiny_params_file)


def test_planted_bad_rows_and_only_those_go_to_rejects(scored, export: Path) -> None:
    out, manifest = scored
    rejects = pd.read_csv(out / "rejects.csv", dtype=str, keep_default_na=False)
    assert rejects["source_row"].astype(int).tolist() == [1, 2, 3, 4, manifest["rows_in"]]
    reasons = rejects["reasons"].tolist()
    assert "lead_id: 'X-123' does not match" in reasons[0]
    assert reasons[1] == "email: '' is blank (and so is account_id)"
    assert reasons[2].startswith("created_at: '2031-01-01 00:00:00' is on or after the run date")
    assert reasons[3] == "marketing_score: '12abc' is not a number"
    last = manifest["rows_in"]
    assert f"repeats row {last - 1}" in reasons[4]
    leads = pd.read_csv(export / NIGHTLY_LEADS, dtype=str)
    assert manifest["rows_in"] == len(leads)
    assert manifest["rows_in"] == manifest["scored"] + manifest["rejected"]
    assert manifest["rejected"] == 5


def test_outputs_hold_the_documented_columns_and_a_fair_ranking(scored) -> None:
    out, manifest = scored
    leads = pd.read_parquet(out / "lead_scores.parquet")
    assert list(leads.columns) == LEAD_COLUMNS
    assert len(leads) == manifest["scored"] and leads["lead_id"].is_unique
    assert leads["probability"].between(0, 1).all()
    assert sorted(leads["rank"]) == list(range(1, len(leads) + 1))
    qualified = leads[leads["qualified"]]
    assert not qualified["on_open_opportunity"].any()
    assert (
        qualified["probability"].min()
        >= leads.loc[~leads["qualified"] & ~leads["on_open_opportunity"], "probability"].max()
    )
    top = leads.sort_values("rank").iloc[0]
    assert top["reason_up_1"] and not top["reason_up_1"].startswith("reason")
    accounts = pd.read_csv(out / "account_scores.csv")
    assert list(accounts.columns) == ACCOUNT_COLUMNS and accounts["account_id"].is_unique
    handed = accounts[accounts["qualified"]]
    capacity = yaml.safe_load((ROOT / "params.yaml").read_text())["score"][
        "account_capacity_per_run"
    ]
    assert 0 < len(handed) <= capacity and not handed["on_open_opportunity"].any()
    assert (
        handed["rank"].max()
        < accounts.loc[~accounts["qualified"] & ~accounts["on_open_opportunity"], "rank"].min()
    )
    assert manifest["drift"]["psi"] and all(v >= 0 for v in manifest["drift"]["psi"].values())
    text = "".join((out / name).read_text() for name in ("manifest.json",))
    assert "@" not in text  # no emails in the run record


def test_same_inputs_give_the_same_bytes(
    scored, export, models, tiny_params_file, tmp_path
) -> None:
    first, _ = scored
    _score(export, tmp_path, models, tiny_params_file)
    for name in OUTPUTS:
        assert (first / name).read_bytes() == (tmp_path / name).read_bytes(), name


def test_an_export_and_an_out_folder_with_a_quote_in_their_names_score_alike(
    scored, export, models, tiny_params_file, tmp_path
) -> None:
    """Paths reach DuckDB's SQL (the staged tables, the features written under `--out`)
    as quoted literals: a folder named `o'brien's` scores like any other."""
    quoted = tmp_path / "o'brien's export"
    shutil.copytree(export, quoted)
    out = tmp_path / "o'brien's scores"
    _score(quoted, out, models, tiny_params_file)
    for name in OUTPUTS:
        assert (scored[0] / name).read_bytes() == (out / name).read_bytes(), name


def test_a_crash_while_writing_leaves_the_previous_output(
    scored,
    export,
    models,
    tiny_params_file,
    tmp_path,
    monkeypatch,
) -> None:
    first, _ = scored
    for name in (*OUTPUTS, "manifest.json"):
        shutil.copy(first / name, tmp_path / name)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    real = lead_output
    calls = []

    def crash_on_second_chunk(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt("killed")
        return real(*args, **kwargs)

    monkeypatch.setattr(batch, "lead_output", crash_on_second_chunk)
    params = yaml.safe_load(tiny_params_file.read_text())
    params["score"]["chunk_rows"] = 500
    small = tmp_path.parent / "small_chunks.yaml"
    small.write_text(yaml.safe_dump(params))
    with pytest.raises(KeyboardInterrupt):
        _score(export, tmp_path, models, small)
    after = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.name != ".mqlscore.lock"}
    assert after == before  # no half file, no temp file left behind


def test_a_second_run_into_the_same_folder_is_refused_naming_the_first(
    export: Path, models: Path, tiny_params_file: Path, tmp_path: Path
) -> None:
    from mqlscore.io import one_writer

    with one_writer(tmp_path), pytest.raises(BlockingIOError, match=f"PID {os.getpid()}"):
        _score(export, tmp_path, models, tiny_params_file)
    assert not (tmp_path / "manifest.json").exists()


def test_sigkill_while_writing_leaves_the_previous_output(
    scored,
    export,
    models,
    tiny_params_file,
    tmp_path,
) -> None:
    first, _ = scored
    out = tmp_path / "out"
    out.mkdir()
    for name in (*OUTPUTS, "manifest.json"):
        shutil.copy(first / name, out / name)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    params = yaml.safe_load(tiny_params_file.read_text())
    params["score"]["chunk_rows"] = 50  # many small chunks: a long write to interrupt
    small = tmp_path / "params.yaml"
    small.write_text(yaml.safe_dump(params))
    args = [sys.executable, "-m", "pipeline", "-q", "score", "--export", str(export)]
    args += ["--out", str(out), "--params", str(small), "--model", str(models / "lead")]
    args += ["--account-model", str(models / "account")]
    job = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not list(out.glob(".score.*/out/.lead_scores.*.tmp")) and job.poll() is None:
        assert time.monotonic() < deadline, "scoring never started writing"
        time.sleep(0.005)
    job.send_signal(signal.SIGKILL)
    job.wait()
    assert job.returncode == -signal.SIGKILL  # killed mid-write, not finished
    after = {p.name: p.read_bytes() for p in out.iterdir() if not p.name.startswith(".")}
    assert after == before
    assert list(out.glob(".score.*"))  # the killed run's staging folder is still there...
    _score(export, out, models, tiny_params_file)
    assert not list(out.glob(".score.*"))  # ...until the next run sweeps it


def test_a_missing_column_stops_the_run_naming_file_and_column(
    export,
    models,
    tiny_params_file,
    tmp_path,
) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(export, broken)
    leads = pd.read_csv(broken / NIGHTLY_LEADS).drop(columns=["created_at"])
    leads.to_csv(broken / NIGHTLY_LEADS, index=False)
    with pytest.raises(typer.Exit) as stop:
        _score(broken, tmp_path / "out", models, tiny_params_file)
    assert stop.value.exit_code == 2
    assert not (tmp_path / "out" / "lead_scores.csv").exists()


def test_a_column_map_renames_export_columns(
    export,
    models,
    tiny_params_file,
    tmp_path,
    scored,
) -> None:
    renamed = tmp_path / "renamed"
    shutil.copytree(export, renamed)
    leads = pd.read_csv(renamed / NIGHTLY_LEADS, dtype=str, keep_default_na=False)
    leads.rename(columns={"lead_id": "Lead ID", "email": "Email Address"}).to_csv(
        renamed / NIGHTLY_LEADS, index=False
    )
    mapping = tmp_path / "map.yaml"
    mapping.write_text(yaml.safe_dump({"leads": {"Lead ID": "lead_id", "Email Address": "email"}}))
    _score(renamed, tmp_path / "out", models, tiny_params_file, column_map=mapping)
    assert (tmp_path / "out" / "lead_scores.csv").read_bytes() == (
        scored[0] / "lead_scores.csv"
    ).read_bytes()


def test_sales_activities_without_account_id_score_as_before(
    export,
    models,
    tiny_params_file,
    tmp_path,
    scored,
) -> None:
    older = tmp_path / "older"  # an export from before touches named their account
    shutil.copytree(export, older)
    sales = pd.read_parquet(older / "sales_activities.parquet")
    sales.drop(columns=["account_id"]).to_parquet(older / "sales_activities.parquet")
    _score(older, tmp_path / "out", models, tiny_params_file)
    for name in ("lead_scores.csv", "account_scores.csv"):
        assert (tmp_path / "out" / name).read_bytes() == (scored[0] / name).read_bytes()


def test_a_lead_without_features_stops_before_anything_is_written(tmp_path: Path) -> None:
    features = tmp_path / "features.parquet"
    pd.DataFrame({"lead_id": ["L1", "L2", "L3"]}).to_parquet(features)
    nightly.check_every_lead_has_features(features, 3)  # one row per good lead: fine
    with pytest.raises(RuntimeError, match="4 leads passed the checks but 3 got features"):
        nightly.check_every_lead_has_features(features, 4)


def test_threshold_qualification_takes_every_eligible_lead_above_it() -> None:
    from tests.conftest import project_params

    config = project_params("score", ScoreParams, qualify="threshold", threshold=0.3)
    p = np.array([0.9, 0.5, 0.3, 0.29, 0.8])
    ids = np.array(["a", "b", "c", "d", "e"])
    rank, qualified = qualify(p, ids, np.array([0, 0, 0, 0, 1]), config)
    assert rank.tolist() == [1, 3, 4, 5, 2]
    assert qualified.tolist() == [True, True, True, False, False]  # "e" is on an open deal
    top = project_params("score", ScoreParams, qualify="top_n", capacity_per_run=2)
    assert qualify(p, ids, np.array([0, 0, 0, 0, 1]), top)[1].tolist() == [
        True,
        True,
        False,
        False,
        False,
    ]


def _shaped_nights(
    tiny_world: World, models: Path, params: Path, folder: Path, system: str
) -> tuple[Path, Path]:
    """A night of the tiny world scored from its canonical export and from `system`'s
    demo export (its own shape, read through its mapping): the two output folders."""
    from sources.demo import write_demo_export

    tables = tiny_world.raw_tables()
    if system == "hubspot":  # HubSpot's CRM exports hold no touches: score without them too
        tables = tables | {
            name: tables[name].head(0) for name in ("engagement", "sales_activities")
        }
    canonical, shaped = folder / "canonical", folder / system
    write_nightly_export(tables, canonical, tiny_world.exported_at)
    write_demo_export(tables, system, shaped)
    run = {"run_date": str(tiny_world.exported_at.date()), "account_model": "none"}
    run["allow_thin_context"] = system == "hubspot"  # no touches on either side, knowingly
    _score(canonical, folder / "a", models, params, **run)
    _score(shaped, folder / "b", models, params, mapping=[ROOT / f"mappings/{system}.yaml"], **run)
    return folder / "a", folder / "b"


@pytest.fixture(scope="module")
def salesforce_night(tmp_path_factory, tiny_world: World, models: Path, tiny_params_file: Path):
    """The canonical and the Salesforce-shaped night's output folders."""
    folder = tmp_path_factory.mktemp("salesforce_night")
    return _shaped_nights(tiny_world, models, tiny_params_file, folder, "salesforce")


@pytest.mark.parametrize("system", ["salesforce", "hubspot"])
def test_an_export_in_a_source_systems_shape_scores_like_the_canonical_one(
    request, tiny_world: World, models: Path, tiny_params_file: Path, tmp_path: Path, system: str
) -> None:
    if system == "salesforce":
        first, second = request.getfixturevalue("salesforce_night")
    else:
        first, second = _shaped_nights(tiny_world, models, tiny_params_file, tmp_path, system)
    a = pd.read_parquet(first / "lead_scores.parquet").sort_values("lead_id")
    b = pd.read_parquet(second / "lead_scores.parquet").sort_values("lead_id")
    pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True))


def test_a_typo_in_a_mappings_value_map_is_refused_naming_the_value(
    tiny_world: World, models: Path, tiny_params_file: Path, tmp_path: Path
) -> None:
    from sources.demo import write_demo_export

    write_demo_export(tiny_world.raw_tables(), "salesforce", tmp_path / "export")
    text = (ROOT / "mappings/salesforce.yaml").read_text()
    typo = text.replace(": pricing_page_visit", ": pricing_page_vist")
    assert typo != text
    (tmp_path / "salesforce.yaml").write_text(typo)
    args = ["--export", str(tmp_path / "export"), "--out", str(tmp_path / "out")]
    args += ["--mapping", str(tmp_path / "salesforce.yaml"), "--model", str(models / "lead")]
    args += ["--account-model", "none", "--params", str(tiny_params_file)]
    args += ["--run-date", str(tiny_world.exported_at.date())]
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}"}
    done = subprocess.run(
        [sys.executable, "-m", "pipeline", "-q", "score", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
    )
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1, done.stderr
    assert (  # the mapping is checked before any export file is read
        "salesforce.yaml: tables.engagement.values.activity_type: 'pricing_page_vist' is not "
        "one of ours (did you mean 'pricing_page_visit'?)"
    ) in lines[0]
    assert not (tmp_path / "out" / "manifest.json").exists()


def test_an_unknown_type_in_a_canonical_export_is_refused(
    export: Path, models: Path, tiny_params_file: Path, tmp_path: Path, caplog
) -> None:
    folder = tmp_path / "unknown-type"
    shutil.copytree(export, folder)
    sales = pd.read_parquet(folder / "sales_activities.parquet")
    sales.loc[:2, "type"] = "Demo"
    sales.to_parquet(folder / "sales_activities.parquet", index=False)
    with pytest.raises(typer.Exit) as stop:
        _score(folder, tmp_path / "out", models, tiny_params_file)
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert stop.value.exit_code == 2 and len(errors) == 1
    assert "sales_activities.type: values not known: 'Demo' (3 rows)" in errors[0]
    assert not (tmp_path / "out" / "manifest.json").exists()


def test_a_source_trained_without_emails_scores_leads_without_email_or_account(
    tiny_world: World, models: Path, tiny_params_file: Path, tmp_path: Path
) -> None:
    export = tmp_path / "no-emails"
    write_nightly_export(tiny_world.raw_tables(), export, tiny_world.exported_at)
    leads = pd.read_csv(export / NIGHTLY_LEADS, dtype=str, keep_default_na=False)
    leads.assign(email="").to_csv(export / NIGHTLY_LEADS, index=False)
    blank = leads.loc[leads["account_id"] == "", "lead_id"]
    assert 0 < len(blank) < len(leads) / 2  # some leads have neither email nor account
    params = tiny_params_dict()
    params["validate"]["email_present_min_share"] = 0  # as a mapping's params block sets it
    no_emails = tmp_path / "params.yaml"
    no_emails.write_text(yaml.safe_dump(params))
    run = {"run_date": str(tiny_world.exported_at.date()), "account_model": "none"}
    manifest = _score(export, tmp_path / "a", models, no_emails, **run)
    assert manifest["scored"] == manifest["rows_in"] == len(leads)
    scores = pd.read_parquet(tmp_path / "a" / "lead_scores.parquet")
    assert set(blank) <= set(scores["lead_id"])  # matched by company name or not at all
    manifest = _score(export, tmp_path / "b", models, tiny_params_file, **run)
    rejects = pd.read_csv(tmp_path / "b" / "rejects.csv", dtype=str, keep_default_na=False)
    assert manifest["rejected"] == len(rejects) == len(blank)
    assert (rejects["reasons"] == "email: '' is blank (and so is account_id)").all()


def _variant(export: Path, tmp_path: Path, write) -> Path:
    """A copy of the export with its leads file rewritten by `write(leads_frame, path)`."""
    folder = tmp_path / "variant"
    shutil.copytree(export, folder)
    leads = pd.read_csv(folder / NIGHTLY_LEADS, dtype=str, keep_default_na=False)
    write(leads, folder / NIGHTLY_LEADS)
    return folder


@pytest.mark.parametrize(
    "write",
    [
        lambda f, p: f.to_csv(p, index=False, sep=";"),  # European Excel
        lambda f, p: p.write_bytes(f.to_csv(index=False).encode("latin-1", "replace")),
        lambda f, p: f.assign(  # offsets and a trailing Z, as Salesforce and APIs write them
            created_at=pd.to_datetime(f["created_at"]).dt.strftime("%Y-%m-%dT%H:%M:%S.000+0000")
        ).to_csv(p, index=False),
        lambda f, p: f.assign(  # placeholders (the planted bad score in row 4 stays)
            marketing_score=f["marketing_score"].where(f.index < 4, "N/A")
        ).to_csv(p, index=False),
    ],
    ids=["semicolon", "latin-1", "offsets", "placeholders"],
)
def test_export_dialects_score_every_row(
    write, export: Path, models: Path, tiny_params_file: Path, tmp_path: Path
) -> None:
    folder = _variant(export, tmp_path, write)
    manifest = _score(folder, tmp_path / "out", models, tiny_params_file)
    assert manifest["rows_in"] == manifest["scored"] + manifest["rejected"]
    assert manifest["rejected"] == 5  # the planted bad rows, and only those


@pytest.mark.parametrize(
    ("write", "says"),
    [
        (lambda f, p: p.write_bytes(b""), "the file is empty"),
        (lambda f, p: p.write_bytes(bytes(range(256)) * 8), "not a text file"),
        (
            lambda f, p: f.rename(columns={"company": "title"}).to_csv(p, index=False),
            "repeated in the header: title",
        ),
    ],
    ids=["empty", "binary", "repeated-column"],
)
def test_broken_lead_files_stop_with_a_clear_message(
    write, says: str, export: Path, models: Path, tiny_params_file: Path, tmp_path: Path, caplog
) -> None:
    folder = _variant(export, tmp_path, write)
    with pytest.raises(typer.Exit) as stop:
        _score(folder, tmp_path / "out", models, tiny_params_file)
    assert stop.value.exit_code == 2 and says in caplog.text
    assert not (tmp_path / "out" / "manifest.json").exists()


def test_refusals_end_in_one_line_not_a_traceback(export: Path, tmp_path: Path) -> None:
    folder = tmp_path / "no-export-json"
    shutil.copytree(export, folder)
    (folder / "export.json").unlink()
    runs = [
        ["score", "--export", str(folder), "--out", str(tmp_path / "out")],
        ["models", "promote", "--version", "99", "--name", "no-such-model"],
    ]
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}"}
    for args in runs:
        done = subprocess.run(
            [sys.executable, "-m", "pipeline", *args],
            capture_output=True,
            text=True,
            cwd=ROOT,
            env=env,
        )
        assert done.returncode == 2, done.stderr
        assert "Traceback" not in done.stderr
    assert (
        "pass --run-date"
        in subprocess.run(
            [sys.executable, "-m", "pipeline", *runs[0]], capture_output=True, text=True, cwd=ROOT
        ).stderr
    )


def test_an_export_whose_engagement_came_through_empty_is_refused(
    export: Path, models: Path, tiny_params_file: Path, tmp_path: Path, caplog
) -> None:
    folder = tmp_path / "thin"
    shutil.copytree(export, folder)
    events = pd.read_parquet(folder / "engagement.parquet")
    events.head(len(events) // 20).to_parquet(folder / "engagement.parquet", index=False)
    with pytest.raises(typer.Exit) as stop:
        _score(folder, tmp_path / "out", models, tiny_params_file)
    assert stop.value.exit_code == 2 and "events_90d" in caplog.text
    assert not (tmp_path / "out" / "manifest.json").exists()
    manifest = _score(folder, tmp_path / "out", models, tiny_params_file, allow_thin_context=True)
    assert manifest["context"]["thin"] == ["events_90d"]
    assert manifest["context"]["per_lead"]["events_90d"]["ratio"] < 0.25


def test_drift_warns_on_a_planted_shift_and_not_on_a_healthy_export(
    scored, export: Path, models: Path, tiny_params_file: Path, tmp_path: Path
) -> None:
    _, healthy = scored
    assert "lead_age_days" in healthy["drift"]["not_compared"]  # ages drift by construction
    assert "lead_age_days" not in healthy["drift"]["psi"]
    folder = tmp_path / "halved"
    shutil.copytree(export, folder)
    events = pd.read_parquet(folder / "engagement.parquet")
    events.iloc[::2].to_parquet(folder / "engagement.parquet", index=False)
    shifted = _score(folder, tmp_path / "out", models, tiny_params_file)
    assert not shifted["context"]["thin"]  # half the touches: drift, not a cut table
    psi, before = shifted["drift"]["psi"]["events_90d"], healthy["drift"]["psi"]["events_90d"]
    assert "events_90d" in shifted["drift"]["drifting"] and psi > 0.25 > before


def test_day_first_dates_are_read_day_first_for_the_whole_file(
    scored, export: Path, models: Path, tiny_params_file: Path, tmp_path: Path
) -> None:
    def day_first(frame: pd.DataFrame, path: Path) -> None:
        stamps = pd.to_datetime(frame["created_at"], errors="coerce")
        frame["created_at"] = stamps.dt.strftime("%d/%m/%Y %H:%M:%S").fillna(frame["created_at"])
        frame.to_csv(path, index=False)

    folder = _variant(export, tmp_path, day_first)
    _score(folder, tmp_path / "out", models, tiny_params_file)
    first, _ = scored
    pd.testing.assert_frame_equal(  # the same dates, spelled day first: the same scores
        pd.read_parquet(tmp_path / "out" / "lead_scores.parquet"),
        pd.read_parquet(first / "lead_scores.parquet"),
    )

    def mixed(frame: pd.DataFrame, path: Path) -> None:
        frame.loc[5, "created_at"] = "13/10/2024 10:00:00"
        frame.loc[6, "created_at"] = "10/13/2024 10:00:00"
        frame.to_csv(path, index=False)

    with pytest.raises(typer.Exit):
        _score(_variant(export, tmp_path / "m", mixed), tmp_path / "o2", models, tiny_params_file)


def test_ids_that_match_only_ignoring_case_are_named_not_lost(
    export: Path, models: Path, tiny_params_file: Path, tmp_path: Path
) -> None:
    def lower_account(frame: pd.DataFrame, path: Path) -> None:
        row = frame.index[frame["account_id"] != ""][10]
        frame.loc[row, "account_id"] = frame.loc[row, "account_id"].lower()
        frame.to_csv(path, index=False)

    folder = _variant(export, tmp_path, lower_account)
    events = pd.read_parquet(folder / "engagement.parquet")
    events.loc[:9, "lead_id"] = events.loc[:9, "lead_id"].str.lower()
    events.to_parquet(folder / "engagement.parquet", index=False)
    manifest = _score(folder, tmp_path / "out", models, tiny_params_file)
    assert manifest["id_case_mismatches"] == {"engagement": 10}
    rejects = pd.read_csv(tmp_path / "out" / "rejects.csv", dtype=str, keep_default_na=False)
    assert rejects["reasons"].str.contains("ignoring case and spaces").sum() == 1


def test_a_lead_handed_over_recently_is_scored_but_not_handed_over_again(
    export: Path, models: Path, tiny_params_file: Path, tmp_path: Path
) -> None:
    from mqlscore.io import file_md5, read_export_time

    night = read_export_time(export)
    first = _score(export, tmp_path, models, tiny_params_file)
    history = pd.read_parquet(tmp_path / HANDOVERS)
    handed = set(pd.read_parquet(tmp_path / "lead_scores.parquet").query("qualified")["lead_id"])
    assert set(history["lead_id"]) == handed and len(handed) == first["qualified"] > 0
    assert HANDOVERS in first["outputs"]  # with its MD5, the manifest written last
    assert first["outputs"][HANDOVERS] == file_md5(tmp_path / HANDOVERS)
    later = str((night + pd.Timedelta(days=1)).date())
    second = _score(export, tmp_path, models, tiny_params_file, run_date=later)
    leads = pd.read_parquet(tmp_path / "lead_scores.parquet").set_index("lead_id")
    again = leads.loc[sorted(handed)]
    assert not again["qualified"].any() and again["rank"].min() == 1  # ranked, held back
    assert (again["handed_over_at"] == pd.Timestamp(night).tz_localize(None)).all()
    assert second["qualified"] == first["qualified"]  # the next leads take the slots
    assert second["held_back"] >= len(handed)
    new = leads[leads["qualified"]]
    assert (new["handed_over_at"] == pd.Timestamp(later)).all()
    history = pd.read_parquet(tmp_path / HANDOVERS)
    assert len(history) == 2 * first["qualified"] and history["lead_id"].is_unique
    before = (tmp_path / "lead_scores.parquet").read_bytes()
    _score(export, tmp_path, models, tiny_params_file, run_date=later)  # the night re-run
    assert (tmp_path / "lead_scores.parquet").read_bytes() == before
    assert len(pd.read_parquet(tmp_path / HANDOVERS)) == len(history)


def test_the_hand_over_window_holds_a_lead_back_for_rehand_after_days() -> None:
    day = pd.Timestamp("2025-06-01")
    history = pd.DataFrame(
        {
            "lead_id": ["a", "b", "c", "a"],
            "handed_over_at": [day - pd.Timedelta(days=d) for d in (90, 91, -5, 200)],
            "run": "",
        }
    )
    handovers = handovers_as_of(history, day, days=90)
    ids = np.array(["a", "b", "c", "d"])
    assert handovers.held(ids).tolist() == [True, False, False, False]  # c: a later run
    when = handovers.when(ids, np.array([False, True, False, False]))
    assert pd.Timestamp(when[0]) == day - pd.Timedelta(days=90) and pd.Timestamp(when[1]) == day
    assert pd.isna(when[2]) and pd.isna(when[3])


# what only a lead with a matched account may hear ("from this account", "with this
# account", "this account's", "matched to the account by ...", "matched to an account")
ACCOUNT_WORDING = r"\b(?:this|the|an) account\b"


@pytest.mark.parametrize("night", ["default", "salesforce"])
def test_every_reason_of_a_night_follows_the_rules_a_rep_trusts(request, night: str) -> None:
    """Over a whole night's output (the default demo's, and the Salesforce demo export's
    through its mapping): no reason for is an absence, no reason either way is 'unknown'
    or 'other', one signal never takes two slots of a row, counts read as whole numbers
    or one decimal, account wording only for a lead with an account, and top_percent follows
    the rank."""
    fixture, part = {"default": ("scored", 0), "salesforce": ("salesforce_night", 1)}[night]
    out = request.getfixturevalue(fixture)[part]
    leads = pd.read_parquet(out / "lead_scores.parquet")
    up = leads[[f"reason_up_{k}" for k in (1, 2, 3)]]
    down = leads[[f"reason_down_{k}" for k in (1, 2, 3)]]
    said = up.stack()
    said = said[said != ""]
    assert len(said) > len(leads)  # most leads get reasons
    assert not said.str.match(r"^(no|not) ").any() and not said.str.contains("unknown").any()
    assert not down.stack().str.contains("unknown").any()
    vague = r"(?:works in|title:) (?:other|unknown|none)$"  # says nothing a rep can check
    assert not pd.concat([said, down.stack()]).str.contains(vague).any()
    assert not said.str.contains(r"= nan|\d\.\d{2,}").any()
    for frame in (up, down):
        # the window of a signal is said once per row: "... in 30 days, 20 in 90 days"
        stems = frame.apply(lambda c: c.str.replace(r"\d[\d,.]*", "#", regex=True))
        stems = stems.apply(lambda c: c.str.replace(r" in # days.*$", "", regex=True))
        for _, row in stems.iterrows():
            shown = [s for s in row if s]
            assert len(shown) == len(set(shown)), shown
    ids = leads["account_id"]
    has_account = ids.notna() & ids.astype(str).str.strip().ne("")
    about_account = pd.concat([up, down], axis=1).apply(
        lambda c: c.str.contains(ACCOUNT_WORDING, regex=True)
    )
    assert 0 < (~has_account).sum() < len(leads)  # both kinds of lead tonight
    assert about_account[has_account].any(axis=1).mean() > 0.5  # they hear of theirs
    lone = leads.loc[~has_account & about_account.any(axis=1)]
    assert lone.empty, lone.filter(like="reason_").head(3).to_dict("records")
    ordered = leads.sort_values("rank")
    assert ordered["top_percent"].is_monotonic_increasing
    assert ordered["top_percent"].iloc[0] == 1 and ordered["top_percent"].iloc[-1] == 100


def test_accounts_get_their_own_reasons(scored) -> None:
    out, _ = scored
    accounts = pd.read_parquet(out / "account_scores.parquet")
    assert list(accounts.columns) == ACCOUNT_COLUMNS
    said = accounts["reason_up_1"]
    assert (said != "").mean() > 0.5 and not said.str.match(r"^(no|not) ").any()
