"""The report as one self-contained HTML page: inline CSS, charts as inline SVG, no external URL.

Takes the report's JSON (report.Report.as_json()) and gives the page's text. matplotlib draws the
charts (requests per customer over time, errors by plan, latency by customer) and writes them as
SVG, text kept as text; what would name a URL (the XML namespaces, the DOCTYPE, the metadata) is
taken out, since HTML places an inline <svg> in SVG's namespace by itself.
"""

from __future__ import annotations

import io
import re
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from html import escape
from typing import TYPE_CHECKING, Any

import matplotlib as mpl

mpl.use("Agg")  # no display, ever; and before anything draws

from matplotlib import dates as mdates
from matplotlib import ticker
from matplotlib.figure import Figure

from apigw_logs.report import CUSTOMER_COLUMNS

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

    from matplotlib.axes import Axes

Row = dict[str, Any]

HOURLY_UP_TO = timedelta(days=3)  # a window this long or shorter is charted by the hour, longer by the day
MOST_SERIES = 8  # customers charted over time, the rest summed as "others"
MOST_BARS = 15  # plans or customers in a bar chart
LONGEST_LABEL = 40  # characters of a name on a chart
MARKERS_UP_TO = 48  # points on a line drawn with a marker each
COLORS = ("#2563eb", "#dc2626", "#16a34a", "#d97706", "#7c3aed", "#0891b2", "#db2777", "#4b5563", "#9ca3af")

TABLES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    (
        "customers",
        "Customers",
        CUSTOMER_COLUMNS,
    ),
    (
        "plans",
        "Errors by usage plan",
        (
            "usage_plan_id",
            "usage_plan_name",
            "requests",
            "client_errors",
            "server_errors",
            "client_error_rate",
            "server_error_rate",
        ),
    ),
    (
        "resources",
        "Busiest resources per customer",
        ("customer_id", "customer_name", "rank", "method", "resource_path", "requests", "server_errors"),
    ),
    (
        "unknown_keys",
        "Unknown API keys",
        ("api_id", "stage", "key_id", "customer_id", "customer_name", "requests", "first_seen", "last_seen"),
    ),
)

CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #111827; margin: 0;
       background: #f9fafb; }
main { max-width: 1200px; margin: 0 auto; padding: 24px; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 17px; margin: 28px 0 8px; }
.muted { color: #6b7280; }
.cards { display: flex; flex-wrap: wrap; gap: 12px; margin: 16px 0; }
.card { background: #fff; border: 1px solid #e5e7eb; border-radius: 8px; padding: 10px 14px; min-width: 120px; }
.card b { display: block; font-size: 20px; }
figure { background: #fff; border: 1px solid #e5e7eb; border-radius: 8px; margin: 12px 0; padding: 12px; }
figure svg { width: 100%; height: auto; display: block; }
figcaption { font-weight: 600; margin-bottom: 6px; }
table { border-collapse: collapse; background: #fff; width: 100%; margin: 8px 0; }
.scroll { overflow-x: auto; }
th, td { border-bottom: 1px solid #e5e7eb; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f3f4f6; white-space: nowrap; }
td { max-width: 24em; overflow-wrap: anywhere; }
td.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.none { color: #6b7280; font-style: italic; }
"""

# Marks the page as loaded (the browser test waits for it).
SCRIPT = 'addEventListener("load", () => { document.body.dataset.ready = "yes"; });'


def parse(moment: str) -> datetime:
    return datetime.fromisoformat(moment).astimezone(UTC)


def label(value: Any) -> str:
    """A value as a chart label, cut short to leave the plot its room (the tables have it whole).

    No math is read in it: text.parse_math is off.
    """
    text = "-" if value is None else str(value)
    return text if len(text) <= LONGEST_LABEL else text[: LONGEST_LABEL - 1] + "\u2026"


def who(row: Mapping[str, Any]) -> str:
    name, ident = row.get("customer_name"), row.get("customer_id")
    if name and ident:
        return f"{name} ({ident})"
    return str(name or ident or "(no customer id)")


def plan(row: Mapping[str, Any]) -> str:
    return str(row.get("usage_plan_name") or row.get("usage_plan_id") or "(no plan)")


# -- Charts --------------------------------------------------------------------------------------


def svg_of(figure: Figure) -> str:
    """The figure as an inline <svg>: no XML prolog, DOCTYPE, metadata or namespace URL; scales to fit."""
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", metadata={"Creator": None, "Date": None, "Format": None, "Type": None})
    svg = buffer.getvalue()
    svg = svg[svg.index("<svg") :]
    svg = re.sub(r"<metadata>.*?</metadata>", "", svg, flags=re.DOTALL)
    svg = re.sub(r'\s+xmlns(:\w+)?="[^"]*"', "", svg)
    svg = re.sub(r'(<svg[^>]*?)\s+width="[^"]*"\s+height="[^"]*"', r"\1", svg, count=1)
    return svg.replace("<svg", '<svg role="img"', 1)


def new_figure(height: float) -> tuple[Figure, Axes]:
    figure = Figure(figsize=(10, height), layout="constrained")
    axes = figure.subplots()
    axes.spines[["top", "right"]].set_visible(False)
    axes.grid(axis="both", color="#e5e7eb", linewidth=0.8)
    axes.set_axisbelow(True)
    return figure, axes


def nothing(axes: Axes, message: str) -> None:
    axes.text(0.5, 0.5, message, ha="center", va="center", transform=axes.transAxes, color="#6b7280")
    axes.set_xticks([])
    axes.set_yticks([])


def time_series(report: Mapping[str, Any]) -> tuple[str, timedelta, list[Row]]:
    """By the hour for a short window (or short data), by the day otherwise."""
    window = report["window"]
    # A request with no usable request time has no hour: nowhere on a time axis.
    hourly = [row for row in report["hourly"] if row["hour"] is not None]
    moments = [parse(row["hour"]) for row in hourly]
    start = parse(window["since"]) if window["since"] else min(moments, default=None)
    end = parse(window["until"]) if window["until"] else max(moments, default=None)
    if start is None or end is None or end - start <= HOURLY_UP_TO:
        return "hour", timedelta(hours=1), hourly
    return "day", timedelta(days=1), [row for row in report["daily"] if row["day"] is not None]


def requests_over_time(report: Mapping[str, Any]) -> str:
    key, step, rows = time_series(report)
    figure, axes = new_figure(3.6)
    counts: dict[str, dict[datetime, int]] = defaultdict(lambda: defaultdict(int))
    for row in rows:
        counts[who(row)][parse(row[key])] += int(row["requests"])
    if not counts:
        nothing(axes, "No enriched requests in this window")
        return svg_of(figure)
    ranked = sorted(counts, key=lambda name: (-sum(counts[name].values()), name))
    shown, others = ranked[:MOST_SERIES], ranked[MOST_SERIES:]
    series = {name: counts[name] for name in shown}
    if others:
        merged: dict[datetime, int] = defaultdict(int)
        for name in others:
            for moment, count in counts[name].items():
                merged[moment] += count
        series[f"{len(others)} others"] = merged
    moments = sorted({moment for values in counts.values() for moment in values})
    axis = [moments[0] + step * index for index in range((moments[-1] - moments[0]) // step + 1)]
    # matplotlib.dates leaves date2num, AutoDateLocator and ConciseDateFormatter unannotated.
    x = mdates.date2num(axis)  # type: ignore[no-untyped-call]
    for index, (name, values) in enumerate(series.items()):
        axes.plot(
            x,
            [values.get(moment, 0) for moment in axis],
            label=label(name),
            color=COLORS[index % len(COLORS)],
            marker="o" if len(axis) <= MARKERS_UP_TO else None,
            markersize=3,
            linewidth=1.6,
        )
    locator = mdates.AutoDateLocator(tz=UTC)  # type: ignore[no-untyped-call]
    axes.xaxis.set_major_locator(locator)
    axes.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator, tz=UTC))  # type: ignore[no-untyped-call]
    half = step / timedelta(days=2)  # half a step, in matplotlib's date unit (days)
    axes.set_xlim(float(x[0]) - half, float(x[-1]) + half)  # one point alone is not a year wide
    axes.yaxis.set_major_locator(ticker.MaxNLocator(integer=True))
    axes.set_ylabel(f"requests per {key}")
    axes.set_ylim(bottom=0)
    axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
    return svg_of(figure)


def horizontal_bars(
    names: Sequence[str], groups: Mapping[str, Sequence[float]], unit: str, empty: str, height: float
) -> str:
    figure, axes = new_figure(height)
    if not names:
        nothing(axes, empty)
        return svg_of(figure)
    width = 0.8 / len(groups)
    positions = range(len(names))
    for index, (group, values) in enumerate(groups.items()):
        offsets = [position + (index - (len(groups) - 1) / 2) * width for position in positions]
        bars = axes.barh(offsets, values, height=width, label=group, color=COLORS[index % len(COLORS)])
        axes.bar_label(bars, fmt="%g", padding=3, fontsize=8)
    axes.set_yticks(list(positions), [label(name) for name in names])
    axes.invert_yaxis()
    axes.set_xlabel(unit)
    # Room for the labels past the longest bar; all zeros still draws an axis from 0.
    axes.set_xlim(0, max((max(values, default=0) for values in groups.values()), default=0) * 1.15 or 1)
    axes.grid(axis="y", visible=False)
    axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
    return svg_of(figure)


def errors_by_plan(report: Mapping[str, Any]) -> str:
    rows = report["plans"][:MOST_BARS]
    return horizontal_bars(
        [f"{plan(row)} ({row['requests']} requests)" for row in rows],
        {
            "4xx (client errors)": [round(100 * float(row["client_error_rate"]), 2) for row in rows],
            "5xx (server errors)": [round(100 * float(row["server_error_rate"]), 2) for row in rows],
        },
        "% of the plan's requests",
        "No enriched requests in this window",
        1.2 + 0.5 * max(len(rows), 1),
    )


def latency_by_customer(report: Mapping[str, Any]) -> str:
    rows = [row for row in report["customers"] if row["latency_p50_ms"] is not None][:MOST_BARS]
    return horizontal_bars(
        [f"{who(row)} / {plan(row)}" for row in rows],
        {
            "p50": [float(row["latency_p50_ms"]) for row in rows],
            "p95": [float(row["latency_p95_ms"]) for row in rows],
        },
        "response latency (ms)",
        "No enriched requests with a latency in this window",
        1.2 + 0.5 * max(len(rows), 1),
    )


# -- The page ------------------------------------------------------------------------------------


def table_html(rows: Iterable[Mapping[str, Any]], columns: Sequence[str]) -> str:
    head = "".join(f"<th>{escape(column)}</th>" for column in columns)
    body = []
    for row in rows:
        cells = []
        for column in columns:
            value = row.get(column)
            numeric = isinstance(value, int | float) and not isinstance(value, bool)
            text = "" if value is None else str(value)
            cells.append(f'<td class="n">{escape(text)}</td>' if numeric else f"<td>{escape(text)}</td>")
        body.append(f"<tr>{''.join(cells)}</tr>")
    if not body:
        body.append(f'<tr><td class="none" colspan="{len(columns)}">none in this window</td></tr>')
    return f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table></div>'


def window_text(window: Mapping[str, str | None]) -> str:
    since, until = window["since"], window["until"]
    if since is None and until is None:
        return "every request in the copy"
    return f"requests from {since or 'the first'} until {until or 'the last'}"


def render(report: Mapping[str, Any]) -> str:
    """The page for a report (its JSON shape), as text."""
    # Text stays text in the SVG (the browser draws it), ids are the same every run, and no label
    # is read as math (a customer's name may hold dollars).
    with mpl.rc_context(
        {"svg.fonttype": "none", "svg.hashsalt": "apigw-logs-report", "font.size": 10.0, "text.parse_math": False}
    ):
        charts = (
            ("Requests per customer over time (UTC)", requests_over_time(report)),
            ("Error rates by usage plan", errors_by_plan(report)),
            ("Response latency by customer (p50, p95)", latency_by_customer(report)),
        )
    totals = report["totals"]
    cards = "".join(
        f'<div class="card"><span class="muted">{escape(name)}</span><b>{count}</b></div>'
        for name, count in totals.items()
    )
    objects = report["objects"]
    skipped = "".join(
        f"<li><code>{escape(item['path'])}</code>: {escape(item['reason'])}</li>" for item in objects["skipped"]
    )
    sections = [
        (
            "<h1>API Gateway access logs: usage by customer</h1>"
            f'<p class="muted">{escape(window_text(report["window"]))} (by request time, UTC);'
            f" {objects['read']} objects read, {len(objects['skipped'])} skipped.</p>"
        ),
        f'<section><h2>Totals</h2><div class="cards">{cards}</div></section>',
        "<section><h2>Charts</h2>"
        + "".join(f"<figure><figcaption>{escape(title)}</figcaption>{svg}</figure>" for title, svg in charts)
        + "</section>",
        *(
            f"<section><h2>{escape(title)}</h2>{table_html(report[key], columns)}</section>"
            for key, title, columns in TABLES
        ),
    ]
    if skipped:
        sections.append(f"<section><h2>Objects skipped</h2><ul>{skipped}</ul></section>")
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<title>API Gateway access-log report</title>"
        f"<style>{CSS}</style></head>\n"
        f"<body><main>{''.join(sections)}</main><script>{SCRIPT}</script></body></html>\n"
    )
