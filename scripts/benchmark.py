"""Measure pg: throughput, time to solution, the machinery's cost, logging, variance, CartPole.

    python scripts/benchmark.py                      # every section, about 40 minutes
    python scripts/benchmark.py --quick              # the quick sections, about a minute
    python scripts/benchmark.py --only solution,machinery
    python scripts/benchmark.py --only cartpole --seeds 20

Prints a Markdown table per section and writes them, with a description of the machine, to
LOGDIR/benchmark/<time>.md and .json. The sections:

- throughput: REINFORCE rounds per second on the hunger task: the article's procedure (one
  sample, one update) in the single-file example, against the batched trainer;
- solution: whole processes, next to the smallest PyTorch training program (import torch, one
  Adam step), which is what any script pays first;
- machinery: each trainer's training time over its single-file example's (`examples/`), the
  same math without the run machinery: what the machinery costs;
- logging: time per training step with TensorBoard logging at the default cadence and without;
- variance: single-sample REINFORCE gradients against the exact derivative, with and without
  a mean-reward baseline;
- cartpole: many seeds of the CartPole defaults to solved, medians with bootstrap intervals;
- baseline: the same for the biased per-step estimator without a baseline, the
  unbiased one with a learned value baseline (the default), and that one with standardised
  advantages;
- baseline_variance: on tasks with exact gradients, how much a state-value baseline cuts the
  gradient estimate's variance, and each estimator's distance from the exact gradient;
- pendulum: the continuous-control recipe (Pendulum-v1, a learned baseline) over seeds;
- lunar_lander: LunarLander-v3 (the `box2d` extra) with and without the learned baseline;
- reductions: CartPole solved or not, and how fast, under each setting of the episodic estimator;
- threads: training time with the trainers' thread choice and with torch's default, idle and
  while two busy processes hold the CPU.

Throughput is the best of 5 runs (timeit's rule: on a shared machine noise only ever adds time);
the other sections take medians, with the programs compared run interleaved.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

import numpy as np
import torch

import pg
from pg.reinforce import single_sample_gradients
from pg.run import cli, parallel
from pg.run.settings import UsageError, check_int, require, setting

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_THREADS = torch.get_num_threads()  # torch's own choice, before any run sets its own
BEST_OF = 5  # throughput: the best of this many runs
MINIMAL_PROGRAM = (
    "import torch\n"
    "p = torch.nn.Parameter(torch.zeros(()))\n"
    "opt = torch.optim.Adam([p], lr=1.0)\n"
    "(p - 1).pow(2).backward()\n"
    "opt.step()\n"
)


@dataclass
class Table:
    title: str
    columns: list[str]
    rows: list[list] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def markdown(self) -> str:
        lines = [f"### {self.title}", "", "| " + " | ".join(self.columns) + " |"]
        lines.append("|" + "---|" * len(self.columns))
        lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in self.rows]
        return "\n".join(lines + [""] + [f"- {note}" for note in self.notes])

    def as_dict(self) -> dict:
        return {
            "title": self.title,
            "columns": self.columns,
            "rows": self.rows,
            "notes": self.notes,
        }


def _cell(value) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def machine() -> dict:
    """What the figures were measured on."""
    cpu = platform.processor() or platform.machine()
    try:
        names = re.findall(r"model name\s*:\s*(.+)", Path("/proc/cpuinfo").read_text())
        cpu = names[0] if names else cpu
    except OSError:
        pass
    info = {
        "date": time.strftime("%Y-%m-%d"),
        "cpu": cpu,
        "cores": len(os.sched_getaffinity(0))
        if hasattr(os, "sched_getaffinity")
        else os.cpu_count(),
        "load average": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "torch threads": DEFAULT_THREADS,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "platform": platform.platform(),
    }
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def example(name: str) -> ModuleType:
    """`examples/<name>.py`, imported as a module (its `train` is the floor of a trainer)."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "examples" / f"{name}.py")
    module = sys.modules[name] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _times(fn: Callable[[], object], repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def _seconds(fn: Callable[..., object], *args: object) -> float:
    """Wall time of one call."""
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


# --- sections ------------------------------------------------------------------------------------


def throughput(quick: bool) -> Table:
    table = Table(
        "REINFORCE throughput on the hunger task",
        ["how", "device", "batch", "rounds / s", "vs the one-sample loop", "floor / step"],
    )
    article = example("hunger_reinforce")
    n = 3000 if quick else 20000
    article.train(steps=200, batch_size=1, lr=1.0)
    lean = n / min(_times(lambda: article.train(steps=n, batch_size=1, lr=1.0), BEST_OF))
    table.rows.append(["examples/hunger_reinforce.py, batch 1, lr 1", "cpu", 1, lean, 1.0, ""])

    def rounds_per_second(batch: int, device: str) -> float:
        """From the trainer's own loop time (`seconds`), best of BEST_OF, ~0.5 s each."""
        steps = max(50, min(5000, 20_000_000 // batch)) // (4 if quick else 1)
        pg.train_reinforce(pg.HungerPolicy(device=device), batch_size=batch, steps=5)  # warm up
        runs = [
            pg.train_reinforce(
                pg.HungerPolicy(device=device), batch_size=batch, steps=steps, lr=1.0
            )
            for _ in range(BEST_OF)
        ]
        return batch * steps / min(r.seconds for r in runs)

    per_sample = rounds_per_second(1, "cpu")
    table.rows.append(["train_reinforce, batch 1", "cpu", 1, per_sample, per_sample / lean, ""])
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    batches = [1024, 8192, 65536, 262144] + ([] if quick else [1048576])
    for device in devices:
        for batch in batches + ([4194304] if device == "cuda" and not quick else []):
            rate = rounds_per_second(batch, device)
            floor = f"{_floor_seconds(batch, device) * rate / batch:.0%}"
            table.rows.append(["train_reinforce", device, batch, rate, rate / lean, floor])
    table.notes.append(
        f"Best of {BEST_OF} runs for every row, the example's loop as much as the trainer."
    )
    table.notes.append(
        "floor / step: the least a step can cost as a share of the trainer's step: drawing its "
        "two random numbers per round (hunger, then the action) from the seeded generator and "
        "one read-and-write pass over a float32 array of the batch."
    )
    table.notes.append(
        "peak resident memory of a whole process training at batch 1,048,576 on the CPU: "
        f"{_peak_rss_mib(1_048_576):.0f} MiB"
    )
    return table


def _floor_seconds(batch: int, device: str) -> float:
    """The least a REINFORCE step on `batch` rounds can cost here: its random numbers (two per
    round, from one seeded generator, as the step draws them) and one pass over its memory."""
    generator = torch.Generator(device=device).manual_seed(0)
    hunger, u = (torch.empty(batch, device=device) for _ in range(2))

    def floor() -> None:
        hunger.uniform_(generator=generator)
        u.uniform_(generator=generator)
        hunger.mul_(u)  # one read-and-write pass
        if device == "cuda":
            torch.cuda.synchronize()

    repeats = max(3, min(200, 20_000_000 // batch))
    floor()
    return min(_times(lambda: [floor() for _ in range(repeats)], BEST_OF)) / repeats


def _peak_rss_mib(batch: int) -> float:
    code = (
        "import resource, pg\n"
        f"pg.train_reinforce(pg.HungerPolicy(), batch_size={batch}, steps=10)\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    return int(done.stdout.split()[-1]) / 1024  # ru_maxrss is in KiB on Linux


MINIMAL = "the smallest PyTorch training program: import torch, one Adam step"


def solution(quick: bool) -> Table:
    table = Table("Whole processes, defaults", ["what", "seconds", "vs the smallest program"])
    programs = {MINIMAL: ["minimal.py"]}
    for name in ("supervised", "reinforce", "episodic"):
        script = [str(ROOT / "scripts" / f"train_{name}.py"), "--quiet", "--logdir", "logs"]
        programs[f"scripts/train_{name}.py"] = script
        if name != "episodic":
            programs[f"scripts/train_{name}.py --no-figure"] = [*script, "--no-figure"]
    for name in ("hunger_supervised", "hunger_reinforce", "cartpole_reinforce"):
        programs[f"examples/{name}.py"] = [str(ROOT / "examples" / f"{name}.py")]
    times = _whole_processes(programs, 3 if quick else 5)
    minimal = statistics.median(times[MINIMAL])
    for what, measured in times.items():
        table.rows.append(
            [what, statistics.median(measured), statistics.median(measured) / minimal]
        )
    table.notes.append(
        "Median of the runs, the programs interleaved. Any torch.optim optimizer imports "
        "torch._dynamo when it is built, which is most of the smallest program's time."
    )
    return table


def _whole_processes(programs: dict[str, list[str]], repeats: int) -> dict[str, list[float]]:
    """Wall time of each program as a whole process, interleaved, so that drift in the machine's
    speed hits all alike; run in a temporary folder, where their run folders go."""
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "minimal.py").write_text(MINIMAL_PROGRAM)
        times: dict[str, list[float]] = {what: [] for what in programs}
        for _ in range(repeats):
            for what, args in programs.items():
                start = time.perf_counter()
                subprocess.run([sys.executable, *args], cwd=tmp, check=True, capture_output=True)
                times[what].append(time.perf_counter() - start)
    return times


def machinery(quick: bool) -> Table:
    """Each trainer's default training run against its single-file example: the same math, so
    the ratio of their times is what the run machinery costs."""
    table = Table(
        "The machinery's cost: each trainer's default run over its single-file example",
        ["trainer", "example s", "package s", "ratio", "package with TensorBoard s", "ratio"],
    )
    repeats = 3 if quick else 5
    supervised, reinforce, cartpole = (
        example(n) for n in ("hunger_supervised", "hunger_reinforce", "cartpole_reinforce")
    )

    def cartpole_package(logdir: str | None) -> None:
        torch.manual_seed(1)
        pg.train_episodic(pg.MLPPolicy(4, 2), logdir=logdir)

    runs = {
        "supervised": (
            supervised.train,
            lambda logdir: pg.train_supervised(
                pg.HungerPolicy(), *pg.article_data(), logdir=logdir, figure=False
            ),
        ),
        "reinforce": (
            reinforce.train,
            lambda logdir: pg.train_reinforce(pg.HungerPolicy(), logdir=logdir, figure=False),
        ),
        "episodic (CartPole-v1)": (cartpole.train, cartpole_package),
    }
    if quick:  # a CartPole run takes seconds: the quick look is at the hunger trainers
        del runs["episodic (CartPole-v1)"]
    with tempfile.TemporaryDirectory() as tmp:
        for name, (floor, package) in runs.items():
            rows = [
                (_seconds(floor), _seconds(package, None), _seconds(package, tmp))
                for _ in range(repeats)
            ]
            lean, plain, logged = (statistics.median(column) for column in zip(*rows))
            table.rows.append([name, lean, plain, plain / lean, logged, logged / lean])
    table.notes.append(
        f"Seconds of the training call (setup and training, not imports), median of {repeats}, "
        "interleaved. The package's checks, run helper and guard: the first ratio; with "
        "TensorBoard events and checkpoints (no figure): the second."
    )
    return table


def logging_overhead(quick: bool) -> Table:
    table = Table(
        "Logging overhead: TensorBoard at the default cadence (every 10 steps), then "
        "checkpoints too (default: every 1,000)",
        [
            "trainer",
            "us / step, nothing",
            "us / step, TensorBoard",
            "slower by",
            "us / step, + checkpoints",
            "slower by",
        ],
    )
    hunger, target = pg.article_data()
    repeats = 3 if quick else 7
    trainers = [
        (
            "train_reinforce (batch 8192)",
            1000 if quick else 3000,
            lambda d, s, c: pg.train_reinforce(
                pg.HungerPolicy(), steps=s, logdir=d, save_every=c, figure=False
            ),
        ),
        (
            "train_supervised (4 points)",
            2000 if quick else 10000,
            lambda d, s, c: pg.train_supervised(
                pg.HungerPolicy(), hunger, target, steps=s, logdir=d, save_every=c, figure=False
            ),
        ),
    ]
    with tempfile.TemporaryDirectory() as tmp:
        for name, steps, run in trainers:
            run(None, 20, 0)  # warm up
            rows = [
                (
                    run(None, steps, 0).seconds,
                    run(tmp, steps, 0).seconds,
                    run(tmp, steps, 1000).seconds,
                )
                for _ in range(repeats)
            ]
            off, logged, saved = (statistics.median(column) / steps for column in zip(*rows))
            table.rows.append(
                [
                    name,
                    off * 1e6,
                    logged * 1e6,
                    f"{logged / off - 1:+.1%}",
                    saved * 1e6,
                    f"{saved / off - 1:+.1%}",
                ]
            )
    table.notes.append(
        "Time of the training loop alone (the results' `seconds`), median of repeats, "
        "interleaved. TensorBoard: every scalar and the hparams, as the scripts write them."
    )
    return table


def estimator_variance(quick: bool) -> Table:
    table = Table(
        "REINFORCE gradient estimates of dJ/db (one sample each)",
        [
            "rewards",
            "bias",
            "exact dJ/db",
            "mean of guesses",
            "std, no baseline",
            "std, baseline = J",
            "variance ratio",
        ],
    )
    n = 50_000 if quick else 400_000
    for good, bad in ((1.0, -1.0), (1.0, 0.0)):
        env = pg.HungerBandit(reward_good=good, reward_bad=bad)
        for bias in (0.0, -5.0, -10.0):
            policy = pg.HungerPolicy(bias=bias, dtype=torch.float64)
            j = env.expected_reward(policy).item()
            plain = single_sample_gradients(policy, env, n, torch.Generator().manual_seed(1))
            based = single_sample_gradients(
                policy, env, n, torch.Generator().manual_seed(1), baseline=j
            )
            exact = env.expected_reward_grad_bias(policy).item()
            table.rows.append(
                [
                    f"+{good:g} / {bad:g}",
                    bias,
                    f"{exact:.5f}",
                    f"{plain.mean().item():.5f} ± {plain.std().item() / n**0.5:.5f}",
                    plain.std().item(),
                    based.std().item(),
                    (based.var() / plain.var()).item(),
                ]
            )
    table.notes.append(
        f"{n:,} single-sample guesses per row; the baseline is the exact mean reward J, "
        "the value the running mean tracks."
    )
    return table


def cartpole(quick: bool, seeds: int | None = None) -> Table:
    """Many seeds of the defaults to solved, and the same seeds of the single-file example."""
    seeds = seeds or (3 if quick else 10)
    budget = 300_000  # the same with --quick (fewer seeds): a smaller budget leaves seeds unsolved
    table = _solved_table(f"CartPole-v1 to solved, {seeds} seeds")
    floor = example("cartpole_reinforce")

    def lean(seed: int) -> tuple[bool, int, int, float]:
        start = time.perf_counter()
        mean_return, episodes, env_steps = floor.train(seed=seed)
        return mean_return >= 475, episodes, env_steps, time.perf_counter() - start

    table.rows.append(_seeds_row("pg.train_episodic defaults", _cartpole(budget), seeds))
    table.rows.append(_seeds_row("examples/cartpole_reinforce.py", lean, seeds))
    table.notes.append(
        SEEDS_NOTE + f" Budget per seed: {budget:,} environment steps (the "
        "example: 500,000). The example is the same algorithm: the same episodes, "
        "its own time."
    )
    return table


# the estimators `baseline` compares, as train_episodic's settings
ESTIMATORS = {
    "(a) per-step mean of standardised returns (biased)": {
        "loss_reduction": "step",
        "normalize_returns": True,
        "baseline": "none",
    },
    "(b) textbook estimator with a learned value baseline (unbiased)": {
        "loss_reduction": "episode",
        "normalize_returns": False,
        "baseline": "value",
    },
    "(c) (b) with standardised advantages (biased)": {
        "loss_reduction": "episode",
        "normalize_returns": True,
        "baseline": "value",
    },
}


def baseline(quick: bool, seeds: int | None = None) -> Table:
    """CartPole to solved under each estimator of ESTIMATORS, many seeds: whether the unbiased
    estimator with a learned baseline learns as fast as the biased ones."""
    seeds = seeds or (3 if quick else 10)
    budget = 300_000  # as in `cartpole`
    table = _solved_table(f"CartPole-v1 to solved by estimator, {seeds} seeds")
    for how, settings in ESTIMATORS.items():
        table.rows.append(_seeds_row(how, _cartpole(budget, **settings), seeds))
    defaults = pg.EpisodicConfig()
    table.notes.append(SEEDS_NOTE + f" Budget per seed: {budget:,} environment steps.")
    table.notes.append(
        f"Otherwise the trainer's defaults: gamma {defaults.gamma}, "
        f"{defaults.episodes_per_update} episodes per update, Adam lr {defaults.lr}, MLP 64x64; "
        f"the value function: MLP {'x'.join(map(str, defaults.value_hidden))}, Adam lr "
        f"{defaults.value_lr}, {defaults.value_updates} steps on each batch."
    )
    return table


SEEDS_NOTE = (
    "Median over seeds 1.., with a 95% percentile-bootstrap interval (10,000 resamples of the "
    "seeds); a seed not solved counts as infinitely slow, so an interval ending in inf means "
    "unsolved seeds."
)


def _solved_table(title: str) -> Table:
    return Table(
        f"{title} (mean return of the last 100 episodes >= 475)",
        ["how", "solved", "episodes to solve", "env steps to solve", "training s to solve"],
    )


def _cartpole(budget: int, **settings) -> Callable[[int], tuple[bool, int, int, float]]:
    """A seed's CartPole run with the default network, and what it reached."""

    def train(seed: int) -> tuple[bool, int, int, float]:
        torch.manual_seed(seed)
        result = pg.train_episodic(pg.MLPPolicy(4, 2), seed=seed, total_steps=budget, **settings)
        return result.solved, result.episodes, result.env_steps, result.seconds

    return train


def _seeds_row(how: str, train: Callable[[int], tuple], seeds: int) -> list:
    """A table row: how many seeds solved, and medians with intervals of what it took."""
    runs = [train(seed) for seed in range(1, seeds + 1)]
    solved = sum(r[0] for r in runs)
    cells = [_median_with_interval([r[k] if r[0] else math.inf for r in runs]) for k in (1, 2, 3)]
    return [how, f"{solved} of {len(runs)}", *cells]


def baseline_variance(quick: bool) -> Table:
    """On small tasks with exact gradients: how much a state-value baseline cuts the variance of
    the episodic gradient estimate, and how far each estimator's mean is from the exact gradient.
    The same episodes are drawn for every row (a baseline changes no action)."""
    import gymnasium as gym

    sys.path.insert(0, str(ROOT / "tests"))  # the tests' small MDPs
    from pg import episodes, exact

    from mdps import TableEnvs, slippery_chain

    table = Table(
        "The episodic gradient estimate against the exact gradient, by baseline",
        ["task", "estimator", "variance vs no baseline", "mean vs exact: largest |z|", "angle"],
    )
    batches = 60 if quick else 300
    torch.manual_seed(0)
    chain_policy = pg.MLPPolicy(4, 2, hidden=()).double()
    lake = exact.FiniteMDP.from_gymnasium(gym.make("FrozenLake-v1"))
    lake_policy = pg.MLPPolicy(16, 4, hidden=()).double()
    tasks = {
        "slippery chain (gamma 0.9, 25 steps)": (
            slippery_chain(),
            chain_policy,
            TableEnvs(slippery_chain(), 64, 25),
            0.9,
            25,
        ),
        "FrozenLake-v1 (gamma 0.99, 100 steps)": (
            lake,
            lake_policy,
            episodes.make_envs("FrozenLake-v1", 64),
            0.99,
            100,
        ),
    }
    for task, (mdp, policy, envs, gamma, horizon) in tasks.items():
        for row in _estimator_rows(mdp, policy, envs, gamma, horizon, batches):
            table.rows.append([task, *row])
    table.notes.append(
        f"{batches} batches of 64 episodes per row; variance: the trace of the covariance of the "
        "single-batch gradients, relative to the textbook estimator without a baseline; z: the "
        "mean's distance from the exact gradient in standard errors, per parameter; angle: "
        "between the mean and the exact gradient. v_pi: the exact state values of the policy."
    )
    return table


def _estimator_rows(mdp, policy, envs, gamma, horizon, batches) -> list[list]:
    from pg import exact

    with torch.no_grad():
        probs = exact.action_probabilities(
            policy.distribution(mdp.observations), mdp.transitions.shape[1]
        )
        values = exact.state_values(mdp, probs, gamma)
    params = [p for p in policy.parameters() if p.requires_grad]
    j = exact.expected_return(
        mdp,
        exact.action_probabilities(policy.distribution(mdp.observations), mdp.transitions.shape[1]),
        gamma,
        horizon,
    )
    descent = -torch.cat([g.flatten() for g in torch.autograd.grad(j, params)])
    start = mdp.start @ values
    rows, plain = [], None
    for name, settings in {
        "no baseline": {},
        "a constant baseline, J": {"baseline": lambda obs: start.expand(len(obs))},
        "v_pi": {"baseline": lambda obs: obs @ values},
        "v_pi, standardised advantages": {
            "baseline": lambda obs: obs @ values,
            "normalize_returns": True,
        },
    }.items():
        estimates = _batch_gradients(policy, envs, gamma, batches, **settings)
        plain = estimates if plain is None else plain
        mean, error = estimates.mean(0), estimates.std(0) / batches**0.5
        z = ((mean - descent) / error.clamp_min(1e-12)).abs().max().item()
        cosine = torch.nn.functional.cosine_similarity(mean, descent, dim=0).clamp(-1, 1)
        ratio = (estimates.var(0).sum() / plain.var(0).sum()).item()
        rows.append([name, ratio, z, f"{math.degrees(math.acos(cosine.item())):.1f} deg"])
    return rows


def _batch_gradients(policy, envs, gamma, batches, **settings) -> torch.Tensor:
    """(batches, P) gradients of the textbook loss, one batch each, the same episodes each call."""
    params = [p for p in policy.parameters() if p.requires_grad]
    generator = torch.Generator().manual_seed(0)
    envs.reset(seed=0)
    rows = []
    for _ in range(batches):
        batch = pg.collect_episodes(envs, policy, generator)
        loss = pg.episodic_loss(policy, batch, gamma=gamma, loss_reduction="episode", **settings)
        rows.append(torch.cat([g.flatten() for g in torch.autograd.grad(loss, params)]))
    return torch.stack(rows)


def _median_with_interval(values: list[float], resamples: int = 10_000) -> str:
    """'median [low, high]': the median and its 95% percentile-bootstrap interval."""
    data = np.asarray(values, dtype=float)
    rng = np.random.default_rng(0)
    medians = np.median(rng.choice(data, size=(resamples, len(data)), replace=True), axis=1)
    low, high = np.percentile(medians, [2.5, 97.5], method="lower")
    return f"{_cell(float(np.median(data)))} [{_cell(float(low))}, {_cell(float(high))}]"


# Pendulum-v1 with a Gaussian policy and the learned baseline: the documented recipe
PENDULUM = {
    "gamma": 0.9,
    "loss_reduction": "step",
    "normalize_returns": True,
    "lr": 2e-3,
    "value_lr": 1e-2,
    "value_updates": 10,
    "target_return": None,
}


def pendulum(quick: bool) -> Table:
    """The continuous-control recipe (PENDULUM) over seeds: the mean return of the last 100
    episodes after a million environment steps, and on the way."""
    seeds = range(1, 2 if quick else 4)
    budget = 1_000_000  # the recipe's budget; --quick runs one seed
    table = Table(
        f"Pendulum-v1, a Gaussian policy with a learned baseline, {budget:,} env steps",
        [
            "seed",
            "mean return of the last 100 episodes",
            "after 25% / 50% / 75% of the steps",
            "training s",
        ],
    )
    for seed in seeds:
        torch.manual_seed(seed)
        policy = pg.GaussianMLPPolicy(3, 1)
        result = pg.train_episodic(policy, "Pendulum-v1", seed=seed, total_steps=budget, **PENDULUM)
        curve = result.history["charts/mean_return_100"]
        marks = [curve[max(0, round(len(curve) * f) - 1)] for f in (0.25, 0.5, 0.75)]
        table.rows.append(
            [seed, result.mean_return, " / ".join(f"{m:.0f}" for m in marks), result.seconds]
        )
    flags = " ".join(
        f"--{k.replace('_', '-')} {v}" for k, v in PENDULUM.items() if v not in (True, None)
    )
    table.notes.append(
        f"python scripts/train_episodic.py --env-id Pendulum-v1 {flags} --normalize-returns "
        f"--target-return none --total-steps {budget}; untrained, the Gaussian earns about -1,370."
    )
    return table


# the Pendulum recipe's estimator: the learned baseline, the per-step mean, standardised weights
STEP_WITH_BASELINE = {"loss_reduction": "step", "normalize_returns": True, "baseline": "value"}


def lunar_lander(quick: bool) -> Table:
    """LunarLander-v3 (the `box2d` extra) to its threshold, 200, with and without the learned
    baseline: (a) and (b) of ESTIMATORS, and (d) the per-step estimator with the baseline;
    the default MLP, a few seeds."""
    seeds = range(1, 2 if quick else 4)
    budget = 1_000_000  # --quick runs one seed
    table = Table(
        f"LunarLander-v3 to solved (mean return of the last 100 episodes >= 200), {budget:,} "
        "env steps at most",
        ["estimator", "seed", "solved", "mean return of the last 100", "env steps", "training s"],
    )
    estimators = [*list(ESTIMATORS.items())[:2], ("(d)", STEP_WITH_BASELINE)]
    for how, settings in estimators:
        for seed in seeds:
            torch.manual_seed(seed)
            result = pg.train_episodic(
                pg.MLPPolicy(8, 4), "LunarLander-v3", seed=seed, total_steps=budget, **settings
            )
            row = [result.solved, result.mean_return, result.env_steps, result.seconds]
            table.rows.append([how[:3], seed, *row])
    table.notes.append(
        "(a), (b): the estimators of the CartPole table above; (d): the per-step mean of "
        "standardised G_t - v(s_t), with the learned baseline (the Pendulum recipe's estimator)."
    )
    return table


def reductions(quick: bool) -> Table:
    """CartPole with each loss reduction, with and without normalised returns, over seeds."""
    seeds = range(1, 3 if quick else 9)
    budget = 300_000  # --quick runs two seeds
    table = Table(
        f"CartPole-v1 without a baseline: the estimator's settings, seeds {seeds[0]}-{seeds[-1]}, "
        f"{budget:,} env steps at most",
        ["loss_reduction", "normalize_returns", "gamma", "solved", "env steps to solve (median)"],
    )
    for reduction, normalize, gamma in (
        ("step", True, 0.99),
        ("episode", True, 0.99),
        ("episode", False, 0.99),
        ("episode", True, 1.0),
        ("episode", False, 1.0),
    ):
        solved = []
        for seed in seeds:
            torch.manual_seed(seed)
            result = pg.train_episodic(
                pg.MLPPolicy(4, 2),
                seed=seed,
                baseline="none",
                loss_reduction=reduction,
                normalize_returns=normalize,
                gamma=gamma,
                total_steps=budget,
            )
            if result.solved:
                solved.append(result.env_steps)
        median = statistics.median(solved) if solved else math.inf
        table.rows.append([reduction, normalize, gamma, f"{len(solved)} of {len(seeds)}", median])
    table.notes.append(
        "No baseline; otherwise the trainer's defaults: 16 episodes per update, Adam lr 0.01, "
        "MLP 64x64."
    )
    return table


def threads(quick: bool) -> Table:
    """Training time with the trainers' own choice of CPU threads and with torch's default, on
    an idle machine and while two busy processes (started and stopped here) hold the CPU."""
    default = DEFAULT_THREADS
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else math.nan
    cores = os.cpu_count() or 1
    found = "idle" if load < 0.25 * cores else "as found"  # other work may hold the CPU already
    table = Table(
        f"CPU threads: the trainers' choice against torch's default, {found} and under load",
        [
            "training run",
            "threads chosen",
            f"chosen, {found} s",
            f"default ({default}), {found} s",
            "chosen, loaded s",
            f"default ({default}), loaded s",
        ],
    )
    hunger, target = pg.article_data()
    steps = 5_000 if quick else 20_000
    runs = {
        "train_supervised defaults (4 points, 200 steps)": (
            4,
            lambda t: pg.train_supervised(pg.HungerPolicy(), hunger, target, threads=t),
        ),
        "train_reinforce defaults (batch 8,192, 300 steps)": (
            8192,
            lambda t: pg.train_reinforce(pg.HungerPolicy(), threads=t),
        ),
        "train_reinforce, batch 1,048,576, 20 steps": (
            2**20,
            lambda t: pg.train_reinforce(pg.HungerPolicy(), batch_size=2**20, steps=20, threads=t),
        ),
        f"train_episodic CartPole, {steps:,} env steps": (
            16,
            lambda t: pg.train_episodic(
                pg.MLPPolicy(4, 2), total_steps=steps, target_return=None, threads=t
            ),
        ),
    }
    repeats = 1 if quick else 3
    seconds: dict[tuple[str, bool, bool], float] = {}
    for loaded in (False, True):
        with _busy_processes(2 if loaded else 0):
            for name, (_, train) in runs.items():
                for chosen in (True, False):
                    times = [train(None if chosen else default).seconds for _ in range(repeats)]
                    seconds[name, loaded, chosen] = statistics.median(times)
    for name, (rows, _) in runs.items():
        chosen = parallel.choose_threads(None, rows, parallel.World())
        measured = [seconds[name, loaded, c] for loaded in (False, True) for c in (True, False)]
        table.rows.append([name, chosen, *measured])
    table.notes.append(
        f"Training loop time (the results' `seconds`), median of {repeats}. {found.capitalize()}: "
        f"the load average was {load:.2f} ({cores} cores) when the section began. Loaded: two "
        "more processes spinning on the CPU for the whole measurement, as on a shared machine."
    )
    return table


@contextmanager
def _busy_processes(count: int) -> Iterator[None]:
    """`count` processes that keep a CPU core busy until the block ends."""
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]
    try:
        time.sleep(0.5 if busy else 0.0)  # let them get going
        yield
    finally:
        for process in busy:
            process.kill()
            process.wait()


SECTIONS: dict[str, Callable[[bool], Table]] = {
    "throughput": throughput,
    "solution": solution,
    "machinery": machinery,
    "logging": logging_overhead,
    "variance": estimator_variance,
    "cartpole": cartpole,
    "baseline": baseline,
    "baseline_variance": baseline_variance,
    "pendulum": pendulum,
    "lunar_lander": lunar_lander,
    "reductions": reductions,
    "threads": threads,
}


# what --quick runs unless --only names others: the sections that take seconds, not minutes
QUICK = ("throughput", "machinery", "logging", "variance")


@dataclass
class Args:
    only: str = setting(
        "",
        "comma-separated sections to run (default: all but lunar_lander, which needs the box2d "
        f"extra; with --quick: {', '.join(QUICK)})",
    )
    quick: bool = setting(
        False,
        "fewer repeats, seeds and samples, and only the quick sections unless --only names "
        "others: about a minute",
    )
    logdir: str = setting("logs", "results go to LOGDIR/benchmark/<time>.md and .json")
    seeds: int | None = setting(
        None, "seeds for the cartpole and baseline sections (default: 10, 3 with --quick)"
    )

    def __post_init__(self):
        if self.seeds is not None:
            check_int("seeds", self.seeds, 1)
        unknown = [name for name in self.sections() if name not in SECTIONS]
        require(
            not unknown,
            f"only must name sections among {', '.join(SECTIONS)}, got {', '.join(unknown)}",
        )

    def sections(self) -> list[str]:
        if not self.only.strip():
            return list(QUICK) if self.quick else [n for n in SECTIONS if n != "lunar_lander"]
        return [name.strip() for name in self.only.split(",") if name.strip()]


def main() -> None:
    args = cli.parse(Args, description=__doc__)
    out = Path(args.logdir) / "benchmark"
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UsageError(f"cannot create {out}: {e.strerror}") from None
    about = machine()
    header = "## pg benchmark\n\n" + "".join(f"- {k}: {v}\n" for k, v in about.items())
    print(header)
    tables = []
    for name in args.sections():
        seeded = name in ("cartpole", "baseline")  # they take --seeds
        table = SECTIONS[name](args.quick, args.seeds) if seeded else SECTIONS[name](args.quick)
        print(table.markdown() + "\n", flush=True)
        tables.append(table)
    stem = out / f"{time.strftime('%Y%m%d-%H%M%S')}{'-quick' if args.quick else ''}"
    stem.with_suffix(".md").write_text(
        header + "\n" + "\n\n".join(t.markdown() for t in tables) + "\n"
    )
    record = {"machine": about, "quick": args.quick, "tables": [t.as_dict() for t in tables]}
    stem.with_suffix(".json").write_text(json.dumps(record, indent=2) + "\n")
    print(f"results: {stem}.md and {stem}.json")


if __name__ == "__main__":
    raise SystemExit(cli.run(main))
