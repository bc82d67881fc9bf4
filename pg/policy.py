"""The policy: observations in, action probabilities out, with one hook for bigger networks.

`HungerPolicy` is the network of the worked example: one input, hunger in [0, 1], and one output,
p(B), the probability of going to Place B (large portions) rather than Place A (small portions):

    p(B) = sigmoid(weight * hunger + bias)

Both training paths (`pg.train_supervised` and `pg.train_reinforce`) know a policy only through
the small contract of `Policy`:

    policy.logits(obs)        -> (N,) logit of Place B           <- the one hook subclasses override
    policy(obs)               -> (N,) p(B) in (0, 1)
    policy.distribution(obs)  -> torch.distributions.Bernoulli; a sample of 1 means Place B

`obs` may be given as (N,) hunger values or as an (N, d) batch; the hook always receives (N, d).
The distribution is built from logits, never from a rounded probability, so log p(action) stays
exact where p(B) saturates to 0 or 1 in float32.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.distributions import Bernoulli

__all__ = ["Policy", "HungerPolicy", "actions_from_uniform", "sample_actions", "trained_bias"]


class Policy(nn.Module):
    """Base class of every policy: subclasses override `logits` and nothing else.

    The hook, `logits(obs)`, receives a float tensor of shape (N, d), already checked, and returns
    the logit of Place B for each row, shape (N,). Everything else (probabilities, the
    distribution to sample from, shape checks with clear errors) is built here, once, so a bigger
    network trains with both trainers unchanged.

    Set the class attribute `obs_dim` to the observation width the network expects; `None`
    accepts any width.
    """

    obs_dim: int | None = None

    def logits(self, obs: Tensor) -> Tensor:
        """(N, d) observations -> (N,) logit of Place B. Override this in a subclass."""
        raise NotImplementedError(f"{type(self).__name__} must override logits(obs)")

    def forward(self, obs: Tensor) -> Tensor:
        """p(B) for each observation, shape (N,)."""
        return torch.sigmoid(self._checked_logits(obs))

    def distribution(self, obs: Tensor) -> Bernoulli:
        """The action distribution: Bernoulli over {0: Place A, 1: Place B}, built from logits."""
        # validate_args=False: the logits are our own, and validation costs a device sync per call
        return Bernoulli(logits=self._checked_logits(obs), validate_args=False)

    def _checked_logits(self, obs: Tensor) -> Tensor:
        """`logits` with its input and output checked; what `forward` and `distribution` call."""
        obs = self._as_batch(obs)
        logits = self.logits(obs)
        if not isinstance(logits, Tensor) or logits.shape != obs.shape[:1]:
            got = tuple(logits.shape) if isinstance(logits, Tensor) else type(logits).__name__
            raise ValueError(
                f"{type(self).__name__}.logits(obs) must return shape ({obs.shape[0]},) "
                f"for obs of shape {tuple(obs.shape)}, got {got}"
            )
        return logits

    def _as_batch(self, obs: Tensor) -> Tensor:
        """Check `obs` and return it as (N, d); (N,) is read as N observations of width 1."""
        width = "(N,) or (N, 1)" if self.obs_dim == 1 else f"(N, {self.obs_dim or 'd'})"
        if not isinstance(obs, Tensor):
            raise TypeError(f"obs must be a torch.Tensor of shape {width}, got {type(obs).__name__}")
        if not obs.is_floating_point():
            raise ValueError(
                f"obs must be a floating-point tensor of shape {width}, "
                f"got dtype {obs.dtype} with shape {tuple(obs.shape)}"
            )
        if obs.ndim == 1:
            obs = obs.unsqueeze(-1)
        if obs.ndim != 2 or (self.obs_dim is not None and obs.shape[1] != self.obs_dim):
            raise ValueError(f"obs must have shape {width}, got {tuple(obs.shape)}")
        if obs.shape[0] == 0:
            raise ValueError(f"obs must hold at least one observation, got shape {tuple(obs.shape)}")
        return obs


class HungerPolicy(Policy):
    """p(B) = sigmoid(weight * hunger + bias): the one-neuron network of the article.

    Only `bias` is trained by default, as in the article; `weight` is a fixed setting (default 20,
    which puts the best decision boundary at hunger 0.5 with bias -10) unless `train_weight=True`.
    Both are 0-dim parameters, so they appear in `state_dict()` either way.
    """

    obs_dim = 1

    def __init__(
        self,
        weight: float = 20.0,
        bias: float = 0.0,
        train_weight: bool = False,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ):
        super().__init__()
        like = {"device": device, "dtype": dtype}  # as nn.Linear: built directly in that dtype
        self.weight = nn.Parameter(torch.tensor(float(weight), **like), requires_grad=train_weight)
        self.bias = nn.Parameter(torch.tensor(float(bias), **like))

    def logits(self, obs: Tensor) -> Tensor:
        return self.weight * obs[:, 0] + self.bias  # (N,)

    def extra_repr(self) -> str:
        return (
            f"weight={self.weight.item():g}, bias={self.bias.item():g}, "
            f"train_weight={self.weight.requires_grad}"
        )


def actions_from_uniform(dist: Bernoulli, u: Tensor) -> Tensor:
    """Turn uniform draws u in [0, 1) into actions, by the article's convention.

    The unit line is split as [0, p(A)) -> Place A (0) and [p(A), 1) -> Place B (1), so u = 0.2
    at p(B) = 0.5 is Place A and u = 0.9 at p(B) = 0.377541 is Place B. p(A) = sigmoid(-logit)
    is taken from the logits, not as 1 - p(B), so it does not round to 0 when p(B) is near 1.
    """
    return (u >= torch.sigmoid(-dist.logits)).to(dist.logits.dtype)


def sample_actions(dist: Bernoulli, generator: torch.Generator) -> Tensor:
    """Sample one action per row from `dist`, drawing from `generator` (reproducible runs)."""
    u = torch.rand(dist.logits.shape, generator=generator, device=dist.logits.device, dtype=dist.logits.dtype)
    return actions_from_uniform(dist, u)


def trained_bias(policy: nn.Module) -> nn.Parameter | None:
    """The policy's scalar `bias` if training used it (it holds a gradient), else None.

    The article's graphs plot a loss against this bias; a bigger network has no such single
    number, and a subclass whose logits ignore the bias would give a flat, meaningless curve.
    """
    bias = getattr(policy, "bias", None)
    used = isinstance(bias, nn.Parameter) and bias.ndim == 0 and bias.grad is not None
    return bias if used else None
