"""The evaluation as Markdown: the side-by-side tables, calibration and grades."""

from __future__ import annotations

import pandas as pd

from mqlscore.evaluation.assess import Assessment
from mqlscore.evaluation.kinds import Kind


def count(value: float) -> str:
    """A count as read: whole numbers bare, a tie's expected share with one decimal."""
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def with_interval(row: dict, field: str, shown: str) -> str:
    """A figure followed by its bootstrap interval, when the row has one."""
    interval = row.get(f"{field}_interval")
    if interval is None:
        return shown
    low, high = interval
    spell = count if field in COUNTS else str
    return f"{shown} ({spell(low)} to {spell(high)})"


COUNTS = ("converted", "deals_reached", "won_deals")


def evaluation_markdown(result: Assessment, kind: Kind, correction: str) -> str:
    """An assessment in words: the side-by-side tables, calibration, which kind is the
    model, the follow-up check (leads, synthetic world) and the gate."""
    summary = result.summary
    text = report_markdown(result.table, result.test, kind, result.absent)
    text += calibration_markdown(summary["calibration"])
    text += (
        f"\nThe model is the {summary['model_kind']} (better on validation PR-AUC; the "
        f"{summary['comparison_kind']} row is the other), scored here as fitted on the "
        "rows before the test period; the served model is its refit on every complete row.\n"
    )
    if "never_worked" in summary:
        text += follow_up_markdown(summary["never_worked"], correction)
    return text + gate_markdown(summary["gate"])


def report_markdown(
    table: dict[str, dict], test: pd.DataFrame, kind: Kind, absent: list[str] = ()
) -> str:
    """The side-by-side tables as Markdown; `absent` names the comparison rows the
    source cannot support."""
    dates = test["snapshot_date"]
    lines = [
        f"Test period: {dates.nunique()} snapshots {dates.min():%Y-%m-%d} to "
        f"{dates.max():%Y-%m-%d}, {len(test)} {kind.noun} rows, {int(test['label'].sum())} "
        f"converted within the label window (base rate {test['label'].mean():.4f}).",
        "",
        "Figures in brackets: the interval (`evaluate.interval`, 90% by default) of a "
        "bootstrap that resamples accounts (a lead without one alone), the same draws for "
        "every ranker.",
        "",
        "| ranker | ROC-AUC | PR-AUC | precision at top 10% | lift at top 10% |",
        "|---|---|---|---|---|",
    ]
    for name in table["ranking"]:
        label = kind.rankers[name]
        row = table["ranking"][name]
        roc = with_interval(row, "roc_auc", str(row["roc_auc"]))
        pr = with_interval(row, "pr_auc", str(row["pr_auc"]))
        lines.append(
            f"| {label} | {roc} | {pr} | {row['precision_at_10pct']} | {row['lift_at_10pct']} |"
        )
    cols = [
        "converted",
        "precision",
        "recall",
        "deals_reached",
        "won_deals",
        "won_revenue",
        "won_revenue_share",
        "worked_per_won_deal",
    ]
    for volume in table:
        if volume == "ranking":
            continue
        picked = count(table[volume]["model"]["selected"])
        lines += [
            "",
            f"At {volume.replace('_', ' ')}: {picked} {kind.noun}s handed to sales over the "
            f"test snapshots, each {kind.noun} once (one handed over at an earlier snapshot is "
            "not handed over again). Deals reached and won are distinct "
            f"opportunities the handed-over {kind.noun}s are on within their label window.",
            "",
            "| ranker | " + " | ".join(c.replace("_", " ") for c in cols) + " |",
            "|---" * (len(cols) + 1) + "|",
        ]
        for name, row in table[volume].items():
            label = kind.rankers[name]
            cells = [with_interval(row, c, _cell(c, row[c])) for c in cols]
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
        lead = _lead_over_baseline(table[volume]["model"], kind)
        lines += ["", lead] if lead else []
    if absent:
        lines += ["", f"Not in this export, so not compared: {'; '.join(absent)}."]
    return "\n".join(lines) + "\n"


def _lead_over_baseline(model: dict, kind: Kind) -> str:
    """The model's paired lead over marketing's pick, in one sentence."""
    parts = [
        f"{field.replace('_', ' ')} {low:+g} to {high:+g}"
        for field in ("deals_reached", "won_deals")
        for low, high in [model.get(f"{field}_vs_baseline_interval") or (None, None)]
        if low is not None
    ]
    if not parts:
        return ""
    return (
        f"The model minus {kind.rankers[kind.baseline]} (paired interval): "
        + "; ".join(parts)
        + " (an interval holding 0 is inside the noise)."
    )


def _cell(column: str, value: object) -> str:
    if column == "won_revenue":
        return f"{value:,.0f}"
    if column in ("converted", "deals_reached", "won_deals") and value is not None:
        return count(value)
    return f"{value}"


def calibration_markdown(calibration: dict) -> str:
    """Calibration and grades as Markdown."""
    lines = [
        "",
        f"Calibration on the test period: Brier {calibration['brier']} "
        f"(uncalibrated {calibration['brier_raw']}), expected calibration error "
        f"{calibration['ece']} (uncalibrated {calibration['ece_raw']}).",
        "",
        "| grade | rows | mean probability | conversion rate |",
        "|---|---|---|---|",
    ]
    for name, row in calibration["grades"].items():
        lines.append(
            f"| {name} | {row['rows']} | {row['mean_probability']} | {row['conversion_rate']} |"
        )
    return "\n".join(lines) + "\n"


def follow_up_markdown(bias: dict, in_use: str) -> str:
    """The follow-up-bias comparison in one paragraph."""
    ipw, naive = bias["ipw_model"], bias["naive_model"]
    return (
        f"\nFollow-up bias: on the {naive['rows']} test rows of leads sales never worked, "
        f"rank correlation with the truth: IPW-corrected model {ipw['spearman_vs_truth']}, "
        f"naive model {naive['spearman_vs_truth']}; ROC-AUC {ipw['roc_auc']} vs "
        f"{naive['roc_auc']} (in use: {in_use}).\n"
    )


def gate_markdown(gate: dict) -> str:
    """The quality gate in words."""
    bars = "passed" if gate["passed"] else "FAILED: " + "; ".join(gate["failed"])
    if gate.get("skipped"):
        bars += f" (not checked: {'; '.join(gate['skipped'])})"
    if gate.get("noise"):
        bars += f"; {'; '.join(gate['noise'])}"
    return f"\nQuality gate: {bars}. The promote stage meets the champion and moves the alias.\n"


def flat_report(name: str, table: dict, metrics: dict, audit: pd.DataFrame, dropped: dict) -> str:
    """The run in Markdown: both models and the baseline, the leakage audit."""
    lines = [
        f"# {name}: flat mode",
        "",
        f"Rows (train / valid / test): {metrics['rows']}; conversions: {metrics['conversions']}.",
        "",
        "| model | ROC-AUC | PR-AUC | precision at top 10% | lift at top 10% | ECE |",
        "|---|---|---|---|---|---|",
    ]
    for name_, row in table.items():
        if "roc_auc" in row:
            lines.append(
                f"| {name_.replace('_', ' ')} | {row['roc_auc']} | {row['pr_auc']} | "
                f"{row['precision_at_10pct']} | {row['lift_at_10pct']} | {row['ece']} |"
            )
    lines += ["", "Leakage audit (single-column AUC on the training rows):", ""]
    lines += ["| column | kind | AUC | left out | why |", "|---|---|---|---|---|"]
    for row in audit.itertuples():
        out = "yes" if row.flagged and not row.kept_anyway else "no"
        lines.append(f"| {row.column} | {row.kind} | {row.auc} | {out} | {row.why} |")
    if dropped:
        lines += ["", "Not features: " + ", ".join(f"{c} ({k})" for c, k in dropped.items())]
    return "\n".join(lines) + "\n"
