"""The charts every reader sees: the same matplotlib figures go into the HTML report
(inline PNG), the MLflow run (artifacts) and, as their CSV tables, `dvc plots`.

Each function takes plain tables and returns a closed figure; `data_uri` turns one into
an inline image.
"""

from __future__ import annotations

import base64
import io
import textwrap

import pandas as pd

YLABELS = {
    "gains": "share of conversions captured",
    "calibration": "observed conversion rate",
    "precision_at_k": "precision",
    "realised_conversion": "realised conversion rate",
}
XLABELS = {
    "share_worked": "share of rows worked, best-scored first",
    "month": "scoring month",
    "k": "rows handed over, best-scored first (k)",
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
BOLD, THIN = 2.6, 1.4
# (colour, line style, width) per ranker: no two alike, so a legend reads in grey print
# too; the model and marketing's rule drawn thicker, the others beside them
STYLES = {
    "model": (MODEL, "-", BOLD),
    "mql_flag": (RULE, "-", BOLD),
    "target_accounts": ("#b35806", "-", BOLD),
    "lightgbm": ("#2ca02c", "-.", THIN),
    "logistic_regression": ("#9467bd", ":", THIN + 0.4),
    "lead_source_rate": ("#7f7f7f", "--", THIN),
    "mql_points": ("#8c564b", "--", THIN),
    "marketing_points_sum": ("#a6761d", (0, (5, 1, 1, 1)), THIN),
    "oracle": ("#000000", (0, (1, 2)), THIN),
    "A": (MODEL, "-", BOLD),
    "B": ("#2ca02c", "--", THIN),
    "C": ("#9467bd", "-.", THIN),
    "D": ("#7f7f7f", ":", THIN + 0.4),
    "handed over": ("#000000", (0, (5, 1, 1, 1)), THIN),
    "MQL flag": (RULE, "-", BOLD),
}
SPARE = [("#17becf", "--"), ("#e377c2", "-."), ("#bcbd22", ":"), ("#393b79", "-")]


def line_style(name: str, position: int = 0) -> dict:
    """The colour, line style and width a ranker is drawn with (an unknown name takes a
    spare pair by its position)."""
    color, style, width = STYLES.get(name, (*SPARE[position % len(SPARE)], THIN))
    return {"color": color, "linestyle": style, "linewidth": width}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _color(name: str) -> str:
    """A bar's colour: the ranker's, the oracle in grey (a reference, not a contender)."""
    return OTHER if name == "oracle" else STYLES.get(name, (OTHER,))[0]


def money(value: float, currency: str | None = None, short: bool = False) -> str:
    """An amount as read: "$1.2M", "1,234,500 BRL", or bare without a currency."""
    if short and abs(value) >= 1e6:
        shown = f"{value / 1e6:,.1f}M"
    elif short and abs(value) >= 1e3:
        shown = f"{value / 1e3:,.0f}K"
    else:
        shown = f"{value:,.0f}"
    if not currency:
        return shown
    return f"{currency}{shown}" if len(currency) == 1 else f"{shown} {currency}"


def _count(value: float) -> str:
    """A count as read: whole numbers bare, a tie's expected share with one decimal."""
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def _legend(axis) -> None:
    """The legend beside the plot, never over its lines."""
    axis.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1), frameon=False)


def data_uri(figure) -> str:
    """A figure as a `data:` URI (PNG), for a page that must open offline."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _percent(axis) -> None:
    from matplotlib.ticker import FuncFormatter

    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{100 * v:.3g}%"))


def headline_figure(
    rows: dict[str, dict], names: list[str], revenue: bool = True, currency: str | None = None
):
    """Deals created, deals won and (when the export has deal amounts) won revenue for
    each ranker at one volume."""
    plt = _pyplot()
    panels = [
        ("deals_reached", "deals created"),
        ("won_deals", "deals won"),
        *(
            [("won_revenue", f"won revenue{f' ({currency})' if currency else ''}")]
            if revenue
            else []
        ),
    ]
    figure, axes = plt.subplots(
        1, len(panels), figsize=(3 * len(panels), 3.2), layout="constrained"
    )
    for axis, (field, title) in zip(axes, panels, strict=True):
        values = [rows[n][field] for n in names]
        ticks = [textwrap.fill(LABELS.get(n, n), 12) for n in names]
        bars = axis.bar(ticks, values, color=[_color(n) for n in names])
        labels = [
            money(v, currency, short=True) if field == "won_revenue" else _count(v) for v in values
        ]
        axis.bar_label(bars, labels=labels)
        axis.set_ylim(0, max(max(values), 1e-9) * 1.15)  # room for the labels
        axis.set_title(title)
        axis.set_yticks([])
        axis.spines[["top", "right", "left"]].set_visible(False)
        axis.tick_params(axis="x", labelsize=8)
    plt.close(figure)
    return figure


def curve_figure(curve: pd.DataFrame, title: str):
    """A curve table (first column x, one column per ranker) as lines, each ranker in its
    own colour and line style; `calibration` is `calibration_figure`."""
    if title == "calibration":
        return calibration_figure(curve)
    plt = _pyplot()
    x, *ys = curve.columns
    figure, axis = plt.subplots(figsize=(7.5, 4.2), layout="constrained")
    marker = {"marker": "."} if title == "realised_conversion" else {}
    for i, y in enumerate(ys):
        axis.plot(curve[x], curve[y], label=LABELS.get(y, y), **line_style(y, i), **marker)
    if title == "gains":
        _percent(axis.xaxis)
    _percent(axis.yaxis)
    axis.set_xlabel(XLABELS.get(x, x.replace("_", " ")))
    axis.set_ylabel(YLABELS.get(title, title.replace("_", " ")))
    axis.set_title(title.replace("_", " "))
    axis.grid(alpha=0.3)
    _legend(axis)
    plt.close(figure)
    return figure


LOG_TICKS = [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0]


def calibration_figure(bins: pd.DataFrame, grades: pd.DataFrame | None = None):
    """Observed conversion against predicted probability over the whole range (log x
    axis): equal-size bins of test rows, the grades as labelled squares, the diagonal."""
    import numpy as np
    from matplotlib.ticker import NullFormatter

    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(7.5, 4.2), layout="constrained")
    axis.plot(
        bins["predicted"],
        bins["observed"],
        marker="o",
        markersize=4,
        label=f"test rows in {len(bins)} equal-size bins",
        **line_style("model"),
    )
    highs = [bins["predicted"].max(), bins["observed"].max()]
    if grades is not None and len(grades):
        shown = grades[grades["rows"] > 0]
        axis.scatter(
            shown["mean_probability"],
            shown["conversion_rate"],
            marker="s",
            s=50,
            color=RULE,
            zorder=3,
            label="grades",
        )
        for row in shown.itertuples():
            axis.annotate(
                f"{row.grade} ({row.rows:,} rows)",
                (row.mean_probability, row.conversion_rate),
                textcoords="offset points",
                xytext=(7, 2),
                fontsize=8,
            )
        highs += [shown["mean_probability"].max(), shown["conversion_rate"].max()]
    low = max(float(bins["predicted"].min()), 1e-4) / 1.5
    high = min(float(max(highs)) * 1.3, 1.0)
    line = np.geomspace(low, high, 50)
    axis.plot(
        line,
        line,
        linestyle="--",
        color="grey",
        linewidth=1,
        label="perfect (observed = predicted)",
    )
    axis.set_xscale("log")
    axis.set_xlim(low, high)
    axis.set_xticks([t for t in LOG_TICKS if low <= t <= high], minor=False)
    axis.xaxis.set_minor_formatter(NullFormatter())
    axis.set_ylim(bottom=0)
    _percent(axis.xaxis)
    _percent(axis.yaxis)
    axis.set_xlabel("predicted probability of converting (log scale)")
    axis.set_ylabel("observed conversion rate")
    axis.set_title("calibration")
    axis.grid(alpha=0.3)
    _legend(axis)
    plt.close(figure)
    return figure


def bar_figure(table: pd.DataFrame, x: str, ys: list[str], title: str, ylabel: str):
    """Grouped bars: one group per row of `table`, one bar per column in `ys`."""
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(6, 3.6), layout="constrained")
    width = 0.8 / len(ys)
    positions = range(len(table))
    for i, y in enumerate(ys):
        shifted = [p + (i - (len(ys) - 1) / 2) * width for p in positions]
        color = MODEL if y.startswith("model") else RULE if "rule" in y else OTHER
        axis.bar(shifted, table[y], width=width, label=y.replace("_", " "), color=color)
    axis.set_xticks(list(positions), [str(v) for v in table[x]])
    axis.set_xlabel(x.replace("_", " "))
    axis.set_ylabel(ylabel)
    if "rate" in ylabel:
        _percent(axis.yaxis)
    axis.set_title(title)
    if len(ys) > 1:
        _legend(axis)
    plt.close(figure)
    return figure


def moving_features(importance: pd.DataFrame, floor: float = 0.01) -> pd.DataFrame:
    """The features that move scores: mean |SHAP| above `floor` of the strongest's (a
    feature below it would be a bar too short to see)."""
    top = importance["mean_abs_shap"].max() if len(importance) else 0
    return importance[importance["mean_abs_shap"] > floor * top]


def importance_figure(importance: pd.DataFrame, labels: dict[str, str], top: int = 15):
    """Mean |SHAP| per feature, largest first, named in words; features that move no
    score are left out (no zero-length bars)."""
    plt = _pyplot()
    head = moving_features(importance).head(top).iloc[::-1]
    figure, axis = plt.subplots(figsize=(7.5, 0.32 * len(head) + 1.2), layout="constrained")
    axis.barh([labels.get(f, f) for f in head["feature"]], head["mean_abs_shap"], color=MODEL)
    axis.set_xlabel("average pull on a lead's score (mean |SHAP|, log-odds)")
    axis.set_title("What drives the score")
    axis.tick_params(axis="y", labelsize=8)
    plt.close(figure)
    return figure
