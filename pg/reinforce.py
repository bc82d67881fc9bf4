"""REINFORCE: training the same policy when the ideal outputs are unknown (Williams, 1992).

No labels here, only rewards. One update, `reinforce_step`, in the textbook's order:

    hunger = env.sample_hunger(N, generator)            # (N,) hunger ~ U[0, 1]
    dist   = policy.distribution(hunger)                # Bernoulli over {0: Place A, 1: Place B}
    action = sample_actions(dist, generator)            # (N,) the guess: "this was the right one"
    reward = env.reward(hunger, action, generator)      # (N,) +1 if it suited the hunger, else -1
    loss   = reinforce_loss(dist.log_prob(action), reward, baseline)   # -mean(reward * log p)
    optimizer.zero_grad(); loss.backward(); optimizer.step()   # a noisy step up the expected J

with, between `backward` and `step`, the gradients averaged over torchrun's processes, the check
for NaN and infinity, and the logging point. `train_reinforce` sets up and repeats it.

The gradient of that loss is, on average, exactly -dJ/dθ (tests check it against the closed form
in `pg.exact`), so descending it climbs J. For the hunger policy with weight 20 the best bias is
-10, the same bias that supervised training finds from labels.

Defaults: plain SGD at lr 10 on batches of 8192. J is a gentle slope (|dJ/db| <= 0.1 per unit of
bias), so a unit step needs a learning rate near 10, and averaging 8192 guesses per step keeps
the noise of each step small. `--batch-size 1 --lr 1` is the article's own procedure.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import Tensor

from pg import figures
from pg.env import HungerBandit
from pg.losses import MeanBaseline, reinforce_loss
from pg.optim import make_optimizer
from pg.policy import Policy, evaluating, sample_actions, trained_bias
from pg.run import Run, RunResult
from pg.run.checkpoint import Checkpoint, check_call, saved_settings
from pg.run.logger import parameter_scalars
from pg.run.parallel import average_gradients
from pg.run.settings import (
    RunSettings,
    check_choice,
    check_int,
    check_optimizer,
    require,
    resolve,
    setting,
)
from pg.run.stopping import GracefulStop

__all__ = [
    "ReinforceConfig",
    "ReinforceResult",
    "reinforce_step",
    "single_sample_gradients",
    "train_reinforce",
]

PROBE_HUNGER = (0.0, 0.1, 0.9, 1.0)  # the article's hunger values: p(B) is logged at each
MAX_BATCH = 2**27  # 134 million rounds: about 3 GB of tensors a step, more than any use here needs
TAIL = 0.2  # the result's average reward is over the last 20% of steps
REWARD_LINES = ["reward/expected", "reward/optimal", "reward/average"]
GUESSES = 2000  # single-sample gradient estimates per bias in the figure


@dataclass
class ReinforceConfig(RunSettings):
    """Settings of `train_reinforce` and of `scripts/train_reinforce.py` (as --kebab-case flags)."""

    steps: int = setting(300, "optimiser steps in all (a resumed run continues up to this total)")
    batch_size: int = setting(
        8192, "rounds (hunger, action, reward) sampled per step; 1 is the article's procedure"
    )
    optimizer: str = setting(
        "sgd",
        "sgd is the article's update; rprop needs full-batch gradients",
        choices=("sgd", "adam"),
    )
    lr: float = setting(10.0, "learning rate")
    baseline: str = setting(
        "none",
        "subtract a running mean of earlier batches' rewards from each reward",
        choices=("none", "mean"),
    )
    figure: bool = setting(
        True,
        "save the reward-against-bias figure in the run folder at the end (about 1 s of "
        "matplotlib on a small machine)",
    )

    def __post_init__(self):
        super().__post_init__()
        check_int("steps", self.steps, 1)
        check_int("batch_size", self.batch_size, 1, MAX_BATCH)
        check_optimizer(self.optimizer, self.lr, ("sgd", "adam"))
        check_choice("baseline", self.baseline, ("none", "mean"))


@dataclass
class ReinforceResult(RunResult):
    """What a REINFORCE run returns; the trained parameters are in the policy itself."""

    average_reward: float  # mean sampled reward over the last 20% of the steps this call ran
    expected_reward: float  # exact J of the trained policy
    start_expected_reward: float  # exact J of the policy this call started from
    optimal_reward: float  # the best J this policy can reach (see HungerBandit.optimal_reward)
    steps: int  # steps completed, counting those before a resume


def reinforce_step(
    policy: Policy,
    optimizer: torch.optim.Optimizer,
    env: HungerBandit,
    generator: torch.Generator,
    run: Run,
    batch_size: int,
    baseline: MeanBaseline | None = None,
) -> Tensor:
    """One REINFORCE update on the hunger bandit: sample rounds, guess that each choice was
    right, weight each guess by its reward, step. Returns the (N,) rewards."""
    dtype = next(policy.parameters()).dtype
    hunger = env.sample_hunger(batch_size, generator, dtype)  # (N,) hunger ~ U[0, 1]
    dist = policy.distribution(hunger, check_values=False)  # Bernoulli: p(B) for each hunger
    action = sample_actions(dist, generator)  # (N,) 0 = Place A, 1 = Place B: the guess
    reward = env.reward(hunger, action, generator, check_values=False)  # (N,) +1 suits, -1 not
    b = baseline.value if baseline is not None else None  # earlier batches' mean reward
    # -mean((reward - b) * log p(action)): guess each choice was right, weight it by its reward
    loss = reinforce_loss(dist.log_prob(action), reward, b, check_values=False)

    optimizer.zero_grad()
    loss.backward()  # on average, -dJ/d(parameters)
    average_gradients(policy)  # under torchrun: the mean over every process's rounds
    run.check_finite(loss)  # a NaN or infinity stops here, before it reaches the parameters
    optimizer.step()
    if run.logging:  # this update's batch, loss and gradient; the parameters and J it left
        run.log(_scalars(policy, env, loss, reward, baseline))
    if baseline is not None:
        baseline.update(reward)  # after the step: a baseline never sees the batch it weights
    return reward


def train_reinforce(
    policy: Policy,
    env: HungerBandit | None = None,
    *,
    config: ReinforceConfig | None = None,
    verbose: bool = False,
    resume: Checkpoint | None = None,
    stop: GracefulStop | None = None,
    **settings,
) -> ReinforceResult:
    """Train `policy` in place on the hunger bandit with REINFORCE; no labels are used.

    Settings are the fields of `ReinforceConfig`, as keyword arguments or a `config`; `env`
    defaults to `HungerBandit()`; `resume` (a checkpoint) continues that run exactly, with its own
    settings; `stop` (a `GracefulStop`) ends training after the current step on a signal. Bad
    input raises before any training; `NonFiniteError` stops it at the first NaN or infinity."""
    check_call("reinforce", policy, resume, stop)
    cfg = resolve(ReinforceConfig, config, settings, "train_reinforce", saved_settings(resume))
    env = HungerBandit() if env is None else env
    require(isinstance(env, HungerBandit), f"env must be a pg.HungerBandit, got {env!r}")
    env.check_fits(policy)
    optimizer = make_optimizer(cfg.optimizer, policy.parameters(), cfg.lr)
    baseline = MeanBaseline() if cfg.baseline == "mean" else None
    run = Run(
        "reinforce",
        cfg,
        policy,
        optimizer,
        total=cfg.steps,
        resume=resume,
        stop=stop,
        verbose=verbose,
        record={"env": repr(env)},
        rows=cfg.batch_size,
        state={"baseline": baseline} if baseline is not None else {},
        show={"reward": "reward/average"},
    )
    generator = run.generator()
    run.charts({"REINFORCE": {"expected reward J and the best reachable": REWARD_LINES}})
    tail = _Tail(run.start, cfg.steps)  # the result's average reward: the last 20% of the steps
    start = _exact_j(env, policy)  # the policy as given (or resumed): did training improve it?
    with run:
        for step in run.steps():
            reward = reinforce_step(
                policy, optimizer, env, generator, run, cfg.batch_size, baseline
            )
            tail.add(step, reward)
        if cfg.figure and trained_bias(policy) is not None and run.run_dir is not None:
            figure = _reward_curve(env, policy, run.path("policy/bias"), cfg.seed)
            run.log_figure("figures/reward_vs_bias", figure, "reward_vs_bias.png")
    return ReinforceResult(
        average_reward=tail.mean(),
        expected_reward=_exact_j(env, policy),
        start_expected_reward=start,
        optimal_reward=env.optimal_reward(policy),
        steps=run.step,
        **run.outcome(),
    )


def _exact_j(env: HungerBandit, policy: Policy) -> float:
    """The policy's exact expected reward J, in eval mode."""
    with torch.no_grad(), evaluating(policy):
        return env.expected_reward(policy).item()


def _scalars(
    policy: Policy, env: HungerBandit, loss: Tensor, reward: Tensor, baseline: MeanBaseline | None
) -> dict[str, float | Tensor]:
    """What a REINFORCE logging point records, after the optimiser step: the batch's rewards and
    loss, the gradient it stepped on, and the policy it left (exact values in eval mode)."""
    with torch.no_grad(), evaluating(policy):
        p_b = policy(torch.tensor(PROBE_HUNGER, dtype=reward.dtype, device=reward.device))  # (4,)
        values = {
            "loss/reinforce": loss,
            "reward/average": reward.mean(),
            "reward/expected": env.expected_reward(policy),
            "reward/optimal": env.optimal_reward(policy),
            **{f"p_b/hunger_{h:g}": p for h, p in zip(PROBE_HUNGER, p_b)},
            **parameter_scalars(policy),
        }
    if baseline is not None and baseline.value is not None:
        values["reward/baseline"] = baseline.value
    return values


class _Tail:
    """The mean of the batches' average rewards over the last TAIL share of a run's steps,
    summed on the device (no sync per step)."""

    def __init__(self, start: int, steps: int):
        self.first = max(start, steps - max(1, round(TAIL * steps)))
        self.sum: Tensor | float = 0.0
        self.count = 0

    def add(self, step: int, reward: Tensor) -> None:
        if step >= self.first:
            self.sum = self.sum + reward.mean()
            self.count += 1

    def mean(self) -> float:
        return float(self.sum / self.count) if self.count else float("nan")


def single_sample_gradients(
    policy: Policy, env: HungerBandit, n: int, generator: torch.Generator, baseline: float = 0.0
) -> Tensor:
    """(n,) REINFORCE estimates of dJ/d(bias), each from one sampled round, through the real path.

    Each estimate is minus the gradient, with respect to the policy's scalar `bias`, of the
    REINFORCE loss of one round with a constant `baseline`. Their mean estimates dJ/db; their
    spread is the noise of a single guess. All n come from one backward pass: the bias is swapped
    for n copies of itself (`functional_call`), one per round, and since round i's logit depends
    only on row i (the `Policy` contract), copy i's gradient is round i's gradient.
    """
    from torch.func import functional_call

    bias = policy.bias.detach()
    hunger = env.sample_hunger(n, generator, bias.dtype)
    with torch.no_grad():
        action = sample_actions(policy.distribution(hunger), generator)
    reward = env.reward(hunger, action, generator)
    copies = bias.expand(n).clone().requires_grad_()  # (n,) one bias per round
    log_prob = functional_call(_LogProb(policy), {"policy.bias": copies}, (hunger, action))  # (n,)
    (grad,) = torch.autograd.grad(-((reward - baseline) * log_prob).sum(), copies)
    return -grad  # ascent direction: estimates of dJ/db


class _LogProb(torch.nn.Module):
    """log p(action | obs) as a module's forward, so `functional_call` can swap the bias in."""

    def __init__(self, policy: Policy):
        super().__init__()
        self.policy = policy

    def forward(self, obs: Tensor, action: Tensor) -> Tensor:
        return self.policy.distribution(obs).log_prob(action)


def _reward_curve(env: HungerBandit, policy: Policy, logged: list[float], seed: int):
    """J against the bias with its exact derivative, and REINFORCE's guesses of that derivative,
    with the path the bias took (`logged`: where it started and its logged values; then the
    trained one).

    At a few biases, many single-sample estimates are drawn: each is a wild guess (the error bar
    is one standard deviation), yet their mean lands on the exact derivative.
    """
    path = [*logged, policy.bias.item()]
    generator = torch.Generator(device=policy.bias.device).manual_seed(seed)
    lo, hi = min([-20.0, *path]) - 2.0, max([2.0, *path]) + 2.0
    probe = copy.deepcopy(policy)  # the bias is swapped here, never on the trained policy
    biases = torch.linspace(lo, hi, 161, dtype=torch.float64).tolist()
    curve, slope = [], []
    for b in biases:
        with torch.no_grad():
            probe.bias.fill_(b)
        curve.append(env.expected_reward(probe).item())
        slope.append(env.expected_reward_grad_bias(probe).item())
    marks = sorted({round(lo + k * (hi - lo) / 8, 6) for k in range(1, 8)} | {path[-1]})
    guesses = []
    for b in marks:
        with torch.no_grad():
            probe.bias.fill_(b)
        g = single_sample_gradients(probe, env, GUESSES, generator)
        guesses.append((b, g.mean().item(), g.std().item(), g.std().item() / GUESSES**0.5))
    return figures.reward_curve(
        biases, curve, slope, path, guesses, samples=GUESSES, optimal=env.optimal_reward(policy)
    )
