"""Episodes from Gymnasium: making the environments, and collecting a batch of whole episodes.

    batch = collect_episodes(envs, policy, generator)   # one whole episode from each of N envs

The N environments run in one vectorised Gymnasium env (`gymnasium.make_vec`; CartPole has a
numpy-vectorised implementation), and the policy is called once per time step on all N
observations. Each batch holds the first complete episode of every environment: an environment
that finishes early idles (its later steps are marked invalid) until the longest episode of the
batch ends. Taking "every episode that finished in a fixed window" instead would favour short
episodes. The loss built from a batch is `pg.episodic_loss`.

An environment comes as users have it: a Gymnasium id (`"CartPole-v1"`, or `"my_module:MyEnv-v0"`
for an env of their own, registered when `my_module` is imported) with keyword arguments for
`gymnasium.make`, or a callable that returns a new env (wrappers included). Observations may be
a Box of any shape or Discrete (given to the policy one-hot); actions Discrete or a 1-d Box
(a continuous action is clipped to the space's bounds on its way to the environment, and the
loss keeps the log-probability of the sample drawn).

gymnasium is imported here only, lazily: the hunger trainers never need it.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import Tensor
from torch.distributions import Bernoulli, Categorical, Distribution, Independent

from pg.policy import Policy, sample_actions
from pg.run.settings import UsageError, first_line, require
from pg.run.stopping import RunFault

__all__ = [
    "EnvInfo",
    "EnvRandomState",
    "Episodes",
    "EpisodesTooLong",
    "check_fits",
    "collect_episodes",
    "describe_env",
    "greedy_actions",
    "make_envs",
]


# values (observations, actions, rewards, masks) one batch may hold: 2^28, 1 GiB of float32, and
# the loss's graph needs a few times that; an episode with no end would otherwise grow until
# memory runs out
MAX_BATCH_VALUES = 1 << 28


class EpisodesTooLong(RunFault):
    """A batch of episodes outgrew MAX_BATCH_VALUES, or its step limit, before all of them
    ended."""


class Episodes(NamedTuple):
    """One batch: the first episode of each of N environments, padded to the longest (T steps)."""

    obs: Tensor  # (T, N, *obs_shape)
    action: Tensor  # (T, N), or (T, N, act_dim) for continuous actions
    reward: Tensor  # (T, N), 0 after an episode's end
    valid: Tensor  # (T, N) bool: the step belongs to the episode
    done: Tensor  # (T, N) bool: the episode's last step
    lengths: np.ndarray  # (N,) episode lengths
    returns: np.ndarray  # (N,) undiscounted episode returns


@dataclass(frozen=True)
class EnvInfo:
    """What a policy and a trainer need to know about an environment."""

    name: str
    obs_shape: tuple[int, ...]  # what the policy receives per step (Discrete(n): one-hot, (n,))
    num_actions: int | None  # Discrete actions, else None
    act_dim: int | None  # 1-d Box actions, else None
    reward_threshold: float | None  # the env's own "solved" return (its spec), if it has one
    max_episode_steps: int | None = None  # its time limit (its spec), if it has one


def make_envs(env: str | Callable[[], Any], num_envs: int, **make_kwargs: Any) -> Any:
    """N copies of `env` in one vectorised env (numpy-vectorised where Gymnasium has one)."""
    gym = gymnasium()
    name = _name(env)
    with _making(name):
        if isinstance(env, str):
            return gym.make_vec(env, num_envs=num_envs, **make_kwargs)
        require(not make_kwargs, f"make kwargs go with an environment id, not with {name}")
        return gym.vector.SyncVectorEnv([env] * num_envs)


def describe_env(env: str | Callable[[], Any], **make_kwargs: Any) -> EnvInfo:
    """Make one copy of `env`, read its spaces and its spec's reward threshold, close it."""
    gym = gymnasium()
    spaces = gym.spaces
    name = _name(env)
    with _making(name):
        one = gym.make(env, **make_kwargs) if isinstance(env, str) else env()
    try:
        obs_space, act_space, spec = one.observation_space, one.action_space, one.spec
    finally:
        one.close()
    if isinstance(obs_space, spaces.Discrete):
        obs_shape = (int(obs_space.n),)
    else:
        require(
            isinstance(obs_space, spaces.Box) and len(obs_space.shape) >= 1,
            f"{name}: its observation space {obs_space} is neither a Box nor Discrete; wrap the "
            "env so that it is (gymnasium.wrappers.FlattenObservation makes a Dict or Tuple a Box)",
        )
        obs_shape = tuple(int(n) for n in obs_space.shape)
    discrete = isinstance(act_space, spaces.Discrete) and act_space.n >= 2
    require(
        discrete or (isinstance(act_space, spaces.Box) and len(act_space.shape) == 1),
        f"{name}: its action space {act_space} is neither Discrete (>= 2 actions) nor a 1-d Box; "
        "wrap the env in a gymnasium.ActionWrapper that presents one of those",
    )
    threshold = getattr(spec, "reward_threshold", None) if spec is not None else None
    return EnvInfo(
        name=name,
        obs_shape=obs_shape,
        num_actions=int(act_space.n) if discrete else None,
        act_dim=None if discrete else int(act_space.shape[0]),
        reward_threshold=None if threshold is None else float(threshold),
        max_episode_steps=getattr(spec, "max_episode_steps", None) if spec is not None else None,
    )


def collect_episodes(
    envs: Any,
    policy: Policy,
    generator: torch.Generator,
    *,
    deterministic: bool = False,
    max_steps: int | None = None,
) -> Episodes:
    """Reset every environment and run until each has finished one episode (no gradients here).

    Actions are sampled from the policy's distribution; `deterministic=True` takes its most
    likely action instead (its mean, for a Gaussian), for evaluation. `max_steps` bounds the
    environment steps of the batch in all: an environment whose episodes never end (no time
    limit) raises `EpisodesTooLong` there instead of running on.
    """
    like = next(policy.parameters())
    obs_space, act_space = envs.single_observation_space, envs.single_action_space
    obs, _ = envs.reset()
    n = envs.num_envs
    alive = np.ones(n, dtype=bool)
    lengths, returns = np.zeros(n, dtype=np.int64), np.zeros(n)
    steps: list[tuple[Tensor, Tensor, np.ndarray, np.ndarray]] = []
    held = 0
    while alive.any():
        o = _obs_tensor(obs, obs_space, like)  # (N, *obs_shape)
        if not bool(torch.isfinite(o).all()):
            raise RunFault(
                f"the environment returned an observation that is not finite (NaN or infinity) "
                f"after {len(steps)} steps; a policy cannot act on it"
            )
        with torch.no_grad():
            dist = policy.distribution(o, check_values=False)  # checked just above
            action = greedy_actions(dist) if deterministic else sample_actions(dist, generator)
        obs, reward, terminated, truncated = _step(envs, action, act_space, len(steps))
        reward = np.where(alive, reward, 0.0)
        steps.append((o, action, reward, alive.copy()))
        held += o.numel() + action.numel() + 2 * n
        if held > MAX_BATCH_VALUES:
            raise EpisodesTooLong(
                f"{int(alive.sum())} of {n} episodes still running after {len(steps)} steps: "
                f"the batch would pass {MAX_BATCH_VALUES:,} values; run fewer episodes per "
                "update, or give the environment a time limit (max_episode_steps)"
            )
        lengths += alive
        returns += reward
        alive &= ~(terminated | truncated)
        if max_steps is not None and alive.any() and lengths.sum() >= max_steps:
            raise EpisodesTooLong(
                f"{int(alive.sum())} of {n} episodes still running after {int(lengths.sum()):,} "
                f"environment steps in all, the most this batch may take ({max_steps:,}): give "
                "the environment a time limit (max_episode_steps), or run fewer episodes at once"
            )
    obs_t, action_t = torch.stack([s[0] for s in steps]), torch.stack([s[1] for s in steps])
    reward_t = torch.as_tensor(
        np.stack([s[2] for s in steps]), dtype=like.dtype, device=like.device
    )
    valid = torch.as_tensor(np.stack([s[3] for s in steps]), device=like.device)  # (T, N)
    done = valid & ~torch.cat([valid[1:], torch.zeros_like(valid[:1])])  # last valid step of each
    return Episodes(obs_t, action_t, reward_t, valid, done, lengths, returns)


def greedy_actions(dist: Distribution) -> Tensor:
    """The most likely action of each row: argmax of a Categorical, p(B) > 1/2 for a Bernoulli,
    the mean of a Gaussian (any other distribution: its `mode`)."""
    if isinstance(dist, Bernoulli):
        return (dist.logits > 0).to(dist.logits.dtype)
    if isinstance(dist, Categorical):
        return dist.logits.argmax(dim=-1)
    base = dist.base_dist if isinstance(dist, Independent) else dist
    return base.mean if hasattr(base, "loc") else dist.mode


# numpy's bit generators, by the name their state gives (a checkpoint's is looked up in numpy)
BIT_GENERATORS = ("PCG64", "PCG64DXSM", "MT19937", "Philox", "SFC64")


class EnvRandomState:
    """The random state of every sub-environment of `envs`, as a checkpoint holds it: with it put
    back, the next resets draw what they would have drawn."""

    def __init__(self, envs: Any):
        self.envs = getattr(envs, "envs", [envs])  # the sub-environments, or the one vectorised

    def state_dict(self) -> dict[str, Any]:
        return {"rng": [e.np_random.bit_generator.state for e in self.envs]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        states = state["rng"]
        require(
            len(states) == len(self.envs),
            f"the checkpoint has {len(states)} environments' states, this run {len(self.envs)}",
        )
        for env, saved in zip(self.envs, states):
            kind = saved["bit_generator"]
            require(kind in BIT_GENERATORS, f"an environment's generator of kind {kind!r}")
            rng = np.random.Generator(getattr(np.random, kind)())
            rng.bit_generator.state = saved
            env.np_random = rng


def _step(envs: Any, action: Tensor, space: Any, done: int) -> tuple:
    """One step of every environment; a failure in the environment's own code (a user's, say)
    is one RunFault naming it, after `done` steps."""
    try:
        obs, reward, terminated, truncated, _ = envs.step(_env_action(action, space))
    except Exception as error:
        what = f"{type(error).__name__}: {first_line(error)}"
        raise RunFault(f"the environment's step failed after {done} steps: {what}") from None
    return obs, reward, terminated, truncated


def _obs_tensor(obs: np.ndarray, space: Any, like: Tensor) -> Tensor:
    """A batch of observations as the policy takes them: floats, Discrete ones one-hot."""
    if space.shape == ():  # Discrete (`describe_env` lets no 0-dim Box through)
        index = torch.as_tensor(obs - space.start, dtype=torch.long, device=like.device)  # (N,)
        return torch.nn.functional.one_hot(index, int(space.n)).to(like.dtype)  # (N, n)
    return torch.as_tensor(obs, dtype=like.dtype, device=like.device)


def _env_action(action: Tensor, space: Any) -> np.ndarray:
    """Actions as the environment takes them: integers, or floats clipped to the Box's bounds."""
    if space.shape == ():  # Discrete: the policy's 0..n-1 are the space's start..start+n-1
        return action.long().cpu().numpy() + int(space.start)
    return np.clip(action.cpu().numpy(), space.low, space.high).astype(space.dtype)


def check_fits(policy: Policy, info: EnvInfo) -> None:
    """The policy must take the env's observations and give its kind of actions."""
    if policy.obs_shape is not None:
        takes = tuple(policy.obs_shape) == info.obs_shape
    else:
        takes = len(info.obs_shape) == 1 and policy.obs_dim in (None, info.obs_shape[0])
    gives = (
        policy.num_actions == info.num_actions
        if info.num_actions is not None
        else policy.act_dim == info.act_dim
    )
    require(
        takes and gives,
        f"{info.name} has observations of shape {info.obs_shape} and {actions_in_words(info)}; "
        f"the policy takes {policy.obs_shape or (policy.obs_dim,)} and gives "
        f"{actions_in_words(policy)}",
    )


def actions_in_words(has: Any) -> str:
    """The kind of actions of an env's `EnvInfo` or of a policy, in words."""
    if has.num_actions is not None:
        return f"{has.num_actions} discrete actions"
    return f"{has.act_dim}-dimensional continuous actions"


def gymnasium() -> Any:
    """The gymnasium module, or one line saying how to install it (the hunger half needs none)."""
    try:
        import gymnasium
    except ImportError:
        raise UsageError(
            "episodic training needs gymnasium, an extra: pip install -e '.[gym]'"
        ) from None
    return gymnasium


def _name(env: Any) -> str:
    return repr(env) if isinstance(env, str) else getattr(env, "__name__", repr(env))


@contextmanager
def _making(name: str) -> Iterator[None]:
    """Turn the ways making an environment fails into one UsageError that names it."""
    gym = gymnasium()
    try:
        with warnings.catch_warnings():  # gymnasium's own warnings would add lines to the one
            warnings.simplefilter("ignore")
            yield
    except UsageError:
        raise
    except (gym.error.Error, ImportError, TypeError, ValueError, AttributeError) as error:
        raise UsageError(f"cannot make environment {name}: {first_line(error)}") from None
    except (Exception, SystemExit) as error:  # a user's module: a SyntaxError, a sys.exit(3)
        what = f"{type(error).__name__}: {first_line(error)}"
        raise UsageError(f"cannot make environment {name}: its code raised {what}") from None
