"""Reward-to-go and return normalisation for episodic REINFORCE."""

from __future__ import annotations

import pytest
import torch

import pg


def test_reward_to_go_matches_a_hand_computed_example_with_episode_ends_inside_the_batch():
    # two environments over 5 steps, gamma 0.5:
    # env 0: one episode of 2 steps (r 1, 2), then a new one of 3 steps (r 4, 0, 8)
    # env 1: one episode of 5 steps (r 1, 1, 1, 1, 1), cut at the end of the window
    reward = torch.tensor([[1.0, 1.0], [2.0, 1.0], [4.0, 1.0], [0.0, 1.0], [8.0, 1.0]])
    done = torch.tensor([[0, 0], [1, 0], [0, 0], [0, 0], [1, 1]], dtype=torch.bool)
    expected = torch.tensor(
        [
            [1 + 0.5 * 2, 1 + 0.5 + 0.25 + 0.125 + 0.0625],
            [2.0, 1 + 0.5 + 0.25 + 0.125],
            [4 + 0.5 * 0 + 0.25 * 8, 1 + 0.5 + 0.25],
            [0 + 0.5 * 8, 1 + 0.5],
            [8.0, 1.0],
        ]
    )
    torch.testing.assert_close(pg.reward_to_go(reward, done, 0.5), expected)


def test_with_gamma_1_and_no_episode_end_it_is_the_reversed_cumulative_sum():
    reward = torch.rand(7, 3)
    out = pg.reward_to_go(reward, torch.zeros(7, 3, dtype=torch.bool), 1.0)
    torch.testing.assert_close(out, reward.flip(0).cumsum(0).flip(0))


def test_reward_to_go_refuses_mismatched_shapes_and_a_bad_gamma():
    with pytest.raises(pg.UsageError, match=r"both be \(T, N\)"):
        pg.reward_to_go(torch.zeros(5), torch.zeros(5, dtype=torch.bool), 0.9)
    with pytest.raises(pg.UsageError, match=r"gamma must be in \[0, 1\]"):
        pg.reward_to_go(torch.zeros(5, 2), torch.zeros(5, 2, dtype=torch.bool), 1.5)


@pytest.mark.parametrize("returns", [torch.full((6,), 3.0), torch.tensor([42.0]), torch.zeros(1)])
def test_normalisation_of_all_equal_returns_or_a_single_one_gives_finite_zeros(returns):
    out = pg.normalize_returns(returns)
    assert torch.isfinite(out).all()
    assert out.tolist() == [0.0] * len(returns)


def test_normalisation_standardises_with_the_population_std():
    out = pg.normalize_returns(torch.tensor([1.0, 2.0, 3.0, 4.0]))
    assert out.mean().item() == pytest.approx(0.0, abs=1e-7)
    assert out.std(correction=0).item() == pytest.approx(1.0, abs=1e-6)
