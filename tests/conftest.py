"""Shared fixtures: a tiny synthetic world built from the project's own params.yaml."""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import pytest
import yaml

from features.snapshots import SnapshotSpec, spec_from
from mqlscore.config import FeatureParams, MqlRule, Section, WorldParams, load_section
from sources.world import World, generate_world

ROOT = Path(__file__).resolve().parents[1]
S = TypeVar("S", bound=Section)
TINY_WORLD = {"accounts": 250, "months": 17, "seed": 11}  # 17: a purged split


def tiny_params_dict() -> dict:
    """The project's params with a world small enough for tests."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["world"].update(TINY_WORLD)
    params["train"]["min_conversions"] = 10  # the tiny world's account table converts little
    # sales' capacity well inside the tiny world (~1,900 lead and ~240 account rows a month),
    # so every ranker fills it with leads or accounts not handed over before
    params["evaluate"].update(capacity_leads=100, capacity_accounts=30)
    params["score"]["lead_id_pattern"] = r"L\d+"  # the opt-in id check, tested in scoring
    return params


@pytest.fixture(scope="session")
def tiny_params_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("params") / "params.yaml"
    path.write_text(yaml.safe_dump(tiny_params_dict()))
    return path


@pytest.fixture(scope="session")
def rule(tiny_params_file: Path) -> MqlRule:
    return load_section(tiny_params_file, "mql_rule", MqlRule)


@pytest.fixture(scope="session")
def world_params(tiny_params_file: Path) -> WorldParams:
    return load_section(tiny_params_file, "world", WorldParams)


@pytest.fixture(scope="session")
def tiny_world(world_params: WorldParams, rule: MqlRule) -> World:
    return generate_world(world_params, rule)


def project_params(section: str, model: type[S], **overrides: object) -> S:
    """A params.yaml section (the project's own defaults), with overrides."""
    data = yaml.safe_load((ROOT / "params.yaml").read_text())[section] | overrides
    return model.model_validate(data)


@pytest.fixture(scope="session")
def spec(tiny_params_file: Path) -> SnapshotSpec:
    """The snapshot spec the pipeline builds from params.yaml."""
    return spec_from(
        load_section(tiny_params_file, "features", FeatureParams),
        load_section(tiny_params_file, "mql_rule", MqlRule),
    )
