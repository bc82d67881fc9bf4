"""Bigger networks: subclasses that override only `logits` train with every trainer, unchanged."""

from __future__ import annotations

import pytest
import torch

import pg


class Quadratic(pg.Policy):
    """Written here, not shipped: logits from (hunger, hunger^2) features, three parameters."""

    obs_dim = 1

    def __init__(self):
        super().__init__()
        self.coef = torch.nn.Parameter(torch.zeros(3))

    def logits(self, obs):  # (N, 1) -> (N,)
        h = obs[:, 0]
        return self.coef[0] + self.coef[1] * h + self.coef[2] * h**2


def test_a_subclass_written_here_trains_with_supervised_mse():
    env = pg.HungerBandit()
    hunger = torch.linspace(0, 1, 101)
    policy = Quadratic()
    result = pg.train_supervised(policy, hunger, env.ideal_p_b(hunger), steps=300, logdir=None)
    assert result.loss < 0.05
    assert env.expected_reward(policy).item() > 0.9


def test_a_subclass_written_here_trains_with_reinforce_and_its_exact_reward_is_logged(logdir):
    from conftest import read_scalars

    env = pg.HungerBandit()
    policy = Quadratic()
    result = pg.train_reinforce(
        policy, env, optimizer="adam", lr=0.5, steps=200, logdir=str(logdir)
    )
    assert result.expected_reward > 0.9
    assert read_scalars(result.run_dir)["reward/expected"][-1][1] == pytest.approx(
        result.expected_reward, abs=0.01
    )


@pytest.mark.parametrize("path", ["reinforce", "supervised"])
def test_an_mlp_with_all_weights_trained_learns_the_threshold_policy_by_both_paths(path):
    env = pg.HungerBandit()
    torch.manual_seed(0)
    policy = pg.MLPPolicy(obs_dim=1, hidden=(16, 16), num_actions=2)
    if path == "reinforce":
        result = pg.train_reinforce(policy, env, optimizer="adam", lr=0.05, steps=300, logdir=None)
        assert result.average_reward >= 0.95
    else:
        hunger = torch.linspace(
            0, 1, 101
        )  # the ideal outputs on a grid: the labels REINFORCE never sees
        pg.train_supervised(policy, hunger, env.ideal_p_b(hunger), steps=300, lr=0.01, logdir=None)
    assert env.expected_reward(policy).item() >= 0.95  # the best any policy can do is 1.0


def test_an_mlp_policy_takes_observations_of_any_width():
    policy = pg.MLPPolicy(obs_dim=3, hidden=(8,), num_actions=2)
    assert policy(torch.rand(5, 3)).shape == (5,)
    with pytest.raises(ValueError, match=r"obs must have shape \(N, 3\), got \(5, 2\)"):
        policy(torch.rand(5, 2))


def test_more_than_two_actions_give_a_categorical_with_k_probabilities():
    policy = pg.MLPPolicy(obs_dim=2, hidden=(8,), num_actions=3)
    obs = torch.rand(4, 2)
    probs = policy(obs)
    assert probs.shape == (4, 3)
    torch.testing.assert_close(probs.sum(-1), torch.ones(4))
    dist = policy.distribution(obs)
    assert isinstance(dist, torch.distributions.Categorical)
    actions = pg.sample_actions(dist, torch.Generator().manual_seed(0))
    assert actions.shape == (4,) and actions.dtype == torch.long
    assert dist.log_prob(actions).shape == (4,)


def test_categorical_sampling_splits_the_unit_line_in_action_order():
    dist = torch.distributions.Categorical(probs=torch.tensor([[0.2, 0.5, 0.3]]).expand(5, 3))
    u = torch.tensor([0.0, 0.19, 0.2, 0.69, 0.99])
    assert pg.actions_from_uniform(dist, u).tolist() == [0, 0, 1, 1, 2]


def test_categorical_sampling_frequencies_match_the_probabilities():
    probs = torch.tensor([0.1, 0.6, 0.3])
    dist = torch.distributions.Categorical(probs=probs.expand(200_000, 3))
    counts = (
        torch.bincount(pg.sample_actions(dist, torch.Generator().manual_seed(0)), minlength=3)
        / 200_000
    )
    torch.testing.assert_close(counts, probs, atol=0.005, rtol=0)


class ThreeWayWrong(pg.Policy):
    num_actions = 3

    def logits(self, obs):
        return obs[:, 0]  # (N,) but three actions need (N, 3)


def test_a_k_action_hook_of_the_wrong_shape_is_refused_naming_the_hook():
    with pytest.raises(
        ValueError,
        match=r"ThreeWayWrong\.logits\(obs\) must return shape \(4, 3\).*3 actions, got \(4,\)",
    ):
        ThreeWayWrong()(torch.rand(4))


def test_mlp_settings_are_checked():
    with pytest.raises(ValueError, match="activation must be one of"):
        pg.MLPPolicy(1, 2, activation="swish")
    with pytest.raises(ValueError, match="hidden sizes must be positive"):
        pg.MLPPolicy(1, 2, hidden=(0,))


def test_ideal_outputs_are_1_above_the_threshold():
    assert pg.HungerBandit(threshold=0.3).ideal_p_b(
        torch.tensor([0.0, 0.3, 0.31, 1.0])
    ).tolist() == [0, 0, 1, 1]


def test_the_shipped_mlp_policies_take_obs_dim_then_their_actions_then_hidden():
    discrete, continuous = pg.MLPPolicy(4, 3, (8,)), pg.GaussianMLPPolicy(4, 2, (8,))
    assert (discrete.obs_dim, discrete.num_actions) == (4, 3)
    assert (continuous.obs_dim, continuous.act_dim) == (4, 2)
    assert [layer.out_features for layer in discrete.net[::2]] == [8, 3]
    assert pg.MLPPolicy(4, 2).net[0].out_features == 64  # hidden=(64, 64) by default
