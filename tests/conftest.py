"""Shared test helpers: run a script as a user would, read TensorBoard events back."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run_script(name: str, *args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    """`python scripts/<name>.py ARGS` from `cwd`, as a user runs it; output captured as text."""
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / f"{name}.py"), *args],
        cwd=cwd, capture_output=True, text=True, timeout=timeout,
    )


def read_events(run_dir: Path):
    """A run folder's events, every point kept, through tensorboard's own EventAccumulator."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run_dir), size_guidance={"scalars": 0, "images": 0, "histograms": 0, "tensors": 0})
    acc.Reload()
    return acc


def read_scalars(run_dir: Path) -> dict[str, list[tuple[int, float]]]:
    """Every scalar tag of a run folder, as (step, value) pairs."""
    acc = read_events(run_dir)
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def only_run_dir(logdir: Path, kind: str) -> Path:
    """The one run folder under logdir/kind; fails if there are none or several."""
    runs = sorted((logdir / kind).iterdir())
    assert len(runs) == 1, runs
    return runs[0]


@pytest.fixture
def logdir(tmp_path: Path) -> Path:
    return tmp_path / "logs"
