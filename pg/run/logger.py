"""Run folders and TensorBoard logging: where every run's events, settings and figures go.

A run folder is `<logdir>/<kind>/<run name>`, by default
`<logdir>/<kind>/<YYYYmmdd-HHMMSS>-seed<seed>[-<changed hyperparameters>]`, e.g.
`20261127-091500-seed0-steps=3000,batch_size=1,lr=1`, so runs with different flags can be told
apart in TensorBoard's run list. It is created exclusively, so an existing run is never
overwritten: a default name that is taken gets a `-2`, `-3`, ... suffix, and an explicit
`run_name` that is taken is refused.

The events are written by `torch.utils.tensorboard.SummaryWriter`. Tag namespaces, one step
counter per run (the optimiser step; environment steps for episodes):
    policy/<name>   every 0-dim trainable parameter (the bias, and the weight when it is trained)
    grad/<name>     its gradient from autograd, before the optimiser step
    loss/...        the training loss
    p_b/hunger_<h>  p(B) at a few hunger values
    reward/...      rewards (REINFORCE)
    charts/...      per-episode returns and lengths (episodic REINFORCE)
and histograms `params/<name>` and `grads/<name>` of every parameter with at least one dimension
(a 0-dim one is already a scalar above).
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from pg.run.settings import UsageError, require

__all__ = [
    "History",
    "RunLogger",
    "changed_hyperparameters",
    "lock_run_dir",
    "make_run_dir",
    "parameter_scalars",
    "rewind_events",
]

FLUSH_SECONDS = 2  # TensorBoard shows new points within seconds
HISTORY_POINTS = 100_000  # logging points a returned history holds at most (about 1 MB a tag)
RUN_NAME_CHANGES = 80  # characters of changed hyperparameters a default run name holds at most
UNSAFE_IN_NAMES = re.compile(r"[^\w.+-]", re.ASCII)
LOCK_FILE = ".lock"  # held by the process writing into a run folder
# settings that say where and how a run is recorded or run, not what it trains: left out of the
# HParams tab and of run names (they stay in config.json and the Text tab)
NOT_HYPERPARAMETERS = frozenset(
    ["logdir", "run_name", "log_every", "save_every", "threads", "figure", "device", "quiet"]
    + ["resume", "walkthrough"]
)


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
        taken = (
            f"run folder {root / run_name} already exists; runs are never overwritten, choose "
            "another --run-name"
        )
        return _mkdir_new(root / run_name, taken)
    stem = f"{time.strftime('%Y%m%d-%H%M%S')}-seed{seed}" + (f"-{changed}" if changed else "")
    for n in range(1, 1000):
        try:
            return _mkdir_new(root / (stem if n == 1 else f"{stem}-{n}"), taken=None)
        except FileExistsError:
            continue
    raise UsageError(f"cannot find a free run folder name under {root}")


def changed_hyperparameters(settings: Any) -> str:
    """The hyperparameters (not the seed) that differ from their defaults, in field order, as
    `lr=1,batch_size=1` for a folder name: characters a path or a shell would trip on become `_`,
    and past RUN_NAME_CHANGES characters the rest is counted (`,+3`)."""
    parts = []
    for field in dataclasses.fields(settings):
        value = getattr(settings, field.name)
        if field.name in NOT_HYPERPARAMETERS or field.name == "seed" or value == field.default:
            continue
        if isinstance(value, (tuple, list)):
            text = "x".join(map(str, value))  # layer widths: 32x32
        else:
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
    lock = run_dir / LOCK_FILE
    if lock.is_symlink() or (lock.exists() and not lock.is_file()):  # a FIFO would block open()
        raise UsageError(f"{lock} is not a regular file; remove it to use this run folder")
    handle = lock.open("a")
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


# how SummaryWriter names an event file: events.out.tfevents.<seconds>.<host>.<pid>.<n>
EVENT_FILE = re.compile(r"events\.out\.tfevents\.(\d+)\..+\.\d+\.\d+")


def rewind_events(run_dir: Path, position: Mapping[str, Any] | None, keep: Path | None) -> None:
    """Make a resumed run's event files end where its checkpoint was saved.

    Whatever was logged after the checkpoint (before a crash or a SIGKILL) will be logged again,
    identically, by the resumed run: the event file that was being written is cut back to its
    length at the checkpoint, and event files started after it (a resume that died before its
    first checkpoint) are removed; `keep` is the resumed run's own new file. Every step then has
    exactly one point, with no gap.

    Only the files SummaryWriter writes are touched (regular files named as it names them):
    anything else in the folder, a user's copy of an event file included, is left alone; and
    of those, only files started after the checkpoint's own are removed.
    """
    if position is None:  # the run logged nothing
        return
    file, size, files = position.get("file"), position.get("bytes"), position.get("files")
    current = EVENT_FILE.fullmatch(file) if isinstance(file, str) else None
    require(
        current is not None and isinstance(size, int) and size > 0 and isinstance(files, list),
        f"the checkpoint's record of the events ({file!r} at {size!r} bytes) is not one this "
        "program writes",
    )
    for path in sorted(run_dir.iterdir()):
        named = EVENT_FILE.fullmatch(path.name)
        if named is None or not path.is_file() or path.is_symlink() or path == keep:
            continue
        if path.name == file:
            if path.stat().st_size > size:
                os.truncate(path, size)
        elif path.name not in files and int(named[1]) >= int(current[1]):
            path.unlink()  # started after the checkpoint: by a resume that died before one


def discard_empty_run(run_dir: Path) -> None:
    """Remove a run folder that holds no work (its settings, lock and event files only, written
    before a signal stopped the run ahead of its first update), so its name is free again.
    Anything else in it, and it stays."""
    files = list(run_dir.iterdir())
    ours = {"config.json", LOCK_FILE}
    if all(p.is_file() and (p.name in ours or EVENT_FILE.fullmatch(p.name)) for p in files):
        for path in files:
            path.unlink()
        run_dir.rmdir()


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
    """The TensorBoard events and files of one run folder; with `run_dir=None` it writes nothing.

    Each method is one `SummaryWriter` call or a few. The writer computes each record's checksum
    in Python on a thread of its own, so the trainers log at a cadence (`log_every`), not at every
    step, and histograms less often still.
    """

    def __init__(self, run_dir: Path | None):
        self.run_dir = run_dir
        self.writer = None
        self.event_file: Path | None = None
        if run_dir is not None:
            from torch.utils.tensorboard import SummaryWriter  # only runs that log pay for it

            before = set(run_dir.glob("*tfevents*"))
            self.writer = SummaryWriter(str(run_dir), flush_secs=FLUSH_SECONDS)
            (self.event_file,) = set(run_dir.glob("*tfevents*")) - before

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None

    def scalars(self, step: int, values: Mapping[str, float | Tensor]) -> dict[str, float]:
        """Write each value at `step`; return them as floats. Values on a GPU cross to the host
        together, in one transfer."""
        floats = _as_floats(values)
        if self.writer is not None:
            for tag, value in floats.items():
                self.writer.add_scalar(tag, value, step)
        return floats

    def histograms(self, step: int, module: nn.Module, prefix: str = "") -> None:
        """Histograms of every trainable parameter with >= 1 dimension, and of its gradient, as
        `params/<prefix><name>` and `grads/<prefix><name>`."""
        if self.writer is None:
            return
        for name, p in module.named_parameters(prefix=prefix.rstrip(".")):
            if p.requires_grad and p.ndim > 0:
                self.writer.add_histogram(f"params/{name}", p.detach(), step, bins="auto")
                if p.grad is not None:
                    self.writer.add_histogram(f"grads/{name}", p.grad, step, bins="auto")

    def figure(self, tag: str, figure: Any, step: int, filename: str) -> None:
        """A matplotlib figure, rendered once: into the Images tab and a PNG in the run folder."""
        if self.writer is None:
            return
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from PIL import Image

        canvas = FigureCanvasAgg(figure)
        canvas.draw()
        image = np.asarray(canvas.buffer_rgba())[..., :3]  # (H, W, 3) uint8
        self.writer.add_image(tag, image, step, dataformats="HWC")
        Image.fromarray(image).save(self.run_dir / filename)

    def charts(self, layout: Mapping[str, Mapping[str, list[str]]]) -> None:
        """Charts that draw several tags together (TensorBoard's Custom Scalars tab): `layout`
        maps a category to {chart title: [tag, ...]}, each chart one plot of all its tags."""
        if self.writer is not None:
            self.writer.add_custom_scalars(
                {
                    category: {title: ["Multiline", tags] for title, tags in charts.items()}
                    for category, charts in layout.items()
                }
            )

    def settings(self, settings: Mapping[str, Any], **extra: Any) -> None:
        """Record the resolved settings: `config.json` in the run folder, a table of all of them
        (the Text tab), and the hyperparameters for the HParams tab: the settings that change what
        is trained, not where or how it is recorded (`NOT_HYPERPARAMETERS`)."""
        if self.writer is None:
            return
        from torch.utils.tensorboard.summary import hparams

        record = {**settings, **extra}
        (self.run_dir / "config.json").write_text(json.dumps(record, indent=2, default=str) + "\n")
        self.writer.add_text("settings", settings_markdown(record), 0)
        # The hyperparameters as this run's session, in its own event file. `add_hparams` would
        # start a separate run and write an experiment summary into it: with one summary per run,
        # TensorBoard shows the columns of whichever run it reads first for every run; without
        # one, it lists every run's hyperparameters and scalar tags, the same view for all trainers.
        chosen = {
            k: v if isinstance(v, (bool, int, float, str)) else str(v)
            for k, v in settings.items()
            if k not in NOT_HYPERPARAMETERS
        }
        _, session_start, session_end = hparams(chosen, {})
        self.writer.file_writer.add_summary(session_start, 0)
        self.writer.file_writer.add_summary(session_end, 0)

    def position(self) -> dict[str, Any] | None:
        """Where the events end now, for a checkpoint (see `rewind_events`); flushes first."""
        if self.writer is None:
            return None
        self.writer.flush()
        return {
            "file": self.event_file.name,
            "bytes": self.event_file.stat().st_size,
            "files": sorted(p.name for p in self.run_dir.glob("*tfevents*")),
        }


def settings_markdown(record: Mapping[str, Any]) -> str:
    """The settings as the Text tab shows them: a table of one-line values, then each value of
    several lines (the initial policy's repr) as a code block of its own, since a table row
    cannot hold a line break."""
    rows = [
        f"| {k} | {v} |" if "\n" not in str(v) else f"| {k} | (below) |" for k, v in record.items()
    ]
    blocks = [f"**{k}**\n\n```\n{v}\n```" for k, v in record.items() if "\n" in str(v)]
    return "\n\n".join(["| setting | value |\n|---|---|\n" + "\n".join(rows), *blocks])


def _as_floats(values: Mapping[str, float | Tensor]) -> dict[str, float]:
    """Numbers and 0-dim tensors as floats; tensors on a GPU read back in one transfer."""
    on_device = [v for v in values.values() if isinstance(v, Tensor) and v.device.type != "cpu"]
    if on_device:
        read = iter(torch.stack([t.detach().reshape(()).double() for t in on_device]).tolist())
    return {
        tag: (v.item() if v.device.type == "cpu" else next(read))
        if isinstance(v, Tensor)
        else float(v)
        for tag, v in values.items()
    }


def parameter_scalars(policy: nn.Module) -> dict[str, Tensor]:
    """`policy/<name>` and `grad/<name>` for every 0-dim trainable parameter (the hunger policy's
    bias, and its weight when that is trained); bigger networks get histograms instead."""
    values = {}
    for name, p in policy.named_parameters():
        if p.requires_grad and p.ndim == 0:
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
