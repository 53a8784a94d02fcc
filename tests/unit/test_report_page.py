"""The report page on small frames: what it leaves out and says why, money, charts."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd

from mqlscore.evaluation.kinds import KINDS
from mqlscore.reporting import charts, page

DAY = pd.Timestamp("2025-03-01")
RANKERS = [
    "model",
    "lightgbm",
    "logistic_regression",
    "lead_source_rate",
    "mql_flag",
    "mql_points",
    "target_accounts",
    "marketing_points_sum",
    "oracle",
]


def _gains(names: list[str]) -> pd.DataFrame:
    share = np.linspace(0, 1, 21)
    return pd.DataFrame(
        {"share_worked": share} | {n: share ** (1 / (i + 2)) for i, n in enumerate(names)}
    )


def _evidence(amounts: bool, mql: bool, **extra) -> page.Evidence:
    """Eight test rows of two sources on one snapshot, a won deal on L1; grade A empty."""
    test = pd.DataFrame(
        {
            "lead_id": [f"L{i}" for i in range(8)],
            "snapshot_date": DAY,
            "model": [0.2, 0.15, 0.05, 0.04, 0.02, 0.01, 0.01, 0.005],
            "label": [1, 0, 1, 0, 0, 0, 0, 0],
            "lead_source": ["web", "event"] * 4,
            "mql_flag": [1, 1, 0, 0, 0, 0, 0, 0] if mql else 0,
            "new_mql": [1, 1, 0, 0, 0, 0, 0, 0] if mql else 0,
        }
    )
    outcomes = pd.DataFrame(
        {
            "lead_id": ["L0", "L2"],
            "snapshot_date": DAY,
            "opportunity_id": ["O1", "O2"],
            "is_won": [True, False],
            "amount": [125_000.0, 50_000.0] if amounts else [np.nan, np.nan],
        }
    )
    row = {"selected": 2.0, "deals_reached": 2.0, "won_deals": 1.0, "won_revenue": 125_000.0}
    rank = {"roc_auc": 0.8, "pr_auc": 0.5}
    names = ["model", "lead_source_rate", *(["mql_flag"] if mql else [])]
    grades = {
        "A": {"rows": 0, "mean_probability": 0.0, "conversion_rate": 0.0},
        "B": {"rows": 2, "mean_probability": 0.17, "conversion_rate": 0.5},
        "C": {"rows": 2, "mean_probability": 0.045, "conversion_rate": 0.5},
        "D": {"rows": 4, "mean_probability": 0.01, "conversion_rate": 0.0},
    }
    summary = {
        "sales_capacity": {n: row for n in names},
        "ranking": {n: rank for n in names},
        "calibration": {"grades": grades},
    }
    calibration = pd.DataFrame({"predicted": [0.008, 0.03, 0.16], "observed": [0.0, 0.3, 0.5]})
    return page.Evidence(
        KINDS["lead"],
        summary,
        test,
        outcomes,
        {"gains": _gains(names), "calibration": calibration},
        {"A": 0.3, "B": 0.1, "C": 0.03},
        90,
        90,
        5,
        **extra,
    )


def _text(section: page.Section) -> str:
    return " ".join(map(str, section.text)) + " ".join(html for _, html in section.tables)


def test_no_amounts_say_so_and_no_revenue_reads_zero() -> None:
    ev = _evidence(amounts=False, mql=False)
    headline = page.headline_section(ev)
    campaigns = _text(page.campaign_section(ev))
    assert "worth" not in _text(headline) and "amounts not in this export" in _text(headline)
    assert "lead source alone, the simplest baseline it allows" in _text(headline)
    assert "won revenue" not in campaigns.split("Left out")[0]  # no 0 column
    assert "won revenue (amounts not in this export)" in campaigns
    assert "mqls (no MQL flag in this export)" in campaigns


def test_money_is_written_in_the_reports_currency() -> None:
    ev = _evidence(amounts=True, mql=True, currency="BRL")
    headline = _text(page.headline_section(ev))
    assert "worth <span data-figure='model.won_revenue'>125,000 BRL</span>" in headline
    assert "won revenue (BRL)" in _text(page.campaign_section(ev))
    assert charts.money(2_500_000, "$", short=True) == "$2.5M"
    assert charts.money(53_450, None, short=True) == "53K" and charts.money(12.0) == "12"


def test_an_empty_grade_is_left_out_with_a_line_why() -> None:
    grades = _text(page.curves_section(_evidence(amounts=True, mql=True)))
    table = grades.split("Conversion by grade")[-1] if "Conversion" in grades else grades
    assert "<td>A</td>" not in table and "<td>B</td>" in table
    assert "no test row scored in them: grade A (from 30%)" in grades


def test_the_title_is_beside_the_mql_rule_only_when_there_is_one() -> None:
    with_rule = page.review_page(_evidence(amounts=True, mql=True), "synthetic")
    without = page.review_page(_evidence(amounts=False, mql=False), "olist")
    assert "<title>mqlscore: the model beside the MQL rule</title>" in with_rule
    assert "MQL rule</title>" not in without and "beside this export's baselines" in without


def test_match_rates_are_not_shown_without_an_accounts_table() -> None:
    join = {"match_rate": {"account_id": 1.0, "unmatched": 0.0}}
    skipped = {"checks": 3, "skipped_tables": ["accounts"]}
    shown = _text(page.health_section(_evidence(True, True, join=join, validation=skipped)))
    assert "matched by account id" not in shown and "no accounts table" in shown
    kept = _text(page.health_section(_evidence(True, True, join=join, validation={})))
    assert "matched by account id" in kept


def test_tracking_of_another_sources_model_is_not_this_reports(tiny_params_file) -> None:
    from pipeline.report import _own_tracking

    mine = {"models": ["mqlscore-lead"], "says": "x"}
    assert _own_tracking(mine, tiny_params_file) == mine
    assert _own_tracking({"models": ["mqlscore-olist-lead"]}, tiny_params_file) is None
    assert _own_tracking(None, tiny_params_file) is None


def test_each_ranker_has_its_own_colour_and_line_style() -> None:
    figure = charts.curve_figure(_gains(RANKERS), "gains")
    lines = figure.axes[0].get_lines()
    styles = {line.get_label(): (line.get_color(), line.get_linestyle()) for line in lines}
    assert len(lines) == len(RANKERS) and len(set(styles.values())) == len(RANKERS)
    assert len({dash for _, dash in styles.values()}) >= 4  # apart in grey print too
    width = {line.get_label(): line.get_linewidth() for line in lines}
    rules = ("mqlscore model", "MQL rule (flag)", "all target accounts")  # the account rule
    thin = max(w for n, w in width.items() if n not in rules)
    assert width["mqlscore model"] > thin and width["MQL rule (flag)"] > thin


def test_the_legend_sits_beside_the_lines() -> None:
    figure = charts.curve_figure(_gains(RANKERS), "gains")
    figure.savefig(io.BytesIO(), format="png")  # lays the figure out, as the report does
    axis = figure.axes[0]
    legend = axis.get_legend().get_window_extent()
    assert legend.x0 >= axis.get_window_extent().x1  # outside the plot, covering no data
    assert legend.x1 <= figure.bbox.x1 + 1  # and inside the picture


def test_calibration_spans_every_grade_on_a_log_axis() -> None:
    ev = _evidence(amounts=True, mql=True)
    grades = pd.DataFrame(ev.summary["calibration"]["grades"]).T.rename_axis("grade")
    grades = grades.reset_index().astype({"rows": int})
    grades.loc[grades["grade"] == "A", ["rows", "mean_probability"]] = [3, 0.42]
    figure = charts.calibration_figure(ev.curves["calibration"], grades)
    axis = figure.axes[0]
    assert axis.get_xscale() == "log" and axis.get_xlim()[1] >= 0.42
    assert "predicted probability" in axis.get_xlabel() and axis.get_ylabel()
    labels = {t.get_text() for t in axis.texts}
    assert {"A (3 rows)", "B (2 rows)"} <= labels


def test_features_that_move_no_score_are_left_out() -> None:
    importance = pd.DataFrame({"feature": ["a", "b", "c"], "mean_abs_shap": [0.5, 0.001, 0.0]})
    assert charts.moving_features(importance)["feature"].tolist() == ["a"]  # b: under 1%
    ev = _evidence(amounts=True, mql=True, importance=importance)
    said = _text(page.drivers_section(ev))
    assert "Left out of the chart: 2 features" in said and "mean |SHAP| in log-odds" in said


def test_tracked_runs_carry_their_registered_models_name(tmp_path) -> None:
    import json

    from pipeline.track import read_scores

    scores = pd.DataFrame(
        {"lead_id": ["L1"], "probability": [0.5], "grade": ["A"], "qualified": [True]}
    )
    scores.assign(marketing_mql=False).to_parquet(tmp_path / "lead_scores.parquet")
    for model, named in [
        ({"name": "mqlscore-olist-lead", "version": "3"}, "mqlscore-olist-lead"),
        ({"name": "lead", "version": "local"}, None),  # a model folder: whose, unknown
    ]:
        manifest = {"run_date": "2025-01-01", "model": model}
        (tmp_path / "manifest.json").write_text(json.dumps(manifest))
        assert read_scores(tmp_path)["model"].tolist() == [named]
