"""Smoke run: the real DVC stages on a tiny world in a temp folder with its own MLflow store."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import mlflow
import pandas as pd
import pytest
import yaml

from tests.browser import chromium_page
from tests.conftest import ROOT

pytestmark = pytest.mark.smoke


def _run(args: list[str], cwd: Path, env: dict[str, str]) -> str:
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True)
    assert done.returncode == 0, f"{' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


def _copy_project(work: Path, params: dict) -> dict[str, str]:
    """A copy of the project in `work` with these params, `dvc init`-ed; its environment
    (its own MLflow store)."""
    for folder in ("mqlscore", "pipeline", "features", "sources", "mappings", "data/exports"):
        shutil.copytree(ROOT / folder, work / folder, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "dvc.yaml", work / "dvc.yaml")
    (work / "params.yaml").write_text(yaml.safe_dump(params))
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "MLFLOW_TRACKING_URI": f"sqlite:///{work / 'mlflow.db'}",
        "CI": "true",
    }
    dvc = [sys.executable, "-m", "dvc"]
    _run([*dvc, "init", "--no-scm", "-q"], work, env)
    _run([*dvc, "config", "core.analytics", "false"], work, env)
    return env


def dvc_project(
    work: Path, params: dict, targets: tuple[str, ...] = ()
) -> tuple[Path, dict[str, str]]:
    """A copy of the project in `work` with these params and its own MLflow store, after
    a real `dvc repro` (of `targets` only, when given)."""
    env = _copy_project(work, params)
    _run([sys.executable, "-m", "dvc", "repro", *targets], work, env)
    return work, env


def staged_project(work: Path, params: dict) -> tuple[Path, dict[str, str]]:
    """The same copy after every stage's command, in DVC's order, run in this process
    (Kedro's in-memory runner, for DVC): the stages' own code and outputs without a
    Python start per stage. No dvc.lock: `project` is the real repro."""
    import shlex

    import networkx as nx
    import typer
    from dvc.repo import Repo

    from pipeline.cli import app

    env = _copy_project(work, params)
    with Repo(str(work)) as repo:  # each stage after the ones it depends on
        commands = [stage.cmd for stage in reversed(list(nx.topological_sort(repo.index.graph)))]
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(work)
        for name in ("MLFLOW_TRACKING_URI", "CI"):
            patch.setenv(name, env[name])
        for command in commands:
            try:
                app(shlex.split(command)[1:], prog_name="mqlscore", standalone_mode=False)
            except typer.Exit as stop:
                assert stop.exit_code == 0, command
    return work, env


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """The README's quickstart run as written on a fresh git clone of the tiny world
    (`dvc repro`, tonight's scores, a flat file): the suite's one real `dvc repro`."""
    from tests.pipeline.test_readme import quickstart

    return quickstart(tmp_path_factory.mktemp("quickstart"))


def test_the_quickstart_commands_run_as_written(project: tuple[Path, dict[str, str]]) -> None:
    from tests.pipeline.test_readme import assert_scored

    work, _ = project
    assert (work / "reports/report.html").stat().st_size > 0
    assert (work / "reports/metrics/lead.json").exists()
    assert_scored(work / "scores")
    assert json.loads((work / "flat/metrics.json").read_text())["roc_auc"] > 0.5
    flat = json.loads((work / "flat-scores/manifest.json").read_text())
    assert flat["rows_in"] == 400 and len(pd.read_csv(work / "flat-scores/scores.csv")) > 0


@pytest.mark.parametrize(
    ("kind", "rankers", "volume"),
    [
        (
            "lead",
            {
                "model",
                "logistic_regression",
                "lead_source_rate",
                "mql_flag",
                "mql_points",
                "oracle",
            },
            "mql_volume",
        ),
        (
            "account",
            {"model", "logistic_regression", "target_accounts", "marketing_points_sum", "oracle"},
            "target_volume",
        ),
    ],
)
def test_repro_writes_the_side_by_side_metrics(
    project: tuple[Path, dict[str, str]], kind: str, rankers: set[str], volume: str
) -> None:
    work, _ = project
    table = json.loads((work / f"reports/evaluation/{kind}.json").read_text())
    trained = json.loads((work / f"reports/train_{kind}.json").read_text())
    assert table.pop("model_kind") == trained["model_kind"]  # the better on validation
    comparison = table.pop("comparison_kind")
    assert {trained["model_kind"], comparison} == {"lightgbm", "logistic_regression"}
    rankers = rankers - {"logistic_regression"} | {comparison}  # the other kind's row
    assert trained["served"].startswith(f"{trained['model_kind']} refit on ")
    assert trained["evaluated"].endswith(f"fit on rows before {trained['test_start']}")
    calibration = table.pop("calibration")
    candidate = table.pop("candidate")
    assert (
        candidate["version"]
        == json.loads((work / f"models/{kind}_run.json").read_text())["version"]
    )
    gate = table.pop("gate")
    assert gate["passed"] and gate["failed"] == [] and gate["skipped"] == []
    assert isinstance(gate["noise"], list)  # the bars whose paired interval holds zero
    promotion = json.loads((work / "reports/promotion.json").read_text())
    decision = promotion[kind]
    assert decision["promoted"] and decision["version"] == candidate["version"]
    assert decision["duel"]["champion_version"] is None  # the first model wins the title
    never_worked = table.pop("never_worked", None)
    assert (never_worked is not None) == (kind == "lead")  # follow-up bias check: leads only
    assert set(table) == {"ranking", volume, "sales_capacity"}
    assert all(set(rows) == rankers for rows in table.values())
    assert 0 <= calibration["ece"] < 0.05 and set(calibration["grades"]) == {"A", "B", "C", "D"}
    for name in (volume, "sales_capacity"):
        counts = {row["selected"] for row in table[name].values()}
        assert len(counts) == 1 and counts.pop() > 0  # every ranker hands sales the same volume
    assert table["ranking"]["model"]["roc_auc"] > 0.7
    assert table["ranking"]["oracle"]["roc_auc"] > 0.8
    assert (
        "| mqlscore " + kind + " model |" in (work / f"reports/evaluation/{kind}.md").read_text()
    )
    shown = json.loads((work / f"reports/metrics/{kind}.json").read_text())  # DVC metrics
    assert shown[f"won_deals_at_{volume}"] == table[volume]["model"]["won_deals"]
    assert shown["won_deals_at_capacity"] == table["sales_capacity"]["model"]["won_deals"]
    gains = pd.read_csv(work / f"reports/plots/{kind}/gains.csv")
    assert set(gains.columns) == {"share_worked", *rankers} and gains["model"].iloc[-1] == 1.0


def test_the_report_opens_offline_with_the_runs_own_figures(
    project: tuple[Path, dict[str, str]],
) -> None:
    """On a laptop's screen (1366 x 768): every chart drawn, nothing wider than the page;
    the full-page screenshot is kept in test-results/ (git-ignored) for a look."""
    work, _ = project
    report = work / "reports/report.html"
    shot = ROOT / "test-results" / "report.png"  # outlives pytest's temporary folders
    shot.parent.mkdir(exist_ok=True)
    evaluated = json.loads((work / "reports/evaluation/lead.json").read_text())["sales_capacity"]
    with chromium_page(1366, 768) as (page, errors, requests):
        page.goto(report.as_uri())
        images = page.eval_on_selector_all(
            "img",
            "els => els.map(e => [e.alt, e.naturalWidth, e.naturalHeight,"
            " e.getBoundingClientRect().width, e.getBoundingClientRect().height])",
        )
        wide = page.evaluate("document.documentElement.scrollWidth")
        figures = page.eval_on_selector_all(
            "[data-figure]", "els => els.map(e => [e.dataset.figure, e.textContent])"
        )
        sections = page.eval_on_selector_all("section h2", "els => els.map(e => e.textContent)")
        page.screenshot(path=str(shot), full_page=True)
    print(f"report screenshot: {shot}")
    assert errors == []
    assert [url for url in requests if not url.startswith(("file:", "data:"))] == []
    assert len(images) >= 5 and all(min(sizes) > 0 for _, *sizes in images), images
    assert wide <= 1366  # no table or chart pushes the page sideways
    shown = dict(figures)
    for ranker in ("model", "mql_flag"):
        for field in ("deals_reached", "won_deals", "won_revenue"):
            value = float(shown[f"{ranker}.{field}"].replace(",", ""))
            assert value == pytest.approx(evaluated[ranker][field], abs=0.5)
    assert {"Campaign quality", "MQL rule vs model: who agrees", "Data health"} <= set(sections)
    assert shot.stat().st_size > 0


def test_dvc_plots_render_every_declared_plot(project: tuple[Path, dict[str, str]]) -> None:
    work, env = project
    out = subprocess.run(
        [sys.executable, "-m", "dvc", "plots", "show", "--json"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    shown = json.loads(out)
    declared = [next(iter(p)) for p in yaml.safe_load((work / "dvc.yaml").read_text())["plots"]]
    assert set(declared) <= set(shown["data"]) and not shown.get("errors")
    for plot in shown["data"].values():
        spec = plot[0]["content"]
        assert spec["data"]["values"], "a plot without data"


@pytest.fixture(scope="module")
def mlflow_ui(project: tuple[Path, dict[str, str]]):
    """`mlflow server` on the smoke run's store, as a reviewer would open it."""
    import socket
    import time
    import urllib.request

    work, env = project
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mlflow",
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--backend-store-uri",
            env["MLFLOW_TRACKING_URI"],
            "--workers",
            "1",
        ],
        cwd=work,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(f"{base}/health", timeout=1)
                break
            except OSError:
                time.sleep(0.5)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_mlflow_opens_on_training_runs_with_the_importance_image(
    project: tuple[Path, dict[str, str]], mlflow_ui: str, tmp_path: Path
) -> None:
    work, env = project
    mlflow.set_tracking_uri(env["MLFLOW_TRACKING_URI"])
    run = mlflow.get_run(json.loads((work / "models/lead_run.json").read_text())["run_id"])
    experiment = mlflow.get_experiment(run.info.experiment_id)
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"
    # kind, source, what differs: on a fresh clone (params as committed), the commit
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=work, capture_output=True, text=True
    ).stdout.strip()
    assert run.info.run_name == f"lead · synthetic · {head[:7]}"
    assert run.data.tags["git_commit"] == head and "dvc_experiment" not in run.data.tags
    assert [d.dataset.name for d in run.inputs.dataset_inputs] == ["lead_snapshots"]
    artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(run.info.run_id)}
    assert {"report.html", "feature_importance.png"} <= artifacts
    experiment_page = f"{mlflow_ui}/#/experiments/{experiment.experiment_id}"
    importance = f"{experiment_page}/runs/{run.info.run_id}/artifacts/feature_importance.png"
    with chromium_page() as (page, _, _):
        page.goto(f"{experiment_page}?workflowType=machine_learning")
        page.get_by_text(run.info.run_name).first.wait_for(timeout=30_000)
        assert "/runs" in page.url  # the training-runs view, not the GenAI overview
        (ROOT / "test-results").mkdir(exist_ok=True)
        page.screenshot(path=str(ROOT / "test-results" / "mlflow_runs.png"))
        page.goto(f"{importance}?workflowType=machine_learning")
        loaded = "i => i.src.startsWith('blob:') && i.naturalWidth > 0"
        page.wait_for_function(f"() => [...document.images].some({loaded})", timeout=30_000)


def test_the_gates_ran_and_passed(project: tuple[Path, dict[str, str]]) -> None:
    work, _ = project
    assert json.loads((work / "reports/validation.json").read_text())["failed"] == 0
    assert json.loads((work / "reports/feature_validation.json").read_text())["failed"] == 0
    params = yaml.safe_load((work / "params.yaml").read_text())
    assert params["evaluate"]["require_beats_mql"]  # the gate is on in the smoke run


@pytest.mark.parametrize("kind", ["lead", "account"])
def test_registered_models_serve_probabilities(
    project: tuple[Path, dict[str, str]], kind: str
) -> None:
    work, env = project
    run = json.loads((work / f"models/{kind}_run.json").read_text())
    assert run["registered_model"] == f"mqlscore-{kind}" and run["version"] == "1"
    mlflow.set_tracking_uri(env["MLFLOW_TRACKING_URI"])
    mlflow.set_registry_uri(env["MLFLOW_TRACKING_URI"])
    model = mlflow.pyfunc.load_model(f"models:/mqlscore-{kind}@champion")
    rows = pd.read_parquet(work / f"data/processed/{kind}_snapshots.parquet").tail(200)
    inputs = model.metadata.get_input_schema().input_names()
    assert not {"lead_id", "account_id", "email"} & set(inputs)
    p = model.predict(rows[inputs])["probability"]
    assert p.between(0, 1).all() and p.nunique() > 5
    logged = mlflow.get_run(run["run_id"]).data
    assert f"data.{kind}_snapshots.md5" in logged.params
    assert "test_ranking_model_roc_auc" in logged.metrics
    client = mlflow.MlflowClient()
    artifacts = {a.path for a in client.list_artifacts(run["run_id"])}
    assert {"feature_importance.csv", "feature_importance.png", "evaluate.md"} <= artifacts
    plots = {a.path for a in client.list_artifacts(run["run_id"], "plots")}
    assert {"plots/gains.png", "plots/calibration.png", "plots/precision_at_k.png"} <= plots
    experiment = mlflow.get_experiment(mlflow.get_run(run["run_id"]).info.experiment_id)
    assert experiment.name == f"mqlscore-{kind}"  # one experiment per model


def test_no_email_or_name_reaches_an_mlflow_artifact(
    project: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    work, env = project
    mlflow.set_tracking_uri(env["MLFLOW_TRACKING_URI"])
    leads = pd.read_parquet(work / "data/raw/leads.parquet")
    accounts = pd.read_parquet(work / "data/raw/accounts.parquet")
    secrets = [*leads["email"].dropna(), *accounts["name"].dropna()]
    local_parts = {e.split("@")[0] for e in leads["email"].dropna()}
    for kind in ("lead", "account"):
        run = json.loads((work / f"models/{kind}_run.json").read_text())
        folder = Path(
            mlflow.artifacts.download_artifacts(
                run_id=run["run_id"], dst_path=str(tmp_path / kind)
            )
        )
        texts = [
            f.read_text(errors="ignore")
            for f in folder.rglob("*")
            if f.is_file() and f.suffix in {".csv", ".json", ".md", ".txt", ".yaml", ".lock", ""}
        ]
        assert texts, kind
        blob = "\n".join(texts)
        assert not re.search(r"[\w.+-]+@[\w-]+\.[A-Za-z]{2,}", blob)  # no address at all
        assert not [s for s in secrets if s in blob]
        assert not [p for p in local_parts if len(p) > 6 and p in blob]
        params = mlflow.get_run(run["run_id"]).data.params
        assert not [v for v in params.values() if re.search(r"\w@\w+\.", str(v))]


def test_second_repro_is_a_no_op(project: tuple[Path, dict[str, str]]) -> None:
    work, env = project
    out = _run([sys.executable, "-m", "dvc", "repro"], work, env)
    assert "Running stage" not in out
    assert "up to date" in _run([sys.executable, "-m", "dvc", "status"], work, env)


def _stale(work: Path, env: dict[str, str]) -> set[str]:
    """The stages `dvc status` would re-run."""
    done = subprocess.run(
        [sys.executable, "-m", "dvc", "status", "--json"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return {name.split(":")[-1] for name in json.loads(done.stdout)}


def test_dvc_reruns_only_what_a_change_touches(project: tuple[Path, dict[str, str]]) -> None:
    """A reason's wording or a chart's look retrains nothing; a learning rate retrains
    and re-evaluates but builds no feature again."""
    work, env = project
    code = [work / "mqlscore/serving/reasons.py", work / "mqlscore/reporting/charts.py"]
    params = work / "params.yaml"
    before = {path: path.read_text() for path in [*code, params]}
    try:
        for path in code:
            path.write_text(before[path] + "\n# an edited sentence or colour\n")
        stale = _stale(work, env)
        assert stale and not {s for s in stale if s.startswith("train")}, stale
        assert "report" in stale
        for path in code:
            path.write_text(before[path])
        changed = yaml.safe_load(before[params])
        changed["train"]["learning_rate"] = 0.07
        params.write_text(yaml.safe_dump(changed))
        stale = _stale(work, env)
        assert {"train@lead", "train@account", "evaluate@lead", "evaluate@account"} <= stale
        assert not stale & {"ingest", "validate", "join", "features", "validate_features"}
    finally:
        for path, text in before.items():
            path.write_text(text)
    assert not _stale(work, env)


def _champion(env: dict[str, str], name: str) -> str:
    mlflow.set_registry_uri(env["MLFLOW_TRACKING_URI"])
    return str(mlflow.MlflowClient().get_model_version_by_alias(name, "champion").version)


def _mqlscore(args: list[str], work: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "pipeline", *args]
    return subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True)


def _promote(evaluations: Path, test_scores: Path, tmp_path: Path) -> list[str]:
    return [
        "promote",
        f"--evaluations={evaluations}",
        f"--test-scores={test_scores}",
        f"--summary={tmp_path / 'p.json'}",
        f"--params={tmp_path / 'params.yaml'}",
    ]


def test_a_failing_gate_exits_1_and_crowns_nothing(
    project: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    work, env = project
    params = yaml.safe_load((work / "params.yaml").read_text())
    params["evaluate"]["min_roc_auc"] = 0.999  # a bar no model reaches
    params["train"]["kinds"] = ["lead"]
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    before = _champion(env, "mqlscore-lead")
    evaluated = tmp_path / "evaluation/lead.json"
    done = _mqlscore(
        [
            "evaluate",
            "--kind=lead",
            "--snapshots=data/processed/lead_snapshots.parquet",
            "--outcomes=data/processed/lead_outcomes.parquet",
            "--truth=data/truth/leads.parquet",
            "--model-dir=models/lead",
            "--run-info=models/lead_run.json",
            f"--metrics={evaluated}",
            f"--headline={tmp_path / 'headline.json'}",
            f"--test-scores={tmp_path / 'evaluated/lead_test.parquet'}",
            f"--report={tmp_path / 'evaluate.md'}",
            f"--plots={tmp_path / 'plots'}",
            f"--params={tmp_path / 'params.yaml'}",
        ],
        work,
        env,
    )
    assert done.returncode == 1, done.stderr
    assert "below evaluate.min_roc_auc" in done.stderr
    result = json.loads(evaluated.read_text())
    assert not result["gate"]["passed"]
    done = _mqlscore(
        _promote(tmp_path / "evaluation", tmp_path / "evaluated", tmp_path), work, env
    )
    assert done.returncode == 1
    assert not json.loads((tmp_path / "p.json").read_text())["lead"]["promoted"]
    assert _champion(env, "mqlscore-lead") == before


def test_an_experiment_registers_but_never_crowns(
    project: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    work, env = project
    run = tmp_path / "run.json"
    trained = _mqlscore(
        [
            "train",
            "--kind=lead",
            "--snapshots=data/processed/lead_snapshots.parquet",
            f"--model-dir={tmp_path / 'model'}",
            f"--metrics={tmp_path / 'train.json'}",
            f"--run-info={run}",
        ],
        work,
        env,
    )
    assert trained.returncode == 0, trained.stderr
    version = json.loads(run.read_text())["version"]
    before = _champion(env, "mqlscore-lead")
    assert version != before
    result = json.loads((work / "reports/evaluation/lead.json").read_text())
    result["candidate"]["version"] = version
    (tmp_path / "evaluation").mkdir()
    (tmp_path / "evaluation/lead.json").write_text(json.dumps(result))
    params = yaml.safe_load((work / "params.yaml").read_text())
    params["train"]["kinds"] = ["lead"]
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    test = pd.read_parquet(work / "data/evaluated/lead_test.parquet")
    (tmp_path / "evaluated").mkdir()
    sharp = test.assign(model=test["label"] * 0.9 + 0.05)  # a challenger that ranks perfectly
    sharp.to_parquet(tmp_path / "evaluated/lead_test.parquet")
    promote = _promote(tmp_path / "evaluation", tmp_path / "evaluated", tmp_path)
    done = _mqlscore(promote, work, {**env, "DVC_EXP_NAME": "curious-cat"})
    assert done.returncode == 0, done.stderr
    assert _champion(env, "mqlscore-lead") == before
    decision = json.loads((tmp_path / "p.json").read_text())["lead"]
    assert "experiment" in decision["reason"] and decision["duel"]["better"]
    assert decision["duel"]["champion_version"] == before  # met the champion on its rows
    done = _mqlscore(promote, work, env)  # the same decision on the main line crowns it
    assert done.returncode == 0, done.stderr
    assert _champion(env, "mqlscore-lead") == version
    assert _mqlscore(["models", "rollback", "--name=mqlscore-lead"], work, env).returncode == 0
    assert _champion(env, "mqlscore-lead") == before


LOAD_WITHOUT_PROJECT = """
import importlib.abc, json, sys
import pandas as pd

class NoProject(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("mqlscore", "pipeline", "features", "sources", "sklearn"):
            raise ImportError(f"model tried to import {name}")

sys.path = [p for p in sys.path if p.rstrip("/") != sys.argv[1]]
sys.meta_path.insert(0, NoProject())
import mlflow
model = mlflow.pyfunc.load_model(sys.argv[2])
rows = pd.read_parquet(sys.argv[3])
print(json.dumps(model.predict(rows)["probability"].tolist()))
"""


@pytest.mark.parametrize("kind", ["lead", "account"])
def test_the_registered_model_loads_without_project_code(
    project: tuple[Path, dict[str, str]], tmp_path: Path, kind: str
) -> None:
    from mqlscore.modeling.registered import load_scorer

    work, env = project
    scorer = load_scorer(str(work / f"models/{kind}"))
    rows = pd.read_parquet(work / f"data/processed/{kind}_snapshots.parquet").tail(300)
    rows[scorer.features].to_parquet(tmp_path / "rows.parquet")
    script = tmp_path / "load.py"
    script.write_text(LOAD_WITHOUT_PROJECT)
    uri = f"models:/mqlscore-{kind}@champion"
    env = {k: v for k, v in env.items() if k != "PYTHONPATH"}
    done = subprocess.run(
        [sys.executable, str(script), str(ROOT), uri, str(tmp_path / "rows.parquet")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    assert loaded == pytest.approx(scorer.probability(rows).tolist(), abs=1e-12)
    model_folder = work / f"models/{kind}"
    assert not list(model_folder.rglob("*.pkl"))  # no pickle anywhere in the model
    requirements = (model_folder / "requirements.txt").read_text()
    assert {"lightgbm", "pandas", "numpy", "mlflow"} <= {
        line.split("==")[0] for line in requirements.split()
    }
