"""The article's error curve: golden MSE values, and autograd's derivative against the hand formula.

Golden numbers from ../shared/reference/example.md (weight 20, the article's four labelled points,
MSE = mean over the 4 points, float64).
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

import pg
from pg import exact

GOLDEN = [  # bias, MSE, dMSE/db
    (0.0, 2.564509e-01, 1.087390e-01),
    (-2.0, 6.605233e-02, 6.875777e-02),
    (-6.0, 8.240441e-05, 1.618919e-04),
    (-10.0, 5.726034e-08, 0.0),
]


def autograd_mse_and_slope(bias: float) -> tuple[float, float]:
    """MSE and dMSE/db as the trainer computes them: the module, F.mse_loss and backward()."""
    policy = pg.HungerPolicy(weight=20.0, bias=bias, dtype=torch.float64)
    hunger, target = pg.article_data(torch.float64)
    loss = F.mse_loss(policy(hunger), target)
    loss.backward()
    return loss.item(), policy.bias.grad.item()


@pytest.mark.parametrize("bias, mse, slope", GOLDEN)
def test_the_hand_formula_gives_the_golden_mse_and_derivative(bias, mse, slope):
    hunger, target = pg.article_data(torch.float64)
    assert exact.mse(hunger, target, 20.0, bias).item() == pytest.approx(mse, rel=1e-6)
    assert exact.mse_grad_bias(hunger, target, 20.0, bias).item() == pytest.approx(
        slope, rel=1e-6, abs=1e-12
    )


@pytest.mark.parametrize("bias, mse, slope", GOLDEN)
def test_autograd_on_the_module_gives_the_golden_mse_and_derivative(bias, mse, slope):
    loss, grad = autograd_mse_and_slope(bias)
    assert loss == pytest.approx(mse, rel=1e-6)
    assert grad == pytest.approx(slope, rel=1e-6, abs=1e-12)


@pytest.mark.parametrize("bias", [3.0, 0.5, -1.0, -4.5, -8.0, -9.9, -10.1, -14.0, -25.0])
def test_autograd_matches_the_hand_derivative_2_over_n_sum_p_minus_y_p_1_minus_p(bias):
    hunger, target = pg.article_data(torch.float64)
    p = torch.sigmoid(20.0 * hunger + bias)
    by_hand = (2 / 4) * ((p - target) * p * (1 - p)).sum().item()
    _, grad = autograd_mse_and_slope(bias)
    assert grad == pytest.approx(by_hand, rel=1e-10, abs=1e-300)
    assert exact.mse_grad_bias(hunger, target, 20.0, bias).item() == pytest.approx(
        by_hand, rel=1e-12
    )


def test_the_derivative_says_move_left_above_minus_10_and_right_below_it():
    # the article's rule: positive derivative -> shift the bias left, negative -> right
    hunger, target = pg.article_data(torch.float64)
    biases = torch.tensor([-12.0, -10.5, -9.5, -6.0, 0.0], dtype=torch.float64)
    signs = torch.sign(exact.mse_grad_bias(hunger, target, 20.0, biases)).tolist()
    assert signs == [-1.0, -1.0, 1.0, 1.0, 1.0]


def test_the_mse_minimum_over_a_fine_grid_is_at_bias_minus_10():
    hunger, target = pg.article_data(torch.float64)
    grid = torch.linspace(-20, 0, 20001, dtype=torch.float64)  # step 0.001
    best = grid[exact.mse(hunger, target, 20.0, grid).argmin()].item()
    assert best == pytest.approx(-10.0, abs=1e-3)


def sgd_by_hand(lr: float, steps: int, bias: float = 0.0) -> float:
    """Plain gradient descent on the article's MSE in float64 scalars, from the hand formula
    dMSE/db = (2/4) * sum((p - y) * p * (1 - p)), p = sigmoid(20 * hunger + b)."""
    points = [(0.0, 0.0), (0.1, 0.0), (0.9, 1.0), (1.0, 1.0)]
    for _ in range(steps):
        slope = 0.0
        for hunger, label in points:
            p = 1.0 / (1.0 + math.exp(-(20.0 * hunger + bias)))
            slope += (p - label) * p * (1.0 - p)
        bias -= lr * slope / 2.0
    return bias


def test_plain_sgd_stalls_in_the_flat_region_far_from_minus_10():
    # Squared error on a saturated sigmoid: the slope shrinks like exp(2b), so gradient descent
    # crawls: 20,000 SGD steps at lr 1 end near -6.94, far from -10. The trainer takes the same
    # path as gradient descent by hand (checked over the first 2,000 steps, where the bias moves
    # most), so 20,000 steps of it end there too.
    hunger, target = pg.article_data(torch.float64)
    policy = pg.HungerPolicy(dtype=torch.float64)
    pg.train_supervised(
        policy, hunger, target, optimizer="sgd", lr=1.0, steps=2_000, log_every=2_000, logdir=None
    )
    assert policy.bias.item() == pytest.approx(sgd_by_hand(1.0, 2_000), abs=1e-12)
    assert policy.bias.item() < -5.0  # it has moved a long way from 0 ...
    assert sgd_by_hand(1.0, 20_000) == pytest.approx(-6.9391, abs=1e-3)  # ... then crawls


def test_on_the_sum_of_squared_residuals_sgd_stalls_near_minus_7_6():
    # the sum is 4 x the MSE, so its SGD at lr 1 is the MSE's at lr 4: example.md's "-7.6"
    assert sgd_by_hand(4.0, 20_000) == pytest.approx(-7.6434, abs=1e-3)
