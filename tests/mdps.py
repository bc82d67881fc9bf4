"""Small episodic tasks with known dynamics, for holding the episodic estimator to exact math.

Each is a `pg.exact.FiniteMDP`; `TableEnvs` runs N copies of one side by side with numpy, with
the vectorised-env interface `pg.collect_episodes` uses (reset, step, num_envs and the single
spaces), so the real collection and loss code run on them at thousands of episodes a second.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces

from pg.exact import FiniteMDP


def short_corridor() -> FiniteMDP:
    """Sutton & Barto's Example 13.1: three states that look the same, the middle one with its
    actions switched, -1 a step until the goal. The best p(right) is 2 - sqrt(2) = 0.5858."""
    left, right = 0, 1
    p = torch.zeros(4, 2, 4, dtype=torch.float64)
    p[0, left, 0] = p[0, right, 1] = 1  # a wall on the left
    p[1, left, 2] = p[1, right, 0] = 1  # switched
    p[2, left, 1] = p[2, right, 3] = 1
    p[3, :, 3] = 1  # the goal, terminal
    rewards = -torch.ones(4, 2)
    observations = torch.zeros(4, 1)  # aliased: every state looks alike (the policy sees 0.0)
    return FiniteMDP.from_tables(
        p, rewards, [1, 0, 0, 0], [False, False, False, True], observations
    )


def slippery_chain(n: int = 4) -> FiniteMDP:
    """A chain of n states: right moves on with probability 0.8 (else stays), left moves back;
    -0.1 a step, +1 on reaching the end. One-hot observations: the policy sees the state."""
    p = torch.zeros(n, 2, n, dtype=torch.float64)
    r = torch.full((n, 2, n), -0.1, dtype=torch.float64)
    for s in range(n - 1):
        p[s, 0, max(s - 1, 0)] = 1
        p[s, 1, s + 1] += 0.8
        p[s, 1, s] += 0.2
    p[n - 1, :, n - 1] = 1
    r[:, :, n - 1] = 1.0
    start = [1.0] + [0.0] * (n - 1)
    return FiniteMDP.from_tables(p, r, start, [False] * (n - 1) + [True])


def quit_or_go(corridor: int = 3, quit_reward: float = 1.0, goal_reward: float = 2.0) -> FiniteMDP:
    """One real decision: quit now for `quit_reward` (a 1-step episode), or go (action 1) down a
    corridor of `corridor` more steps, where actions change nothing, to `goal_reward`. Every state
    looks alike, so p(go) is one parameter. Going is better; its episodes are longer."""
    n = corridor + 2  # the decision, the corridor, the end
    end = n - 1
    p = torch.zeros(n, 2, n, dtype=torch.float64)
    r = torch.zeros(n, 2, n, dtype=torch.float64)
    p[0, 0, end], r[0, 0, end] = 1, quit_reward
    p[0, 1, 1] = 1
    for s in range(1, end):
        p[s, :, s + 1] = 1
    r[end - 1, :, end] = goal_reward
    p[end, :, end] = 1
    observations = torch.zeros(n, 1)
    return FiniteMDP.from_tables(
        p, r, [1] + [0] * (n - 1), [False] * (n - 1) + [True], observations
    )


class TableEnvs:
    """N copies of a FiniteMDP, vectorised with numpy; episodes are cut after `horizon` steps."""

    def __init__(self, mdp: FiniteMDP, num_envs: int, horizon: int | None = None):
        self.mdp, self.num_envs, self.horizon = mdp, num_envs, horizon
        self._p = mdp.transitions.numpy()
        self._r = mdp.rewards.numpy()
        self._obs = mdp.observations.numpy().astype(np.float32)
        self._terminal = mdp.terminal.numpy()
        n_actions = self._p.shape[1]
        self.single_observation_space = spaces.Box(-np.inf, np.inf, self._obs.shape[1:], np.float32)
        self.single_action_space = spaces.Discrete(n_actions)
        self._rng = np.random.default_rng(0)

    def reset(self, seed: int | None = None):
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        start = self.mdp.start.numpy()
        self._state = self._rng.choice(len(start), size=self.num_envs, p=start)
        self._t = np.zeros(self.num_envs, dtype=np.int64)
        return self._obs[self._state], {}

    def step(self, action: np.ndarray):
        probs = self._p[self._state, action]  # (N, S)
        u = self._rng.random(self.num_envs)[:, None]
        nxt = (probs.cumsum(axis=1) < u).sum(axis=1).clip(max=probs.shape[1] - 1)
        reward = self._r[self._state, action, nxt]
        self._state, self._t = nxt, self._t + 1
        terminated = self._terminal[nxt]
        truncated = np.zeros_like(terminated) if self.horizon is None else self._t >= self.horizon
        return self._obs[nxt], reward, terminated, truncated & ~terminated, {}

    def close(self) -> None:
        pass


class Reach(gym.Env):
    """A continuous task of one step: see a target x ~ U[-1, 1], answer with a in [-2, 2], earn
    -(a - x)^2. The best policy answers x itself (return 0); a Gaussian policy with standard
    deviation s earns -s^2 on average around its mean."""

    observation_space = spaces.Box(-1.0, 1.0, (1,), np.float32)
    action_space = spaces.Box(-2.0, 2.0, (1,), np.float32)

    def reset(self, *, seed: int | None = None, options=None):
        super().reset(seed=seed)
        self._x = self.np_random.uniform(-1, 1, size=1).astype(np.float32)
        return self._x, {}

    def step(self, action):
        reward = -float(((np.asarray(action) - self._x) ** 2).sum())
        return self._x, reward, True, False, {}
