"""Exact math for the hunger example, in float64: what the tests hold the autograd code to.

Supervised (mean squared error over N labelled points, p = sigmoid(w * hunger + b)):

    MSE(b)    = (1/N) * sum((p - y)^2)
    dMSE/db   = (2/N) * sum((p - y) * p * (1 - p))      since dp/db = p * (1 - p)

Episodic tasks given as tables (`FiniteMDP`, below): the value of each state and the expected
return J of a policy by a linear solve, its gradient by autograd through the solve.

REINFORCE on the hunger bandit (hunger ~ U[0, 1], threshold t, rewards good / bad, P(large
portion) q_A at Place A and q_B at Place B; q_A = 0, q_B = 1 when portions are deterministic).
The chance that the portion served suits the hunger, averaged over hunger, is

    P(suits)(b) = t (1 - q_A) + (1 - t) q_A + (q_B - q_A) * (I(t, 1) - I(0, t))
    I(lo, hi)   = integral of p(B) over hunger in [lo, hi] = (sp(w hi + b) - sp(w lo + b)) / w

with sp = softplus, since d sp(x) / dx = sigmoid(x). Then J = bad + (good - bad) * P(suits) and

    dJ/db = (good - bad) (q_B - q_A) * ((s(w + b) - s(w t + b)) - (s(w t + b) - s(b))) / w

For deterministic portions this is the formula of example.md. Policies whose logits are not
affine in hunger get J by Gauss-Legendre quadrature instead, on [0, t] and [t, 1] separately so
that the reward's jump at the threshold falls on a panel edge.

These are written out by hand on purpose: autograd must agree with them, not with itself. The
task enters as plain numbers (`threshold`, `reward_good`, `reward_bad`, `q_a`, `q_b`; a
`HungerBandit` gives its own as `env.task`), so this module depends on nothing else in pg.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor
from torch.distributions import Distribution

__all__ = [
    "mse",
    "mse_grad_bias",
    "expected_reward_affine",
    "expected_reward_quadrature",
    "optimal_bias",
    "best_expected_reward",
    "FiniteMDP",
    "expected_return",
    "state_values",
    "action_probabilities",
]


def _f64(x) -> Tensor:
    return torch.as_tensor(x, dtype=torch.float64)


def _p_b(hunger, weight, bias) -> Tensor:
    """(..., N) p(B) for every bias in `bias` (any shape) and every hunger value (N,)."""
    return torch.sigmoid(_f64(weight) * _f64(hunger) + _f64(bias)[..., None])


def mse(hunger, target, weight, bias) -> Tensor:
    """Mean squared error of p(B) against the labels; `bias` may be a grid, shape (...)."""
    p = _p_b(hunger, weight, bias)
    return ((p - _f64(target)) ** 2).mean(-1)


def mse_grad_bias(hunger, target, weight, bias) -> Tensor:
    """dMSE/db by the hand formula (2/N) * sum((p - y) * p * (1 - p)); `bias` may be a grid."""
    p = _p_b(hunger, weight, bias)
    return 2.0 * ((p - _f64(target)) * p * (1.0 - p)).mean(-1)


def expected_reward_affine(
    weight,
    bias,
    *,
    threshold: float,
    reward_good: float,
    reward_bad: float,
    q_a: float = 0.0,
    q_b: float = 1.0,
) -> tuple[np.ndarray, np.ndarray]:
    """(J, dJ/db) in closed form for p(B) = sigmoid(w * hunger + b), as float64 numpy values.

    `bias` may be a number or an array (a grid of biases). numpy, not torch: this runs at every
    logging point of a REINFORCE run, where two dozen tiny torch ops would cost ~100 us.
    """
    w, b, t = float(weight), np.asarray(bias, dtype=np.float64), threshold
    spread = reward_good - reward_bad
    above, below = _integral_p_b(w, b, t, 1.0), _integral_p_b(w, b, 0.0, t)
    p_suits = t * (1 - q_a) + (1 - t) * q_a + (q_b - q_a) * (above - below)
    d_above, d_below = _integral_p_b_grad(w, b, t, 1.0), _integral_p_b_grad(w, b, 0.0, t)
    return reward_bad + spread * p_suits, spread * (q_b - q_a) * (d_above - d_below)


def _integral_p_b(w: float, b: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Integral of sigmoid(w h + b) over h in [lo, hi]; the w -> 0 limit where w = 0."""
    if w == 0:
        return (hi - lo) * _sigmoid(b)
    return (_softplus(w * hi + b) - _softplus(w * lo + b)) / w


def _integral_p_b_grad(w: float, b: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """d/db of `_integral_p_b`: (sigmoid(w hi + b) - sigmoid(w lo + b)) / w."""
    if w == 0:
        s = _sigmoid(b)
        return (hi - lo) * s * (1 - s)
    return _sigmoid_difference(w * hi + b, w * lo + b) / w


def _softplus(x: np.ndarray) -> np.ndarray:
    """log(1 + e^x), exact everywhere (torch's F.softplus returns x itself above x = 20)."""
    return np.logaddexp(0.0, x)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    """1 / (1 + e^-x) with full relative precision in both tails."""
    return np.exp(-np.logaddexp(0.0, -x))


def _sigmoid_difference(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """sigmoid(x) - sigmoid(y) without cancellation: in the upper tail, sigmoid(-y) - sigmoid(-x).

    Where both sigmoids round to 1.0 the plain difference is exactly 0 and the sign of the slope
    is lost, which would send the bisection in `optimal_bias` the wrong way.
    """
    upper = (x + y) > 0
    return np.where(upper, _sigmoid(-y) - _sigmoid(-x), _sigmoid(x) - _sigmoid(y))


def expected_reward_quadrature(
    p_b: Callable[[Tensor], Tensor],
    like: Tensor,
    *,
    threshold: float,
    reward_good: float,
    reward_bad: float,
    q_a: float = 0.0,
    q_b: float = 1.0,
) -> Tensor:
    """J for any policy on the hunger task, by quadrature over hunger (0-dim, float64).

    `p_b` maps (M,) hunger values, made with the dtype and device of `like`, to (M,) p(B): a
    policy's `forward`. Differentiable with respect to its parameters: autograd gives dJ/dθ.
    """
    nodes, weights, hungry = (torch.from_numpy(a) for a in _quadrature(threshold))
    p = p_b(nodes.to(like)).to(torch.float64)  # (M,)
    p_large = (1 - p) * q_a + p * q_b
    p_suits = torch.where(hungry.to(like.device), p_large, 1 - p_large)
    total = (weights.to(like.device) * p_suits).sum()
    return reward_bad + (reward_good - reward_bad) * total


@functools.lru_cache(maxsize=8)
def _quadrature(
    threshold: float, panels: int = 64, order: int = 8
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Composite Gauss-Legendre nodes and weights on [0, t] and [t, 1], and which are hungry."""
    x, w = np.polynomial.legendre.leggauss(order)
    nodes, weights, hungry = [], [], []
    for lo, hi in ((0.0, threshold), (threshold, 1.0)):
        edges = np.linspace(lo, hi, panels + 1)
        half = (edges[1:] - edges[:-1])[:, None] / 2  # (panels, 1)
        mid = (edges[1:] + edges[:-1])[:, None] / 2
        nodes.append((mid + half * x).ravel())
        weights.append((half * w).ravel())
        hungry.append(np.full(panels * order, lo >= threshold and hi > lo))
    return np.concatenate(nodes), np.concatenate(weights), np.concatenate(hungry)


@functools.lru_cache(maxsize=64)  # a run logs it at every logging point; it takes ~10 ms
def optimal_bias(weight: float, **task: float) -> float:
    """The bias maximising J for p(B) = sigmoid(weight * hunger + b), by bisection on dJ/db.

    -10 for weight 20 and threshold 0.5. When J keeps rising towards one end (threshold 0 or 1,
    say), the best bias is unbounded and this returns -inf or +inf (-inf when both ends tie, as
    for a negative weight); when J does not depend on the bias at all, 0.
    """

    def slope(b: float) -> float:
        return expected_reward_affine(weight, b, **task)[1].item()

    lo, hi = -abs(weight) - 40.0, abs(weight) + 40.0  # every sigmoid is saturated beyond these
    if slope(lo) > 0 > slope(hi):  # J rises, then falls: one interior maximum
        for _ in range(200):  # float64 bisection: the bracket is below one ulp long before 200
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if slope(mid) > 0 else (lo, mid)
        return (lo + hi) / 2
    if slope(lo) == slope(hi) == slope(0.0) == 0.0:
        return 0.0
    j_lo, j_hi = (expected_reward_affine(weight, b, **task)[0].item() for b in (lo, hi))
    return math.inf if j_hi > j_lo else -math.inf


def best_expected_reward(
    *, threshold: float, reward_good: float, reward_bad: float, q_a: float = 0.0, q_b: float = 1.0
) -> float:
    """The best J of any policy: the threshold policy, picking the place likelier to suit."""
    p_suits = threshold * max(1 - q_a, 1 - q_b) + (1 - threshold) * max(q_a, q_b)
    return reward_bad + (reward_good - reward_bad) * p_suits


# --- episodic tasks: finite MDPs given as tables ------------------------------------------------
#
# For a finite MDP (transition probabilities P[s, a, s'], expected rewards R[s, a, s'], a start
# distribution, terminal states) and a policy pi(a | s) read off the policy's distribution at each
# state's observation, the expected discounted return is
#
#     J(theta) = sum_s start(s) V(s),    V = r_pi + gamma * P_pi V   (V = 0 at terminal states)
#     r_pi(s)  = sum_a pi(a|s) sum_s' P[s,a,s'] R[s,a,s'],    P_pi(s, s') = sum_a pi(a|s) P[s,a,s']
#
# solved as one linear system in float64 (`horizon=None`), or, for episodes cut after `horizon`
# steps (Gymnasium's TimeLimit), by `horizon` steps of the same recursion backwards from V = 0.
# Autograd through either gives dJ/dtheta; the tests check it against finite differences.


@dataclass(frozen=True)
class FiniteMDP:
    """An episodic task as tables, all float64: what `expected_return` needs and nothing else.

    `observations[s]` is what the policy sees in state s (one-hot by default; two states with
    the same row are aliased: the policy cannot tell them apart).
    """

    transitions: Tensor  # (S, A, S) P(s' | s, a); rows of terminal states are ignored
    rewards: Tensor  # (S, A, S) expected reward of the transition s -a-> s'
    start: Tensor  # (S,) distribution of the first state
    terminal: Tensor  # (S,) bool: the episode ends on entering it
    observations: Tensor  # (S, *obs_shape) what the policy sees in each state

    @classmethod
    def from_tables(cls, transitions, rewards, start, terminal, observations=None) -> FiniteMDP:
        """Check the tables' shapes and probabilities; `rewards` may be (S, A) or (S, A, S)."""
        p = torch.as_tensor(transitions, dtype=torch.float64)
        r = torch.as_tensor(rewards, dtype=torch.float64)
        start = torch.as_tensor(start, dtype=torch.float64)
        terminal = torch.as_tensor(terminal, dtype=torch.bool)
        n, a = p.shape[:2]
        if r.shape == (n, a):
            r = r[:, :, None].expand(n, a, n)
        obs = (
            torch.eye(n, dtype=torch.float64)
            if observations is None
            else torch.as_tensor(observations, dtype=torch.float64)
        )
        if not (
            p.shape == (n, a, n)
            and r.shape == (n, a, n)
            and start.shape == (n,)
            and terminal.shape == (n,)
            and len(obs) == n
        ):
            raise ValueError(
                "an MDP of S states and A actions needs transitions (S, A, S), rewards "
                "(S, A) or (S, A, S), "
                f"start (S,), terminal (S,) and S observations; got {tuple(p.shape)}, "
                f"{tuple(r.shape)}, "
                f"{tuple(start.shape)}, {tuple(terminal.shape)} and {len(obs)}"
            )
        if not (
            torch.allclose(p.sum(-1), torch.ones(n, a, dtype=torch.float64))
            and torch.isclose(start.sum(), torch.ones((), dtype=torch.float64))
        ):
            raise ValueError(
                "each transitions[s, a] and start must be probability distributions (sum to 1)"
            )
        return cls(p, r, start, terminal, obs)

    @classmethod
    def from_gymnasium(cls, env) -> FiniteMDP:
        """The MDP of a Gymnasium toy-text env that exposes its dynamics as `env.unwrapped.P`
        (FrozenLake, CliffWalking, Taxi): P[s][a] is a list of (prob, next_state, reward, done)."""
        table = env.unwrapped.P
        n, a = env.observation_space.n, env.action_space.n
        p = torch.zeros(n, a, n, dtype=torch.float64)
        r = torch.zeros(n, a, n, dtype=torch.float64)
        terminal = torch.zeros(n, dtype=torch.bool)
        for s in range(n):
            for action in range(a):
                for prob, nxt, reward, done in table[s][action]:
                    p[s, action, nxt] += prob
                    r[s, action, nxt] = reward  # the same reward for every way to reach nxt
                    if done:
                        terminal[nxt] = True
        start = torch.as_tensor(env.unwrapped.initial_state_distrib, dtype=torch.float64)
        return cls.from_tables(p, r, start, terminal)


def expected_return(
    mdp: FiniteMDP, action_probs: Tensor, gamma: float, horizon: int | None = None
) -> Tensor:
    """J, the expected discounted return of a policy with (S, A) action probabilities (float64).

    `horizon=None` solves the infinite-horizon linear system (gamma < 1, or episodes that end
    with probability 1); an integer counts the steps of episodes cut after that many.
    Differentiable with respect to whatever `action_probs` came from.
    """
    return mdp.start @ state_values(mdp, action_probs, gamma, horizon)


def state_values(
    mdp: FiniteMDP, action_probs: Tensor, gamma: float, horizon: int | None = None
) -> Tensor:
    """(S,) v_pi(s): the expected discounted return from each state (0 at terminal states).

    With a `horizon`, the value of a state with that many steps left: what an episode that starts
    there and is cut after `horizon` steps earns on average.
    """
    pi = action_probs.to(torch.float64)  # (S, A)
    go_on = (~mdp.terminal).to(torch.float64)  # (S,) 0 where the episode has ended
    p_pi = (
        torch.einsum("sa,sat->st", pi, mdp.transitions) * go_on[:, None] * go_on[None, :]
    )  # (S, S)
    r_pi = torch.einsum("sa,sat,sat->s", pi, mdp.transitions, mdp.rewards) * go_on  # (S,)
    if horizon is None:
        eye = torch.eye(len(r_pi), dtype=torch.float64)
        return torch.linalg.solve(eye - gamma * p_pi, r_pi)
    value = torch.zeros_like(r_pi)
    for _ in range(horizon):
        value = r_pi + gamma * p_pi @ value
    return value


def action_probabilities(dist: Distribution, num_actions: int) -> Tensor:
    """(S, A) pi(a | s) of a Bernoulli or Categorical distribution over S rows."""
    actions = torch.arange(num_actions, dtype=torch.float64)
    rows = dist.batch_shape[0]
    return torch.stack(
        [dist.log_prob(a.expand(rows).to(_dtype(dist))).exp() for a in actions], dim=-1
    )


def _dtype(dist: Distribution) -> torch.dtype:
    return dist.logits.dtype if hasattr(dist, "logits") else torch.float64
