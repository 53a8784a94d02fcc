"""The one way exports come in, for training (`ingest`) and at night (`score`): read a
file in any common dialect, type its cells (dates, numbers, yes/no) by one set of rules,
check tables and single rows.

Training maps whole export files (`read_export_file`, `parse_times`, `parse_numbers`,
`parse_booleans`; `sources.mapping` applies a mapping with them); a cell that does not
fit raises `MappingError` naming the file, column, value and row. Nightly scoring reads
a canonical (or mapped) export with `read_inputs`: table-level problems (a missing file
or column, an empty lead export, most rows broken) raise `ExportError`; row-level
problems put the row in the rejects with its reasons, nothing dropped silently. Leads
are read in chunks so a 10M-row export fits in bounded memory. Both read dates with
`to_utc` and numbers with `to_number`, so an export reads the same way in both.
"""

from __future__ import annotations

import csv
import io
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from pyarrow import ArrowException as ArrowError  # a file that is not Parquet

from features.matching import match_leads
from mqlscore.config import ScoreParams
from mqlscore.console import progress
from mqlscore.io import PLACEHOLDERS, date_order, sniff_csv
from mqlscore.privacy import masked, shown
from mqlscore.refusal import Refusal
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


TRUE_WORDS = frozenset({"true", "t", "yes", "y", "1", "x", "won", "closed won", "ja", "oui", "si"})
FALSE_WORDS = frozenset({"false", "f", "no", "n", "0", "", "lost", "nein", "non"})


class MappingError(Refusal, ValueError):
    """A mapping that does not fit its export: names the file, column, value and row."""


class ExportError(Refusal, ValueError):
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


class ColumnMapError(ExportError):
    """A `--column-map` file that cannot say which export column is which: names the file,
    the table and the entry."""


def load_column_map(path: Path | None) -> dict[str, dict[str, str]]:
    """The column-mapping file: {table: {export column: canonical column}}; a file that
    is not that (unreadable YAML, an unknown table or canonical column, two export
    columns for one of ours) is refused naming the entry."""
    import difflib

    from mqlscore.io import read_yaml

    if path is None:
        return {}
    try:
        data = read_yaml(path) or {}
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ColumnMapError(f"{path}: not readable YAML: {err.problem}{where}") from err
    except (OSError, ValueError, yaml.YAMLError) as err:
        raise ColumnMapError(f"{path}: not a readable column map: {err}") from err
    if not isinstance(data, dict):
        raise ColumnMapError(
            f"{path}: a column map is {{table: {{export column: our column}}}}, not {data!r}"[:300]
        )
    unknown = sorted(map(str, set(data) - set(TABLES)))
    if unknown:
        raise ColumnMapError(f"{path}: unknown table(s) {', '.join(unknown)} in the column map")
    out: dict[str, dict[str, str]] = {}
    for table, columns in data.items():
        if not isinstance(columns or {}, dict):
            raise ColumnMapError(
                f"{path}: {table}: expected {{export column: our column}}, found {columns!r}"[:300]
            )
        ours, named = tuple(TABLES[table]), {}
        for export, canonical in (columns or {}).items():
            if not isinstance(export, str) or not export:
                raise ColumnMapError(f"{path}: {table}: {export!r} is not an export column name")
            passed = table == "leads" and isinstance(canonical, str) and canonical.startswith("x_")
            if canonical not in ours and not passed:
                close = difflib.get_close_matches(str(canonical), ours, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise ColumnMapError(
                    f"{path}: {table}.{export}: {canonical!r} is not a column of {table}{hint}"
                    f" (one of {', '.join(ours)})"
                )
            if canonical in named:
                raise ColumnMapError(
                    f"{path}: {table}: {named[canonical]!r} and {export!r} both map to "
                    f"{canonical!r}: keep one"
                )
            named[canonical] = export
        out[table] = {export: canonical for canonical, export in named.items()}
    return out


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
    "float": ("DOUBLE", "a finite number"),
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
        unparsed = f"{typed} IS NULL" + (f" OR NOT isfinite({typed})" if kind == "float" else "")
        checks.append(_Check(column, raw, f"{raw} IS NOT NULL AND ({unparsed})", kind))
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
                f"{path}: column {check.column}, row {row}: {shown(value, check.raw)} is not "
                f"{_CASTS[check.kind][1]} ({count} row(s) like it)"
            )


# Tables a night joins leads to by their key: a repeated key would give a lead two rows
_ONE_ROW_EACH: dict[str, str] = {"accounts": "account_id"}


def _raise_on_repeated_key(con: Any, source: str, table: str, names: dict[str, str], path: Path):
    """A key listed twice in a table leads join to is a refusal naming the value and rows."""
    key = _ONE_ROW_EACH.get(table)
    if key not in names:
        return
    raw = _quoted(names[key])
    found = con.execute(
        f"SELECT value, rows, count(*) OVER () FROM (SELECT {raw} AS value, "
        "list(rn ORDER BY rn) AS rows FROM (SELECT row_number() OVER () AS rn, * "
        f"FROM {source}) WHERE {raw} IS NOT NULL GROUP BY 1 HAVING count(*) > 1) "
        "ORDER BY rows[1] LIMIT 1"
    ).fetchall()
    if found:
        value, rows, repeated = found[0]
        raise ExportError(
            f"{path}: column {names[key]}, rows {', '.join(map(str, rows[:5]))}: "
            f"{shown(value, raw)} is listed {len(rows)} times ({repeated} {key}(s) like it): "
            f"one row per {table[:-1]}"
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
        try:
            found = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()]
            names = {mapping.get(c, c): c for c in found}  # canonical -> as exported
            _check_columns(list(names), path, table)
            selects, checks = _typed_columns(table, names)
            _raise_on_bad_cells(con, source, checks, path)
            _raise_on_repeated_key(con, source, table, names, path)
            out = str(target).replace("'", "''")
            con.execute(
                f"COPY (SELECT {', '.join(selects)} FROM {source}) TO '{out}' (FORMAT parquet)"
            )
        except (duckdb.InvalidInputException, duckdb.IOException) as err:  # cut, not its kind
            said = " ".join(str(err).split("\n")[0].split())[:200]
            kind = "CSV" if path.suffix == ".csv" else "Parquet"
            raise ExportError(f"{path}: not a readable {kind} file ({said})") from err
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


def to_utc(text: pd.Series, dayfirst: bool = False) -> pd.Series:
    """Text timestamps as UTC (tz-aware): ISO 8601 with or without an offset (`Z`,
    `+0000`, `+02:00`) first, vectorized; then other spellings, numeric dates in the
    given order. Unparseable cells are NaT; callers refuse or reject them."""
    parsed = pd.to_datetime(text, errors="coerce", format="ISO8601", utc=True)
    rest = text.notna() & parsed.isna()
    if rest.any():
        spelled = _zone_offsets(text[rest])
        parsed[rest] = pd.to_datetime(
            spelled, errors="coerce", format="mixed", dayfirst=dayfirst, utc=True
        )
    return parsed


# Zone names exports write after a time, as offsets; any other name makes the cell no date
# (pandas would silently read "10:00 PST" as 10:00 UTC)
ZONES = {
    "UTC": "+00:00", "GMT": "+00:00", "Z": "+00:00", "WET": "+00:00", "BST": "+01:00",
    "CET": "+01:00", "CEST": "+02:00", "EET": "+02:00", "EEST": "+03:00", "EST": "-05:00",
    "EDT": "-04:00", "CST": "-06:00", "CDT": "-05:00", "MST": "-07:00", "MDT": "-06:00",
    "PST": "-08:00", "PDT": "-07:00", "AKST": "-09:00", "AKDT": "-08:00", "HST": "-10:00",
}  # fmt: skip


def has_zone(text: pd.Series) -> pd.Series:
    """Cells whose time says its zone: an offset or `Z` after a time of day, or a zone
    name we know (`15-01-2025` ends in digits, not an offset)."""
    offset = text.str.contains(r"\d:\d\d(?::\d\d(?:\.\d+)?)?\s*(?:[+-]\d\d:?\d\d|Z)$", na=False)
    name = text.str.extract(r"\s([A-Za-z]{1,5})\s*$", expand=False).str.upper()
    return offset | name.isin(set(ZONES)).to_numpy()


def _zone_offsets(text: pd.Series) -> pd.Series:
    """A trailing zone name as its offset; an unknown name blanks the cell (not a date)."""
    zone = text.str.extract(r"\s([A-Za-z]{1,5})\s*$", expand=False).str.upper()
    named = zone.notna() & ~text.str.contains(r"\d\s*[AaPp]\.?[Mm]\.?\s*$", na=False)
    offsets = zone.map(ZONES)
    swapped = text.str.replace(r"\s[A-Za-z]{1,5}\s*$", "", regex=True) + " " + offsets
    return text.where(~named, swapped.where(offsets.notna(), None))


def utc_times(text: pd.Series, dayfirst: bool = False) -> pd.Series:
    """Text timestamps as UTC without a zone (`to_utc`); blanks and non-dates missing."""
    return to_utc(text.where(text != ""), dayfirst).dt.tz_convert(None)


def to_number(text: pd.Series, decimal: str = ".") -> pd.Series:
    """Text numbers as floats, currency signs, spaces and thousands separators dropped
    (`decimal: ","` reads 1.234,5 as 1234.5); unparseable cells are NaN."""
    cleaned = text.str.replace(r"[\s$€£%]", "", regex=True)
    if decimal == ",":
        cleaned = cleaned.str.replace(".", "", regex=False).str.replace(",", ".", regex=False)
    else:
        cleaned = cleaned.str.replace(",", "", regex=False)
    return pd.to_numeric(cleaned, errors="coerce")


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
    columns = [export for export, canonical in mapping.items() if canonical in wanted]
    columns += [c for c in wanted if c not in mapping.values()]  # named as ours already
    try:
        frame = _date_columns(path, columns)
    except (ValueError, OSError, UnicodeDecodeError):  # reading it later says what is wrong
        return False
    parts = [frame[c] for c in frame.columns]
    values = pd.concat(parts, ignore_index=True).dropna() if parts else pd.Series([], dtype=str)
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
            sample = fh.read(1 << 16)
        try:
            encoding, sep = sniff_csv(sample)
            text = sample.decode(encoding, errors="replace")
            columns = next(csv.reader(io.StringIO(text, newline=None), delimiter=sep), [])
        except (ValueError, csv.Error):
            return []  # reading the file says what is wrong with it
    else:
        import pyarrow.parquet as pq

        columns = pq.ParquetFile(path).schema_arrow.names
    return [c for c in columns if c.startswith("x_")]


def _guarded(
    reader: Iterator[pd.DataFrame], path: Path, encoding: str = ""
) -> Iterator[pd.DataFrame]:
    """Chunks of a file, with a malformed file (a row with too many fields, bytes that are
    not the file's encoding, a broken Parquet file) as an ExportError naming it."""
    try:
        yield from reader
    except UnicodeDecodeError as err:  # the sample's encoding, not the whole file's
        raise ExportError(f"{path}: {undecodable(path, encoding or err.encoding)}") from err
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise ExportError(f"{path}: not a readable CSV: {err}") from err
    except (OSError, ArrowError) as err:  # pyarrow's errors for a broken Parquet file
        raise ExportError(f"{path}: not a readable file: {err}") from err


def undecodable(path: Path, encoding: str) -> str:
    """Where a file stops being `encoding` (its start was sniffed as that): the line and
    the bytes there, so a user can find the pasted or mis-saved cell."""
    import codecs

    decoder, line = codecs.getincrementaldecoder(encoding)(), 1
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            try:
                decoder.decode(block)
            except UnicodeDecodeError as err:
                line += block.count(b"\n", 0, max(err.start, 0))
                bad = err.object[err.start : err.end + 3]
                return (
                    f"line {line:,} holds bytes {bad!r} that are not {encoding}, as the "
                    "file's start is: save the export in one encoding (UTF-8)"
                )
            line += block.count(b"\n")
    return f"bytes that are not {encoding}, as the file's start is"


def _parquet_chunks(path: Path, rows: int) -> Iterator[pd.DataFrame]:
    """The Parquet file's batches as text, opened on iteration (guarded like a CSV's)."""
    import pyarrow.parquet as pq

    for batch in pq.ParquetFile(path).iter_batches(batch_size=rows):
        yield batch.to_pandas().astype("string").fillna("").astype(object)


def _csv_chunks(path: Path, rows: int, sep: str, encoding: str) -> Iterator[pd.DataFrame]:
    """The CSV's chunks, read on iteration (so the first chunk's errors are guarded too)."""
    yield from pd.read_csv(
        path, dtype=str, keep_default_na=False, chunksize=rows, sep=sep, encoding=encoding
    )


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
        reader = _csv_chunks(path, rows, sep, encoding)
    else:
        encoding, reader = "", _parquet_chunks(path, rows)
    start = 1
    for chunk in _guarded(reader, path, encoding):
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
    unparsed = (score != "") & ~np.isfinite(to_number(score))
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
    out["marketing_score"] = to_number(score.where(score != ""))
    return out


# Export files of any mapping: read, typed, refused with file, column, value and row.


def read_export_file(path: Path) -> pd.DataFrame:
    """A CSV (any common dialect: BOM, `;`, tabs, CRLF, Latin-1, quoted newlines) or
    Parquet file as text columns, placeholders as missing; a header-only file gives its
    columns and no rows; a column named twice is merged (first non-blank), with a warning."""
    if path.suffix.lower() == ".parquet":
        frame = pd.read_parquet(path)
        return frame.astype("string").astype(object).where(frame.notna(), None)
    raw = path.read_bytes()
    try:
        encoding, sep = sniff_csv(raw)
    except ValueError as err:
        raise MappingError(f"{path}: {err}") from err
    try:
        text = raw.decode(encoding)
        header = next(csv.reader(io.StringIO(text, newline=None), delimiter=sep), [])
        frame = pd.read_csv(  # universal newlines: classic Mac CR-only files too
            io.StringIO(text, newline=None),
            sep=sep,
            dtype=str,
            keep_default_na=False,
            header=0,
            names=range(len(header)),
        )
    except (pd.errors.ParserError, ValueError, csv.Error) as err:
        raise MappingError(f"{path}: not a readable CSV ({encoding}, {sep!r}): {err}") from err
    frame.columns = [str(c).strip().lstrip("\ufeff") for c in header]
    frame = _merge_repeated(frame, path.name)
    cells = frame.apply(lambda c: c.str.strip())
    return cells.where(~cells.isin(PLACEHOLDERS), None)


def _merge_repeated(frame: pd.DataFrame, file: str) -> pd.DataFrame:
    """Columns a header names twice (HubSpot's "Associated Company IDs") as one: the
    first non-blank cell of each row; conflicting cells are counted in the warning."""
    names = list(frame.columns)
    repeated = sorted({n for n in names if names.count(n) > 1})
    if not repeated:
        return frame
    merged = {}
    for name in dict.fromkeys(names):
        copies = frame.loc[:, [n == name for n in names]].replace("", None)
        merged[name] = copies.bfill(axis=1).iloc[:, 0]
        if name in repeated:
            filled = copies.notna().sum(axis=1) > 1
            differ = filled & (copies.nunique(axis=1, dropna=True) > 1)
            log.warning(
                "%s: column %r appears %d times in the header; merged (first non-blank)%s",
                file,
                name,
                names.count(name),
                f", {int(differ.sum())} row(s) disagree" if differ.any() else "",
            )
    return pd.DataFrame(merged).fillna("")


def cell_error(file: str, column: str, values: pd.Series, what: str) -> MappingError:
    row = values.index[0]
    return MappingError(
        f"{file}, column {column!r}: value {shown(values.iloc[0], column)} in data row {row + 1}"
        f" {what}"
        f" ({len(values)} such row(s))"
    )


def day_first(values: pd.Series, options: dict, file: str, column: str) -> bool:
    """Whether numeric dates (01/10/2025) put the day first: as the mapping says, else as
    the values show (a first number above 12 is a day). A file showing both orders, or
    only ambiguous dates with no word from the mapping, stops the run: a wrong guess
    would silently swap days and months."""
    numeric = values.str.match(r"^\s*\d{1,2}[/.\-]\d{1,2}[/.\-]\d{2,4}", na=False)
    if "dayfirst" in options:
        wanted = bool(options["dayfirst"])
        for i, value in values[numeric].items():  # the first cell of the other order
            shown = date_order(pd.Series([value]))
            if shown is not None and shown != wanted:
                order = "day-first" if wanted else "month-first"
                raise cell_error(file, column, values.loc[[i]], f"is not a {order} date")
        return wanted
    try:
        shown = date_order(values[numeric])
    except ValueError as err:
        raise MappingError(f"{file}, column {column!r}: {err}") from err
    if shown is None and numeric.any():
        raise cell_error(
            file,
            column,
            values[numeric],
            "is ambiguous (day or month first?): set `dates: {dayfirst: true}` or false",
        )
    return bool(shown)


def parse_times(values: pd.Series, options: dict, file: str, column: str) -> pd.Series:
    """Text to UTC timestamps without a zone: `to_utc` with the file's day-month order
    (`day_first`), an explicit format, or epoch milliseconds (`unit: ms`); `tz` names
    the zone of times without one."""
    present = values.notna()
    if options.get("unit"):
        numbers = pd.to_numeric(values, errors="coerce")
        parsed = pd.to_datetime(numbers, unit=options["unit"], utc=True)
    elif "format" in options:
        parsed = pd.to_datetime(values, format=options["format"], utc=True, errors="coerce")
    else:
        iso = pd.to_datetime(values, format="ISO8601", utc=True, errors="coerce")
        rest = present & iso.isna()
        dayfirst = day_first(values[rest], options, file, column) if rest.any() else False
        parsed = to_utc(values, dayfirst)
    if options.get("tz"):
        naive = ~has_zone(values)
        local = parsed.dt.tz_localize(None).dt.tz_localize(
            options["tz"], ambiguous="NaT", nonexistent="NaT"
        )
        parsed = parsed.where(~naive, local.dt.tz_convert("UTC"))
    bad = present & parsed.isna()
    if bad.any():
        raise cell_error(file, column, values[bad], "is not a date")
    return parsed.dt.tz_convert(None).astype("datetime64[us]")


def decimal_mark(values: pd.Series, file: str, column: str) -> str:
    """The column's decimal mark, as its values show it: `1.234,5` or `34,1` show a comma,
    `1,234.5` or `34.1` a point; `34,100` or `1.234` alone show neither, and read with
    the other order they would be off by a thousand, so they stop the run unless
    another value (or the mapping's `numbers: {decimal: ...}`) decides."""
    text = values.dropna().str.replace(r"[\s$€£%]", "", regex=True)
    comma = text.str.fullmatch(r"-?[\d.]*\d,\d+") & ~text.str.fullmatch(r"-?\d{1,3}(,\d{3})+")
    point = text.str.fullmatch(r"-?[\d,]*\d\.\d+") & ~text.str.fullmatch(r"-?\d{1,3}(\.\d{3})+")
    point |= text.str.fullmatch(r"-?\d{1,3}(,\d{3}){2,}")  # 1,000,000: commas group thousands
    comma |= text.str.fullmatch(r"-?\d{1,3}(\.\d{3}){2,}")
    if comma.any() and point.any():
        shown = f"{text[comma].iloc[0]!r} and {text[point].iloc[0]!r}"
        raise MappingError(
            f"{file}, column {column!r}: {shown} use different decimal marks; "
            "set `numbers: {decimal: ...}` in the mapping"
        )
    if comma.any():
        return ","
    unclear = text.str.fullmatch(r"-?\d{1,3}[.,]\d{3}")
    if unclear.any() and not point.any():
        raise cell_error(
            file,
            column,
            values.loc[text[unclear].index],
            "is ambiguous (a thousands "
            'separator or a decimal mark?): set `numbers: {decimal: "."}` or ","',
        )
    return "."


def parse_numbers(values: pd.Series, options: dict, file: str, column: str) -> pd.Series:
    """Text to numbers (`to_number`) with the mapping's decimal mark or the one the values
    show (`decimal_mark`); a cell that is not a number stops the run."""
    decimal = options.get("decimal") or decimal_mark(values, file, column)
    numbers = to_number(values, decimal)
    bad = values.notna() & ~np.isfinite(numbers)  # inf and nan spelled out are no amounts
    if bad.any():
        raise cell_error(file, column, values[bad], "is not a finite number")
    return numbers.astype("float64")


def parse_booleans(values: pd.Series, options: dict, file: str, column: str) -> pd.Series:
    """Yes/No, true/false, 1/0, X/blank and the mapping's own words to True/False."""
    # YAML reads a bare `true:` key as the boolean True: both spellings are accepted
    true = TRUE_WORDS | {str(w).lower() for w in options.get("true", options.get(True, ()))}
    false = FALSE_WORDS | {str(w).lower() for w in options.get("false", options.get(False, ()))}
    lowered = values.fillna("").astype(str).str.strip().str.lower()
    bad = ~lowered.isin(true | false)
    if bad.any():  # every distinct one (a deal stage the mapping does not list, say)
        raise unlisted_error(
            file, column, values[bad], "the yes/no words (`booleans: true/false`)"
        )
    return lowered.isin(true)


def unlisted_error(file: str, column: str, values: pd.Series, where: str) -> MappingError:
    """Every distinct value a map does not cover, with its count and first data row."""
    counts = values.value_counts(sort=False)
    first = values.reset_index().drop_duplicates(values.name or 0).set_index(values.name or 0)
    listed = ", ".join(
        f"{shown(value, column)} ({n} row(s), first in data row {first.loc[value].iloc[0] + 1})"
        for value, n in counts.items()
    )
    return MappingError(
        f"{file}, column {column!r}: {len(counts)} value(s) not covered by {where}: {listed};"
        " add each to the map (or `_other: other`)"
    )


# A nightly export's tables, checked and staged for scoring.


def _lead_tables_schema(extras: list[str]):
    import pyarrow as pa

    kinds = {"time": pa.timestamp("us"), "int": pa.float64(), "float": pa.float64()}
    columns = [(c, kinds.get(k, pa.string())) for c, k in TABLES["leads"].items()]
    leads = pa.schema(columns + [(c, pa.string()) for c in extras])
    matches = pa.schema(
        [
            ("lead_id", pa.string()),
            ("account_id", pa.string()),
            ("match_rule", pa.string()),
            ("personal_email", pa.bool_()),
        ]
    )
    return leads, matches


def read_inputs(
    export: Path,
    rules: RowRules,
    mapping: dict[str, dict[str, str]],
    config: ScoreParams,
    work: Path,
) -> tuple[dict[str, pd.DataFrame | Path], pd.DataFrame, int, dict[str, Path]]:
    """Tables to score from, the rejected lead rows and the lead rows read.

    The other tables are checked and typed by DuckDB into Parquet in `work`; leads are
    checked, typed and matched to accounts chunk by chunk, and the good ones streamed to
    Parquet there too, so memory follows the chunk size, not the export.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    files = {table: find_file(export, table) for table in SCORING_TABLES}
    staged = work / "tables"
    staged.mkdir()
    others = [(table, path) for table, path in files.items() if table != "leads"]
    paths = {
        table: stage_table(path, table, mapping.get(table, {}), staged / f"{table}.parquet")
        for table, path in progress(others, "checking tables")
    }
    check_known_values(paths)  # what validation refuses in training, mapped or canonical
    tables: dict[str, pd.DataFrame | Path] = dict(paths)
    accounts = pd.read_parquet(tables["accounts"])
    rules = replace(rules, known_accounts=frozenset(accounts["account_id"]))
    folded = {str(a).strip().lower(): a for a in accounts["account_id"]}
    rules = replace(rules, folded_accounts=folded)
    bad, seen, rows_in = [], {}, 0
    lead_schema, match_schema = _lead_tables_schema(lead_extras(files["leads"]))
    tables["leads"], tables["lead_accounts"] = work / "leads_in.parquet", work / "matches.parquet"
    chunks = lead_chunks(files["leads"], mapping.get("leads", {}), config.chunk_rows)
    with (
        pq.ParquetWriter(tables["leads"], lead_schema) as leads_out,
        pq.ParquetWriter(tables["lead_accounts"], match_schema) as matches_out,
    ):
        for chunk in progress(chunks, "checking leads"):
            rows_in += len(chunk)
            problems = lead_row_problems(chunk, rules, seen)
            rejected = problems != ""
            bad.append(chunk[rejected].assign(reasons=problems[rejected]))
            good = typed_leads(chunk[~rejected], rules.dayfirst)
            leads_out.write_table(pa.Table.from_pandas(good, lead_schema, preserve_index=False))
            matches = match_leads(good, accounts)
            matches_out.write_table(
                pa.Table.from_pandas(matches, match_schema, preserve_index=False)
            )
    if rows_in == 0:
        raise ExportError(f"{files['leads']}: the lead export has no rows")
    rejects = pd.concat(bad, ignore_index=True)
    if len(rejects) > config.max_reject_share * rows_in:
        raise ExportError(
            f"{files['leads']}: {len(rejects)} of {rows_in} rows fail row checks (more than "
            f"{config.max_reject_share:.0%}); the export looks broken. First: row "
            f"{rejects['source_row'].iloc[0]}: {masked(rejects['reasons'].iloc[0])}"
        )
    return tables, rejects, rows_in, files


def id_case_mismatches(tables: dict[str, pd.DataFrame | Path]) -> dict[str, int]:
    """Touches whose lead id matches a lead only when case and spaces are ignored: they
    would silently join nothing (Salesforce ids are case-sensitive, so no id is folded)."""
    import duckdb

    counts = {}
    for name in ("engagement", "sales_activities"):
        found = duckdb.execute(  # paths bound, never spliced into the SQL
            """SELECT count(*) FROM read_parquet($touches) t
            WHERE t.lead_id NOT IN (SELECT lead_id FROM read_parquet($leads))
              AND lower(trim(t.lead_id)) IN
                  (SELECT lower(trim(lead_id)) FROM read_parquet($leads))""",
            {"touches": str(tables[name]), "leads": str(tables["leads"])},
        ).fetchall()[0][0]
        if found:
            log.warning(
                "%s: %d rows name a lead only up to case or spaces: not joined", name, found
            )
            counts[name] = int(found)
    return counts
