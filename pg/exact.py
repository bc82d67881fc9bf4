"""Exact math for the hunger example, in float64: what the tests hold the autograd code to.

Supervised (mean squared error over N labelled points, p = sigmoid(w * hunger + b)):

    MSE(b)    = (1/N) * sum((p - y)^2)
    dMSE/db   = (2/N) * sum((p - y) * p * (1 - p))      since dp/db = p * (1 - p)

REINFORCE on the hunger bandit (hunger ~ U[0, 1], threshold t, rewards good / bad, P(large
portion) q_A at Place A and q_B at Place B; q_A = 0, q_B = 1 when portions are deterministic).
The chance that the portion served suits the hunger, averaged over hunger, is

    P(suits)(b) = t (1 - q_A) + (1 - t) q_A + (q_B - q_A) * (I(t, 1) - I(0, t))
    I(lo, hi)   = integral of p(B) over hunger in [lo, hi] = (sp(w hi + b) - sp(w lo + b)) / w

with sp = softplus, since d sp(x) / dx = sigmoid(x). Then J = bad + (good - bad) * P(suits) and

    dJ/db = (good - bad) (q_B - q_A) * ((s(w + b) - s(w t + b)) - (s(w t + b) - s(b))) / w

For deterministic portions this is the formula of example.md. Policies whose logits are not
affine in hunger get J by Gauss-Legendre quadrature instead, on [0, t] and [t, 1] separately so
that the reward's jump at the threshold falls on a panel edge.

These are written out by hand on purpose: autograd must agree with them, not with itself. The
task enters as plain numbers (`threshold`, `reward_good`, `reward_bad`, `q_a`, `q_b`; a
`HungerBandit` gives its own as `env.task`), so this module depends on nothing else in pg.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor

__all__ = [
    "mse",
    "mse_grad_bias",
    "expected_reward_affine",
    "expected_reward_quadrature",
    "optimal_bias",
    "best_expected_reward",
]


def _f64(x) -> Tensor:
    return torch.as_tensor(x, dtype=torch.float64)


def _p_b(hunger, weight, bias) -> Tensor:
    """(..., N) p(B) for every bias in `bias` (any shape) and every hunger value (N,)."""
    return torch.sigmoid(_f64(weight) * _f64(hunger) + _f64(bias)[..., None])


def mse(hunger, target, weight, bias) -> Tensor:
    """Mean squared error of p(B) against the labels; `bias` may be a grid, shape (...)."""
    p = _p_b(hunger, weight, bias)
    return ((p - _f64(target)) ** 2).mean(-1)


def mse_grad_bias(hunger, target, weight, bias) -> Tensor:
    """dMSE/db by the hand formula (2/N) * sum((p - y) * p * (1 - p)); `bias` may be a grid."""
    p = _p_b(hunger, weight, bias)
    return 2.0 * ((p - _f64(target)) * p * (1.0 - p)).mean(-1)


def expected_reward_affine(
    weight,
    bias,
    *,
    threshold: float,
    reward_good: float,
    reward_bad: float,
    q_a: float = 0.0,
    q_b: float = 1.0,
) -> tuple[np.ndarray, np.ndarray]:
    """(J, dJ/db) in closed form for p(B) = sigmoid(w * hunger + b), as float64 numpy values.

    `bias` may be a number or an array (a grid of biases). numpy, not torch: this runs at every
    logging point of a REINFORCE run, where two dozen tiny torch ops would cost ~100 us.
    """
    w, b, t = float(weight), np.asarray(bias, dtype=np.float64), threshold
    spread = reward_good - reward_bad
    above, below = _integral_p_b(w, b, t, 1.0), _integral_p_b(w, b, 0.0, t)
    p_suits = t * (1 - q_a) + (1 - t) * q_a + (q_b - q_a) * (above - below)
    d_above, d_below = _integral_p_b_grad(w, b, t, 1.0), _integral_p_b_grad(w, b, 0.0, t)
    return reward_bad + spread * p_suits, spread * (q_b - q_a) * (d_above - d_below)


def _integral_p_b(w: float, b: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Integral of sigmoid(w h + b) over h in [lo, hi]; the w -> 0 limit where w = 0."""
    if w == 0:
        return (hi - lo) * _sigmoid(b)
    return (_softplus(w * hi + b) - _softplus(w * lo + b)) / w


def _integral_p_b_grad(w: float, b: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """d/db of `_integral_p_b`: (sigmoid(w hi + b) - sigmoid(w lo + b)) / w."""
    if w == 0:
        s = _sigmoid(b)
        return (hi - lo) * s * (1 - s)
    return _sigmoid_difference(w * hi + b, w * lo + b) / w


def _softplus(x: np.ndarray) -> np.ndarray:
    """log(1 + e^x), exact everywhere (torch's F.softplus returns x itself above x = 20)."""
    return np.logaddexp(0.0, x)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    """1 / (1 + e^-x) with full relative precision in both tails."""
    return np.exp(-np.logaddexp(0.0, -x))


def _sigmoid_difference(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """sigmoid(x) - sigmoid(y) without cancellation: in the upper tail, sigmoid(-y) - sigmoid(-x).

    Where both sigmoids round to 1.0 the plain difference is exactly 0 and the sign of the slope
    is lost, which would send the bisection in `optimal_bias` the wrong way.
    """
    upper = (x + y) > 0
    return np.where(upper, _sigmoid(-y) - _sigmoid(-x), _sigmoid(x) - _sigmoid(y))


def expected_reward_quadrature(
    p_b: Callable[[Tensor], Tensor],
    like: Tensor,
    *,
    threshold: float,
    reward_good: float,
    reward_bad: float,
    q_a: float = 0.0,
    q_b: float = 1.0,
) -> Tensor:
    """J for any policy on the hunger task, by quadrature over hunger (0-dim, float64).

    `p_b` maps (M,) hunger values, made with the dtype and device of `like`, to (M,) p(B): a
    policy's `forward`. Differentiable with respect to its parameters: autograd gives dJ/dθ.
    """
    nodes, weights, hungry = (torch.from_numpy(a) for a in _quadrature(threshold))
    p = p_b(nodes.to(like)).to(torch.float64)  # (M,)
    p_large = (1 - p) * q_a + p * q_b
    p_suits = torch.where(hungry.to(like.device), p_large, 1 - p_large)
    total = (weights.to(like.device) * p_suits).sum()
    return reward_bad + (reward_good - reward_bad) * total


@functools.lru_cache(maxsize=8)
def _quadrature(
    threshold: float, panels: int = 64, order: int = 8
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Composite Gauss-Legendre nodes and weights on [0, t] and [t, 1], and which are hungry."""
    x, w = np.polynomial.legendre.leggauss(order)
    nodes, weights, hungry = [], [], []
    for lo, hi in ((0.0, threshold), (threshold, 1.0)):
        edges = np.linspace(lo, hi, panels + 1)
        half = (edges[1:] - edges[:-1])[:, None] / 2  # (panels, 1)
        mid = (edges[1:] + edges[:-1])[:, None] / 2
        nodes.append((mid + half * x).ravel())
        weights.append((half * w).ravel())
        hungry.append(np.full(panels * order, lo >= threshold and hi > lo))
    return np.concatenate(nodes), np.concatenate(weights), np.concatenate(hungry)


def optimal_bias(weight: float, **task: float) -> float:
    """The bias maximising J for p(B) = sigmoid(weight * hunger + b), by bisection on dJ/db.

    -10 for weight 20 and threshold 0.5. When J keeps rising towards one end (threshold 0 or 1,
    say), the best bias is unbounded and this returns -inf or +inf (-inf when both ends tie, as
    for a negative weight); when J does not depend on the bias at all, 0.
    """

    def slope(b: float) -> float:
        return expected_reward_affine(weight, b, **task)[1].item()

    lo, hi = -abs(weight) - 40.0, abs(weight) + 40.0  # every sigmoid is saturated beyond these
    if slope(lo) > 0 > slope(hi):  # J rises, then falls: one interior maximum
        for _ in range(200):  # float64 bisection: the bracket is below one ulp long before 200
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if slope(mid) > 0 else (lo, mid)
        return (lo + hi) / 2
    if slope(lo) == slope(hi) == slope(0.0) == 0.0:
        return 0.0
    j_lo, j_hi = (expected_reward_affine(weight, b, **task)[0].item() for b in (lo, hi))
    return math.inf if j_hi > j_lo else -math.inf


def best_expected_reward(
    *, threshold: float, reward_good: float, reward_bad: float, q_a: float = 0.0, q_b: float = 1.0
) -> float:
    """The best J of any policy: the threshold policy, picking the place likelier to suit."""
    p_suits = threshold * max(1 - q_a, 1 - q_b) + (1 - threshold) * max(q_a, q_b)
    return reward_bad + (reward_good - reward_bad) * p_suits
