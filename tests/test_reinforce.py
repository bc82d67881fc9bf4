"""`pg.train_reinforce`: convergence without labels, reproducibility, TensorBoard, subclasses."""

from __future__ import annotations

import json

import pytest
import torch

import pg

from conftest import read_events, read_scalars

J_OPT = 0.861380  # exact optimum of the expected reward, weight 20 (example.md)
J_OPT_STOCHASTIC = 0.559897


@pytest.mark.parametrize("stochastic, optimum", [(False, J_OPT), (True, J_OPT_STOCHASTIC)])
def test_the_defaults_reach_bias_minus_10_and_within_1_percent_of_the_best_reward(
    stochastic, optimum
):
    policy = pg.HungerPolicy()
    result = pg.train_reinforce(
        policy, pg.HungerBandit(stochastic_portions=stochastic), logdir=None
    )
    assert abs(policy.bias.item() + 10) < 0.25
    assert result.optimal_reward == pytest.approx(optimum, abs=5e-7)
    assert abs(result.average_reward / optimum - 1) < 0.01
    assert abs(result.expected_reward / optimum - 1) < 0.001
    assert policy.weight.item() == 20.0


def test_the_same_seed_gives_an_identical_bias_trajectory_and_another_seed_does_not():
    def trajectory(seed):
        policy = pg.HungerPolicy()
        result = pg.train_reinforce(
            policy, steps=40, batch_size=256, log_every=1, seed=seed, logdir=None
        )
        return result.history["policy/bias"] + [policy.bias.item()]

    assert trajectory(3) == trajectory(3)
    assert trajectory(3) != trajectory(4)


def test_stochastic_portions_are_reproducible_too():
    env = pg.HungerBandit(stochastic_portions=True)
    runs = [
        pg.train_reinforce(pg.HungerPolicy(), env, steps=20, batch_size=64, seed=1, logdir=None)
        for _ in range(2)
    ]
    assert runs[0].history == runs[1].history


@pytest.mark.slow
def test_the_article_s_procedure_one_sample_and_lr_1_hovers_around_minus_10():
    # batch 1, lr 1: every update is a single guess, so the bias wanders (about -12.5 to -7.3)
    # but its average settles at the optimum, "hovering around -10" as the article says
    policy = pg.HungerPolicy()
    result = pg.train_reinforce(
        policy, batch_size=1, lr=1.0, steps=3000, log_every=10, seed=0, logdir=None
    )
    late = result.history["policy/bias"][150:]  # every 10th step of the second half
    assert abs(sum(late) / len(late) + 10) < 0.5
    assert max(late) < -6 and min(late) > -14


@pytest.mark.parametrize("settings", [{"baseline": "mean"}, {"optimizer": "adam", "lr": 0.3}])
def test_the_baseline_and_adam_options_also_converge(settings):
    policy = pg.HungerPolicy()
    result = pg.train_reinforce(policy, logdir=None, **settings)
    assert abs(policy.bias.item() + 10) < 0.25
    assert abs(result.expected_reward / J_OPT - 1) < 0.001


def test_training_the_weight_too_beats_the_best_the_bias_alone_can_do():
    policy = pg.HungerPolicy(train_weight=True)
    result = pg.train_reinforce(policy, steps=400, logdir=None)
    assert result.optimal_reward == 1.0
    assert result.expected_reward > J_OPT + 0.02
    assert policy.weight.item() > 20.0
    assert -policy.bias.item() / policy.weight.item() == pytest.approx(
        0.5, abs=0.02
    )  # boundary at 0.5


class OwnShift(pg.HungerPolicy):
    """Its logits ignore the built-in bias and use a parameter of its own."""

    def __init__(self):
        super().__init__()
        self.shift = torch.nn.Parameter(torch.tensor(0.0))

    def logits(self, obs):
        return self.weight * obs[:, 0] + self.shift


def test_a_subclass_whose_logits_ignore_the_bias_trains_unchanged(logdir):
    policy = OwnShift()
    result = pg.train_reinforce(policy, logdir=str(logdir))
    assert abs(policy.shift.item() + 10) < 0.25
    assert policy.bias.item() == 0.0 and policy.bias.grad is None  # untouched, no gradient
    assert (
        abs(result.expected_reward / J_OPT - 1) < 0.001
    )  # by quadrature: logits are not HungerPolicy's
    scalars = read_scalars(result.run_dir)
    assert "grad/shift" in scalars and "grad/bias" not in scalars
    assert scalars["reward/expected"][-1][1] == pytest.approx(result.history["reward/expected"][-1])


def test_tensorboard_events_hold_every_tag_at_every_logging_step(logdir):
    result = pg.train_reinforce(
        pg.HungerPolicy(),
        steps=23,
        batch_size=512,
        log_every=5,
        baseline="mean",
        logdir=str(logdir),
    )
    scalars = read_scalars(result.run_dir)
    tags = {
        "policy/bias",
        "grad/bias",
        "reward/average",
        "reward/expected",
        "reward/optimal",
        "loss/reinforce",
        "p_b/hunger_0",
        "p_b/hunger_0.1",
        "p_b/hunger_0.9",
        "p_b/hunger_1",
    }
    assert tags <= set(scalars)
    for tag in tags:
        assert [step for step, _ in scalars[tag]] == [0, 5, 10, 15, 20, 22], tag
    assert [s for s, _ in scalars["reward/baseline"]] == [
        5,
        10,
        15,
        20,
        22,
    ]  # none before the first batch
    assert scalars["reward/expected"][0][1] == pytest.approx(
        0.069306, abs=1e-6
    )  # exact J at bias 0
    assert [v for _, v in scalars["reward/optimal"]] == pytest.approx([J_OPT] * 6, abs=1e-6)
    assert scalars["grad/bias"][0][1] == pytest.approx(0.05, abs=0.05)  # -dJ/db = 0.04999, noisy
    acc = read_events(result.run_dir)
    assert acc.Tags()["histograms"] == []  # a 0-dim bias is a scalar, not a histogram
    assert acc.Tags()["images"] == ["figures/reward_vs_bias"]
    assert (result.run_dir / "reward_vs_bias.png").read_bytes()[:4] == b"\x89PNG"
    saved = json.loads((result.run_dir / "config.json").read_text())
    assert (saved["trainer"], saved["batch_size"], saved["baseline"]) == ("reinforce", 512, "mean")


@pytest.mark.parametrize(
    "settings, words",
    [
        ({"batch_size": 0}, "batch_size must be an integer >= 1"),
        ({"optimizer": "rprop"}, "optimizer must be one of sgd, adam"),
        ({"baseline": "critic"}, "baseline must be one of none, mean"),
        ({"lr": -1.0}, "lr must be a finite number > 0"),
        ({"steps": 0}, "steps must be an integer >= 1"),
    ],
)
def test_a_bad_setting_is_refused_before_any_training(settings, words):
    policy = pg.HungerPolicy()
    with pytest.raises(pg.UsageError, match=words):
        pg.train_reinforce(policy, **{"logdir": None, **settings})
    assert policy.bias.item() == 0.0
