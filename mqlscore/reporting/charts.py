"""The charts every reader sees: the same matplotlib figures go into the HTML report
(inline PNG), the MLflow run (artifacts) and, as their CSV tables, `dvc plots`.

Each function takes plain tables and returns a closed figure; `data_uri` turns one into
an inline image.
"""

from __future__ import annotations

import base64
import io

import pandas as pd

YLABELS = {
    "gains": "share of conversions captured",
    "calibration": "observed conversion rate",
    "precision_at_k": "precision",
    "realised_conversion": "realised conversion rate",
}
MODEL, RULE, OTHER = "#1f6fb2", "#d9822b", "#9aa5b1"
LABELS = {
    "model": "mqlscore model",
    "logistic_regression": "logistic regression",
    "lightgbm": "LightGBM",
    "lead_source_rate": "lead source alone",
    "mql_flag": "MQL rule (flag)",
    "mql_points": "MQL points",
    "target_accounts": "all target accounts",
    "marketing_points_sum": "summed MQL points",
    "oracle": "oracle (truth)",
    "A": "grade A",
    "B": "grade B",
    "C": "grade C",
    "D": "grade D",
}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _color(name: str) -> str:
    colors = {"model": MODEL, "mql_flag": RULE, "MQL flag": RULE, "target_accounts": RULE}
    return colors.get(name, OTHER)


def data_uri(figure) -> str:
    """A figure as a `data:` URI (PNG), for a page that must open offline."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def headline_figure(rows: dict[str, dict], names: list[str], revenue: bool = True):
    """Deals created, deals won and (when the export has deal amounts) won revenue for
    each ranker at one volume."""
    plt = _pyplot()
    panels = [
        ("deals_reached", "deals created"),
        ("won_deals", "deals won"),
        *([("won_revenue", "won revenue")] if revenue else []),
    ]
    figure, axes = plt.subplots(1, len(panels), figsize=(3 * len(panels), 3.2))
    for axis, (field, title) in zip(axes, panels, strict=True):
        values = [rows[n][field] for n in names]
        bars = axis.bar(
            [LABELS.get(n, n) for n in names], values, color=[_color(n) for n in names]
        )
        labels = [f"{v / 1e6:,.1f}M" if field == "won_revenue" else f"{v:,.0f}" for v in values]
        axis.bar_label(bars, labels=labels)
        axis.set_title(title)
        axis.set_yticks([])
        axis.spines[["top", "right", "left"]].set_visible(False)
        axis.tick_params(axis="x", labelsize=8)
    figure.tight_layout()
    plt.close(figure)
    return figure


def curve_figure(curve: pd.DataFrame, title: str):
    """A curve table (first column x, one column per ranker) as lines; `calibration`
    draws observed against predicted with the diagonal."""
    plt = _pyplot()
    x, *ys = curve.columns
    if title == "calibration":
        x, ys = "predicted", ["observed"]
    figure, axis = plt.subplots(figsize=(6, 4.2))
    for y in ys:
        style = {"marker": "."} if title in ("calibration", "realised_conversion") else {}
        color = MODEL if y in ("model", "observed", "A") else _color(y)
        axis.plot(curve[x], curve[y], label=LABELS.get(y, y), color=color, **style)
    if title == "calibration":
        top = float(max(curve["predicted"].max(), curve["observed"].max()))
        axis.plot([0, top], [0, top], linestyle="--", color="grey", label="perfect")
    axis.set_xlabel(x.replace("_", " "))
    axis.set_ylabel(YLABELS.get(title, title.replace("_", " ")))
    axis.set_title(title.replace("_", " "))
    axis.legend(fontsize=8)
    figure.tight_layout()
    plt.close(figure)
    return figure


def bar_figure(table: pd.DataFrame, x: str, ys: list[str], title: str, ylabel: str):
    """Grouped bars: one group per row of `table`, one bar per column in `ys`."""
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(6, 3.6))
    width = 0.8 / len(ys)
    positions = range(len(table))
    for i, y in enumerate(ys):
        shifted = [p + (i - (len(ys) - 1) / 2) * width for p in positions]
        color = MODEL if y.startswith("model") else RULE if "rule" in y else OTHER
        axis.bar(shifted, table[y], width=width, label=y.replace("_", " "), color=color)
    axis.set_xticks(list(positions), [str(v) for v in table[x]])
    axis.set_xlabel(x.replace("_", " "))
    axis.set_ylabel(ylabel)
    axis.set_title(title)
    if len(ys) > 1:
        axis.legend(fontsize=8)
    figure.tight_layout()
    plt.close(figure)
    return figure


def importance_figure(importance: pd.DataFrame, labels: dict[str, str], top: int = 15):
    """Mean |SHAP| per feature, largest first, named in words."""
    plt = _pyplot()
    moving = importance[importance["mean_abs_shap"] > 0]  # a feature that never moves a score
    head = moving.head(top).iloc[::-1]  # is no driver: no zero-length bars
    figure, axis = plt.subplots(figsize=(7.5, 0.32 * len(head) + 1))
    axis.barh([labels.get(f, f) for f in head["feature"]], head["mean_abs_shap"], color=MODEL)
    axis.set_xlabel("how far it moves a lead's score, on average (mean |SHAP|, log-odds)")
    axis.set_title("What drives the score")
    axis.tick_params(axis="y", labelsize=8)
    figure.tight_layout()
    plt.close(figure)
    return figure
