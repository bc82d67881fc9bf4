"""Run folders and TensorBoard logging: where every run's events, settings and figures go.

A run folder is `<logdir>/<kind>/<run name>`, default `<logdir>/<kind>/<YYYYmmdd-HHMMSS>-seed<seed>`.
It is created exclusively, so an existing run is never overwritten: a default name that is taken
gets a `-2`, `-3`, ... suffix, and an explicit `run_name` that is taken is refused.

Tag namespaces, one step counter per run (the optimiser step; environment steps for episodes):
    policy/<name>   every 0-dim trainable parameter (the bias, and the weight when it is trained)
    grad/<name>     its gradient from autograd, before the optimiser step
    loss/...        the training loss
    p_b/hunger_<h>  p(B) at a few hunger values
    reward/...      rewards (REINFORCE)
    charts/...      per-episode returns and lengths (episodic REINFORCE)
and histograms `params/<name>` and `grads/<name>` of every parameter with at least one dimension
(a 0-dim one is already a scalar above), at every `HISTOGRAM_EVERY`-th logging point.

Logging is kept cheap, because it runs inside training loops whose steps take ~0.1 ms: all the
values of a logging point cross from the device in one transfer and go into one event, written
by `pg.events.EventWriter` (SummaryWriter's pure-Python checksum costs more than a training
step). The writer is closed, and so flushed, on any exit from its `with` block.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from pg.config import UsageError

__all__ = ["RunLogger", "append", "make_run_dir", "open_run_dir", "policy_scalars", "scalar_parameters"]

# Histograms cost far more than scalars; write them on every 10th logging point only.
HISTOGRAM_EVERY = 10


def make_run_dir(logdir: str | Path, kind: str, run_name: str | None, seed: int) -> Path:
    """Create and return a new, empty run folder; raise UsageError if it cannot be created."""
    root = Path(logdir) / kind
    try:
        root.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise UsageError(f"cannot create run folder under {root}: a file is in the way") from None
    except OSError as e:
        raise UsageError(f"cannot create run folder under {root}: {e.strerror}") from None
    if run_name is not None:
        return _mkdir_new(root / run_name, taken=f"run folder {root / run_name} already exists; runs are never overwritten, choose another --run-name")
    stem = f"{time.strftime('%Y%m%d-%H%M%S')}-seed{seed}"
    for n in range(1, 1000):
        path = root / (stem if n == 1 else f"{stem}-{n}")
        try:
            return _mkdir_new(path, taken=None)
        except FileExistsError:
            continue
    raise UsageError(f"cannot find a free run folder name under {root}")


def open_run_dir(config: Any, kind: str, resume: Any = None) -> Path:
    """The run folder: the resumed run's own, or a new one from the settings."""
    if resume is not None:
        return resume.run_dir
    return make_run_dir(config.logdir, kind, config.run_name, config.seed)


def _mkdir_new(path: Path, taken: str | None) -> Path:
    try:
        path.mkdir()
    except FileExistsError:
        if taken is None:
            raise
        raise UsageError(taken) from None
    except OSError as e:
        raise UsageError(f"cannot create run folder {path}: {e.strerror}") from None
    return path


class RunLogger:
    """TensorBoard events and files of one run. With `run_dir=None` nothing is written."""

    def __init__(self, run_dir: Path | None):
        self.run_dir = run_dir
        self._writer = None
        if run_dir is not None:  # lazy imports: only runs that log pay for tensorboard
            from tensorboard.compat.proto.summary_pb2 import Summary
            from torch.utils.tensorboard.summary import histogram

            from pg.events import EventWriter

            self._writer = EventWriter(run_dir)
            self._summary, self._histogram = Summary, histogram

    def __enter__(self) -> RunLogger:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def scalars(self, step: int, values: Mapping[str, float | Tensor]) -> dict[str, float]:
        """Write `values` as one event at `step`; return them as floats (one device sync at most)."""
        tensors = [v for v in values.values() if isinstance(v, Tensor)]
        if all(t.device.type == "cpu" for t in tensors):  # reading a CPU scalar costs ~0.2 us
            on_host = iter([t.item() for t in tensors])
        else:  # one transfer, not one sync per value
            on_host = iter(torch.stack([t.detach().reshape(()).double() for t in tensors]).tolist())
        floats = {tag: next(on_host) if isinstance(v, Tensor) else float(v) for tag, v in values.items()}
        if self._writer is not None:
            self._writer.add_scalars(floats, step)
        return floats

    def histograms(self, step: int, policy: nn.Module, point: int) -> None:
        """Histograms of every parameter with >= 1 dimension and of its gradient, when `point`
        (the caller's count of logging points, which a resumed run continues) is a multiple of
        HISTOGRAM_EVERY: they cost ~0.2 ms each, a scalar ~5 us."""
        if self._writer is None or point % HISTOGRAM_EVERY != 0:
            return
        for name, p in policy.named_parameters():
            if p.requires_grad and p.ndim > 0:
                self._writer.add_summary(self._histogram(f"params/{name}", p.detach().cpu(), "auto"), step)
                if p.grad is not None:
                    self._writer.add_summary(self._histogram(f"grads/{name}", p.grad.cpu(), "auto"), step)

    def png(self, tag: str, png: bytes, step: int, filename: str) -> None:
        """Save an encoded PNG in the run folder and log it as an image, without re-encoding."""
        if self._writer is None:
            return
        (self.run_dir / filename).write_bytes(png)
        width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")  # IHDR
        image = self._summary.Image(height=height, width=width, colorspace=4, encoded_image_string=png)
        self._writer.add_summary(self._summary(value=[self._summary.Value(tag=tag, image=image)]), step)

    def settings(self, settings: Mapping[str, Any], metrics: list[str], **extra: Any) -> None:
        """Record the resolved settings: `config.json` in the run folder, the hparams plugin, text."""
        if self._writer is None:
            return
        from torch.utils.tensorboard.summary import hparams, text

        record = {**settings, **extra}
        (self.run_dir / "config.json").write_text(json.dumps(record, indent=2, default=str) + "\n")
        # In this run's own event file (SummaryWriter.add_hparams would start a separate run),
        # with the metrics pointing at scalar tags this run logs anyway.
        plain = {k: v if isinstance(v, (bool, int, float, str)) else str(v) for k, v in settings.items()}
        for summary in hparams(plain, {tag: 0.0 for tag in metrics}):
            self._writer.add_summary(summary, 0)
        table = "\n".join(f"| {k} | {v} |" for k, v in record.items())
        self._writer.add_summary(text("settings", "| setting | value |\n|---|---|\n" + table), 0)


def scalar_parameters(policy: nn.Module) -> dict[str, nn.Parameter]:
    """Every 0-dim trainable parameter by name: the bias (and weight) of HungerPolicy."""
    return {name: p for name, p in policy.named_parameters() if p.requires_grad and p.ndim == 0}


def policy_scalars(policy: nn.Module) -> dict[str, Tensor]:
    """`policy/<name>` and `grad/<name>` for every 0-dim trainable parameter (as tensors)."""
    values = {}
    for name, p in scalar_parameters(policy).items():
        values[f"policy/{name}"] = p
        if p.grad is not None:
            values[f"grad/{name}"] = p.grad
    return values


def append(history: dict[str, list[float]], step: int, values: Mapping[str, float]) -> None:
    """Add one logging point to a trainer's returned history: its step and every value."""
    history.setdefault("step", []).append(step)
    for tag, value in values.items():
        history.setdefault(tag, []).append(value)
