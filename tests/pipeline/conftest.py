"""Fixtures the pipeline tests share: models trained on the tiny world."""

from __future__ import annotations

from pathlib import Path

import pytest

from features.engine import build_snapshots
from features.matching import match_leads
from features.snapshots import data_end, snapshot_dates, spec_from
from mqlscore.config import FeatureParams, MqlRule, TrainParams, load_section
from mqlscore.modeling.boosting import LIGHTGBM
from mqlscore.modeling.training import train_model
from mqlscore.tracking import save_local
from sources.world import World


@pytest.fixture(scope="session")
def models(tmp_path_factory: pytest.TempPathFactory, tiny_world: World, tiny_params_file: Path):
    """Lead and account models trained on the tiny world, saved as model folders
    (`lead`, `account`: the chosen kind; `lightgbm/lead`, `lightgbm/account`: the
    LightGBM fit of each, chosen or not, uncalibrated when it lost)."""
    folder = tmp_path_factory.mktemp("models")
    tables = tiny_world.raw_tables()
    tables["lead_accounts"] = match_leads(tables["leads"], tables["accounts"])
    end = data_end(tables)
    spec = spec_from(
        load_section(tiny_params_file, "features", FeatureParams),
        load_section(tiny_params_file, "mql_rule", MqlRule),
    )
    snaps = snapshot_dates(tables["engagement"]["occurred_at"].min(), end, 3)
    built = build_snapshots(tables, spec, snaps, end)
    config = load_section(tiny_params_file, "train", TrainParams)
    for kind, frame in (("lead", built.leads), ("account", built.accounts)):
        window = load_section(tiny_params_file, "features", FeatureParams).label_window_days
        trained = train_model(frame, config, window)
        save_local(trained.model, trained.model.example(frame), folder / kind)
        booster = next(m for m in (trained.model, trained.comparison) if m.kind == LIGHTGBM)
        save_local(booster, booster.example(frame), folder / LIGHTGBM / kind)
    return folder
