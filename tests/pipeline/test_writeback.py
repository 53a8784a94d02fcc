"""`mqlscore score --writeback` end to end on the tiny world's demo exports: each CRM's
import file written and read back, record ids as the export names them, the changed-only
rule on a second night, re-runs, the length cut, and the refusals."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
import typer
import yaml

from mqlscore.config import MqlRule
from mqlscore.io import file_md5
from mqlscore.serving.writeback import ELLIPSIS, STATE_FILE
from pipeline import score
from sources.crm_records import record_ids, writeback_target
from sources.demo import write_demo_export
from sources.exports import as_of, write_nightly_export
from sources.world import World
from tests.conftest import ROOT

NIGHTS = ("2025-05-30", "2025-05-31")  # the tiny world's export is taken on 2025-06-01
MAPPINGS = {"marketo": ["marketo", "salesforce"]}  # Marketo has no deals: with Salesforce
FILES = {
    "salesforce": {"crm_update_lead.csv": "Lead", "crm_update_contact.csv": "Contact"},
    "hubspot": {"crm_update.csv": "contact"},
    "marketo": {"crm_update.csv": "lead"},
}
ID = {"salesforce": "Id", "hubspot": "Record ID", "marketo": "id"}
DATETIME = {
    "salesforce": r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000Z",
    "hubspot": r"\d{4}-\d\d-\d\d",
    "marketo": r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ",
}


def _mappings(system: str) -> list[Path]:
    return [ROOT / f"mappings/{m}.yaml" for m in MAPPINGS.get(system, [system])]


def _night(world: World, rule: MqlRule, system: str, day: str, folder: Path) -> Path:
    write_demo_export(as_of(world.raw_tables(), pd.Timestamp(day), rule), system, folder)
    return folder


def _score(export: Path, out: Path, models: Path, params: Path, day: str, **extra) -> dict:
    score.main(
        export=export,
        out=out,
        model=str(models / "lead"),
        account_model="none",
        params=params,
        run_date=day,
        allow_thin_context=True,  # HubSpot's CRM exports hold no touches
        **extra,
    )
    return json.loads((out / "manifest.json").read_text())


def _read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")


@pytest.fixture(scope="module", params=["salesforce", "hubspot", "marketo"])
def two_nights(request, tmp_path_factory, tiny_world, rule, models, tiny_params_file):
    """Two nights of one system's demo exports scored into one --out with --writeback:
    the system, the exports, the out folder, and per night its manifest and files."""
    system = request.param
    root = tmp_path_factory.mktemp(f"writeback-{system}")
    out, nights = root / "scores", []
    for day in NIGHTS:
        export = _night(tiny_world, rule, system, day, root / day)
        manifest = _score(
            export, out, models, tiny_params_file, day, mapping=_mappings(system), writeback=True
        )
        files = {name: _read(out / name) for name in FILES[system]}
        scores = pd.read_parquet(out / "lead_scores.parquet")
        nights.append({"export": export, "manifest": manifest, "files": files, "scores": scores})
    return system, out, nights


def test_each_crms_import_file_holds_every_record_on_the_first_night(two_nights) -> None:
    system, out, nights = two_nights
    first = nights[0]
    counts = first["manifest"]["writeback"]
    assert counts["first"] and counts["unchanged"] == 0 and counts["no_record"] == 0
    assert counts["written"] == first["manifest"]["scored"] == len(first["scores"])
    assert {f: c["object"] for f, c in counts["files"].items()} == FILES[system]
    assert sum(len(t) for t in first["files"].values()) == counts["written"]
    spec = yaml.safe_load(_mappings(system)[0].read_text())["writeback"]
    for name, table in first["files"].items():
        assert list(table.columns) == [ID[system], *spec["fields"]]
        assert table[ID[system]].is_unique and (table[ID[system]] != "").all()
        assert counts["files"][name]["rows"] == len(table)
        booleans = table[[c for c, v in spec["fields"].items() if v == "handed_over"]]
        assert set(booleans.stack()) <= {"true", "false"}
        timestamps = table[[c for c, v in spec["fields"].items() if v == "scored_at"]].stack()
        assert timestamps.str.fullmatch(DATETIME[system]).all()
        assert not table.isin(["nan", "None", "NaT"]).any().any()


def test_each_row_is_a_record_of_the_export_and_holds_no_personal_data(two_nights) -> None:
    system, out, nights = two_nights
    export, files = nights[0]["export"], nights[0]["files"]
    scores = nights[0]["scores"].set_index("lead_id")
    if system == "salesforce":
        leads = _read(export / "Lead.csv").set_index("Id")
        contacts = set(_read(export / "Contact.csv")["Id"])
        converted = leads.loc[leads["IsConverted"] == "true", "ConvertedContactId"]
        assert set(files["crm_update_lead.csv"]["Id"]) == set(scores.index) - set(converted.index)
        assert set(files["crm_update_contact.csv"]["Id"]) == set(
            converted[converted.index.isin(scores.index)]
        )
        assert (
            set(files["crm_update_contact.csv"]["Id"]) <= contacts
        )  # a converted lead: its contact
        by_record = dict(zip(converted, converted.index, strict=True))
        for name in files:
            lead = files[name]["Id"].map(lambda i, m=by_record: m.get(i, i))
            assert (
                files[name]["mqlscore_Score__c"].astype(int).to_numpy()
                == scores.loc[lead, "score"].to_numpy()
            ).all()
        personal = _read(export / "Lead.csv")[["Email", "Company"]]
    elif system == "hubspot":
        contacts = _read(export / "hubspot-crm-exports-all-contacts.csv")
        assert set(files["crm_update.csv"]["Record ID"]) == set(contacts["Record ID"])
        personal = contacts[["Email", "Company Name"]]
    else:  # Marketo: its own lead id, though the lead is scored under its Salesforce id
        people = _read(export / "marketo_leads.csv").set_index("id")
        got = files["crm_update.csv"]
        assert set(got["id"]) == set(people.index)
        lead = people.loc[got["id"], "sfdcLeadId"]
        assert (
            got["mqlscoreScore"].astype(int).to_numpy() == scores.loc[lead, "score"].to_numpy()
        ).all()
        personal = people[["email", "company"]]
    text = "".join((out / name).read_text(encoding="utf-8") for name in files)
    assert "@" not in text
    names = {v for v in personal.stack() if len(v) > 6}
    assert not [v for v in names if v in text][:3]  # no email, no company name
    assert "\r" not in text  # LF line ends
    for name in files:  # UTF-8 without a byte-order mark
        assert not (out / name).read_bytes().startswith(b"\xef\xbb\xbf")


def test_the_second_night_writes_only_the_records_whose_values_changed(two_nights) -> None:
    system, out, nights = two_nights
    first, second = nights
    spec = yaml.safe_load(_mappings(system)[0].read_text())["writeback"]
    compared = [
        h
        for h, v in spec["fields"].items()
        if (v if isinstance(v, str) else v["value"]) != "scored_at"
        and (isinstance(v, str) or v.get("compare", True))
    ]
    before = pd.concat(first["files"].values()).set_index(ID[system])[compared]
    target = writeback_target(tuple(_mappings(system)))
    records = record_ids(target, second["export"])
    counts = second["manifest"]["writeback"]
    written = pd.concat(second["files"].values()).set_index(ID[system])
    # every record written tonight differs from last night's values, or is new
    common = written.index.intersection(before.index)
    assert (written.loc[common, compared] != before.loc[common, compared]).any(axis=1).all()
    # every record not written is unchanged: its values tonight, from tonight's scores
    tonight = second["scores"].set_index("lead_id")
    if records is not None:  # the records of tonight's scored leads
        records = records[records["lead_id"].isin(tonight.index)]
    everyone = (
        records["record_id"] if records is not None else tonight.index.to_series()
    ).tolist()
    skipped = sorted(set(everyone) - set(written.index))
    assert len(skipped) == counts["unchanged"] > 0
    assert counts["written"] == len(written) < counts["written"] + counts["unchanged"]
    assert counts["written"] + counts["unchanged"] == second["manifest"]["scored"]
    lead_of = (
        dict(zip(records["record_id"], records["lead_id"], strict=True))
        if records is not None
        else {i: i for i in tonight.index}
    )
    score_column = next(h for h, v in spec["fields"].items() if v == "score")
    for record in skipped[:50]:
        assert int(before.loc[record, score_column]) == tonight.loc[lead_of[record], "score"]
    assert second["manifest"]["outputs"][STATE_FILE] == file_md5(out / STATE_FILE)
    for name in FILES[system]:
        assert second["manifest"]["outputs"][name] == file_md5(out / name)


def test_a_rerun_of_a_night_writes_the_same_files_and_a_run_without_writeback_none(
    tiny_world,
    rule,
    models,
    tiny_params_file,
    tmp_path,
) -> None:
    out, mapping = tmp_path / "scores", _mappings("salesforce")
    exports = [_night(tiny_world, rule, "salesforce", d, tmp_path / d) for d in NIGHTS]
    _score(exports[0], out, models, tiny_params_file, NIGHTS[0], mapping=mapping, writeback=True)
    second = _score(
        exports[1], out, models, tiny_params_file, NIGHTS[1], mapping=mapping, writeback=True
    )
    files = {n: (out / n).read_bytes() for n in FILES["salesforce"]}
    again = _score(
        exports[1], out, models, tiny_params_file, NIGHTS[1], mapping=mapping, writeback=True
    )
    assert {n: (out / n).read_bytes() for n in files} == files  # compared with night 1 again
    assert again["writeback"]["written"] == second["writeback"]["written"]
    every = _score(
        exports[1], out, models, tiny_params_file, NIGHTS[1], mapping=mapping, writeback_all=True
    )
    assert every["writeback"]["written"] == every["scored"] and every["writeback"]["mode"] == "all"
    state = (out / STATE_FILE).read_bytes()
    plain = _score(exports[1], out, models, tiny_params_file, NIGHTS[1], mapping=mapping)
    assert plain["writeback"] is None and not list(out.glob("crm_update*.csv"))
    assert (out / STATE_FILE).read_bytes() == state  # kept for the next --writeback


def test_reasons_are_cut_to_the_fields_length_in_the_mapping(
    tiny_world,
    rule,
    models,
    tiny_params_file,
    tmp_path,
) -> None:
    spec = yaml.safe_load((ROOT / "mappings/salesforce.yaml").read_text())
    spec["writeback"]["fields"]["mqlscore_Reasons__c"]["max_length"] = 60
    mapping = tmp_path / "salesforce.yaml"
    mapping.write_text(yaml.safe_dump(spec))
    export = _night(tiny_world, rule, "salesforce", NIGHTS[0], tmp_path / "export")
    out = tmp_path / "scores"
    manifest = _score(
        export, out, models, tiny_params_file, NIGHTS[0], mapping=[mapping], writeback=True
    )
    reasons = pd.concat(_read(out / n) for n in FILES["salesforce"])["mqlscore_Reasons__c"]
    assert reasons.str.len().max() <= 60
    scores = pd.read_parquet(out / "lead_scores.parquet")
    ups = scores[[f"reason_up_{k}" for k in (1, 2, 3)]]
    full = ups.apply(lambda r: "; ".join(v for v in r if v), axis=1)
    assert manifest["writeback"]["cut"]["mqlscore_Reasons__c"] == (full.str.len() > 60).sum() > 0
    assert reasons.str.endswith(ELLIPSIS).sum() == (full.str.len() > 60).sum()
    assert not reasons.str.endswith(";" + ELLIPSIS).any()  # cut after a whole reason


def test_a_canonical_export_writes_the_plain_shape_keyed_by_lead_id(
    tiny_world,
    models,
    tiny_params_file,
    tmp_path,
) -> None:
    export = tmp_path / "export"
    write_nightly_export(tiny_world.raw_tables(), export, tiny_world.exported_at)
    out = tmp_path / "scores"
    day = str(tiny_world.exported_at.date())
    manifest = _score(export, out, models, tiny_params_file, day, writeback=True)
    table = _read(out / "crm_update.csv")
    assert table.columns[0] == "lead_id" and len(table) == manifest["scored"]
    assert set(table["lead_id"]) == set(pd.read_parquet(out / "lead_scores.parquet")["lead_id"])
    assert manifest["writeback"]["mapping"] is None


def test_writeback_with_a_mapping_that_has_no_section_is_refused_before_anything_is_written(
    tiny_world,
    rule,
    models,
    tiny_params_file,
    tmp_path,
    caplog,
) -> None:
    spec = yaml.safe_load((ROOT / "mappings/salesforce.yaml").read_text())
    del spec["writeback"]
    mapping = tmp_path / "salesforce.yaml"
    mapping.write_text(yaml.safe_dump(spec))
    export = _night(tiny_world, rule, "salesforce", NIGHTS[0], tmp_path / "export")
    with pytest.raises(typer.Exit) as stop:
        _score(
            export,
            tmp_path / "out",
            models,
            tiny_params_file,
            NIGHTS[0],
            mapping=[mapping],
            writeback=True,
        )
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert stop.value.exit_code == 2 and len(errors) == 1
    assert re.search(r"salesforce\.yaml: no `writeback` section", errors[0])
    assert not (tmp_path / "out" / "manifest.json").exists()
