"""The revenue team's report as one self-contained HTML page: sections built from the
review tables and charts, rendered with one Jinja2 template (images inline, no network).

Each `*_section` returns a `Section`; a section the source cannot support says why.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

import pandas as pd
from markupsafe import Markup

from mqlscore.evaluation.kinds import Kind
from mqlscore.modeling.scorer import grade, score_0_100
from mqlscore.reporting import charts, review
from mqlscore.reporting.markdown import count
from mqlscore.serving.reasons import plain_names


@dataclass
class Section:
    """A titled part of the page: sentences, images (data URIs) and HTML tables."""

    title: str
    anchor: str
    text: list[str] = field(default_factory=list)
    images: list[tuple[str, str]] = field(default_factory=list)  # (alt text, data URI)
    tables: list[tuple[str, str]] = field(default_factory=list)  # (caption, HTML)
    missing: str = ""  # why the section cannot be shown for this source


@dataclass
class Evidence:
    """What the report reads: the evaluated test rows and everything beside them."""

    kind: Kind
    summary: dict  # the evaluate stage's JSON
    test: pd.DataFrame  # test rows with every ranker's score
    outcomes: pd.DataFrame  # opportunities behind the positive rows
    curves: dict[str, pd.DataFrame]  # gains, calibration
    grades: dict[str, float]
    label_window_days: int
    lookback_days: int
    buying_group_roles: int
    engagement: pd.DataFrame | None = None
    campaigns: pd.DataFrame | None = None  # the export's campaigns (types, costs), if any
    importance: pd.DataFrame | None = None
    explain: Callable[[pd.DataFrame], pd.DataFrame] | None = None  # rows -> reasons
    validation: dict = field(default_factory=dict)
    join: dict = field(default_factory=dict)
    manifest: dict | None = None
    tracking: dict | None = None
    currency: str | None = None  # `report.currency`: how money is written

    @cached_property
    def amounts(self) -> bool:
        """Whether the export carries deal amounts (else no revenue figure is shown)."""
        column = self.outcomes.get("amount")
        return column is not None and bool(column.notna().any())

    @cached_property
    def handed(self) -> pd.DataFrame:
        """The test rows with marketing's and the model's hand-over marked."""
        return review.with_handover(self.test, self.kind)


RATE = re.compile(r"rate|precision|probability|^\d{4}-\d{2}$")  # a month column holds rates


def _cell(column: str, value: object) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float) and "revenue" in column:
        return f"{value:,.0f}"
    if isinstance(value, float) and RATE.search(column):
        return f"{value:.1%}"
    if isinstance(value, float):
        return f"{value:,.3f}".rstrip("0").rstrip(".")
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def html_table(frame: pd.DataFrame) -> Markup:
    """A frame as a plain HTML table, numbers formatted for reading."""
    shown = frame.copy()
    for column in shown.columns:
        shown[column] = [_cell(str(column), v) for v in shown[column].tolist()]
    shown.columns = [str(c).replace("_", " ") for c in shown.columns]
    return Markup(shown.to_html(index=False, border=0, classes="t", escape=True))


NO_AMOUNTS = "amounts not in this export"
SIMPLEST = ("lead_source_rate",)  # the headline's baseline when there is no marketing flag
ORACLE = (
    "The oracle ranks by the synthetic world's hidden true chance of converting: the best "
    "any model could do, shown as a ceiling (a real export has no oracle)."
)
SHAP = (
    "Each bar: how far the feature moves a lead's score up or down on average (mean "
    "|SHAP| in log-odds, the model's own scale; 0.7 is about a doubling of the odds)."
)


def _has(test: pd.DataFrame, column: str) -> bool:
    return column in test.columns and test[column].nunique() > 1


def headline_section(ev: Evidence) -> Section:
    """At sales' capacity: rows handed over, deals created and won, revenue, model vs rule."""
    rows = ev.summary["sales_capacity"]
    rule = ev.kind.baseline if ev.kind.baseline in rows else None
    simplest = next((n for n in SIMPLEST if n in rows), None) if rule is None else None
    noun = ev.kind.noun

    def figure(ranker: str, field: str) -> str:
        value = rows[ranker][field]
        shown = charts.money(value, ev.currency) if field == "won_revenue" else count(value)
        return f"<span data-figure='{ranker}.{field}'>{shown}</span>"

    def worth(ranker: str) -> str:
        return f", worth {figure(ranker, 'won_revenue')}" if ev.amounts else ""

    text = (
        f"Handing sales {figure('model', 'selected')} {noun}s over the test period (sales' "
        f"capacity, each {noun} once), the model's picks led to "
        f"{figure('model', 'deals_reached')} distinct deals created and "
        f"{figure('model', 'won_deals')} won{worth('model')}"
    )
    if rule:
        text += (
            f"; {charts.LABELS[rule]} at the same volume: {figure(rule, 'deals_reached')} "
            f"created, {figure(rule, 'won_deals')} won{worth(rule)}."
        )
    else:
        text += ". This export has no marketing flag to compare with"
        text += (
            f"; {charts.LABELS[simplest]}, the simplest baseline it allows, at the same volume: "
            f"{figure(simplest, 'deals_reached')} created, {figure(simplest, 'won_deals')} won."
            if simplest
            else "."
        )
    if not ev.amounts:
        text += f" Revenue: {NO_AMOUNTS}, so no revenue is shown."
    beside = [rule or simplest] if rule or simplest else []
    names = ["model", *beside, *(["oracle"] if "oracle" in rows else [])]
    chart = charts.headline_figure(rows, names, revenue=ev.amounts, currency=ev.currency)
    section = Section(
        "The headline", "headline", [Markup(text)], [("headline", charts.data_uri(chart))]
    )
    if "oracle" in rows:
        section.text.append(ORACLE)
    intervals = review.interval_table(ev.summary, {**ev.kind.rankers, **charts.LABELS})
    section.tables.append(
        (
            "Every ranker with its interval in brackets (bootstrap over accounts)",
            html_table(intervals),
        )
    )
    return section


def matrix_section(ev: Evidence) -> Section:
    """Marketing's flag x the model's hand-over, with examples from the off-diagonal cells."""
    section = Section("MQL rule vs model: who agrees", "matrix")
    if not _has(ev.test, ev.kind.baseline):
        section.missing = f"This export carries no {ev.kind.baseline.replace('_', ' ')}."
        return section
    test = ev.handed
    section.text.append(
        f"The model hands over as many {ev.kind.noun}s per snapshot as marketing flags. "
        "Conversion: an opportunity created within "
        f"{ev.label_window_days} days of the snapshot."
    )
    section.tables.append(("Rows and conversion per cell", html_table(review.two_by_two(test))))
    for caption, rows in review.off_diagonal(test).items():
        section.tables.append((caption, html_table(_examples(rows, ev))))
    return section


def _examples(rows: pd.DataFrame, ev: Evidence) -> pd.DataFrame:
    shown = pd.DataFrame(
        {
            ev.kind.key: rows[ev.kind.key].to_numpy(),
            "snapshot": rows["snapshot_date"].dt.strftime("%Y-%m-%d").to_numpy(),
            "grade": grade(rows["model"].to_numpy(), ev.grades),
            "score": score_0_100(rows["model"].to_numpy()),
            "converted": rows["label"].astype(bool).to_numpy(),
        }
    )
    if ev.explain is not None and len(rows):
        reasons = ev.explain(rows).reset_index(drop=True)
        shown["reasons for"] = reasons["reason_up_1"] + "; " + reasons["reason_up_2"]
        shown["reason against"] = reasons["reason_down_1"]
    return shown


def curves_section(ev: Evidence) -> Section:
    """Cumulative gains and lift, calibration, conversion by grade."""
    section = Section("Gains, lift and calibration", "curves")
    gains, calibration = ev.curves["gains"], ev.curves["calibration"]
    section.images.append(
        ("cumulative gains", charts.data_uri(charts.curve_figure(gains, "gains")))
    )
    grades, days = review.grade_table(ev.summary["calibration"]), ev.label_window_days
    section.images.append(
        ("calibration", charts.data_uri(charts.calibration_figure(calibration, grades)))
    )
    if "oracle" in gains.columns:
        section.text.append(ORACLE)
    section.tables.append(("Share of conversions captured, and lift", _lift_html(gains)))
    empty = grades.loc[grades["rows"] == 0, "grade"].tolist()
    shown = html_table(grades[grades["rows"] > 0])
    section.tables.append(("Conversion by grade", _noted(shown, _empty_grades(empty, ev.grades))))
    meant = review.grade_meanings(ev.summary["calibration"], ev.grades, ev.kind.noun, days)
    section.text += meant
    return section


def _noted(table: Markup, note: str) -> Markup:
    """A table with the line saying what it leaves out, under it."""
    return table + Markup('<p class="note">{}</p>').format(note) if note else table


def _empty_grades(empty: list[str], cuts: dict[str, float]) -> str:
    """Why a grade has no row in the table: no test row scored up to its cut."""
    if not empty:
        return ""
    named = ", ".join(f"{g} (from {cuts[g]:.0%})" if g in cuts else g for g in empty)
    return f"Left out of the grade table, no test row scored in them: grade {named}."


def _lift_html(gains: pd.DataFrame) -> str:
    table = review.lift_table(gains)
    return html_table(table.assign(ranker=table["ranker"].map(lambda n: charts.LABELS.get(n, n))))


def drivers_section(ev: Evidence) -> Section:
    """Global importance in words, and conversion by buying-group roles engaged."""
    section = Section("What drives the score", "drivers")
    if ev.importance is not None:
        labels = plain_names(ev.importance["feature"])
        figure = charts.importance_figure(ev.importance, labels)
        section.text.append(SHAP)
        section.images.append(("importance", charts.data_uri(figure)))
        still = len(ev.importance) - len(charts.moving_features(ev.importance))
        if still:
            section.text.append(
                f"Left out of the chart: {still} feature{'s' * (still != 1)} that move no "
                "score on the test rows (or under 1% of the strongest's pull)."
            )
    if "buying_group_coverage" in ev.test.columns:
        roles = review.roles_table(ev.test, ev.buying_group_roles)
        figure = charts.bar_figure(
            roles,
            "roles_engaged",
            ["conversion_rate"],
            "Conversion by buying-group roles engaged",
            "conversion rate",
        )
        section.images.append(("buying group", charts.data_uri(figure)))
        section.tables.append(("Buying-group roles engaged at the account", html_table(roles)))
    else:
        section.text.append("This export has no accounts, so no buying-group view.")
    return section


def breakdown_section(ev: Evidence) -> Section:
    """The model's and the rule's precision per lead source, country and target status."""
    section = Section("Breakdowns", "breakdowns")
    if not _has(ev.test, ev.kind.baseline):
        section.missing = "No marketing flag in this export to compare precision with."
        return section
    test = ev.handed
    for column in ("lead_source", "country", "is_target_account"):
        if _has(test, column):
            section.tables.append((BREAKDOWN_TITLES[column], html_table(_segments(test, column))))
    return section


def _segments(test: pd.DataFrame, column: str) -> pd.DataFrame:
    table = review.segment_table(test, column)
    return table.rename(columns={"is_target_account": "on the target-account list"})


def campaign_section(ev: Evidence) -> Section:
    """Campaign and lead-source quality: leads, MQLs, expected conversions, deals, revenue."""
    section = Section("Campaign quality", "campaigns")
    section.text.append(
        f"Attribution: any touch. A campaign is credited with an opportunity when it touched a "
        f"lead in the {ev.lookback_days} days before a test snapshot and that lead is a contact "
        f"on an opportunity created in the {ev.label_window_days} days after it. Every campaign "
        "that touched gets full credit, so the rows add up to more than the total. Expected "
        "conversions: the sum of the model's probabilities."
    )
    if ev.kind.key != "lead_id":
        section.missing = "Campaign quality is a lead view; see the lead report."
        return section
    if ev.engagement is None or ev.engagement["campaign_id"].notna().sum() == 0:
        section.text.append("This export has no campaign on its engagement events.")
    else:
        table = review.campaign_quality(
            ev.engagement, ev.test, ev.outcomes, ev.lookback_days, ev.campaigns
        )
        section.text.append(COSTS if review.has_costs(ev.campaigns) else NO_COSTS)
        shown, why = _without_empty(table.head(15), ev)
        caption = "By campaign (top 15 by won revenue)"
        section.tables.append((caption, _noted(html_table(shown), why)))
        if "type" in table.columns:  # which programmes pay: trade shows, webinars, ...
            types = review.type_quality(
                ev.engagement, ev.test, ev.outcomes, ev.lookback_days, ev.campaigns
            )
            shown, why = _without_empty(types, ev)
            caption = "By campaign type (each deal once per type)"
            section.tables.append((caption, _noted(html_table(shown), why)))
    if "lead_source" in ev.test.columns:
        table = review.quality_by(ev.test, ev.outcomes, "lead_source")
        shown, why = _without_empty(table, ev)
        caption = "By lead source: leads, conversions and deals (counts)"
        section.tables.append((caption, _noted(html_table(shown), why)))
    return section


COSTS = (
    "Cost: the campaign's actual cost (its budget where no actual cost is recorded), all of "
    "it, beside the deals credited in the test period; a type's cost sums its campaigns'. "
    "Return on cost: (won revenue - cost) / cost, so 0 paid for itself and 1.5 won 2.5 "
    "times its cost."
)
NO_COSTS = "Cost, return on cost and cost per deal: no costs in this export."
MONEY = re.compile(r"revenue|cost$|^cost_per")  # columns of amounts, in `report.currency`


def _without_empty(table: pd.DataFrame, ev: Evidence) -> tuple[pd.DataFrame, str]:
    """A table without its columns that are 0 or blank on every row (a revenue or return
    column without amounts behind it among them), and one line naming what was left out
    and why; money in `ev.currency`."""
    numbers = table.select_dtypes("number")
    empty = [c for c in numbers.columns if not numbers[c].fillna(0).astype(bool).any()]
    said = {"won_revenue": NO_AMOUNTS, "return_on_cost": NO_AMOUNTS} if not ev.amounts else {}
    empty += [c for c in said if c in table.columns and c not in empty]
    if not _has(ev.test, ev.kind.baseline):
        said["mqls"] = "no MQL flag in this export"
    blank = {c: "blank on every row" for c in empty if numbers[c].isna().all()}
    said = blank | said
    why = [f"{str(c).replace('_', ' ')} ({said.get(c, '0 on every row')})" for c in empty]
    shown = table.drop(columns=empty)
    if ev.currency:
        money = {c: f"{c} ({ev.currency})" for c in shown.columns if MONEY.search(str(c))}
        shown = shown.rename(columns=money)
    return shown, f"Left out of the table: {', '.join(why)}." if why else ""


def health_section(ev: Evidence) -> Section:
    """Validation, match rates, and drift from the latest scoring run."""
    section = Section("Data health", "health")
    matched = _matched(ev.join, ev.validation)
    checks = html_table(review.health_table(ev.validation, matched))
    unmatched = "" if matched or not ev.join else "No account matching: no accounts table here."
    section.tables.append(("Checks", _noted(checks, unmatched)))
    if ev.manifest is None:
        section.text.append(
            "No scoring run given (mqlscore report --scores DIR), so no drift view."
        )
    else:
        run, drift = ev.manifest, ev.manifest.get("drift", {})
        drifting = ", ".join(plain_names(drift.get("drifting", {})).values()) or "none"
        section.text.append(
            f"Latest scoring run {run.get('run_date', '?')}: {run.get('scored', 0):,} scored, "
            f"{run.get('rejected', 0):,} rejected; features drifting above PSI "
            f"{drift.get('warn_above', '?')}: {drifting}."
        )
        section.tables.append(
            ("Largest shifts since training (PSI)", html_table(review.drifted(drift)))
        )
    return section


def _matched(join: dict, validation: dict) -> dict:
    """The match rates, or none when the export has no accounts table: a lead can match
    no account that is not there, whatever an id column says."""
    return {} if "accounts" in validation.get("skipped_tables", []) else join


ORDER = ["A", "B", "C", "D", "handed over", "MQL flag"]


def tracking_section(ev: Evidence) -> Section | None:
    """Realised conversion of past scoring runs, by grade and month (when there are any)."""
    if not ev.tracking:
        return None
    section = Section("Did past scores come true?", "tracking", [ev.tracking["says"]])
    grades = pd.DataFrame(ev.tracking["by_grade"])
    rates = grades.pivot(index="grade", columns="month", values="conversion_rate")
    rates = rates.reindex([g for g in ORDER if g in rates.index])
    figure = charts.curve_figure(rates.T.rename_axis("month").reset_index(), "realised_conversion")
    section.images.append(("realised conversion by grade", charts.data_uri(figure)))
    counts = grades.assign(
        cell=grades["converted"].astype(str) + " of " + grades["leads"].astype(str)
    )
    cells = counts.pivot(index="grade", columns="month", values="cell").reindex(rates.index)
    section.tables.append(
        ("Realised conversion rate by grade and scoring month", html_table(rates.reset_index()))
    )
    section.tables.append(("Converted of scored", html_table(cells.reset_index())))
    deciles = pd.DataFrame(ev.tracking["by_decile"]).set_index("decile")
    section.tables.append(
        (
            "Realised conversion rate by score decile (1 = top tenth)",
            html_table(deciles.reset_index()),
        )
    )
    return section


def sections(ev: Evidence) -> list[Section]:
    """Every section, in reading order."""
    built = [
        headline_section(ev),
        matrix_section(ev),
        curves_section(ev),
        drivers_section(ev),
        breakdown_section(ev),
        campaign_section(ev),
        tracking_section(ev),
        health_section(ev),
    ]
    return [s for s in built if s is not None]


BREAKDOWN_TITLES = {  # precision: the converted share of each side's picks
    "lead_source": "By lead source: each side's picks and their precision",
    "country": "By country: each side's picks and their precision",
    "is_target_account": "On sales' target-account list or not: picks and precision",
}


def review_page(ev: Evidence, source: str) -> str:
    """The revenue team's page: the title, what every figure is measured on, and every
    section."""
    dates = ev.test["snapshot_date"]
    subtitle = (
        f"Source: {source}. Test period {dates.min():%Y-%m-%d} to {dates.max():%Y-%m-%d}, "
        f"{len(ev.test):,} lead rows. Every figure is measured on rows the model never "
        "trained on."
    )
    versus = "the MQL rule" if _has(ev.test, ev.kind.baseline) else "this export's baselines"
    return render(f"mqlscore: the model beside {versus}", subtitle, sections(ev))


def render(title: str, subtitle: str, parts: list[Section]) -> str:
    """The page: the template filled with the sections."""
    from jinja2 import Environment, PackageLoader, select_autoescape

    env = Environment(loader=PackageLoader("mqlscore.reporting"), autoescape=select_autoescape())
    return env.get_template("report.html.j2").render(
        title=title, subtitle=subtitle, sections=parts
    )
