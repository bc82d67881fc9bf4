"""REINFORCE on the hunger bandit: the loss, its estimator against exact math, and the trainer.

Exact derivatives come from the closed form in pg.exact; the estimates come from the real path:
HungerPolicy.distribution -> sample_actions -> HungerBandit.reward -> reinforce_loss -> backward.
"""

from __future__ import annotations

import json

import pytest
import torch

import pg
from pg.reinforce import single_sample_gradients
from pg.walkthrough import walkthrough

from conftest import read_events, read_scalars


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


BATCHES, BATCH = 400, 500  # 200,000 single-sample guesses per case, averaged 500 at a time


def batch_gradients(bias: float, env: pg.HungerBandit, baseline: str, seed: int) -> torch.Tensor:
    """(BATCHES,) gradients of reinforce_loss w.r.t. the bias, one per independent batch.

    reinforce_loss is a mean, so each is the mean of BATCH single-sample gradients, and their
    mean is the mean of all BATCHES x BATCH single-sample gradients.
    """
    policy = pg.HungerPolicy(bias=bias, dtype=torch.float64)
    gen = torch.Generator().manual_seed(seed)
    exact_j = env.expected_reward(policy)
    running = pg.MeanBaseline()
    grads = []
    for _ in range(BATCHES):
        hunger = env.sample_hunger(BATCH, gen, torch.float64)
        dist = policy.distribution(hunger)
        action = pg.sample_actions(dist, gen)
        reward = env.reward(hunger, action, gen)
        b = {
            "none": None,
            "exact J": exact_j,
            "running mean": running.value,
            "uses this batch's actions": reward * action,
        }[baseline]
        policy.zero_grad()
        pg.reinforce_loss(dist.log_prob(action), reward, b).backward()
        grads.append(policy.bias.grad.item())
        running.update(reward)
    return torch.tensor(grads, dtype=torch.float64)


@pytest.mark.parametrize("baseline", ["none", "exact J", "running mean"])
@pytest.mark.parametrize("stochastic", [False, True])
@pytest.mark.parametrize("bias", [0.0, -5.0, -12.0])
def test_the_mean_reinforce_gradient_matches_minus_the_exact_dj_db_within_4_standard_errors(
    bias, stochastic, baseline
):
    env = pg.HungerBandit(stochastic_portions=stochastic)
    grads = batch_gradients(bias, env, baseline, seed=11)
    exact = -env.expected_reward_grad_bias(pg.HungerPolicy(bias=bias, dtype=torch.float64)).item()
    sem = grads.std().item() / len(grads) ** 0.5
    assert abs(grads.mean().item() - exact) < 4 * sem
    assert sem < 0.1 * abs(exact)  # and the test is sharp enough to see a 40% bias


def test_a_baseline_that_depends_on_this_batch_s_actions_is_caught_as_biased():
    # the control that shows the test above can fail: subtracting reward * action zeroes the
    # advantage of every Place B choice, and the estimate no longer matches -dJ/db
    env = pg.HungerBandit()
    grads = batch_gradients(-5.0, env, "uses this batch's actions", seed=11)
    exact = -env.expected_reward_grad_bias(pg.HungerPolicy(bias=-5.0, dtype=torch.float64)).item()
    assert abs(grads.mean().item() - exact) > 10 * grads.std().item() / len(grads) ** 0.5


@pytest.mark.parametrize("baseline", [0.0, 0.7])
def test_each_single_sample_guess_is_minus_the_gradient_of_reinforce_loss_on_that_round_alone(
    baseline,
):
    env = pg.HungerBandit(stochastic_portions=True)
    policy = pg.HungerPolicy(bias=-3.0, dtype=torch.float64)
    guesses = single_sample_gradients(
        policy, env, 12, torch.Generator().manual_seed(8), baseline=baseline
    )
    gen = torch.Generator().manual_seed(8)  # replay the same draws, one round at a time
    hunger = env.sample_hunger(12, gen, torch.float64)
    action = pg.sample_actions(policy.distribution(hunger), gen)
    reward = env.reward(hunger, action, gen)
    for i in range(12):
        policy.zero_grad()
        dist = policy.distribution(hunger[i : i + 1])
        pg.reinforce_loss(dist.log_prob(action[i : i + 1]), reward[i : i + 1], baseline).backward()
        assert guesses[i].item() == pytest.approx(-policy.bias.grad.item(), rel=1e-12, abs=1e-15)


@pytest.mark.parametrize("bias", [0.0, -5.0, -10.0, -12.0])
def test_single_sample_guesses_average_to_the_exact_derivative(bias):
    env = pg.HungerBandit()
    policy = pg.HungerPolicy(bias=bias, dtype=torch.float64)
    guesses = single_sample_gradients(policy, env, 200_000, torch.Generator().manual_seed(2))
    exact = env.expected_reward_grad_bias(policy).item()
    assert abs(guesses.mean().item() - exact) < 4 * guesses.std().item() / len(guesses) ** 0.5
    assert guesses.std().item() > 2 * abs(exact)  # one guess alone is mostly noise


def variance_ratio(bias: float, env: pg.HungerBandit) -> float:
    """Var(single-sample guess with baseline = exact J) / Var(without), 200,000 guesses each."""
    policy = pg.HungerPolicy(bias=bias, dtype=torch.float64)
    j = env.expected_reward(policy).item()
    plain = single_sample_gradients(policy, env, 200_000, torch.Generator().manual_seed(4))
    based = single_sample_gradients(
        policy, env, 200_000, torch.Generator().manual_seed(4), baseline=j
    )
    return (based.var() / plain.var()).item()


def test_a_mean_reward_baseline_cuts_the_variance_when_rewards_sit_far_from_zero():
    # +1 / 0 rewards: without a baseline every sampled action is pushed up; at bias 0 (J = 0.53)
    # subtracting J cuts the variance to about 0.29 of it (exact: 0.288); near the optimum it
    # raises it, as with +1 / -1 rewards (exact: 2.603)
    env = pg.HungerBandit(reward_good=1.0, reward_bad=0.0)
    assert variance_ratio(0.0, env) == pytest.approx(0.288, abs=0.03)
    assert variance_ratio(-10.0, env) == pytest.approx(2.603, abs=0.1)


def test_with_plus_minus_1_rewards_the_baseline_helps_little_at_the_start_and_hurts_near_the_optimum():  # noqa: E501
    env = pg.HungerBandit()
    assert variance_ratio(0.0, env) == pytest.approx(
        0.928, abs=0.03
    )  # J = 0.07: little to subtract
    assert variance_ratio(-10.0, env) == pytest.approx(
        2.603, abs=0.1
    )  # J = 0.86: the wrong constant


@pytest.mark.parametrize("bias", [0.0, -5.0, -12.0])
def test_one_small_descent_step_on_the_loss_raises_the_exact_expected_reward(bias):
    env = pg.HungerBandit()
    policy = pg.HungerPolicy(bias=bias, dtype=torch.float64)
    before = env.expected_reward(policy).item()
    gen = torch.Generator().manual_seed(0)
    hunger = env.sample_hunger(200_000, gen, torch.float64)
    dist = policy.distribution(hunger)
    action = pg.sample_actions(dist, gen)
    pg.reinforce_loss(dist.log_prob(action), env.reward(hunger, action)).backward()
    with torch.no_grad():
        policy.bias -= 0.5 * policy.bias.grad  # descend the loss
    assert env.expected_reward(policy).item() > before


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
    for tag in tags - {"policy/bias"}:
        assert [step for step, _ in scalars[tag]] == [1, 5, 10, 15, 20, 23], tag
    assert scalars["policy/bias"][0] == (0, 0.0)  # where it started
    assert [s for s, _ in scalars["reward/baseline"]] == [5, 10, 15, 20, 23]  # from batch 1 on
    # each point's exact J is that of the bias logged with it: the policy the update left
    env = pg.HungerBandit()
    for (step, bias), (_, j) in zip(scalars["policy/bias"][1:], scalars["reward/expected"]):
        at_bias = env.expected_reward(pg.HungerPolicy(bias=bias, dtype=torch.float64)).item()
        assert j == pytest.approx(at_bias, abs=1e-6), step
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
