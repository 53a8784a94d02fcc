"""Great Expectations suites, as code, for the raw tables and the model table.

Suites are built from the canonical schema (`mqlscore.schema`) and the `validate` params,
run on an ephemeral GX context, and read back as `Check`s that name the table, the
column, what was expected in plain words, how many rows fail and example ids. Every
expectation carries `meta.severity`: "fatal" stops the run, "warning" is only reported.
The same results give row-level failures, so nightly scoring can reject single rows.
"""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from mqlscore.config import ValidateParams
from mqlscore.privacy import PERSONAL_COLUMN, looks_like_phone
from mqlscore.schema import (
    EMAIL_PATTERN,
    FOREIGN_KEYS,
    ONE_OF_KEYS,
    OPTIONAL_KEYS,
    PICKLISTS,
    PRIMARY_KEYS,
    SOFT_FOREIGN_KEYS,
    TABLES,
)

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
import great_expectations as gx
from great_expectations import expectations as gxe

log = logging.getLogger(__name__)
EXAMPLES = 5
_KIND_TYPES = {
    "id": ["object", "str", "string", "category", "int64", "Int64", "int32"],
    "str": ["object", "str", "string", "category"],
    # whole numbers with blanks: GX cannot type pandas' nullable Int64, so run_suites hands
    # them over as float64
    "int": ["int64", "Int64", "int32", "Int32", "int16", "int8", "float64"],
    "float": ["float64", "float32", "Float64", "int64", "Int64", "int32"],
    "bool": ["bool", "boolean", "BooleanDtype", "object"],
    "time": ["datetime64", "datetime64[ns]", "datetime64[us]", "datetime64[ms]"],
}


@dataclass(frozen=True)
class Check:
    """The outcome of one expectation on one table."""

    table: str
    column: str
    expectation: str
    says: str
    severity: str
    failed_rows: int = 0
    examples: list[str] = field(default_factory=list)
    observed: str = ""
    values: list[str] = field(default_factory=list)  # a picklist's unexpected values

    @property
    def passed(self) -> bool:
        return self.failed_rows == 0 and not self.observed

    def message(self) -> str:
        where = f"{self.table}.{self.column}" if self.column != "*" else self.table
        if self.observed:
            return f"{where}: expected {self.says}; found {self.observed}"
        ids = ", ".join(self.examples)
        found = f"; found {', '.join(self.values)}" if self.values else ""
        return f"{where}: expected {self.says}; {self.failed_rows} row(s) fail (e.g. {ids}){found}"


def _meta(says: str, severity: str = "fatal") -> dict[str, str]:
    return {"says": says, "severity": severity}


def raw_suites(
    tables: dict[str, pd.DataFrame],
    params: ValidateParams,
    exported_at: pd.Timestamp,
    baseline_rows: dict[str, int] | None = None,
) -> dict[str, list[Any]]:
    """Expectations per raw table given (an optional table only where the source has
    it). Foreign-key sets come from the parent tables given."""
    latest = exported_at + pd.Timedelta(days=params.max_future_days)
    suites: dict[str, list[Any]] = {}
    for table, columns in TABLES.items():
        if table not in tables:
            continue
        frame = tables[table]
        present = [c for c in columns if c in frame.columns]
        exps: list[Any] = [
            gxe.ExpectTableColumnsToMatchSet(
                column_set=list(columns),
                exact_match=False,
                meta=_meta(f"columns {', '.join(columns)}"),
            ),
            gxe.ExpectTableColumnsToMatchSet(
                column_set=[*columns, *_found_columns(tables, table)],
                exact_match=True,
                meta=_meta("no columns beyond the canonical ones", "warning"),
            ),
        ]
        for column in present:
            kind = columns[column]
            exps.append(
                gxe.ExpectColumnValuesToBeInTypeList(
                    column=column, type_list=_KIND_TYPES[kind], meta=_meta(f"{kind} values")
                )
            )
            if kind == "time" and (table, column) not in PLANNED:
                exps.append(
                    gxe.ExpectColumnValuesToBeBetween(
                        column=column,
                        max_value=latest,
                        meta=_meta(f"no timestamp after the export ({latest:%Y-%m-%d %H:%M})"),
                    )
                )
        key = PRIMARY_KEYS.get(table)
        if key in present:
            exps += [
                gxe.ExpectColumnValuesToNotBeNull(column=key, meta=_meta("every row has an id")),
                gxe.ExpectColumnValuesToBeUnique(column=key, meta=_meta("unique ids")),
            ]
        for child, column, parent, soft in _key_links(tables):
            if child != table:
                continue
            exps.append(
                gxe.ExpectColumnValuesToBeInSet(
                    column=found_column(column, parent),  # a yes/no per row: no id list
                    value_set=[True],
                    meta=_meta(
                        f"every value found in {parent}.{FOREIGN_KEYS_ALL[child, column][1]}",
                        "warning" if soft else "fatal",
                    )
                    | {"column": column},
                )
            )
            if (table, column) not in OPTIONAL_KEYS and not soft:
                exps.append(
                    gxe.ExpectColumnValuesToNotBeNull(
                        column=column, meta=_meta(f"every row points to a {parent} row")
                    )
                )
        exps += _one_of_rules(table, present)
        exps += _value_rules(table, present, params)
        if baseline_rows and table in baseline_rows:
            before = baseline_rows[table]
            exps.append(
                gxe.ExpectTableRowCountToBeBetween(
                    min_value=int(before * params.volume_min_ratio),
                    max_value=int(before * params.volume_max_ratio) + 1,
                    meta=_meta(
                        f"a row count near the last accepted run's {before:,} "
                        f"(x{params.volume_min_ratio} to x{params.volume_max_ratio})"
                    ),
                )
            )
        if table == "engagement" and "occurred_at" in present:
            oldest = exported_at - pd.Timedelta(days=params.max_event_lag_days)
            exps.append(
                gxe.ExpectColumnMaxToBeBetween(
                    column="occurred_at",
                    min_value=oldest,
                    meta=_meta(f"a newest event after {oldest:%Y-%m-%d} (fresh export)"),
                )
            )
        suites[table] = exps
    return suites


FOREIGN_KEYS_ALL = FOREIGN_KEYS | SOFT_FOREIGN_KEYS


def _key_links(tables: dict[str, pd.DataFrame]) -> list[tuple[str, str, str, bool]]:
    """(child, column, parent, soft) for each foreign key with both sides in `tables`."""
    return [
        (child, column, parent, (child, column) in SOFT_FOREIGN_KEYS)
        for (child, column), (parent, key) in FOREIGN_KEYS_ALL.items()
        if column in tables.get(child, {}) and key in tables.get(parent, {})
    ]


def found_column(column: str, parent: str) -> str:
    """The yes/no column `with_found_keys` adds for a foreign key."""
    return f"{column} found in {parent}"


def _found_columns(tables: dict[str, pd.DataFrame], table: str) -> list[str]:
    return [found_column(c, p) for child, c, p, _ in _key_links(tables) if child == table]


def with_found_keys(tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """The tables with a yes/no column per foreign key: its value is found in the parent
    table (or blank). GX checks that column, not the value against a list of every id (a
    list GX serialises on every step: most of validate's time, and every id in the Data
    Docs)."""
    out = dict(tables)
    for child, column, parent, _ in _key_links(tables):
        ids = set(tables[parent][FOREIGN_KEYS_ALL[child, column][1]].dropna().astype(str))
        values = out[child][column]
        found = values.isna() | values.astype(str).isin(ids)
        out[child] = out[child].assign(**{found_column(column, parent): found.to_numpy()})
    return out


def _one_of_rules(table: str, present: list[str]) -> list[Any]:
    """Rows whose keys of `ONE_OF_KEYS` are all blank (a sales touch on nobody): fatal."""
    keys = ONE_OF_KEYS.get(table, ())
    if not keys or not set(keys) <= set(present):
        return []
    first, *others = keys
    return [
        gxe.ExpectColumnValuesToNotBeNull(
            column=first,
            row_condition=" & ".join(f"{c}.isnull()" for c in others),
            condition_parser="pandas",
            meta=_meta(f"a {' or an '.join(keys)} on every row (not both blank)"),
        )
    ]


# Picklists: our types, or `other` (a mapping's `_other`); a failure names the values found.
_SAYS = {"activity_type": "a known activity type", "type": "a known sales activity"}
KNOWN_VALUES: dict[tuple[str, str], tuple[tuple[str, ...], str]] = {
    (table, column): (PICKLISTS[table, column], _SAYS[column])
    for table, column in (("engagement", "activity_type"), ("sales_activities", "type"))
}
MIN_VALUES: dict[tuple[str, str], tuple[float, str]] = {
    ("accounts", "employees"): (1, "at least 1 employee"),
    ("accounts", "annual_revenue"): (0, "revenue of 0 or more"),
    ("opportunities", "amount"): (0, "an amount of 0 or more"),
    ("campaigns", "budgeted_cost"): (0, "a budget of 0 or more"),
    ("campaigns", "actual_cost"): (0, "a cost of 0 or more"),
}
# Times that may lie after the export: a campaign planned for next quarter
PLANNED: frozenset[tuple[str, str]] = frozenset({("campaigns", "started_at")})


def _value_rules(table: str, present: list[str], params: ValidateParams) -> list[Any]:
    has = set(present).__contains__
    rules: list[Any] = [
        gxe.ExpectColumnValuesToBeInSet(
            column=column, value_set=list(allowed), meta=_meta(f"{says} ({', '.join(allowed)})")
        )
        for (name, column), (allowed, says) in KNOWN_VALUES.items()
        if name == table and has(column)
    ]
    rules += [
        gxe.ExpectColumnValuesToBeBetween(
            column=column,
            min_value=low,
            max_value=sys.float_info.max,  # an infinity fails it
            meta=_meta(f"{says}, finite"),
        )
        for (name, column), (low, says) in MIN_VALUES.items()
        if name == table and has(column)
    ]
    rules += _quiet_gaps(table, present)
    if table == "opportunities":
        if has("closed_at") and has("created_at"):
            rules += _closed_after_created(params.max_backdated_deal_share)
        if has("closed_at") and has("is_won"):
            rules.append(
                gxe.ExpectColumnValuesToNotBeInSet(
                    column="is_won",
                    value_set=[True],
                    row_condition="closed_at.isnull()",
                    condition_parser="pandas",
                    meta=_meta("no open deal marked won (is_won only on closed deals)"),
                )
            )
        if has("account_id"):
            rules.append(
                gxe.ExpectColumnValuesToNotBeNull(
                    column="account_id",
                    meta=_meta("every deal on an account (else it feeds no account)", "warning"),
                )
            )
        if has("amount") and has("is_won"):
            rules.append(
                gxe.ExpectColumnValuesToNotBeNull(
                    column="amount",
                    row_condition="is_won == True",
                    condition_parser="pandas",
                    meta=_meta(
                        "an amount on every won deal (else won revenue reads low)", "warning"
                    ),
                )
            )
    if table == "leads" and has("email"):
        rules += [
            gxe.ExpectColumnValuesToNotBeNull(
                column="email",
                mostly=params.email_present_min_share,
                meta=_meta(f"an email on at least {params.email_present_min_share:.0%} of leads"),
            ),
            gxe.ExpectColumnValuesToMatchRegex(
                column="email",
                regex=EMAIL_PATTERN,
                mostly=params.email_valid_min_share,
                meta=_meta(
                    f"well-formed emails on at least {params.email_valid_min_share:.0%} of leads"
                ),
            ),
        ]
    return rules


def _quiet_gaps(table: str, present: list[str]) -> list[Any]:
    """What passes every type check yet quietly loses rows: warnings naming the count."""
    has = set(present).__contains__
    gaps: list[Any] = []
    if table in ("leads", "opportunities") and has("created_at"):
        gaps.append(
            gxe.ExpectColumnValuesToNotBeNull(
                column="created_at",
                meta=_meta(
                    f"a created_at on every row (else the {table[:-1]} gets no rows)", "warning"
                ),
            )
        )
    if table == "leads" and has("email") and has("account_id"):
        gaps.append(
            gxe.ExpectColumnValuesToNotBeNull(
                column="email",
                row_condition="account_id.isnull()",
                condition_parser="pandas",
                meta=_meta(
                    "an email or an account on every lead (else nothing matches it)", "warning"
                ),
            )
        )
    if table == "opportunity_contacts" and has("opportunity_id") and has("lead_id"):
        gaps.append(
            gxe.ExpectCompoundColumnsToBeUnique(
                column_list=["opportunity_id", "lead_id", *(["role"] if has("role") else [])],
                meta=_meta(
                    "each person once per deal and role (duplicated rows count twice)", "warning"
                ),
            )
        )
    return gaps


def _closed_after_created(share: float) -> list[Any]:
    """A deal closes on or after it is created; migrated or imported deals (created on the
    import day) may break that on up to `share` of deals, each counted in a warning."""

    def pair(mostly: float, says: str, severity: str) -> Any:
        return gxe.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A="closed_at",
            column_B="created_at",
            or_equal=True,
            ignore_row_if="either_value_is_missing",
            mostly=mostly,
            meta=_meta(says, severity),
        )

    if not share:
        says = "closed_at on or after created_at (migrated deals? see max_backdated_deal_share)"
        return [pair(1.0, says, "fatal")]
    accepted = pair(1.0, "closed_at on or after created_at (back-dated: accepted)", "warning")
    if share >= 1:
        return [accepted]
    says = f"closed_at on or after created_at on at least {1 - share:.0%} of deals"
    return [pair(1 - share, says, "fatal"), accepted]


def model_table_suite(
    params: ValidateParams, features: list[str], key: str = "lead_id", audit: tuple[str, ...] = ()
) -> list[Any]:
    """Expectations on a snapshot table a model learns from (lead or account rows):
    one row per key and snapshot, the audit timestamps before it, the label rate in its
    band, no feature mostly missing."""
    exps: list[Any] = [
        gxe.ExpectCompoundColumnsToBeUnique(
            column_list=[key, "snapshot_date"],
            meta=_meta(f"one row per {key.removesuffix('_id')} and snapshot"),
        ),
        *(
            gxe.ExpectColumnPairValuesAToBeGreaterThanB(
                column_A="snapshot_date",
                column_B=column,
                ignore_row_if="either_value_is_missing",
                meta=_meta(f"features built only from rows before the snapshot ({column})"),
            )
            for column in audit
        ),
        gxe.ExpectColumnMeanToBeBetween(
            column="label",
            min_value=params.label_rate_min,
            max_value=params.label_rate_max,
            row_condition="label_complete == 1",
            condition_parser="pandas",
            meta=_meta(
                f"a conversion rate between {params.label_rate_min:.2%} and "
                f"{params.label_rate_max:.2%}"
            ),
        ),
    ]
    exps += [
        gxe.ExpectColumnValuesToNotBeNull(
            column=column,
            mostly=1 - params.max_feature_null_share,
            meta=_meta(f"at most {params.max_feature_null_share:.0%} missing values"),
        )
        for column in features
    ]
    return exps


def timing_table(tables: dict[str, pd.DataFrame]) -> pd.DataFrame | None:
    """Each marketing touch beside its lead's creation time: a check across two tables
    (None when either table lacks a column it needs: the schema checks name that one)."""
    needs = {
        "leads": ("lead_id", "created_at"),
        "engagement": ("event_id", "lead_id", "occurred_at"),
    }
    if any(c not in tables[t].columns for t, columns in needs.items() for c in columns):
        return None
    leads = tables["leads"][["lead_id", "created_at"]].rename(
        columns={"created_at": "lead_created_at"}
    )
    return tables["engagement"][["event_id", "lead_id", "occurred_at"]].merge(leads, on="lead_id")


def timing_suite() -> list[Any]:
    """Touches dated before their lead existed: a broken date or a wrong lead id."""
    return [
        gxe.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A="occurred_at",
            column_B="lead_created_at",
            or_equal=True,
            ignore_row_if="either_value_is_missing",
            meta=_meta("no touch before its lead was created", "warning"),
        )
    ]


def _gx_dtypes(frame: pd.DataFrame) -> pd.DataFrame:
    """Nullable integer columns as float64, the one form GX's type check reads."""
    nullable = [c for c in frame.columns if str(frame[c].dtype) in ("Int64", "Int32")]
    return frame.astype({c: "float64" for c in nullable}) if nullable else frame


EMAIL_PARTS = r"^(?P<local>.*)@(?P<domain>[^@]*)$"


def _shape(text: pd.Series) -> pd.Series:
    """Every letter and digit as `x`: the shape a check sees, not the value."""
    return text.str.replace(r"\w", "x", regex=True)


def _masked(frame: pd.DataFrame) -> pd.DataFrame:
    """What the Data Docs may show: emails with their local part masked
    (`xxxxx.xxxxx@acme.com`, the shape the format checks read) in whatever column they
    stand, phone numbers as their shape, and every cell of a column about a person (a
    name, a phone) as its shape."""
    masked = {}
    for column in frame.columns:
        if frame[column].dtype != object and str(frame[column].dtype) != "string":
            continue
        text = frame[column].astype("string")
        if column != "email" and PERSONAL_COLUMN.search(column):
            hidden = _shape(text)
        elif column == "email" or text.str.contains("@", regex=False).any():
            parts = text.str.extract(EMAIL_PARTS)
            rest = _shape(text) if column == "email" else text  # no address: as it is
            hidden = (_shape(parts["local"]) + "@" + parts["domain"]).fillna(rest)
        else:
            hidden = text
        phones = looks_like_phone(hidden)
        if hidden is text and not phones.any():
            continue
        hidden = hidden.mask(phones, _shape(hidden))
        masked[column] = hidden.astype(object).where(text.notna(), None)
    return frame.assign(**masked) if masked else frame


def run_suites(
    frames: dict[str, pd.DataFrame],
    suites: dict[str, list[Any]],
    docs_dir: Path | None = None,
) -> tuple[list[Check], dict[str, pd.DataFrame]]:
    """Validate each frame with its suite; return the checks and the failing rows per table.

    Failing rows hold one line per (row position, reason) of every column-level
    expectation, failed or within its `mostly`. With `docs_dir`, GX Data Docs HTML is
    written there.
    """
    frames = {name: _masked(_gx_dtypes(frame)) for name, frame in frames.items()}
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = {"globally": False, "metric_calculations": False}
    actions = []
    if docs_dir is not None:
        context.add_data_docs_site(
            site_name="mqlscore",
            site_config={
                "class_name": "SiteBuilder",
                "store_backend": {
                    "class_name": "TupleFilesystemStoreBackend",
                    "base_directory": str(Path(docs_dir).resolve()),
                },
                "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
            },
        )
        actions.append(gx.checkpoint.UpdateDataDocsAction(name="data_docs"))
    source = context.data_sources.add_pandas("mqlscore")
    checks: list[Check] = []
    failing: dict[str, list[pd.DataFrame]] = {}
    for name, expectations in suites.items():
        frame = _as_text(frames[name].reset_index(drop=True))
        batch = source.add_dataframe_asset(name=name).add_batch_definition_whole_dataframe(name)
        copies = [e.copy() for e in expectations]  # an expectation belongs to one suite only
        suite = context.suites.add(gx.ExpectationSuite(name=name, expectations=copies))
        definition = context.validation_definitions.add(
            gx.ValidationDefinition(data=batch, suite=suite, name=name)
        )
        checkpoint = context.checkpoints.add(
            gx.Checkpoint(
                name=name,
                validation_definitions=[definition],
                actions=actions,
                result_format={
                    "result_format": "COMPLETE",
                    "return_unexpected_index_query": False,
                },
            )
        )
        result = checkpoint.run(batch_parameters={"dataframe": frame})
        for validation in result.run_results.values():
            for outcome in validation.results:
                check, rows = _read(name, frame, outcome)
                checks.append(check)
                if rows is not None and len(rows):
                    failing.setdefault(name, []).append(rows)
    return checks, {name: pd.concat(parts, ignore_index=True) for name, parts in failing.items()}


def _as_text(frame: pd.DataFrame) -> pd.DataFrame:
    """Categorical columns as plain text: GX cannot type-check pandas categoricals."""
    cats = [c for c in frame.columns if isinstance(frame[c].dtype, pd.CategoricalDtype)]
    return frame.astype({c: "object" for c in cats}) if cats else frame


def _read(table: str, frame: pd.DataFrame, outcome: Any) -> tuple[Check, pd.DataFrame | None]:
    """Turn one GX expectation result into a Check and its failing row positions."""
    config = outcome.expectation_config
    kwargs, meta, result = config.kwargs, config.meta or {}, outcome.result or {}
    column = (
        meta.get("column")
        or kwargs.get("column")
        or ",".join(str(kwargs[k]) for k in ("column_A", "column_B") if k in kwargs)
        or ",".join(kwargs.get("column_list", []))
        or "*"
    )
    says, severity = meta.get("says", config.type), meta.get("severity", "fatal")
    if outcome.exception_info and outcome.exception_info.get("raised_exception"):
        message = outcome.exception_info.get("exception_message", "error")
        return Check(
            table, column, config.type, says, severity, observed=f"an error: {message}"
        ), None
    positions = [i for i in result.get("unexpected_index_list") or [] if isinstance(i, int)]
    rows = None
    if positions:
        rows = pd.DataFrame({"row": positions, "column": column, "reason": f"expected {says}"})
    # The exact-match column check (GX's default) is the warning about extra columns.
    extras_only = config.type == "expect_table_columns_to_match_set" and kwargs.get(
        "exact_match", True
    )
    if outcome.success or (extras_only and not _mismatched(result).get("unexpected")):
        return Check(table, column, config.type, says, severity), rows
    if "unexpected_count" in result:
        key = PRIMARY_KEYS.get(table)
        ids = frame.loc[positions[:EXAMPLES], key] if key in frame else None
        examples = (
            ids.astype(str).tolist() if ids is not None else [f"row {p}" for p in positions[:5]]
        )
        values = _unexpected_values(result) if (table, column) in KNOWN_VALUES else []
        return (
            Check(
                table,
                column,
                config.type,
                says,
                severity,
                int(result["unexpected_count"]),
                examples,
                values=values,
            ),
            rows,
        )
    observed = _observed(result, extras_only)
    return Check(table, column, config.type, says, severity, observed=observed), rows


def _unexpected_values(result: dict[str, Any]) -> list[str]:
    """The distinct values that failed a check, the most frequent first (at most EXAMPLES)."""
    found = pd.Series(result.get("unexpected_list") or [], dtype=object).astype(str)
    return found.value_counts(sort=True).index[:EXAMPLES].tolist()


def _mismatched(result: dict[str, Any]) -> dict[str, Any]:
    return (result.get("details") or {}).get("mismatched") or {}


def _observed(result: dict[str, Any], extras_only: bool = False) -> str:
    mismatched = _mismatched(result)
    parts = []
    if mismatched.get("missing") and not extras_only:
        parts.append("missing column(s) " + ", ".join(map(str, mismatched["missing"])))
    if mismatched.get("unexpected"):
        parts.append("extra column(s) " + ", ".join(map(str, mismatched["unexpected"])))
    if parts:
        return "; ".join(parts)
    return f"{result.get('observed_value')!r}"


def summarize(checks: list[Check]) -> dict[str, Any]:
    """The DVC metrics view of a run: counts, then every failure and warning in full."""
    fatal = [c for c in checks if not c.passed and c.severity == "fatal"]
    warnings = [c for c in checks if not c.passed and c.severity != "fatal"]
    return {
        "checks": len(checks),
        "failed": len(fatal),
        "warnings": len(warnings),
        "rows_affected": sum(c.failed_rows for c in fatal),
        "failures": [asdict(c) | {"message": c.message()} for c in fatal],
        "warning_details": [asdict(c) | {"message": c.message()} for c in warnings],
    }


def log_checks(result: dict, what: str) -> bool:
    """Log a summary's warnings and failures, then one line; True when nothing failed."""
    for item in result["warning_details"]:
        log.warning("warning: %s", item["message"])
    for item in result["failures"]:
        log.error("FAILED: %s", item["message"])
    if result["failed"]:
        log.error(
            "%s: %d of %d checks failed (%d rows affected); see the summary and Data Docs",
            what,
            result["failed"],
            result["checks"],
            result["rows_affected"],
        )
        return False
    log.info("%s: %d checks passed, %d warnings", what, result["checks"], result["warnings"])
    return True
