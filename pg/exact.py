"""Exact math for the hunger example, in float64: what the tests hold the autograd code to.

Supervised (mean squared error over N labelled points, p = sigmoid(w * hunger + b)):

    MSE(b)    = (1/N) * sum((p - y)^2)
    dMSE/db   = (2/N) * sum((p - y) * p * (1 - p))      since dp/db = p * (1 - p)

These are written out by hand on purpose: autograd must agree with them, not with itself.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["mse", "mse_grad_bias"]


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
