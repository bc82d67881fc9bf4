"""Run folders and TensorBoard logging: where every run's events, settings and figures go.

A run folder is `<logdir>/<kind>/<run name>`, by default
`<logdir>/<kind>/<YYYYmmdd-HHMMSS>-seed<seed>[-<changed hyperparameters>]`, e.g.
`20261127-091500-seed0-batch_size=1,lr=1,steps=3000`, so runs with different flags can be told
apart in TensorBoard's run list.
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
(a 0-dim one is already a scalar above), at every `HISTOGRAM_EVERY`-th logging point and the last
(every one for episodic runs, whose updates are slow enough).

Logging is kept cheap, because it runs inside training loops whose steps take ~0.1 ms: all the
values of a logging point cross from the device in one transfer and go into one event, written
by `EventWriter` below (SummaryWriter's pure-Python checksum costs more than a training
step). The writer is closed, and so flushed, on any exit from its `with` block.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import socket
import struct
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import google_crc32c
import torch
from torch import Tensor, nn

from pg.run.config import UsageError

__all__ = [
    "EventWriter",
    "History",
    "RunLogger",
    "make_run_dir",
    "masked_crc32c",
    "lock_run_dir",
    "open_run_dir",
    "parameter_values",
    "policy_scalars",
    "rewind_events",
    "scalar_parameters",
]

# Histograms cost far more than scalars; write them on every 10th logging point only.
HISTOGRAM_EVERY = 10
HISTORY_POINTS = 100_000  # logging points a returned history holds at most (about 1 MB a tag)
RUN_NAME_CHANGES = 80  # characters of changed hyperparameters a default run name holds at most
UNSAFE_IN_NAMES = re.compile(r"[^\w.+-]", re.ASCII)
LOCK_FILE = ".lock"  # held by the process writing into a run folder
# settings that say where and how a run is recorded or run, not what it trains: left out of the
# HParams tab (they stay in config.json and the Text tab)
NOT_HYPERPARAMETERS = frozenset(
    {"logdir", "run_name", "log_every", "save_every", "threads", "figure", "device", "quiet",
     "resume", "walkthrough"}
)  # fmt: skip


def make_run_dir(
    logdir: str | Path, kind: str, run_name: str | None, seed: int, changed: str = ""
) -> Path:
    """Create and return a new, empty run folder; raise UsageError if it cannot be created.
    Without `run_name`, the folder is named by the time, the seed and `changed`."""
    root = Path(logdir) / kind
    try:
        root.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise UsageError(f"cannot create run folder under {root}: a file is in the way") from None
    except OSError as e:
        raise UsageError(f"cannot create run folder under {root}: {e.strerror}") from None
    if run_name is not None:
        return _mkdir_new(
            root / run_name,
            taken=f"run folder {root / run_name} already exists; runs are never "
            "overwritten, choose another --run-name",
        )
    stem = f"{time.strftime('%Y%m%d-%H%M%S')}-seed{seed}" + (f"-{changed}" if changed else "")
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
    return make_run_dir(
        config.logdir, kind, config.run_name, config.seed, changed_hyperparameters(config)
    )


def changed_hyperparameters(config: Any) -> str:
    """The hyperparameters (not the seed) that differ from their defaults, in field order, as
    `lr=1,batch_size=1` for a folder name: characters a path or a shell would trip on become `_`,
    and past RUN_NAME_CHANGES characters the rest is counted (`,+3`)."""
    parts = []
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        if field.name in NOT_HYPERPARAMETERS or field.name == "seed" or value == field.default:
            continue
        text = f"{value:g}" if isinstance(value, float) else str(value)
        parts.append(field.name + "=" + UNSAFE_IN_NAMES.sub("_", text))
    shown = []
    while parts and len(",".join([*shown, parts[0]])) <= RUN_NAME_CHANGES:
        shown.append(parts.pop(0))
    return ",".join(shown + ([f"+{len(parts)}"] if parts else []))


def lock_run_dir(run_dir: Path) -> Any:
    """Hold the run folder for this process until the returned file is closed (or the process
    ends, however it ends): a second process training into the same folder at once, such as two
    resumes of one run, is refused instead of interleaving both runs' events and checkpoints."""
    handle = (run_dir / LOCK_FILE).open("a")
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks here; runs are still never overwritten
        return handle
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        raise UsageError(
            f"run folder {run_dir} is in use by another process; wait for it to finish or stop it"
        ) from None
    return handle


def rewind_events(run_dir: Path, position: Mapping[str, Any] | None, keep: Path | None) -> None:
    """Make a resumed run's event files end where its checkpoint was saved.

    Whatever was logged after the checkpoint (before a crash or a SIGKILL) will be logged again,
    identically, by the resumed run: the event file that was being written is cut back to its
    length at the checkpoint, and event files started after it (a resume that died before its
    first checkpoint) are removed; `keep` is the resumed run's own new file. Every step then has
    exactly one point, with no gap.
    """
    if position is None:  # a checkpoint of an earlier version: its events are left as they are
        return
    for path in sorted(run_dir.glob("*tfevents*")):
        if path.name == position["file"]:
            if path.stat().st_size > position["bytes"]:
                os.truncate(path, position["bytes"])
        elif path.name not in position["files"] and path != keep:
            path.unlink()


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

    @property
    def event_file(self) -> Path | None:
        """The event file this logger writes, if any."""
        return self._writer.path if self._writer is not None else None

    def position(self) -> dict[str, Any] | None:
        """Where the events end now, for a checkpoint (see `rewind_events`); flushes first."""
        if self._writer is None:
            return None
        self._writer.flush()
        return {
            "file": self._writer.path.name,
            "bytes": self._writer.size,
            "files": sorted(p.name for p in self.run_dir.glob("*tfevents*")),
        }

    def scalars(self, step: int, values: Mapping[str, float | Tensor]) -> dict[str, float]:
        """Write `values` as one event at `step`; return them as floats (one sync at most)."""
        # reading a CPU scalar costs ~0.2 us; a device's values cross in one transfer, one sync
        on_device = [v for v in values.values() if isinstance(v, Tensor) and v.device.type != "cpu"]
        if on_device:
            read = iter(torch.stack([t.detach().reshape(()).double() for t in on_device]).tolist())
        floats = {
            tag: (v.item() if v.device.type == "cpu" else next(read))
            if isinstance(v, Tensor)
            else float(v)
            for tag, v in values.items()
        }
        if self._writer is not None:
            self._writer.add_scalars(floats, step)
        return floats

    def histograms(self, step: int, policy: nn.Module) -> None:
        """Histograms of every parameter with >= 1 dimension and of its gradient. They cost
        ~0.2 ms each, a scalar ~5 us: `Run` writes them at every HISTOGRAM_EVERY-th logging point
        (and the last) unless a trainer's steps are slow enough to afford more."""
        if self._writer is None:
            return
        for name, p in policy.named_parameters():
            if p.requires_grad and p.ndim > 0:
                self._writer.add_summary(
                    self._histogram(f"params/{name}", p.detach().cpu(), "auto"), step
                )
                if p.grad is not None:
                    self._writer.add_summary(
                        self._histogram(f"grads/{name}", p.grad.cpu(), "auto"), step
                    )

    def png(self, tag: str, png: bytes, step: int, filename: str) -> None:
        """Save an encoded PNG in the run folder and log it as an image, without re-encoding."""
        if self._writer is None:
            return
        (self.run_dir / filename).write_bytes(png)
        width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")  # IHDR
        image = self._summary.Image(
            height=height, width=width, colorspace=4, encoded_image_string=png
        )
        self._writer.add_summary(
            self._summary(value=[self._summary.Value(tag=tag, image=image)]), step
        )

    def charts(self, layout: Mapping[str, Mapping[str, list[str]]]) -> None:
        """Charts that draw several tags together (TensorBoard's Custom Scalars tab): `layout`
        maps a category to {chart title: [tag, ...]}, each chart one plot of all its tags."""
        if self._writer is None:
            return
        from torch.utils.tensorboard.summary import custom_scalars

        self._writer.add_summary(
            custom_scalars(
                {
                    category: {title: ["Multiline", tags] for title, tags in charts.items()}
                    for category, charts in layout.items()
                }
            ),
            0,
        )

    def settings(self, settings: Mapping[str, Any], **extra: Any) -> None:
        """Record the resolved settings: `config.json` in the run folder, a text table of all of
        them, and the hyperparameters (the settings that change what is trained, not where or how
        it is recorded: `NOT_HYPERPARAMETERS`) for TensorBoard's HParams tab."""
        if self._writer is None:
            return
        from torch.utils.tensorboard.summary import hparams, text

        record = {**settings, **extra}
        (self.run_dir / "config.json").write_text(json.dumps(record, indent=2, default=str) + "\n")
        # The run's session, in its own event file (SummaryWriter.add_hparams would start a
        # separate run), without an experiment summary: with one per run, TensorBoard shows the
        # columns of whichever run it reads first for all runs; without, it lists every run's
        # hyperparameters and every scalar tag as metrics, the same view for every trainer.
        chosen = {
            k: v if isinstance(v, (bool, int, float, str)) else str(v)
            for k, v in settings.items()
            if k not in NOT_HYPERPARAMETERS
        }
        _, session_start, session_end = hparams(chosen, {})
        self._writer.add_summary(session_start, 0)
        self._writer.add_summary(session_end, 0)
        table = "\n".join(f"| {k} | {v} |" for k, v in record.items())
        self._writer.add_summary(text("settings", "| setting | value |\n|---|---|\n" + table), 0)


def scalar_parameters(policy: nn.Module) -> dict[str, nn.Parameter]:
    """Every 0-dim trainable parameter by name: the bias (and weight) of HungerPolicy."""
    return {name: p for name, p in policy.named_parameters() if p.requires_grad and p.ndim == 0}


def parameter_values(params: Mapping[str, Tensor]) -> dict[str, float]:
    """The 0-dim parameters as numbers (for a progress line: one read each)."""
    return {name: p.item() for name, p in params.items()}


def policy_scalars(policy: nn.Module) -> dict[str, Tensor]:
    """`policy/<name>` and `grad/<name>` for every 0-dim trainable parameter (as tensors)."""
    values = {}
    for name, p in scalar_parameters(policy).items():
        values[f"policy/{name}"] = p
        if p.grad is not None:
            values[f"grad/{name}"] = p.grad
    return values


class History(dict):
    """A trainer's returned history: `step` and each tag's values at its logging points, as
    lists, in memory bounded however long the run: once `limit` points are held, every other one
    is dropped and from then on every other logging point is kept (the full record is in the
    TensorBoard events). Below the limit it holds every point."""

    def __init__(self, limit: int | None = None):
        super().__init__()
        self._limit = HISTORY_POINTS if limit is None else limit
        self._stride, self._seen = 1, 0

    def add(self, step: int, values: Mapping[str, float]) -> None:
        """One logging point: its step and every value (kept when it falls on the stride)."""
        self._seen += 1
        if (self._seen - 1) % self._stride:
            return
        self.setdefault("step", []).append(step)
        for tag, value in values.items():
            self.setdefault(tag, []).append(value)
        if len(self["step"]) > self._limit:
            for points in self.values():
                del points[1::2]
            self._stride *= 2


# --- the event file -----------------------------------------------------------------------------
# A TensorBoard event file writer that is cheap enough to call inside a training loop.
#
# An event file is a sequence of TFRecords, each an `Event` protocol buffer:
#
#     uint64 length | uint32 masked_crc32c(length) | bytes data | uint32 masked_crc32c(data)
#
# `torch.utils.tensorboard.SummaryWriter` writes the same records, but through tensorboard's
# record writer, which computes CRC32C in pure Python, a byte at a time, on a background thread
# that holds the GIL: about 22 us per 250-byte event, stolen from a training step of ~0.2 ms.
# Here the checksum comes from `google-crc32c` (C, 0.1 us) and the write is a buffered append on
# the calling thread, flushed every `FLUSH_SECONDS` and on close, so TensorBoard shows new points
# within seconds. The `Summary` protos themselves still come from tensorboard and torch.


FLUSH_SECONDS = 2.0


def masked_crc32c(data: bytes) -> int:
    """The TFRecord checksum: CRC32C, rotated right by 15 bits, plus a constant (mod 2^32)."""
    crc = google_crc32c.value(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


class EventWriter:
    """Appends `Summary` protos as `Event` records to a new event file in `run_dir`."""

    def __init__(self, run_dir: Path):
        from tensorboard.compat.proto.event_pb2 import Event
        from tensorboard.compat.proto.summary_pb2 import Summary

        self._event, self._summary = Event, Summary
        self._scalar_events: dict[tuple[str, ...], Event] = {}
        stem = f"events.out.tfevents.{int(time.time()):010d}.{socket.gethostname()}.{os.getpid()}"
        for n in range(1000):  # a resumed run adds a file beside the earlier ones, never over them
            self.path = Path(run_dir) / (stem if n == 0 else f"{stem}.{n}")
            try:
                self._file = self.path.open("xb")
                break
            except FileExistsError:
                continue
        self._flushed = time.monotonic()
        self._write(Event(wall_time=time.time(), file_version="brain.Event:2"))

    def add_summary(self, summary, step: int) -> None:
        """One event holding `summary` (any number of values) at `step`."""
        self._write(self._event(wall_time=time.time(), step=int(step), summary=summary))

    def add_scalars(self, values: dict[str, float], step: int) -> None:
        """One event holding every scalar of `values` at `step`.

        A logging point writes the same tags every time, so the event for that set of tags is
        built once and only its numbers are set (a third of the cost of building it anew).
        """
        event = self._scalar_events.get(tuple(values))
        if event is None:
            summary = self._summary(value=[self._summary.Value(tag=tag) for tag in values])
            event = self._scalar_events[tuple(values)] = self._event(summary=summary)
        for slot, value in zip(event.summary.value, values.values()):
            slot.simple_value = value
        event.wall_time, event.step = time.time(), int(step)
        self._write(event)

    def flush(self) -> None:
        self._file.flush()
        self._flushed = time.monotonic()

    @property
    def size(self) -> int:
        """Bytes written to the file so far."""
        return self._file.tell()

    def close(self) -> None:
        if not self._file.closed:
            self.flush()
            self._file.close()

    def _write(self, event) -> None:
        data = event.SerializeToString()
        header = struct.pack("<Q", len(data))
        self._file.write(
            header
            + struct.pack("<I", masked_crc32c(header))
            + data
            + struct.pack("<I", masked_crc32c(data))
        )
        if time.monotonic() - self._flushed > FLUSH_SECONDS:
            self.flush()
