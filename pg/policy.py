"""The policy: observations in, action probabilities out, with one hook for bigger networks.

`HungerPolicy` is the network of the worked example: one input, hunger in [0, 1], and one output,
p(B), the probability of going to Place B (large portions) rather than Place A (small portions):

    p(B) = sigmoid(weight * hunger + bias)

Every trainer (`train_supervised`, `train_reinforce`, `train_episodic`) knows a policy only
through the small contract of `Policy`:

    policy.logits(obs)        -> (N,) logit of action 1, or (N, K) logits of K actions   <- the hook
    policy(obs)               -> (N,) p(action 1) = p(B), or (N, K) probabilities
    policy.distribution(obs)  -> Bernoulli (a sample of 1 means Place B) or Categorical over K

`obs` may be given as (N,) hunger values or as an (N, d) batch; the hook always receives (N, d).
Two actions use one logit per row and a Bernoulli; more actions return (N, K) and get a
Categorical. The distribution is built from logits, never from a rounded probability, so
log p(action) stays exact where p(B) saturates to 0 or 1 in float32.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.distributions import Bernoulli, Categorical, Distribution

__all__ = ["Policy", "HungerPolicy", "actions_from_uniform", "sample_actions", "trained_bias"]


class Policy(nn.Module):
    """Base class of every policy: subclasses override `logits` and nothing else.

    The hook, `logits(obs)`, receives a float tensor of shape (N, d), already checked, and returns
    either the logit of action 1 (Place B) for each row, shape (N,), or the logits of K actions,
    shape (N, K). Everything else (probabilities, the distribution to sample from, shape checks
    with clear errors) is built here, once, so a bigger network trains with every trainer
    unchanged.

    Row i's logits must depend on row i of `obs` alone (no batch statistics): REINFORCE treats
    the rounds of a batch as independent, and `pg.reinforce.single_sample_gradients` relies on it.

    Set `obs_dim` (a class or instance attribute) to the observation width the network expects;
    `None` accepts any width. Set `num_actions` to K > 2 for a network that returns (N, K).
    """

    obs_dim: int | None = None
    num_actions: int = 2

    def logits(self, obs: Tensor) -> Tensor:
        """(N, d) observations -> (N,) logit of action 1, or (N, K) logits. Override this."""
        raise NotImplementedError(f"{type(self).__name__} must override logits(obs)")

    def forward(self, obs: Tensor, *, check_values: bool = True) -> Tensor:
        """p(B) = p(action 1) for each observation, shape (N,); (N, K) probabilities for K actions."""
        logits = self._checked_logits(obs, check_values)
        return torch.sigmoid(logits) if logits.ndim == 1 else torch.softmax(logits, dim=-1)

    def distribution(self, obs: Tensor, *, check_values: bool = True) -> Distribution:
        """Bernoulli over {0: Place A, 1: Place B} or Categorical over K actions, from logits.

        Shapes and dtypes are always checked; `check_values=False` skips the checks on the values
        and where they live (NaN, infinity, the device): a pass over the data, and a device sync
        on a GPU, that the trainers skip for observations they generated themselves.
        """
        return self._distribution_from_logits(self._checked_logits(obs, check_values))

    @staticmethod
    def _distribution_from_logits(logits: Tensor) -> Distribution:
        # validate_args=False: the logits are our own, and validation costs a device sync per call
        if logits.ndim == 1:
            return Bernoulli(logits=logits, validate_args=False)
        return Categorical(logits=logits, validate_args=False)

    def _checked_logits(self, obs: Tensor, check_values: bool = True) -> Tensor:
        """`logits` with its input and output checked; what `forward` and `distribution` call."""
        obs = self._as_batch(obs, check_values)
        logits = self.logits(obs)
        n = obs.shape[0]
        expected = (n,) if self.num_actions == 2 else (n, self.num_actions)
        if not isinstance(logits, Tensor) or logits.shape != expected:
            got = tuple(logits.shape) if isinstance(logits, Tensor) else type(logits).__name__
            raise ValueError(
                f"{type(self).__name__}.logits(obs) must return shape {expected} "
                f"for obs of shape {tuple(obs.shape)} and {self.num_actions} actions, got {got}"
            )
        return logits

    def _as_batch(self, obs: Tensor, check_values: bool = True) -> Tensor:
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
        if check_values:  # what a trainer generated itself is on the right device and finite
            like = next(self.parameters(), None)
            if like is not None and obs.device != like.device:
                raise ValueError(f"obs is on {obs.device} but the policy is on {like.device}; move one to the other")
            if not bool(torch.isfinite(obs).all()):
                raise ValueError("obs must be finite, got NaN or infinite values")
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


def actions_from_uniform(dist: Distribution, u: Tensor) -> Tensor:
    """Turn (N,) uniform draws u in [0, 1) into (N,) actions, by the article's convention.

    The unit line is split in the order of the actions: for two, [0, p(A)) -> Place A (0) and
    [p(A), 1) -> Place B (1), so u = 0.2 at p(B) = 0.5 is Place A and u = 0.9 at p(B) = 0.377541
    is Place B. p(A) = sigmoid(-logit) is taken from the logits, not as 1 - p(B), so it does not
    round to 0 when p(B) is near 1. For K actions, action k covers the k-th slice of the line.
    Bernoulli actions are float (as Bernoulli.log_prob expects), Categorical ones are long.
    """
    return _actions_into(dist, u.clone())  # the caller's draws stay as they were


def sample_actions(dist: Distribution, generator: torch.Generator) -> Tensor:
    """Sample one action per row from `dist`, drawing from `generator` (reproducible runs)."""
    logits = dist.logits
    u = torch.rand(logits.shape[:1], generator=generator, device=logits.device, dtype=logits.dtype)
    return _actions_into(dist, u)


def _actions_into(dist: Distribution, u: Tensor) -> Tensor:
    """The rule of `actions_from_uniform`; for two actions it writes the actions into `u` itself
    (in place: at a batch of a million, every allocation costs a pass over fresh memory)."""
    if isinstance(dist, Bernoulli):
        return u.ge_(dist.logits.detach().neg().sigmoid_())  # (N,) 1.0 where u >= p(A)
    inner_edges = dist.probs.cumsum(dim=-1)[..., :-1]  # (N, K - 1) where one action's slice ends
    return (inner_edges <= u.unsqueeze(-1)).sum(dim=-1)  # (N,) long, in 0..K-1


def trained_bias(policy: nn.Module) -> nn.Parameter | None:
    """The policy's scalar `bias` if training used it (it holds a gradient), else None.

    The article's graphs plot a loss against this bias; a bigger network has no such single
    number, and a subclass whose logits ignore the bias would give a flat, meaningless curve.
    """
    bias = getattr(policy, "bias", None)
    used = isinstance(bias, nn.Parameter) and bias.ndim == 0 and bias.grad is not None
    return bias if used else None
