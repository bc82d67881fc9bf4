"""Environments as users have them, and batches of whole episodes: continuous actions, any
observation shape, a user's own environments and policies, stopping that fits the task."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium import spaces

import pg
from pg.episodes import EpisodesTooLong, collect_episodes, describe_env, greedy_actions, make_envs
from pg.run.stopping import RunFault

from conftest import ROOT, cartpole_policy, run_main
from mdps import Reach


def test_a_batch_holds_one_whole_episode_per_environment():
    envs = make_envs("CartPole-v1", 6)
    envs.reset(seed=0)
    batch = collect_episodes(envs, cartpole_policy(), torch.Generator().manual_seed(0))
    envs.close()
    t = int(batch.lengths.max())
    assert batch.obs.shape == (
        t,
        6,
        4,
    ) and batch.action.shape == batch.reward.shape == batch.valid.shape == (t, 6)
    assert batch.valid.sum(0).tolist() == batch.lengths.tolist()
    for i, n in enumerate(batch.lengths):
        assert batch.valid[:n, i].all() and not batch.valid[n:, i].any()  # one contiguous episode
        assert batch.done[:, i].nonzero().flatten().tolist() == [n - 1]  # ending at its last step
    assert (
        batch.reward.sum(0).tolist() == batch.returns.tolist() == batch.lengths.tolist()
    )  # +1 per step
    assert batch.lengths.min() >= 8 and batch.lengths.max() < 200  # an untrained policy falls soon


def test_each_batch_starts_from_new_initial_states_and_a_seed_repeats_them():
    def first_observations(seed: int) -> list[torch.Tensor]:
        envs = make_envs("CartPole-v1", 4)
        envs.reset(seed=seed)  # once, as the trainer does; each batch resets without a seed
        generator = torch.Generator().manual_seed(0)
        starts = [collect_episodes(envs, cartpole_policy(), generator).obs[0] for _ in range(3)]
        envs.close()
        return starts

    starts = first_observations(seed=0)
    assert not torch.equal(starts[0], starts[1]) and not torch.equal(starts[1], starts[2])
    assert all(torch.equal(a, b) for a, b in zip(starts, first_observations(seed=0)))
    assert not torch.equal(starts[0], first_observations(seed=1)[0])


def test_a_gaussian_policy_samples_from_its_generator_and_keeps_the_log_prob_of_the_sample():
    policy = pg.GaussianMLPPolicy(obs_dim=3, act_dim=2, hidden=(8,))
    obs = torch.randn(5, 3)
    dist = policy.distribution(obs)
    first = pg.sample_actions(dist, torch.Generator().manual_seed(4))
    again = pg.sample_actions(dist, torch.Generator().manual_seed(4))
    assert first.shape == (5, 2) and torch.equal(first, again)
    mean, std = policy.mean(obs), policy.log_std.exp()
    by_hand = torch.distributions.Normal(mean, std).log_prob(first).sum(-1)  # (5,) one per action
    assert torch.allclose(dist.log_prob(first), by_hand)


def test_continuous_actions_reach_the_environment_clipped_to_its_bounds():
    policy = pg.GaussianMLPPolicy(obs_dim=1, act_dim=1, hidden=(4,))
    with torch.no_grad():
        policy.mean[-1].bias.fill_(50.0)  # far above the action space's bound of 2
    envs = make_envs(Reach, 8)
    envs.reset(seed=0)
    batch = collect_episodes(envs, policy, torch.Generator().manual_seed(0))
    x = batch.obs[0, :, 0].double().numpy()
    assert np.allclose(batch.returns, -((2.0 - x) ** 2), atol=1e-5)  # the env saw a = 2
    assert (batch.action > 40).all()  # while the batch keeps the sample drawn, for its log-prob


@pytest.mark.slow
def test_a_gaussian_policy_learns_a_continuous_task_to_within_a_hundredth_of_the_best_return():
    torch.manual_seed(0)
    policy = pg.GaussianMLPPolicy(obs_dim=1, act_dim=1, hidden=(32,))
    result = pg.train_episodic(
        policy,
        Reach,
        total_steps=20_000,
        episodes_per_update=64,
        gamma=1.0,
        # the returns shrink with the policy's spread (sigma^2); unstandardised, Adam's memory of
        # earlier, larger gradients slows the last steps (-0.03 after these 20,000 steps)
        normalize_returns=True,
        target_return=None,
        logdir=None,
    )
    assert result.target is None and result.env_steps >= 20_000
    returns = pg.evaluate(policy, Reach, episodes=200, seed=1)  # the best return is 0
    assert returns.mean() > -0.01  # answering 0 whatever the target would earn -1/3


class Grid(gym.Env):
    """Observations that are not flat: a 2 x 3 image whose first pixel says which action pays."""

    observation_space = spaces.Box(0.0, 1.0, (2, 3), np.float32)
    action_space = spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self._good = int(self.np_random.integers(2))
        image = np.zeros((2, 3), np.float32)
        image[0, 0] = self._good
        return image, {}

    def step(self, action):
        return np.zeros((2, 3), np.float32), float(action == self._good), True, False, {}


class ImagePolicy(pg.Policy):
    obs_shape = (2, 3)

    def __init__(self):
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(6, 1))

    def logits(self, obs):  # (N, 2, 3) -> (N,)
        return self.net(obs).squeeze(-1)


def test_a_policy_for_image_observations_sets_obs_shape_and_trains_on_them(logdir):
    torch.manual_seed(0)
    policy = ImagePolicy()
    with pytest.raises(ValueError, match=r"obs must have shape \(N, 2, 3\), got \(4, 6\)"):
        policy.distribution(torch.zeros(4, 6))
    result = pg.train_episodic(
        policy,
        Grid,
        total_steps=3000,
        episodes_per_update=32,
        lr=0.1,
        target_return=None,
        logdir=str(logdir),
    )
    assert result.env_steps >= 3000
    assert pg.evaluate(policy, Grid, episodes=100).mean() > 0.9  # it reads the pixel
    # a class of one's own is built by its owner; the run's weights then load into it
    with pytest.raises(pg.UsageError, match="a policy class of your own; build one and pass it"):
        pg.load_policy(result.run_dir)
    again = pg.load_policy(result.run_dir, policy=ImagePolicy())
    assert not again.training
    assert all(torch.equal(p, q) for p, q in zip(policy.parameters(), again.parameters()))


def test_a_distribution_with_the_wrong_batch_shape_is_refused_naming_the_hook():
    class Wrong(pg.Policy):
        obs_dim = 2

        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(2))

        def make_distribution(self, obs):
            return torch.distributions.Normal(self.w, 1.0)  # batch shape (2,), not (N,)

    with pytest.raises(ValueError, match=r"Wrong\.make_distribution\(obs\) must return .*\(5,\)"):
        Wrong().distribution(torch.zeros(5, 2))


def test_discrete_observations_reach_the_policy_one_hot():
    info = describe_env("FrozenLake-v1")
    assert (info.obs_shape, info.num_actions, info.reward_threshold) == ((16,), 4, 0.7)
    envs = make_envs("FrozenLake-v1", 4)
    envs.reset(seed=0)
    batch = collect_episodes(envs, pg.MLPPolicy(16, 4, ()), torch.Generator().manual_seed(0))
    first = batch.obs[0]  # (4, 16): every episode starts in state 0
    assert torch.equal(
        first, torch.nn.functional.one_hot(torch.zeros(4, dtype=torch.long), 16).float()
    )


def test_an_id_takes_make_kwargs_and_a_callable_may_wrap_its_env():
    info = describe_env("FrozenLake-v1", map_name="8x8", is_slippery=False)
    assert info.obs_shape == (64,)
    result = pg.train_episodic(
        pg.MLPPolicy(64, 4, ()),
        "FrozenLake-v1",
        make_kwargs={"map_name": "8x8"},
        total_steps=500,
        target_return=None,
        logdir=None,
    )
    assert result.env_steps >= 500

    def short_cartpole():
        return gym.wrappers.TimeLimit(gym.make("CartPole-v1"), max_episode_steps=5)

    envs = make_envs(short_cartpole, 3)
    envs.reset(seed=0)
    batch = collect_episodes(envs, pg.MLPPolicy(4, 2, (8,)), torch.Generator().manual_seed(0))
    assert batch.lengths.max() <= 5


def write_corridor_module(folder: Path) -> None:
    """`my_corridor_envs.py` in `folder`: registers Corridor-v0, a CartPole cut at 20 steps."""
    (folder / "my_corridor_envs.py").write_text(
        "import gymnasium as gym\n"
        "gym.register('Corridor-v0', entry_point='gymnasium.envs.classic_control:CartPoleEnv',\n"
        "             max_episode_steps=20, reward_threshold=15.0)\n"
    )


def test_a_users_own_environment_trains_through_the_script_by_module_and_id(
    tmp_path, monkeypatch, capsys
):
    write_corridor_module(tmp_path)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))  # as PYTHONPATH would: the module is importable
    code, out, err = run_main(
        "train_episodic",
        "--env-id",
        "my_corridor_envs:Corridor-v0",
        "--total-steps",
        "2000",
        "--quiet",
        "--logdir",
        "runs",
        monkeypatch=monkeypatch,
        capsys=capsys,
    )
    assert code == 0, err
    assert "my_corridor_envs:Corridor-v0" in out and "target 15, the environment's reward" in out


@pytest.mark.slow
@pytest.mark.parametrize("how", ["scripts/train_episodic.py", "pg-train-episodic"])
def test_a_module_in_the_current_folder_is_found_by_the_script_and_the_installed_command(
    tmp_path, how
):
    write_corridor_module(tmp_path)  # and nothing on PYTHONPATH: the folder alone makes it found
    if how.startswith("scripts/"):
        command = [sys.executable, str(ROOT / how)]  # the checkout's script, from another folder
    else:
        command = [str(Path(sys.executable).parent / how)]
    flags = ["--env-id", "my_corridor_envs:Corridor-v0", "--total-steps", "500", "--quiet"]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run(
        [*command, *flags, "--logdir", "runs"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "my_corridor_envs:Corridor-v0" in done.stdout


def test_target_none_trains_the_whole_budget_and_says_so():
    policy = pg.MLPPolicy(4, 2, (16,))
    result = pg.train_episodic(policy, total_steps=3000, target_return=None, logdir=None)
    assert not result.solved and result.target is None and result.env_steps >= 3000
    assert result.target_rule == "no target, --target-return none: trained the whole budget"
    assert pg.train_episodic(policy, total_steps=10, target_return=400, logdir=None).target == 400


@pytest.mark.slow
def test_acrobot_with_defaults_stops_as_solved_at_its_own_threshold(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code, out, err = run_main(
        "train_episodic",
        "--env-id",
        "Acrobot-v1",
        "--quiet",
        "--logdir",
        "runs",
        monkeypatch=monkeypatch,
        capsys=capsys,
    )
    assert code == 0, err
    verdict = out.splitlines()[0]
    assert verdict.startswith("Acrobot-v1 solved: mean return")
    assert "(target -100, the environment's reward threshold)" in verdict
    assert float(verdict.split()[4]) >= -100


@pytest.mark.slow
def test_mountain_car_ends_unsolved_and_the_summary_says_the_entropy_collapsed(
    tmp_path, monkeypatch, capsys
):
    # the biased estimator without a baseline: standardised returns of episodes that all end
    # alike push the policy to one action until it stops exploring
    biased = ["--loss-reduction", "step", "--normalize-returns", "--baseline", "none"]
    flags = ["--env-id", "MountainCar-v0", "--total-steps", "60000", *biased, "--quiet"]
    monkeypatch.chdir(tmp_path)
    code, out, err = run_main("train_episodic", *flags, monkeypatch=monkeypatch, capsys=capsys)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("MountainCar-v0 not solved")
    assert (
        lines[2].startswith("the policy's entropy fell to ") and "short of the target" in lines[2]
    )


def test_the_trainers_compute_exact_values_in_eval_mode():
    class Dropping(pg.MLPPolicy):
        def __init__(self):
            super().__init__(obs_dim=1, num_actions=2, hidden=(32,))
            self.net.insert(1, torch.nn.Dropout(0.5))

    torch.manual_seed(0)
    policy = Dropping()
    env = pg.HungerBandit()
    result = pg.train_reinforce(policy, env, steps=20, optimizer="adam", lr=0.05, logdir=None)
    assert policy.training  # left as it was given
    policy.eval()
    exact = env.expected_reward(policy).item()
    assert result.expected_reward == exact == env.expected_reward(policy).item()


class Pick(gym.Env):
    """One step: action 1 earns `pays` (1.0), action 0 nothing. After `fades_after` resets of an
    env, action 1 earns half: a run can end below the best it once reached."""

    observation_space = spaces.Box(0.0, 1.0, (1,), np.float32)
    action_space = spaces.Discrete(2)

    def __init__(self, fades_after: int | None = None):
        self.fades_after, self.resets = fades_after, 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.resets += 1
        return np.zeros(1, np.float32), {}

    def step(self, action):
        faded = self.fades_after is not None and self.resets > self.fades_after
        return np.zeros(1, np.float32), float(action) * (0.5 if faded else 1.0), True, False, {}


@pytest.mark.parametrize(
    "target, fades_after, warned",
    [
        (None, None, False),  # at the best return there is: nothing to warn about
        (2.0, None, True),  # short of a target it cannot reach
        (None, 20, True),  # below the best it reached (1.0), once the reward faded to 0.5
    ],
)
def test_the_entropy_warning_comes_only_when_the_return_falls_short(target, fades_after, warned):
    policy = pg.MLPPolicy(1, 2, hidden=())
    with torch.no_grad():
        policy.net[0].weight.zero_()
        policy.net[0].bias.fill_(10.0)  # p(1) = 0.99995: it has stopped exploring already
    result = pg.train_episodic(
        policy,
        lambda: Pick(fades_after),
        total_steps=800,
        lr=1e-4,  # and it stays so
        target_return=target,
        logdir=None,
    )
    assert result.entropy < 0.01 * math.log(2)
    assert result.best_mean_return == pytest.approx(1.0)
    assert result.mean_return == pytest.approx(0.5 if fades_after else 1.0)
    assert result.entropy_collapsed == warned


def test_greedy_actions_are_the_most_likely_ones_of_each_kind_of_distribution():
    bernoulli = torch.distributions.Bernoulli(logits=torch.tensor([-2.0, 3.0, 0.5, -0.1]))
    assert greedy_actions(bernoulli).tolist() == [0.0, 1.0, 1.0, 0.0]  # p(1) > 1/2
    logits = torch.tensor([[0.1, 2.0, -1.0], [3.0, 0.0, 1.0], [-1.0, -2.0, 0.5]])
    assert greedy_actions(torch.distributions.Categorical(logits=logits)).tolist() == [1, 0, 2]
    mean = torch.tensor([[0.3, -1.2], [2.0, 0.0]])
    normal = torch.distributions.Independent(torch.distributions.Normal(mean, 0.5), 1)
    assert torch.equal(greedy_actions(normal), mean)


class ModeDependent(pg.Policy):
    """Action 1 in eval mode, action 0 in train mode: which mode evaluating used shows."""

    obs_dim = 1

    def __init__(self, p_one: float | None = None):
        super().__init__()
        self.bias = torch.nn.Parameter(torch.tensor(0.0))
        self.logit = None if p_one is None else math.log(p_one / (1 - p_one))

    def logits(self, obs):
        if self.logit is not None:
            return torch.full((len(obs),), self.logit) + 0 * self.bias
        return torch.full((len(obs),), -5.0 if self.training else 5.0) + 0 * self.bias


def test_evaluate_takes_the_most_likely_action_only_when_asked():
    policy = ModeDependent(p_one=0.7)  # Pick pays 1 for action 1: greedy always, sampled 70%
    greedy = pg.evaluate(policy, Pick, episodes=200, deterministic=True)
    sampled = pg.evaluate(policy, Pick, episodes=200)
    assert greedy.tolist() == [1.0] * 200
    assert 0.6 < sampled.mean() < 0.8
    unlikely = pg.evaluate(ModeDependent(p_one=0.3), Pick, episodes=200, deterministic=True)
    assert unlikely.tolist() == [0.0] * 200  # the most likely action is 0 then


def test_evaluate_runs_the_policy_in_eval_mode_and_leaves_its_mode_as_it_was():
    policy = ModeDependent()  # action 1 (pays) only in eval mode
    assert policy.training
    assert pg.evaluate(policy, Pick, episodes=50, deterministic=True).tolist() == [1.0] * 50
    assert policy.training


class Endless(gym.Env):
    """An environment whose episodes never end and that has no time limit."""

    observation_space = spaces.Box(0.0, 1.0, (1,), np.float32)
    action_space = spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(1, np.float32), {}

    def step(self, action):
        return np.zeros(1, np.float32), 1.0, False, False, {}


def test_an_update_whose_episodes_never_end_stops_at_the_run_s_budget_in_one_error(monkeypatch):
    monkeypatch.setattr("pg.episodic.UPDATE_STEPS", 100_000)  # 1,000,000: the same, 10 x slower
    policy = pg.MLPPolicy(1, 2, hidden=(4,))
    with pytest.raises(EpisodesTooLong) as caught:
        pg.train_episodic(policy, Endless, total_steps=1500, episodes_per_update=64, logdir=None)
    message = str(caught.value)
    # the budget, or UPDATE_STEPS when that is more: 64 x 1,563 steps is the first past it
    assert message.startswith("64 of 64 episodes still running after 100,032 environment steps")
    assert "(100,000)" in message and "max_episode_steps" in message


def test_evaluating_on_episodes_that_never_end_stops_at_its_bound(monkeypatch):
    monkeypatch.setattr(
        sys.modules["pg.evaluate"], "MAX_STEPS", 2000
    )  # the module, not pg.evaluate()
    with pytest.raises(EpisodesTooLong, match="20 of 20 episodes still running after 2,000"):
        pg.evaluate(pg.MLPPolicy(1, 2, hidden=(4,)), Endless, episodes=20)


@pytest.mark.parametrize(
    "policy, env, words",
    [
        (lambda: pg.MLPPolicy(6, 2), "CartPole-v1", r"has observations of shape \(4,\)"),
        (lambda: pg.MLPPolicy(4, 2), "Acrobot-v1", "has observations of shape"),
        (lambda: pg.MLPPolicy(1, 2), "Pendulum-v1", "1-dimensional continuous actions"),
        (lambda: pg.Policy(), "CartPole-v1", "policy must be a pg.Policy with parameters"),
        (lambda: torch.nn.Linear(4, 1), "CartPole-v1", "got Linear"),
    ],
)
def test_evaluate_refuses_a_policy_that_does_not_fit_the_environment_before_running(
    policy, env, words
):
    with pytest.raises(pg.UsageError, match=words):
        pg.evaluate(policy(), env, episodes=2)


class Shifted(gym.Env):
    """Discrete spaces that start at 10: observation 10 or 11, actions 10 and 11; action 11 pays
    when the observation is 11."""

    observation_space = spaces.Discrete(2, start=10)
    action_space = spaces.Discrete(2, start=10)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self._obs = int(self.np_random.integers(10, 12))
        return self._obs, {}

    def step(self, action):
        assert action in (10, 11), action  # the env sees its own action values
        return self._obs, float(action == self._obs), True, False, {}


def test_discrete_spaces_that_do_not_start_at_zero_map_to_the_policy_s_actions_and_inputs():
    policy = pg.MLPPolicy(obs_dim=2, num_actions=2, hidden=())
    with torch.no_grad():  # action 1 (the env's 11) when the one-hot says 11, else action 0
        policy.net[0].weight.copy_(torch.tensor([[-5.0, 5.0]]))
        policy.net[0].bias.zero_()
    returns = pg.evaluate(policy, Shifted, episodes=50, deterministic=True)
    assert returns.tolist() == [1.0] * 50


class NanAfterTwo(gym.Env):
    observation_space = spaces.Box(-1.0, 1.0, (1,), np.float32)
    action_space = spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self._t = 0
        return np.zeros(1, np.float32), {}

    def step(self, action):
        self._t += 1
        obs = np.full(1, np.nan if self._t >= 2 else 0.0, np.float32)
        return obs, 0.0, self._t >= 5, False, {}


def test_an_observation_that_is_not_finite_stops_collecting_with_one_clear_fault():
    with pytest.raises(RunFault, match="not finite .* after 2 steps"):
        pg.evaluate(pg.MLPPolicy(1, 2, hidden=(4,)), NanAfterTwo, episodes=3)


@pytest.mark.parametrize(
    "source, words",
    [
        ("def broken(:\n", "its code raised SyntaxError"),
        ("import sys\nsys.exit(3)\n", "its code raised SystemExit: 3"),
        ("raise RuntimeError('no licence')\n", "its code raised RuntimeError: no licence"),
    ],
)
def test_a_user_s_env_module_that_fails_to_import_is_one_line_naming_it(
    tmp_path, monkeypatch, source, words
):
    (tmp_path / "bad_envs.py").write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(pg.UsageError) as caught:
        describe_env("bad_envs:Broken-v0")
    message = str(caught.value)
    assert message.startswith("cannot make environment 'bad_envs:Broken-v0'") and words in message
    assert "\n" not in message


class FailsInStep(NanAfterTwo):
    def step(self, action):
        raise KeyError("wheel")


class OldApi(NanAfterTwo):
    def step(self, action):  # gym's old 4-tuple
        return np.zeros(1, np.float32), 0.0, True, {}


@pytest.mark.parametrize("env, words", [(FailsInStep, "KeyError: 'wheel'"), (OldApi, "Error")])
def test_an_environment_whose_step_fails_stops_with_one_fault_naming_the_error(env, words):
    with pytest.raises(RunFault) as caught:
        pg.evaluate(pg.MLPPolicy(1, 2, hidden=(4,)), env, episodes=2)
    message = str(caught.value)
    assert message.startswith("the environment's step failed after 0 steps: ") and words in message
