"""The one way in: the source named in params.yaml as the canonical raw tables.

Every source gives the same thing: the canonical tables (empty for those it lacks), a
truth table only for the synthetic world, and what `export.json` records about it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from mqlscore.config import SYNTHETIC, MqlRule, SourceParams, WorldParams
from sources.mapping import canonical_tables, load_source
from sources.world import generate_world


@dataclass(frozen=True)
class Loaded:
    tables: dict[str, pd.DataFrame]
    truth: dict[str, pd.DataFrame]  # empty unless the source knows the truth
    info: dict  # written to export.json: export time, source, missing tables, ...


def load(config: SourceParams, world: WorldParams, rule: MqlRule) -> Loaded:
    """The synthetic world when no mapping is named, else the mapped exports."""
    if not config.mappings:
        made = generate_world(world, rule)
        info = {
            "exported_at": made.exported_at.isoformat(),
            "source": SYNTHETIC,
            "missing_tables": [],
            "extra_lead_columns": [],
            # the world gives each lead its account when it is created
            "known_at_creation": {"leads": ["account_id"]},
        }
        return Loaded(made.tables(), made.truth_tables(), info)
    tables, info = canonical_tables(load_source(list(config.mappings)), config.input)
    return Loaded(tables, {}, info)


def canonical_export(mappings: list[Path], folder: Path, out: Path) -> Path:
    """A nightly export in a source system's shape, mapped to canonical Parquet tables
    (and `export.json`) in `out`, the shape `mqlscore score` reads (no optional table:
    scoring reads none)."""
    from mqlscore.io import EXPORT_FILE, write_json, write_parquet

    tables, info = canonical_tables(load_source(mappings), folder, optional=False)
    for name, frame in tables.items():
        write_parquet(frame, out / f"{name}.parquet")
    exported = folder / EXPORT_FILE  # the export's own time when it says, else just after
    if exported.exists():  # its newest row (which the export then holds, not a future one)
        info = json.loads(exported.read_text())
    elif info.get("exported_at"):
        newest = pd.Timestamp(info["exported_at"]) + pd.Timedelta(seconds=1)
        info |= {"exported_at": newest.isoformat(), "exported_at_from": "the newest record"}
    write_json(info, out / EXPORT_FILE)
    return out
