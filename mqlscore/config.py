"""Typed, frozen views of params.yaml sections. Unknown keys are errors, not surprises,
and so are missing ones: params.yaml is the only place a default lives."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from mqlscore.refusal import Refusal


class Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class MqlRule(Section):
    """Marketing's points rule: title points plus points per activity, MQL at a threshold."""

    threshold: int
    title_points: dict[str, int]
    activity_points: dict[str, int]


class WorldParams(Section):
    """Knobs of the synthetic B2B world."""

    seed: int
    start: date
    months: int = Field(ge=6)
    accounts: int = Field(ge=10)
    scale: float = Field(gt=0)
    target_share: float = Field(gt=0, lt=1)
    noise_lead_share: float = Field(ge=0, lt=1)
    blank_account_id_share: float = Field(ge=0, le=1)
    habitual_opener_share: float = Field(ge=0, le=1)
    in_market_start_logit: float
    fit_effect: float
    opportunity_logit: float
    uncovered_factor: float = Field(ge=0, le=1)
    covered_if_target: float = Field(ge=0, le=1)
    covered_otherwise: float = Field(ge=0, le=1)
    mql_follow_up: float = Field(ge=0, le=1)
    mql_follow_up_target: float = Field(ge=0, le=1)
    truth_window_days: int = Field(gt=0)


class ValidateParams(Section):
    """Thresholds of the data checks."""

    max_future_days: int = Field(ge=0)  # tolerance for timestamps after the export time
    max_event_lag_days: int = Field(ge=0)  # newest event at most this old at export
    volume_min_ratio: float = Field(gt=0, le=1)  # rows vs the last accepted run
    volume_max_ratio: float = Field(ge=1)
    email_present_min_share: float = Field(ge=0, le=1)
    email_valid_min_share: float = Field(ge=0, le=1)
    max_feature_null_share: float = Field(ge=0, le=1)
    label_rate_min: float = Field(ge=0, le=1)
    label_rate_max: float = Field(ge=0, le=1)
    max_match_rate_drop: float = Field(ge=0, le=1)  # join: warn when a rule falls this much
    max_backdated_deal_share: float = Field(ge=0, le=1)  # deals closed before created
    leak_auc: float = Field(gt=0.5, le=1)  # model table: a feature alone this good stops
    leak_lift: float = Field(gt=1)  # ... as does a value holding most conversions at this lift
    leak_keep: tuple[str, ...] = ()  # features known before the outcome though they pass


class BuyingRoleParams(Section):
    name: str
    seniorities: tuple[str, ...] = ()  # a role names seniorities, functions or both
    functions: tuple[str, ...] = ()


class FeatureParams(Section):
    """Snapshots, labels and feature windows."""

    engine: Literal["duckdb", "spark"]
    duckdb_memory_limit: str  # DuckDB spills to disk beyond this
    first_snapshot_month: int = Field(ge=0)
    cadence_months: int = Field(ge=1)
    cadence_days: int = Field(ge=0)  # >0: a snapshot every this many days instead
    rows: Literal["all", "arrival"]  # arrival: each lead once, at its first snapshot
    label: Literal["opportunity_created", "closed_won"]
    label_window_days: int = Field(gt=0)
    windows_days: tuple[int, ...] = Field(min_length=3)
    half_life_days: float = Field(gt=0)
    buying_group: tuple[BuyingRoleParams, ...]
    max_blank_share: float = Field(gt=0, le=1)  # a feature blank on more rows: dropped, named


class TrainParams(Section):
    kinds: tuple[Literal["lead", "account"], ...]  # the models this source supports
    split: Literal["snapshots", "conversions", "date"]  # how the test period is chosen
    purge: Literal["embargo", "cut"]  # how no label window crosses a period boundary
    test_snapshots: int = Field(ge=1)
    valid_snapshots: int = Field(ge=1)
    test_share: float = Field(gt=0, lt=1)  # split by conversions: the latest share of them
    valid_share: float = Field(gt=0, lt=1)
    test_from: date | None  # split by date: the test period starts here
    use_marketing_features: bool
    follow_up_correction: Literal["ipw", "none"]  # lead model: inverse-propensity
    propensity_clip: float = Field(gt=0, le=1)  # weights at most 1 / clip
    min_conversions: int = Field(ge=1)  # refuse to train on fewer
    isotonic_min_positives: int = Field(ge=1)  # else sigmoid calibration
    num_boost_round: int = Field(ge=1)
    early_stopping_rounds: int = Field(ge=1)
    learning_rate: float = Field(gt=0)
    num_leaves: int = Field(ge=2)
    max_depth: int = Field(ge=-1)  # -1: unlimited; shallow trees explain fast (SHAP cost)
    min_data_in_leaf: int = Field(ge=1)
    feature_fraction: float = Field(gt=0, le=1)
    bagging_fraction: float = Field(gt=0, le=1)
    lambda_l2: float = Field(ge=0)
    monotone_increasing: tuple[str, ...]  # feature-name prefixes that may only raise a score
    seed: int
    search_trials: int = Field(ge=0)  # >0: random search on validation PR-AUC
    search_space: dict[str, tuple[int | float, ...]]
    logistic_c: tuple[float, ...] = Field(min_length=1)  # the regression's penalties tried
    model_prefix: str

    @model_validator(mode="after")
    def _searchable(self) -> TrainParams:
        if "lead" not in self.kinds:  # every source has leads; the report reads their model
            raise ValueError(f"kinds must include lead, not only {list(self.kinds)}")
        unknown = sorted(set(self.search_space) - set(type(self).model_fields))
        if unknown:
            raise ValueError(f"search_space names unknown train params: {', '.join(unknown)}")
        return self  # MLflow experiment and registered model: <prefix>-<kind>


class EvaluateParams(Section):
    require_beats_mql: bool
    min_roc_auc: float = Field(ge=0, le=1)  # a model ranking no better than this is never crowned
    grades: dict[str, float]
    champion_metric: Literal["pr_auc", "roc_auc"]
    promotion_margin: float = Field(ge=0)  # the paired lead's lower bound must exceed it
    capacity_leads: int = Field(ge=1)  # leads sales can work per month
    capacity_accounts: int = Field(ge=1)  # accounts sales can work per month
    bootstrap_resamples: int = Field(ge=10)  # resamples by account for every interval
    bootstrap_seed: int
    interval: float = Field(gt=0, lt=1)  # the intervals' coverage


class ReportParams(Section):
    """The revenue team's report."""

    currency: str | None  # how money is written ("BRL", "$"); none: bare amounts


class ScoreParams(Section):
    """Nightly scoring."""

    model: str  # registry URI or a model folder
    account_model: str  # or "none"
    qualify: Literal["top_n", "threshold"]
    capacity_per_run: int = Field(ge=1)  # top_n: leads handed over per run (not per month)
    account_capacity_per_run: int = Field(ge=1)  # top_n: accounts handed over per run
    rehand_after_days: int = Field(ge=0)  # a lead handed over is held back this long
    threshold: float = Field(ge=0, le=1)  # threshold: qualified at this probability
    lead_id_pattern: str
    chunk_rows: int = Field(ge=1)
    max_reject_share: float = Field(ge=0, le=1)  # above: the export is broken, stop
    drift_warn_psi: float = Field(gt=0)
    min_context_ratio: float = Field(ge=0)  # touches per lead vs training: below, refuse


class FlatParams(Section):
    """Flat mode: one table of leads (mqlscore train-flat)."""

    leak_auc: float = Field(gt=0.5, le=1)  # a column alone this good was recorded too late
    name_leak_auc: float = Field(gt=0.5, le=1)  # ... or this good with a sales-hand name
    test_share: float = Field(gt=0, lt=1)
    valid_share: float = Field(gt=0, lt=1)
    seed: int
    model_name: str  # registered in MLflow under this name


class FlatSource(Section):
    """One flat lead file `dvc repro` trains on (the train_flat stage): its path, the
    outcome column, and the id and date columns ('' for none: DVC writes a null into a
    command as the word None)."""

    file: Path
    target: str = Field(min_length=1)
    id: str
    date: str  # '' : a stratified split; a column: the latest rows are the test rows


class SourceParams(Section):
    """Where the training data comes from: mapping files (none: the synthetic world) and
    the folder of export files they read; and a flat lead file, when a team has one
    (`source.flat`, one entry at most: the train_flat stage writes models/flat)."""

    mappings: tuple[Path, ...]
    input: Path
    flat: tuple[FlatSource, ...] = Field(default=(), max_length=1)


S = TypeVar("S", bound=Section)
SYNTHETIC = "synthetic"


class ParamsError(Refusal, ValueError):
    """params.yaml is missing a section or holds a bad value."""


def _yaml(path: Path) -> dict:
    from mqlscore.io import read_yaml

    try:
        data = read_yaml(path) or {}
    except (OSError, ValueError, yaml.YAMLError) as err:
        raise ParamsError(f"{path}: cannot read: {err}") from err
    if not isinstance(data, dict):
        raise ParamsError(f"{path}: expected a YAML mapping of keys, found {type(data).__name__}")
    return data


def _mappings(data: dict) -> list[tuple[Path, dict]]:
    """The mapping files `source.mappings` names, read (a malformed `source` names none:
    reading that section refuses it)."""
    source = data.get("source")
    names = source.get("mappings") if isinstance(source, dict) else None
    names = names if isinstance(names, list | tuple) else ()
    return [(Path(p), _yaml(Path(p))) for p in names if isinstance(p, str)]


PARAMS_FILE = "params.yaml"


def find_params(given: Path | None = None, start: Path | None = None) -> Path:
    """The params.yaml a command reads: `given` (--params), else the first one found
    walking up from `start` (the current folder) to the root. Its folder is the project
    folder (the MLflow store's). None found: a refusal, before anything is written."""
    if given is not None:
        if not given.is_file():
            raise ParamsError(f"{given}: no such params file")
        return given
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / PARAMS_FILE).is_file():
            return folder / PARAMS_FILE
    raise ParamsError(
        f"no {PARAMS_FILE} in {here} or any folder above it: run inside the project folder "
        "or pass --params PATH/params.yaml"
    )


def load_section(
    params_file: Path, section: str, model: type[S], mappings: list[Path] | None = None
) -> S:
    """Read one section of params.yaml into its typed model, with the overrides of the
    source's mapping files (their `params` block) applied on top: those params.yaml names
    (`source.mappings`), or `mappings` when given (nightly `score --mapping`)."""
    data = _yaml(params_file)
    if section not in data:
        raise ParamsError(f"{params_file}: no '{section}' section")
    values = data[section] or {}
    if not isinstance(values, dict):
        raise ParamsError(f"{params_file}: section '{section}' is not a mapping of keys")
    values = dict(values)
    named = [(Path(p), _yaml(Path(p))) for p in mappings] if mappings else _mappings(data)
    for path, mapping in named:
        overrides = mapping.get("params") or {}
        if not isinstance(overrides, dict):
            raise ParamsError(f"{path}: params is not a mapping of params.yaml sections")
        if not isinstance(overrides.get(section) or {}, dict):
            raise ParamsError(f"{path}: params.{section} is not a mapping of params.yaml keys")
        values |= overrides.get(section) or {}
    try:
        return model.model_validate(values)
    except ValidationError as err:
        raise ParamsError(f"{params_file}: section '{section}' is invalid: {_said(err)}") from err


def _said(err: ValidationError) -> str:
    """Pydantic's errors in one line: each key, what is wrong and the value given."""
    return "; ".join(
        f"{'.'.join(map(str, e['loc'])) or 'the section'}: {e['msg']}"
        + (f" (found {e['input']!r})"[:120] if "input" in e and e["type"] != "missing" else "")
        for e in err.errors()
    )


def source_name(params_file: Path) -> str:
    """The source's name: `synthetic`, or its mapping files' names joined by `-`."""
    names = [m.get("name") or p.stem for p, m in _mappings(_yaml(params_file))]
    return "-".join(names) or SYNTHETIC


def registered_name(params_file: Path, prefix: str, kind: str) -> str:
    """The registered model of a source and kind: `mqlscore-lead` for the synthetic
    world, `mqlscore-olist-lead` for a mapped source, so sources never share a champion."""
    name = source_name(params_file)
    return f"{prefix}-{kind}" if name == SYNTHETIC else f"{prefix}-{name}-{kind}"


def not_a_kind(params_file: Path, kind: str, kinds: tuple[str, ...]) -> str:
    """Why a stage of `kind` may not run: the source (its mapping's params) trains only
    `kinds`, while dvc.yaml runs a stage per params.yaml's own `train.kinds`."""
    return (
        f"this source trains train.kinds {list(kinds)} (its mapping's params), not {kind}: "
        f"set train.kinds: {list(kinds)} in {params_file} (dvc.yaml runs one stage per kind "
        "listed there)"
    )
