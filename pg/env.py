"""The hunger bandit: a one-step environment in which the right answer is never told.

Each round, a hunger value arrives, hunger ~ Uniform[0, 1]; the policy picks Place A (action 0,
small portions) or Place B (action 1, large portions); the environment answers with a reward:
`reward_good` when the choice suits the hunger (B when hunger > threshold, A otherwise),
`reward_bad` when it does not. Defaults: threshold 0.5, +1 / -1 (the video's +2 / -2 only scales
the step).

With `stochastic_portions`, a place does not always serve its usual portion: Place A serves a
large order with probability `p_large_a` (0.15), Place B with `p_large_b` (0.80), and the reward
follows the portion actually served (large suits the hungry). Rewards get noisy; the best policy
stays the same.

Everything is batched and torch-native: a batch of N rounds is a few tensor operations, and every
random draw comes from an explicit `torch.Generator`, so runs and tests are reproducible.
The exact expected reward J of a policy, its derivative with respect to the bias, and the best
bias come from `pg.exact`; the methods here tie them to this environment's settings.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import torch
from torch import Tensor

from pg import exact
from pg.policy import HungerPolicy, Policy
from pg.run.settings import UsageError, check_same_batch, require

__all__ = ["HungerBandit", "MAX_REWARD"]

MAX_REWARD = 1e30  # so that sums of rewards over a batch of millions stay finite in float32


@dataclass(frozen=True)
class HungerBandit:
    """The environment's settings, checked on creation; its methods sample and reward batches."""

    threshold: float = 0.5
    reward_good: float = 1.0
    reward_bad: float = -1.0
    stochastic_portions: bool = False
    p_large_a: float = 0.15
    p_large_b: float = 0.80

    def __post_init__(self):
        for name in ("threshold", "reward_good", "reward_bad", "p_large_a", "p_large_b"):
            value = getattr(self, name)
            require(
                isinstance(value, (int, float))
                and not isinstance(value, bool)
                and math.isfinite(value),
                f"{name} must be a finite number, got {value!r}",
            )
        require(0.0 <= self.threshold <= 1.0, f"threshold must be in [0, 1], got {self.threshold}")
        require(
            self.reward_good > self.reward_bad,
            f"reward_good must be greater than reward_bad, got {self.reward_good} <= "
            f"{self.reward_bad}",
        )
        for name in ("reward_good", "reward_bad"):
            value = getattr(self, name)
            require(abs(value) <= MAX_REWARD, f"{name} must be within ±{MAX_REWARD:g}, got {value}")
        for name in ("p_large_a", "p_large_b"):
            value = getattr(self, name)
            require(0.0 <= value <= 1.0, f"{name} must be a probability in [0, 1], got {value}")

    @property
    def large_portion_probs(self) -> tuple[float, float]:
        """P(large portion served) at Place A and at Place B: (0, 1) unless portions vary."""
        return (self.p_large_a, self.p_large_b) if self.stochastic_portions else (0.0, 1.0)

    @property
    def task(self) -> dict[str, float]:
        """The numbers `pg.exact` needs: threshold, rewards, P(large portion) at A and at B."""
        q_a, q_b = self.large_portion_probs
        return {
            "threshold": self.threshold,
            "reward_good": self.reward_good,
            "reward_bad": self.reward_bad,
            "q_a": q_a,
            "q_b": q_b,
        }

    def check_fits(self, policy: Policy) -> None:
        """The policy must choose between the two places: two actions, (N,) or (N, 2) logits."""
        actions = getattr(policy, "num_actions", None)
        require(
            actions == 2,
            "the hunger bandit has two actions (Place A, Place B): the policy must give 2, got "
            f"{actions}",
        )

    def sample_hunger(
        self, n: int, generator: torch.Generator, dtype: torch.dtype = torch.float32
    ) -> Tensor:
        """(n,) hunger values, Uniform[0, 1), on the generator's device."""
        if not (isinstance(n, int) and not isinstance(n, bool) and n >= 1):
            raise UsageError(f"n must be an integer >= 1, got {n!r}")
        return torch.rand(n, generator=generator, device=generator.device, dtype=dtype)

    def reward(
        self,
        hunger: Tensor,
        action: Tensor,
        generator: torch.Generator | None = None,
        *,
        check_values: bool = True,
    ) -> Tensor:
        """(N,) rewards for (N,) hunger values and (N,) actions (0 = Place A, 1 = Place B).

        Deterministic portions need no generator; stochastic portions draw from `generator`.
        `check_values=False` skips the scan for non-finite hunger and actions other than 0 and 1
        (the trainers skip it for what they generated); shapes and devices are always checked.
        """
        # plain ifs, not require(): this runs every training step, and an f-string is built eagerly
        if not (
            isinstance(hunger, Tensor) and isinstance(action, Tensor) and hunger.is_floating_point()
        ):
            raise UsageError("hunger must be a floating-point tensor and action a tensor")
        check_same_batch("hunger", hunger, "action", action)
        if check_values:
            require(
                bool(torch.isfinite(hunger).all()),
                "hunger must be finite, got NaN or infinite values",
            )
            require(
                bool(((action == 0) | (action == 1)).all()),
                "action must be 0 (Place A) or 1 (Place B)",
            )
        hungry = hunger > self.threshold  # (N,) bool: large portions suit
        went_b = action.bool()  # (N,) True for Place B (1); a cast, cheaper than comparing
        if self.stochastic_portions:
            require(
                generator is not None, "stochastic portions need a torch.Generator to draw from"
            )
            q_a, q_b = _pair(self.p_large_a, self.p_large_b, hunger.dtype, hunger.device)
            p_large = torch.lerp(
                q_a, q_b, went_b.to(hunger.dtype)
            )  # (N,) P(large portion) of each place
            large = (
                torch.rand(
                    hunger.shape, generator=generator, device=hunger.device, dtype=hunger.dtype
                )
                < p_large
            )
        else:
            large = went_b
        suits = (large == hungry).to(hunger.dtype)  # (N,) 1.0 where the portion suits the hunger
        # lerp is exact at its ends (bad + (good - bad) * 1 is not) and ~7x faster than torch.where
        bad, good = _pair(self.reward_bad, self.reward_good, hunger.dtype, hunger.device)
        return torch.lerp(bad, good, suits)

    def ideal_p_b(self, hunger: Tensor) -> Tensor:
        """(N,) the ideal output for each hunger value: 1.0 where Place B earns more on average.

        These are the labels supervised learning needs and REINFORCE never sees: with the usual
        portions, 1 above the threshold and 0 at or below it.
        """
        q_a, q_b = self.large_portion_probs
        hungry = hunger > self.threshold
        return (hungry == (q_b > q_a)).to(hunger.dtype)

    def expected_reward(self, policy: Policy) -> Tensor:
        """Exact J: the reward averaged over hunger ~ U[0, 1], actions, portions (0-dim, float64).


        Closed form for `HungerPolicy` itself (affine logits); Gauss-Legendre quadrature over hunger
        for any other policy, differentiable with respect to its parameters.
        """
        if _is_affine(policy):
            j, _ = exact.expected_reward_affine(
                policy.weight.item(), policy.bias.item(), **self.task
            )
            return torch.tensor(j, dtype=torch.float64)
        return exact.expected_reward_quadrature(policy, next(policy.parameters()), **self.task)

    def expected_reward_grad_bias(self, policy: Policy) -> Tensor:
        """Exact dJ/d(bias) at the policy's parameters (0-dim, float64)."""
        if _is_affine(policy):
            _, slope = exact.expected_reward_affine(
                policy.weight.item(), policy.bias.item(), **self.task
            )
            return torch.tensor(slope, dtype=torch.float64)
        bias = getattr(policy, "bias", None)
        require(
            isinstance(bias, torch.nn.Parameter) and bias.ndim == 0,
            "the policy has no scalar `bias` parameter",
        )
        with torch.enable_grad():
            j = exact.expected_reward_quadrature(policy, next(policy.parameters()), **self.task)
            (grad,) = torch.autograd.grad(j, bias, allow_unused=True)
        if grad is None:  # logits that ignore the bias: J does not depend on it
            return torch.zeros((), dtype=torch.float64)
        return grad.to(torch.float64)

    def optimal_bias(self, weight: float = 20.0) -> float:
        """The bias that maximises J for `HungerPolicy(weight)`: -10 for the defaults."""
        return exact.optimal_bias(weight, **self.task)

    def optimal_reward(self, policy: Policy) -> float:
        """The best J this policy can reach by training: over the bias alone when only the bias is
        trained, otherwise over all policies (the threshold policy)."""
        if _is_affine(policy) and not policy.weight.requires_grad:
            weight = policy.weight.item()
            # an infinite best bias (threshold 0 or 1: always B, or always A) is reached in the
            # limit; far enough out every sigmoid has saturated, and J there is its value
            far = abs(weight) + 60.0
            bias = min(max(self.optimal_bias(weight), -far), far)
            return float(exact.expected_reward_affine(weight, bias, **self.task)[0])
        return exact.best_expected_reward(**self.task)


@functools.lru_cache(maxsize=32)
def _pair(
    low: float, high: float, dtype: torch.dtype, device: torch.device
) -> tuple[Tensor, Tensor]:
    """Two 0-dim tensors, made once per dtype and device rather than at every step."""
    return torch.tensor(low, dtype=dtype, device=device), torch.tensor(
        high, dtype=dtype, device=device
    )


def _is_affine(policy: Policy) -> bool:
    """True for HungerPolicy and subclasses that keep its logits: J has a closed form there."""
    return isinstance(policy, HungerPolicy) and type(policy).logits is HungerPolicy.logits
