"""Supervised training: known labels, mean squared error, autograd.

This is the article's review of backpropagation. The ideal output for each hunger value is known
(`pg.data`), so the error of the network can be measured, its derivative with respect to the bias
taken, and the bias moved against that derivative. One update, `supervised_step`:

    p_b  = policy(hunger)                        # (N,) p(B)
    loss = mean((p_b - target)^2)                # MSE
    optimizer.zero_grad(); loss.backward()       # dMSE/db = (2/N) * sum((p - y) * p * (1 - p))
    optimizer.step()                             # b <- b - lr * dMSE/db  (for plain SGD)

With weight 20 the exact minimiser is b = -10. The error curve is nearly flat beyond b = -6
(sigmoid saturation: the gradient shrinks like exp(2b)), so plain SGD at lr = 1 stalls far from
it (the README's "flat region"). The default optimiser, Rprop, steps by the sign of the gradient
and reaches -10 in a few dozen steps.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from pg import figures
from pg.optim import OPTIMIZERS, make_optimizer
from pg.policy import Policy, evaluating, trained_bias
from pg.run import Run, RunResult
from pg.run.checkpoint import Checkpoint, check_call, saved_settings
from pg.run.logger import parameter_scalars
from pg.run.parallel import average_gradients
from pg.run.settings import RunSettings, check_int, check_optimizer, require, resolve, setting
from pg.run.stopping import GracefulStop

__all__ = ["SupervisedConfig", "SupervisedResult", "supervised_step", "train_supervised"]

MAX_PROBES = 16  # p(B) is logged at up to this many distinct training hunger values


@dataclass
class SupervisedConfig(RunSettings):
    """Settings of `train_supervised` and of `scripts/train_supervised.py` (as --kebab-flags)."""

    steps: int = setting(
        200,
        "optimiser steps in all, each on the whole data set (a resumed run continues up "
        "to this total)",
    )
    optimizer: str = setting(
        "rprop",
        "rprop steps by the gradient's sign, so it crosses the flat region",
        choices=tuple(OPTIMIZERS),
    )
    lr: float = setting(0.1, "learning rate; for rprop, the initial step size")
    figure: bool = setting(
        True,
        "save the error-against-bias figure in the run folder at the end (about 1 s of "
        "matplotlib on a small machine)",
    )

    def __post_init__(self):
        super().__post_init__()
        check_int("steps", self.steps, 1)
        check_optimizer(self.optimizer, self.lr, tuple(OPTIMIZERS))


@dataclass
class SupervisedResult(RunResult):
    """What a supervised run returns; the trained parameters are in the policy itself."""

    loss: float  # MSE after the last step
    steps: int  # steps completed, counting those before a resume


def supervised_step(
    policy: Policy,
    optimizer: torch.optim.Optimizer,
    hunger: Tensor,
    target: Tensor,
    run: Run,
    probes: dict[str, int],
) -> Tensor:
    """One supervised update: the error against the labels, its derivative, one optimiser step.

    `probes` names the examples whose p(B) is logged. Returns the loss before the step.
    """
    p_b = policy(hunger, check_values=False)  # (N,) p(B); the data were checked once, up front
    loss = F.mse_loss(p_b, target)  # mean over the N examples

    optimizer.zero_grad()
    loss.backward()  # bias.grad = dMSE/db = (2/N) * sum((p - y) * p * (1 - p))
    average_gradients(policy)  # under torchrun: the mean over the processes (all hold the data)
    run.check_finite(loss)  # a NaN or infinity stops here, before it reaches the parameters
    optimizer.step()  # SGD: bias <- bias - lr * dMSE/db; Rprop: a step by its sign
    if run.logging:  # the loss and gradient of this update, the parameters it left
        run.log({"loss/mse": loss, **_p_b_at(policy, hunger, probes), **parameter_scalars(policy)})
    return loss


def train_supervised(
    policy: Policy,
    hunger: Tensor,
    target: Tensor,
    *,
    config: SupervisedConfig | None = None,
    verbose: bool = False,
    resume: Checkpoint | None = None,
    stop: GracefulStop | None = None,
    **settings,
) -> SupervisedResult:
    """Train `policy` in place on labelled data (hunger -> p(B)) by minimising the MSE.

    Settings are the fields of `SupervisedConfig`, as keyword arguments or a `config`; `verbose`
    prints the run folder and progress. `resume` (a checkpoint) continues that run exactly, with its
    own settings, up to `steps` in all; `stop` (a `GracefulStop`) ends training after the current
    step when a signal arrives. Raises `UsageError` (a ValueError) for a bad setting, bad data or
    a bad run folder before any training, and `NonFiniteError` at the first NaN or infinity.
    """
    check_call("supervised", policy, resume, stop)
    cfg = resolve(SupervisedConfig, config, settings, "train_supervised", saved_settings(resume))
    hunger, target = _check_data(policy, hunger, target)
    optimizer = make_optimizer(cfg.optimizer, policy.parameters(), cfg.lr)
    probes = _probe_indices(hunger)
    run = Run(
        "supervised",
        cfg,
        policy,
        optimizer,
        total=cfg.steps,
        resume=resume,
        stop=stop,
        verbose=verbose,
        record={"examples": len(target)},
        rows=len(target),
        show={"loss": "loss/mse"},
        state={"data": DataFingerprint(hunger, target)},  # a resume must train on the same data
    )
    with run:
        for _ in run.steps():
            supervised_step(policy, optimizer, hunger, target, run, probes)
        with torch.no_grad(), evaluating(policy):
            final_loss = F.mse_loss(policy(hunger), target).item()
        if cfg.figure and trained_bias(policy) is not None and run.run_dir is not None:
            figure = _mse_curve(policy, hunger, target, run.path("policy/bias"))
            run.log_figure("figures/mse_vs_bias", figure, "mse_vs_bias.png")
    return SupervisedResult(loss=final_loss, steps=run.step, **run.outcome())


class DataFingerprint:
    """The SHA-256 of the training data, saved in checkpoints: a resume with other data (a CSV
    file edited since, say) is refused instead of silently training on something else."""

    def __init__(self, hunger: Tensor, target: Tensor):
        data = torch.cat([hunger.reshape(-1), target]).to("cpu", torch.float64)
        self.sha256 = hashlib.sha256(data.numpy().tobytes()).hexdigest()

    def state_dict(self) -> dict[str, str]:
        return {"sha256": self.sha256}

    def load_state_dict(self, state: dict[str, str]) -> None:
        require(
            state["sha256"] == self.sha256,
            "the training data differ from the data the run trained on (edited since?)",
        )


def _check_data(policy: Policy, hunger: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
    """Labels must be (N,) probabilities matching N observations; cast to the policy's dtype."""
    for name, t in (("hunger", hunger), ("target", target)):
        require(
            isinstance(t, Tensor) and t.is_floating_point(),
            f"{name} must be a floating-point tensor",
        )
    require(
        target.ndim == 1 and len(target) == len(hunger) > 0,
        f"target must have shape (N,) for hunger of shape (N,) or (N, d), "
        f"got hunger {tuple(hunger.shape)} and target {tuple(target.shape)}",
    )
    require(
        policy.num_actions == 2,
        "supervised training fits p(B): it needs a policy of two actions",
    )
    require(bool(torch.isfinite(hunger).all()), "hunger must be finite, got NaN or infinite values")
    require(
        bool(((target >= 0) & (target <= 1)).all()), "target values must be probabilities in [0, 1]"
    )
    params = list(policy.parameters())
    require(bool(params), "the policy has no parameters: there is nothing to train")
    like = params[0]
    require(
        like.dtype in (torch.float32, torch.float64),
        f"supervised training needs a float32 or float64 policy, got {like.dtype}: in lower "
        "precision the MSE near its minimum rounds to less than its true value",
    )
    # detached: the caller's tensors never receive gradients, even if they require them
    return hunger.detach().to(like), target.detach().to(like)


def _probe_indices(hunger: Tensor) -> dict[str, int]:
    """Tag -> index of the first example of each distinct hunger value (1-wide obs only)."""
    if hunger.ndim == 2 and hunger.shape[1] != 1:
        return {}
    firsts: dict[float, int] = {}
    for i, h in enumerate(hunger.reshape(-1).tolist()):
        firsts.setdefault(h, i)
    values = sorted(firsts)
    if len(values) > MAX_PROBES:
        values = [
            values[round(k * (len(values) - 1) / (MAX_PROBES - 1))] for k in range(MAX_PROBES)
        ]
    return {f"p_b/hunger_{h:g}": firsts[h] for h in values}


def _p_b_at(policy: Policy, hunger: Tensor, probes: dict[str, int]) -> dict[str, Tensor]:
    """p(B) now, at the probed examples (eval mode, no gradients): what a logging point shows."""
    if not probes:
        return {}
    with torch.no_grad(), evaluating(policy):
        p_b = policy(hunger[list(probes.values())], check_values=False)
    return dict(zip(probes, p_b))


CURVE_ELEMENTS = 1 << 22  # (bias, example) pairs the figure's curve evaluates at once


def _mse_curve(policy: Policy, hunger: Tensor, target: Tensor, logged: list[float]):
    """The article's graph for this policy: MSE and dMSE/db over a range of biases, and the path
    the bias took (`logged`: where it started and its logged values; then the trained one).

    Every other parameter stays at its trained value; the bias is swapped in through
    `torch.func.functional_call`, so this works for any policy with a scalar `bias`.
    """
    from torch.func import functional_call, grad_and_value, vmap

    path = [b for b in [*logged, policy.bias.item()] if math.isfinite(b)]
    lo, hi = min([-25.0, *path]) - 2.0, max([5.0, *path]) + 2.0
    biases = torch.linspace(lo, hi, 401, dtype=policy.bias.dtype, device=policy.bias.device)

    def mse_at(bias: Tensor) -> Tensor:
        return F.mse_loss(functional_call(policy, {"bias": bias}, (hunger,)), target)

    # the 401 biases in chunks: memory stays about CURVE_ELEMENTS values whatever the data's size
    # (all at once, a 16.7M-row file would ask 27 GB)
    chunk = max(1, CURVE_ELEMENTS // len(hunger))
    with torch.no_grad():
        parts = [vmap(grad_and_value(mse_at))(some) for some in biases.split(chunk)]
    slope, loss = torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])
    return figures.loss_curve(
        biases.tolist(),
        loss.tolist(),
        slope.tolist(),
        path,
        loss_name="MSE",
        title=f"{type(policy).__name__}: error against the bias (other parameters as trained)",
    )
