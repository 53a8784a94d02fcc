"""Real exports to the canonical tables, through declarative mapping files.

A mapping file (YAML, under `mappings/`) names, per canonical table, the export file(s)
to read and how: column renames, date, number and boolean formats, value maps, lists
split from one cell, constants for what the source lacks, filters, and unions of several
parts. Several mappings compose (Marketo for leads and activities, Salesforce for
accounts and deals): each supplies the tables it names. Pure functions turn frames of
text into typed canonical frames; reading files is `read_export_file`.
"""

from __future__ import annotations

import difflib
import fnmatch
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from mqlscore.io import PLACEHOLDERS, date_order, sniff_csv
from mqlscore.schema import RAW_TABLES, TABLES

TRUE_WORDS = frozenset({"true", "t", "yes", "y", "1", "x", "won", "closed won", "ja", "oui", "si"})
FALSE_WORDS = frozenset({"false", "f", "no", "n", "0", "", "lost", "nein", "non"})
OTHER = "_other"  # value-map key: what every unlisted value becomes


class MappingError(ValueError):
    """A mapping that does not fit its export: names the file, column, value and row."""


@dataclass(frozen=True)
class Source:
    """The mapping files of one source, merged: its name and tables (its `params` block
    is applied by `mqlscore.config.load_section`)."""

    name: str
    tables: dict[str, list[dict[str, Any]]]
    files: tuple[Path, ...]
    same_person: tuple[dict[str, str], ...] = ()  # {file, id, alias}: two ids, one person


def load_source(paths: list[Path]) -> Source:
    """Merge mapping files; a table two of them map comes from the one listed first
    (Marketo before Salesforce: Marketo's leads and touches, Salesforce's deals)."""
    names, tables, people = [], {}, []
    for path in paths:
        try:
            spec = yaml.safe_load(Path(path).read_text()) or {}
        except (OSError, yaml.YAMLError) as err:
            raise MappingError(f"{path}: cannot read the mapping: {err}") from err
        unknown = set(spec) - {"name", "tables", "params", "description", "same_person"}
        if unknown:
            raise MappingError(f"{path}: unknown keys {sorted(unknown)}")
        names.append(spec.get("name") or Path(path).stem)
        for table, parts in (spec.get("tables") or {}).items():
            if table not in TABLES:
                raise MappingError(f"{path}: unknown table {table!r} (one of {RAW_TABLES})")
            if table not in tables:  # the mapping listed first supplies a table
                tables[table] = parts if isinstance(parts, list) else [parts]
        if spec.get("same_person"):
            people.append(spec["same_person"])
    if "leads" not in tables or "opportunities" not in tables:
        raise MappingError(
            f"{', '.join(map(str, paths))}: a source needs at least leads and opportunities"
        )
    return Source("-".join(names), tables, tuple(Path(p) for p in paths), tuple(people))


def read_export_file(path: Path) -> pd.DataFrame:
    """A CSV (any common dialect: BOM, `;`, tabs, CRLF, Latin-1, quoted newlines) or
    Parquet file as text columns, placeholders as missing."""
    if path.suffix.lower() == ".parquet":
        frame = pd.read_parquet(path)
        return frame.astype("string").astype(object).where(frame.notna(), None)
    raw = path.read_bytes()
    try:
        encoding, sep = sniff_csv(raw)
    except ValueError as err:
        raise MappingError(f"{path}: {err}") from err
    try:
        frame = pd.read_csv(
            io.StringIO(raw.decode(encoding)), sep=sep, dtype=str, keep_default_na=False
        )
    except (pd.errors.ParserError, ValueError) as err:
        raise MappingError(f"{path}: not a readable CSV ({encoding}, {sep!r}): {err}") from err
    frame.columns = [str(c).strip() for c in frame.columns]
    text = frame.apply(lambda c: c.str.strip())
    return text.where(~text.isin(PLACEHOLDERS), None)


def _fail(file: str, column: str, values: pd.Series, what: str) -> MappingError:
    row = values.index[0]
    return MappingError(
        f"{file}, column {column!r}: value {values.iloc[0]!r} in data row {row + 1} {what}"
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
                raise _fail(file, column, values.loc[[i]], f"is not a {order} date")
        return wanted
    try:
        shown = date_order(values[numeric])
    except ValueError as err:
        raise MappingError(f"{file}, column {column!r}: {err}") from err
    if shown is None and numeric.any():
        raise _fail(
            file,
            column,
            values[numeric],
            "is ambiguous (day or month first?): set `dates: {dayfirst: true}` or false",
        )
    return bool(shown)


def parse_times(values: pd.Series, options: dict, file: str, column: str) -> pd.Series:
    """Text to UTC timestamps without a zone: ISO 8601 with or without an offset (a `Z`,
    `+0000`, `+02:00`), day- or month-first dates with or without time, an explicit
    format, or epoch milliseconds (`unit: ms`); `tz` names the zone of times without one."""
    present = values.notna()
    if options.get("unit"):
        numbers = pd.to_numeric(values, errors="coerce")
        parsed = pd.to_datetime(numbers, unit=options["unit"], utc=True)
    else:
        parsed = pd.to_datetime(  # ISO 8601 first: vectorized, the usual export spelling
            values, format=options.get("format", "ISO8601"), utc=True, errors="coerce"
        )
        rest = present & parsed.isna()
        if rest.any() and "format" not in options:
            dayfirst = day_first(values[rest], options, file, column)
            parsed[rest] = pd.to_datetime(
                values[rest], format="mixed", dayfirst=dayfirst, utc=True, errors="coerce"
            )
        if options.get("tz"):
            naive = ~values.str.contains(r"(?:[+-]\d\d:?\d\d|Z)$", na=False)
            local = parsed.dt.tz_localize(None).dt.tz_localize(
                options["tz"], ambiguous="NaT", nonexistent="NaT"
            )
            parsed = parsed.where(~naive, local.dt.tz_convert("UTC"))
    bad = present & parsed.isna()
    if bad.any():
        raise _fail(file, column, values[bad], "is not a date")
    return parsed.dt.tz_convert(None).astype("datetime64[us]")


def parse_numbers(values: pd.Series, options: dict, file: str, column: str) -> pd.Series:
    """Text to numbers; `decimal: ","` reads 1.234,5 as 1234.5; currency signs dropped."""
    text = values.str.replace(r"[\s$€£%]", "", regex=True)
    if options.get("decimal") == ",":
        text = text.str.replace(".", "", regex=False).str.replace(",", ".", regex=False)
    else:
        text = text.str.replace(",", "", regex=False)
    numbers = pd.to_numeric(text, errors="coerce")
    bad = values.notna() & numbers.isna()
    if bad.any():
        raise _fail(file, column, values[bad], "is not a number")
    return numbers.astype("float64")


def parse_booleans(values: pd.Series, options: dict, file: str, column: str) -> pd.Series:
    """Yes/No, true/false, 1/0, X/blank and the mapping's own words to True/False."""
    # YAML reads a bare `true:` key as the boolean True: both spellings are accepted
    true = TRUE_WORDS | {str(w).lower() for w in options.get("true", options.get(True, ()))}
    false = FALSE_WORDS | {str(w).lower() for w in options.get("false", options.get(False, ()))}
    lowered = values.fillna("").astype(str).str.strip().str.lower()
    bad = ~lowered.isin(true | false)
    if bad.any():
        raise _fail(file, column, values[bad], "is not a yes/no value")
    return lowered.isin(true)


def map_values(values: pd.Series, mapping: dict, file: str, column: str) -> pd.Series:
    """Source values to ours by a value map; unlisted values become the `_other` entry,
    or stop the run when the map has none."""
    table = {str(k): v for k, v in mapping.items() if k != OTHER}
    mapped = values.astype("string").map(table).astype(object)
    patterns = [(k, v) for k, v in table.items() if "*" in k]  # first matching wildcard
    if patterns:
        rest = values.notna() & mapped.isna()
        for value in values[rest].unique():
            hit = next((v for k, v in patterns if fnmatch.fnmatchcase(str(value), k)), None)
            mapped[rest & (values == value)] = hit
    unmapped = values.notna() & mapped.isna()
    if unmapped.any() and OTHER not in mapping:
        raise _fail(file, column, values[unmapped], "is not covered by the mapping's value map")
    return mapped.where(~unmapped, mapping.get(OTHER)).where(values.notna(), None)


def _closest(name: str, columns: list[str]) -> str:
    near = difflib.get_close_matches(name, columns, n=3, cutoff=0.5)
    return f"; closest: {', '.join(near)}" if near else f"; it has: {', '.join(columns[:12])}"


def _column(frame: pd.DataFrame, name: str, file: str, purpose: str) -> pd.Series:
    if name not in frame.columns:
        hint = _closest(name, list(frame.columns))
        raise MappingError(f"{file} has no column {name!r} ({purpose}){hint}")
    return frame[name]


def map_part(frame: pd.DataFrame, part: dict, table: str, file: str) -> pd.DataFrame:
    """One export file's rows as canonical rows of `table` (typed), by one mapping part."""
    kinds = TABLES[table]
    for column, allowed in (part.get("where") or {}).items():
        keep = _column(frame, column, file, "filter").isin([str(v) for v in allowed])
        frame = frame[keep]
    for column, separator in (part.get("split") or {}).items():
        cells = _column(frame, column, file, "split").str.split(separator)
        frame = frame.assign(**{column: cells}).explode(column)
        frame[column] = frame[column].str.strip().replace("", None)
        frame = frame[frame[column].notna()]
    for column, separator in (part.get("take_first") or {}).items():  # first of a list
        first = _column(frame, column, file, "take_first").str.split(separator).str[0]
        frame = frame.assign(**{column: first.str.strip().replace("", None)})
    frame = frame.reset_index(drop=True)
    out = pd.DataFrame(index=frame.index)
    columns, constants = part.get("columns") or {}, part.get("constants") or {}
    for name in kinds:
        if name in columns and isinstance(columns[name], dict):  # {join: [a, b], sep: "|"}
            spec = columns[name]
            cells = [_column(frame, c, file, f"{table}.{name}").fillna("") for c in spec["join"]]
            out[name] = cells[0].str.cat(cells[1:], sep=spec.get("sep", "|"))
        elif name in columns:
            source = columns[name]
            sources = source if isinstance(source, list) else [source]
            picked = [_column(frame, s, file, f"{table}.{name}") for s in sources]
            out[name] = pd.concat(picked, axis=1).bfill(axis=1).iloc[:, 0]  # first non-blank
        else:
            out[name] = constants.get(name)
    if table == "engagement":  # the export's own activity names, counted when mapped to other
        out["activity_source"] = out["activity_type"]
    for name, mapping in (part.get("values") or {}).items():
        out[name] = map_values(out[name], mapping, file, columns.get(name, name))
    for name, kind in kinds.items():
        out[name] = _typed(out[name], kind, part, file, str(columns.get(name, name)))
    for name, rule in (part.get("blank_unless") or {}).items():  # an open deal's CloseDate
        out[name] = out[name].where(_kept(frame, rule, file, name))
    for name, source in (part.get("extra") or {}).items():
        out[f"x_{name}"] = _column(frame, source, file, f"extra column {name}")
    return out


def _typed(values: pd.Series, kind: str, part: dict, file: str, column: str) -> pd.Series:
    values = values.astype(object).where(values.notna(), None)
    if kind == "time":
        return parse_times(values.astype("string"), part.get("dates") or {}, file, column)
    if kind in ("int", "float"):
        numbers = parse_numbers(values.astype("string"), part.get("numbers") or {}, file, column)
        return numbers.round().astype("Int64") if kind == "int" else numbers
    if kind == "bool":
        if values.map(lambda v: isinstance(v, bool)).all():
            return values.astype(bool)
        return parse_booleans(values, part.get("booleans") or {}, file, column)
    text = values.astype("string")
    return text.astype(object).where(text.notna(), None)


def _kept(frame: pd.DataFrame, rule: str | dict, file: str, name: str) -> np.ndarray:
    """`blank_unless` rows: a yes/no column is yes, or a column holds one of `values`."""
    if isinstance(rule, dict):
        cells = _column(frame, rule["column"], file, f"blank_unless {name}")
        return cells.isin([str(v) for v in rule["values"]]).to_numpy()
    return parse_booleans(
        _column(frame, rule, file, f"blank_unless {name}"), {}, file, rule
    ).to_numpy()


def map_table(source: Source, table: str, folder: Path) -> tuple[pd.DataFrame, list[str]]:
    """A canonical table from the export files its mapping parts name (their union), and
    the files read."""
    frames, read = [], []
    for part in source.tables[table]:
        patterns = part.get("file")
        patterns = patterns if isinstance(patterns, list) else [patterns]
        paths = sorted({p for pattern in patterns for p in folder.glob(str(pattern))})
        if not paths:
            raise MappingError(
                f"{folder}: no file matches {patterns} (mapping for {table}); "
                f"found: {', '.join(sorted(p.name for p in folder.iterdir())[:12])}"
            )
        for path in paths:
            frames.append(map_part(read_export_file(path), part, table, path.name))
            read.append(path.name)
    mapped = pd.concat(frames, ignore_index=True)
    key = {"engagement": "event_id", "sales_activities": "activity_id"}.get(table)
    if key and mapped[key].isna().all():  # sources without event ids: number the rows
        mapped[key] = [f"{table[0].upper()}{i}" for i in range(1, len(mapped) + 1)]
    return mapped, read


def _aliases(rule: dict, folder: Path) -> dict[str, str]:
    """alias id -> person id, from the file a `same_person` rule names."""
    found = sorted(folder.glob(rule["file"]))
    if not found:
        raise MappingError(f"{folder}: no file matches {rule['file']} (same_person)")
    frame = read_export_file(found[0])
    ids = _column(frame, rule["id"], rule["file"], "same_person id")
    alias = _column(frame, rule["alias"], rule["file"], "same_person alias")
    return {a: i for a, i in zip(alias, ids, strict=True) if a is not None and i is not None}


def one_person(
    tables: dict[str, pd.DataFrame], aliases: dict[str, str]
) -> dict[str, pd.DataFrame]:
    """Every reference to an alias id (a converted lead's contact) points at the person's
    id instead, and the alias's own lead row goes: one person, one lead."""
    out = dict(tables)
    for name in ("engagement", "sales_activities", "opportunity_contacts"):
        if name in out:
            ids = out[name]["lead_id"]
            out[name] = out[name].assign(lead_id=ids.map(aliases).fillna(ids))
    out["leads"] = out["leads"][~out["leads"]["lead_id"].isin(set(aliases))].reset_index(drop=True)
    return out


def empty_table(table: str) -> pd.DataFrame:
    """A canonical table with no rows (a table the source does not have)."""
    dtypes = {"time": "datetime64[us]", "float": "float64", "int": "Int64", "bool": "bool"}
    return pd.DataFrame(
        {c: pd.Series(dtype=dtypes.get(k, object)) for c, k in TABLES[table].items()}
    )


def accounts_from_ids(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Without an account export: one bare account per account id the leads and deals
    name (no firmographics), so deals still roll up by account."""
    ids = pd.concat([tables["leads"]["account_id"], tables["opportunities"]["account_id"]])
    ids = sorted(ids.dropna().unique())
    frame = empty_table("accounts").reindex(range(len(ids)))
    frame["account_id"] = ids
    frame["is_target_account"] = False
    return frame


def canonical_tables(source: Source, folder: Path) -> tuple[dict[str, pd.DataFrame], dict]:
    """Every canonical table (empty for those the source lacks) and what was done."""
    if not folder.is_dir():
        raise MappingError(f"export folder {folder} does not exist")
    tables, files = {}, {}
    for table in RAW_TABLES:
        if table in source.tables:
            tables[table], files[table] = map_table(source, table, folder)
    for rule in source.same_person:
        tables = one_person(tables, _aliases(rule, folder))
    missing = [t for t in RAW_TABLES if t not in tables]
    for table in missing:
        tables[table] = accounts_from_ids(tables) if table == "accounts" else empty_table(table)
    tables, dropped = drop_personless(tables)
    times = [
        frame[c].max()
        for name, frame in tables.items()
        for c, kind in TABLES[name].items()
        if kind == "time" and len(frame) and frame[c].notna().any()
    ]
    other = _other_counts(tables["engagement"])
    tables["engagement"] = tables["engagement"].drop(columns="activity_source", errors="ignore")
    extra = [c for c in tables["leads"].columns if c.startswith("x_")]
    info = {
        "exported_at": max(times).isoformat() if times else None,
        "source": source.name,
        "missing_tables": missing,
        "extra_lead_columns": extra,
        "files": files,
        "rows": {name: len(frame) for name, frame in tables.items()},
        "other_activity_types": other,
        "dropped_rows": dropped,
    }
    return tables, info


def _other_counts(engagement: pd.DataFrame) -> dict[str, int]:
    if "activity_source" not in engagement.columns:
        return {}
    other = engagement.loc[engagement["activity_type"] == "other", "activity_source"]
    return {str(k): int(v) for k, v in other.value_counts().items()}


def drop_personless(
    tables: dict[str, pd.DataFrame],
) -> tuple[dict[str, pd.DataFrame], dict[str, dict[str, int]]]:
    """Sales touches on neither a lead nor an account (a task logged on something no
    table holds) dropped, and counted per table and reason; touches on an account only
    stay, as account-level sales touches."""
    sales = tables["sales_activities"]
    nobody = sales["lead_id"].isna() & sales["account_id"].isna()
    if not nobody.any():
        return tables, {}
    kept = sales[~nobody].reset_index(drop=True)
    return tables | {"sales_activities": kept}, {
        "sales_activities": {"no lead or account": int(nobody.sum())}
    }
