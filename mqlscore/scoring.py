"""Scoring: rank, qualify, grade and explain feature rows, and shape the published
lead and account tables (names and order are stable, documented in the README)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mqlscore.config import ScoreParams
from mqlscore.console import progress
from mqlscore.drift import bin_counts
from mqlscore.io import atomic_path, write_parquet
from mqlscore.model import grade, score_0_100
from mqlscore.reasons import explain as explain_rows

log = logging.getLogger(__name__)
# What a scoring run publishes, the manifest last (it says the set is complete).
OUTPUT_FILES = (
    "lead_scores.parquet",
    "lead_scores.csv",
    "account_scores.parquet",
    "account_scores.csv",
    "rejects.csv",
    "handovers.parquet",
    "manifest.json",
)
HANDOVERS = "handovers.parquet"  # every lead handed over, when, by which run
HISTORY_COLUMNS = ["lead_id", "handed_over_at", "run"]

REASON_COLUMNS = [f"reason_{d}_{k}" for d in ("up", "down") for k in (1, 2, 3)]
# The published output: names and order are stable (documented in the README).
LEAD_COLUMNS = [
    "lead_id",
    "account_id",
    "match_rule",
    "probability",
    "score",
    "grade",
    "rank",
    "top_percent",
    "qualified",
    "handed_over_at",
    "on_open_opportunity",
    "marketing_mql",
    "marketing_points",
    *REASON_COLUMNS,
]
ACCOUNT_COLUMNS = [
    "account_id",
    "probability",
    "score",
    "grade",
    "rank",
    "qualified",
    "on_open_opportunity",
    "engaged_buying_group_members",
    "buying_group_coverage",
    "leads_scored",
    "best_lead_id",
    "best_lead_score",
    *REASON_COLUMNS,  # the account model's own reasons, by the same rules
]


@dataclass(frozen=True)
class Handovers:
    """Earlier hand-overs as a run sees them: each lead's latest before the run date; a
    lead handed over within `days` of the run is not handed over again."""

    last: pd.Series  # lead_id -> latest hand-over before the run
    run_date: pd.Timestamp
    days: int

    def held(self, lead_ids: np.ndarray) -> np.ndarray:
        """Leads handed over within the window: scored and ranked, never qualified."""
        since = self.run_date - pd.Timedelta(days=self.days)
        return (self.last.reindex(lead_ids) >= since).to_numpy(dtype=bool)

    def when(self, lead_ids: np.ndarray, qualified: np.ndarray) -> np.ndarray:
        """Each lead's latest hand-over, tonight's included (NaT: never)."""
        last = self.last.reindex(lead_ids).to_numpy(dtype="datetime64[us]")
        return np.where(qualified, np.datetime64(self.run_date, "us"), last)


def _naive(when: pd.Timestamp) -> pd.Timestamp:
    when = pd.Timestamp(when)
    return when.tz_convert(None) if when.tz is not None else when


def empty_history() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "lead_id": pd.Series([], dtype=object),
            "handed_over_at": pd.Series([], dtype="datetime64[us]"),
            "run": pd.Series([], dtype=object),
        }
    )


def handovers_as_of(history: pd.DataFrame, run_date: pd.Timestamp, days: int) -> Handovers:
    """What the hand-over history says on the run date (later entries are ignored)."""
    run_date = _naive(run_date)
    earlier = history[history["handed_over_at"] < run_date]
    last = earlier.groupby("lead_id")["handed_over_at"].max()
    return Handovers(last, run_date, days)


def updated_history(
    history: pd.DataFrame, scored: pd.DataFrame, run_date: pd.Timestamp
) -> pd.DataFrame:
    """The history with this run's hand-overs; an earlier run of the same date is
    replaced (a re-run of a night gives the same list, not a shorter one)."""
    run_date = _naive(run_date)
    kept = history[history["handed_over_at"] != run_date]
    handed = scored.loc[scored["qualified"], "lead_id"].astype(str)
    new = pd.DataFrame(
        {
            "lead_id": handed.to_numpy(dtype=object),
            "handed_over_at": pd.Series(run_date, index=range(len(handed))).astype(
                "datetime64[us]"
            ),
            "run": str(run_date),
        }
    )
    merged = pd.concat([kept, new], ignore_index=True) if len(kept) else new
    merged["handed_over_at"] = merged["handed_over_at"].astype("datetime64[us]")
    return merged.sort_values(["handed_over_at", "lead_id"]).reset_index(drop=True)[
        HISTORY_COLUMNS
    ]


def qualify(
    probability: np.ndarray,
    lead_ids: np.ndarray,
    open_deal: np.ndarray,
    config: ScoreParams,
    held: np.ndarray | None = None,
    capacity: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Rank (1 = best; ties by lead id) and the qualified decision: the top
    `capacity_per_run` leads, or all at `threshold` and above. Leads already on an open
    deal, or `held` (handed over recently), never qualify; the next ones take their place."""
    order = np.lexsort((lead_ids, -probability))
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(1, len(order) + 1)
    eligible = open_deal == 0
    if held is not None:
        eligible &= ~held
    if config.qualify == "threshold":
        return rank, eligible & (probability >= config.threshold)
    eligible_rank = np.empty(len(order), dtype=np.int64)
    eligible_rank[order] = np.cumsum(eligible[order])
    limit = config.capacity_per_run if capacity is None else capacity
    return rank, eligible & (eligible_rank <= limit)


def top_percent(rank: np.ndarray, total: int) -> np.ndarray:
    """Where a lead stands among tonight's scored leads, as a rep reads it: 1 is the
    top 1% of the run (rank 1 of 26,667 is top 1%, the median lead top 50%)."""
    return np.ceil(100 * np.asarray(rank, dtype=float) / max(total, 1)).astype("int64")


def lead_output(
    features: pd.DataFrame,
    probability: np.ndarray,
    rank: np.ndarray,
    qualified: np.ndarray,
    reasons: pd.DataFrame | None,
    cuts: dict[str, float],
    handed_over_at: np.ndarray | None = None,
    scored_total: int = 0,
) -> pd.DataFrame:
    """The published lead rows for one chunk (`scored_total`: the run's scored leads,
    which `top_percent` is a share of)."""
    out = pd.DataFrame(
        {
            "lead_id": features["lead_id"].to_numpy(),
            "account_id": features["account_id"].to_numpy(),
            "match_rule": features["match_rule"].to_numpy(),
            "probability": np.round(probability, 6),
            "score": score_0_100(probability),
            "grade": grade(probability, cuts),
            "rank": rank,
            "top_percent": top_percent(rank, scored_total or len(features)),
            "qualified": qualified.astype(bool),
            "handed_over_at": np.full(len(features), np.datetime64("NaT"), "datetime64[us]")
            if handed_over_at is None
            else handed_over_at,
            "on_open_opportunity": features["on_open_opportunity"].astype(bool).to_numpy(),
            "marketing_mql": features["is_mql"].astype(bool).to_numpy(),
            "marketing_points": features["marketing_points"].astype("int64").to_numpy(),
        }
    )
    for column in REASON_COLUMNS:
        out[column] = "" if reasons is None else reasons[column].to_numpy()
    return out[LEAD_COLUMNS]


def account_output(
    accounts: pd.DataFrame,
    probability: np.ndarray,
    leads: pd.DataFrame,
    cuts: dict[str, float],
    config: ScoreParams,
    reasons: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per account: its score, rank and the hand-over decision (as for leads,
    never an account already on an open deal), buying-group engagement, its best lead,
    and the account model's three strongest reasons each way."""
    out = pd.DataFrame(
        {
            "account_id": accounts["account_id"].to_numpy(),
            "probability": np.round(probability, 6),
            "score": score_0_100(probability),
            "grade": grade(probability, cuts),
            "on_open_opportunity": accounts["on_open_opportunity"].astype(bool).to_numpy(),
            "engaged_buying_group_members": accounts["account_engaged_contacts_90d"]
            .astype("int64")
            .to_numpy(),
            "buying_group_coverage": accounts["buying_group_coverage"].round(3).to_numpy(),
        }
    )
    out["rank"], out["qualified"] = qualify(
        probability,
        out["account_id"].to_numpy(),
        out["on_open_opportunity"].to_numpy(),
        config,
        capacity=config.account_capacity_per_run,
    )
    matched = leads.dropna(subset=["account_id"]).sort_values(["rank"])
    best = matched.drop_duplicates("account_id").set_index("account_id")
    counts = matched.groupby("account_id").size()
    out["leads_scored"] = out["account_id"].map(counts).fillna(0).astype("int64")
    out["best_lead_id"] = out["account_id"].map(best["lead_id"])
    out["best_lead_score"] = out["account_id"].map(best["score"]).astype("Int64")
    for column in REASON_COLUMNS:
        out[column] = "" if reasons is None else reasons[column].to_numpy()
    return out[ACCOUNT_COLUMNS]


def _batches(path: Path, rows: int, columns: list[str]) -> tuple[int, Any]:
    """How many chunks, and a generator of them (only `columns`)."""
    import pyarrow.parquet as pq

    source = pq.ParquetFile(path)
    count = -(-source.metadata.num_rows // rows)
    chunks = (b.to_pandas() for b in source.iter_batches(batch_size=rows, columns=columns))
    return count, chunks


def _unique(columns: list[str]) -> list[str]:
    return list(dict.fromkeys(columns))


def _lead_schema():  # noqa: ANN202
    import pyarrow as pa

    kinds = {
        "probability": pa.float64(),
        "score": pa.int64(),
        "rank": pa.int64(),
        "top_percent": pa.int64(),
        "qualified": pa.bool_(),
        "handed_over_at": pa.timestamp("us"),
        "on_open_opportunity": pa.bool_(),
        "marketing_mql": pa.bool_(),
        "marketing_points": pa.int64(),
    }
    return pa.schema([(c, kinds.get(c, pa.string())) for c in LEAD_COLUMNS])


def score_leads(
    features: Path,
    scorer: Any,
    config: ScoreParams,
    cuts: dict[str, float],
    explain: bool,
    stem: Path,
    probabilities: pd.Series | None = None,
    handovers: Handovers | None = None,
) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Score the lead features in chunks and stream the published rows to
    `<stem>.parquet` and `<stem>.csv` (atomically). Two passes: probabilities and drift
    counts first (the rank needs them all), then reasons and writing.

    `probabilities` (by lead id) replaces the local model, e.g. from Spark; `handovers`
    holds back the leads handed over recently. Returns each lead's id, account,
    probability, rank, score, qualified and held flags, and the drift bin counts.
    """
    import pyarrow as pa
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    keys = ["lead_id", "account_id", "on_open_opportunity"]
    shown = ["match_rule", "is_mql", "marketing_points"]
    parts, counts = [], {}
    total, chunks = _batches(features, config.chunk_rows, _unique(keys + scorer.features))
    for chunk in progress(chunks, "scoring", total=total):
        if probabilities is None:
            p = scorer.probability(chunk)
        else:
            p = probabilities.reindex(chunk["lead_id"]).to_numpy()
        parts.append(chunk[keys].assign(probability=p))
        for column, part in bin_counts(scorer.profile, chunk).items():
            counts[column] = counts.get(column, 0) + part
    empty = pd.DataFrame({k: [] for k in [*keys, "probability"]})
    scored = pd.concat(parts, ignore_index=True) if parts else empty
    p_all = scored["probability"].to_numpy(dtype=float)
    ids = scored["lead_id"].to_numpy()
    held = handovers.held(ids) if handovers else np.zeros(len(ids), dtype=bool)
    rank, qualified = qualify(p_all, ids, scored["on_open_opportunity"].to_numpy(), config, held)
    when = handovers.when(ids, qualified) if handovers else None
    scored["rank"], scored["score"], scored["qualified"] = rank, score_0_100(p_all), qualified
    scored["held"] = held
    schema = _lead_schema()
    wanted = _unique(keys + shown + (scorer.features if explain else []))
    total, chunks = _batches(features, config.chunk_rows, wanted)
    with (
        atomic_path(stem.with_suffix(".parquet")) as parquet_tmp,
        atomic_path(stem.with_suffix(".csv")) as csv_tmp,
        pq.ParquetWriter(parquet_tmp, schema) as parquet,
        pcsv.CSVWriter(str(csv_tmp), schema) as csv,
    ):
        start = 0
        if not parts:
            parquet.write_table(schema.empty_table())
        for chunk in progress(chunks, "explaining" if explain else "writing", total=total):
            stop = start + len(chunk)
            why = explain_rows(scorer, chunk) if explain else None
            rows = lead_output(
                chunk,
                p_all[start:stop],
                rank[start:stop],
                qualified[start:stop],
                why,
                cuts,
                handed_over_at=None if when is None else when[start:stop],
                scored_total=len(p_all),
            )
            table = pa.Table.from_pandas(rows, schema=schema, preserve_index=False)
            parquet.write_table(table)
            csv.write_table(table)
            start = stop
    return scored, counts


def write_table(frame: pd.DataFrame, stem: Path) -> None:
    """The same table as CSV and Parquet (one writer: same spelling), each atomically."""
    import pyarrow as pa
    import pyarrow.csv as pcsv

    write_parquet(frame, stem.with_suffix(".parquet"))
    with atomic_path(stem.with_suffix(".csv")) as tmp:
        pcsv.write_csv(pa.Table.from_pandas(frame, preserve_index=False), tmp)


# Features that drift by construction: a later export is older than the training rows.
AGES = frozenset({"lead_age_days"})


def thin_context(context: dict[str, float], features: Path, min_ratio: float) -> dict:
    """Tonight's touches per lead against training's, per context feature: an export
    whose engagement or sales table came through empty or cut scores as if nobody had
    engaged, confidently and wrongly."""
    import pyarrow.parquet as pq

    columns = [c for c in context if context[c] > 0]
    tonight = pq.read_table(features, columns=columns).to_pandas().mean() if columns else {}
    checks = {
        c: {"training": round(context[c], 4), "tonight": round(float(tonight[c]), 4)}
        for c in columns
    }
    for check in checks.values():
        check["ratio"] = round(check["tonight"] / check["training"], 4)
    thin = sorted(c for c, check in checks.items() if check["ratio"] < min_ratio)
    says = "; ".join(
        f"{c} per lead {checks[c]['tonight']} vs {checks[c]['training']} in training: the "
        "engagement or sales table looks cut"
        for c in thin
    )
    return {"per_lead": checks, "min_ratio": min_ratio, "thin": thin, "says": says}


def score_outputs(
    paths: dict[str, Path],
    scorer: Any,
    account_scorer: Any,
    config: ScoreParams,
    cuts: dict[str, float],
    explain: bool,
    staged: Path,
    probabilities: pd.Series | None = None,
    handovers: Handovers | None = None,
) -> tuple[pd.DataFrame, dict[str, np.ndarray], int]:
    """Lead scores (and account scores, with an account model) into `staged`; returns
    the scored leads, the drift bin counts and how many accounts were scored."""
    scored, counts = score_leads(
        paths["leads"],
        scorer,
        config,
        cuts,
        explain,
        staged / "lead_scores",
        probabilities,
        handovers,
    )
    if account_scorer is None:
        return scored, counts, 0
    accounts = pd.read_parquet(paths["accounts"])
    why = explain_rows(account_scorer, accounts) if explain else None
    probability = account_scorer.probability(accounts)
    rows = account_output(accounts, probability, scored, cuts, config, why)
    write_table(rows, staged / "account_scores")
    return scored, counts, len(accounts)


def drift_summary(profile: dict, counts: dict, warn_above: float) -> dict:
    """PSI of every feature against training, and those above `warn_above`. Ages and
    days-since features are left out (they drift by construction) and named."""
    from mqlscore.drift import psi

    aging = sorted(c for c in counts if c in AGES or c.startswith("days_since_"))
    compared = {c: n for c, n in counts.items() if c not in aging}
    values = psi({c: profile[c] for c in compared}, compared) if compared else {}
    drifting = {k: v for k, v in sorted(values.items()) if v > warn_above}
    for column, value in drifting.items():
        log.warning("drift: %s PSI %.3f vs training (above %.2f)", column, value, warn_above)
    return {"psi": values, "warn_above": warn_above, "drifting": drifting, "not_compared": aging}
