"""Charts for the HTML pages: matplotlib figures as inline SVG text (no files, no network).

Text stays text in the SVG (svg.fonttype "none"), which keeps charts small and lets the
browser's find and the tests read the numbers; the hash salt is fixed so the same run renders
the same bytes.
"""

from __future__ import annotations

import io
from typing import Sequence

import matplotlib

matplotlib.use("Agg")  # no display: render to memory only

import matplotlib.pyplot as plt  # noqa: E402

# text.parse_math off: labels come from data (object names, settings, model specs), and "$" in
# one must show as "$", not start matplotlib's math mode (or crash it).
STYLE = {"svg.fonttype": "none", "svg.hashsalt": "vlmeval", "font.size": 9, "text.parse_math": False,
         "axes.spines.top": False, "axes.spines.right": False}
ACCENT = "#3465a4"


def _svg(fig) -> str:
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    text = buffer.getvalue()
    return text[text.index("<svg"):]  # drop the XML prologue: the SVG sits inside HTML


def bars(labels: Sequence[str], values: Sequence[float], lows: Sequence[float | None],
         highs: Sequence[float | None], xlabel: str, width: float = 5.2) -> str:
    """Horizontal bars with 95% CI whiskers, one per label (NaN values drawn as no bar)."""
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(width, 0.25 * len(labels) + 0.7))
        y = range(len(labels))
        ax.barh(y, [v if v == v else 0 for v in values], color=ACCENT, height=0.6)
        err = [[max(0.0, v - lo) if lo is not None and v == v else 0 for v, lo in zip(values, lows)],
               [max(0.0, hi - v) if hi is not None and v == v else 0 for v, hi in zip(values, highs)]]
        ax.errorbar([v if v == v else 0 for v in values], list(y), xerr=err, fmt="none",
                    ecolor="#222", capsize=2, linewidth=0.8)
        ax.set_yticks(list(y), labels)
        ax.invert_yaxis()
        ax.set_xlabel(xlabel)
        ax.set_xlim(min([0.0, *(lo for lo in lows if lo is not None)]),
                    max([1.0, *(h for h in highs if h is not None)]))
        return _svg(fig)


def curves(series: dict[str, tuple[Sequence[float], Sequence[float]]], xlabel: str, ylabel: str,
           diagonal: bool = True) -> str:
    """Line plot of named (x, y) series on [0, 1] x [0, 1], with the chance/ideal diagonal."""
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(3.4, 3.0))
        if diagonal:
            ax.plot([0, 1], [0, 1], color="#bbb", linewidth=0.8, linestyle="--")
        for name, (x, y) in series.items():
            ax.plot(x, y, marker="o", markersize=2.5, linewidth=1.2, label=name)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.02)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.legend(frameon=False, fontsize=8)
        return _svg(fig)
