"""Measurements behind the README's performance figures; `scripts/benchmark.py` runs them.

Each section returns a `Table` (Markdown for people, a dict for the JSON file):

- throughput: REINFORCE episodes per second on the hunger task, the article's one-sample loop
  (kept lean: plain PyTorch, no checks, no logging) against the batched trainer;
- solution: time to reach bias -10 (within 0.1 supervised, 0.25 REINFORCE), for the training
  part and for the whole `scripts/train_*.py` process, next to the smallest PyTorch training
  program (import torch, one torch.optim step), which is what any script here pays first;
- logging: time per training step with TensorBoard logging at the default cadence and without;
- variance: single-sample REINFORCE gradients against the exact derivative, with and without
  a mean-reward baseline;
- cartpole: many seeds of the CartPole defaults to solved, share solved and medians with
  bootstrap intervals, against a per-step single-environment loop of the same algorithm;
- reductions: CartPole solved or not, and how fast, under each setting of the episodic estimator;
- threads: training time with the trainers' thread choice and with torch's default, idle and
  while two busy processes hold the CPU.

Per-step times come from the trainers' own loop time (`result.seconds`), so fixed costs (building
the optimiser, the run folder, the figure) stay out. Throughput is the best of 5 runs (timeit's
rule: on a shared machine noise only ever adds time), for the one-sample loop as for the trainer;
the other sections take medians.
"""

from __future__ import annotations

import math
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

import pg
import pg.run.parallel
from pg.policy import sample_actions
from pg.reinforce import single_sample_gradients

__all__ = ["SECTIONS", "Table", "machine", "run_sections"]

ROOT = Path(__file__).resolve().parents[1]
SECTIONS = ("throughput", "solution", "logging", "variance", "cartpole", "threads", "reductions")
BEST_OF = 5  # throughput: the best of this many runs
MINIMAL_PROGRAM = (
    "import torch\n"
    "p = torch.nn.Parameter(torch.zeros(()))\n"
    "opt = torch.optim.SGD([p], lr=1.0)\n"
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
        lines = [
            f"### {self.title}",
            "",
            "| " + " | ".join(self.columns) + " |",
            "|" + "---|" * len(self.columns),
        ]
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
        "cores": len(os.sched_getaffinity(0)),
        "torch threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "platform": platform.platform(),
    }
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def run_sections(
    names: Sequence[str], quick: bool, echo: Callable[[str], None] = print, seeds: int | None = None
) -> list[Table]:
    """Run the named sections in order, echoing each table as it completes. `seeds`: how many
    seeds the CartPole section trains (default 10, 3 when quick)."""
    tables = []
    for name in names:
        table = cartpole(quick, seeds) if name == "cartpole" else _SECTIONS[name](quick)
        echo(table.markdown() + "\n")
        tables.append(table)
    return tables


# --- helpers -------------------------------------------------------------------------------------


def _times(fn: Callable[[], object], repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def _median_time(fn: Callable[[], object], repeats: int) -> float:
    return statistics.median(_times(fn, repeats))


def _lean_article_loop(n: int, generator: torch.Generator) -> float:
    """The article's procedure, one sample and one update at a time, in plain PyTorch."""
    bias = torch.zeros((), requires_grad=True)
    optimizer = torch.optim.SGD([bias], lr=1.0)
    for _ in range(n):
        hunger = torch.rand((), generator=generator)
        logit = 20.0 * hunger + bias
        went_b = bool(torch.rand((), generator=generator) >= torch.sigmoid(-logit))
        reward = 1.0 if went_b == bool(hunger > 0.5) else -1.0
        loss = -reward * F.logsigmoid(logit if went_b else -logit)  # -(reward * log p(action))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return bias.item()


# --- sections ------------------------------------------------------------------------------------


def throughput(quick: bool) -> Table:
    table = Table(
        "REINFORCE throughput on the hunger task",
        ["how", "device", "batch", "episodes / s", "vs the one-sample loop", "floor / step"],
    )
    gen = torch.Generator().manual_seed(0)
    n = 3000 if quick else 20000
    _lean_article_loop(200, gen)
    lean = n / min(_times(lambda: _lean_article_loop(n, gen), BEST_OF))
    table.rows.append(
        ["article's loop: 1 sample, 1 update (plain PyTorch)", "cpu", 1, lean, 1.0, ""]
    )

    def episodes_per_second(batch: int, device: str) -> float:
        """From the trainer's own loop time (`seconds`), best of BEST_OF, ~0.5 s each."""
        steps = max(50, min(5000, 20_000_000 // batch)) // (4 if quick else 1)
        pg.train_reinforce(
            pg.HungerPolicy(device=device), batch_size=batch, steps=5, logdir=None
        )  # warm up
        runs = [
            pg.train_reinforce(
                pg.HungerPolicy(device=device), batch_size=batch, steps=steps, lr=1.0, logdir=None
            )
            for _ in range(BEST_OF)
        ]
        return batch * steps / min(r.seconds for r in runs)

    per_sample = episodes_per_second(1, "cpu")
    table.rows.append(["train_reinforce, batch 1", "cpu", 1, per_sample, per_sample / lean, ""])
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    batches = [1024, 8192, 65536, 262144] if quick else [1024, 8192, 65536, 262144, 1048576]
    for device in devices:
        for batch in batches + ([4194304] if device == "cuda" and not quick else []):
            rate = episodes_per_second(batch, device)
            floor = f"{_floor_seconds(batch, device) * rate / batch:.0%}"
            table.rows.append(["train_reinforce, batched", device, batch, rate, rate / lean, floor])
    table.notes.append(
        f"Best of {BEST_OF} runs for every row, the loop as much as the trainer: on a "
        "shared machine noise only adds time."
    )
    table.notes.append(
        "floor / step: the physical floor of a step as a share of the trainer's step: drawing "
        "the step's two random numbers per round (hunger, then the action) from the seeded "
        "generator and one read-and-write pass over a float32 array of the batch, best of "
        f"{BEST_OF}. 100% would be a step that costs nothing else."
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
        f"pg.train_reinforce(pg.HungerPolicy(), batch_size={batch}, steps=10, logdir=None)\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    return int(done.stdout.split()[-1]) / 1024  # ru_maxrss is in KiB on Linux


def hunger_program(name: str) -> tuple[str, list[str]]:
    """How a user starts the hunger trainer `name`, as (label, interpreter arguments): the
    checkout's script where there is one, else the installed package's `python -m pg`."""
    script = ROOT / "scripts" / f"train_{name}.py"
    if script.is_file():
        return f"scripts/train_{name}.py", [str(script)]
    return f"python -m pg train-{name}", ["-m", "pg", f"train-{name}"]


def solution(quick: bool) -> Table:
    table = Table(
        "Time to solution (defaults)", ["what", "seconds", "vs the minimal PyTorch program"]
    )
    repeats = 3 if quick else 5
    scripts = {}
    for name in ("supervised", "reinforce"):
        label, program = hunger_program(name)
        # runs go to the temporary folder's logs/, not the checkout's
        program += ["--quiet", "--logdir", "logs"]
        scripts[f"{label} with defaults, whole process (logging, figure)"] = program
        scripts[f"{label} --no-figure, whole process (logging)"] = [*program, "--no-figure"]
    times = _whole_processes(scripts, repeats)
    minimal = statistics.median(times[MINIMAL])
    for what, measured in times.items():
        table.rows.append(
            [what, statistics.median(measured), statistics.median(measured) / minimal]
        )

    hunger, target = pg.article_data()
    env = pg.HungerBandit()
    trainers = {
        "supervised": (0.1, lambda steps: pg.train_supervised(
            pg.HungerPolicy(), hunger, target, steps=steps, log_every=1, logdir=None)),
        "reinforce": (0.25, lambda steps: pg.train_reinforce(
            pg.HungerPolicy(), env, steps=steps, log_every=1, logdir=None)),
    }  # fmt: skip
    for name, (tolerance, train) in trainers.items():
        history = train(400).history["policy/bias"]  # the bias before step k: after k updates
        steps = next(k for k, bias in enumerate(history) if abs(bias + 10) < tolerance)
        seconds = _median_time(lambda: train(steps), repeats)
        what = f"train_{name} until the bias is within {tolerance} of -10 ({steps} steps), training"
        table.rows.append([what, seconds, ""])
    table.notes.append(
        "The minimal program takes this long because building any torch.optim optimizer "
        "imports torch._dynamo."
    )
    return table


MINIMAL = "minimal PyTorch training program (import torch, one torch.optim step), whole process"


def _whole_processes(programs: dict[str, list[str]], repeats: int) -> dict[str, list[float]]:
    """Wall time of each program as a whole process, next to the minimal PyTorch program,
    interleaved so that drift in the machine's speed hits all alike."""
    with tempfile.TemporaryDirectory() as tmp:
        cwd = Path(tmp)
        (cwd / "minimal.py").write_text(MINIMAL_PROGRAM)
        programs = {MINIMAL: ["minimal.py"], **programs}
        times: dict[str, list[float]] = {what: [] for what in programs}
        for _ in range(repeats):
            for what, args in programs.items():
                command = [sys.executable, *args]
                run = lambda: subprocess.run(command, cwd=cwd, check=True, capture_output=True)  # noqa: E731
                times[what] += _times(run, 1)
    return times


def logging_overhead(quick: bool) -> Table:
    table = Table(
        "Logging overhead: TensorBoard at the default cadence (every 10 steps), then "
        "checkpoints too (default: every 1,000)",
        ["trainer", "us / step, nothing", "us / step, TensorBoard", "slower by",
         "us / step, + checkpoints", "slower by"],
    )  # fmt: skip
    hunger, target = pg.article_data()
    env = pg.HungerBandit()
    repeats = 3 if quick else 7
    trainers = [
        ("train_reinforce (batch 8192)", 1000 if quick else 3000,
         lambda d, s, c: pg.train_reinforce(
             pg.HungerPolicy(), env, steps=s, logdir=d, save_every=c)),
        ("train_supervised (4 points)", 2000 if quick else 10000,
         lambda d, s, c: pg.train_supervised(
             pg.HungerPolicy(), hunger, target, steps=s, logdir=d, save_every=c)),
    ]  # fmt: skip
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
            ]  # interleaved: drift hits all alike
            off, logged, saved = (statistics.median(column) / steps for column in zip(*rows))
            table.rows.append(
                [name, off * 1e6, logged * 1e6, f"{logged / off - 1:+.1%}", saved * 1e6,
                 f"{saved / off - 1:+.1%}"]
            )  # fmt: skip
    table.notes.append(
        "Time of the training loop alone (the results' `seconds`), median of repeats. "
        "TensorBoard: every scalar, "
        "the histograms of >= 1-dim parameters and the hparams, as the scripts write them."
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


def reductions(quick: bool) -> Table:
    """CartPole with each loss reduction, with and without normalised returns, over seeds."""
    seeds = range(1, 3 if quick else 9)
    budget = 100_000 if quick else 300_000
    table = Table(
        f"CartPole-v1: the episodic estimator's settings, seeds {seeds[0]}-{seeds[-1]}, "
        f"{budget:,} env steps at most",
        ["loss_reduction", "normalize_returns", "gamma", "solved", "env steps to solve (median)"],
    )
    for reduction, normalize, gamma in (
        ("step", True, 0.99), ("episode", True, 0.99), ("episode", False, 0.99),
        ("episode", True, 1.0), ("episode", False, 1.0),
    ):  # fmt: skip
        solved = []
        for seed in seeds:
            torch.manual_seed(seed)
            policy = pg.MLPPolicy(obs_dim=4, hidden=(64, 64), num_actions=2)
            result = pg.train_episodic(
                policy, seed=seed, loss_reduction=reduction, normalize_returns=normalize,
                gamma=gamma, total_steps=budget, logdir=None,
            )  # fmt: skip
            if result.solved:
                solved.append(result.env_steps)
        median = statistics.median(solved) if solved else math.inf
        table.rows.append([reduction, normalize, gamma, f"{len(solved)} of {len(seeds)}", median])
    table.notes.append("16 episodes per update, Adam lr 0.01, MLP 64x64: the trainer's defaults.")
    return table


def threads(quick: bool) -> Table:
    """Training time with the trainers' own choice of CPU threads and with torch's default, on
    an idle machine and while two busy processes (started and stopped here) hold the CPU."""
    default = DEFAULT_THREADS
    table = Table(
        "CPU threads: the trainers' choice against torch's default, idle and under load",
        ["training run", "threads chosen", "chosen, idle s", f"default ({default}), idle s",
         "chosen, loaded s", f"default ({default}), loaded s"],
    )  # fmt: skip
    hunger, target = pg.article_data()
    steps = 5_000 if quick else 20_000
    runs = {
        "train_supervised defaults (4 points, 200 steps)": (4, lambda t: pg.train_supervised(
            pg.HungerPolicy(), hunger, target, logdir=None, threads=t)),
        "train_reinforce defaults (batch 8,192, 300 steps)": (8192, lambda t: pg.train_reinforce(
            pg.HungerPolicy(), logdir=None, threads=t)),
        "train_reinforce, batch 1,048,576, 20 steps": (2**20, lambda t: pg.train_reinforce(
            pg.HungerPolicy(), batch_size=2**20, steps=20, logdir=None, threads=t)),
        f"train_episodic CartPole, {steps:,} env steps": (16, lambda t: pg.train_episodic(
            pg.MLPPolicy(4), total_steps=steps, target_return=None, logdir=None, threads=t)),
    }  # fmt: skip
    repeats = 1 if quick else 3
    seconds: dict[tuple[str, bool, bool], float] = {}
    for loaded in (False, True):
        with _busy_processes(2 if loaded else 0):
            for name, (_, train) in runs.items():
                for chosen in (True, False):
                    times = [train(None if chosen else default).seconds for _ in range(repeats)]
                    seconds[name, loaded, chosen] = statistics.median(times)
    world = pg.run.parallel.World()
    for name, (rows, _) in runs.items():
        chosen = pg.run.parallel.choose_threads(None, rows, world)
        table.rows.append(
            [
                name,
                chosen,
                *(seconds[name, loaded, c] for loaded in (False, True) for c in (True, False)),
            ]
        )
    table.notes.append(
        f"Training loop time (the results' `seconds`), median of {repeats}. Loaded: two other "
        "processes spinning on the CPU for the whole measurement, as on a shared machine."
    )
    return table


DEFAULT_THREADS = torch.get_num_threads()  # torch's own choice, before any run sets its own


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


def cartpole(quick: bool, seeds: int | None = None) -> Table:
    """Many seeds of the defaults, next to the per-step loop of reference examples, same budget."""
    seeds = seeds or (3 if quick else 10)
    budget, cap = (100_000, 20.0) if quick else (300_000, 90.0)
    loop_seeds = min(seeds, 5)  # about a minute each: the slow side gets the first five seeds
    table = Table(
        f"CartPole-v1 to solved (mean return of the last 100 episodes >= 475), {seeds} seeds",
        ["how", "solved", "episodes to solve", "env steps to solve", "training s to solve"],
    )
    ours = [_ours(seed, budget) for seed in range(1, seeds + 1)]
    loop = [_single_env_reinforce(seed, cap, budget) for seed in range(1, loop_seeds + 1)]
    for how, runs in (
        ("pg.train_episodic defaults (16 episodes per update, vectorised)", ours),
        ("per-step loop, 1 environment, 1 episode per update", loop),
    ):
        solved = [r for r in runs if r[0]]
        cells = [
            _median_with_interval([r[k] if r[0] else math.inf for r in runs]) for k in (1, 2, 3)
        ]
        table.rows.append([how, f"{len(solved)} of {len(runs)}", *cells])
    table.notes.append(
        "Median over seeds 1.., with a 95% percentile-bootstrap interval (10,000 resamples of "
        "the seeds); a seed not solved counts as infinitely slow, so an interval ending in inf "
        f"means unsolved seeds. Budget per seed: {budget:,} environment steps, and for the "
        f"per-step loop also {cap:.0f} s of training; it runs seeds 1 to {loop_seeds}."
    )
    table.notes.append(
        "The per-step loop is the same algorithm (MLP 64x64, Adam lr 0.01, gamma 0.99, "
        "normalised reward-to-go, one torch thread) with a policy call per environment step."
    )
    return table


def _ours(seed: int, budget: int) -> tuple[bool, int, int, float]:
    torch.manual_seed(seed)
    policy = pg.MLPPolicy(obs_dim=4, hidden=(64, 64), num_actions=2)
    result = pg.train_episodic(policy, seed=seed, total_steps=budget, logdir=None)
    return result.solved, result.episodes, result.env_steps, result.seconds


def _median_with_interval(values: list[float], resamples: int = 10_000) -> str:
    """'median [low, high]': the median and its 95% percentile-bootstrap interval."""
    data = np.asarray(values, dtype=float)
    rng = np.random.default_rng(0)
    medians = np.median(rng.choice(data, size=(resamples, len(data)), replace=True), axis=1)
    low, high = np.percentile(medians, [2.5, 97.5], method="lower")
    return f"{_cell(float(np.median(data)))} [{_cell(float(low))}, {_cell(float(high))}]"


def _single_env_reinforce(seed: int, cap: float, budget: int) -> tuple[bool, int, int, float]:
    """REINFORCE the way the common reference examples write it: one environment, a policy call
    per step, log-probabilities collected as the episode runs, one update per episode."""
    import gymnasium as gym

    torch.manual_seed(seed)
    policy = pg.MLPPolicy(obs_dim=4, hidden=(64, 64), num_actions=2)
    optimizer = torch.optim.Adam(policy.parameters(), lr=0.01)
    generator = torch.Generator().manual_seed(seed)
    env = gym.make("CartPole-v1")
    env.reset(seed=seed)
    recent: deque[float] = deque(maxlen=100)
    episodes = steps = 0
    start = time.perf_counter()
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the same choice as the trainer's: tiny tensors
    while time.perf_counter() - start < cap and steps < budget:
        obs, _ = env.reset()
        log_probs, rewards, done = [], [], False
        while not done:
            dist = policy.distribution(torch.as_tensor(obs).unsqueeze(0))  # (1, 4)
            action = sample_actions(dist, generator)
            log_probs.append(dist.log_prob(action))
            obs, reward, terminated, truncated, _ = env.step(int(action.item()))
            rewards.append(reward)
            done = terminated or truncated
        reward_t = torch.tensor(rewards).unsqueeze(1)  # (T, 1)
        ends = torch.zeros_like(reward_t, dtype=torch.bool)
        weight = pg.normalize_returns(pg.reward_to_go(reward_t, ends, 0.99).squeeze(1))
        loss = pg.reinforce_loss(torch.cat(log_probs), weight)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        episodes, steps = episodes + 1, steps + len(rewards)
        recent.append(sum(rewards))
        if len(recent) == 100 and statistics.fmean(recent) >= 475:
            break
    torch.set_num_threads(previous_threads)
    solved = len(recent) == 100 and statistics.fmean(recent) >= 475
    return solved, episodes, steps, time.perf_counter() - start


_SECTIONS = {
    "throughput": throughput,
    "solution": solution,
    "logging": logging_overhead,
    "variance": estimator_variance,
    "cartpole": cartpole,
    "threads": threads,
    "reductions": reductions,
}
