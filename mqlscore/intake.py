"""Nightly exports in: find the files, map their columns, check tables and single rows.

Table-level problems (a missing file or column, an empty lead export, most rows broken)
raise `ExportError` naming the file and column. Row-level problems put the row in the
rejects with its reasons; nothing is dropped silently. Leads are read in chunks so a
10M-row export fits in bounded memory.
"""

from __future__ import annotations

import csv
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from mqlscore.io import PLACEHOLDERS, date_order, sniff_csv
from mqlscore.schema import EMAIL_PATTERN, PICKLISTS, TABLES
from mqlscore.schema import OPTIONAL_COLUMNS as OPTIONAL_TABLE_COLUMNS

SCORING_TABLES: tuple[str, ...] = (
    "leads",
    "accounts",
    "engagement",
    "sales_activities",
    "opportunities",
    "opportunity_contacts",
)
OPTIONAL_LEAD_COLUMNS: tuple[str, ...] = (
    "account_id",
    "mql_at",
    "lead_source",
    "title",
    "company",
)
# Columns a nightly table may lack (read as blank): older exports have no account_id on
# sales activities.
OPTIONAL_COLUMNS: dict[str, tuple[str, ...]] = {
    "leads": OPTIONAL_LEAD_COLUMNS,
    "sales_activities": ("account_id",),
    **OPTIONAL_TABLE_COLUMNS,
}
_EMAIL = re.compile(EMAIL_PATTERN)
# The value checks validation makes (`schema.PICKLISTS`), without loading Great Expectations
KNOWN_VALUES: dict[tuple[str, str], frozenset[str]] = {
    key: frozenset(PICKLISTS[key])
    for key in (("engagement", "activity_type"), ("sales_activities", "type"))
}


log = logging.getLogger(__name__)


class ExportError(ValueError):
    """The export cannot be scored at all (table-level problem)."""


@dataclass(frozen=True)
class RowRules:
    """What a good lead row looks like."""

    run_date: pd.Timestamp
    lead_id_pattern: str
    known_accounts: frozenset[str] = field(default_factory=frozenset)
    dayfirst: bool = False  # numeric dates' order, decided once per file (`date_order_of`)
    folded_accounts: dict[str, str] = field(default_factory=dict)  # lower-cased id -> id
    email_required: bool = True  # False: the source trained without emails (its params say)


def find_file(folder: Path, table: str) -> Path:
    """`<table>.parquet` or `<table>.csv` in the export folder; both is an error (an old
    file beside tonight's would be scored silently)."""
    found = [p for p in (Path(folder) / f"{table}.parquet", Path(folder) / f"{table}.csv")]
    found = [p for p in found if p.exists()]
    if len(found) > 1:
        raise ExportError(
            f"{folder}: both {table}.parquet and {table}.csv are in the export; "
            "remove the one that is not tonight's"
        )
    if not found:
        raise ExportError(f"{folder}: no {table}.parquet or {table}.csv in the export")
    return found[0]


def load_column_map(path: Path | None) -> dict[str, dict[str, str]]:
    """The column-mapping file: {table: {export column: canonical column}}."""
    if path is None:
        return {}
    data = yaml.safe_load(Path(path).read_text()) or {}
    unknown = sorted(set(data) - set(TABLES))
    if unknown:
        raise ExportError(f"{path}: unknown table(s) {', '.join(unknown)} in the column map")
    return {table: dict(columns or {}) for table, columns in data.items()}


def _check_columns(columns: list[str], path: Path, table: str) -> None:
    repeated = sorted({c for c in columns if columns.count(c) > 1 or str(c).endswith(".1")})
    if repeated:  # pandas renames a second `title` to `title.1`: a column went missing
        raise ExportError(f"{path}: column name(s) repeated in the header: {', '.join(repeated)}")
    required = [c for c in TABLES[table] if c not in OPTIONAL_COLUMNS.get(table, ())]
    missing = [c for c in required if c not in columns]
    if missing:
        raise ExportError(
            f"{path}: missing column(s) {', '.join(missing)} for {table} "
            f"(found {', '.join(map(str, columns)) or 'none'}); "
            "map export names with --column-map"
        )


# How DuckDB types each kind of column, and what a cell that fails is not.
_CASTS: dict[str, tuple[str, str]] = {
    "time": ("TIMESTAMPTZ", "a timestamp"),  # offsets honoured; naive times read as UTC
    "int": ("BIGINT", "a number"),
    "float": ("DOUBLE", "a number"),
    "bool": ("BOOLEAN", "true or false"),
}


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@dataclass(frozen=True)
class _Check:
    column: str
    raw: str  # the exported column, quoted
    bad: str  # SQL condition: a value is there but does not parse
    kind: str


def _blank_type(kind: str) -> str:
    """The SQL type of a column of this kind once typed (a missing one reads as NULL)."""
    return "TIMESTAMP" if kind == "time" else _CASTS.get(kind, ("VARCHAR", ""))[0]


def _typed_columns(table: str, names: dict[str, str]) -> tuple[list[str], list[_Check]]:
    """SELECT expressions typing each canonical column, and the parse checks they need.
    An optional column the export lacks reads as blank."""
    selects, checks = [], []
    for column, kind in TABLES[table].items():
        if column not in names:
            if column in OPTIONAL_COLUMNS.get(table, ()):
                selects.append(f"CAST(NULL AS {_blank_type(kind)}) AS {column}")
            continue
        raw = _quoted(names[column])
        if kind not in _CASTS:
            selects.append(f"CAST({raw} AS VARCHAR) AS {column}")
            continue
        typed = f"TRY_CAST({raw} AS {_CASTS[kind][0]})"
        checks.append(_Check(column, raw, f"{raw} IS NOT NULL AND {typed} IS NULL", kind))
        if kind == "time":
            typed = f"CAST({typed} AS TIMESTAMP)"
        selects.append(f"{typed} AS {column}")
    return selects, checks


def _raise_on_bad_cells(con: Any, source: str, checks: list[_Check], path: Path) -> None:
    """One pass counts unparseable cells per column; the first one found is reported."""
    if not checks:
        return
    sql = ", ".join(f"count(*) FILTER (WHERE {c.bad})" for c in checks)
    counts = con.execute(f"SELECT {sql} FROM {source}").fetchall()[0]
    for check, count in zip(checks, counts, strict=True):
        if count:
            row, value = con.execute(
                f"SELECT rn, value FROM (SELECT row_number() OVER () AS rn, "
                f"{check.raw} AS value, {check.bad} AS bad FROM {source}) "
                "WHERE bad ORDER BY rn LIMIT 1"
            ).fetchall()[0]
            raise ExportError(
                f"{path}: column {check.column}, row {row}: {str(value)!r} is not "
                f"{_CASTS[check.kind][1]} ({count} row(s) like it)"
            )


def stage_table(path: Path, table: str, mapping: dict[str, str], target: Path) -> Path:
    """Check and type a (non-lead) table in DuckDB and write it to `target` as Parquet with
    canonical names, so memory stays bounded however many rows it has. A cell that does
    not parse raises `ExportError` naming the file, column, value and row."""
    import duckdb

    quoted_path = str(path).replace("'", "''")
    source = (
        f"read_csv('{quoted_path}', all_varchar = true)"
        if path.suffix == ".csv"
        else f"read_parquet('{quoted_path}')"
    )
    with duckdb.connect() as con:
        con.execute("SET TimeZone = 'UTC'")
        found = [row[0] for row in con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()]
        names = {mapping.get(c, c): c for c in found}  # canonical -> as exported
        _check_columns(list(names), path, table)
        selects, checks = _typed_columns(table, names)
        _raise_on_bad_cells(con, source, checks, path)
        out = str(target).replace("'", "''")
        con.execute(
            f"COPY (SELECT {', '.join(selects)} FROM {source}) TO '{out}' (FORMAT parquet)"
        )
    return target


def unknown_values(path: Path, column: str, allowed: frozenset[str]) -> dict[str, int]:
    """The values of `column` in a Parquet table outside `allowed` (blanks aside), each
    with its row count, in value order."""
    import duckdb

    source, name = "read_parquet('" + str(path).replace("'", "''") + "')", _quoted(column)
    with duckdb.connect() as con:
        rows = con.execute(
            f"SELECT {name}, count(*) FROM {source} WHERE {name} IS NOT NULL "
            f"AND NOT list_contains(?::VARCHAR[], {name}) GROUP BY 1 ORDER BY 1",
            [sorted(allowed)],
        ).fetchall()
    return {str(value): int(count) for value, count in rows}


def _rows(count: int) -> str:
    return f"{count:,} row" + ("" if count == 1 else "s")


def check_known_values(staged: dict[str, Path]) -> None:
    """Refuse what validation refuses in training: an activity or sales-touch type outside
    ours (a typo in a mapping's value map would otherwise score quietly as no touch). The
    error names the table, column and every unknown value with its rows."""
    problems = []
    for (table, column), allowed in KNOWN_VALUES.items():
        found = unknown_values(staged[table], column, allowed) if table in staged else {}
        if found:
            listed = ", ".join(f"{value!r} ({_rows(n)})" for value, n in found.items())
            known = ", ".join(sorted(allowed))
            problems.append(f"{table}.{column}: values not known: {listed} (known: {known})")
    if problems:
        raise ExportError("; ".join(problems) + "; fix the mapping's value map or the export")


def utc_times(text: pd.Series, dayfirst: bool = False) -> pd.Series:
    """Text timestamps as UTC without a zone: offsets (`Z`, `+0000`, `+02:00`) converted,
    times without one read as UTC; numeric dates in the file's order; blanks and
    non-dates missing."""
    text = text.where(text != "")
    parsed = pd.to_datetime(text, errors="coerce", format="ISO8601", utc=True)
    rest = text.notna() & parsed.isna()
    if rest.any():
        parsed[rest] = pd.to_datetime(
            text[rest], errors="coerce", format="mixed", dayfirst=dayfirst, utc=True
        )
    return parsed.dt.tz_convert(None)


def _date_columns(path: Path, columns: list[str]) -> pd.DataFrame:
    if path.suffix == ".csv":
        with open(path, "rb") as fh:
            encoding, sep = sniff_csv(fh.read(1 << 16))
        header = pd.read_csv(path, nrows=0, sep=sep, encoding=encoding).columns
        usecols = [c for c in columns if c in header]
        return pd.read_csv(path, dtype=str, sep=sep, encoding=encoding, usecols=usecols)
    import pyarrow.parquet as pq

    present = [c for c in columns if c in pq.read_schema(path).names]
    return pd.read_parquet(path, columns=present).astype("string")


def date_order_of(path: Path, mapping: dict[str, str]) -> bool:
    """The lead file's numeric date order (day first or not), from all its date cells:
    one order per file, never decided cell by cell. A file showing both stops the run;
    one showing neither reads month first, as the log says."""
    wanted = ("created_at", "mql_at")
    names = {mapping.get(c, c): c for c in mapping} | {c: c for c in wanted}
    columns = [c for c, canonical in names.items() if canonical in wanted]
    try:
        frame = _date_columns(path, columns)
    except (ValueError, OSError, UnicodeDecodeError):  # reading it later says what is wrong
        return False
    values = pd.concat([frame[c] for c in frame.columns], ignore_index=True).dropna()
    try:
        order = date_order(values)
    except ValueError as err:
        raise ExportError(f"{path}: created_at/mql_at {err}") from err
    if order is None and values.str.match(r"^\s*\d{1,2}[/.\-]\d{1,2}[/.\-]").any():
        log.warning("%s: numeric dates show no day-month order; read month first", path)
    return bool(order)


def lead_extras(path: Path) -> list[str]:
    """The pass-through columns (`x_...`) of a lead file, from its header."""
    if path.suffix == ".csv":
        with open(path, "rb") as fh:
            header = fh.readline()
        try:
            encoding, sep = sniff_csv(header)
        except ValueError:
            return []  # reading the file says what is wrong with it
        columns = next(csv.reader([header.decode(encoding)], delimiter=sep), [])
    else:
        import pyarrow.parquet as pq

        columns = pq.ParquetFile(path).schema_arrow.names
    return [c for c in columns if c.startswith("x_")]


def _guarded(reader: Iterator[pd.DataFrame], path: Path) -> Iterator[pd.DataFrame]:
    """Chunks of a file, with a malformed file (a row with too many fields, bytes that are
    not the file's encoding, a broken Parquet file) as an ExportError naming it."""
    try:
        yield from reader
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise ExportError(f"{path}: not a readable CSV: {err}") from err
    except OSError as err:  # pyarrow's error for a broken Parquet file
        raise ExportError(f"{path}: not a readable file: {err}") from err


def lead_chunks(path: Path, mapping: dict[str, str], rows: int) -> Iterator[pd.DataFrame]:
    """The lead export in chunks of text columns (canonical names), each with `source_row`
    (1-based data row of the file)."""
    if path.suffix == ".csv":
        with open(path, "rb") as fh:
            sample = fh.read(1 << 16)
        try:
            encoding, sep = sniff_csv(sample)
        except ValueError as err:
            raise ExportError(f"{path}: {err}") from err
        reader = pd.read_csv(
            path, dtype=str, keep_default_na=False, chunksize=rows, sep=sep, encoding=encoding
        )
    else:
        import pyarrow.parquet as pq

        reader = (
            batch.to_pandas().astype("string").fillna("").astype(object)
            for batch in pq.ParquetFile(path).iter_batches(batch_size=rows)
        )
    start = 1
    for chunk in _guarded(reader, path):
        chunk = chunk.rename(columns=mapping)
        _check_columns(list(chunk.columns), path, "leads")
        chunk = chunk.where(~chunk.isin(PLACEHOLDERS), "")  # N/A, NULL, -- read as blank
        for column in OPTIONAL_LEAD_COLUMNS:
            if column not in chunk.columns:
                chunk[column] = ""
        extras = [c for c in chunk.columns if c.startswith("x_")]  # a mapping's pass-through
        chunk = chunk[list(TABLES["leads"]) + extras].reset_index(drop=True)
        chunk.insert(0, "source_row", np.arange(start, start + len(chunk)))
        start += len(chunk)
        yield chunk


def lead_row_problems(chunk: pd.DataFrame, rules: RowRules, seen: dict[str, int]) -> pd.Series:
    """Per row, what is wrong with it ('' when nothing). `seen` maps lead ids already read
    to their row, across chunks; the first copy of an id is kept, later ones rejected."""
    problems: list[list[str]] = [[] for _ in range(len(chunk))]

    def flag(mask: pd.Series | np.ndarray, column: str, says: str, values: pd.Series) -> None:
        for i in np.flatnonzero(np.asarray(mask, dtype=bool)):
            problems[i].append(f"{column}: {values.iloc[i]!r} {says}")

    lead_id = chunk["lead_id"].str.strip()
    flag(lead_id == "", "lead_id", "is blank", lead_id)
    if rules.lead_id_pattern:  # opt-in: by default any non-blank id is a CRM id
        bad_format = (lead_id != "") & ~lead_id.str.fullmatch(rules.lead_id_pattern)
        flag(bad_format, "lead_id", f"does not match {rules.lead_id_pattern}", lead_id)
    for i, (value, row) in enumerate(zip(lead_id, chunk["source_row"], strict=True)):
        if value and value in seen:
            problems[i].append(f"lead_id: {value!r} repeats row {seen[value]}")
        elif value:
            seen[value] = int(row)

    email = chunk["email"].str.strip()
    account = chunk["account_id"].str.strip()
    # no email is fine when the CRM names the account; with neither, nothing matches, which
    # is fine too for a source whose params require no emails (scored account-less)
    if rules.email_required:
        flag((email == "") & (account == ""), "email", "is blank (and so is account_id)", email)
    malformed = (email != "") & ~email.map(lambda e: bool(_EMAIL.match(e)))
    flag(malformed, "email", "is not an email address", pd.Series("(hidden)", index=chunk.index))

    for column, required in (("created_at", True), ("mql_at", False)):
        text = chunk[column].str.strip()
        parsed = utc_times(text, rules.dayfirst)
        if required:
            flag(text == "", column, "is blank", text)
        flag((text != "") & parsed.isna(), column, "is not a date", text)
        future = (parsed >= rules.run_date).fillna(False)
        flag(future, column, f"is on or after the run date {rules.run_date:%Y-%m-%d}", text)

    score = chunk["marketing_score"].str.strip()
    unparsed = (score != "") & pd.to_numeric(score, errors="coerce").isna()
    flag(unparsed, "marketing_score", "is not a number", score)

    if rules.known_accounts:
        unknown = (account != "") & ~account.isin(rules.known_accounts)
        near = account.str.strip().str.lower().map(rules.folded_accounts)
        hint = near.map(
            lambda a: f" (matches {a} ignoring case and spaces)" if isinstance(a, str) else ""
        )
        for i in np.flatnonzero(unknown.to_numpy()):  # an id a CRM re-cased is named, not lost
            problems[i].append(
                f"account_id: {account.iloc[i]!r} is not in the accounts table{hint.iloc[i]}"
            )
    return pd.Series(["; ".join(p) for p in problems], index=chunk.index)


def typed_leads(chunk: pd.DataFrame, dayfirst: bool = False) -> pd.DataFrame:
    """Good lead rows (text) as the canonical typed table (pass-through `x_` columns kept)."""
    out = chunk.drop(columns=["source_row"]).copy()
    text_columns = ["lead_id", "email", "title", "company", "account_id", "lead_source"]
    for column in text_columns + [c for c in out.columns if c.startswith("x_")]:
        text = out[column].str.strip()
        out[column] = text.where(text != "", None)
    for column in ("created_at", "mql_at"):
        text = out[column].str.strip()
        parsed = utc_times(text, dayfirst)
        out[column] = parsed.astype("datetime64[us]")
    score = out["marketing_score"].str.strip()
    out["marketing_score"] = pd.to_numeric(score.where(score != ""), errors="coerce")
    return out
