"""A bigger network through the one hook: `MLPPolicy`, the worked example of subclassing `Policy`.

Everything a trainer needs (probabilities, the distribution, sampling, shape checks) comes from
`Policy`; a network only says how observations become logits:

    class MLPPolicy(Policy):
        def logits(self, obs):              # (N, obs_dim) -> (N,) for two actions, (N, K) for K
            out = self.net(obs)
            return out.squeeze(-1) if self.num_actions == 2 else out

`mlp(sizes)` builds the stack of layers; it is the only helper, no registry, no framework.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from pg.policy import Policy

__all__ = ["ACTIVATIONS", "MLPPolicy", "mlp"]

ACTIVATIONS: dict[str, type[nn.Module]] = {"tanh": nn.Tanh, "relu": nn.ReLU, "gelu": nn.GELU, "elu": nn.ELU}


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
        obs_dim: int = 1,
        hidden: Sequence[int] = (64, 64),
        num_actions: int = 2,
        activation: str | type[nn.Module] = "tanh",
    ):
        super().__init__()
        if isinstance(activation, str):
            if activation not in ACTIVATIONS:
                raise ValueError(f"activation must be one of {', '.join(ACTIVATIONS)} or an nn.Module class, got {activation!r}")
            activation = ACTIVATIONS[activation]
        if not (isinstance(obs_dim, int) and obs_dim >= 1 and isinstance(num_actions, int) and num_actions >= 2):
            raise ValueError(f"obs_dim must be >= 1 and num_actions >= 2, got {obs_dim} and {num_actions}")
        if any(not isinstance(h, int) or h < 1 for h in hidden):
            raise ValueError(f"hidden sizes must be positive integers, got {tuple(hidden)}")
        self.obs_dim = obs_dim
        self.num_actions = num_actions
        self.net = mlp([obs_dim, *hidden, 1 if num_actions == 2 else num_actions], activation)

    def logits(self, obs: Tensor) -> Tensor:
        out = self.net(obs)  # (N, 1) or (N, K)
        return out.squeeze(-1) if self.num_actions == 2 else out
