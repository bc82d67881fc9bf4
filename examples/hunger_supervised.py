"""Supervised learning of the hunger policy, in one file: known labels, squared error, autograd.

A policy reads one number, hunger in [0, 1], and outputs p(B), the probability of going to
Place B (large portions) rather than Place A (small portions):

    p(B) = sigmoid(weight * hunger + bias)        weight = 20, only the bias is trained

For four hunger values the ideal output is known (the article's table), so the error of the
network has a derivative with respect to the bias, and the bias can follow it downhill. This is
what `pg.train_supervised` does with its defaults, without the run machinery (logging,
checkpoints, signals), and it prints the same final bias, -10.000033.

    python examples/hunger_supervised.py
"""

import torch
import torch.nn.functional as F

torch.set_num_threads(1)  # tiny tensors: one thread is the fastest

# The article's table: hunger 0.0 and 0.1 should give Place A (p(B) = 0), 0.9 and 1.0 Place B.
HUNGER = torch.tensor([0.0, 1.0, 0.1, 0.9])
IDEAL_P_B = torch.tensor([0.0, 1.0, 0.0, 1.0])


class HungerPolicy(torch.nn.Module):
    """p(B) = sigmoid(weight * hunger + bias), with a fixed weight and a trained bias."""

    def __init__(self, weight: float = 20.0, bias: float = 0.0):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.tensor(weight), requires_grad=False)
        self.bias = torch.nn.Parameter(torch.tensor(bias))

    def forward(self, hunger: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.weight * hunger + self.bias)  # (N,) p(B)


def error_and_derivative(bias: float) -> tuple[float, float, float]:
    """The mean squared error at `bias`, its derivative by autograd, and the same by hand."""
    policy = HungerPolicy(bias=bias)
    p = policy(HUNGER)
    mse = F.mse_loss(p, IDEAL_P_B)  # (1/N) * sum((p - y)^2)
    mse.backward()
    by_hand = 2 / len(p) * ((p - IDEAL_P_B) * p * (1 - p)).sum()  # since dp/db = p (1 - p)
    return mse.item(), policy.bias.grad.item(), by_hand.item()


def train(steps: int = 200, lr: float = 0.1) -> HungerPolicy:
    """Minimise the error with Rprop, which steps by the derivative's sign: beyond bias -6 the
    sigmoid saturates and the derivative shrinks like exp(2 * bias), so a step proportional to it
    (plain SGD) crawls, while a step by its sign crosses the flat region."""
    policy = HungerPolicy()
    optimizer = torch.optim.Rprop([policy.bias], lr=lr)
    for _ in range(steps):
        p_b = policy(HUNGER)  # (4,) the network's outputs
        loss = F.mse_loss(p_b, IDEAL_P_B)  # how wrong they are
        optimizer.zero_grad()
        loss.backward()  # policy.bias.grad = dMSE/d(bias)
        optimizer.step()  # a negative derivative moves the bias right, a positive one left
    return policy


def main() -> None:
    print("bias   MSE        dMSE/db by autograd  by hand")
    for bias in (0.0, -2.0, -6.0, -10.0):
        mse, autograd, by_hand = error_and_derivative(bias)
        print(f"{bias:<6g} {mse:<10.4g} {autograd:<20.6g} {by_hand:.6g}")

    policy = train()
    with torch.no_grad():
        p_b = policy(HUNGER)
        mse = F.mse_loss(p_b, IDEAL_P_B).item()
    print(f"final bias {policy.bias.item():.6f}   weight {policy.weight.item():g}   MSE {mse:.6g}")
    print("hunger   p(B)      target")
    for h, p, y in zip(HUNGER.tolist(), p_b.tolist(), IDEAL_P_B.tolist()):
        print(f"{h:<8.3g} {p:<9.6f} {y:g}")


if __name__ == "__main__":
    main()
