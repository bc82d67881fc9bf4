"""REINFORCE on the hunger bandit, in one file: no labels, only rewards (Williams, 1992).

The policy is the supervised example's, p(B) = sigmoid(20 * hunger + bias), but nobody says
whether Place A or Place B was right. The environment draws a hunger value, the policy chooses,
and the reward is +1 when the choice suits the hunger (B when hunger > 0.5, A otherwise), -1
when it does not. REINFORCE samples a place, guesses that it was the right one (its loss is the
cross-entropy -log p(action)), and weights that guess by the reward:

    loss = -mean(reward * log p(action))

On average its gradient is exactly -dJ/d(bias), J the expected reward, so descending it climbs J.
This is what `pg.train_reinforce` does with its defaults, without the run machinery, and it
prints the same final bias, -9.959941.

    python examples/hunger_reinforce.py
"""

import math

import torch

torch.set_num_threads(1)  # small tensors: one thread is the fastest

WEIGHT, THRESHOLD = 20.0, 0.5


def expected_reward(bias: float) -> float:
    """Exact J for hunger ~ U[0, 1]: -1 + 2 P(the choice suits), where the integral of p(B) over
    hunger in [lo, hi] is (softplus(w hi + b) - softplus(w lo + b)) / w."""

    def integral(lo: float, hi: float) -> float:
        softplus = lambda x: math.log1p(math.exp(-abs(x))) + max(x, 0.0)  # noqa: E731
        return (softplus(WEIGHT * hi + bias) - softplus(WEIGHT * lo + bias)) / WEIGHT

    p_suits = (THRESHOLD - integral(0.0, THRESHOLD)) + integral(THRESHOLD, 1.0)
    return -1.0 + 2.0 * p_suits


def train(steps: int = 300, batch_size: int = 8192, lr: float = 10.0, seed: int = 0):
    """REINFORCE with plain SGD: J is a gentle slope (|dJ/db| <= 0.1), so a unit step needs a
    learning rate near 10, and a batch of 8192 rounds averages away most of each step's noise.
    Returns the bias and the mean reward of the last 20% of the steps."""
    generator = torch.Generator().manual_seed(seed)  # every random draw comes from here
    bias = torch.nn.Parameter(torch.tensor(0.0))
    optimizer = torch.optim.SGD([bias], lr=lr)
    late_rewards = []
    for step in range(steps):
        hunger = torch.rand(batch_size, generator=generator)  # (N,) hunger ~ U[0, 1]
        logits = WEIGHT * hunger + bias  # (N,) the logit of Place B
        dist = torch.distributions.Bernoulli(logits=logits)  # {0: Place A, 1: Place B}
        # sample the guess: u in [0, p(A)) is Place A, [p(A), 1) is Place B
        u = torch.rand(batch_size, generator=generator)
        action = (u >= torch.sigmoid(-logits.detach())).float()  # (N,)
        suits = (action == 1.0) == (hunger > THRESHOLD)  # B when hungry, A otherwise
        reward = torch.where(suits, 1.0, -1.0)  # (N,) +1 / -1
        loss = -(reward * dist.log_prob(action)).mean()  # guess right, weight by the reward

        optimizer.zero_grad()
        loss.backward()  # bias.grad: after A, p(B) x reward; after B, -(1 - p(B)) x reward
        optimizer.step()
        if step >= steps - round(0.2 * steps):
            late_rewards.append(reward.mean().item())
    return bias.item(), sum(late_rewards) / len(late_rewards)


def main() -> None:
    bias, average = train()
    print(f"final bias {bias:.6f}   weight {WEIGHT:g}   (optimal bias -10.000000)")
    print(
        f"average reward {average:.6f} over the last 20% of steps   "
        f"exact J {expected_reward(bias):.6f}   optimum {expected_reward(-10.0):.6f}"
    )


if __name__ == "__main__":
    main()
