"""Returns for episodic REINFORCE: discounted reward-to-go, and safe normalisation.

In an episode, the action at step t can only change the rewards from t on, so REINFORCE weights
log p(action_t) by the reward-to-go

    G_t = r_t + gamma * r_{t+1} + gamma^2 * r_{t+2} + ...   (up to the end of t's episode)

rather than by the whole episode's return: same expected gradient, less variance. Computed
backwards with tensor operations over all environments at once, G_t = r_t + gamma * G_{t+1},
with the sum cut wherever an episode ends.
"""

from __future__ import annotations

import torch
from torch import Tensor

from pg.config import require

__all__ = ["normalize_returns", "reward_to_go"]


def reward_to_go(reward: Tensor, done: Tensor, gamma: float) -> Tensor:
    """(T, N) discounted reward-to-go of (T, N) rewards; `done[t, i]` marks the last step of an
    episode of environment i, so nothing after it flows back into it. Time runs along dim 0."""
    require(
        isinstance(reward, Tensor) and isinstance(done, Tensor) and reward.is_floating_point(),
        "reward must be a floating-point tensor and done a tensor",
    )
    require(reward.ndim == 2 and done.shape == reward.shape, f"reward and done must both be (T, N), got {tuple(reward.shape)} and {tuple(done.shape)}")
    require(isinstance(gamma, (int, float)) and 0.0 <= gamma <= 1.0, f"gamma must be in [0, 1], got {gamma}")
    require(bool(torch.isfinite(reward).all()), "reward must be finite, got NaN or infinite values")
    keep = (~done.bool()).to(reward.dtype)  # (T, N) 0 where an episode ends
    out = torch.empty_like(reward)
    running = torch.zeros_like(reward[0])  # (N,)
    for t in range(reward.shape[0] - 1, -1, -1):
        running = reward[t] + gamma * keep[t] * running
        out[t] = running
    return out


def normalize_returns(returns: Tensor, eps: float = 1e-8) -> Tensor:
    """(x - mean) / (std + eps) over all elements, finite for any input.

    The population std (no Bessel correction) keeps a single element finite (the corrected std
    of one value is NaN), and eps keeps all-equal returns finite (std 0): both give zeros.
    """
    require(isinstance(returns, Tensor) and returns.is_floating_point(), "returns must be a floating-point tensor")
    require(returns.numel() > 0, "cannot normalise an empty tensor of returns")
    require(bool(torch.isfinite(returns).all()), "returns must be finite, got NaN or infinite values")
    return (returns - returns.mean()) / (returns.std(correction=0) + eps)
