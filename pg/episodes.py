"""Episodes from Gymnasium: making the environments, and collecting a batch of whole episodes.

    batch = collect_episodes(envs, policy, generator)   # one whole episode from each of N envs

The N environments run in one vectorised Gymnasium env (`gymnasium.make_vec`; CartPole has a
numpy-vectorised implementation), and the policy is called once per time step on all N
observations. Each batch holds the first complete episode of every environment: an environment
that finishes early idles (its later steps are marked invalid) until the longest episode of the
batch ends. Taking "every episode that finished in a fixed window" instead would favour short
episodes. The loss built from a batch is `pg.episodic_loss`.

gymnasium is imported here only, lazily: the hunger trainers never need it.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import torch
from torch import Tensor

from pg.policy import Policy, sample_actions
from pg.run.config import UsageError, require

__all__ = [
    "Episodes",
    "collect_episodes",
    "env_rng_states",
    "env_spaces",
    "make_envs",
    "set_env_rng_states",
]


class Episodes(NamedTuple):
    """One batch: the first episode of each of N environments, padded to the longest (T steps)."""

    obs: Tensor  # (T, N, d)
    action: Tensor  # (T, N)
    reward: Tensor  # (T, N), 0 after an episode's end
    valid: Tensor  # (T, N) bool: the step belongs to the episode
    done: Tensor  # (T, N) bool: the episode's last step
    lengths: np.ndarray  # (N,) episode lengths
    returns: np.ndarray  # (N,) undiscounted episode returns


def env_spaces(env_id: str) -> tuple[int, int]:
    """(observation width, number of actions) of a Gymnasium environment, or a UsageError."""
    import gymnasium as gym

    try:
        env = gym.make(env_id)
    except gym.error.Error as e:
        raise UsageError(f"cannot make environment {env_id!r}: {e}") from None
    try:
        obs_space, act_space = env.observation_space, env.action_space
    finally:
        env.close()
    require(
        isinstance(act_space, gym.spaces.Discrete) and act_space.n >= 2,
        f"{env_id} must have a discrete action space with >= 2 actions, got {act_space}",
    )
    require(
        isinstance(obs_space, gym.spaces.Box) and len(obs_space.shape) == 1,
        f"{env_id} must have a flat vector observation space, got {obs_space}",
    )
    return int(obs_space.shape[0]), int(act_space.n)


def make_envs(env_id: str, num_envs: int) -> Any:
    """N copies of `env_id` in one vectorised env (numpy-vectorised where Gymnasium has one)."""
    import gymnasium as gym

    return gym.make_vec(env_id, num_envs=num_envs)


def collect_episodes(envs: Any, policy: Policy, generator: torch.Generator) -> Episodes:
    """Reset every environment and run until each has finished one episode (no gradients here)."""
    like = next(policy.parameters())
    obs, _ = envs.reset()
    n = envs.num_envs
    alive = np.ones(n, dtype=bool)
    lengths, returns = np.zeros(n, dtype=np.int64), np.zeros(n)
    steps: list[tuple[Tensor, Tensor, np.ndarray, np.ndarray]] = []
    while alive.any():
        o = torch.as_tensor(obs, dtype=like.dtype, device=like.device)  # (N, d)
        with torch.no_grad():
            action = sample_actions(policy.distribution(o), generator)  # (N,)
        obs, reward, terminated, truncated, _ = envs.step(action.long().cpu().numpy())
        reward = np.where(alive, reward, 0.0)
        steps.append((o, action, reward, alive.copy()))
        lengths += alive
        returns += reward
        alive &= ~(terminated | truncated)
    obs_t, action_t = torch.stack([s[0] for s in steps]), torch.stack([s[1] for s in steps])
    reward_t = torch.as_tensor(
        np.stack([s[2] for s in steps]), dtype=like.dtype, device=like.device
    )
    valid = torch.as_tensor(np.stack([s[3] for s in steps]), device=like.device)  # (T, N)
    done = valid & ~torch.cat([valid[1:], torch.zeros_like(valid[:1])])  # last valid step of each
    return Episodes(obs_t, action_t, reward_t, valid, done, lengths, returns)


def env_rng_states(envs: Any) -> list[dict]:
    """The random state of every sub-environment (or of the one vectorised env), as plain data."""
    return [e.np_random.bit_generator.state for e in getattr(envs, "envs", [envs])]


def set_env_rng_states(envs: Any, states: list[dict]) -> None:
    """Put back what `env_rng_states` returned, so the next resets draw what they would have."""
    targets = getattr(envs, "envs", [envs])
    require(
        len(states) == len(targets),
        f"the checkpoint has {len(states)} environments' states, this run {len(targets)}",
    )
    for target, state in zip(targets, states):
        rng = np.random.Generator(getattr(np.random, state["bit_generator"])())
        rng.bit_generator.state = state
        target.np_random = rng
