"""The REINFORCE loss: the article's walkthrough, the hand-derived gradient, shapes, detachment."""

from __future__ import annotations

import pytest
import torch

import pg
from pg.walkthrough import walkthrough


def test_the_walkthrough_reproduces_the_article_0_then_minus_0_5_then_minus_1_122459():
    first, second = walkthrough()
    expected = [
        # bias, p(B), u, action, reward, derivative, x reward, new bias
        (0.0, 0.5, 0.2, "A", 1.0, 0.5, 0.5, -0.5),
        (-0.5, 0.377541, 0.9, "B", -1.0, -0.622459, 0.622459, -1.122459),
    ]
    for got, (bias, p_b, u, action, reward, derivative, times_reward, new_bias) in zip(
        (first, second), expected
    ):
        assert (got.u, got.action, got.reward) == (u, action, reward)
        assert got.bias == pytest.approx(bias, abs=1e-6)
        assert got.p_b == pytest.approx(p_b, abs=1e-6)
        assert got.derivative == pytest.approx(derivative, abs=1e-6)
        assert got.derivative_by_hand == pytest.approx(got.derivative, abs=1e-12)
        assert got.derivative_x_reward == pytest.approx(times_reward, abs=1e-6)
        assert got.step == pytest.approx(-times_reward, abs=1e-6)
        assert got.new_bias == pytest.approx(new_bias, abs=1e-6)


@pytest.mark.parametrize("bias", [0.0, -0.5, -3.0, -10.0, 4.0])
@pytest.mark.parametrize("hunger", [0.0, 0.3, 0.8])
@pytest.mark.parametrize("action, reward", [(0.0, 1.0), (0.0, -1.0), (1.0, 1.0), (1.0, -2.0)])
def test_autograd_gradient_of_the_loss_is_the_hand_derivative_times_the_reward(
    bias, hunger, action, reward
):
    policy = pg.HungerPolicy(bias=bias, dtype=torch.float64)
    obs = torch.tensor([hunger], dtype=torch.float64)
    dist = policy.distribution(obs)
    pg.reinforce_loss(
        dist.log_prob(torch.tensor([action], dtype=torch.float64)),
        torch.tensor([reward], dtype=torch.float64),
    ).backward()
    p_b = torch.sigmoid(torch.tensor(20.0 * hunger + bias, dtype=torch.float64)).item()
    by_hand = p_b if action == 0.0 else -(1 - p_b)  # d(-log p(action))/d(bias)
    assert policy.bias.grad.item() == pytest.approx(by_hand * reward, rel=1e-12, abs=1e-300)


def test_the_loss_is_minus_the_mean_of_advantage_times_log_prob():
    log_prob = torch.tensor([-0.1, -2.0, -0.5])
    reward = torch.tensor([1.0, -1.0, 1.0])
    assert pg.reinforce_loss(log_prob, reward).item() == pytest.approx(-(-0.1 + 2.0 - 0.5) / 3)
    assert pg.reinforce_loss(log_prob, reward, 0.5).item() == pytest.approx(
        -(-0.05 + 3.0 - 0.25) / 3
    )
    per_row = torch.tensor([1.0, 0.0, -1.0])
    assert pg.reinforce_loss(log_prob, reward, per_row).item() == pytest.approx(
        -(0.0 + 2.0 - 1.0) / 3
    )


def test_the_mean_reduction_keeps_the_step_size_independent_of_the_batch_size():
    policy = pg.HungerPolicy(bias=-2.0)
    obs = torch.tensor([0.1, 0.7, 0.4])
    action, reward = torch.tensor([1.0, 0.0, 0.0]), torch.tensor([-1.0, -1.0, 1.0])

    def grad(copies):
        policy.zero_grad()
        dist = policy.distribution(obs.repeat(copies))
        pg.reinforce_loss(dist.log_prob(action.repeat(copies)), reward.repeat(copies)).backward()
        return policy.bias.grad.item()

    assert grad(1) == pytest.approx(grad(50), rel=1e-6)


@pytest.mark.parametrize(
    "log_prob, reward, baseline, words",
    [
        (torch.zeros(4), torch.zeros(4, 1), None, "got (4,) and (4, 1)"),  # the [n] x [n, 1] bug
        (torch.zeros(4, 1), torch.zeros(4, 1), None, "got (4, 1) and (4, 1)"),
        (torch.zeros(4), torch.zeros(3), None, "got (4,) and (3,)"),
        (torch.zeros(0), torch.zeros(0), None, "N >= 1"),
        (
            torch.zeros(4),
            torch.zeros(4),
            torch.zeros(4, 1),
            "baseline must be a number, a 0-dim tensor or have shape (4,)",
        ),
        ([0.0], torch.zeros(1), None, "must be tensors"),
    ],
)
def test_shapes_are_checked_not_broadcast(log_prob, reward, baseline, words):
    with pytest.raises(ValueError) as caught:
        pg.reinforce_loss(log_prob, reward, baseline)
    assert words in str(caught.value)


def test_the_gradient_reaches_the_policy_and_nothing_else():
    policy = pg.HungerPolicy(bias=-1.0, train_weight=True)
    obs = torch.tensor([0.2, 0.9])
    reward = torch.tensor([1.0, -1.0], requires_grad=True)  # as if computed from a model
    baseline = torch.tensor(0.3, requires_grad=True)
    dist = policy.distribution(obs)
    pg.reinforce_loss(dist.log_prob(torch.tensor([0.0, 1.0])), reward, baseline).backward()
    assert policy.bias.grad is not None and policy.weight.grad is not None
    assert reward.grad is None and baseline.grad is None  # detached: no gradient leaks into them


def test_a_running_mean_baseline_holds_only_earlier_batches():
    baseline = pg.MeanBaseline()
    assert baseline.value is None
    baseline.update(torch.tensor([1.0, 0.0]))
    assert baseline.value.item() == 0.5
    baseline.update(torch.tensor([-1.0, -1.0]))
    assert baseline.value.item() == pytest.approx(0.9 * 0.5 + 0.1 * -1.0)


@pytest.mark.parametrize(
    "log_prob, reward, baseline, error, words",
    [
        (
            torch.tensor([-0.5, float("nan")]),
            torch.ones(2),
            None,
            ValueError,
            "log_prob must be finite",
        ),
        (
            torch.tensor([-0.5, -1.0]),
            torch.tensor([1.0, float("inf")]),
            None,
            ValueError,
            "reward must be finite",
        ),
        (
            torch.tensor([-0.5, -1.0]),
            torch.ones(2),
            float("nan"),
            ValueError,
            "baseline must be finite",
        ),
        (
            torch.tensor([-0.5, -1.0]),
            torch.tensor([1, -1]),
            None,
            ValueError,
            "floating-point tensors, got torch.float32 and torch.int64",
        ),
    ],
)
def test_non_finite_values_and_integer_rewards_are_refused(
    log_prob, reward, baseline, error, words
):
    with pytest.raises(error, match=words):
        pg.reinforce_loss(log_prob, reward, baseline)


def test_the_trainers_skip_the_value_scan_but_never_the_shape_check():
    assert pg.reinforce_loss(
        torch.tensor([float("nan")]), torch.ones(1), check_values=False
    ).isnan()
    with pytest.raises(ValueError, match=r"got \(2,\) and \(2, 1\)"):
        pg.reinforce_loss(torch.zeros(2), torch.zeros(2, 1), check_values=False)
