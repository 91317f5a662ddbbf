"""Funnel pictures drawn on the server (matplotlib, Agg canvas, no display).

Each call builds its own ``Figure`` and canvas (the object-oriented API, not pyplot's global
state), so concurrent requests in threads do not share a figure. Suppressed figures are drawn as
gaps and said so, never guessed.
"""

from __future__ import annotations

import io
import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from wallet.insights.services import Funnel

MEDIA_TYPES = {"png": "image/png", "svg": "image/svg+xml"}
_STAGES = (("Entries", "entries"), ("Dwells", "dwells"), ("Coupons", "coupons_issued"),
           ("Pushes sent", "pushes_sent"), ("Opens", "opens"), ("Redemptions", "redemptions"))
_SERIES = (("Entries", "entries", "#4C72B0"), ("Coupons", "coupons_issued", "#DD8452"),
           ("Redemptions", "redemptions", "#55A868"))
_SIZE = (8.0, 4.5)
_DPI = 100


def funnel_stages(funnel: Funnel, *, image_format: str) -> bytes:
    """Horizontal bars, one per stage, over the whole range."""
    figure, axes = _figure()
    totals = funnel.totals
    labels = [label for label, _ in _STAGES]
    if totals.suppressed:
        axes.text(0.5, 0.5, f"Withheld: fewer than {funnel.min_shoppers} shoppers in this range",
                  ha="center", va="center", transform=axes.transAxes)
        axes.set_axis_off()
    else:
        values = [getattr(totals, attribute) or 0 for _, attribute in _STAGES]
        positions = list(range(len(values)))[::-1]
        bars = axes.barh(positions, values, color="#4C72B0")
        axes.set_yticks(positions, labels)
        axes.bar_label(bars, labels=[str(value) for value in values], padding=3)
        axes.set_xlabel("count")
        axes.set_xlim(0, max(values + [1]) * 1.15)
    axes.set_title(_title(funnel, "funnel"))
    return _save(figure, image_format)


def daily_series(funnel: Funnel, *, image_format: str) -> bytes:
    """Entries, coupons and redemptions per UTC day; withheld days are gaps."""
    return _save(daily_figure(funnel), image_format)


def daily_figure(funnel: Funnel):  # type: ignore[no-untyped-def]
    """The daily series' figure. Its x axis is the requested range of days, set explicitly: left to
    matplotlib, a range whose days are all withheld (every value NaN) has no data to scale to and
    falls back to hours of 1970-01-01, and a sparse one is padded by years."""
    from matplotlib import dates

    figure, axes = _figure()
    days = [dates.date2num(row.day) for row in funnel.by_day]
    for label, attribute, color in _SERIES:
        values = [math.nan if row.suppressed else getattr(row, attribute) for row in funnel.by_day]
        axes.plot(days, values, marker="o", markersize=3, label=label, color=color)
    withheld = sum(1 for row in funnel.by_day if row.suppressed)
    if withheld:
        axes.text(0.01, 0.98, f"{withheld} of {len(days)} days withheld (< {funnel.min_shoppers} shoppers)",
                  transform=axes.transAxes, va="top", fontsize=8, color="#555555")
    first, last = dates.date2num(funnel.range.first), dates.date2num(funnel.range.last)
    axes.set_xlim(first - 0.5, last + 0.5)  # half a day each side, so the end days' points show whole
    # Ticks fall on days (never on hours between them), about eight of them whatever the range.
    span = len(funnel.range.days)
    locator = (dates.DayLocator(interval=math.ceil(span / 8)) if span <= 62
               else dates.AutoDateLocator(minticks=3, maxticks=10))
    axes.xaxis.set_major_locator(locator)
    axes.xaxis.set_major_formatter(dates.ConciseDateFormatter(locator))
    if withheld == len(days):
        axes.set_ylim(0, 1)
    axes.set_ylim(bottom=0)
    axes.set_ylabel("count")
    axes.legend(loc="upper right", fontsize=8)
    axes.set_title(_title(funnel, "per day"))
    return figure


def _figure():  # type: ignore[no-untyped-def]
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=_SIZE, dpi=_DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure, figure.add_subplot()


def _title(funnel: Funnel, what: str) -> str:
    return f"{funnel.title[:60]} — {what}, {funnel.range.first} to {funnel.range.last} (UTC)"


def _save(figure, image_format: str) -> bytes:  # type: ignore[no-untyped-def]
    from matplotlib import rc_context

    out = io.BytesIO()
    # No creation date in the metadata, and SVG element ids from a fixed salt (not a random one):
    # the same funnel gives the same bytes (and ETag).
    metadata = {"Date": None} if image_format == "svg" else {"Software": None}
    with rc_context({"svg.hashsalt": "wallet-funnel"}):
        figure.savefig(out, format=image_format, metadata=metadata)
    return out.getvalue()
