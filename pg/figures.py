"""Figures: the article's "error against bias" graph, drawn from numbers the trainers compute.

Each function takes plain sequences, draws with matplotlib's object API (no pyplot, no global
state, no display needed) and returns the `Figure`; the run renders it once, into TensorBoard's
Images tab and a PNG in the run folder (`Run.log_figure`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["loss_curve", "reward_curve"]

# Fixed margins: matplotlib's constrained layout would double the time to render a figure.
MARGINS = {"left": 0.12, "right": 0.97, "top": 0.95, "bottom": 0.08, "hspace": 0.1}


def loss_curve(
    biases: Sequence[float],
    loss: Sequence[float],
    slope: Sequence[float],
    path: Sequence[float],
    *,
    loss_name: str = "MSE",
    title: str = "",
) -> Figure:
    """Loss against bias, its derivative, and the derivative's size on a log scale.

    `path` is the bias at successive logging points: the first is marked as the start, the last
    as the end, so a stall in a flat region shows as points piling up where the slope is ~0. The
    log panel shows how flat "flat" is: the slope falls by orders of magnitude there.
    """
    from matplotlib.ticker import NullLocator

    fig = _figure(7.0, 7.0)
    top, bottom, magnified = fig.subplots(3, 1, sharex=True, height_ratios=(3, 2, 2))
    top.plot(biases, loss, color="tab:blue", label=loss_name)
    bottom.plot(biases, slope, color="tab:orange", label=f"d{loss_name}/d bias")
    bottom.axhline(0.0, color="0.6", linewidth=0.8)
    magnified.semilogy(
        biases, [abs(s) for s in slope], color="tab:orange", label=f"|d{loss_name}/d bias|"
    )
    # a tick a decade: the minor ticks of a log axis were a quarter of the time to render
    magnified.yaxis.set_minor_locator(NullLocator())

    _mark_path(top, path, biases, loss)
    if path:
        end = _interp(path[-1], biases, slope)
        bottom.plot(path[-1:], [end], "*", color="tab:red", markersize=12)
        magnified.plot(path[-1:], [abs(end)], "*", color="tab:red", markersize=12)
    top.set_ylabel(loss_name)
    top.set_title(title)
    bottom.set_ylabel("derivative")
    magnified.set_ylabel("size of derivative")
    magnified.set_xlabel("bias")
    for ax in (top, bottom, magnified):
        ax.legend(loc="best", fontsize=8)
        ax.grid(alpha=0.3)

    return fig


def reward_curve(
    biases: Sequence[float],
    reward: Sequence[float],
    slope: Sequence[float],
    path: Sequence[float],
    guesses: Sequence[tuple[float, float, float, float]],
    *,
    samples: int,
    optimal: float,
) -> Figure:
    """Expected reward J against bias (top); dJ/db and REINFORCE's guesses of it (bottom).

    `guesses` holds (bias, mean, std, standard error) of `samples` single-sample estimates of
    dJ/db: the light bar is the spread of one guess, the dark bar the uncertainty of their mean.
    """
    fig = _figure(7.0, 6.0)
    top, bottom = fig.subplots(2, 1, sharex=True)
    top.plot(biases, reward, color="tab:blue", label="expected reward J (exact)")
    top.axhline(
        optimal, color="0.5", linestyle="--", linewidth=0.9, label=f"best reachable {optimal:.4f}"
    )
    _mark_path(top, path, biases, reward)
    top.set_ylabel("J")
    top.set_title("REINFORCE guesses the derivative; the guesses average to the exact one")

    bottom.plot(biases, slope, color="tab:orange", label="dJ/d bias (exact)")
    bottom.axhline(0.0, color="0.6", linewidth=0.8)
    if guesses:
        at, mean, std, sem = (list(column) for column in zip(*guesses))
        bottom.errorbar(
            at,
            mean,
            yerr=std,
            fmt="none",
            ecolor="tab:purple",
            alpha=0.25,
            elinewidth=6,
            label="one single-sample guess: mean ± 1 std",
        )
        bottom.errorbar(
            at,
            mean,
            yerr=sem,
            fmt="o",
            color="tab:purple",
            markersize=4,
            capsize=3,
            label=f"mean of {samples} guesses ± 1 s.e.",
        )
    bottom.set_xlabel("bias")
    bottom.set_ylabel("derivative")
    for ax in (top, bottom):
        ax.legend(loc="best", fontsize=8)
        ax.grid(alpha=0.3)
    return fig


def _mark_path(ax, path: Sequence[float], xs: Sequence[float], ys: Sequence[float]) -> None:
    """Dots where the bias was at each logging point, a circle at the start, a star at the end."""
    if not path:
        return
    on_curve = [_interp(b, xs, ys) for b in path]
    ax.plot(path, on_curve, ".", color="0.35", markersize=4, label="bias while training")
    ax.plot(path[:1], on_curve[:1], "o", color="tab:green", label=f"start {path[0]:.3g}")
    ax.plot(
        path[-1:], on_curve[-1:], "*", color="tab:red", markersize=12, label=f"end {path[-1]:.4g}"
    )


def _figure(width: float, height: float) -> Figure:
    """An empty figure of that size in inches, at 90 dots an inch."""
    from matplotlib.figure import Figure  # only runs that draw pay for importing matplotlib

    fig = Figure(figsize=(width, height), dpi=90)
    fig.subplots_adjust(**MARGINS)
    return fig


def _interp(x: float, xs: Sequence[float], ys: Sequence[float]) -> float:
    """Linear interpolation of ys(xs) at x; xs ascending, x clamped to their range."""
    return float(np.interp(x, xs, ys))
