"""A learned state-value baseline for REINFORCE: v(s, w), an estimate of the return from state s.

REINFORCE with baseline (Williams, 1992; Sutton & Barto, section 13.4) weights each
log-probability by G_t - v(S_t) instead of G_t. A baseline that depends only on the state leaves
the expected gradient exactly as it was (the score function has mean zero in every state), and one
close to the true value v_pi cuts its variance. The value function learns alongside the policy,
from the same episodes, by regression of v(S_t) on G_t (`pg.value_loss`).

Any module (or callable) that maps observations (N, *obs_shape) to values (N,) works as a
baseline; `ValueMLP` is the shipped one:

    value_fn = pg.ValueMLP(obs_dim=4)                 # (N, 4) -> (N,)
    loss = pg.episodic_loss(policy, batch, gamma=0.99, baseline=value_fn)
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from torch import Tensor, nn

from pg.policy import activation_layer, check_sizes, mlp

__all__ = ["ValueMLP"]


class ValueMLP(nn.Module):
    """v(s): observations (N, obs_dim), or (N, *obs_shape) flattened, to values (N,).

    `hidden` gives the widths of the hidden layers, `activation` a name from
    `pg.policy.ACTIVATIONS` or an `nn.Module` class.
    """

    def __init__(
        self,
        obs_dim: int | None = None,
        hidden: Sequence[int] = (64, 64),
        activation: str | type[nn.Module] = "tanh",
        *,
        obs_shape: Sequence[int] | None = None,
    ):
        super().__init__()
        if (obs_dim is None) == (obs_shape is None):
            raise ValueError("give ValueMLP either obs_dim or obs_shape")
        self.obs_shape = (obs_dim,) if obs_shape is None else tuple(obs_shape)
        if not all(isinstance(n, int) and n >= 1 for n in self.obs_shape):
            raise ValueError(f"observations must have positive sizes, got {self.obs_shape}")
        width = math.prod(self.obs_shape)
        check_sizes(width, 1, hidden, minimum_out=1)  # the hidden widths
        self.net = mlp([width, *hidden, 1], activation_layer(activation))

    def forward(self, obs: Tensor) -> Tensor:
        if obs.ndim < 2 or tuple(obs.shape[1:]) != self.obs_shape:
            shape = ", ".join(map(str, self.obs_shape))
            raise ValueError(f"obs must have shape (N, {shape}), got {tuple(obs.shape)}")
        return self.net(obs.flatten(1)).squeeze(-1)  # (N,)
