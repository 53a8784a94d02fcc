"""Write-back to the CRM, the pure part: the shape a mapping says, the changed-only rule,
the state across nights and re-runs, the length cut; and the section's refusals."""

from __future__ import annotations

import copy
from pathlib import Path

import pandas as pd
import pytest
import yaml

from mqlscore.serving import writeback
from mqlscore.serving.writeback import ELLIPSIS, cut, updates
from sources.crm_records import PLAIN, shape_from, writeback_target
from sources.intake import MappingError
from sources.mapping_spec import SpecError, check_spec, check_writeback
from tests.conftest import ROOT

NIGHT_1, NIGHT_2 = pd.Timestamp("2025-05-30"), pd.Timestamp("2025-05-31")


def _scores(**changes: list) -> pd.DataFrame:
    """Four scored leads as lead_scores holds them (plus the run's `held` flag)."""
    frame = pd.DataFrame(
        {
            "lead_id": ["L1", "L2", "L3", "L4"],
            "rank": [1, 2, 3, 4],
            "score": [47, 12, 3, 1],
            "grade": ["A", "B", "C", "D"],
            "qualified": [True, False, False, False],
            "held": [False, False, False, False],
            "reason_up_1": ["4 people engaged in 30 days", "a company email", "", ""],
            "reason_up_2": ["on the target list", "", "", ""],
            "reason_up_3": ["", "", "", ""],
        }
    )
    return frame.assign(**changes)


def _shape():
    return shape_from(copy.deepcopy(PLAIN))


def test_the_plain_shape_writes_every_lead_first_and_then_only_changed_ones() -> None:
    shape = _shape()
    first = updates(_scores(), None, shape, NIGHT_1, None)
    table = first.files["crm_update.csv"]
    assert list(table.columns) == [
        "lead_id",
        "mqlscore_score",
        "mqlscore_grade",
        "mqlscore_reasons",
        "mqlscore_qualified",
        "mqlscore_scored_at",
    ]
    assert table["lead_id"].tolist() == ["L1", "L2", "L3", "L4"]
    assert table["mqlscore_reasons"].iloc[0] == "4 people engaged in 30 days; on the target list"
    assert table["mqlscore_qualified"].tolist() == ["true", "false", "false", "false"]
    assert set(table["mqlscore_scored_at"]) == {"2025-05-30T00:00:00Z"}
    assert first.counts["first"] and first.counts["written"] == 4
    # night 2: L2's score moves; L3's reasons only, and they are not compared
    tonight = _scores(
        score=[47, 13, 3, 1],
        reason_up_1=["4 people engaged in 30 days", "a company email", "3 visits", ""],
    )
    second = updates(tonight, None, shape, NIGHT_2, first.state)
    assert second.files["crm_update.csv"]["lead_id"].tolist() == ["L2"]
    said = {k: second.counts[k] for k in ("written", "unchanged", "first")}
    assert said == {"written": 1, "unchanged": 3, "first": False}
    assert second.counts["previous"] == str(NIGHT_1)
    # a re-run of night 2 compares with night 1 again: the same rows, not none
    again = updates(tonight, None, shape, NIGHT_2, second.state)
    pd.testing.assert_frame_equal(again.files["crm_update.csv"], second.files["crm_update.csv"])
    # --writeback-all sends every record, changed or not
    every = updates(tonight, None, shape, NIGHT_2, second.state, everything=True)
    assert len(every.files["crm_update.csv"]) == 4 and every.counts["mode"] == "all"


def test_the_state_keeps_at_most_the_latest_entry_before_the_night_and_the_nights_own() -> None:
    shape = _shape()
    state = None
    for day, score in zip(pd.date_range("2025-05-01", periods=6), range(6), strict=True):
        state = updates(_scores(score=[score] * 4), None, shape, day, state).state
    assert state.groupby(["object", "record_id"]).size().max() == 2
    assert set(state["written_at"]) == {pd.Timestamp("2025-05-05"), pd.Timestamp("2025-05-06")}
    assert set(state.columns) == {"object", "record_id", "written_at", *shape.compared}


def test_a_field_added_to_the_mapping_resends_every_record() -> None:
    section = copy.deepcopy(PLAIN)
    first = updates(_scores(), None, shape_from(section), NIGHT_1, None)
    section["fields"]["mqlscore_rank"] = "rank"
    second = updates(_scores(), None, shape_from(section), NIGHT_2, first.state)
    assert second.counts["written"] == 4


def test_two_leads_on_one_record_write_it_once_with_the_better_lead() -> None:
    records = pd.DataFrame(
        {
            "lead_id": ["L1", "L2", "L3"],  # L4: no record in the export
            "object": ["Contact", "Contact", "Lead"],
            "record_id": ["003A", "003A", "00QB"],
        }
    )
    section = {
        "objects": {
            "Lead": {"file": "crm_update_lead.csv", "id": "Id"},
            "Contact": {"file": "crm_update_contact.csv", "id": "Id"},
        },
        "records": [{"object": "Lead", "file": "Lead.csv", "lead_id": "Id", "id": "Id"}],
        "fields": {"Score__c": "score", "Hot__c": "handed_over"},
    }
    check_writeback(section, "test")
    got = updates(
        _scores(held=[False, True, False, False]), records, shape_from(section), NIGHT_1, None
    )
    assert got.files["crm_update_contact.csv"].to_dict("records") == [
        {"Id": "003A", "Score__c": "47", "Hot__c": "true"}
    ]
    assert got.files["crm_update_lead.csv"]["Id"].tolist() == ["00QB"]
    assert got.counts["duplicate_records"] == 1 and got.counts["no_record"] == 1
    assert got.counts["files"] == {
        "crm_update_lead.csv": {"object": "Lead", "rows": 1},
        "crm_update_contact.csv": {"object": "Contact", "rows": 1},
    }


def test_held_leads_stay_handed_over_in_the_crm() -> None:
    section = {"objects": {"x": {"file": "crm_update.csv", "id": "id"}}}
    section["fields"] = {"hot": "handed_over", "tonight": "qualified"}
    got = updates(
        _scores(held=[False, True, False, False]), None, shape_from(section), NIGHT_2, None
    )
    table = got.files["crm_update.csv"]
    assert table["hot"].tolist() == ["true", "true", "false", "false"]
    assert table["tonight"].tolist() == ["true", "false", "false", "false"]


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("short", 10, "short"),
        (
            "4 people engaged; on the target list; a company email",
            40,
            "4 people engaged; on the target list…",
        ),
        ("4 people engaged; on the target list", 20, "4 people engaged…"),
        ("one long reason with no separator", 12, "one long re…"),
    ],
)
def test_text_is_cut_at_the_last_whole_reason_that_fits(
    text: str, limit: int, expected: str
) -> None:
    assert cut(text, limit) == expected and len(cut(text, limit)) <= limit


def test_the_cut_is_per_field_and_counted() -> None:
    section = copy.deepcopy(PLAIN)
    section["fields"]["mqlscore_reasons"]["max_length"] = 30
    got = updates(_scores(), None, shape_from(section), NIGHT_1, None)
    reasons = got.files["crm_update.csv"]["mqlscore_reasons"]
    assert reasons.str.len().max() <= 30
    assert reasons.iloc[0] == "4 people engaged in 30 days" + ELLIPSIS
    assert got.counts["cut"] == {"mqlscore_grade": 0, "mqlscore_reasons": 1}


def test_an_email_in_a_text_value_is_cut_to_its_domain() -> None:
    scores = _scores(reason_up_1=["from jane.doe@acme.com", "", "", ""])
    got = updates(scores, None, _shape(), NIGHT_1, None)
    assert "jane.doe" not in got.files["crm_update.csv"].to_csv()


def test_an_unreadable_state_is_refused_not_taken_for_a_first_night(tmp_path: Path) -> None:
    path = tmp_path / writeback.STATE_FILE
    assert writeback.read_state(path) is None
    path.write_text("not parquet")
    with pytest.raises(writeback.WritebackError, match="cannot read the write-back state"):
        writeback.read_state(path)


def _salesforce_with(change) -> dict:
    spec = yaml.safe_load((ROOT / "mappings/salesforce.yaml").read_text())
    change(spec["writeback"])
    return spec


@pytest.mark.parametrize(
    ("change", "says"),
    [
        (
            lambda w: w.update(fields_={}),
            "writeback: unknown key 'fields_' (did you mean 'fields'?)",
        ),
        (
            lambda w: w["fields"].update(mqlscore_Rank__c="rnak"),
            "writeback.fields.mqlscore_Rank__c: 'rnak' is not one of our values "
            "(did you mean 'rank'?)",
        ),
        (
            lambda w: w["fields"].update(mqlscore_Score__c={"value": "score", "max_length": 3}),
            "writeback.fields.mqlscore_Score__c.max_length: score is not text",
        ),
        (
            lambda w: w["fields"]["mqlscore_Reasons__c"].update(max_lenght=80),
            "unknown key 'max_lenght' (did you mean 'max_length'?)",
        ),
        (
            lambda w: w["objects"]["Lead"].update(file="../leads.csv"),
            "writeback.objects.Lead.file: '../leads.csv' must be named crm_update*.csv",
        ),
        (
            lambda w: w["records"][0].update(object="Contacts"),
            "writeback.records[0].object: 'Contacts' is not one of the objects "
            "(did you mean 'Contact'?)",
        ),
        (lambda w: w.pop("records"), "writeback needs `records`"),
        (lambda w: w["fields"].update(Id="score"), "'Id' is the record id column"),
        (lambda w: w.update(booleans={True: "1"}), "give exactly `true: ...` and `false: ...`"),
        # shapes the checks themselves tripped over (TypeError, exit 3: found by the fuzzer)
        (
            lambda w: w["fields"].update(mqlscore_Score__c=["score"]),
            "writeback.fields.mqlscore_Score__c: ['score'] is not one of our values",
        ),
        (lambda w: w["records"].__setitem__(2, None), "writeback.records[2]: expected a mapping"),
        (lambda w: w["records"][0].update(object=["Lead"]), "records[0].object: ['Lead'] is not"),
        (lambda w: w["records"][0].update(file=None), "records[0].file: expected a file name"),
        (lambda w: w["objects"].update(Lead=None), "writeback.objects.Lead needs `file` and `id`"),
    ],
)
def test_a_writeback_section_the_language_does_not_know_is_refused(change, says: str) -> None:
    with pytest.raises(SpecError) as refused:
        check_spec(_salesforce_with(change), "salesforce.yaml")
    assert says in str(refused.value)


def test_the_shipped_sections_and_the_plain_shape_pass() -> None:
    check_writeback(copy.deepcopy(PLAIN), "plain")
    for system in ("salesforce", "hubspot", "marketo"):
        spec = yaml.safe_load((ROOT / f"mappings/{system}.yaml").read_text())
        check_spec(spec, system)
        assert shape_from(spec["writeback"]).compared  # something decides a change


def test_writeback_reads_the_section_of_the_mapping_that_supplies_the_leads(
    tmp_path: Path,
) -> None:
    both = (ROOT / "mappings/marketo.yaml", ROOT / "mappings/salesforce.yaml")
    assert writeback_target(both).mapping.name == "marketo.yaml"
    assert writeback_target(()).shape.files == ["crm_update.csv"]
    bare = tmp_path / "olist.yaml"
    bare.write_text((ROOT / "mappings/olist.yaml").read_text())
    with pytest.raises(MappingError, match="olist.yaml: no `writeback` section"):
        writeback_target((bare,))
