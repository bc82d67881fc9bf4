"""The hunger bandit: rewards, stochastic portions, sampling, and refused settings."""

from __future__ import annotations

import pytest
import torch

import pg


def test_the_reward_is_good_when_the_place_suits_the_hunger_and_bad_otherwise():
    env = pg.HungerBandit()
    hunger = torch.tensor([0.0, 0.0, 0.2, 0.5, 0.5, 0.51, 0.8, 1.0])
    action = torch.tensor([0.0, 1.0, 0.0, 0.0, 1.0, 1.0, 0.0, 1.0])
    # at exactly the threshold, hunger is not above it: Place A suits
    assert env.reward(hunger, action).tolist() == [1, -1, 1, 1, -1, 1, -1, 1]


def test_reward_magnitudes_and_the_threshold_are_settings():
    env = pg.HungerBandit(threshold=0.3, reward_good=2.0, reward_bad=-2.0)
    hunger = torch.tensor([0.2, 0.2, 0.4, 0.4])
    action = torch.tensor([0.0, 1.0, 0.0, 1.0])
    assert env.reward(hunger, action).tolist() == [2, -2, -2, 2]


def test_stochastic_portions_reward_the_portion_served_with_probabilities_15_and_80_percent():
    env = pg.HungerBandit(stochastic_portions=True)
    n = 200_000
    gen = torch.Generator().manual_seed(1)
    for hungry, action, p_good in [
        (0.9, 1.0, 0.80),
        (0.9, 0.0, 0.15),
        (0.1, 0.0, 0.85),
        (0.1, 1.0, 0.20),
    ]:
        reward = env.reward(torch.full((n,), hungry), torch.full((n,), action), gen)
        share_good = (reward == 1).double().mean().item()
        assert share_good == pytest.approx(p_good, abs=4 * (p_good * (1 - p_good) / n) ** 0.5)
        assert set(reward.unique().tolist()) == {-1.0, 1.0}


def test_the_same_generator_seed_gives_the_same_hunger_and_rewards():
    env = pg.HungerBandit(stochastic_portions=True)

    def draw(seed):
        gen = torch.Generator().manual_seed(seed)
        hunger = env.sample_hunger(1000, gen)
        return hunger, env.reward(hunger, (hunger > 0.3).float(), gen)

    first, again, other = draw(5), draw(5), draw(6)
    assert torch.equal(first[0], again[0]) and torch.equal(first[1], again[1])
    assert not torch.equal(first[0], other[0])


def test_hunger_is_uniform_on_0_1():
    hunger = pg.HungerBandit().sample_hunger(100_000, torch.Generator().manual_seed(0))
    assert hunger.shape == (100_000,) and hunger.dtype == torch.float32
    assert hunger.min() >= 0.0 and hunger.max() < 1.0
    assert hunger.mean().item() == pytest.approx(0.5, abs=0.005)
    assert (hunger < 0.1).float().mean().item() == pytest.approx(0.1, abs=0.005)


@pytest.mark.parametrize(
    "settings, words",
    [
        ({"threshold": 1.5}, "threshold must be in [0, 1], got 1.5"),
        ({"threshold": float("nan")}, "threshold must be a finite number"),
        ({"reward_good": -1.0, "reward_bad": 1.0}, "reward_good must be greater than reward_bad"),
        ({"reward_good": 1.0, "reward_bad": 1.0}, "reward_good must be greater than reward_bad"),
        ({"p_large_a": -0.1}, "p_large_a must be a probability in [0, 1]"),
        ({"p_large_b": 1.2}, "p_large_b must be a probability in [0, 1]"),
        ({"reward_good": "1"}, "reward_good must be a finite number"),
        ({"reward_good": 1e38}, "reward_good must be within ±1e+30, got 1e+38"),
    ],
)
def test_bad_environment_settings_are_refused_with_a_clear_error(settings, words):
    with pytest.raises(pg.UsageError) as caught:
        pg.HungerBandit(**settings)
    assert words in str(caught.value)


def test_rewards_of_mismatched_shapes_are_refused():
    env = pg.HungerBandit()
    with pytest.raises(pg.UsageError, match=r"both have shape \(N,\)"):
        env.reward(torch.zeros(3), torch.zeros(3, 1))


def test_stochastic_portions_without_a_generator_are_refused():
    with pytest.raises(pg.UsageError, match="need a torch.Generator"):
        pg.HungerBandit(stochastic_portions=True).reward(torch.zeros(2), torch.zeros(2))


@pytest.mark.parametrize(
    "hunger, action, words",
    [
        (torch.tensor([0.2, float("nan")]), torch.tensor([0.0, 1.0]), "hunger must be finite"),
        (
            torch.tensor([0.2, 0.7]),
            torch.tensor([0.0, 2.0]),
            "action must be 0 (Place A) or 1 (Place B)",
        ),
        (torch.tensor([0, 1]), torch.tensor([0.0, 1.0]), "hunger must be a floating-point tensor"),
        (torch.zeros(0), torch.zeros(0), "N >= 1"),
    ],
)
def test_bad_hunger_or_actions_are_refused(hunger, action, words):
    with pytest.raises(pg.UsageError, match=words.replace("(", r"\(").replace(")", r"\)")):
        pg.HungerBandit().reward(hunger, action)


def test_a_batch_size_that_is_not_a_positive_integer_is_refused():
    with pytest.raises(pg.UsageError, match="n must be an integer >= 1, got 0"):
        pg.HungerBandit().sample_hunger(0, torch.Generator())


@pytest.mark.parametrize(
    "good, bad", [(2.252173458620647e-06, -1.0), (0.1, -0.3), (1e30, -1e30), (7.0, 6.999999)]
)
def test_rewards_are_exactly_the_two_settings_rounded_to_the_dtype(good, bad):
    env = pg.HungerBandit(reward_good=good, reward_bad=bad)
    hunger = torch.tensor([0.2, 0.2, 0.8, 0.8])
    reward = env.reward(hunger, torch.tensor([0.0, 1.0, 1.0, 0.0]))
    g, b = torch.tensor(good).item(), torch.tensor(bad).item()  # float32
    assert reward.tolist() == [g, b, g, b]
