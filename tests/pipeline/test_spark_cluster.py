"""Spark as a cluster runs it: a standalone master and one worker on 127.0.0.1, the
executors' Python unable to import the project, and `mqlscore features` and `mqlscore
score --engine spark` against them give the DuckDB path's tables and scores.

The executors' Python is a bare virtual environment (`python -m venv --without-pip`)
whose one `.pth` line lists this interpreter's site-packages: pandas, numpy, lightgbm,
pyarrow and pyspark import from there, but the `.pth` files *inside* that folder are not
processed (Python reads `.pth` files only in its own site folders), so the editable
install's finder that makes `mqlscore`, `features`, `sources` and `pipeline` importable
never runs, and the executors start in the worker's own folder, not the project's. A
wrapper script checks, in each executor's own environment, that none of them can be
found, logs it, and refuses to start Python otherwise.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import yaml

from features.matching import match_leads
from mqlscore.io import EXPORT_FILE, write_json, write_parquet
from mqlscore.modeling.boosting import LIGHTGBM
from mqlscore.modeling.registered import load_scorer
from pipeline import featurize, score
from sources.exports import write_nightly_export
from sources.world import World
from tests.conftest import ROOT, tiny_params_dict

PROJECT = ("mqlscore", "features", "sources", "pipeline")
KEYS = {
    "leads": ["lead_id", "snapshot_date"],
    "accounts": ["account_id", "snapshot_date"],
    "lead_outcomes": ["lead_id", "snapshot_date", "opportunity_id"],
    "account_outcomes": ["account_id", "snapshot_date", "opportunity_id"],
}
pytestmark = pytest.mark.spark  # the cluster's tests skip without Java (`cluster`)
STARTUP_SECONDS = 90  # master up and the worker registered, on a busy 2-core machine
COMMAND_SECONDS = 300


def worker_python(folder: Path, log: Path) -> Path:
    """A Python for the executors that has this one's libraries but not the project (see
    the module's docstring); each start is checked and logged to `log`."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True)
    bare = folder / "bin" / "python"
    site = subprocess.run(
        [str(bare), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    ours = {sysconfig.get_paths()[k] for k in ("purelib", "platlib")}
    Path(site, "libraries-not-the-project.pth").write_text("\n".join(sorted(ours)) + "\n")
    check = (
        "import importlib.util, os, sys; "
        f"found = [m for m in {PROJECT!r} if importlib.util.find_spec(m)]; "
        "open(sys.argv[1], 'a').write(f'{os.getcwd()} importable={found}\\n'); "
        "sys.exit(1 if found else 0)"
    )
    wrapper = folder / "executor-python"
    wrapper.write_text(f'#!/bin/sh\n"{bare}" -c "{check}" "{log}" || exit 1\nexec "{bare}" "$@"\n')
    wrapper.chmod(0o755)
    return wrapper


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _alive_workers(ui_port: int) -> int:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never a proxy
    try:
        with opener.open(f"http://127.0.0.1:{ui_port}/json/", timeout=5) as answer:
            return int(json.load(answer).get("aliveworkers", 0))
    except (OSError, ValueError):
        return 0


def _stop(process: subprocess.Popen) -> None:
    """End a daemon we started and everything it started (its executors): its own
    process group, by its id; SIGKILL if it has not gone in 20 s."""
    for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


@contextmanager
def standalone_cluster(folder: Path) -> Iterator[tuple[str, Callable[[], None]]]:
    """A Spark standalone master and one worker (2 cores, 1 GB) from pyspark's own
    SPARK_HOME, bound to 127.0.0.1: yields the master URL and a function that waits until
    the worker has registered (the daemons boot meanwhile), and stops both."""
    import pyspark

    home = Path(pyspark.__file__).parent
    master, master_ui, worker, worker_ui = _free_ports(4)
    env = os.environ | {
        "SPARK_HOME": str(home),
        "SPARK_LOCAL_IP": "127.0.0.1",  # the RPC endpoints and the web UIs
        "SPARK_DAEMON_MEMORY": "256m",
        "SPARK_MASTER_OPTS": "-Dspark.master.rest.enabled=false",  # no REST port 6066
        "SPARK_LOG_DIR": str(folder / "logs"),
    }
    env.pop("SPARK_CONF_DIR", None)
    url = f"spark://127.0.0.1:{master}"
    daemons = {
        "master": [
            "org.apache.spark.deploy.master.Master",
            *("--host", "127.0.0.1", "--port", str(master), "--webui-port", str(master_ui)),
        ],
        "worker": [
            "org.apache.spark.deploy.worker.Worker",
            *("--host", "127.0.0.1", "--port", str(worker), "--webui-port", str(worker_ui)),
            *("--cores", "2", "--memory", "1g", "--work-dir", str(folder / "work"), url),
        ],
    }
    started: list[subprocess.Popen] = []
    deadline = time.monotonic() + STARTUP_SECONDS

    def wait() -> None:
        while _alive_workers(master_ui) < 1:
            dead = [p.args[1] for p in started if p.poll() is not None]
            if dead or time.monotonic() > deadline:
                logs = "".join((folder / f"{n}.log").read_text()[-1500:] for n in daemons)
                pytest.fail(f"Spark cluster not up ({dead or 'timed out'}):\n{logs}")
            time.sleep(0.5)

    try:
        for name, args in daemons.items():
            with open(folder / f"{name}.log", "wb") as log:
                started.append(
                    subprocess.Popen(
                        [str(home / "bin" / "spark-class"), *args],
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        env=env,
                        start_new_session=True,  # a process group of its own, to stop
                    )
                )
        yield url, wait
    finally:
        for process in reversed(started):
            _stop(process)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """The cluster, booting while the tests prepare their DuckDB reference: `ready()`
    waits for it and gives the environment a command runs on it with."""
    pytest.importorskip("pyspark")
    if shutil.which("java") is None:
        pytest.skip("Spark needs Java")
    folder = tmp_path_factory.mktemp("spark-cluster")
    log = folder / "executor-python.log"
    python = worker_python(folder / "executor-venv", log)
    with standalone_cluster(folder) as (url, wait):
        env = os.environ | {
            "SPARK_MASTER": url,
            "PYSPARK_PYTHON": str(python),
            "SPARK_LOCAL_IP": "127.0.0.1",  # the driver too
            # small executors; on tiny tables, 2 shuffle partitions and no adaptive
            # re-planning cut a command's time by about a quarter (measured)
            "PYSPARK_SUBMIT_ARGS": "--conf spark.executor.memory=512m "
            "--conf spark.sql.shuffle.partitions=2 --conf spark.sql.adaptive.enabled=false "
            "pyspark-shell",
        }
        env.pop("PYTHONPATH", None)

        def ready() -> dict:
            wait()
            return env

        yield {"ready": ready, "log": log}


def _mqlscore(args: list[str], env: dict, cwd: Path) -> subprocess.CompletedProcess:
    done = subprocess.run(
        [sys.executable, "-m", "pipeline", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=COMMAND_SECONDS,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return done


def _executor_starts(log: Path) -> list[str]:
    lines = log.read_text().splitlines() if log.exists() else []
    assert lines, "no executor Python started: the work did not reach the cluster's workers"
    assert all(line.endswith("importable=[]") for line in lines), lines
    return lines


def test_features_on_the_cluster_equal_duckdbs(
    cluster: dict, tiny_world: World, tmp_path: Path
) -> None:
    tables = tiny_world.raw_tables()
    raw = tmp_path / "raw"
    for name, frame in tables.items():
        write_parquet(frame, raw / f"{name}.parquet")
    write_json({"exported_at": tiny_world.exported_at.isoformat()}, raw / EXPORT_FILE)
    matches = tmp_path / "lead_accounts.parquet"
    write_parquet(match_leads(tables["leads"], tables["accounts"]), matches)
    outputs = {}
    for engine in ("duckdb", "spark"):
        params = tiny_params_dict()
        params["features"]["engine"] = engine
        (tmp_path / f"{engine}.yaml").write_text(yaml.safe_dump(params))
        out = {name: tmp_path / engine / f"{name}.parquet" for name in KEYS}
        options = {
            "raw": raw,
            "matches": matches,
            "leads_out": out["leads"],
            "accounts_out": out["accounts"],
            "outcomes_out": out["lead_outcomes"],
            "account_outcomes_out": out["account_outcomes"],
            "summary": tmp_path / engine / "features.json",
            "params": tmp_path / f"{engine}.yaml",
        }
        if engine == "duckdb":
            featurize.main(**options)
        else:
            args = [f"--{k.replace('_', '-')}={v}" for k, v in options.items()]
            _mqlscore(["features", *args], cluster["ready"](), tmp_path)
        outputs[engine] = out
    for name, keys in KEYS.items():  # the same columns, Arrow types and rows; pandas'
        # metadata and `not null` flags aside (Spark's path writes through pandas)
        local, distributed = (pq.read_table(outputs[e][name]) for e in ("duckdb", "spark"))
        typed = [[(f.name, f.type) for f in t.schema] for t in (local, distributed)]
        assert typed[0] == typed[1], name
        local, distributed = (t.to_pandas(ignore_metadata=True) for t in (local, distributed))
        assert len(local) > 0, name
        local = local.sort_values(keys).reset_index(drop=True)
        distributed = distributed.sort_values(keys).reset_index(drop=True)
        pd.testing.assert_frame_equal(local, distributed, check_exact=False, rtol=1e-9, obj=name)
    summaries = [json.loads((tmp_path / e / "features.json").read_text()) for e in outputs]
    assert summaries[0] == summaries[1]
    log = cluster["log"]  # any Python an executor started could not import the project
    started = log.read_text().splitlines() if log.exists() else []
    assert all(line.endswith("importable=[]") for line in started), started


def test_scores_on_the_cluster_equal_duckdbs_and_no_model_code_runs(
    cluster: dict, tiny_world: World, models: Path, tiny_params_file: Path, tmp_path: Path
) -> None:
    """LightGBM's booster scores on the executors; a line planted in every file of code
    in the model folders (MLflow's copy of `packaged.py`) would write a marker if run."""
    export = tmp_path / "export"
    write_nightly_export(tiny_world.raw_tables(), export, tiny_world.exported_at)
    marker = tmp_path / "model-code-ran.txt"
    folders = {"lead": models / LIGHTGBM / "lead", "account": models / "account"}
    planted = {}
    for kind, source in folders.items():
        planted[kind] = tmp_path / "models" / kind
        shutil.copytree(source, planted[kind])
        code = list(planted[kind].rglob("*.py"))
        assert code  # the folder does carry code: MLflow's loader would run it
        for path in code:
            path.write_text(path.read_text() + f"\nopen({str(marker)!r}, 'a').write('ran')\n")
    assert load_scorer(str(planted["lead"])).kind == LIGHTGBM
    common = [f"--export={export}", f"--model={planted['lead']}"]
    common += [f"--account-model={planted['account']}", f"--params={tiny_params_file}"]
    score.main(
        export=export,
        out=tmp_path / "duckdb",
        model=str(planted["lead"]),
        account_model=str(planted["account"]),
        params=tiny_params_file,
    )
    _mqlscore(
        ["score", *common, f"--out={tmp_path / 'spark'}", "--engine=spark"],
        cluster["ready"](),
        tmp_path,
    )
    assert not marker.exists()
    for name in ("lead_scores", "account_scores"):
        local, distributed = (
            pd.read_parquet(tmp_path / e / f"{name}.parquet") for e in ("duckdb", "spark")
        )
        assert len(local) > 100
        pd.testing.assert_frame_equal(local, distributed, obj=name)
        assert (tmp_path / "duckdb" / f"{name}.csv").read_bytes() == (
            tmp_path / "spark" / f"{name}.csv"
        ).read_bytes()
    manifest = json.loads((tmp_path / "spark" / "manifest.json").read_text())
    assert manifest["engine"] == "spark"
    _executor_starts(cluster["log"])


def test_the_function_shipped_to_executors_scores_in_a_python_without_the_project(
    models: Path, tmp_path: Path
) -> None:
    """Both model kinds: what pyspark pickles for the executors, unpickled and run where
    the project cannot be imported, gives the driver's probabilities and imports no
    mqlscore, features, sources or mlflow (no JVM needed)."""
    from pyspark import cloudpickle

    from features.nightly import packaged_by_value, worker_predict

    log = tmp_path / "python.log"
    python = worker_python(tmp_path / "venv", log)
    run = (
        "import pickle, sys, pandas as pd; "
        "predict = pickle.load(open(sys.argv[1], 'rb')); "
        "predict(pd.read_parquet(sys.argv[2])).to_frame('p').to_parquet(sys.argv[3]); "
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & {{*{PROJECT!r}, 'mlflow'}}))"
    )
    rng = np.random.default_rng(0)
    for folder in (models / LIGHTGBM / "lead", models / "lead", models / "account"):
        scorer = load_scorer(str(folder))
        rows = pd.DataFrame(
            {f: rng.integers(0, 6, 300).astype(float) for f in scorer.features}
            | {
                f: rng.choice([*levels, "unseen", None], 300)
                for f, levels in scorer.levels.items()
            }
        )
        rows.to_parquet(tmp_path / "rows.parquet")
        with packaged_by_value():
            (tmp_path / "predict.pkl").write_bytes(cloudpickle.dumps(worker_predict(scorer)))
        files = [tmp_path / n for n in ("predict.pkl", "rows.parquet", "p.parquet")]
        done = subprocess.run(
            [str(python), "-c", run, *map(str, files)],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        assert done.stdout.strip() == "[]", done.stdout  # nothing of ours, no mlflow
        shipped = pd.read_parquet(files[2])["p"].to_numpy()
        np.testing.assert_array_equal(shipped, scorer.probability(rows), err_msg=str(folder))
    assert log.read_text().count("importable=[]") == 3
    assert str(ROOT) not in log.read_text()
