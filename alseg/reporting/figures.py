"""Matplotlib figures of a report (object-oriented ``Figure``: Agg canvas, no pyplot state).

Inputs are plain arrays: mIoU and IoU in %, class counts, clicks; ``png(fig)`` renders one.
"""

from __future__ import annotations

import io

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from alseg.reporting.curves import Band


def png(fig: Figure, dpi: int = 100) -> bytes:
    """The figure as PNG bytes."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    return buffer.getvalue()


def curve_figure(bands: list[Band], xlabel: str = "clicks") -> Figure:
    """mIoU (%) against ``xlabel``: one line per method (its mean over seeds, one marker per
    round) and, with several seeds, the [min, max] band around it."""
    fig = Figure(figsize=(6.4, 4.0))
    ax = fig.add_subplot()
    for band in bands:
        (line,) = ax.plot(band.x, band.mean, marker="o", label=f"{band.method} (n={band.n_runs})")
        if band.n_runs > 1:
            ax.fill_between(band.x, band.low, band.high, color=line.get_color(), alpha=0.2)
    ax.set(xlabel=xlabel, ylabel="mIoU (%)", title="AL curve")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    return fig


def iou_heatmap(classes: list[str], iou: np.ndarray) -> Figure:
    """Per-class IoU (%) per round: iou float (R, C), NaN = class absent (left blank)."""
    rounds, n_classes = iou.shape
    fig = Figure(figsize=(max(4.0, 0.55 * n_classes + 1.5), 0.45 * rounds + 1.6))
    ax = fig.add_subplot()
    image = ax.imshow(np.ma.masked_invalid(iou), cmap="viridis", vmin=0, vmax=100, aspect="auto")
    ax.set_xticks(range(n_classes), classes, rotation=45, ha="right")
    ax.set_yticks(range(rounds), [f"round {r}" for r in range(rounds)])
    for (r, c), value in np.ndenumerate(iou):
        if value == value:
            ax.text(c, r, f"{value:.0f}", ha="center", va="center", fontsize=7,
                    color="white" if value < 50 else "black")  # fmt: skip
    fig.colorbar(image, ax=ax, label="IoU (%)")
    ax.set_title("per-class IoU per round")
    return fig


def class_distribution_figure(classes: list[str], counts: np.ndarray, colours: np.ndarray,
                              ginis: list[float]) -> Figure:  # fmt: skip
    """Labelled class distribution after each round: counts (R, C) labelled regions per class
    (cumulative) as stacked shares (%), one bar per round, its Gini in the label."""
    shares = 100 * counts / np.maximum(counts.sum(1, keepdims=True), 1)
    fig = Figure(figsize=(7.0, 0.5 * len(counts) + 1.8))
    ax = fig.add_subplot()
    left = np.zeros(len(counts))
    labels = [f"round {r} (Gini {g:.2f})" for r, g in enumerate(ginis)]
    for c, name in enumerate(classes):
        ax.barh(labels, shares[:, c], left=left, color=colours[c] / 255, label=name)
        left += shares[:, c]
    ax.invert_yaxis()
    ax.set(xlabel="share of labelled regions (%)", xlim=(0, 100),
           title="labelled class distribution")  # fmt: skip
    ax.legend(ncol=min(6, len(classes)), fontsize="x-small", loc="upper center",
              bbox_to_anchor=(0.5, -0.25))  # fmt: skip
    return fig


def clicks_figure(spent: np.ndarray, pct_of_pool: np.ndarray) -> Figure:
    """Click use: clicks spent in each round (bars, annotated) and the cumulative % of the
    pool cost after it (line, right axis)."""
    fig = Figure(figsize=(6.0, 3.2))
    ax = fig.add_subplot()
    rounds = np.arange(len(spent))
    bars = ax.bar(rounds, spent, color="#4c72b0")
    ax.bar_label(bars, fmt="%d", fontsize=8)
    ax.set(xlabel="round", ylabel="clicks spent", xticks=rounds, title="click use")
    right = ax.twinx()
    right.plot(rounds, pct_of_pool, color="#dd8452", marker="o")
    right.set_ylabel("cumulative % of pool cost", color="#dd8452")
    return fig


def overlay_figure(panels: list[dict], classes: list[str], colours: np.ndarray) -> Figure:
    """Panels side by side, each {"title", "image" (H, W, 3) uint8, "texts": [(y, x, text)]},
    with a legend of the classes painted in any panel ({"classes": set of ids})."""
    height, width = panels[0]["image"].shape[:2]
    fig = Figure(figsize=(3.2 * len(panels), 3.2 * height / width + 0.6))
    for k, panel in enumerate(panels):
        ax = fig.add_subplot(1, len(panels), k + 1)
        ax.imshow(panel["image"], interpolation="nearest")
        for y, x, text in panel["texts"]:
            ax.text(
                x,
                y,
                text,
                fontsize=6,
                ha="center",
                va="center",
                color="black",
                bbox={"boxstyle": "round,pad=0.1", "fc": "white", "alpha": 0.7, "lw": 0},
            )
        ax.set_title(panel["title"], fontsize=8)
        ax.axis("off")
    used = sorted(set().union(*(p["classes"] for p in panels)))
    handles = [Patch(color=colours[c] / 255, label=classes[c]) for c in used if c < len(classes)]
    fig.subplots_adjust(left=0.01, right=0.99, top=0.88, bottom=0.02, wspace=0.05)
    if handles:
        fig.legend(handles=handles, loc="upper center", ncol=min(6, len(handles)),
                   fontsize="x-small", bbox_to_anchor=(0.5, 0.02))  # fmt: skip
    return fig
