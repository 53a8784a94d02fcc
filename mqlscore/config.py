"""Typed, frozen views of params.yaml sections. Unknown keys are errors, not surprises."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator


class Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class MqlRule(Section):
    """Marketing's points rule: title points plus points per activity, MQL at a threshold."""

    threshold: int = 100
    title_points: dict[str, int]
    activity_points: dict[str, int]


class WorldParams(Section):
    """Knobs of the synthetic B2B world."""

    seed: int = 7
    start: date = date(2024, 1, 1)
    months: int = Field(24, ge=6)
    accounts: int = Field(4000, ge=10)
    scale: float = Field(1.0, gt=0)
    target_share: float = Field(0.15, gt=0, lt=1)
    noise_lead_share: float = Field(0.25, ge=0, lt=1)
    blank_account_id_share: float = Field(0.2, ge=0, le=1)
    habitual_opener_share: float = Field(0.15, ge=0, le=1)
    in_market_start_logit: float = -3.0
    fit_effect: float = 1.0
    opportunity_logit: float = -0.6
    uncovered_factor: float = Field(0.3, ge=0, le=1)
    covered_if_target: float = Field(0.85, ge=0, le=1)
    covered_otherwise: float = Field(0.25, ge=0, le=1)
    mql_follow_up: float = Field(0.6, ge=0, le=1)
    mql_follow_up_target: float = Field(0.85, ge=0, le=1)
    truth_window_days: int = Field(90, gt=0)


class ValidateParams(Section):
    """Thresholds of the data checks."""

    max_future_days: int = Field(1, ge=0)  # tolerance for timestamps after the export time
    max_event_lag_days: int = Field(7, ge=0)  # newest event at most this old at export
    volume_min_ratio: float = Field(0.7, gt=0, le=1)  # rows vs the last accepted run
    volume_max_ratio: float = Field(3.0, ge=1)
    email_present_min_share: float = Field(0.9, ge=0, le=1)
    email_valid_min_share: float = Field(0.95, ge=0, le=1)
    max_feature_null_share: float = Field(0.5, ge=0, le=1)
    label_rate_min: float = Field(0.002, ge=0, le=1)
    label_rate_max: float = Field(0.2, ge=0, le=1)


class BuyingRoleParams(Section):
    name: str
    seniorities: tuple[str, ...] = ()
    functions: tuple[str, ...] = ()


class FeatureParams(Section):
    """Snapshots, labels and feature windows."""

    engine: Literal["duckdb", "spark"] = "duckdb"
    duckdb_memory_limit: str = "3GB"  # DuckDB spills to disk beyond this
    first_snapshot_month: int = Field(3, ge=1)
    cadence_months: int = Field(1, ge=1)
    label: Literal["opportunity_created", "closed_won"] = "opportunity_created"
    label_window_days: int = Field(90, gt=0)
    windows_days: tuple[int, ...] = Field((7, 30, 90), min_length=3)
    half_life_days: float = Field(14.0, gt=0)
    buying_group: tuple[BuyingRoleParams, ...] = ()


class TrainParams(Section):
    test_snapshots: int = Field(3, ge=1)
    valid_snapshots: int = Field(2, ge=1)
    use_marketing_features: bool = False
    follow_up_correction: Literal["ipw", "none"] = "none"  # lead model: inverse-propensity
    propensity_clip: float = Field(0.05, gt=0, le=1)  # weights at most 1 / clip
    min_conversions: int = Field(40, ge=1)  # refuse to train on fewer
    isotonic_min_positives: int = Field(200, ge=1)  # else sigmoid calibration
    num_boost_round: int = Field(600, ge=1)
    early_stopping_rounds: int = Field(50, ge=1)
    learning_rate: float = Field(0.05, gt=0)
    num_leaves: int = Field(8, ge=2)
    max_depth: int = Field(3, ge=-1)  # -1: unlimited; shallow trees explain fast (SHAP cost)
    min_data_in_leaf: int = Field(100, ge=1)
    feature_fraction: float = Field(0.9, gt=0, le=1)
    bagging_fraction: float = Field(0.9, gt=0, le=1)
    lambda_l2: float = Field(1.0, ge=0)
    seed: int = 7
    search_trials: int = Field(0, ge=0)  # >0: random search on validation PR-AUC
    search_space: dict[str, tuple[int | float, ...]] = Field(default_factory=dict)
    model_prefix: str = "mqlscore"

    @model_validator(mode="after")
    def _searchable(self) -> TrainParams:
        unknown = sorted(set(self.search_space) - set(type(self).model_fields))
        if unknown:
            raise ValueError(f"search_space names unknown train params: {', '.join(unknown)}")
        return self  # MLflow experiment and registered model: <prefix>-<kind>


class EvaluateParams(Section):
    require_beats_mql: bool = True
    grades: dict[str, float] = Field(default_factory=lambda: {"A": 0.3, "B": 0.1, "C": 0.03})
    champion_metric: Literal["pr_auc", "roc_auc"] = "pr_auc"
    promotion_margin: float = Field(0.0, ge=0)
    capacity_leads: int = Field(300, ge=1)  # leads sales can work per snapshot (month)
    capacity_accounts: int = Field(150, ge=1)  # accounts sales can work per snapshot


class ScoreParams(Section):
    """Nightly scoring."""

    model: str = "models:/mqlscore-lead@champion"  # registry URI or a model folder
    account_model: str = "models:/mqlscore-account@champion"  # or "none"
    qualify: Literal["top_n", "threshold"] = "top_n"
    capacity: int = Field(300, ge=1)  # top_n: leads qualified per run
    threshold: float = Field(0.1, ge=0, le=1)  # threshold: qualified at this probability
    lead_id_pattern: str = r"L\d+"
    chunk_rows: int = Field(200_000, ge=1)
    max_reject_share: float = Field(0.5, ge=0, le=1)  # above: the export is broken, stop
    drift_warn_psi: float = Field(0.25, gt=0)


S = TypeVar("S", bound=Section)


class ParamsError(ValueError):
    """params.yaml is missing a section or holds a bad value."""


def load_section(params_file: Path, section: str, model: type[S]) -> S:
    """Read one section of params.yaml into its typed model."""
    data = yaml.safe_load(Path(params_file).read_text()) or {}
    if section not in data:
        raise ParamsError(f"{params_file}: no '{section}' section")
    try:
        return model.model_validate(data[section])
    except ValidationError as err:
        raise ParamsError(f"{params_file}: section '{section}' is invalid:\n{err}") from err
