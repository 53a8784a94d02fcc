"""The review tables: hand-over, the 2x2, breakdowns, campaign quality, lift, the page."""

from __future__ import annotations

import pandas as pd
import pytest

from mqlscore.evaluation.kinds import KINDS
from mqlscore.reporting import page, review

DAY = pd.Timestamp("2025-03-01")


@pytest.fixture
def test_rows() -> pd.DataFrame:
    """Two snapshots of four leads: marketing flags L1 and L2, the model prefers L3, L1."""
    rows = []
    for snapshot in (DAY, DAY + pd.Timedelta(days=31)):
        rows += [
            ("L1", "A1", snapshot, 1, 0.50, 1, "web", 1, 0.8),
            ("L2", "A2", snapshot, 1, 0.01, 0, "event", 0, 0.2),
            ("L3", "A3", snapshot, 0, 0.90, 1, "web", 1, 1.0),
            ("L4", None, snapshot, 0, 0.02, 0, "event", None, 0.0),
        ]
    columns = ["lead_id", "account_id", "snapshot_date", "mql_flag", "model", "label"]
    columns += ["lead_source", "is_target_account", "buying_group_coverage"]
    frame = pd.DataFrame(rows, columns=columns)
    return frame.assign(new_mql=frame["mql_flag"])


def test_the_model_hands_over_as_many_rows_as_marketing_flags(test_rows: pd.DataFrame) -> None:
    marked = review.with_handover(test_rows, KINDS["lead"])
    picks = marked[marked["model_pick"] > 0]
    # marketing flags L1 and L2 at both snapshots: handed over once, so 2 leads, not 4
    assert marked["rule_pick"].sum() == marked["model_pick"].sum() == 2
    assert picks["lead_id"].tolist() == ["L1", "L3"] and picks["snapshot_date"].eq(DAY).all()
    cells = review.two_by_two(marked).set_index(["mql_rule", "model"])
    assert cells.loc[(True, True), "rows"] == 1 and cells.loc[(True, True), "conversions"] == 1
    assert cells.loc[(True, False), "conversion_rate"] == 0.0  # L2: flagged, never converts
    assert cells.loc[(False, True), "conversion_rate"] == 1.0  # L3: the model's find
    assert cells["rows"].sum() == len(test_rows)
    examples = review.off_diagonal(marked)
    assert set(examples["MQL, not handed over by the model"]["lead_id"]) == {"L2"}
    assert set(examples["handed over by the model, not an MQL"]["lead_id"]) == {"L3"}


def test_segments_give_each_side_its_precision(test_rows: pd.DataFrame) -> None:
    marked = review.with_handover(test_rows, KINDS["lead"])
    table = review.segment_table(marked, "is_target_account").set_index("is_target_account")
    assert table.loc["yes", "model_picks"] == 2 and table.loc["yes", "model_precision"] == 1.0
    assert table.loc["no", "rule_picks"] == 1 and table.loc["no", "rule_precision"] == 0.0
    assert table.loc[review.MISSING, "rows"] == 2  # L4 has no account
    assert table["rows"].sum() == len(test_rows)


def test_campaigns_are_credited_for_touches_in_the_lookback_only(test_rows: pd.DataFrame) -> None:
    engagement = pd.DataFrame(
        {
            "lead_id": ["L1", "L3", "L3", "L2"],
            "occurred_at": [DAY - pd.Timedelta(days=5), DAY - pd.Timedelta(days=200), DAY, DAY],
            "campaign_id": ["C-web", "C-old", "C-late", None],
        }
    )
    outcomes = pd.DataFrame(
        {
            "lead_id": ["L1", "L1", "L3"],
            "snapshot_date": [DAY, DAY + pd.Timedelta(days=31), DAY],
            "opportunity_id": ["O1", "O1", "O3"],
            "is_won": [True, True, False],
            "amount": [1000.0, 1000.0, 500.0],
        }
    )
    table = review.campaign_quality(engagement, test_rows, outcomes, days=90).set_index(
        "campaign_id"
    )
    # C-old is 200 days before the first snapshot; C-late is on the snapshot day itself,
    # so it counts for the second snapshot only (before it, and within 90 days).
    assert set(table.index) == {"C-web", "C-late"}
    assert table.loc["C-web", "won"] == 1 and table.loc["C-web", "won_revenue"] == 1000.0
    assert table.loc["C-web", "opportunities"] == 1  # one deal, though two rows lead to it
    assert table.loc["C-late", "opportunities"] == 0  # O3 follows the first snapshot only
    assert table.loc["C-web", "mqls"] == 1 and table.loc["C-late", "mqls"] == 0
    # C-web's touch falls in both snapshots' lookback: two rows at L1's 0.5 each
    assert table.loc["C-web", "expected_conversions"] == pytest.approx(1.0)
    assert table.loc["C-web", "leads"] == 1 and table.loc["C-web", "conversions"] == 2


def test_lift_divides_the_captured_share_by_the_share_worked() -> None:
    gains = pd.DataFrame({"share_worked": [0.0, 0.1, 0.2, 1.0], "model": [0.0, 0.5, 0.6, 1.0]})
    table = review.lift_table(gains, shares=(0.1, 0.2)).set_index("ranker")
    assert table.loc["model", "top 10%"] == "50% (5.0x)"
    assert table.loc["model", "top 20%"] == "60% (3.0x)"


def test_roles_engaged_count_the_buying_group(test_rows: pd.DataFrame) -> None:
    table = review.roles_table(test_rows, roles=5).set_index("roles_engaged")
    assert list(table.index) == [0, 1, 4, 5]
    assert table.loc[5, "conversion_rate"] == 1.0 and table.loc[1, "conversion_rate"] == 0.0


def test_tables_escape_what_an_export_put_in_a_cell() -> None:
    html = page.html_table(pd.DataFrame({"campaign_id": ["<script>x</script>"], "won": [1]}))
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_every_headline_figure_carries_its_interval() -> None:
    from mqlscore.reporting import markdown

    ranking = {"roc_auc": 0.91, "pr_auc": 0.2, "precision_at_10pct": 0.1, "lift_at_10pct": 3.0}
    summary = {
        "ranking": {
            "model": ranking | {"roc_auc_interval": [0.88, 0.93], "pr_auc_interval": [0.15, 0.26]},
            "mql_flag": ranking | {"roc_auc_interval": [0.5, 0.56], "pr_auc_interval": [0.1, 0.3]},
        },
        "sales_capacity": {
            name: {"deals_reached": 12.0, "deals_reached_interval": [8.0, 17.0], "won_deals": 2.5}
            for name in ("model", "mql_flag")
        },
    }
    table = review.interval_table(summary, {"model": "the model"}).set_index("ranker")
    assert table.loc["the model", "PR-AUC"] == "0.2 (0.15 to 0.26)"
    assert table.loc["the model", "deals created at capacity"] == "12 (8 to 17)"
    assert table.loc["mql_flag", "deals won at capacity"] == "2.5"  # a tie's share, no interval
    row = summary["ranking"]["model"]
    assert markdown.with_interval(row, "pr_auc", "0.2") == "0.2 (0.15 to 0.26)"
    assert markdown.with_interval({"won_deals_interval": [1.0, 4.5]}, "won_deals", "3") == (
        "3 (1 to 4.5)"
    )


def test_the_report_shows_only_a_scoring_run_of_its_own_source(tiny_params_file) -> None:
    from pipeline.report import _this_source

    mine = {"model": {"name": "mqlscore-lead"}, "scored": 10}
    other = {"model": {"name": "mqlscore-salesforce-lead"}, "scored": 10}
    assert _this_source(mine, tiny_params_file) == mine
    assert _this_source(other, tiny_params_file) is None  # another source's night
    assert _this_source({"scored": 1}, tiny_params_file) == {"scored": 1}  # a model folder
    assert _this_source(None, tiny_params_file) is None


def test_each_grade_says_what_it_meant_in_the_test_period() -> None:
    """One sentence per grade with rows, its probabilities and conversion from the
    evaluated figures (a rate under 1% per 1,000); an empty grade says nothing."""
    grades = {
        "A": {"rows": 314, "mean_probability": 0.39, "conversion_rate": 0.357},
        "B": {"rows": 2075, "mean_probability": 0.164, "conversion_rate": 0.188},
        "C": {"rows": 0, "mean_probability": 0.0, "conversion_rate": 0.0},
        "D": {"rows": 66767, "mean_probability": 0.002, "conversion_rate": 0.0024},
    }
    cuts = {"A": 0.30, "B": 0.10, "C": 0.03}
    said = review.grade_meanings({"grades": grades}, cuts, "lead", 90)
    assert said == [
        "Grade A (probability 30% and up): 314 leads in the test period, of which 36 in 100 "
        "converted within 90 days (the model predicted 39).",
        "Grade B (10% to 30%): 2,075 leads in the test period, of which 19 in 100 converted "
        "within 90 days (the model predicted 16).",
        "Grade D (below 3%): 66,767 leads in the test period, of which 2 in 1,000 converted "
        "within 90 days (the model predicted 2).",
    ]
