"""Write-back to the CRM: tonight's scores as the source system's own import file(s).

A mapping's `writeback` section says the shape (`sources.mapping_spec` checks it): one
import file per CRM object (Salesforce updates Leads and Contacts as separate objects),
the record id column the import matches on, and the fields written, by their API names,
each holding one of our values with its length limit. Only records whose
compared values changed since the last write-back into the same `--out` are written, so
a nightly import stays small; `crm_update_state.parquet` keeps what was last written.
UTF-8, comma, one header row, LF line ends, ISO 8601 times, true/false: the shape Data
Loader, Bulk API 2.0, HubSpot's importer and Marketo's bulk import read. No email or
name: each row holds the record id and our values only.

Pure functions: the shape and the record ids come in from `sources.crm_records` (or each
lead is its own record, for a canonical export); files are written here, into the
staging folder. The values a field may hold are the mapping language's
(`sources.mapping_spec.WRITEBACK_VALUES`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mqlscore.io import atomic_path, write_parquet
from mqlscore.privacy import masked
from mqlscore.refusal import Refusal

STATE_FILE = "crm_update_state.parquet"  # what the last write-backs wrote, per record
FILE_GLOB = "crm_update*.csv"  # every import file a write-back may publish
REASON_SEPARATOR = "; "
DEFAULT_MAX_LENGTH = 255  # a typical CRM text field (Salesforce Text(255), Marketo String)
DEFAULT_DATETIME = "%Y-%m-%dT%H:%M:%SZ"
ELLIPSIS = "…"
UP = [f"reason_up_{k}" for k in (1, 2, 3)]
DOWN = [f"reason_down_{k}" for k in (1, 2, 3)]
JOINED = {"reasons": UP, "reasons_down": DOWN}  # values that join three reasons
# handed over tonight or held (handed over within score.rehand_after_days): the run's
# `held` flag beside lead_scores' `qualified`
EITHER = {"handed_over": ["qualified", "held"]}
RUN_DATE = "scored_at"  # the value that is the run date: written with every row


class WritebackError(Refusal):
    """A write-back state that cannot be read: refused, not taken for a first night."""


@dataclass(frozen=True)
class Field:
    """One column of the import file: its header (the CRM's API name), our value and its
    kind (int, float, text, bool, time), the length limit of text, and whether a change
    in it alone sends the record."""

    header: str
    value: str
    kind: str
    max_length: int | None = None
    compare: bool = True


@dataclass(frozen=True)
class Shape:
    """A checked `writeback` section: object -> (file, id header), the fields, and how
    times and yes/no are spelt."""

    objects: dict[str, tuple[str, str]]
    fields: tuple[Field, ...]
    datetime: str = DEFAULT_DATETIME
    booleans: tuple[str, str] = ("true", "false")

    @property
    def compared(self) -> list[str]:
        return [f.header for f in self.fields if f.compare]

    @property
    def files(self) -> list[str]:
        return [file for file, _ in self.objects.values()]


def needed_columns(shape: Shape) -> list[str]:
    """The lead_scores columns a write-back of this shape reads."""
    columns = ["lead_id", "rank"]
    for item in shape.fields:
        if item.value != RUN_DATE:
            columns += JOINED.get(item.value) or EITHER.get(item.value) or [item.value]
    return list(dict.fromkeys(columns))


def cut(text: str, limit: int) -> str:
    """Text cut to `limit` characters: at the last whole reason that fits, else mid-word,
    ending in an ellipsis (which counts)."""
    if len(text) <= limit:
        return text
    kept = text[: max(limit - 1, 0)]
    at = kept.rfind(REASON_SEPARATOR)
    return (kept[:at] if at > 0 else kept) + ELLIPSIS


def _joined(scores: pd.DataFrame, columns: list[str]) -> pd.Series:
    """The non-blank reasons of each row in one text, best first."""
    out = scores[columns[0]].fillna("").astype(str)
    for column in columns[1:]:
        part = scores[column].fillna("").astype(str)
        both = (out != "") & (part != "")
        out = out + np.where(both, REASON_SEPARATOR, "") + part
    return out


def _spelt(scores: pd.DataFrame, item: Field, shape: Shape, run_date: pd.Timestamp) -> pd.Series:
    """One field's cells as the import file spells them (text; blank where none)."""
    kind = item.kind
    if item.value == RUN_DATE:
        return pd.Series(pd.Timestamp(run_date).strftime(shape.datetime), index=scores.index)
    if item.value in JOINED:
        values = _joined(scores, JOINED[item.value])
    elif item.value in EITHER:
        values = scores[EITHER[item.value]].fillna(False).astype(bool).any(axis=1)
    else:
        values = scores[item.value]
    if kind == "time":
        times = pd.to_datetime(values)
        return times.dt.strftime(shape.datetime).where(times.notna(), "")
    if kind == "bool":
        return pd.Series(np.where(values.astype(bool), *shape.booleans), index=scores.index)
    if kind == "int":
        return values.astype("Int64").astype("string").fillna("").astype(object)
    if kind == "float":
        return values.map(lambda v: "" if pd.isna(v) else repr(round(float(v), 6)))
    return values.fillna("").astype(str).map(masked)  # text: never an email, if one slipped in


@dataclass(frozen=True)
class Update:
    """Tonight's write-back: each file's rows, the new state, and what was done."""

    files: dict[str, pd.DataFrame]
    state: pd.DataFrame
    counts: dict[str, Any] = field(default_factory=dict)


def empty_state(shape: Shape) -> pd.DataFrame:
    columns = {"object": [], "record_id": [], "written_at": pd.Series([], dtype="datetime64[us]")}
    return pd.DataFrame(columns | {f.header: [] for f in shape.fields if f.compare})


def read_state(path: Path) -> pd.DataFrame | None:
    """What earlier write-backs wrote (None: no write-back into this folder yet); a state
    that cannot be read is a refusal, never a fresh start (that would resend everything)."""
    if not path.exists():
        return None
    try:
        state = pd.read_parquet(path)
    except Exception as err:
        raise WritebackError(f"{path}: cannot read the write-back state: {err}") from err
    missing = sorted({"object", "record_id", "written_at"} - set(state.columns))
    if missing:
        raise WritebackError(f"{path}: the write-back state lacks {', '.join(missing)}")
    return state.assign(written_at=pd.to_datetime(state["written_at"]).astype("datetime64[us]"))


def _naive(when: pd.Timestamp) -> pd.Timestamp:
    when = pd.Timestamp(when)
    return when.tz_convert(None) if when.tz is not None else when


def updates(
    scores: pd.DataFrame,
    records: pd.DataFrame | None,
    shape: Shape,
    run_date: pd.Timestamp,
    state: pd.DataFrame | None,
    everything: bool = False,
) -> Update:
    """Tonight's rows per import file: every scored lead's record (`records`: lead_id,
    object, record_id; None: each lead is its own record in the one object), its values
    spelt as the CRM reads them, and only those whose compared values differ from what
    the state last wrote before the run date (all with `everything`, or without a state).
    A re-run of the same date compares with the same earlier state, so it writes the
    same rows again."""
    run_date = _naive(run_date)
    if records is None:
        only = next(iter(shape.objects))
        records = pd.DataFrame(
            {"lead_id": scores["lead_id"], "object": only, "record_id": scores["lead_id"]}
        )
    joined = scores.merge(records, on="lead_id", how="inner", validate="one_to_one")
    no_record = len(scores) - len(joined)
    joined = joined.sort_values(["rank", "lead_id"]).reset_index(drop=True)
    twice = joined.duplicated(["object", "record_id"])  # two leads, one record: the better
    joined = joined[~twice].reset_index(drop=True)
    rows = pd.DataFrame({"object": joined["object"], "record_id": joined["record_id"]})
    cuts = {}
    for item in shape.fields:
        spelt = _spelt(joined, item, shape, run_date)
        if item.max_length is not None:
            long = spelt.str.len() > item.max_length
            cuts[item.header] = int(long.sum())
            spelt = spelt.where(~long, spelt[long].map(lambda t, n=item.max_length: cut(t, n)))
        rows[item.header] = spelt.to_numpy()
    earlier = state if state is not None else empty_state(shape)
    earlier = earlier[earlier["written_at"] < run_date]
    previous = earlier.sort_values("written_at").drop_duplicates(
        ["object", "record_id"], keep="last"
    )
    changed = _changed(rows, previous, shape.compared)
    if everything or state is None:
        changed[:] = True
    written = rows[changed]
    files = {}
    for name, (file, id_header) in shape.objects.items():
        mine = written[written["object"] == name].sort_values("record_id")
        table = mine.drop(columns="object").rename(columns={"record_id": id_header})
        files[file] = table[[id_header, *[f.header for f in shape.fields]]]
    counts = {
        "mode": "all" if everything else "changed",
        "first": state is None,  # no earlier write-back here: every record written
        "previous": None if previous.empty else str(previous["written_at"].max()),
        "written": int(changed.sum()),
        "unchanged": int((~changed).sum()),
        "no_record": no_record,
        "duplicate_records": int(twice.sum()),
        "cut": cuts,
        "compared": shape.compared,
        "files": {
            file: {"object": name, "rows": len(files[file])}
            for name, (file, _) in shape.objects.items()
        },
        "state": STATE_FILE,
    }
    return Update(files, _new_state(state, written, shape, run_date), counts)


def _changed(rows: pd.DataFrame, previous: pd.DataFrame, compared: list[str]) -> np.ndarray:
    """Records with no earlier write-back, or whose compared values differ from it (a
    field the state does not hold, newly added to the mapping, counts as changed)."""
    keys = ["object", "record_id"]
    held = [c for c in compared if c in previous.columns]
    before = rows[keys].merge(previous[keys + held], on=keys, how="left", indicator=True)
    changed = (before["_merge"] != "both").to_numpy()
    if len(held) < len(compared):
        return np.ones(len(rows), dtype=bool)
    for column in held:
        changed |= rows[column].to_numpy(dtype=object) != before[column].to_numpy(dtype=object)
    return changed


def _new_state(
    state: pd.DataFrame | None, written: pd.DataFrame, shape: Shape, run_date: pd.Timestamp
) -> pd.DataFrame:
    """The state with tonight's rows (an earlier run of the same date replaced), kept
    small: per record, its entries from the run date on and its latest one before."""
    tonight = written[["object", "record_id", *shape.compared]].assign(written_at=run_date)
    kept = state if state is not None else empty_state(shape)
    kept = kept[kept["written_at"] != run_date]
    merged = pd.concat([kept, tonight], ignore_index=True) if len(kept) else tonight
    merged = merged.astype({"written_at": "datetime64[us]"})
    before = merged[merged["written_at"] < run_date]
    latest = before.sort_values("written_at").drop_duplicates(["object", "record_id"], keep="last")
    merged = pd.concat([latest, merged[merged["written_at"] >= run_date]], ignore_index=True)
    columns = ["object", "record_id", "written_at"]
    columns += [c for c in merged.columns if c not in columns]
    merged = merged[columns].sort_values(["written_at", "object", "record_id"])
    return merged.reset_index(drop=True).astype({c: object for c in columns if c != "written_at"})


def write(update: Update, folder: Path) -> list[str]:
    """The import files and the state into `folder` (the run's staging folder), each
    atomically; returns the names written."""
    for name, table in update.files.items():
        text = table.to_csv(index=False, lineterminator="\n")
        with atomic_path(folder / name) as tmp:
            tmp.write_bytes(text.encode("utf-8"))
    write_parquet(update.state, folder / STATE_FILE)
    return [*update.files, STATE_FILE]
