"""Stopping training cleanly: on Ctrl-C or SIGTERM, and at the first NaN or infinity.

`GracefulStop` turns SIGINT and SIGTERM into a request that the trainer honours after the step
it is in: it saves a checkpoint, closes its events and returns, and the script exits 130 (SIGINT)
or 143 (SIGTERM), saying how to resume. A second Ctrl-C is not intercepted, for the impatient.

`FiniteGuard` watches the loss and the gradients of every step. On the CPU reading a 0-dim tensor
costs ~0.2 us, so each step is checked as it ends. On a GPU that read would make the host wait
for the device every step, so the check accumulates on the device and is read at the logging
cadence and before each checkpoint; either way the error names the first bad step and its value.
"""

from __future__ import annotations

import math
import signal
import threading
from collections.abc import Sequence

import torch
from torch import Tensor

__all__ = ["FiniteGuard", "GracefulStop", "NonFiniteError", "RunFault"]


class RunFault(RuntimeError):
    """Training cannot go on, for a reason found while it ran (not bad input, not a bug): the
    scripts print its message as one line and exit 1."""


class NonFiniteError(RunFault):
    """Training produced a NaN or an infinity; the message names the step and the value."""


class GracefulStop:
    """Context manager: `requested` becomes the signal number once SIGINT or SIGTERM arrives.

    `enabled=False` leaves the signals alone: under torchrun a rank must not stop on its own
    (the others would wait for it in their next collective), so torchrun's handling stays. A
    signal the process was started ignoring stays ignored, as Python itself leaves it: a shell
    script's `python train.py &` ignores Ctrl-C, and so does its training.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self, enabled: bool = True):
        self.enabled = enabled
        self.requested: int | None = None
        self._previous: dict[int, object] = {}

    def __enter__(self) -> GracefulStop:
        if (
            self.enabled and threading.current_thread() is threading.main_thread()
        ):  # handlers live on the main thread
            for sig in self.SIGNALS:
                if signal.getsignal(sig) != signal.SIG_IGN:
                    self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()

    def _handle(self, signum: int, frame) -> None:
        self.requested = signum
        signal.signal(
            signum, self._previous.get(signum, signal.SIG_DFL)
        )  # the next one acts at once

    @property
    def exit_code(self) -> int:
        return 128 + (self.requested or 0)

    @property
    def name(self) -> str:
        return signal.Signals(self.requested).name if self.requested else ""


class FiniteGuard:
    """Remembers the first step whose loss or gradient was not finite; `check` raises for it."""

    def __init__(self, names: Sequence[str], device: torch.device, loss: str = "loss"):
        self.names = [loss, *(f"gradient of {n}" for n in names)]
        self.on_device = device.type != "cpu"
        self._first_step: int | None = None
        self._first_values: list[float] = []
        if self.on_device:
            self._step = torch.full((), -1, dtype=torch.long, device=device)  # first bad; -1: none
            self._values = torch.zeros(len(self.names), dtype=torch.float64, device=device)

    def watch(self, step: int, loss: Tensor, grads: Sequence[Tensor | None]) -> None:
        """Record this step's loss and gradients (no device sync on a GPU)."""
        if self.on_device:
            values = torch.stack(
                [loss.detach().double(), *(_summary(g, loss).double() for g in grads)]
            )
            new = (~torch.isfinite(values).all()) & (self._step < 0)
            self._step = torch.where(new, step, self._step)
            self._values = torch.where(new, values, self._values)
        elif self._first_step is None:
            values = [loss.item(), *(_summary(g, loss).item() for g in grads)]
            if not all(math.isfinite(v) for v in values):
                self._first_step, self._first_values = step, values

    def check(self, sync_point: bool = True) -> None:
        """Raise NonFiniteError naming the first non-finite step, if there was one.

        On a GPU only at `sync_point`s (logging, checkpoints, the end); on the CPU every time.
        """
        if self.on_device and not sync_point:
            return
        if self.on_device and self._first_step is None and self._step.item() >= 0:
            self._first_step, self._first_values = self._step.item(), self._values.tolist()
        if self._first_step is not None:
            name, value = next(
                (n, v) for n, v in zip(self.names, self._first_values) if not math.isfinite(v)
            )
            raise NonFiniteError(f"non-finite {name} at step {self._first_step}: {value}")


def _summary(grad: Tensor | None, like: Tensor) -> Tensor:
    """One number that is finite exactly when every entry of `grad` is (0 for no gradient).

    The largest magnitude, not the sum: a sum of large finite entries can overflow to inf.
    """
    if grad is None:
        return torch.zeros((), device=like.device)
    return grad.detach().reshape(()) if grad.numel() == 1 else grad.detach().abs().amax()
