"""Act with a trained policy: load a run's policy and run episodes with it.

    # 20 sampled episodes
    python scripts/evaluate.py logs/episodic/RUN
    # the most likely action instead
    python scripts/evaluate.py logs/episodic/RUN --deterministic
    python scripts/evaluate.py logs/episodic/RUN --episodes 100 --seed 3

Prints the mean return with its standard deviation, and the lowest and highest.
The environment is the one the run trained on (--env-id to use another with the
same spaces).
"""

from __future__ import annotations

from dataclasses import dataclass

import pg
from pg.evaluate import MAX_EPISODES
from pg.run import checkpoint, cli
from pg.run.settings import check_int, require, setting


@dataclass
class Args:
    run: str = setting("", "the run folder or checkpoint file of an episodic run")
    episodes: int = setting(20, "episodes to run, side by side")
    deterministic: bool = setting(False, "take the most likely action instead of sampling")
    seed: int = setting(0, "seeds the environments and the action sampling")
    env_id: str | None = setting(None, "environment to run (default: the run's own)")

    def __post_init__(self):
        require(self.run != "", "run must name a run folder or checkpoint file")
        require(self.env_id != "", "--env-id must name an environment, got ''")
        check_int("episodes", self.episodes, 1, MAX_EPISODES)
        check_int("seed", self.seed, 0)


def main() -> int:
    args = cli.parse(Args, description=__doc__, positional=("run",))
    saved = checkpoint.load(args.run)
    require(
        saved.state.get("trainer") == "episodic",
        f"{saved.path}: a {saved.state.get('trainer')} run; evaluate.py runs episodic ones "
        "(the hunger trainers print the exact expected reward instead)",
    )
    env_id = args.env_id or saved.state["settings"]["env_id"]
    cli.require_own_module(env_id)
    policy = pg.load_policy(saved.path)
    returns = pg.evaluate(
        policy, env_id, episodes=args.episodes, seed=args.seed, deterministic=args.deterministic
    )
    how = "most likely actions" if args.deterministic else "sampled actions"
    print(
        f"{env_id}, {len(returns)} episodes, {how}: mean return {returns.mean():.1f} "
        f"± {returns.std():.1f} (std), min {returns.min():.1f}, max {returns.max():.1f}"
    )
    return 0
