"""What a training run prints while it works: where it logs, then its progress.

On a terminal: a tqdm bar with the latest values. Elsewhere (a pipe, a log file, CI): about ten
plain lines spread over the run, so a log stays short whatever the step count. Silent when
disabled, which is the default for the Python API. Progress is counted in any unit: optimiser
steps for the hunger trainers, environment steps for episodic training.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

__all__ = ["Progress"]

PLAIN_LINES = 10


class Progress:
    """Progress display of one run of `total` units; `close` it when the run ends."""

    def __init__(
        self,
        enabled: bool,
        total: int,
        run_dir: Path | None,
        logdir: str | None,
        unit: str = "step",
    ):
        self.enabled = enabled
        self.total = total
        self.unit = unit
        self._bar = None
        self._every = max(1, -(-total // PLAIN_LINES))  # ceil: at most PLAIN_LINES plain lines
        self._next_line = 1  # the first unit done gets a line, then every `_every`
        if enabled and run_dir is not None:
            print(where(run_dir, logdir), flush=True)
        if enabled and sys.stderr.isatty():
            from tqdm import tqdm

            self._bar = tqdm(
                total=total, unit=unit, dynamic_ncols=True, leave=False, file=sys.stderr
            )

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def update(self, done: int) -> None:
        """`done` units are complete."""
        if self._bar is not None:
            self._bar.update(done - self._bar.n)

    def show(self, done: int, values: dict[str, float]) -> None:
        """Show `values` (a logging point's) with `done`: on the bar, or as a plain line when
        the next of the ten lines is due (and at the end)."""
        if self._bar is not None:
            self._bar.set_postfix({k: f"{v:.7g}" for k, v in values.items()}, refresh=False)
        elif self.enabled and (done >= self._next_line or done >= self.total):
            while self._next_line <= done:
                self._next_line += self._every
            shown = "  ".join(f"{k} {v:.7g}" for k, v in values.items())
            print(f"{self.unit} {done:>{len(str(self.total))}}/{self.total}  {shown}", flush=True)


def where(run_dir: Path, logdir: str | None) -> str:
    """The line that says where a run is and how to view it, with paths quoted as a shell needs
    them (`my logs` would split in two when pasted). Without a `logdir` (a resume from Python
    that gave none), the root is the one the run folder is in: `<root>/<trainer>/<run>`."""
    logdir = logdir if logdir is not None else run_dir.parent.parent
    return (
        f"run folder: {shlex.quote(str(run_dir))}   "
        f"(view: tensorboard --logdir {shlex.quote(str(logdir))})"
    )
