"""The revenue team's review as tables: the model's hand-over beside marketing's MQLs,
breakdowns, campaign quality and the buying-group story, all on the evaluated test rows.

Pure functions: the test rows (every ranker's score, from `evaluate`), the outcomes
behind them and the engagement log in; small frames out, ready for the HTML report.
"""

from __future__ import annotations

import pandas as pd

from mqlscore.evaluation.kinds import Kind
from mqlscore.evaluation.volume import marketing_volume, top_k_per_snapshot
from mqlscore.serving.reasons import plain_name

MISSING = "(blank: no account)"


def with_handover(test: pd.DataFrame, kind: Kind) -> pd.DataFrame:
    """`rule_pick`, `model_pick`: each row's share of marketing's first hand-over and of the
    model's, as many per snapshot (1 or 0 except at a tied cut). Needs the baseline column."""
    volume = marketing_volume(test, kind.baseline, kind.key)
    return test.assign(
        rule_pick=top_k_per_snapshot(test, kind.baseline, volume, kind.key),
        model_pick=top_k_per_snapshot(test, "model", volume, kind.key),
    )


def _rate(conversions: pd.Series, rows: pd.Series) -> pd.Series:
    return (conversions / rows.where(rows > 0)).round(4)


def _side(share: pd.Series, picked: bool) -> pd.Series:
    return share if picked else 1 - share


def two_by_two(test: pd.DataFrame) -> pd.DataFrame:
    """Rows and conversion in each cell of marketing's hand-over x the model's (a row at a
    tied cut counts by its share)."""
    cells = []
    for rule in (True, False):
        for model in (True, False):
            weight = _side(test["rule_pick"], rule) * _side(test["model_pick"], model)
            rows, hits = float(weight.sum()), float((weight * test["label"]).sum())
            cells.append((rule, model, round(rows, 2), round(hits, 2)))
    table = pd.DataFrame(cells, columns=["mql_rule", "model", "rows", "conversions"])
    table["conversion_rate"] = _rate(table["conversions"], table["rows"])
    return table


def off_diagonal(test: pd.DataFrame, per_cell: int = 3, seed: int = 0) -> dict[str, pd.DataFrame]:
    """A few rows (a seeded draw, best-scored first) from each cell the rule and the model
    disagree on: MQLs the model would not hand over, and its picks marketing missed."""
    rule, model = test["rule_pick"] >= 0.5, test["model_pick"] >= 0.5
    cells = {
        "MQL, not handed over by the model": test[rule & ~model],
        "handed over by the model, not an MQL": test[~rule & model],
    }
    return {
        name: rows.sample(min(per_cell, len(rows)), random_state=seed).sort_values(
            "model", ascending=False
        )
        for name, rows in cells.items()
    }


def lift_table(gains: pd.DataFrame, shares: tuple[float, ...] = (0.05, 0.1, 0.2, 0.5)):
    """Per ranker, the share of conversions captured working the top x% of rows, and the
    lift (that share over x), as "72% (14.4x)"."""
    rows = gains.set_index("share_worked")
    table = {}
    for share in shares:
        nearest = min(rows.index, key=lambda s, share=share: abs(s - share))
        captured = rows.loc[nearest]
        table[f"top {share:.0%}"] = [f"{c:.0%} ({c / nearest:.1f}x)" for c in captured]
    return pd.DataFrame(table, index=rows.columns).rename_axis("ranker").reset_index()


def grade_table(calibration: dict) -> pd.DataFrame:
    """Rows, mean probability and conversion by grade."""
    table = pd.DataFrame(calibration["grades"]).T.rename_axis("grade").reset_index()
    table["rows"] = table["rows"].astype(int)
    return table


def grade_meanings(calibration: dict, cuts: dict[str, float], noun: str, days: int) -> list[str]:
    """What each grade meant in the test period, one sentence per grade with rows: its
    scores (the probability in percent) and how many of its rows converted."""
    ordered = sorted(cuts.items(), key=lambda kv: -kv[1])
    names = [name for name, _ in ordered] + [chr(ord(max(cuts)) + 1)]  # below the last cut
    bounds = [round(cut * 100) for _, cut in ordered]
    spans = [f"probability {bounds[0]}% and up"]
    spans += [f"{low}% to {high}%" for low, high in zip(bounds[1:], bounds, strict=False)]
    spans = dict(zip(names, [*spans, f"below {bounds[-1]}%"], strict=True))
    said = []
    for name, row in calibration["grades"].items():
        if row["rows"] and name in spans:
            rate, per = row["conversion_rate"], 100 if row["conversion_rate"] >= 0.01 else 1000
            said.append(
                f"Grade {name} ({spans[name]}): {row['rows']:,} {noun}s in the test period, "
                f"of which {rate * per:.0f} in {per:,} converted within {days} days "
                f"(the model predicted {row['mean_probability'] * per:.0f})."
            )
    return said


def roles_table(test: pd.DataFrame, roles: int) -> pd.DataFrame:
    """Conversion by the number of buying-group roles engaged at the lead's account."""
    engaged = (test["buying_group_coverage"].fillna(0) * roles).round().astype(int)
    table = test.groupby(engaged)["label"].agg(rows="size", conversions="sum")
    table["conversion_rate"] = _rate(table["conversions"], table["rows"])
    return table.rename_axis("roles_engaged").reset_index()


def segment_table(test: pd.DataFrame, column: str, top: int = 8) -> pd.DataFrame:
    """Per segment (the `top` largest, the rest as "other"): rows, conversions, and the
    keys handed over by the model and the rule within it, with their precision."""
    values = test[column]
    if column.startswith("is_"):
        values = values.map({1: "yes", 0: "no"})
    values = values.astype("string").fillna(MISSING)
    largest = values.value_counts().index[:top]
    segment = values.where(values.isin(largest), "other")
    frame = test.assign(segment=segment)
    for who in ("model", "rule"):
        frame[f"{who}_hits"] = frame[f"{who}_pick"] * frame["label"]
    table = frame.groupby("segment").agg(
        rows=("label", "size"),
        conversions=("label", "sum"),
        model_picks=("model_pick", "sum"),
        rule_picks=("rule_pick", "sum"),
        model_hits=("model_hits", "sum"),
        rule_hits=("rule_hits", "sum"),
    )
    for who in ("model", "rule"):
        table[f"{who}_precision"] = _rate(table.pop(f"{who}_hits"), table[f"{who}_picks"])
        table[f"{who}_picks"] = table[f"{who}_picks"].round(2)
    return table.sort_values("rows", ascending=False).rename_axis(column).reset_index()


def campaign_touches(engagement: pd.DataFrame, test: pd.DataFrame, days: int) -> pd.DataFrame:
    """(lead, snapshot, campaign) for every campaign that touched a test lead in the
    `days` before the snapshot."""
    keys = test[["lead_id", "snapshot_date"]]
    events = engagement.loc[
        engagement["campaign_id"].notna(), ["lead_id", "occurred_at", "campaign_id"]
    ]
    events = events[events["lead_id"].isin(keys["lead_id"])]
    joined = events.merge(keys, on="lead_id")
    start = joined["snapshot_date"] - pd.Timedelta(days=days)
    inside = (joined["occurred_at"] >= start) & (joined["occurred_at"] < joined["snapshot_date"])
    return joined.loc[inside, ["lead_id", "snapshot_date", "campaign_id"]].drop_duplicates()


def quality_by(rows: pd.DataFrame, outcomes: pd.DataFrame, column: str) -> pd.DataFrame:
    """Per value of `column` over (lead, snapshot) rows carrying `model` and `new_mql`:
    leads touched, MQLs, expected conversions, opportunities created and won, won revenue.
    An opportunity counts for every group whose row it follows (full credit each)."""
    deals = rows[["lead_id", "snapshot_date", column]].merge(
        outcomes, on=["lead_id", "snapshot_date"]
    )
    won = deals[deals["is_won"].eq(True)].drop_duplicates([column, "opportunity_id"])
    mqls = rows[rows["new_mql"] > 0] if "new_mql" in rows else rows.iloc[:0]
    table = pd.DataFrame(
        {
            "leads": rows.groupby(column)["lead_id"].nunique(),
            "mqls": mqls.groupby(column)["lead_id"].nunique(),
            "expected_conversions": rows.groupby(column)["model"].sum().round(1),
            "conversions": rows.groupby(column)["label"].sum(),
            "opportunities": deals.groupby(column)["opportunity_id"].nunique(),
            "won": won.groupby(column)["opportunity_id"].nunique(),
            "won_revenue": won.groupby(column)["amount"].sum(),
        }
    ).fillna(0)
    integer = ["leads", "mqls", "conversions", "opportunities", "won"]
    table[integer] = table[integer].astype(int)
    return table.sort_values(["won_revenue", "opportunities"], ascending=False).reset_index()


def _touched_rows(engagement: pd.DataFrame, test: pd.DataFrame, days: int) -> pd.DataFrame:
    """(lead, snapshot, campaign) touches with the test row's score, label and MQL flag."""
    touches = campaign_touches(engagement, test, days)
    columns = ["lead_id", "snapshot_date", "model", "label"]
    columns += ["new_mql"] if "new_mql" in test else []
    return touches.merge(test[columns], on=["lead_id", "snapshot_date"])


def _amounts(outcomes: pd.DataFrame) -> bool:
    return "amount" in outcomes and bool(outcomes["amount"].notna().any())


def campaign_quality(
    engagement: pd.DataFrame,
    test: pd.DataFrame,
    outcomes: pd.DataFrame,
    days: int,
    campaigns: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """`quality_by` campaign: a campaign is credited with the opportunities of the leads
    it touched in the `days` before a test snapshot, created in the label window after;
    with the export's campaigns, each campaign's type and costs beside (`with_costs`)."""
    table = quality_by(_touched_rows(engagement, test, days), outcomes, "campaign_id")
    if campaigns is None:
        return table
    types = _first(campaigns)["type"]
    if types.notna().any():
        table.insert(1, "type", table["campaign_id"].map(types))
    cost = table["campaign_id"].map(campaign_cost(campaigns)).astype(float)
    return with_costs(table, cost, _amounts(outcomes)) if has_costs(campaigns) else table


def type_quality(
    engagement: pd.DataFrame,
    test: pd.DataFrame,
    outcomes: pd.DataFrame,
    days: int,
    campaigns: pd.DataFrame,
) -> pd.DataFrame:
    """`quality_by` campaign type (trade shows, webinars, ...): a deal counts once per type
    however many of its campaigns touched; cost: the summed cost of the type's campaigns
    that touched a test lead (blank when none of them has one)."""
    types = _first(campaigns)["type"]
    rows = _touched_rows(engagement, test, days)
    rows = rows.assign(type=rows["campaign_id"].map(types)).dropna(subset=["type"])
    touched = rows.drop_duplicates("campaign_id")
    costs = campaign_cost(campaigns).reindex(touched["campaign_id"]).to_numpy()
    by_type = pd.Series(costs, index=touched["type"].to_numpy()).groupby(level=0).sum(min_count=1)
    table = quality_by(rows.drop(columns="campaign_id").drop_duplicates(), outcomes, "type")
    spent = table["type"].map(by_type).astype(float)
    return with_costs(table, spent, _amounts(outcomes)) if has_costs(campaigns) else table


def _first(campaigns: pd.DataFrame) -> pd.DataFrame:
    return campaigns.drop_duplicates("campaign_id").set_index("campaign_id")


def campaign_cost(campaigns: pd.DataFrame) -> pd.Series:
    """Each campaign's cost by id: its actual cost, else its budget (blank: neither)."""
    first = _first(campaigns)
    return first["actual_cost"].fillna(first["budgeted_cost"])


def has_costs(campaigns: pd.DataFrame | None) -> bool:
    """Whether the export gives any campaign a cost."""
    return campaigns is not None and bool(campaign_cost(campaigns).notna().any())


def with_costs(table: pd.DataFrame, cost: pd.Series, amounts: bool) -> pd.DataFrame:
    """A quality table with each row's cost, return on cost ((won revenue - cost) / cost:
    1.5 won 2.5 times the cost; blank without amounts), and cost per deal created and per
    won deal (blank without deals)."""
    out = table.copy()
    out["cost"] = cost.round(0)
    back = (table["won_revenue"] - cost) / cost.where(cost > 0)
    out["return_on_cost"] = back.round(2) if amounts else float("nan")
    out["cost_per_deal_created"] = (cost / table["opportunities"].where(lambda n: n > 0)).round(0)
    out["cost_per_won_deal"] = (cost / table["won"].where(lambda n: n > 0)).round(0)
    return out


def _spread(row: dict, field: str) -> str:
    """A figure and its interval: "0.21 (0.17 to 0.25)", "12 (8 to 17.5)"."""

    def spell(value: float) -> str:
        if field.endswith("_auc"):
            return f"{value:.4g}"
        return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"

    interval = row.get(f"{field}_interval")
    shown = spell(row[field])
    return f"{shown} ({spell(interval[0])} to {spell(interval[1])})" if interval else shown


def interval_table(summary: dict, labels: dict[str, str]) -> pd.DataFrame:
    """The headline figures of every ranker with their bootstrap intervals: ROC-AUC,
    PR-AUC, and deals reached and won at sales' capacity."""
    ranking, capacity = summary["ranking"], summary["sales_capacity"]
    rows = [
        {
            "ranker": labels.get(name, name),
            "ROC-AUC": _spread(ranking[name], "roc_auc"),
            "PR-AUC": _spread(ranking[name], "pr_auc"),
            "deals created at capacity": _spread(capacity[name], "deals_reached"),
            "deals won at capacity": _spread(capacity[name], "won_deals"),
        }
        for name in ranking
        if name in capacity
    ]
    return pd.DataFrame(rows)


def health_table(validation: dict, join: dict) -> pd.DataFrame:
    """The validation result and the match rate per rule, as one small table."""
    rows = [
        {
            "check": "data checks (Great Expectations)",
            "result": f"{validation.get('checks', 0)} run, "
            f"{validation.get('failed', 0)} failed, {validation.get('warnings', 0)} warnings",
        },
    ]
    if validation.get("skipped_tables"):
        rows.append(
            {
                "check": "tables not in this export",
                "result": ", ".join(validation["skipped_tables"]),
            }
        )
    for rule, share in join.get("match_rate", {}).items():
        how = "not matched to any account" if rule == "unmatched" else f"matched by {rule}"
        rows.append({"check": f"leads {how.replace('_', ' ')}", "result": f"{share:.1%}"})
    return pd.DataFrame(rows, columns=["check", "result"])


def drifted(drift: dict, top: int = 5) -> pd.DataFrame:
    """The features that moved most since training (PSI), from a scoring manifest."""
    psi = pd.Series(drift.get("psi", {}), dtype=float).sort_values(ascending=False)
    table = psi.head(top).round(3).rename("psi").rename_axis("feature").reset_index()
    return table.assign(feature=[plain_name(f) for f in table["feature"]])
