"""The article's worked example, replayed through the real REINFORCE code and checked by hand.

At hunger 0 (so the weight does not matter), starting from bias 0, with learning rate 1 and the
uniform draws u = 0.2 then u = 0.9 (u < p(A) -> Place A):

    step 1: p(B) = 0.5,      u = 0.2 -> Place A, reward +1, derivative  0.5,       new bias -0.5
    step 2: p(B) = 0.377541, u = 0.9 -> Place B, reward -1, derivative -0.622459, new bias -1.122459

"Derivative" is d(-log p(action))/d(bias), the cross-entropy derivative if the sampled action had
been the right one: p(B) after Place A, -(1 - p(B)) after Place B. Multiplied by the reward, it
is the gradient of `reinforce_loss`, and the bias moves by -lr times that. Each number below is
computed with autograd on the same functions the trainer uses; the hand formula sits beside it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from pg.env import HungerBandit
from pg.losses import reinforce_loss
from pg.policy import HungerPolicy, actions_from_uniform

__all__ = ["WalkStep", "walkthrough", "format_walkthrough"]


@dataclass
class WalkStep:
    bias: float  # before the step
    p_b: float
    u: float
    action: str  # "A" or "B"
    reward: float
    derivative: float  # d(-log p(action))/d(bias), by autograd
    derivative_by_hand: float  # p(B) after A, -(1 - p(B)) after B
    derivative_x_reward: float  # d reinforce_loss / d(bias), by autograd
    step: float  # -lr * derivative_x_reward
    new_bias: float


def walkthrough(
    draws: Sequence[float] = (0.2, 0.9), lr: float = 1.0, hunger: float = 0.0
) -> list[WalkStep]:
    """Replay one REINFORCE update per uniform draw at a fixed hunger, from a fresh HungerPolicy."""
    policy = HungerPolicy(dtype=torch.float64)
    env = HungerBandit()
    optimizer = torch.optim.SGD([policy.bias], lr=lr)
    obs = torch.tensor([hunger], dtype=torch.float64)
    steps = []
    for u in draws:
        bias = policy.bias.item()
        dist = policy.distribution(obs)
        action = actions_from_uniform(dist, torch.tensor([u], dtype=torch.float64))  # (1,)
        reward = env.reward(obs, action)  # (1,)
        log_prob = dist.log_prob(action)  # (1,)
        (derivative,) = torch.autograd.grad(-log_prob.sum(), policy.bias, retain_graph=True)
        optimizer.zero_grad()
        reinforce_loss(log_prob, reward).backward()
        gradient = policy.bias.grad.item()
        optimizer.step()
        p_b = dist.probs.item()
        went_b = action.item() == 1.0
        steps.append(
            WalkStep(
                bias=bias,
                p_b=p_b,
                u=u,
                action="B" if went_b else "A",
                reward=reward.item(),
                derivative=derivative.item(),
                derivative_by_hand=-(1 - p_b) if went_b else p_b,
                derivative_x_reward=gradient,
                step=-lr * gradient,
                new_bias=policy.bias.item(),
            )
        )
    return steps


def format_walkthrough(steps: Sequence[WalkStep]) -> str:
    """The walkthrough as a table, one row per step."""
    header = (
        f"{'step':>4}  {'bias':>9}  {'p(B)':>8}  {'u':>4}  {'action':>6}  {'reward':>6}  "
        f"{'derivative':>10}  {'by hand':>9}  {'x reward':>9}  {'step':>9}  {'new bias':>9}"
    )
    rows = [
        f"{i:>4}  {s.bias:>9.6f}  {s.p_b:>8.6f}  {s.u:>4.2g}  {s.action:>6}  {s.reward:>+6.0f}  "
        f"{s.derivative:>10.6f}  {s.derivative_by_hand:>9.6f}  {s.derivative_x_reward:>9.6f}  "
        f"{s.step:>+9.6f}  {s.new_bias:>9.6f}"
        for i, s in enumerate(steps, start=1)
    ]
    legend = (
        "derivative = d(-log p(action))/d(bias) by autograd; by hand: p(B) after A, -(1 "
        "- p(B)) after B.\n"
        "x reward   = the gradient of reinforce_loss = derivative x reward; step = -lr x that."
    )
    return "\n".join([header, *rows, "", legend])
