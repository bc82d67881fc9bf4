"""The REINFORCE loss: guess that the sampled action was right, weight the guess by its reward.

Supervised learning knows the ideal output; REINFORCE (Williams, 1992) does not. It samples an
action, treats that action as if it were the ideal one (cross-entropy -log p(action)), and
multiplies by the reward the action earned, so a bad reward flips the direction of the step:

    loss = -mean((reward - baseline) * log p(action))

Its gradient is, in expectation over hunger, actions and rewards, exactly -dJ/dθ, minus the
gradient of the expected reward J: one descent step on it is a noisy ascent step on J. For the
hunger policy, d(-log p(action))/d(bias) is p(B) after Place A and -(1 - p(B)) after Place B.

Reduction: the mean over the batch, not the sum, so the step size does not change with the batch
size; a batch of N is the average of N single-sample REINFORCE estimates, with 1/N the variance.
The reward and the baseline are data, not functions of the parameters: they are detached, so no
gradient leaks through them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from pg.run.settings import UsageError, check_same_batch, require

if TYPE_CHECKING:  # annotations only: the loss reads the batch's fields
    from pg.episodes import Episodes
    from pg.policy import Policy

__all__ = [
    "MeanBaseline",
    "baseline_values",
    "episodic_loss",
    "reinforce_loss",
    "reward_to_go",
    "standardize",
    "value_loss",
]


def reinforce_loss(
    log_prob: Tensor,
    reward: Tensor,
    baseline: Tensor | float | None = None,
    *,
    check_values: bool = True,
) -> Tensor:
    """-mean((reward - baseline) * log_prob) for (N,) log p(action) and (N,) rewards.

    `baseline` is None, a number, a 0-dim tensor or an (N,) tensor; it must not depend on the
    actions of this batch (a running mean of earlier batches qualifies), or the estimate is biased.
    Shapes are checked, not broadcast: an (N, 1) reward against (N,) log-probs would silently
    make an (N, N) loss. `check_values=False` skips the scan for NaN and infinity (the trainers'
    guard watches the loss itself); dtypes, devices and shapes are always checked.
    """
    # plain ifs, not require(): this runs every training step, and an f-string is built eagerly
    if not (isinstance(log_prob, Tensor) and isinstance(reward, Tensor)):
        raise UsageError(
            f"log_prob and reward must be tensors, got {type(log_prob).__name__} and "
            f"{type(reward).__name__}"
        )
    if not (log_prob.is_floating_point() and reward.is_floating_point()):
        raise UsageError(
            f"log_prob and reward must be floating-point tensors, got {log_prob.dtype} "
            f"and {reward.dtype}"
        )
    check_same_batch("log_prob", log_prob, "reward", reward)
    if check_values:
        for name, value in (("log_prob", log_prob), ("reward", reward), ("baseline", baseline)):
            finite = value is None or (
                bool(torch.isfinite(value).all())
                if isinstance(value, Tensor)
                else math.isfinite(value)
            )
            require(finite, f"{name} must be finite, got NaN or infinite values")
    advantage = reward.detach()
    if baseline is not None:
        if isinstance(baseline, Tensor):
            if not (baseline.ndim == 0 or baseline.shape == reward.shape):
                raise UsageError(
                    "baseline must be a number, a 0-dim tensor or have shape "
                    f"{tuple(reward.shape)}, got {tuple(baseline.shape)}"
                )
            baseline = baseline.detach()
        advantage = advantage - baseline
    return -(advantage.to(log_prob.dtype) * log_prob).mean()


class MeanBaseline:
    """A running mean of the average reward of earlier batches: b <- 0.9 b + 0.1 mean(reward).

    It never sees the batch it is subtracted from, so it cannot bias the gradient. Before the first
    update its value is None (no baseline). Whether it lowers the variance depends on the rewards:
    it helps when rewards sit far from zero (+1 / 0 rewards) and, for this task's +1 / -1 rewards,
    near the optimum it raises it (docs/estimators.md).
    """

    def __init__(self, decay: float = 0.9):
        self.decay = decay
        self.value: Tensor | None = None  # 0-dim, on the rewards' device

    def update(self, reward: Tensor) -> None:
        mean = reward.detach().mean()
        self.value = (
            mean if self.value is None else self.decay * self.value + (1 - self.decay) * mean
        )

    def state_dict(self) -> dict:
        return {"decay": self.decay, "value": self.value}

    def load_state_dict(self, state: dict) -> None:
        decay, value = state["decay"], state["value"]
        if not (isinstance(decay, float) and 0.0 <= decay < 1.0):
            raise ValueError(f"a baseline's decay must be in [0, 1), got {decay!r}")
        if value is not None and not (
            isinstance(value, Tensor) and value.ndim == 0 and torch.isfinite(value)
        ):
            raise ValueError(
                f"a baseline's value must be None or a finite 0-dim tensor, got {value!r}"
            )
        self.decay, self.value = decay, value


# --- returns for episodes ------------------------------------------------------------------------
# Returns for episodic REINFORCE: discounted reward-to-go, and safe normalisation.
#
# In an episode, the action at step t can only change the rewards from t on, so REINFORCE weights
# log p(action_t) by the reward-to-go
#
#     G_t = r_t + gamma * r_{t+1} + gamma^2 * r_{t+2} + ...   (up to the end of t's episode)
#
# rather than by the whole episode's return: same expected gradient, less variance. Computed
# backwards with tensor operations over all environments at once, G_t = r_t + gamma * G_{t+1},
# with the sum cut wherever an episode ends.


def reward_to_go(reward: Tensor, done: Tensor, gamma: float) -> Tensor:
    """(T, N) discounted reward-to-go of (T, N) rewards; `done[t, i]` marks the last step of an
    episode of environment i, so nothing after it flows back into it. Time runs along dim 0."""
    require(
        isinstance(reward, Tensor) and isinstance(done, Tensor) and reward.is_floating_point(),
        "reward must be a floating-point tensor and done a tensor",
    )
    require(
        reward.ndim == 2 and done.shape == reward.shape,
        f"reward and done must both be (T, N), got {tuple(reward.shape)} and {tuple(done.shape)}",
    )
    require(
        isinstance(gamma, (int, float)) and 0.0 <= gamma <= 1.0,
        f"gamma must be in [0, 1], got {gamma}",
    )
    require(bool(torch.isfinite(reward).all()), "reward must be finite, got NaN or infinite values")
    keep = (~done.bool()).to(reward.dtype)  # (T, N) 0 where an episode ends
    out = torch.empty_like(reward)
    running = torch.zeros_like(reward[0])  # (N,)
    for t in range(reward.shape[0] - 1, -1, -1):
        running = reward[t] + gamma * keep[t] * running
        out[t] = running
    return out


def standardize(returns: Tensor, eps: float = 1e-8) -> Tensor:
    """(x - mean) / (std + eps) over all elements, finite for any input.

    The population std (no Bessel correction) keeps a single element finite (the corrected std
    of one value is NaN), and eps keeps all-equal returns finite (std 0): both give zeros.
    """
    require(
        isinstance(returns, Tensor) and returns.is_floating_point(),
        "returns must be a floating-point tensor",
    )
    require(returns.numel() > 0, "cannot normalise an empty tensor of returns")
    require(
        bool(torch.isfinite(returns).all()), "returns must be finite, got NaN or infinite values"
    )
    return (returns - returns.mean()) / (returns.std(correction=0) + eps)


REDUCTIONS = ("episode", "step")


def episodic_loss(
    policy: Policy,
    batch: Episodes,
    *,
    gamma: float,
    loss_reduction: str = "episode",
    normalize_returns: bool = False,
    entropy_coef: float = 0.0,
    baseline: Callable[[Tensor], Tensor] | None = None,
) -> Tensor:
    """The REINFORCE loss of a batch of whole episodes: what one episodic update descends.

    Each valid step's log p(a_t | s_t) is weighted by its discounted reward-to-go G_t, or with a
    `baseline` (a function of the observations, `(S, *obs_shape) -> (S,)`, such as
    `pg.ValueMLP`) by G_t - b(s_t); padding after an episode's end (`batch.valid` is False there)
    takes no part. The baseline's values are data: no gradient of this loss reaches it.

    - `loss_reduction="episode"`, the textbook estimator (Williams 1992; Sutton & Barto 13.3 and
      13.4): -(1/N) sum over the N episodes of sum_t gamma^t (G_t - b(s_t)) log p(a_t | s_t). Its
      gradient is an unbiased estimate of -dJ/dθ, J the expected discounted return from the
      start, with or without a baseline that depends only on the state.
    - `"step"`: -mean over every valid step of (G_t - b(s_t)) log p(a_t | s_t), as Spinning Up's
      VPG and many examples do. Dividing by the batch's number of steps, which depends on the
      actions taken, and dropping gamma^t make it a biased estimate (docs/estimators.md measures
      by how much).

    `normalize_returns` standardises the weights over the batch: a baseline and a scale that
    depend on the batch itself, so the estimate is no longer unbiased either (it often learns
    faster all the same). `entropy_coef` subtracts that multiple of the mean entropy per step.
    """
    require(
        loss_reduction in REDUCTIONS,
        f"loss_reduction must be one of {', '.join(REDUCTIONS)}, got {loss_reduction!r}",
    )
    obs = batch.obs[batch.valid]  # (S, *obs_shape) the valid steps, in time-major order
    weight = reward_to_go(batch.reward, batch.done, gamma)[batch.valid]  # (S,) G_t
    if baseline is not None:
        weight = weight - baseline_values(baseline, obs)  # G_t - b(s_t)
    if loss_reduction == "episode":  # gamma^t: step t of every episode is its t-th (all start at 0)
        t = torch.arange(batch.valid.shape[0], dtype=weight.dtype, device=weight.device)
        weight = weight * (gamma**t)[:, None].expand(batch.valid.shape)[batch.valid]
    if normalize_returns:
        weight = standardize(weight)
    dist = policy.distribution(obs)  # over the S valid steps
    log_prob = dist.log_prob(batch.action[batch.valid])  # (S,)
    # no scan for NaN here: a policy that diverged is reported by the trainer's guard, with the step
    loss = reinforce_loss(log_prob, weight, check_values=False)  # -mean over the S steps
    if loss_reduction == "episode":
        loss = loss * (len(log_prob) / batch.valid.shape[1])  # -sum over steps / N episodes
    if entropy_coef:
        loss = loss - entropy_coef * dist.entropy().mean()
    return loss


def value_loss(
    value_fn: Callable[[Tensor], Tensor],
    batch: Episodes,
    *,
    gamma: float,
    returns: Tensor | None = None,
) -> Tensor:
    """How far the value function is from the returns: 1/2 sum_t (G_t - v(s_t))^2 over an
    episode's steps, the mean over the N episodes of the batch (valid steps only).

    Its gradient with respect to the value function's weights w is (1/N) sum (v(s_t) - G_t)
    dv/dw, so plain SGD on it with step size alpha is Sutton & Barto's update of w (section 13.4,
    w += alpha (G_t - v(S_t)) grad v) summed over each episode's steps and averaged over episodes.
    `returns`, the batch's (T, N) reward-to-go if already computed, saves computing it again.
    """
    if returns is None:
        returns = reward_to_go(batch.reward, batch.done, gamma)  # (T, N) G_t
    returns = returns[batch.valid]  # (S,)
    values = _values(value_fn, batch.obs[batch.valid])  # (S,) v(s_t), with gradients
    return 0.5 * (returns - values).pow(2).sum() / batch.valid.shape[1]


def baseline_values(baseline: Callable[[Tensor], Tensor], obs: Tensor) -> Tensor:
    """(S,) b(s) for S observations, as data: computed without a graph, so no gradient of a
    policy loss can reach the baseline."""
    with torch.no_grad():
        return _values(baseline, obs).detach()


def _values(value_fn: Callable[[Tensor], Tensor], obs: Tensor) -> Tensor:
    """A value function's (S,) output for S observations, its shape checked."""
    values = value_fn(obs)
    if not (isinstance(values, Tensor) and values.shape == (obs.shape[0],)):
        got = tuple(values.shape) if isinstance(values, Tensor) else type(values).__name__
        raise UsageError(
            f"a value function must map observations of shape {tuple(obs.shape)} to values of "
            f"shape ({obs.shape[0]},), got {got}"
        )
    return values.to(obs.dtype)
