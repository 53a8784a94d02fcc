"""Time splits: train, validation and test periods, purged so that no label window
crosses a boundary."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from mqlscore.config import TrainParams
from mqlscore.refusal import Refusal

if TYPE_CHECKING:
    pass


class NotEnoughData(Refusal, ValueError):
    """Too few snapshots or conversions to train and test honestly."""


@dataclass(frozen=True)
class Split:
    train: pd.DataFrame
    valid: pd.DataFrame
    test: pd.DataFrame


def window_ends_by(dates: pd.Series | np.ndarray, start: object, window_days: int) -> np.ndarray:
    """Whether a snapshot lies before `start` and its label window [date, date +
    `window_days`) closes by it."""
    dates = pd.to_datetime(pd.Series(np.asarray(dates)))
    start = pd.Timestamp(start)
    return ((dates < start) & (dates + pd.Timedelta(days=window_days) <= start)).to_numpy()


def time_split(
    frame: pd.DataFrame, test_snapshots: int, valid_snapshots: int, window_days: int
) -> Split:
    """Purged split: the latest complete snapshots are test, the latest whose label
    windows close by the test start are validation, those whose windows close by the
    validation start are train.

    The snapshots between periods are an embargo, dropped rather than given shorter
    labels: a cut label would mean "converted within fewer days" near each boundary, and
    the served model is refit on every complete row anyway (`training.refit`), so the
    embargo costs the evaluation model only.
    """
    complete = frame[frame["label_complete"] == 1]
    dates = np.sort(complete["snapshot_date"].unique())
    train_dates = valid_dates = dates[:0]
    if len(dates) > test_snapshots:
        before_test = dates[window_ends_by(dates, dates[-test_snapshots], window_days)]
        if len(before_test) >= valid_snapshots:
            valid_dates = before_test[-valid_snapshots:]
            train_dates = dates[window_ends_by(dates, valid_dates[0], window_days)]
    if len(train_dates) == 0:
        raise NotEnoughData(
            f"{len(dates)} complete snapshots; need at least "
            f"{test_snapshots + valid_snapshots + 1} (test {test_snapshots}, validation "
            f"{valid_snapshots}, train 1) plus, between periods, the snapshots of a "
            f"{window_days}-day label window (features.label_window_days), so that no "
            "label window crosses into the next period"
        )
    when = complete["snapshot_date"]
    return Split(
        train=complete[when.isin(train_dates)],
        valid=complete[when.isin(valid_dates)],
        test=complete[when >= dates[-test_snapshots]],
    )


def first_test_date(per_date: pd.Series, test_share: float, test_from: object) -> pd.Timestamp:
    """The first test snapshot: the first on or after `test_from`, else the latest from
    which on the snapshots hold `test_share` of the conversions (`per_date`: conversions
    per snapshot date, sorted)."""
    if test_from is not None:
        return per_date.index[per_date.index >= pd.Timestamp(test_from)].min()
    from_end = per_date[::-1].cumsum() / per_date.sum()  # share at or after each date
    return from_end[from_end >= test_share].index.max()


def conversion_split(
    frame: pd.DataFrame,
    test_share: float,
    valid_share: float,
    window_days: int,
    test_from: object = None,
) -> Split:
    """Purged split by conversions: test = the latest complete snapshots holding
    `test_share` of the conversions (or those from `test_from` on), validation = the
    latest before them whose label windows close by the test start, holding `valid_share`,
    train = those whose windows close by the validation start: a split that fits a year
    of daily snapshots as well as two years of monthly ones. The embargo is as in
    `time_split`."""
    complete = frame[frame["label_complete"] == 1]
    per_date = complete.groupby("snapshot_date")["label"].sum().sort_index()
    total = per_date.sum()
    if total == 0:
        raise NotEnoughData("no conversions in any complete snapshot: nothing to learn from")
    test_start = first_test_date(per_date, test_share, test_from)
    if test_from is not None:  # the share the date gives, for the message
        at_or_after = per_date[per_date.index >= test_start].sum() if pd.notna(test_start) else 0
        test_share = float(at_or_after / total)
    valid_start = train_end = pd.NaT
    if pd.notna(test_start):
        eligible = per_date[window_ends_by(per_date.index, test_start, window_days)]
        back = eligible[::-1].cumsum() / total
        valid_start = back[back >= valid_share].index.max()
    if pd.notna(valid_start):
        train_end = per_date.index[window_ends_by(per_date.index, valid_start, window_days)].max()
    if pd.isna(train_end):
        raise NotEnoughData(
            f"{len(per_date)} complete snapshots with {int(total)} conversions cannot hold "
            f"train, validation ({valid_share:.0%}) and test ({test_share:.0%}) periods with "
            f"a {window_days}-day label window (features.label_window_days) between them"
        )
    when = complete["snapshot_date"]
    return Split(
        train=complete[when <= train_end],
        valid=complete[(when >= valid_start) & window_ends_by(when, test_start, window_days)],
        test=complete[when >= test_start],
    )


def cut_labels(rows: pd.DataFrame, boundary: pd.Timestamp) -> pd.DataFrame:
    """Rows whose label comes only from deals created on or after `boundary` (the next
    period's start) count as not converted: what a row of this period could be seen to
    do before the next period began."""
    late = rows["label_at"].notna() & (rows["label_at"] >= boundary)
    return rows.assign(
        label=rows["label"].where(~late, 0), label_won=rows["label_won"].where(~late, 0)
    )


def period_starts(
    complete: pd.DataFrame, params: TrainParams
) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The validation and test starts `train.split` asks for, without any embargo."""
    per_date = complete.groupby("snapshot_date")["label"].sum().sort_index()
    dates, total = per_date.index, per_date.sum()
    if params.split == "snapshots":
        needed = params.test_snapshots + params.valid_snapshots + 1
        if len(dates) < needed:
            raise NotEnoughData(f"{len(dates)} complete snapshots; need at least {needed}")
        return dates[-params.test_snapshots - params.valid_snapshots], dates[
            -params.test_snapshots
        ]
    if total == 0:
        raise NotEnoughData("no conversions in any complete snapshot: nothing to learn from")
    test_from = params.test_from if params.split == "date" else None
    test_start = first_test_date(per_date, params.test_share, test_from)
    before = per_date[dates < test_start]
    back = before[::-1].cumsum() / total
    valid_start = back[back >= params.valid_share].index.max()
    if pd.isna(test_start) or pd.isna(valid_start) or not (dates < valid_start).any():
        raise NotEnoughData(
            f"{len(dates)} complete snapshots with {int(total)} conversions cannot hold "
            f"train, validation ({params.valid_share:.0%}) and test periods"
        )
    return valid_start, test_start


def cut_split(frame: pd.DataFrame, params: TrainParams) -> Split:
    """Periods back to back, each row's label cut at the next period's start
    (`cut_labels`): no label window crosses a boundary and no row is dropped, for
    sources whose long windows leave no room for an embargo (a year of daily rows)."""
    complete = frame[frame["label_complete"] == 1]
    valid_start, test_start = period_starts(complete, params)
    when = complete["snapshot_date"]
    return Split(
        train=cut_labels(complete[when < valid_start], valid_start),
        valid=cut_labels(complete[(when >= valid_start) & (when < test_start)], test_start),
        test=complete[when >= test_start],
    )


def split_for(frame: pd.DataFrame, params: TrainParams, window_days: int) -> Split:
    """The purged time split `train.split` asks for; `window_days` is the label window
    (features.label_window_days); `train.purge` says how: an embargo or cut labels."""
    if params.purge == "cut":
        return cut_split(frame, params)
    if params.split in ("conversions", "date"):
        test_from = params.test_from if params.split == "date" else None
        return conversion_split(
            frame, params.test_share, params.valid_share, window_days, test_from
        )
    return time_split(frame, params.test_snapshots, params.valid_snapshots, window_days)


def check_enough_conversions(split: Split, minimum: int) -> None:
    """Refuse to train on too few conversions to trust a model."""
    counts = {name: int(getattr(split, name)["label"].sum()) for name in ("train", "valid")}
    if counts["train"] < minimum:
        raise NotEnoughData(
            f"only {counts['train']} conversions in training ({counts['valid']} in validation, "
            f"{len(split.train)} rows); at least {minimum} are needed for a trustworthy model "
            "(train.min_conversions). Add history or widen the label window."
        )
    if counts["valid"] == 0:
        raise NotEnoughData(
            f"no conversions in the validation period ({len(split.valid)} rows): nothing to "
            "stop early on or choose a model by; widen train.valid_share or valid_snapshots"
        )
