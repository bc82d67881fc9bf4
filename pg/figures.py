"""Figures: the article's "error against bias" graph, drawn from numbers the trainers compute.

Each function takes plain sequences, draws with matplotlib's object API (no pyplot, no global
state, no display needed) and returns the encoded PNG, rendered once; `RunLogger.png` saves those
bytes in the run folder and logs the same bytes to TensorBoard.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

__all__ = ["loss_curve_png"]


def loss_curve_png(
    biases: Sequence[float],
    loss: Sequence[float],
    slope: Sequence[float],
    path: Sequence[float],
    *,
    loss_name: str = "MSE",
    title: str = "",
) -> bytes:
    """Loss against bias, its derivative, and the derivative's size on a log scale.

    `path` is the bias at successive logging points: the first is marked as the start, the last
    as the end, so a stall in a flat region shows as points piling up where the slope is ~0. The
    log panel shows how flat "flat" is: the slope falls by orders of magnitude there.
    """
    from matplotlib.figure import Figure  # lazy: only runs that draw pay for matplotlib

    fig = Figure(figsize=(7.0, 7.0), layout="constrained")
    top, bottom, magnified = fig.subplots(3, 1, sharex=True, height_ratios=(3, 2, 2))
    top.plot(biases, loss, color="tab:blue", label=loss_name)
    bottom.plot(biases, slope, color="tab:orange", label=f"d{loss_name}/d bias")
    bottom.axhline(0.0, color="0.6", linewidth=0.8)
    magnified.semilogy(biases, [abs(s) for s in slope], color="tab:orange", label=f"|d{loss_name}/d bias|")

    if path:
        on_curve = [_interp(b, biases, loss) for b in path]
        on_slope = [_interp(b, biases, slope) for b in path]
        top.plot(path, on_curve, ".", color="0.35", markersize=4, label="bias while training")
        top.plot(path[:1], on_curve[:1], "o", color="tab:green", label=f"start {path[0]:.3g}")
        top.plot(path[-1:], on_curve[-1:], "*", color="tab:red", markersize=12, label=f"end {path[-1]:.4g}")
        bottom.plot(path[-1:], on_slope[-1:], "*", color="tab:red", markersize=12)
        magnified.plot(path[-1:], [abs(v) for v in on_slope[-1:]], "*", color="tab:red", markersize=12)
    top.set_ylabel(loss_name)
    top.set_title(title)
    bottom.set_ylabel("derivative")
    magnified.set_ylabel("size of derivative")
    magnified.set_xlabel("bias")
    for ax in (top, bottom, magnified):
        ax.legend(loc="best", fontsize=8)
        ax.grid(alpha=0.3)

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    return buffer.getvalue()


def _interp(x: float, xs: Sequence[float], ys: Sequence[float]) -> float:
    """Linear interpolation of ys(xs) at x; xs ascending, x clamped to their range."""
    import numpy as np

    return float(np.interp(x, xs, ys))
