"""Episodic REINFORCE: the loss that moved one bias on the hunger bandit, on Gymnasium episodes.

An action's consequences now unfold over many steps, so each log-probability is weighted by its
discounted reward-to-go instead of one reward. One update:

    batch = collect_episodes(envs, policy, generator)          # whole episodes, side by side
    loss  = episodic_loss(policy, batch, gamma=0.99)           # -mean(G_t * log p(a_t | s_t))
    loss.backward(); optimizer.step()

`pg.episodes` collects the batch, `pg.losses.episodic_loss` builds the loss. Training stops once
the mean return of the last 100 episodes reaches the target, or when the budget of environment
steps is spent. With Adam, the default, the overall scale of the loss does not change the step.
"""

from __future__ import annotations

from collections import deque
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from pg.episodes import (
    Episodes,
    collect_episodes,
    env_rng_states,
    env_spaces,
    make_envs,
    set_env_rng_states,
)
from pg.losses import episodic_loss
from pg.optim import make_optimizer
from pg.policy import Policy
from pg.run import Run, parallel
from pg.run.checkpoint import Checkpoint
from pg.run.config import (
    MAX_LR,
    check_choice,
    check_int,
    check_positive,
    check_run_settings,
    require,
    resolve,
    setting,
)
from pg.run.stopping import GracefulStop

__all__ = ["EpisodicConfig", "EpisodicResult", "train_episodic"]

SOLVED_WINDOW = (
    100  # "solved": the mean return of the last 100 finished episodes reaches the target
)


@dataclass
class EpisodicConfig:
    """Settings of `train_episodic` and of `scripts/train_cartpole.py` (as --kebab-case flags)."""

    env_id: str = setting(
        "CartPole-v1", "Gymnasium environment id: discrete actions, vector observations"
    )
    total_steps: int = setting(
        500_000, "budget of environment steps; training stops sooner once solved"
    )
    episodes_per_update: int = setting(16, "episodes run side by side (vectorised) for each update")
    optimizer: str = setting("adam", "sgd or adam", choices=("sgd", "adam"))
    lr: float = setting(0.01, "learning rate")
    gamma: float = setting(0.99, "discount of the reward-to-go")
    normalize_returns: bool = setting(True, "standardise the reward-to-go over each batch")
    target_return: float = setting(
        475.0, "solved once the mean return of the last 100 episodes reaches this"
    )
    seed: int = setting(
        1, "seeds the environments, the action sampling and torch (initial weights)"
    )
    logdir: str | None = setting("logs", "root folder of the TensorBoard runs")
    run_name: str | None = setting(
        None, "run folder name under LOGDIR/episodic (default: <time>-seed<SEED>)"
    )
    log_every: int = setting(1, "write the per-update scalars every N updates")
    save_every: int = setting(
        10, "save a checkpoint every N updates, and always at the end (0: only at the end)"
    )

    def __post_init__(self):
        require(
            isinstance(self.env_id, str) and self.env_id != "",
            f"env_id must be a Gymnasium id, got {self.env_id!r}",
        )
        check_int("total_steps", self.total_steps, 1)
        check_int("episodes_per_update", self.episodes_per_update, 1)
        check_choice("optimizer", self.optimizer, ("sgd", "adam"))
        check_positive("lr", self.lr, MAX_LR)
        require(
            isinstance(self.gamma, (int, float)) and 0.0 <= self.gamma <= 1.0,
            f"gamma must be in [0, 1], got {self.gamma!r}",
        )
        require(
            isinstance(self.target_return, (int, float)) and np.isfinite(self.target_return),
            f"target_return must be a finite number, got {self.target_return!r}",
        )
        check_run_settings(self)


@dataclass
class EpisodicResult:
    solved: bool  # the mean return of the last 100 episodes reached the target
    episodes: int  # finished episodes used for training
    env_steps: int  # environment steps of those episodes
    seconds: float  # wall time of training (not imports, not figures)
    mean_return: float  # over the last (up to) 100 episodes
    run_dir: Path | None
    checkpoint: Path | None  # the last checkpoint written
    interrupted: int | None  # the signal that stopped training early (SIGINT, SIGTERM), if any
    history: dict[
        str, list[float]
    ]  # per logged update of this call: 'step' (env steps) and each tag


def train_episodic(
    policy: Policy,
    *,
    config: EpisodicConfig | None = None,
    verbose: bool = False,
    resume: Checkpoint | None = None,
    stop: GracefulStop | None = None,
    **settings,
) -> EpisodicResult:
    """Train `policy` in place with episodic REINFORCE on a Gymnasium environment.

    Settings are the fields of `EpisodicConfig` as keyword arguments (`env_id="CartPole-v1"`,
    `total_steps`, `episodes_per_update=16`, `optimizer="adam"`, `lr=0.01`, `gamma=0.99`,
    `normalize_returns=True`, `target_return=475`, `seed`, `logdir` or None, `run_name`,
    `log_every`, `save_every`) or a `config`. Stops once solved, when the step budget is spent, or
    after the current update when `stop` (a `GracefulStop`) sees a signal. `resume` (from
    `pg.run.checkpoint.load`) continues a run exactly where its checkpoint left it.
    """
    cfg = resolve(EpisodicConfig, config, settings, "train_episodic")
    obs_dim, num_actions = env_spaces(cfg.env_id)
    require(
        policy.obs_dim in (None, obs_dim) and policy.num_actions == num_actions,
        f"{cfg.env_id} has {obs_dim}-wide observations and {num_actions} actions; the "
        "policy expects "
        f"{policy.obs_dim} and {policy.num_actions}",
    )
    optimizer = make_optimizer(cfg.optimizer, policy.parameters(), cfg.lr)
    envs = make_envs(cfg.env_id, cfg.episodes_per_update)
    recent: deque[float] = deque(maxlen=SOLVED_WINDOW)  # returns of the last 100 episodes
    episodes = 0

    def state() -> dict:
        return {"envs": env_rng_states(envs), "recent": list(recent), "episodes": episodes}

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
        state=state,
        metrics=["charts/episodic_return", "charts/mean_return_100"],
    )
    envs.reset(seed=parallel.rank_seed(cfg.seed, run.world))  # seeds each sub-environment once
    generator = run.generator()
    if run.resumed is not None:
        set_env_rng_states(envs, run.resumed["envs"])
        recent.extend(run.resumed["recent"])
        episodes = run.resumed["episodes"]
    solved = run.finished = _solved(
        recent, cfg.target_return
    )  # a resumed run may be solved already
    with closing(envs), run:
        for env_steps in run.steps():
            batch = collect_episodes(envs, policy, generator)
            loss = episodic_loss(
                policy, batch, gamma=cfg.gamma, normalize_returns=cfg.normalize_returns
            )
            loss.backward()

            lengths, returns = _every_rank(batch, run.world)
            _log_episodes(run, env_steps, lengths, returns)
            episodes += len(lengths)
            recent.extend(returns.tolist())
            solved = _solved(recent, cfg.target_return)
            run.update(
                loss,
                units=int(lengths.sum()),
                final=solved,
                log=lambda: {
                    "loss/reinforce": loss,
                    "grad/norm": torch.nn.utils.clip_grad_norm_(
                        run.params, float("inf")
                    ),  # measures, clips nothing
                    "charts/mean_return_100": float(np.mean(recent)),
                },
                show=lambda: {"episodes": episodes, "mean return": float(np.mean(recent))},
            )
    return EpisodicResult(
        solved=solved,
        episodes=episodes,
        env_steps=run.done,
        seconds=run.seconds,
        mean_return=float(np.mean(recent)) if recent else float("nan"),
        run_dir=run.run_dir,
        checkpoint=run.checkpoint,
        interrupted=run.interrupted,
        history=run.history,
    )


def _solved(recent: deque[float], target: float) -> bool:
    """Solved: the last SOLVED_WINDOW episodes are in, and their mean return reaches the target."""
    return len(recent) == SOLVED_WINDOW and float(np.mean(recent)) >= target


def _every_rank(batch: Episodes, world: parallel.World) -> tuple[np.ndarray, np.ndarray]:
    """The lengths and returns of the batch's episodes, of every rank under torchrun: the ranks
    count the same episodes, so they stop together."""
    if world.size == 1:
        return batch.lengths, batch.returns
    device = batch.obs.device
    return parallel.gather(batch.lengths, device).astype(np.int64), parallel.gather(
        batch.returns, device
    )


def _log_episodes(run: Run, env_steps: int, lengths: np.ndarray, returns: np.ndarray) -> None:
    """One point per finished episode, at the environment step where it ended: the steps all the
    environments had taken by then, on top of the `env_steps` of earlier batches."""
    ended_at = env_steps + np.minimum(lengths[None, :], lengths[:, None]).sum(1)
    for i in np.argsort(lengths, kind="stable"):
        run.log.scalars(
            int(ended_at[i]),
            {
                "charts/episodic_return": float(returns[i]),
                "charts/episodic_length": int(lengths[i]),
            },
        )
