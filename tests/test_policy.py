"""The policy module: p(B) = sigmoid(w * hunger + b), its distribution, and its one hook."""

from __future__ import annotations

import math

import pytest
import torch

import pg
from pg.episodes import greedy_actions


def test_p_b_is_sigmoid_of_weight_times_hunger_plus_bias():
    policy = pg.HungerPolicy(weight=20.0, bias=-10.0)
    hunger = torch.tensor([0.0, 0.1, 0.5, 0.9, 1.0])
    expected = [1 / (1 + math.exp(-(20 * h - 10))) for h in hunger.tolist()]
    assert policy(hunger).tolist() == pytest.approx(expected, rel=1e-6)


def test_defaults_are_weight_20_bias_0_and_p_b_one_half_at_hunger_0():
    policy = pg.HungerPolicy()
    assert policy.weight.item() == 20.0 and policy.bias.item() == 0.0
    assert policy(torch.tensor([0.0])).item() == 0.5


def test_only_the_bias_is_trained_unless_the_weight_is_asked_for():
    fixed = pg.HungerPolicy()
    assert [n for n, p in fixed.named_parameters() if p.requires_grad] == ["bias"]
    assert fixed.bias.shape == () and isinstance(fixed.bias, torch.nn.Parameter)
    free = pg.HungerPolicy(train_weight=True)
    assert sorted(n for n, p in free.named_parameters() if p.requires_grad) == ["bias", "weight"]
    assert set(fixed.state_dict()) == {"weight", "bias"}


def test_hunger_of_shape_n_and_n_by_1_give_the_same_output_of_shape_n():
    policy = pg.HungerPolicy(bias=-3.0)
    hunger = torch.rand(7)
    assert policy(hunger).shape == (7,)
    torch.testing.assert_close(policy(hunger), policy(hunger[:, None]))


@pytest.mark.parametrize(
    "obs, error, words",
    [
        (
            torch.tensor([0, 1]),
            ValueError,
            ["floating-point", "(N,) or (N, 1)", "torch.int64", "(2,)"],
        ),
        (torch.zeros(3, 2), ValueError, ["(N,) or (N, 1)", "(3, 2)"]),
        (torch.zeros(2, 1, 1), ValueError, ["(N,) or (N, 1)", "(2, 1, 1)"]),
        (torch.zeros(0), ValueError, ["at least one", "(0, 1)"]),
        ([0.0, 1.0], TypeError, ["torch.Tensor", "list"]),
    ],
)
def test_a_wrong_obs_is_refused_saying_what_was_expected_and_what_arrived(obs, error, words):
    with pytest.raises(error) as caught:
        pg.HungerPolicy()(obs)
    for word in words:
        assert word in str(caught.value)


@pytest.mark.parametrize("bias", [0.0, -1.122459, -10.0, 7.0])
def test_distribution_log_probs_agree_with_log_p_and_log_one_minus_p(bias):
    policy = pg.HungerPolicy(bias=bias, dtype=torch.float64)
    hunger = torch.linspace(0, 1, 11, dtype=torch.float64)
    dist = policy.distribution(hunger)
    z = [20 * h + bias for h in hunger.tolist()]
    log_p_b = [-math.log1p(math.exp(-v)) for v in z]  # log sigmoid(z), exact in float64 here
    log_p_a = [-math.log1p(math.exp(v)) for v in z]  # log(1 - sigmoid(z))
    assert dist.log_prob(torch.ones(11, dtype=torch.float64)).tolist() == pytest.approx(
        log_p_b, rel=1e-12
    )
    assert dist.log_prob(torch.zeros(11, dtype=torch.float64)).tolist() == pytest.approx(
        log_p_a, rel=1e-12
    )
    p_b = policy(hunger)
    torch.testing.assert_close(dist.probs, p_b)
    if bias <= 0:  # where 1 - p(B) is not a cancellation, the naive formulas agree too
        torch.testing.assert_close(
            dist.log_prob(torch.zeros(11, dtype=torch.float64)), torch.log1p(-p_b)
        )
        torch.testing.assert_close(
            dist.log_prob(torch.ones(11, dtype=torch.float64)), torch.log(p_b)
        )


def test_log_prob_stays_finite_and_exact_where_p_b_rounds_to_one_in_float32():
    # logit 30: p(B) rounds to exactly 1.0 in float32, so log(1 - p) would be -inf;
    # built from logits, log p(A) = -softplus(30) = -30.0000000000000936
    policy = pg.HungerPolicy(weight=20.0, bias=10.0)
    hunger = torch.tensor([1.0])
    assert policy(hunger).item() == 1.0
    log_p_a = policy.distribution(hunger).log_prob(torch.tensor([0.0]))
    assert log_p_a.item() == pytest.approx(-30.0, rel=1e-6)


def test_a_sample_of_one_means_place_b():
    policy = pg.HungerPolicy(bias=50.0)  # p(B) = 1 to float precision
    sample = policy.distribution(torch.full((100,), 0.5)).sample()
    assert sample.tolist() == [1.0] * 100


class DoubledLogits(pg.HungerPolicy):
    """A subclass written here, not shipped: it overrides the hook only."""

    def logits(self, obs):
        return 2 * super().logits(obs)


def test_a_subclass_that_overrides_logits_changes_forward_and_distribution():
    policy = DoubledLogits(bias=-1.0)
    hunger = torch.tensor([0.0, 0.2])
    torch.testing.assert_close(policy(hunger), torch.sigmoid(2 * (20 * hunger - 1)))
    torch.testing.assert_close(policy.distribution(hunger).logits, 2 * (20 * hunger - 1))


class WrongShape(pg.Policy):
    def logits(self, obs):
        return obs  # (N, 1), not (N,)


def test_a_hook_that_returns_the_wrong_shape_gets_an_error_naming_the_hook():
    with pytest.raises(
        ValueError,
        match=r"WrongShape\.logits\(obs\) must return shape \(3,\) or \(3, 2\).*got \(3, 1\)",
    ):
        WrongShape()(torch.zeros(3))


class TwoLogitHunger(pg.HungerPolicy):
    """The article's network with a logit per place, (N, 2), as most two-action networks have:
    Place A's logit 0, Place B's the article's, so p(B) is the same sigmoid."""

    def logits(self, obs):
        b = super().logits(obs)  # (N,)
        return torch.stack([torch.zeros_like(b), b], dim=-1)


def test_a_two_logit_head_is_the_same_policy_as_one_logit_of_action_1():
    one, two = pg.HungerPolicy(bias=-3.0), TwoLogitHunger(bias=-3.0)
    hunger = torch.rand(1000, generator=torch.Generator().manual_seed(0))
    assert two(hunger).shape == (1000,)  # p(B), whichever head
    torch.testing.assert_close(two(hunger), one(hunger))
    d1, d2 = one.distribution(hunger), two.distribution(hunger)
    assert isinstance(d2, torch.distributions.Categorical)
    a1 = pg.sample_actions(d1, torch.Generator().manual_seed(3))
    a2 = pg.sample_actions(d2, torch.Generator().manual_seed(3))
    assert 100 < int(a1.sum()) < 900 and a2.tolist() == a1.long().tolist()  # the same choices
    torch.testing.assert_close(d2.log_prob(a2), d1.log_prob(a1))
    assert greedy_actions(d2).tolist() == greedy_actions(d1).long().tolist()


def test_a_two_logit_head_trains_on_the_hunger_bandit_as_one_logit_does():
    runs = []
    for policy in (pg.HungerPolicy(), TwoLogitHunger()):
        pg.train_reinforce(policy, pg.HungerBandit(), steps=50, logdir=None)
        runs.append(policy.bias.item())
    assert runs[0] < -1 and runs[1] == pytest.approx(runs[0], abs=1e-4)


def test_the_base_class_says_the_hook_must_be_overridden():
    with pytest.raises(NotImplementedError, match="must override logits"):
        pg.Policy()(torch.zeros(2))


def test_non_finite_observations_are_refused_unless_the_caller_vouches_for_them():
    policy = pg.HungerPolicy()
    with pytest.raises(ValueError, match="obs must be finite, got NaN or infinite values"):
        policy(torch.tensor([0.5, float("nan")]))
    with pytest.raises(ValueError, match="obs must be finite"):
        policy.distribution(torch.tensor([float("inf")]))
    assert (
        policy.distribution(torch.tensor([float("nan")]), check_values=False).logits.isnan().all()
    )


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a second device")
def test_observations_on_another_device_are_refused_naming_both():
    with pytest.raises(ValueError, match="obs is on cuda:0 but the policy is on cpu"):
        pg.HungerPolicy()(torch.zeros(2, device="cuda"))
