"""Who was handed to sales and when: qualifying a run's leads within capacity."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from mqlscore.config import ScoreParams

HANDOVERS = "handovers.parquet"  # every lead handed over, when, by which run


HISTORY_COLUMNS = ["lead_id", "handed_over_at", "run"]


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
