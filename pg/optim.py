"""The optimisers a trainer can be asked for by name, all from `torch.optim`.

- `sgd`: plain gradient descent, the article's "new bias = bias - learning rate * derivative".
- `adam`: SGD with per-parameter step sizes from running gradient moments (Kingma & Ba 2015).
- `rprop`: steps by the *sign* of the gradient with a step size that grows while the sign holds
  and halves when it flips (Riedmiller & Braun 1993). Full-batch only. It is the supervised
  default because squared error on a saturated sigmoid has a gradient that shrinks exponentially
  towards the optimum, which stalls any method whose step is proportional to the gradient.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch

__all__ = ["OPTIMIZERS", "make_optimizer"]

OPTIMIZERS = {
    "sgd": torch.optim.SGD,
    "adam": torch.optim.Adam,
    "rprop": torch.optim.Rprop,
}


def make_optimizer(
    name: str, params: Iterable[torch.nn.Parameter], lr: float
) -> torch.optim.Optimizer:
    """Build the optimiser `name` over `params`; only parameters that require grad are passed."""
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; choose from {', '.join(OPTIMIZERS)}")
    trainable = [p for p in params if p.requires_grad]
    if not trainable:
        raise ValueError("the policy has no parameter that requires grad: nothing to train")
    return OPTIMIZERS[name](trainable, lr=lr)
