"""`Run`: the machinery of one training run, shared by the three trainers.

A trainer's loop is the algorithm; everything else a run needs happens in a few calls:

    run = Run("reinforce", cfg, policy, optimizer, total=cfg.steps, resume=resume, ...)
    generator = run.generator()            # seeded per rank; restored when resuming
    with run:                              # run folder, events, progress: closed however it ends
        for step in run.steps():           # until the budget is spent or a signal asks to stop
            loss = ...                     # the algorithm: forward, loss, backward
            run.update(loss, log=..., show=...)   # guard, log, optimiser step, count

What happens around each update, and in which order, is decided here and nowhere else:
- the non-finite guard reads the loss and the gradients *before* the optimiser step, so a NaN
  never reaches the parameters, and the last good checkpoint is named in the error;
- on a GPU nothing reads the device at every step: the guard is read at logging points and
  before checkpoints, and logged values cross to the host in one transfer;
- under torchrun the gradients are averaged over the ranks before the guard sees them, and only
  rank 0 has a run folder, events and output;
- `done` counts the run's unit (optimiser steps for the hunger trainers, environment steps for
  episodes) and is the x axis of every logged scalar: the units consumed before the update, so
  a point describes the policy that produced the update's data; logging and checkpoint cadences
  count updates;
- checkpoints are written after the whole loop body, so whatever the trainer updates after the
  optimiser step (a running baseline) is in them, and once more when the loop ends.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from pg.run import checkpoint, parallel
from pg.run.checkpoint import Checkpoint
from pg.run.config import require
from pg.run.logger import (
    HISTOGRAM_EVERY,
    History,
    RunLogger,
    lock_run_dir,
    open_run_dir,
    rewind_events,
)
from pg.run.progress import Progress
from pg.run.stopping import FiniteGuard, GracefulStop

__all__ = ["Run"]

Values = Mapping[str, "float | Tensor"]


class Run:
    """The run folder, events, checkpoints, resume, progress, guard and signals of one training run.

    `kind` names the trainer (and the folder under `logdir`); `config` is its settings dataclass
    (`seed`, `logdir`, `run_name`, `log_every`, `save_every` are read); `total` is the budget in
    the run's unit. `state` returns what the trainer itself must save to resume exactly (a
    baseline, environments' random states); `record` goes to the run's settings;
    `rows` is how many rows a forward pass takes, from which the CPU threads are chosen;
    `histogram_every` is the cadence of parameter histograms in logging points (and the last).
    """

    def __init__(
        self,
        kind: str,
        config: Any,
        policy: nn.Module,
        optimizer: torch.optim.Optimizer,
        *,
        total: int,
        resume: Checkpoint | None = None,
        stop: GracefulStop | None = None,
        verbose: bool = False,
        unit: str = "step",
        state: Callable[[], dict[str, Any]] | None = None,
        record: dict[str, Any] | None = None,
        rows: int = 1,
        histogram_every: int = HISTOGRAM_EVERY,
    ):
        self.world = parallel.current()
        require(
            resume is None or self.world.size == 1,
            "resuming is for one process: a checkpoint holds rank 0's generators only",
        )
        self.kind, self.config, self.total = kind, config, total
        self.policy, self.optimizer = policy, optimizer
        self.params = [p for p in policy.parameters() if p.requires_grad]
        self.device = self.params[0].device
        self.resumed: dict[str, Any] | None = resume.state if resume is not None else None
        self._resume_path = resume.path if resume is not None else None
        self.done = self.updates = 0
        if resume is not None:
            self.done = checkpoint.restore(resume, policy, optimizer, total)
            self.updates = int(resume.state.get("update", self.done))
        parallel.share_parameters(policy)  # under torchrun every rank starts from rank 0's weights
        self.start = self.done
        self.run_dir: Path | None = (
            open_run_dir(config, kind, resume) if config.logdir and self.world.is_main else None
        )
        self._lock = lock_run_dir(self.run_dir) if self.run_dir is not None else None
        self.history = History()
        self.seconds = 0.0
        self.finished = False  # a `final` update was made (a trainer may set it before the loop)
        self.histogram_every = histogram_every
        self._stop, self._state, self._generator = stop, state, None
        self._record = dict(record or {})
        self._guard = FiniteGuard(
            [n for n, p in policy.named_parameters() if p.requires_grad], self.device
        )
        self._saver = checkpoint.Saver(self.run_dir, config.save_every, self._checkpoint_state)
        self.log = RunLogger(self.run_dir)
        self._verbose, self._unit = verbose, unit
        self._threads = parallel.choose_threads(config.threads, rows, self.world)
        self._threads_before = torch.get_num_threads()

    def generator(self) -> torch.Generator:
        """The run's sampling generator: seeded from `seed` (per rank), restored, saved."""
        self._generator = torch.Generator(device=self.device).manual_seed(
            parallel.rank_seed(self.config.seed, self.world)
        )
        if self.resumed is not None:
            with self.restoring():
                self._generator.set_state(self.resumed["generator"])
        return self._generator

    def restoring(self) -> Any:
        """A block that puts a trainer's own saved state back: what does not fit is refused
        in one line naming the checkpoint."""
        return checkpoint.fitting(self._resume_path)

    def __enter__(self) -> Run:
        if self.run_dir is not None and self.resumed is not None:
            # only now that everything has been restored: a refused resume leaves the run as it was
            rewind_events(self.run_dir, self.resumed.get("events"), keep=self.log.event_file)
        torch.set_num_threads(self._threads)  # for this run; put back as it was when it ends
        self._progress = Progress(
            self._verbose and self.world.is_main,
            self.total,
            self.run_dir,
            self.config.logdir,
            unit=self._unit,
        )
        self.policy.train()  # dropout and the like on while training; exact values use eval mode
        if self.resumed is None:
            self.log.settings(
                dataclasses.asdict(self.config),
                trainer=self.kind,
                initial_policy=repr(self.policy),
                torch=torch.__version__,
                **self._record,
            )
        return self

    def __exit__(self, *exc) -> None:
        torch.set_num_threads(self._threads_before)
        self._progress.close()
        self.log.close()
        if self._lock is not None:
            self._lock.close()

    def steps(self) -> Iterator[int]:
        """Yield `done` before each update until the budget is spent, a `final` update was made
        or a signal asked to stop; checkpoint at the cadence, and once more at the end."""
        started = time.perf_counter()
        while self.done < self.total and not self.finished and not self.stop_requested:
            self.optimizer.zero_grad(set_to_none=True)
            yield self.done
            if self._saver.due(self.updates):
                self._save()
        self.seconds = time.perf_counter() - started
        if self.done > self.start:
            self._save()

    def update(
        self,
        loss: Tensor,
        *,
        log: Callable[[], Values],
        show: Callable[[], dict[str, float]] | None = None,
        units: int = 1,
        final: bool = False,
    ) -> None:
        """After backward: average gradients over ranks, guard, log, optimiser step, count `units`.

        `log()` gives the scalars of a logging point and `show()` the values of a progress line;
        each is called only when it is used. `final` marks the last update (a solved task).
        """
        parallel.average_gradients(self.params)
        last = final or self.done + units >= self.total
        logging = self.updates % self.config.log_every == 0 or last
        self._guard.watch(self.done, loss, [p.grad for p in self.params])
        with self._saver.naming_last_good():
            self._guard.check(sync_point=logging or self._saver.due(self.updates + 1))
        if logging:
            self.history.add(self.done, self.log.scalars(self.done, log()))
            point = self.updates // self.config.log_every
            if point % self.histogram_every == 0 or last:
                self.log.histograms(self.done, self.policy)
        self.optimizer.step()
        self.done, self.updates, self.finished = self.done + units, self.updates + 1, final
        shown = show() if show is not None and self._progress.wants(self.done, logging) else None
        self._progress.update(min(self.done, self.total), shown)

    @property
    def stop_requested(self) -> bool:
        return self._stop is not None and self._stop.requested is not None

    @property
    def interrupted(self) -> int | None:
        """The signal that stopped training early (SIGINT, SIGTERM), if any; None when the run
        finished all the same (the signal came during its last update)."""
        finished = self.finished or self.done >= self.total
        return self._stop.requested if self._stop is not None and not finished else None

    @property
    def checkpoint(self) -> Path | None:
        """The last checkpoint written."""
        return self._saver.path

    def _save(self) -> None:
        """A checkpoint, after the events up to it are on disk: the events never lag behind, and
        it records where they end, so a resume carries on from there (`rewind_events`)."""
        self._saver.save()

    def _checkpoint_state(self) -> dict[str, Any]:
        state = {
            "trainer": self.kind,
            "step": self.done,
            "update": self.updates,
            "settings": dataclasses.asdict(self.config),
            "policy": self.policy.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "policy_spec": self.policy.spec() if hasattr(self.policy, "spec") else None,
            "events": self.log.position(),  # flushed: the events are on disk up to here
        }
        if self._generator is not None:
            state["generator"] = self._generator.get_state()
        return {**state, **(self._state() if self._state is not None else {})}
