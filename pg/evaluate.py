"""Acting with a trained policy: rebuild it from a run, then run episodes with it.

    policy  = pg.load_policy("logs/episodic/RUN")            # in eval mode, on the CPU
    returns = pg.evaluate(policy, "CartPole-v1", episodes=20)  # one return per episode

A run's checkpoint holds the policy's weights and, for the shipped policies (`HungerPolicy`,
`MLPPolicy`, `GaussianMLPPolicy`), how to build it; a policy class of your own is built by you
and passed in, and the weights are loaded into it.

Sampled or deterministic? REINFORCE trains a *stochastic* policy: the return it maximises is the
one it earns while sampling its actions, so `deterministic=False` (the default) measures what
was trained. Taking the most likely action instead (`deterministic=True`) is often as good on
CartPole, but can be much worse where the policy relies on its randomness (docs/estimators.md
has a measured example).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pg.episodes import check_fits, collect_episodes, describe_env, make_envs
from pg.policy import GaussianMLPPolicy, HungerPolicy, MLPPolicy, Policy, evaluating
from pg.run import checkpoint
from pg.run.settings import check_int, require

__all__ = ["evaluate", "load_policy"]

SHIPPED: dict[str, type[Policy]] = {
    "HungerPolicy": HungerPolicy,
    "MLPPolicy": MLPPolicy,
    "GaussianMLPPolicy": GaussianMLPPolicy,
}


MAX_STEPS = 1_000_000  # environment steps an evaluation may take in all (no endless episodes)
MAX_EPISODES = 4096  # evaluated side by side, one environment each (as episodes_per_update)


def load_policy(
    run_or_checkpoint: str | Path, policy: Policy | None = None, *, device: str = "cpu"
) -> Policy:
    """The trained policy of a run folder or checkpoint file, in eval mode.

    Without `policy`, a shipped policy is rebuilt from what the checkpoint says; with it, the
    saved weights are loaded into that instance (which must have the same parameters).
    """
    cuda = torch.device(device).type == "cuda"
    require(not cuda or torch.cuda.is_available(), f"device {device} asked for, but no CUDA here")
    saved = checkpoint.load(run_or_checkpoint)
    spec = saved.state.get("policy_spec")
    if policy is None:
        require(
            isinstance(spec, dict) and spec.get("class") in SHIPPED,
            f"{saved.path}: the run trained a policy class of your own; build one and pass it: "
            "pg.load_policy(run, policy=MyPolicy(...))",
        )
        with checkpoint.fitting(saved.path):  # a policy description edited by hand, say
            policy = SHIPPED[spec["class"]](**{k: v for k, v in spec.items() if k != "class"})
    checkpoint.restore_policy(policy, saved)
    return policy.to(device).eval()


def evaluate(
    policy: Policy,
    env: str | Callable[[], Any],
    *,
    episodes: int = 20,
    seed: int = 0,
    deterministic: bool = False,
    make_kwargs: dict[str, Any] | None = None,
) -> np.ndarray:
    """Run `episodes` episodes with `policy` (in eval mode) and return their returns, (episodes,).

    Sampled actions by default; `deterministic=True` takes the most likely action (a Gaussian's
    mean). `seed` seeds the environments and the sampling, so an evaluation can be repeated.
    """
    check_int("episodes", episodes, 1, MAX_EPISODES)
    check_int("seed", seed, 0)
    require(
        isinstance(policy, Policy) and any(True for _ in policy.parameters()),
        f"policy must be a pg.Policy with parameters, got {type(policy).__name__}",
    )
    check_fits(policy, describe_env(env, **(make_kwargs or {})))  # before any episode runs
    with evaluating(policy), closing(make_envs(env, episodes, **(make_kwargs or {}))) as envs:
        envs.reset(seed=seed)
        generator = torch.Generator(device=next(policy.parameters()).device).manual_seed(seed)
        batch = collect_episodes(
            envs, policy, generator, deterministic=deterministic, max_steps=MAX_STEPS
        )
    return batch.returns
