"""The policy: observations in, a distribution over actions out, with one hook for bigger networks.

`HungerPolicy` is the network of the worked example: one input, hunger in [0, 1], and one output,
p(B), the probability of going to Place B (large portions) rather than Place A (small portions):

    p(B) = sigmoid(weight * hunger + bias)

Every trainer (`train_supervised`, `train_reinforce`, `train_episodic`) knows a policy only
through the small contract of `Policy`:

    policy.logits(obs)        -> (N,) logit of action 1, or (N, K) logits of K actions   <- the hook
    policy(obs)               -> (N,) p(action 1) = p(B) for two actions, else (N, K) probabilities
    policy.distribution(obs)  -> Bernoulli (a sample of 1 means Place B) or Categorical over K

`obs` may be given as (N,) hunger values or as an (N, d) batch; the hook always receives (N, d),
or (N, *obs_shape) for a policy that sets `obs_shape` (images for a CNN). Two actions take
either one logit per row, (N,), and get a Bernoulli, or a logit per action, (N, 2), as most
two-action networks have, and get a Categorical: the same probabilities, the same sampled
actions from the same draws, the same log-probabilities. More actions return (N, K) and get a
Categorical. The distribution is built from logits, never from a rounded probability, so
log p(action) stays exact where p(B) saturates to 0 or 1 in float32.

Actions that are not a choice among K (continuous control) need another distribution: such a
policy overrides `make_distribution(obs)` instead of `logits` and returns any
`torch.distributions.Distribution` with one action per row (batch shape (N,)).
`GaussianMLPPolicy` is the shipped example: a Normal around an MLP's output, with a learned
log standard deviation per action dimension that does not depend on the state.

`MLPPolicy` is the worked example of a bigger network through the `logits` hook, built with the
`mlp(sizes)` helper (no registry, no framework):

    class MLPPolicy(Policy):
        def logits(self, obs):              # (N, obs_dim) -> (N,) for two actions, (N, K) for K
            out = self.net(obs)
            return out.squeeze(-1) if self.num_actions == 2 else out
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch
from torch import Tensor, nn
from torch.distributions import Bernoulli, Categorical, Distribution, Independent, Normal

__all__ = [
    "ACTIVATIONS",
    "GaussianMLPPolicy",
    "HungerPolicy",
    "MLPPolicy",
    "Policy",
    "actions_from_uniform",
    "activation_layer",
    "check_sizes",
    "evaluating",
    "mlp",
    "sample_actions",
    "trained_bias",
]


class Policy(nn.Module):
    """Base class of every policy: subclasses override `logits` (or, for continuous actions,
    `make_distribution`) and nothing else.

    The hook, `logits(obs)`, receives a float tensor of shape (N, d), already checked, and returns
    either the logit of action 1 (Place B) for each row, shape (N,), or the logits of K actions,
    shape (N, K) (K = 2 included). Everything else (probabilities, the distribution to sample
    from, shape checks with clear errors) is built here, once, so a bigger network trains with
    every trainer unchanged.

    Row i's output must depend on row i of `obs` alone (no batch statistics): REINFORCE treats
    the rounds of a batch as independent, and `pg.reinforce.single_sample_gradients` relies on it.

    Set `obs_dim` (a class or instance attribute) to the observation width the network expects;
    `None` accepts any width. Set `obs_shape` instead for observations that are not flat vectors
    (the hook then receives (N, *obs_shape)). Set `num_actions` to K > 2 for a network that
    returns (N, K); a continuous policy sets `act_dim` and leaves `num_actions` as None.
    """

    obs_dim: int | None = None
    obs_shape: tuple[int, ...] | None = None
    num_actions: int | None = 2
    act_dim: int | None = None

    def logits(self, obs: Tensor) -> Tensor:
        """(N, d) observations -> (N,) logit of action 1, or (N, K) logits. Override this."""
        raise NotImplementedError(f"{type(self).__name__} must override logits(obs)")

    def make_distribution(self, obs: Tensor) -> Distribution:
        """Checked (N, ...) observations -> a distribution with batch shape (N,).

        The default builds a Bernoulli over {0: Place A, 1: Place B} or a Categorical over K
        actions from `logits`; override this instead of `logits` for any other distribution.
        """
        return _from_logits(self._checked_logits(obs))

    def forward(self, obs: Tensor, *, check_values: bool = True) -> Tensor:
        """p(B) = p(action 1) for each observation, shape (N,), whichever shape the two-action
        logits have; (N, K) probabilities for K > 2 actions."""
        logits = self._checked_logits(self._as_batch(obs, check_values))
        if logits.ndim == 1:
            return torch.sigmoid(logits)
        probs = torch.softmax(logits, dim=-1)
        return probs[:, 1] if self.num_actions == 2 else probs

    def distribution(self, obs: Tensor, *, check_values: bool = True) -> Distribution:
        """The distribution of the action for each observation: one action per row.

        Shapes and dtypes are always checked; `check_values=False` skips the checks on the values
        and where they live (NaN, infinity, the device): a pass over the data, and a device sync
        on a GPU, that the trainers skip for observations they generated themselves.
        """
        obs = self._as_batch(obs, check_values)
        dist = self.make_distribution(obs)
        if not isinstance(dist, Distribution) or tuple(dist.batch_shape) != (obs.shape[0],):
            got = (
                f"batch shape {tuple(dist.batch_shape)}"
                if isinstance(dist, Distribution)
                else type(dist).__name__
            )
            raise ValueError(
                f"{type(self).__name__}.make_distribution(obs) must return a torch "
                "Distribution with batch shape "
                f"({obs.shape[0]},) for obs of shape {tuple(obs.shape)}, got {got}"
            )
        return dist

    def spec(self) -> dict[str, Any] | None:
        """How to build this policy again (`pg.load_policy`): a shipped class and its arguments,
        or None for a class of the user's own, which `load_policy` then needs as an instance."""
        return None

    def _checked_logits(self, obs: Tensor) -> Tensor:
        """`logits` of checked observations, with the hook's output checked."""
        logits = self.logits(obs)
        n = obs.shape[0]
        expected = [(n,), (n, 2)] if self.num_actions == 2 else [(n, self.num_actions)]
        if not isinstance(logits, Tensor) or tuple(logits.shape) not in expected:
            got = tuple(logits.shape) if isinstance(logits, Tensor) else type(logits).__name__
            shapes = " or ".join(map(str, expected))
            raise ValueError(
                f"{type(self).__name__}.logits(obs) must return shape {shapes} "
                f"for obs of shape {tuple(obs.shape)} and {self.num_actions} actions, got {got}"
            )
        return logits

    def _as_batch(self, obs: Tensor, check_values: bool = True) -> Tensor:
        """Check `obs`: (N, d) or (N, *obs_shape); (N,) is N observations of width 1."""
        if self.obs_shape is not None:
            width = f"(N, {', '.join(map(str, self.obs_shape))})"
        else:
            width = "(N,) or (N, 1)" if self.obs_dim == 1 else f"(N, {self.obs_dim or 'd'})"
        if not isinstance(obs, Tensor):
            raise TypeError(
                f"obs must be a torch.Tensor of shape {width}, got {type(obs).__name__}"
            )
        if not obs.is_floating_point():
            raise ValueError(
                f"obs must be a floating-point tensor of shape {width}, "
                f"got dtype {obs.dtype} with shape {tuple(obs.shape)}"
            )
        if self.obs_shape is not None:
            ok = tuple(obs.shape[1:]) == tuple(self.obs_shape)
        else:
            if obs.ndim == 1:
                obs = obs.unsqueeze(-1)
            ok = obs.ndim == 2 and (self.obs_dim is None or obs.shape[1] == self.obs_dim)
        if not ok:
            raise ValueError(f"obs must have shape {width}, got {tuple(obs.shape)}")
        if obs.shape[0] == 0:
            raise ValueError(
                f"obs must hold at least one observation, got shape {tuple(obs.shape)}"
            )
        if check_values:  # what a trainer generated itself is on the right device and finite
            like = next(self.parameters(), None)
            if like is not None and obs.device != like.device:
                raise ValueError(
                    f"obs is on {obs.device} but the policy is on {like.device}; move one "
                    "to the other"
                )
            if not bool(torch.isfinite(obs).all()):
                raise ValueError("obs must be finite, got NaN or infinite values")
        return obs


def _from_logits(logits: Tensor) -> Distribution:
    # validate_args=False: the logits are checked above, and validation costs a device sync per call
    if logits.ndim == 1:
        return Bernoulli(logits=logits, validate_args=False)
    return Categorical(logits=logits, validate_args=False)


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
        cuda = device is not None and torch.device(device).type == "cuda"
        if cuda and not torch.cuda.is_available():
            raise ValueError("device cuda was asked for, but CUDA is not available here")
        like = {"device": device, "dtype": dtype}  # as nn.Linear: built directly in that dtype
        self.weight = nn.Parameter(torch.tensor(float(weight), **like), requires_grad=train_weight)
        self.bias = nn.Parameter(torch.tensor(float(bias), **like))

    def logits(self, obs: Tensor) -> Tensor:
        return self.weight * obs[:, 0] + self.bias  # (N,)

    def spec(self) -> dict[str, Any] | None:
        if type(self) is not HungerPolicy:  # a subclass of the user's: only they can build it
            return None
        return {"class": "HungerPolicy", "train_weight": self.weight.requires_grad}

    def extra_repr(self) -> str:
        return (
            f"weight={self.weight.item():g}, bias={self.bias.item():g}, "
            f"train_weight={self.weight.requires_grad}"
        )


ACTIVATIONS: dict[str, type[nn.Module]] = {
    "tanh": nn.Tanh,
    "relu": nn.ReLU,
    "gelu": nn.GELU,
    "elu": nn.ELU,
}


def mlp(sizes: Sequence[int], activation: type[nn.Module] = nn.Tanh) -> nn.Sequential:
    """Linear layers of the given sizes with `activation` between them (none after the last)."""
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(n_in, n_out))
        if i < len(sizes) - 2:
            layers.append(activation())
    return nn.Sequential(*layers)


class MLPPolicy(Policy):
    """A multi-layer perceptron policy: obs (N, obs_dim) -> logits, every weight trained.

    `hidden` gives the widths of the hidden layers, `activation` is a name from ACTIVATIONS or an
    nn.Module class. With `num_actions=2` (the default) the network has one output, the logit of
    action 1, and the distribution is a Bernoulli; with K > 2 it has K outputs and a Categorical.
    """

    def __init__(
        self,
        obs_dim: int,
        num_actions: int,
        hidden: Sequence[int] = (64, 64),
        activation: str | type[nn.Module] = "tanh",
    ):
        super().__init__()
        layer = activation_layer(activation)
        check_sizes(obs_dim, num_actions, hidden, minimum_out=2)
        self.obs_dim = obs_dim
        self.num_actions = num_actions
        self.net = mlp([obs_dim, *hidden, 1 if num_actions == 2 else num_actions], layer)
        self._spec = {
            "obs_dim": obs_dim,
            "hidden": list(hidden),
            "num_actions": num_actions,
            "activation": activation,
        }

    def logits(self, obs: Tensor) -> Tensor:
        out = self.net(obs)  # (N, 1) or (N, K)
        return out.squeeze(-1) if self.num_actions == 2 else out

    def spec(self) -> dict[str, Any] | None:
        # a subclass, or an activation class, of the user's: only they can build it again
        shipped = type(self) is MLPPolicy and isinstance(self._spec["activation"], str)
        return {"class": "MLPPolicy", **self._spec} if shipped else None


class GaussianMLPPolicy(Policy):
    """Continuous actions: a Normal around an MLP's output; obs (N, obs_dim) -> (N, act_dim).

    The mean comes from the network; the log standard deviation is one learned number per action
    dimension, the same in every state (as Spinning Up's and CleanRL's Gaussian policies). The
    distribution is unbounded: an environment's action bounds are applied where the action is
    handed to the environment (`pg.episodes`), and the log-probability is that of the sample
    actually drawn, so the gradient estimate stays the textbook one.
    """

    num_actions = None

    def __init__(
        self,
        obs_dim: int,
        act_dim: int,
        hidden: Sequence[int] = (64, 64),
        activation: str | type[nn.Module] = "tanh",
        log_std: float = -0.5,
    ):
        super().__init__()
        check_sizes(obs_dim, act_dim, hidden, minimum_out=1)
        self.obs_dim, self.act_dim = obs_dim, act_dim
        self.mean = mlp([obs_dim, *hidden, act_dim], activation_layer(activation))
        self.log_std = nn.Parameter(torch.full((act_dim,), float(log_std)))
        self._spec = {
            "obs_dim": obs_dim,
            "act_dim": act_dim,
            "hidden": list(hidden),
            "activation": activation,
            "log_std": log_std,
        }

    def make_distribution(self, obs: Tensor) -> Distribution:
        # Independent: the act_dim coordinates form one action, so log_prob sums over them
        return Independent(
            Normal(self.mean(obs), self.log_std.exp(), validate_args=False), 1, validate_args=False
        )

    def spec(self) -> dict[str, Any] | None:
        shipped = type(self) is GaussianMLPPolicy and isinstance(self._spec["activation"], str)
        return {"class": "GaussianMLPPolicy", **self._spec} if shipped else None


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
    """Sample one action per row from `dist`, drawing from `generator` (reproducible runs).

    Bernoulli and Categorical follow the article's rule (`actions_from_uniform`); a Normal (or
    an `Independent` Normal) is mean + std * noise. torch.distributions take no generator, so any
    other distribution samples from torch's global generator, seeded from `generator` for the call.
    """
    if isinstance(dist, (Bernoulli, Categorical)):
        logits = dist.logits
        u = torch.rand(
            logits.shape[:1], generator=generator, device=logits.device, dtype=logits.dtype
        )
        return _actions_into(dist, u)
    base = dist.base_dist if isinstance(dist, Independent) else dist
    if isinstance(base, Normal):
        loc, scale = base.loc.detach(), base.scale.detach()
        noise = torch.randn(loc.shape, generator=generator, device=loc.device, dtype=loc.dtype)
        return loc + scale * noise
    seed = int(torch.randint(2**62, (), generator=generator, device=generator.device))
    devices = [generator.device] if generator.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        return dist.sample()


def _actions_into(dist: Distribution, u: Tensor) -> Tensor:
    """The rule of `actions_from_uniform`; for two actions it writes the actions into `u` itself
    (in place: at a batch of a million, every allocation costs a pass over fresh memory)."""
    if isinstance(dist, Bernoulli):
        return u.ge_(dist.logits.detach().neg().sigmoid_())  # (N,) 1.0 where u >= p(A)
    inner_edges = dist.probs.cumsum(dim=-1)[..., :-1]  # (N, K - 1) where one action's slice ends
    return (inner_edges <= u.unsqueeze(-1)).sum(dim=-1)  # (N,) long, in 0..K-1


@contextmanager
def evaluating(policy: nn.Module) -> Iterator[nn.Module]:
    """The policy in eval mode inside the block (dropout off: exact values are repeatable), and in
    the mode it had afterwards."""
    was_training = policy.training
    policy.eval()
    try:
        yield policy
    finally:
        policy.train(was_training)


def trained_bias(policy: nn.Module) -> nn.Parameter | None:
    """The policy's scalar `bias` if training used it (it holds a gradient), else None.

    The article's graphs plot a loss against this bias; a bigger network has no such single
    number, and a subclass whose logits ignore the bias would give a flat, meaningless curve.
    """
    bias = getattr(policy, "bias", None)
    used = isinstance(bias, nn.Parameter) and bias.ndim == 0 and bias.grad is not None
    return bias if used else None


def activation_layer(activation: str | type[nn.Module]) -> type[nn.Module]:
    """An activation's class from its name in ACTIVATIONS (or the class itself)."""
    if isinstance(activation, str):
        if activation not in ACTIVATIONS:
            raise ValueError(
                f"activation must be one of {', '.join(ACTIVATIONS)} or an nn.Module "
                f"class, got {activation!r}"
            )
        return ACTIVATIONS[activation]
    return activation


def check_sizes(obs_dim: Any, out: Any, hidden: Sequence[Any], minimum_out: int) -> None:
    """An MLP's input width, output width (at least `minimum_out`) and hidden widths."""
    if not (
        isinstance(obs_dim, int) and obs_dim >= 1 and isinstance(out, int) and out >= minimum_out
    ):
        what = "num_actions" if minimum_out == 2 else "act_dim"
        raise ValueError(
            f"obs_dim must be >= 1 and {what} >= {minimum_out}, got {obs_dim} and {out}"
        )
    if any(not isinstance(h, int) or h < 1 for h in hidden):
        raise ValueError(f"hidden sizes must be positive integers, got {tuple(hidden)}")
