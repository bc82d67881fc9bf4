"""Shared test helpers: run a script as a user would, read TensorBoard events back."""

from __future__ import annotations

import importlib
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def pytest_configure(config: pytest.Config) -> None:
    """Where tests run (this process, or each pytest-xdist worker), torch uses one CPU thread: the
    tests' tensors are tiny, one thread is fastest, and far faster on a busy machine (the trainers
    choose their own threads the same way, `pg.run.parallel.choose_threads`). The xdist controller,
    which runs no test, does not even import torch."""
    if getattr(config.option, "numprocesses", None) and not hasattr(config, "workerinput"):
        return
    import torch

    torch.set_num_threads(1)
    # the tests press Ctrl-C as from a terminal; a test run started in the background
    # (`pytest &`) ignores SIGINT, and the trainers, like Python, would leave it ignored
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def script_copy(name: str, cwd: Path) -> str:
    """`scripts/<name>.py` copied into `cwd/scripts/`, as the relative path a user types from the
    root of a checkout. A script writes to the `logs/` beside its own `scripts/` folder, so the
    copy's runs land in `cwd/logs`, not in this repository's."""
    copy = cwd / "scripts" / f"{name}.py"
    copy.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(ROOT / "scripts" / f"{name}.py", copy)
    return f"scripts/{name}.py"


def run_script(
    name: str, *args: str, cwd: Path, timeout: float = 120
) -> subprocess.CompletedProcess:
    """`python scripts/<name>.py ARGS` from `cwd`, as a user runs it from a checkout (a copy of the
    script, `script_copy`); output captured as text."""
    return subprocess.run(
        [sys.executable, script_copy(name, cwd), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def script_module(name: str):
    """The program behind `scripts/<name>.py`: its module in `pg.commands`."""
    return importlib.import_module(f"pg.commands.{name}")


def run_main(
    name: str, *args: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> tuple[int, str, str]:
    """The script's `main` through `cli.run`, in this process: (exit code, stdout, stderr).

    The same code path as `python scripts/<name>.py ARGS` (from the checkout's root, writing to
    `logs/` in the current folder) without starting an interpreter and importing torch again; the
    subprocess tests cover the interpreter around it.
    """
    from pg.run import cli

    module = script_module(name)
    monkeypatch.setattr(sys, "argv", [f"scripts/{name}.py", *args])
    code = cli.run(module.main)
    out, err = capsys.readouterr()
    return code, out, err


def assert_refused(code: int, out: str, err: str, script: str, words: str, runs: Path) -> None:
    """Bad input: exit code 2, nothing on stdout, one line on stderr naming the problem, and the
    folder of runs `runs` left as it was (only a pre-made `taken` folder, if any)."""
    assert code == 2, err
    assert out == ""
    assert len(err.splitlines()) == 1, err
    assert err.startswith(f"{script}.py: error: ") and words in err, err
    assert not runs.exists() or sorted(p.name for p in runs.iterdir()) == ["taken"]


def read_events(run_dir: Path):
    """A run folder's events, every point kept, through tensorboard's own EventAccumulator."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(
        str(run_dir), size_guidance={"scalars": 0, "images": 0, "histograms": 0, "tensors": 0}
    )
    acc.Reload()
    return acc


def read_scalars(run_dir: Path) -> dict[str, list[tuple[int, float]]]:
    """Every scalar tag of a run folder, as (step, value) pairs."""
    acc = read_events(run_dir)
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def raw_scalars(run_dir: Path) -> list[tuple[str, int, float]]:
    """Every scalar point in a run folder's event files, in file order, as (tag, step, value):
    nothing merged or purged (TensorBoard's own reader hides a repeated step by dropping points)."""
    from tensorboard.backend.event_processing.event_file_loader import LegacyEventFileLoader

    points = []
    for path in sorted(run_dir.glob("*tfevents*")):
        for event in LegacyEventFileLoader(str(path)).Load():
            for value in event.summary.value:
                if value.HasField("simple_value"):
                    points.append((value.tag, event.step, value.simple_value))
    return points


def only_run_dir(logdir: Path, kind: str) -> Path:
    """The one run folder under logdir/kind; fails if there are none or several."""
    runs = sorted((logdir / kind).iterdir())
    assert len(runs) == 1, runs
    return runs[0]


@pytest.fixture
def logdir(tmp_path: Path) -> Path:
    return tmp_path / "logs"


def cartpole_policy(seed: int = 0):
    """The episodic trainer's default network for CartPole, its weights from `seed`."""
    import torch

    import pg

    torch.manual_seed(seed)
    return pg.MLPPolicy(obs_dim=4, num_actions=2, hidden=(64, 64))
