"""Episodic REINFORCE: the loss that moved one bias on the hunger bandit, on Gymnasium episodes.

An action's consequences now unfold over many steps, so each log-probability is weighted by its
discounted reward-to-go instead of one reward. One update, `episodic_step`:

    batch = collect_episodes(envs, policy, generator)       # whole episodes, side by side
    loss  = episodic_loss(policy, batch, gamma=0.99, baseline=value_fn)
            # -(1/N) sum over episodes and steps of gamma^t (G_t - v(s_t)) log p(a_t | s_t)
    optimizer.zero_grad(); loss.backward(); optimizer.step()
    value_step(value_fn, value_optimizer, batch, ...)       # v(s_t) learns G_t, afterwards

`pg.episodes` collects the batch, `pg.losses.episodic_loss` builds the loss. By default each
step is weighted by G_t - v(s_t), v a value function that learns from the same episodes after it
has weighted them (`value_step`): REINFORCE with baseline (Sutton & Barto, section 13.4), an
unbiased estimate of -dJ/dθ with less variance than G_t alone (docs/estimators.md measures both).
Training stops once the mean return of the last 100 episodes reaches the target (by default the
environment's own `spec.reward_threshold`), or when the budget of environment steps is spent.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections import deque
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from pg.episodes import (
    EnvInfo,
    EnvRandomState,
    Episodes,
    check_fits,
    collect_episodes,
    describe_env,
    make_envs,
)
from pg.losses import REDUCTIONS, baseline_values, episodic_loss, reward_to_go, value_loss
from pg.optim import make_optimizer
from pg.policy import Policy, evaluating
from pg.run import Run, RunResult, parallel
from pg.run.checkpoint import Checkpoint, check_call, saved_settings
from pg.run.parallel import average_gradients
from pg.run.settings import (
    MAX_LR,
    RunSettings,
    check_choice,
    check_int,
    check_optimizer,
    check_positive,
    check_sizes,
    parse_sizes,
    require,
    resolve,
    setting,
)
from pg.run.stopping import GracefulStop
from pg.value import ValueMLP

__all__ = [
    "EpisodicConfig",
    "EpisodicResult",
    "episodic_step",
    "parse_target",
    "train_episodic",
    "value_step",
]

SOLVED_WINDOW = 100  # "solved": the mean return of the last 100 finished episodes reaches a target
UPDATE_STEPS = 1_000_000  # environment steps an update may take at least, whatever the budget
COLLAPSED = 0.01  # entropy below this share of its maximum (log K): the policy stopped exploring


def parse_target(text: str) -> float | str | None:
    """`--target-return`: a number, `auto` (the environment's reward threshold) or `none`."""
    if text.strip().lower() in ("auto", "none"):
        return None if text.strip().lower() == "none" else "auto"
    return float(text)


@dataclass
class EpisodicConfig(RunSettings):
    """Settings of `train_episodic` and of `scripts/train_episodic.py` (as --kebab-case flags)."""

    env_id: str = setting(
        "CartPole-v1",
        "Gymnasium id, or module:Id for an env of your own that `module` registers (a module in "
        "the current folder, or installed)",
    )
    total_steps: int = setting(500_000, "budget of environment steps; stops sooner once solved")
    episodes_per_update: int = setting(16, "episodes run side by side (vectorised) for each update")
    optimizer: str = setting("adam", "sgd or adam", choices=("sgd", "adam"))
    lr: float = setting(0.01, "learning rate")
    gamma: float = setting(0.99, "discount of the reward-to-go")
    loss_reduction: str = setting(
        "episode",
        "episode: the textbook estimator (unbiased without --normalize-returns); step: the mean "
        "over steps, biased",
        choices=REDUCTIONS,
    )
    normalize_returns: bool = setting(
        False,
        "standardise the weights over each batch (biased; default: off)",
        negatable=True,
    )
    entropy_coef: float = setting(0.0, "weight of an entropy bonus in the loss (0: none)")
    baseline: str = setting(
        "value",
        "value: learn a state-value baseline v(s) and weight each step by G_t - v(s_t) "
        "(Sutton & Barto 13.4); none: by G_t",
        choices=("none", "value"),
    )
    value_lr: float = setting(3e-3, "learning rate of the value function (Adam)")
    value_hidden: tuple[int, ...] = setting(
        (64, 64), "hidden layer widths of the value function, comma-separated", type=parse_sizes
    )
    value_updates: int = setting(5, "value function steps on each batch")
    target_return: float | str | None = setting(
        "auto",
        "solved once the mean return of the last 100 episodes reaches this; auto: the "
        "environment's reward threshold (none if it has none); none: train the whole budget",
        type=parse_target,
    )
    seed: int = setting(
        1, "seeds the environments, the action sampling and torch (initial weights)"
    )
    log_every: int = setting(1, "write the per-update scalars every N updates")
    save_every: int = setting(
        10, "save a checkpoint every N updates, and always at the end (0: only at the end)"
    )

    def __post_init__(self):
        super().__post_init__()
        require(
            isinstance(self.env_id, str) and self.env_id != "",
            f"env_id must be a Gymnasium id, got {self.env_id!r}",
        )
        check_int("total_steps", self.total_steps, 1)
        check_int("episodes_per_update", self.episodes_per_update, 1, 4096)
        check_optimizer(self.optimizer, self.lr, ("sgd", "adam"))
        check_choice("loss_reduction", self.loss_reduction, REDUCTIONS)
        require(
            isinstance(self.gamma, (int, float)) and 0.0 <= self.gamma <= 1.0,
            f"gamma must be in [0, 1], got {self.gamma!r}",
        )
        require(
            isinstance(self.entropy_coef, (int, float)) and 0.0 <= self.entropy_coef <= 1e6,
            f"entropy_coef must be a number in [0, 1e6], got {self.entropy_coef!r}",
        )
        check_choice("baseline", self.baseline, ("none", "value"))
        check_positive("value_lr", self.value_lr, MAX_LR)
        check_sizes("value_hidden", self.value_hidden)
        check_int("value_updates", self.value_updates, 1, 10_000)
        target = self.target_return
        number = isinstance(target, (int, float)) and not isinstance(target, bool)
        require(
            target in (None, "auto") or (number and math.isfinite(target)),
            f"target_return must be a finite number, auto or none, got {target!r}",
        )


@dataclass
class EpisodicResult(RunResult):
    """What an episodic run returns; the trained parameters are in the policy itself."""

    solved: bool  # the mean return of the last 100 episodes reached the target
    target: float | None  # the target that applied (None: the whole budget was trained)
    target_rule: str  # where that target came from, in words
    episodes: int  # finished episodes used for training
    env_steps: int  # environment steps of those episodes
    seconds: float  # wall time of training (not imports, not figures)
    mean_return: float  # over the last (up to) 100 episodes
    best_mean_return: float  # the best mean over 100 episodes seen after an update
    entropy: float  # mean entropy of the policy over the last batch's steps
    # discrete actions: entropy < 1% of log K while the mean return is short of the target (with
    # none, of the best it reached): the policy stopped exploring before it found what pays
    entropy_collapsed: bool


class RecentReturns:
    """The returns of the last 100 finished episodes: the "solved" criterion, and a count."""

    def __init__(self, target: float | None):
        self.target = target
        self.returns: deque[float] = deque(maxlen=SOLVED_WINDOW)
        self.episodes = 0
        self.best = -math.inf  # the best mean over a full window, after any update

    def add(self, returns: np.ndarray) -> None:
        self.returns.extend(returns.tolist())
        self.episodes += len(returns)
        if len(self.returns) == SOLVED_WINDOW:
            self.best = max(self.best, self.mean)

    @property
    def mean(self) -> float:
        return float(np.mean(self.returns)) if self.returns else math.nan

    @property
    def solved(self) -> bool:
        """The last 100 episodes are in, and their mean return reaches the target."""
        full = len(self.returns) == SOLVED_WINDOW
        return self.target is not None and full and self.mean >= self.target

    def state_dict(self) -> dict[str, Any]:
        return {"returns": list(self.returns), "episodes": self.episodes, "best": self.best}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        returns, episodes = state["returns"], state["episodes"]
        best = state.get("best", -math.inf)  # older checkpoints: from here on
        numbers = all(isinstance(r, (int, float)) and math.isfinite(r) for r in returns)
        require(
            numbers and len(returns) <= SOLVED_WINDOW,
            f"its recent returns are not all finite numbers (at most {SOLVED_WINDOW})",
        )
        count = isinstance(episodes, int) and not isinstance(episodes, bool)
        require(count and episodes >= len(returns), f"its episode count {episodes!r} is not usable")
        # -inf until 100 episodes are in, then a mean of finite returns
        require(
            isinstance(best, float) and best < math.inf, f"its best mean {best!r} is not usable"
        )
        self.returns.extend(float(r) for r in returns)
        self.episodes, self.best = episodes, best


def episodic_step(
    policy: Policy,
    optimizer: torch.optim.Optimizer,
    envs: Any,
    generator: torch.Generator,
    run: Run,
    recent: RecentReturns,
    settings: EpisodicConfig,
    value_fn: nn.Module | None = None,
    value_optimizer: torch.optim.Optimizer | None = None,
) -> Episodes:
    """One episodic REINFORCE update: whole episodes, each log-probability weighted by its
    discounted reward-to-go (less the value baseline, with one), one optimiser step."""
    limit = max(settings.total_steps, UPDATE_STEPS)  # episodes that never end stop there
    batch = collect_episodes(envs, policy, generator, max_steps=limit)  # one from each env
    lengths, returns = parallel.gather_episodes(batch)  # every process's, so all stop together
    recent.add(returns)
    run.advance(int(lengths.sum()), final=recent.solved)  # env steps; once solved, the last
    _log_episodes(run, recent.episodes - len(returns), lengths, returns)
    loss = episodic_loss(
        policy,
        batch,
        gamma=settings.gamma,
        loss_reduction=settings.loss_reduction,
        normalize_returns=settings.normalize_returns,
        entropy_coef=settings.entropy_coef,
        baseline=value_fn,  # b(s_t) from before this batch: G_t - b(s_t), no gradient to b
    )

    optimizer.zero_grad()
    loss.backward()
    average_gradients(policy)  # under torchrun: the mean over every process's episodes
    run.check_finite(loss)  # a NaN or infinity stops here, before it reaches the parameters
    optimizer.step()
    if run.logging:  # the policy this update left; the value function as it weighted the batch
        run.log(_scalars(loss, policy, batch, recent, value_fn, settings.gamma))
    if value_fn is not None:  # only now, after weighting this batch, does the baseline learn it
        value_step(value_fn, value_optimizer, batch, run, settings)
    return batch


def value_step(
    value_fn: nn.Module,
    optimizer: torch.optim.Optimizer,
    batch: Episodes,
    run: Run,
    settings: EpisodicConfig,
) -> None:
    """The value baseline learns from a batch: `value_updates` steps down `value_loss`, the
    regression of v(s_t) on the returns G_t."""
    returns = reward_to_go(batch.reward, batch.done, settings.gamma)  # once, for every step
    for _ in range(settings.value_updates):
        loss = value_loss(value_fn, batch, gamma=settings.gamma, returns=returns)
        optimizer.zero_grad()
        loss.backward()
        average_gradients(value_fn)  # under torchrun: the mean over the processes
        run.check_finite(loss, value_fn)
        optimizer.step()


def train_episodic(
    policy: Policy,
    env: str | Callable[[], Any] | None = None,
    *,
    make_kwargs: dict[str, Any] | None = None,
    config: EpisodicConfig | None = None,
    verbose: bool = False,
    resume: Checkpoint | None = None,
    stop: GracefulStop | None = None,
    **settings,
) -> EpisodicResult:
    """Train `policy` in place with episodic REINFORCE on a Gymnasium environment.

    `env` is a Gymnasium id (default: the `env_id` setting) with `make_kwargs` for
    `gymnasium.make`, or a callable returning a new env. Settings are the fields of
    `EpisodicConfig`, as keyword arguments or a `config`; `baseline` may also be a module of your
    own (observations to values), which learns as the baseline. Stops once solved, when the budget
    is spent, or after the update in progress on a signal to `stop`; `resume` continues a run,
    with its own settings.
    """
    check_call("episodic", policy, resume, stop)
    own = settings.pop("baseline") if isinstance(settings.get("baseline"), nn.Module) else None
    cfg = resolve(EpisodicConfig, config, settings, "train_episodic", saved_settings(resume))
    if own is not None:
        cfg = dataclasses.replace(cfg, baseline="value")  # the user's module learns as one
    cfg, info, envs = _environments(env, make_kwargs, cfg, policy)
    target, rule = _target(cfg.target_return, info)
    optimizer = make_optimizer(cfg.optimizer, policy.parameters(), cfg.lr)
    value_fn, value_optimizer = _value_baseline(cfg, info, own, next(policy.parameters()))
    _try_on_observations(policy, value_fn, info)  # a misfit is refused before the run folder
    _check_memory(cfg, info, [policy, value_fn])
    recent = RecentReturns(target)
    learned = {"value": value_fn, "value_optimizer": value_optimizer} if value_fn else {}
    run = Run(
        "episodic",
        cfg,
        policy,
        optimizer,
        total=cfg.total_steps,
        resume=resume,
        stop=stop,
        verbose=verbose,
        unit="env step",
        record={"env": info.name, "target": rule if target is None else f"{target:g}, {rule}"},
        state={"envs": EnvRandomState(envs), "recent": recent, **learned},
        rows=cfg.episodes_per_update,
        show={"mean return": "charts/mean_return_100"},
        histogram_every=1,  # an update runs whole episodes (~0.2 s); its histograms ~10 ms
    )
    generator = run.generator()
    run.finished = recent.solved  # a resumed run may be solved already
    batch = None
    with closing(envs), run:
        for _ in run.steps():
            batch = episodic_step(
                policy, optimizer, envs, generator, run, recent, cfg, value_fn, value_optimizer
            )
    return _result(run, recent, rule, _entropy(policy, batch), info)


def _environments(
    env: str | Callable[[], Any] | None,
    make_kwargs: dict[str, Any] | None,
    cfg: EpisodicConfig,
    policy: Policy,
) -> tuple[EpisodicConfig, EnvInfo, Any]:
    """N copies of the environment side by side, each seeded once; its description, checked
    against the policy; and the settings, naming the environment (for `scripts/evaluate.py`)."""
    env = cfg.env_id if env is None else env
    info = describe_env(env, **(make_kwargs or {}))
    check_fits(policy, info)
    envs = make_envs(env, cfg.episodes_per_update, **(make_kwargs or {}))
    envs.reset(seed=parallel.rank_seed(cfg.seed, parallel.current()))
    return dataclasses.replace(cfg, env_id=env if isinstance(env, str) else info.name), info, envs


def _value_baseline(
    cfg: EpisodicConfig, info: EnvInfo, own: nn.Module | None, like: torch.Tensor
) -> tuple[nn.Module | None, torch.optim.Optimizer | None]:
    """The baseline that learns, and its optimiser: none, the user's own module, or a `ValueMLP`
    for the env's observations, on the policy's device and in its dtype."""
    if cfg.baseline == "none":
        return None, None
    value_fn = (
        own if own is not None else ValueMLP(obs_shape=info.obs_shape, hidden=cfg.value_hidden)
    )
    value_fn = value_fn.to(device=like.device, dtype=like.dtype)
    return value_fn, make_optimizer("adam", value_fn.parameters(), cfg.value_lr)


def _result(
    run: Run, recent: RecentReturns, rule: str, entropy: float, info: EnvInfo
) -> EpisodicResult:
    """What the run reached, and whether a discrete policy stopped exploring short of what it
    could reach: entropy below COLLAPSED of its maximum, log K, with the mean return below the
    target, or, without one, below the best mean return the run saw."""
    discrete = info.num_actions is not None
    short = not recent.solved if recent.target is not None else recent.mean < recent.best
    collapsed = discrete and entropy < COLLAPSED * math.log(info.num_actions) and short
    return EpisodicResult(
        solved=recent.solved,
        target=recent.target,
        target_rule=rule,
        episodes=recent.episodes,
        env_steps=run.step,
        mean_return=recent.mean,
        best_mean_return=recent.best,
        entropy=entropy,
        entropy_collapsed=collapsed,
        **run.outcome(),
    )


def _check_memory(cfg: EpisodicConfig, info: EnvInfo, modules: list[nn.Module | None]) -> None:
    """Refuse a run whose update could not fit in memory, before it starts: the steps an update
    may hold (N episodes of the env's time limit, at most UPDATE_STEPS or the budget) times the
    widths of the networks' layers, for activations, their gradients and slack."""
    steps = max(cfg.total_steps, UPDATE_STEPS)
    if info.max_episode_steps is not None:
        steps = min(steps, cfg.episodes_per_update * info.max_episode_steps)
    layers = [m for module in modules if module is not None for m in module.modules()]
    width = math.prod(info.obs_shape) + sum(
        m.out_features for m in layers if isinstance(m, nn.Linear)
    )
    need = steps * width * 4 * 3  # float32: forward, backward and slack
    have = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") if hasattr(os, "sysconf") else 0
    require(
        not have or need <= have / 2,
        f"an update may hold {steps:,} steps through layers {width:,} wide in all: about "
        f"{need / 2**30:.0f} GiB, more than half of this machine's {have / 2**30:.0f} GiB; use "
        "fewer --episodes-per-update or narrower --hidden"
        + ("" if info.max_episode_steps else ", or give the environment a time limit"),
    )


def _try_on_observations(policy: Policy, value_fn: nn.Module | None, info: EnvInfo) -> None:
    """Run the policy, and the value function if any, on two blank observations of the env's
    shape (in eval mode, no gradients): outputs of the wrong shape are refused now, with the
    error of the first update, instead of after the run has started."""
    like = next(policy.parameters())
    obs = torch.zeros((2, *info.obs_shape), dtype=like.dtype, device=like.device)
    with torch.no_grad(), evaluating(policy):
        policy.distribution(obs)
    if value_fn is not None:
        with evaluating(value_fn):
            baseline_values(value_fn, obs)


def _target(setting: float | str | None, info: EnvInfo) -> tuple[float | None, str]:
    """The return that counts as solved, and where it came from."""
    if setting == "auto" and info.reward_threshold is not None:
        return info.reward_threshold, "the environment's reward threshold"
    if setting in ("auto", None):
        why = "--target-return none" if setting is None else "the environment has none"
        return None, f"no target, {why}: trained the whole budget"
    return float(setting), "--target-return"


def _scalars(
    loss: torch.Tensor,
    policy: Policy,
    batch: Episodes,
    recent: RecentReturns,
    value_fn: nn.Module | None,
    gamma: float,
) -> dict[str, float | torch.Tensor]:
    """What an episodic logging point records, after the policy's optimiser step and before the
    value function learns from the batch."""
    grad_norms = [p.grad.norm() for p in policy.parameters() if p.grad is not None]
    values = {
        "loss/episodic": loss,
        "grad/norm": torch.stack(grad_norms).norm() if grad_norms else 0.0,
        "policy/entropy": _entropy(policy, batch),
        "charts/mean_return_100": recent.mean,
    }
    if value_fn is not None:  # the baseline as it weighted this batch, before it learns from it
        with torch.no_grad():
            returns = reward_to_go(batch.reward, batch.done, gamma)[batch.valid]  # (S,) G_t
            errors = returns - baseline_values(value_fn, batch.obs[batch.valid])  # G_t - v(s_t)
        values["loss/value"] = 0.5 * errors.pow(2).sum() / batch.valid.shape[1]
        # 1 - Var(G - v) / Var(G), as Stable-Baselines3 logs it: 1 is perfect, 0 no better than
        # a constant, below 0 worse
        values["value/explained_variance"] = 1 - errors.var() / returns.var()
    return values


def _entropy(policy: Policy, batch: Episodes | None) -> float:
    """Mean entropy of the policy's distribution over the batch's valid steps."""
    if batch is None:  # no update was made
        return math.nan
    with torch.no_grad():
        return policy.distribution(batch.obs[batch.valid]).entropy().mean().item()


def _log_episodes(run: Run, before: int, lengths: np.ndarray, returns: np.ndarray) -> None:
    """One point per finished episode, its x the episode's number (`before` had finished
    earlier), numbered in the order the episodes ended: the shortest first, as all the
    environments step together. Episodes that end at the same environment step keep a point
    each this way."""
    for k, i in enumerate(np.argsort(lengths, kind="stable")):
        values = {
            "charts/episodic_return": float(returns[i]),
            "charts/episodic_length": int(lengths[i]),
        }
        run.log_at(before + k + 1, values)
