"""Flat mode: one lead table in, leaks flagged and left out, an honest model out."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mqlscore.io import one_writer
from pipeline import score_flat, train_flat
from sources.flat_file import infer_kind
from tests.conftest import ROOT

pytestmark = pytest.mark.smoke
OLIST = ROOT.parent / "shared" / "data" / "olist-marketing-funnel"


def _flat_file(path: Path, n: int = 3000, seed: int = 0) -> Path:
    """Leads with a planted signal, a planted echo of the target and a post-sale status."""
    rng = np.random.default_rng(seed)
    signal = rng.normal(size=n)
    source = rng.choice(["Google", "Direct Traffic", "Reference", "Select"], n)
    y = (
        rng.random(n) < 1 / (1 + np.exp(-(-0.8 + 1.5 * signal + (source == "Reference"))))
    ).astype(int)
    frame = pd.DataFrame(
        {
            "Prospect ID": [f"p-{i:05d}" for i in range(n)],
            "Lead Number": np.arange(600000, 600000 + n),
            "Lead Source": source,
            "Time On Site": [f"{v:.1f}".replace(".", ",") for v in np.abs(signal * 300 + 600)],
            "Do Not Email": rng.choice(["Yes", "No"], n),
            "Echo": np.where(rng.random(n) < 0.03, 1 - y, y),
            "Lead Status": np.where(
                y == 1, "Closed - Converted", rng.choice(["Lost", "Ringing"], n)
            ),
            "Converted": np.where(y == 1, "Yes", "No"),
        }
    )
    frame.to_csv(path, index=False, sep=";")
    return path


@pytest.fixture()
def mlflow_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")


def _train(tmp_path: Path, name: str, **extra: object) -> dict:
    source = _flat_file(tmp_path / "leads.csv")
    out = tmp_path / name
    train_flat.main(input=source, target="Converted", id="Prospect ID", out=out, **extra)
    return {
        "metrics": json.loads((out / "metrics.json").read_text()),
        "leakage": json.loads((out / "leakage.json").read_text()),
        "out": out,
    }


def test_planted_leaks_are_flagged_and_the_signal_is_learned(mlflow_store, tmp_path: Path) -> None:
    run = _train(tmp_path, "out")
    assert set(run["leakage"]["flagged"]) == {"Echo", "Lead Status"}
    assert run["leakage"]["not_features"] == {"Lead Number": "id"}
    metrics = run["metrics"]
    assert 0.7 < metrics["roc_auc"] < 0.95 and metrics["ece"] < 0.06
    assert metrics["model_with_flagged_columns"]["roc_auc"] > 0.97  # what the leak was worth
    assert {"roc_auc", "pr_auc", "precision_at_10pct", "lift_at_10pct", "ece"} <= set(metrics)
    assert "| Lead Status | category |" in (run["out"] / "report.md").read_text()
    kept = _train(tmp_path, "kept", keep=["Lead Status"])
    assert kept["leakage"]["flagged"] == ["Echo"] and kept["metrics"]["roc_auc"] > 0.97
    again = _train(tmp_path, "again")  # the same seed: the same figures, byte for byte
    assert (again["out"] / "metrics.json").read_bytes() == (
        run["out"] / "metrics.json"
    ).read_bytes()


def test_score_flat_scores_unseen_categories_and_rejects_bad_rows(
    mlflow_store, tmp_path: Path
) -> None:
    run = _train(tmp_path, "out")
    new = (
        pd.read_csv(tmp_path / "leads.csv", sep=";", dtype=str).head(200).drop(columns="Converted")
    )
    new.loc[0, "Lead Source"] = "A Source Never Seen"
    new.loc[1, "Time On Site"] = "forever"
    new.loc[2, "Prospect ID"] = None
    new.to_csv(tmp_path / "new.csv", index=False)
    score_flat.main(
        model=str(run["out"] / "model"), input=tmp_path / "new.csv", out=tmp_path / "s"
    )
    manifest = json.loads((tmp_path / "s/manifest.json").read_text())
    assert (manifest["rows_in"], manifest["scored"], manifest["rejected"]) == (200, 198, 2)
    scores = pd.read_csv(tmp_path / "s/scores.csv")
    assert "p-00000" in set(scores["id"]) and scores["rank"].is_monotonic_increasing
    assert scores["reason_up_1"].str.contains(" = ").any()  # "Lead Source = Reference"
    rejects = pd.read_csv(tmp_path / "s/rejects.csv")
    assert rejects["reasons"].tolist() == ["Time On Site: forever is not a number", "id is blank"]
    before = (tmp_path / "s/manifest.json").read_bytes()
    with one_writer(tmp_path / "s"), pytest.raises(BlockingIOError, match=f"PID {os.getpid()}"):
        score_flat.main(
            model=str(run["out"] / "model"), input=tmp_path / "new.csv", out=tmp_path / "s"
        )
    assert (tmp_path / "s/manifest.json").read_bytes() == before  # one writer per folder
    with one_writer(run["out"]), pytest.raises(BlockingIOError, match="another run"):
        train_flat.main(input=tmp_path / "leads.csv", target="Converted", out=run["out"])


def test_type_inference_on_tricky_columns() -> None:
    n = 200
    kinds = {
        "ids that look numeric": pd.Series([str(900000 + i) for i in range(n)]),
        "decimal commas": pd.Series(["1,5", "2,25", "10,0", "0,75"] * 50),
        "yes no": pd.Series(["Yes", "No", None, "yes"] * 50),
        "dates": pd.Series([f"2024-01-0{i % 9 + 1}" for i in range(n)]),
        "comment": pd.Series(
            [f"called back on day {i}, asked for the price list again" for i in range(n)]
        ),
        "city": pd.Series(["Mumbai", "Pune", "Delhi", None] * 50),
    }
    inferred = {name: infer_kind(values) for name, values in kinds.items()}
    assert inferred == {
        "ids that look numeric": "id",
        "decimal commas": "number",
        "yes no": "yes_no",
        "dates": "date",
        "comment": "text",
        "city": "category",
    }


@pytest.mark.skipif(not OLIST.exists(), reason="needs ../shared/data")
def test_flattened_olist_flags_the_sales_filled_columns(mlflow_store, tmp_path: Path) -> None:
    mqls = pd.read_csv(OLIST / "olist_marketing_qualified_leads_dataset.csv")
    deals = pd.read_csv(OLIST / "olist_closed_deals_dataset.csv")
    flat_file = mqls.merge(deals[["mql_id", "business_segment", "lead_type"]], how="left")
    flat_file["Converted"] = (
        flat_file["mql_id"].isin(deals["mql_id"]).map({True: "Yes", False: "No"})
    )
    flat_file.to_csv(tmp_path / "olist.csv", index=False)
    train_flat.main(
        input=tmp_path / "olist.csv",
        target="Converted",
        id="mql_id",
        date="first_contact_date",
        out=tmp_path / "out",
    )
    leakage = json.loads((tmp_path / "out/leakage.json").read_text())
    assert set(leakage["flagged"]) == {"business_segment", "lead_type"}
    metrics = json.loads((tmp_path / "out/metrics.json").read_text())
    assert 0.6 < metrics["roc_auc"] < 0.8


def test_personal_columns_are_never_features_nor_written_anywhere(
    mlflow_store,
    tmp_path: Path,
) -> None:
    """Names, emails and phones in a flat file are 'personal': named in the leakage
    report, never features, and no written file (model, MLflow store, reports) holds one."""
    source = _flat_file(tmp_path / "leads.csv")
    frame = pd.read_csv(source, sep=";", dtype=str)
    n = len(frame)
    frame["First Name"] = [f"Zebulon{i}" for i in range(n)]
    frame["Last Name"] = [f"Quixwell{i % 40}" for i in range(n)]
    frame["Contact"] = [f"zq{i}@example.org" for i in range(n)]
    frame["Tel"] = [f"+44 20 7946 {i % 10000:04d}" for i in range(n)]
    frame.to_csv(source, sep=";", index=False)
    out = tmp_path / "model"
    train_flat.main(input=source, target="Converted", id="Prospect ID", out=out)
    leakage = json.loads((out / "leakage.json").read_text())
    personal = {"First Name", "Last Name", "Contact", "Tel"}
    assert {c for c, k in leakage["not_features"].items() if k == "personal"} == personal
    written = [p for p in tmp_path.rglob("*") if p.is_file() and p != source]
    assert written
    for path in written:
        data = path.read_bytes()
        assert b"Zebulon" not in data and b"Quixwell" not in data, path
        assert b"@example.org" not in data and b"+44 20 7946" not in data, path


def test_a_renamed_feature_column_or_too_few_rows_is_refused(
    mlflow_store,
    tmp_path: Path,
) -> None:
    from mqlscore.modeling.split import NotEnoughData
    from mqlscore.refusal import Refusal

    run = _train(tmp_path, "out")
    new = pd.read_csv(tmp_path / "leads.csv", sep=";", dtype=str).head(50)
    new.rename(columns={"Time On Site": "Time on site (s)"}).to_csv(tmp_path / "n.csv")
    with pytest.raises(Refusal, match="'Time On Site' \\(closest: 'Time on site \\(s\\)'\\)"):
        score_flat.main(
            model=str(run["out"] / "model"), input=tmp_path / "n.csv", out=tmp_path / "s"
        )
    assert not (tmp_path / "s/scores.csv").exists()
    new.head(1).to_csv(tmp_path / "one.csv", index=False, sep=";")
    with pytest.raises(NotEnoughData, match="1 labelled rows"):
        train_flat.main(
            input=tmp_path / "one.csv", target="Converted", id="Prospect ID", out=tmp_path / "one"
        )


def _project(folder: Path) -> Path:
    """A project folder: the project's params.yaml and nothing else."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "params.yaml").write_text((ROOT / "params.yaml").read_text())
    return folder


def test_train_and_score_flat_find_the_project_walking_up_and_use_its_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """From a folder inside the project: its params.yaml and its MLflow store (in the
    project folder), none made in the current folder; a models:/ URI read from there."""
    project = _project(tmp_path / "project")
    here = project / "sheets" / "2026"
    here.mkdir(parents=True)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(here)
    source = _flat_file(here / "leads.csv", n=2000)
    train_flat.main(input=source, target="Converted", id="Prospect ID", out=here / "out")
    assert (project / "mlruns.db").is_file() and not (here / "mlruns.db").exists()
    score_flat.main(model="models:/mqlscore-flat/1", input=source, out=here / "scores")
    assert json.loads((here / "scores/manifest.json").read_text())["scored"] == 2000
    assert not (here / "mlruns.db").exists() and not (here / "mlartifacts").exists()


def test_without_a_project_the_flat_commands_refuse_in_one_line_and_make_no_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import subprocess

    from mqlscore.refusal import Refusal

    if any((p / "params.yaml").exists() for p in (tmp_path, *tmp_path.parents)):
        pytest.skip("a params.yaml above the temp folder")
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    commands = (
        ["train-flat", "--input", "leads.csv", "--target", "Converted", "--out", "out"],
        ["score-flat", "--model", "models:/mqlscore-flat/1", "--input", "x.csv", "--out", "s"],
    )
    for args in commands:
        done = subprocess.run(
            ["mqlscore", *args], cwd=tmp_path, env=env, capture_output=True, text=True
        )
        assert done.returncode == 2, done.stderr
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and "no params.yaml in" in lines[0] and "--params" in lines[0]
    # --params names a project without a store: a models:/ URI is refused, none is made
    project = _project(tmp_path / "project")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(Refusal, match="has no mlruns.db"):
        score_flat.main(
            model="models:/mqlscore-flat/1",
            input=tmp_path / "x.csv",
            out=tmp_path / "s",
            params=project / "params.yaml",
        )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["project"]
    assert sorted(p.name for p in project.iterdir()) == ["params.yaml"]


def test_dvc_repro_trains_the_flat_source(tmp_path: Path) -> None:
    """source.flat set: `dvc repro train_flat` trains it (no synthetic-world stage runs),
    the model folder a DVC out, the figures DVC metrics; source.flat empty: no stage."""
    import yaml

    from tests.pipeline.test_dvc_repro import _run, dvc_project

    (tmp_path / "data/flat").mkdir(parents=True)
    _flat_file(tmp_path / "data/flat/leads.csv", n=2000)
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    entry = {"file": "data/flat/leads.csv", "target": "Converted", "id": "Prospect ID"}
    params["source"]["flat"] = [entry | {"date": ""}]
    work, env = dvc_project(tmp_path, params, targets=("train_flat",))
    metrics = json.loads((work / "reports/metrics/flat.json").read_text())
    assert 0.7 < metrics["roc_auc"] < 0.95 and "logistic_regression" in metrics
    assert (work / "models/flat/model/MLmodel").is_file()
    assert json.loads((work / "models/flat/leakage.json").read_text())["flagged"]
    assert not (work / "data/raw").exists()  # the synthetic world was not built
    lock = yaml.safe_load((work / "dvc.lock").read_text())["stages"]
    assert set(lock) == {"train_flat@0"}
    assert "models/flat" in {o["path"] for o in lock["train_flat@0"]["outs"]}
    shown = _run([sys.executable, "-m", "dvc", "metrics", "show", "--md"], work, env)
    assert "reports/metrics/flat.json" in shown and str(metrics["roc_auc"]) in shown
    params["source"]["flat"] = []
    (work / "params.yaml").write_text(yaml.safe_dump(params))
    stages = _run([sys.executable, "-m", "dvc", "stage", "list"], work, env)
    assert "train_flat" not in stages and "ingest" in stages


@pytest.mark.parametrize(
    ("flat", "error"),
    [
        ([{"file": "a.csv", "target": "Converted", "id": None, "date": ""}], "id"),  # None
        ([{"file": "a.csv", "target": "Converted", "id": ""}], "date"),  # DVC needs all four
        ([{"file": f"{n}.csv", "target": "y", "id": "", "date": ""} for n in "ab"], "at most 1"),
    ],
)
def test_a_bad_source_flat_entry_is_refused_with_the_key(
    tmp_path: Path, flat: list, error: str
) -> None:
    import yaml

    from mqlscore.config import ParamsError, SourceParams, load_section

    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["source"]["flat"] = flat
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    with pytest.raises(ParamsError, match=error):
        load_section(tmp_path / "params.yaml", "source", SourceParams)
