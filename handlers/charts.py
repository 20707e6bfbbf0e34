"""The report-card chart (matplotlib, Agg backend, PNG): on-time follow-up % per OPD as
horizontal bars, this week against last week, and the open red backlog beside it.

Horizontal bars so that OPD names read left to right on a phone; long names are wrapped onto
two lines and shortened beyond that, and the figure is saved with bbox_inches='tight' so
nothing is clipped."""

from __future__ import annotations

import io
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg")  # no display: the bot renders off-screen
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from handlers.i18n import Tr  # noqa: E402

if TYPE_CHECKING:
    from handlers.reports import CardRow

NAME_WIDTH = 20  # characters per line of an OPD's name
NAME_LINES = 2
HEADER_IN = 1.25  # title (two lines) and legend
MAX_OPDS = 25  # a taller picture stops being readable on a phone: the worst are kept
THIS_COLOR, LAST_COLOR, RED_COLOR = "#1f6fb2", "#a9c4de", "#d62728"


@dataclass(frozen=True)
class ChartLabels:
    title: str
    on_time: str
    backlog: str
    this_week: str
    last_week: str
    no_data: str
    period: str = ""

    @classmethod
    def of(cls, t: Tr, period: str = "", weekly: bool = True) -> ChartLabels:
        """Labels in the translator's language; `weekly`: 'this week' against 'last week',
        else 'this period' against 'the period before'."""
        this, last = (("chart-this-week", "chart-last-week") if weekly
                      else ("chart-this-period", "chart-last-period"))
        return cls(t("chart-title"), t("chart-on-time"), t("chart-backlog"), t(this), t(last),
                   t("chart-no-data"), period)


def wrap_name(name: str, width: int = NAME_WIDTH, lines: int = NAME_LINES) -> str:
    """A name on at most `lines` lines of `width`, shortened with … when longer."""
    parts = textwrap.wrap(name, width) or [""]
    if len(parts) > lines:
        parts = parts[:lines]
        parts[-1] = parts[-1][: width - 1].rstrip() + "…"
    return "\n".join(parts)


def _label(row: CardRow, lang: str) -> str:
    name = row.name(lang)
    text = row.code if name in ("", row.code) else f"{row.code} – {name}"
    return f"{row.rank}. {wrap_name(text)}" if row.rank else wrap_name(text)


def report_card_chart(this_week: Sequence[CardRow], last_week: Sequence[CardRow],
                      labels: ChartLabels, lang: str = "id") -> bytes:
    """PNG bytes: one row per OPD of this week's card (in its rank order), on-time % this
    week and last week as paired bars, the open reds beside; '–' where there is no data."""
    rows = list(this_week)[:MAX_OPDS]
    before = {r.opd_id: r for r in last_week}
    n = max(len(rows), 1)
    height = HEADER_IN + 0.9 + 0.7 * n
    fig = Figure(figsize=(7.0, height), dpi=150)  # no pyplot: no global state to leak
    grid = fig.add_gridspec(1, 2, width_ratios=(3.2, 1.3), wspace=0.08)
    ax = fig.add_subplot(grid[0, 0])
    axr = fig.add_subplot(grid[0, 1], sharey=ax)
    # A fixed header (in inches) for the title and, under it, the legend: they never overlap,
    # however few OPDs there are.
    fig.subplots_adjust(top=1 - HEADER_IN / height, bottom=0.9 / height)
    fig.suptitle(f"{labels.title}\n{labels.period}" if labels.period else labels.title,
                 fontsize=14, fontweight="bold", y=1 - 0.1 / height, va="top")
    if not rows:
        ax.text(0.5, 0.5, labels.no_data, ha="center", va="center", fontsize=12,
                transform=ax.transAxes)
        ax.set_axis_off()
        axr.set_axis_off()
        return _png(fig)
    ys = list(range(len(rows)))
    h = 0.38
    now_vals = [r.on_time_pct for r in rows]
    old_vals = [before[r.opd_id].on_time_pct if r.opd_id in before else None for r in rows]
    ax.barh([y - h / 2 for y in ys], [v or 0 for v in now_vals], height=h, color=THIS_COLOR,
            label=labels.this_week)
    ax.barh([y + h / 2 for y in ys], [v or 0 for v in old_vals], height=h, color=LAST_COLOR,
            label=labels.last_week)
    for y, v in zip(ys, now_vals, strict=True):
        _value(ax, y - h / 2, v, bold=True)
    for y, v in zip(ys, old_vals, strict=True):
        _value(ax, y + h / 2, v, bold=False)
    ax.set_xlim(0, 118)  # room for the value after a full bar
    ax.set_xticks([0, 25, 50, 75, 100])
    ax.tick_params(axis="x", labelsize=11)
    axr.tick_params(axis="x", labelsize=11)
    ax.set_xlabel(labels.on_time, fontsize=12)
    ax.set_yticks(ys)
    ax.set_yticklabels([_label(r, lang) for r in rows], fontsize=12)
    ax.invert_yaxis()  # rank 1 on top
    ax.grid(axis="x", color="#dddddd", linewidth=0.8)
    ax.set_axisbelow(True)
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2, frameon=False,
              fontsize=12)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)

    reds = [r.open_reds for r in rows]
    axr.barh(ys, reds, height=0.6, color=RED_COLOR)
    top = max(max(reds), 1)
    axr.set_xlim(0, top * 1.35)
    for y, v in zip(ys, reds, strict=True):
        axr.text(v + top * 0.03, y, str(v), va="center", fontsize=12, fontweight="bold")
    axr.set_xlabel(labels.backlog, fontsize=12)
    axr.tick_params(axis="y", left=False, labelleft=False)
    axr.xaxis.set_major_locator(MaxNLocator(nbins=3, integer=True))
    for side in ("top", "right"):
        axr.spines[side].set_visible(False)
    return _png(fig)


def _value(ax: object, y: float, value: float | None, bold: bool) -> None:
    text = "–" if value is None else f"{value:.0f}%"
    ax.text((value or 0) + 1.5, y, text, va="center",  # type: ignore[attr-defined]
            fontsize=10.5 if not bold else 11.5, fontweight="bold" if bold else "normal",
            color="#222222" if bold else "#555555")


def _png(fig: Figure) -> bytes:
    out = io.BytesIO()
    fig.savefig(out, format="png", bbox_inches="tight", pad_inches=0.25, facecolor="white")
    return out.getvalue()
