"""Episodic REINFORCE through the Gymnasium API: whole episodes, side by side, one update each batch.

The same loss that moves one bias on the hunger bandit trains a network to balance a pole. What
changes is that an action's consequences now unfold over many steps, so each log-probability is
weighted by its discounted reward-to-go (`pg.returns`) instead of one reward:

    batch  = collect_episodes(envs, policy, generator)    # one episode from each of N envs
    G      = reward_to_go(batch.reward, batch.done, gamma) # (T, N)
    weight = normalize_returns(G[valid])                   # optional, safe for std 0 / one element
    loss   = reinforce_loss(policy.distribution(obs[valid]).log_prob(action[valid]), weight)

The N environments run in one vectorised Gymnasium env (`gymnasium.make_vec`; CartPole has a
numpy-vectorised implementation), and the policy is called once per time step on all N
observations. Each update uses the first complete episode of every environment: an environment
that finishes early idles (its later steps are masked out) until the longest episode of the batch
ends. Taking "every episode that finished in a fixed window" instead would favour short episodes.

Reduction: `reinforce_loss` is the mean over every valid step of the batch (as Spinning Up's VPG
does), so the gradient is an average per step, not a sum per episode; with Adam, the default,
the overall scale does not change the step.

gymnasium is imported here only, lazily: the hunger trainers never need it.
"""

from __future__ import annotations

import dataclasses
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import Tensor

from pg import checkpoint, parallel
from pg.checkpoint import Checkpoint
from pg.config import (
    UsageError,
    check_choice,
    check_int,
    MAX_LR,
    check_positive,
    check_run_settings,
    require,
    resolve,
    setting,
)
from pg.losses import reinforce_loss
from pg.optim import make_optimizer
from pg.policy import Policy, sample_actions
from pg.progress import Progress
from pg.returns import normalize_returns, reward_to_go
from pg.runlog import RunLogger, append, open_run_dir
from pg.stopping import FiniteGuard, GracefulStop

__all__ = ["EpisodicConfig", "EpisodicResult", "Episodes", "collect_episodes", "env_spaces", "make_envs", "train_episodic"]

SOLVED_WINDOW = 100  # "solved": the mean return of the last 100 finished episodes reaches the target


@dataclass
class EpisodicConfig:
    """Settings of `train_episodic` and of `scripts/train_cartpole.py` (as --kebab-case flags)."""

    env_id: str = setting("CartPole-v1", "Gymnasium environment id: discrete actions, vector observations")
    total_steps: int = setting(500_000, "budget of environment steps; training stops sooner once solved")
    episodes_per_update: int = setting(16, "episodes run side by side (vectorised) for each update")
    optimizer: str = setting("adam", "sgd or adam", choices=("sgd", "adam"))
    lr: float = setting(0.01, "learning rate")
    gamma: float = setting(0.99, "discount of the reward-to-go")
    normalize_returns: bool = setting(True, "standardise the reward-to-go over each batch")
    target_return: float = setting(475.0, "solved once the mean return of the last 100 episodes reaches this")
    seed: int = setting(1, "seeds the environments, the action sampling and torch (initial weights)")
    logdir: str | None = setting("logs", "root folder of the TensorBoard runs")
    run_name: str | None = setting(None, "run folder name under LOGDIR/episodic (default: <time>-seed<SEED>)")
    log_every: int = setting(1, "write the per-update scalars every N updates")
    save_every: int = setting(10, "save a checkpoint every N updates, and always at the end (0: only at the end)")

    def __post_init__(self):
        require(isinstance(self.env_id, str) and self.env_id != "", f"env_id must be a Gymnasium id, got {self.env_id!r}")
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
    history: dict[str, list[float]]  # per logged update of this call: 'step' (env steps) and each tag


class Episodes(NamedTuple):
    """One batch: the first episode of each of N environments, padded to the longest (T steps)."""

    obs: Tensor  # (T, N, d)
    action: Tensor  # (T, N)
    reward: Tensor  # (T, N), 0 after an episode's end
    valid: Tensor  # (T, N) bool: the step belongs to the episode
    done: Tensor  # (T, N) bool: the episode's last step
    lengths: np.ndarray  # (N,) episode lengths
    returns: np.ndarray  # (N,) undiscounted episode returns


def env_spaces(env_id: str) -> tuple[int, int]:
    """(observation width, number of actions) of a Gymnasium environment, or a UsageError."""
    import gymnasium as gym

    try:
        env = gym.make(env_id)
    except gym.error.Error as e:
        raise UsageError(f"cannot make environment {env_id!r}: {e}") from None
    try:
        obs_space, act_space = env.observation_space, env.action_space
    finally:
        env.close()
    require(
        isinstance(act_space, gym.spaces.Discrete) and act_space.n >= 2,
        f"{env_id} must have a discrete action space with >= 2 actions, got {act_space}",
    )
    require(
        isinstance(obs_space, gym.spaces.Box) and len(obs_space.shape) == 1,
        f"{env_id} must have a flat vector observation space, got {obs_space}",
    )
    return int(obs_space.shape[0]), int(act_space.n)


def make_envs(env_id: str, num_envs: int) -> Any:
    """N copies of `env_id` in one vectorised env (numpy-vectorised where Gymnasium has one)."""
    import gymnasium as gym

    return gym.make_vec(env_id, num_envs=num_envs)


def collect_episodes(envs: Any, policy: Policy, generator: torch.Generator) -> Episodes:
    """Reset every environment and run until each has finished one episode (no gradients here)."""
    like = next(policy.parameters())
    obs, _ = envs.reset()
    n = envs.num_envs
    alive = np.ones(n, dtype=bool)
    lengths, returns = np.zeros(n, dtype=np.int64), np.zeros(n)
    steps: list[tuple[Tensor, Tensor, np.ndarray, np.ndarray]] = []
    while alive.any():
        o = torch.as_tensor(obs, dtype=like.dtype, device=like.device)  # (N, d)
        with torch.no_grad():
            action = sample_actions(policy.distribution(o), generator)  # (N,)
        obs, reward, terminated, truncated, _ = envs.step(action.long().cpu().numpy())
        reward = np.where(alive, reward, 0.0)
        steps.append((o, action, reward, alive.copy()))
        lengths += alive
        returns += reward
        alive &= ~(terminated | truncated)
    obs_t, action_t = torch.stack([s[0] for s in steps]), torch.stack([s[1] for s in steps])
    reward_t = torch.as_tensor(np.stack([s[2] for s in steps]), dtype=like.dtype, device=like.device)
    valid = torch.as_tensor(np.stack([s[3] for s in steps]), device=like.device)  # (T, N)
    done = valid & ~torch.cat([valid[1:], torch.zeros_like(valid[:1])])  # last valid step of each
    return Episodes(obs_t, action_t, reward_t, valid, done, lengths, returns)


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
    `pg.checkpoint.load`) continues a run exactly where its checkpoint left it.
    """
    cfg = resolve(EpisodicConfig, config, settings, "train_episodic")
    obs_dim, num_actions = env_spaces(cfg.env_id)
    require(
        policy.obs_dim in (None, obs_dim) and policy.num_actions == num_actions,
        f"{cfg.env_id} has {obs_dim}-wide observations and {num_actions} actions; the policy expects "
        f"{policy.obs_dim} and {policy.num_actions}",
    )
    like = next(policy.parameters())
    optimizer = make_optimizer(cfg.optimizer, policy.parameters(), cfg.lr)
    params = [p for p in policy.parameters() if p.requires_grad]
    world = parallel.current()  # under torchrun: this rank; the run folder and output are rank 0's
    require(resume is None or world.size == 1, "resuming is for one process: a checkpoint holds rank 0's generators only")
    seed = parallel.rank_seed(cfg.seed, world)
    envs = make_envs(cfg.env_id, cfg.episodes_per_update)
    envs.reset(seed=seed)  # seeds every sub-environment once; later resets continue their streams
    generator = torch.Generator(device=like.device).manual_seed(seed)
    recent: deque[float] = deque(maxlen=SOLVED_WINDOW)
    env_steps, history, episodes, update = 0, {}, 0, 0
    if resume is not None:
        env_steps = checkpoint.restore(resume, policy, optimizer, cfg.total_steps)
        generator.set_state(resume.state["generator"])
        set_env_rng_states(envs, resume.state["envs"])
        recent.extend(resume.state["recent"])
        episodes, update = resume.state["episodes"], resume.state["update"]
    run_dir = open_run_dir(cfg, "episodic", resume) if cfg.logdir and world.is_main else None
    verbose = verbose and world.is_main
    model = parallel.synced(policy)  # the policy, or its DDP wrapper: gradients averaged over ranks
    guard = FiniteGuard([n for n, p in policy.named_parameters() if p.requires_grad], like.device)
    solved = len(recent) == SOLVED_WINDOW and float(np.mean(recent)) >= cfg.target_return
    start = env_steps

    def state() -> dict:
        return {
            "trainer": "episodic", "step": env_steps, "settings": dataclasses.asdict(cfg),
            "policy": policy.state_dict(), "optimizer": optimizer.state_dict(), "generator": generator.get_state(),
            "envs": env_rng_states(envs), "recent": list(recent), "episodes": episodes, "update": update,
        }

    saver = checkpoint.Saver(run_dir, cfg.save_every, state)

    with RunLogger(run_dir) as log, Progress(verbose, cfg.total_steps, run_dir, cfg.logdir, unit="env step") as progress:
        if resume is None:
            log.settings(
                dataclasses.asdict(cfg), metrics=["charts/episodic_return", "charts/mean_return_100"],
                trainer="episodic", initial_policy=repr(policy), torch=torch.__version__,
            )
        started = time.perf_counter()
        try:
            with saver.naming_last_good():
                while env_steps < cfg.total_steps and not solved and not (stop is not None and stop.requested):
                    batch = collect_episodes(envs, policy, generator)
                    weight = reward_to_go(batch.reward, batch.done, cfg.gamma)[batch.valid]  # (S,) all valid steps
                    if cfg.normalize_returns:
                        weight = normalize_returns(weight)
                    dist = model.distribution(batch.obs[batch.valid], check_values=False)
                    loss = reinforce_loss(dist.log_prob(batch.action[batch.valid]), weight, check_values=False)
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    guard.watch(env_steps, loss, [p.grad for p in params])
                    guard.check()  # an update takes milliseconds: read it every time, before the step
                    grad_norm = torch.nn.utils.clip_grad_norm_(params, float("inf"))  # measures, does not clip
                    optimizer.step()

                    lengths, returns = batch.lengths, batch.returns
                    if world.size > 1:  # every rank counts every rank's episodes: they stop together
                        lengths, returns = parallel.gather(lengths, like.device), parallel.gather(returns, like.device)
                    # each episode is logged at the env step where it ended: the steps all the
                    # environments had taken by then, on top of the steps of earlier batches
                    ended_at = env_steps + np.minimum(lengths[None, :], lengths[:, None]).sum(1)
                    for i in np.argsort(lengths, kind="stable"):
                        log.scalars(int(ended_at[i]), {
                            "charts/episodic_return": float(returns[i]),
                            "charts/episodic_length": int(lengths[i]),
                        })
                    env_steps += int(lengths.sum())
                    episodes += len(lengths)
                    recent.extend(returns.tolist())
                    mean_return = float(np.mean(recent))
                    solved = len(recent) == SOLVED_WINDOW and mean_return >= cfg.target_return

                    logging = update % cfg.log_every == 0 or solved or env_steps >= cfg.total_steps
                    if logging:
                        values = {"loss/reinforce": loss, "grad/norm": grad_norm, "charts/mean_return_100": mean_return}
                        append(history, env_steps, log.scalars(env_steps, values))
                        log.histograms(env_steps, policy, point=update // cfg.log_every)
                    shown = {"episodes": episodes, "mean return": mean_return} if progress.wants(env_steps, logging) else None
                    progress.update(min(env_steps, cfg.total_steps), shown)
                    update += 1
                    if saver.due(update):
                        saver.save()
        finally:
            seconds = time.perf_counter() - started
            envs.close()
        if env_steps > start:
            saver.save()
    return EpisodicResult(
        solved=solved, episodes=episodes, env_steps=env_steps, seconds=seconds,
        mean_return=float(np.mean(recent)) if recent else float("nan"), run_dir=run_dir,
        checkpoint=saver.path, interrupted=stop.requested if stop is not None else None,
        history=history,
    )


def env_rng_states(envs: Any) -> list[dict]:
    """The random state of every sub-environment (or of the one vectorised env), as plain data."""
    return [e.np_random.bit_generator.state for e in getattr(envs, "envs", [envs])]


def set_env_rng_states(envs: Any, states: list[dict]) -> None:
    """Put back what `env_rng_states` returned, so the next resets draw what they would have."""
    targets = getattr(envs, "envs", [envs])
    require(len(states) == len(targets), f"the checkpoint has {len(states)} environments' states, this run {len(targets)}")
    for target, state in zip(targets, states):
        rng = np.random.Generator(getattr(np.random, state["bit_generator"])())
        rng.bit_generator.state = state
        target.np_random = rng
