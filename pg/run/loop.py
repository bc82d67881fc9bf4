"""`Run`: the passive helper a trainer's loop calls; the trainer owns its step.

A trainer's loop, with everything `Run` does named in the comments:

    run = Run("reinforce", settings, policy, optimizer, total=settings.steps, ...)
    generator = run.generator()        # seeded per rank; restored when resuming
    with run:                          # run folder, events, progress: closed however it ends
        for _ in run.steps():          # until the budget is spent or a signal asks to stop;
            ...                        #   checkpoints at the cadence and at the end
            optimizer.zero_grad()
            loss.backward()
            average_gradients(policy)  # torchrun: the mean over the processes
            run.check_finite(loss)     # a NaN stops here, before the optimiser applies it
            optimizer.step()
            if run.logging:            # the first update, every `log_every`-th, and the last
                run.log({...})         # the scalars it is handed, at the step count reached

What `Run` decides, and nowhere else:
- `step` counts the run's unit (optimiser steps for the hunger trainers, environment steps for
  episodes: `advance` says how many an update took) and is the x axis of every logged scalar:
  the units done once the update is made, so the point of update t shows the parameters it
  left, with its loss and gradient, and the last point is the trained policy; the progress
  line, the history and checkpoints count the same way; logging and checkpoint cadences count
  updates;
- on a GPU nothing reads the device at every step: the non-finite check is read at logging
  points and before checkpoints;
- under torchrun only rank 0 has a run folder, events and output;
- checkpoints are written after the whole loop body, so whatever the trainer updates after the
  optimiser step (a running baseline) is in them; the objects in `state` (anything with
  `state_dict` and `load_state_dict`) are saved with the policy and optimiser and put back on
  resume.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import Tensor, nn

from pg.run import checkpoint, parallel
from pg.run.checkpoint import Checkpoint
from pg.run.logger import (
    History,
    RunLogger,
    changed_hyperparameters,
    discard_empty_run,
    lock_run_dir,
    make_run_dir,
    parameter_scalars,
    rewind_events,
)
from pg.run.progress import Progress
from pg.run.settings import RunSettings
from pg.run.stopping import FiniteGuard, GracefulStop

__all__ = ["Run", "RunResult", "Stateful"]

HISTOGRAM_EVERY = 10  # histograms cost ~1 ms, a hunger step ~1 ms: every 10th logging point


class Stateful(Protocol):
    """What a checkpoint can hold besides the policy and optimiser: PyTorch's own protocol."""

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


@dataclass
class RunResult:
    """What every trainer returns besides its own numbers (the trained parameters are in the
    policy itself)."""

    seconds: float  # wall time of the training loop (not the setup, not the figure)
    run_dir: Path | None  # None when logging was off
    checkpoint: Path | None  # the last checkpoint written
    interrupted: int | None  # the signal that stopped training early (SIGINT, SIGTERM), if any
    # 'step' and every scalar tag, at each logging point; left out of the repr, which stays a
    # one-screen summary
    history: dict[str, list[float]] = dataclasses.field(repr=False)


class Run:
    """The run folder, events, checkpoints, resume, progress, guard and signals of one run.

    `kind` names the trainer (and the folder under `logdir`); `settings` is its `RunSettings`;
    `total` is the budget in the run's `unit`. `state` names the trainer's own objects to save
    and restore (a baseline, the environments' random states); `record` goes to the run's
    recorded settings; `rows` is how many rows a forward pass takes, from which the CPU threads
    are chosen; `show` maps a progress-line label to a logged tag (the 0-dim parameters are
    always shown); `histogram_every` is the
    cadence of parameter histograms in logging points (and always the last).
    """

    def __init__(
        self,
        kind: str,
        settings: RunSettings,
        policy: nn.Module,
        optimizer: torch.optim.Optimizer,
        *,
        total: int,
        resume: Checkpoint | None = None,
        stop: GracefulStop | None = None,
        verbose: bool = False,
        unit: str = "step",
        state: Mapping[str, Stateful] | None = None,
        record: Mapping[str, Any] | None = None,
        rows: int = 1,
        show: Mapping[str, str] | None = None,
        histogram_every: int = HISTOGRAM_EVERY,
    ):
        self.world = parallel.current()
        if resume is not None:
            checkpoint.check_resumable(resume, self.world.size)
        self.kind, self.settings, self.total = kind, settings, total
        self.policy, self.optimizer = policy, optimizer
        self.device = next(p for p in policy.parameters() if p.requires_grad).device
        self.state = dict(state or {})
        self.resumed = resume
        self.step = self.updates = 0
        if resume is not None:
            self.step, self.updates = checkpoint.restore(
                resume, policy, optimizer, total, self.state
            )
        parallel.share_parameters(policy)  # under torchrun every rank starts from rank 0's weights
        self.start = self.step
        self.finished = False  # set when an update was the last (a solved task)
        self.history = History()
        self.seconds = 0.0
        recorded = settings.logdir or resume is not None  # a resume goes on in its own folder
        self.run_dir = self._open_run_dir() if recorded and self.world.is_main else None
        self._lock = lock_run_dir(self.run_dir) if self.run_dir is not None else None
        self._stop, self._generator = stop, None
        self._record, self._show = dict(record or {}), dict(show or {})
        self._verbose, self._unit, self._histogram_every = verbose, unit, histogram_every
        self._guards: dict[int, FiniteGuard] = {}  # one per module that learns, by id
        self._saved: Checkpoint | None = None
        self._units, self._final = 1, False  # what the update in progress consumes
        self._points = 0  # logging points written by this process
        self._threads = parallel.choose_threads(settings.threads, rows, self.world)
        self._threads_before = torch.get_num_threads()
        self._log = RunLogger(self.run_dir)
        # the scalar parameters before training (the hunger policy's bias): step 0 of their curves
        self.initial = {
            tag: value.item()
            for tag, value in parameter_scalars(policy).items()
            if tag.startswith("policy/")
        }

    def generator(self) -> torch.Generator:
        """The run's sampling generator: seeded from `seed` (per rank), restored, saved."""
        seed = parallel.rank_seed(self.settings.seed, self.world)
        self._generator = torch.Generator(device=self.device).manual_seed(seed)
        if self.resumed is not None:
            with checkpoint.fitting(self.resumed.path):
                self._generator.set_state(self.resumed.state["generator"])
        return self._generator

    def __enter__(self) -> Run:
        if self.run_dir is not None and self.resumed is not None:
            # only now that everything has been restored: a refused resume leaves the run as it was
            position = self.resumed.state.get("events")
            rewind_events(self.run_dir, position, keep=self._log.event_file)
        torch.set_num_threads(self._threads)  # for this run; put back as it was when it ends
        self._progress = Progress(
            self._verbose and self.world.is_main,
            self.total,
            self.run_dir,
            self.settings.logdir,
            unit=self._unit,
        )
        self.policy.train()  # dropout and the like on while training; exact values use eval mode
        if self.resumed is None:
            self._log.settings(
                # the processes: under torchrun each update's batch is world_size times the setting
                {**dataclasses.asdict(self.settings), "world_size": self.world.size},
                trainer=self.kind,
                initial_policy=repr(self.policy),
                torch=torch.__version__,
                **self._record,
            )
            self._log.scalars(0, self.initial)  # where the curves of the parameters start
        return self

    def __exit__(self, *exc) -> None:
        torch.set_num_threads(self._threads_before)
        self._progress.close()
        self._log.close()
        if self._lock is not None:
            self._lock.close()
        if (
            self.run_dir is not None
            and self.resumed is None
            and self.step == 0
            and self.stop_requested
        ):  # a signal before the first update: the folder holds no work, and frees its name
            discard_empty_run(self.run_dir)
            self.run_dir = None

    def steps(self) -> Iterator[int]:
        """Yield `step` before each update until the budget is spent, an update was the last or a
        signal asked to stop; count the update after it, checkpoint at the cadence and at the end.
        """
        started = time.perf_counter()
        while self.step < self.total and not self.finished and not self.stop_requested:
            self._units, self._final = 1, False
            yield self.step
            self.step += self._units
            self.updates += 1
            self.finished = self._final
            self._progress.update(min(self.step, self.total))
            if self._save_due(self.updates):
                self._save()
        self.seconds = time.perf_counter() - started
        if self.step > self.start:
            self._save()

    def advance(self, units: int, *, final: bool = False) -> None:
        """The update in progress consumes `units` (environment steps), not one; `final`: it is
        the last (the task is solved). Say it before `logging` is asked: the last update logs."""
        self._units, self._final = units, final

    @property
    def logging(self) -> bool:
        """Whether this update writes a logging point: the first, every `log_every`-th, the last."""
        last = self._final or self.step + self._units >= self.total
        return self.updates == 0 or (self.updates + 1) % self.settings.log_every == 0 or last

    def check_finite(self, loss: Tensor, module: nn.Module | None = None) -> None:
        """Stop training at the first NaN or infinity in the loss or in any gradient of `module`
        (the policy unless another is named: a value function in `state`), naming its step (the
        count this update would have reached, as the progress line and TensorBoard count) and
        the last good checkpoint (`NonFiniteError`). Call it between `backward` and
        `optimizer.step()`: the bad values then never reach the parameters. On a GPU the check
        is read at the next logging point or checkpoint instead, so the host never waits for
        the device at every step."""
        module = self.policy if module is None else module
        if id(module) not in self._guards:
            name = next((k for k, v in self.state.items() if v is module), "")
            trained = [n for n, p in module.named_parameters(prefix=name) if p.requires_grad]
            label = f"{name} loss" if name else "loss"
            self._guards[id(module)] = FiniteGuard(trained, self.device, loss=label)
        grads = [p.grad for p in module.parameters() if p.requires_grad]
        self._guards[id(module)].watch(self.step + self._units, loss, grads)
        self._check(sync_point=False)

    def log(self, values: Mapping[str, float | Tensor]) -> None:
        """Write a logging point for the update just made, after `optimizer.step()`: at the step
        count it reached (`step` + this update's units), the number the progress line, the
        history and the checkpoint use too. The scalars handed in are kept in `history` and
        shown in the progress line; histograms of the policy's weights and gradients come at
        every `histogram_every`-th point and the last."""
        self._check(sync_point=True)
        done = self.step + self._units
        floats = self._log.scalars(done, values)
        self.history.add(done, floats)
        self._points += 1
        last = self._final or done >= self.total
        if (self._points - 1) % self._histogram_every == 0 or last:  # the 1st, 11th, ... point
            self._log.histograms(done, self.policy)
            for name, module in self.state.items():
                if isinstance(module, nn.Module):
                    self._log.histograms(done, module, prefix=f"{name}.")
        shown = {t.removeprefix("policy/"): v for t, v in floats.items() if t.startswith("policy/")}
        shown.update({label: floats[tag] for label, tag in self._show.items() if tag in floats})
        self._progress.show(done, shown)

    def log_at(self, step: int, values: Mapping[str, float | Tensor]) -> None:
        """Write scalars at a step of the trainer's choosing (one point per finished episode)."""
        self._log.scalars(step, values)

    def log_figure(self, tag: str, figure: Any, filename: str) -> None:
        """A matplotlib figure into the Images tab and the run folder, at the run's last step."""
        self._log.figure(tag, figure, self.step, filename)

    def charts(self, layout: Mapping[str, Mapping[str, list[str]]]) -> None:
        """Tags drawn together in TensorBoard's Custom Scalars tab (see `RunLogger.charts`);
        written once, when the run begins."""
        if self.resumed is None:
            self._log.charts(layout)

    @property
    def stop_requested(self) -> bool:
        return self._stop is not None and self._stop.requested is not None

    @property
    def interrupted(self) -> int | None:
        """The signal that stopped training early (SIGINT, SIGTERM), if any; None when the run
        finished all the same (the signal came during its last update)."""
        finished = self.finished or self.step >= self.total
        return self._stop.requested if self._stop is not None and not finished else None

    @property
    def checkpoint(self) -> Path | None:
        """The last checkpoint written."""
        return self._saved.path if self._saved is not None else None

    def path(self, tag: str) -> list[float]:
        """A scalar parameter's values (`policy/bias`) from the start: where it began, then each
        logged value, as its TensorBoard curve has them; for the figures."""
        return [self.initial[tag], *self.history.get(tag, [])]

    def outcome(self) -> dict[str, Any]:
        """The fields of `RunResult`, for the trainer's result."""
        return {
            "seconds": self.seconds,
            "run_dir": self.run_dir,
            "checkpoint": self.checkpoint,
            "interrupted": self.interrupted,
            "history": self.history,
        }

    def _open_run_dir(self) -> Path:
        """The resumed run's own folder, or a new one named from the settings."""
        if self.resumed is not None:
            return self.resumed.run_dir
        s = self.settings
        changed = changed_hyperparameters(s)
        if self.world.size > 1:  # torchrun: a run of several processes says so in its name
            changed = ",".join(filter(None, [f"world_size={self.world.size}", changed]))
        return make_run_dir(s.logdir, self.kind, s.run_name, s.seed, changed)

    def _save_due(self, updates: int) -> bool:
        every = self.settings.save_every
        return self.run_dir is not None and every > 0 and updates % every == 0

    def _check(self, sync_point: bool) -> None:
        """Raise the guard's NonFiniteError, if any, with where the last good checkpoint is."""
        try:
            for guard in self._guards.values():
                guard.check(sync_point)
        except checkpoint.NonFiniteError as e:
            raise checkpoint.NonFiniteError(f"{e}; {checkpoint.describe(self._saved)}") from None

    def _save(self) -> None:
        """A checkpoint, after the events up to it are on disk: it records where they end, so a
        resume carries on from there (`rewind_events`). Never after a non-finite update."""
        self._check(sync_point=True)
        if self.run_dir is None:
            return
        state = {
            "trainer": self.kind,
            "step": self.step,
            "update": self.updates,
            "settings": dataclasses.asdict(self.settings),
            "policy": self.policy.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "policy_spec": self.policy.spec() if hasattr(self.policy, "spec") else None,
            "events": self._log.position(),  # flushed: the events are on disk up to here
            **{name: obj.state_dict() for name, obj in self.state.items()},
        }
        if self._generator is not None:
            state["generator"] = self._generator.get_state()
        self._saved = checkpoint.save(self.run_dir, state)
