"""Episodic REINFORCE on Gymnasium: batches of whole episodes, logging, and learning CartPole."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

import pg
from pg.episodes import collect_episodes, describe_env, make_envs

from conftest import ROOT, read_events, read_scalars


def cartpole_policy(seed: int = 0) -> pg.MLPPolicy:
    torch.manual_seed(seed)
    return pg.MLPPolicy(obs_dim=4, hidden=(64, 64), num_actions=2)


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


def test_the_same_seed_gives_the_same_training_run():
    runs = [
        pg.train_episodic(cartpole_policy(), total_steps=3000, seed=5, logdir=None)
        for _ in range(2)
    ]
    assert runs[0].history == runs[1].history and runs[0].env_steps == runs[1].env_steps


def test_tensorboard_gets_one_point_per_finished_episode_against_environment_steps(logdir):
    result = pg.train_episodic(
        cartpole_policy(), total_steps=2000, episodes_per_update=8, logdir=str(logdir)
    )
    scalars = read_scalars(result.run_dir)
    returns = scalars["charts/episodic_return"]
    assert len(returns) == result.episodes == len(scalars["charts/episodic_length"])
    steps = [s for s, _ in returns]
    assert (
        steps == sorted(steps) and steps[-1] == result.env_steps
    )  # the last episode ends the last batch
    assert sum(v for _, v in scalars["charts/episodic_length"]) == result.env_steps
    for tag in ("loss/episodic", "grad/norm", "charts/mean_return_100"):
        assert [s for s, _ in scalars[tag]] == result.history["step"], tag
    assert scalars["charts/target_return"] == [(s, 475.0) for s in result.history["step"]]
    histograms = set(read_events(result.run_dir).Tags()["histograms"])
    assert {"params/net.0.weight", "grads/net.0.weight"} <= histograms


def test_weights_and_gradients_get_histograms_at_every_logging_point_of_an_episodic_run(logdir):
    result = pg.train_episodic(
        cartpole_policy(), total_steps=1500, episodes_per_update=2, log_every=3, logdir=str(logdir)
    )
    events = read_events(result.run_dir)
    logged = result.history["step"]  # every 3rd update, and the last
    assert len(logged) >= 5 and logged == [s for s, _ in read_scalars(result.run_dir)["grad/norm"]]
    for tag in ("params/net.0.weight", "grads/net.0.weight", "params/net.2.bias"):
        assert [h.step for h in events.Histograms(tag)] == logged, tag


def test_histograms_come_every_10th_logging_point_and_at_the_last_by_default(tmp_path):
    """The hunger trainers' steps take ~0.1 ms, a histogram ~0.2 ms: `Run`'s default cadence."""
    from pg.run import Run

    policy = pg.MLPPolicy(2, 2, (3,))
    optimizer = torch.optim.SGD(policy.parameters(), lr=0.1)
    config = pg.ReinforceConfig(steps=25, log_every=1, logdir=str(tmp_path), figure=False)
    with Run("test", config, policy, optimizer, total=25) as run:
        for _ in run.steps():
            loss = policy.distribution(torch.ones(1, 2)).log_prob(torch.ones(1)).sum()
            optimizer.zero_grad()
            loss.backward()
            if run.logging:
                run.log({"loss/test": loss})
            optimizer.step()
    steps = [h.step for h in read_events(run.run_dir).Histograms("params/net.0.weight")]
    assert steps == [0, 10, 20, 24]


def test_an_unknown_environment_or_a_mismatched_policy_is_refused_before_training(logdir):
    with pytest.raises(pg.UsageError, match="cannot make environment 'NoSuchEnv-v0'"):
        pg.train_episodic(cartpole_policy(), env_id="NoSuchEnv-v0", logdir=str(logdir))
    with pytest.raises(
        pg.UsageError, match=r"observation space Tuple\(.*is neither a Box nor Discrete"
    ):
        describe_env("Blackjack-v1")
    with pytest.raises(
        pg.UsageError,
        match=r"shape \(4,\) and 2 discrete actions; the policy takes \(1,\) and gives 2 discrete",
    ):
        pg.train_episodic(pg.HungerPolicy(), logdir=str(logdir))
    assert not logdir.exists()


@pytest.mark.slow
def test_without_gymnasium_the_hunger_scripts_run_and_the_episodic_one_names_the_extra(tmp_path):
    # one fresh interpreter in which any `import gymnasium` fails, running both scripts
    code = (
        "import sys, runpy; sys.modules['gymnasium'] = None\n"
        "import pg\n"
        "def run(script, *args):\n"
        "    sys.argv = [script + '.py', *args]\n"
        "    try:\n"
        f"        runpy.run_path({str(ROOT / 'scripts')!r} + '/' + script + '.py', "
        "run_name='__main__')\n"
        "    except SystemExit as e:\n"
        "        print('exit', e.code, flush=True)\n"
        f"run('train_reinforce', '--steps', '3', '--quiet', '--no-figure', '--logdir', "
        f"{str(tmp_path)!r})\n"
        "run('train_episodic', '--quiet')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert done.stdout.startswith("final bias"), done.stderr
    assert done.stdout.endswith("exit 0\nexit 2\n"), done.stdout
    expected = "episodic training needs gymnasium, an extra: pip install -e '.[gym]'"
    assert done.stderr == f"train_episodic.py: error: {expected}\n"


@pytest.mark.slow
def test_a_short_cartpole_run_learns_far_beyond_the_random_policy():
    result = pg.train_episodic(cartpole_policy(seed=2), seed=2, total_steps=20_000, logdir=None)
    assert not result.solved
    first, last = (
        result.history["charts/mean_return_100"][0],
        result.history["charts/mean_return_100"][-1],
    )
    assert first < 40  # an untrained policy: about 22 on average
    assert last > 60 and np.isfinite(result.history["loss/episodic"]).all()


@pytest.mark.parametrize(
    "settings",
    [
        {"gamma": 0.5, "normalize_returns": False, "loss_reduction": "episode"},
        {"gamma": 0.9, "normalize_returns": True, "loss_reduction": "step", "entropy_coef": 0.1},
    ],
)
def test_one_update_of_the_trainer_is_one_step_down_the_episodic_loss_with_its_settings(settings):
    trained = cartpole_policy(3)
    pg.train_episodic(
        trained, total_steps=1, episodes_per_update=4, seed=7, optimizer="sgd", lr=0.1, logdir=None,
        **settings,
    )  # fmt: skip

    def by_hand(**loss_settings) -> list[torch.Tensor]:
        policy = cartpole_policy(3)
        envs = make_envs("CartPole-v1", 4)
        envs.reset(seed=7)
        batch = collect_episodes(envs, policy, torch.Generator().manual_seed(7))
        pg.episodic_loss(policy, batch, **loss_settings).backward()
        return [(p - 0.1 * p.grad).detach() for p in policy.parameters()]

    for got, expected in zip(trained.parameters(), by_hand(**settings)):
        assert torch.allclose(got, expected, atol=1e-6)
    others = by_hand(gamma=0.99)  # the trainer's defaults: a different step, so the settings count
    assert not all(torch.allclose(p, q, atol=1e-6) for p, q in zip(trained.parameters(), others))


def test_each_episode_is_logged_at_the_environment_step_where_it_ended():
    # four environments stepping together from env step 10, episodes of 3, 1, 3 and 2 steps: the
    # 1-step one ends after 4 steps in all (14); the 2-step one after 1 + 2 + 2 + 2 more (17); the
    # 3-step ones when everything has ended (10 + 9 = 19). By hand, not by the formula.
    from types import SimpleNamespace

    from pg.episodic import _log_episodes

    logged = []
    run = SimpleNamespace(step=10, log_at=lambda step, values: logged.append((step, values)))
    _log_episodes(run, np.array([3, 1, 3, 2]), np.array([30.0, 10.0, 31.0, 20.0]))
    assert [(s, v["charts/episodic_return"], v["charts/episodic_length"]) for s, v in logged] == [
        (14, 10.0, 1),
        (17, 20.0, 2),
        (19, 30.0, 3),
        (19, 31.0, 3),
    ]
