"""Checkpoints: what a run needs to continue exactly where it stopped, written safely, read safely.

A checkpoint is one `checkpoint.pt` in the run folder, replaced atomically (written beside it,
then renamed), so a crash mid-write leaves the previous one intact. It holds plain data only:
tensors, numbers, strings, lists and dicts (the policy's and the optimiser's state dicts, every
generator's state, the step, the settings): what the run needs to go on, not what it logged,
which is in the TensorBoard events (a history that grows with the run would make saving slower
at every save). That is what lets `load` use
`torch.load(weights_only=True)`: a file that carries a pickled Python object, which could run
code when unpickled, is refused instead of executed.

No checkpoint ever holds a NaN or an infinity: `save` refuses non-finite parameters or optimiser
state, so the last checkpoint of a run that diverged is its last good one.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import pickle
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from pg.run.settings import MAX_LR, UsageError, first_line
from pg.run.stopping import NonFiniteError

__all__ = [
    "FILENAME",
    "FORMAT",
    "Checkpoint",
    "CheckpointError",
    "NonFiniteError",
    "describe",
    "fitting",
    "load",
    "restore",
    "restore_policy",
    "save",
    "saved_settings",
]

FILENAME = "checkpoint.pt"
FORMAT = "pg-checkpoint/3"


class CheckpointError(UsageError):
    """A checkpoint that cannot be used: missing, unsafe, from another trainer, or another model."""


@dataclass
class Checkpoint:
    path: Path  # the checkpoint file; its folder is the run folder
    state: dict[str, Any]

    @property
    def step(self) -> int:
        return int(self.state["step"])

    @property
    def run_dir(self) -> Path:
        return self.path.parent


def save(run_dir: Path, state: dict[str, Any]) -> Checkpoint:
    """Write `state` as the run's checkpoint, replacing the previous one atomically."""
    name = _non_finite(state)
    if name is not None:
        raise NonFiniteError(
            f"refusing to checkpoint a non-finite value in {name} at step {state['step']}"
        )
    buffer = io.BytesIO()
    torch.save(state, buffer)
    payload = buffer.getvalue()
    # the payload as a uint8 tensor: stored as raw bytes in the file, as the checksum saw them
    sealed = {
        "format": FORMAT,
        "sha256": hashlib.sha256(payload).hexdigest(),
        "payload": torch.frombuffer(bytearray(payload), dtype=torch.uint8),
    }
    path = run_dir / FILENAME
    partial = run_dir / (FILENAME + ".partial")
    try:
        torch.save(sealed, partial)
    except RuntimeError as e:  # torch's zip writer reports a full or read-only disk this way
        raise OSError(f"cannot write the checkpoint in {run_dir}: {first_line(e)}") from None
    os.replace(partial, path)
    return Checkpoint(path, state)


def describe(saved: Checkpoint | None) -> str:
    """Where the last good state is, for error messages."""
    if saved is None:
        return "no checkpoint had been saved yet"
    return f"the last good checkpoint is {saved.path} (step {saved.step})"


def restore(
    resume: Checkpoint,
    policy: nn.Module,
    optimizer: torch.optim.Optimizer,
    total_steps: int,
    state: Mapping[str, Any],
) -> tuple[int, int]:
    """Put the policy, the optimiser and the trainer's own `state` objects (by name) back as
    saved; return the step and the update the run had reached."""
    if total_steps <= resume.step:  # equal: a finished run, nothing left to do
        raise CheckpointError(
            f"{resume.path}: the run is already at step {resume.step}; steps is the run's "
            "total, so ask for more than that"
        )
    restore_policy(policy, resume)
    for name, obj in {"optimizer": optimizer, **state}.items():
        with fitting(resume.path):
            if isinstance(obj, torch.optim.Optimizer):
                _restore_optimizer(obj, resume.state[name], resume.path, name)
            elif isinstance(obj, nn.Module):  # the value function
                _load_weights(obj, resume.state[name], resume.path)
            else:
                obj.load_state_dict(resume.state[name])
    return resume.step, int(resume.state["update"])


def _restore_optimizer(
    optimizer: torch.optim.Optimizer, saved: dict, path: Path, name: str
) -> None:
    """Load an optimiser's saved state, which must fit its class and keep the learning rate the
    run's settings gave it (the saved one would win silently)."""
    lrs = [group["lr"] for group in optimizer.param_groups]
    optimizer.load_state_dict(saved)
    check_optimizer_state(optimizer, path)
    saved_lrs = [group["lr"] for group in optimizer.param_groups]
    if saved_lrs != lrs:
        raise CheckpointError(
            f"{path}: the {name.replace('_', ' ')}'s learning rate is {saved_lrs[0]:g} in the "
            f"checkpoint but {lrs[0]:g} in the run's settings"
        )


# optimiser state that is a count or a size, never below 0 (Adam's step and second moment,
# Rprop's step sizes)
NON_NEGATIVE_STATE = {"step", "exp_avg_sq", "max_exp_avg_sq", "step_size"}


def check_optimizer_state(optimizer: torch.optim.Optimizer, path: Path) -> None:
    """After loading: the optimiser's settings are those its class takes, of the types and signs
    it expects, and its per-parameter state is what its class keeps (`_check_state`); otherwise
    the next step would fail (Adam without `betas`) or go wrong silently (a negative momentum)."""
    name = type(optimizer).__name__
    for group in optimizer.param_groups:
        for key, default in optimizer.defaults.items():
            if key not in group:
                raise CheckpointError(f"{path}: the {name} setting {key} is missing")
            if not _usable(group[key], default):
                raise CheckpointError(
                    f"{path}: the {name} setting {key} is {group[key]!r}, not usable"
                )
        unknown = set(group) - set(optimizer.defaults) - {"params", "initial_lr"}
        if unknown:
            raise CheckpointError(f"{path}: {', '.join(sorted(unknown))} is not a {name} setting")
    _check_state(optimizer, path)


def _check_state(optimizer: torch.optim.Optimizer, path: Path) -> None:
    """Each parameter's saved state holds what the same optimiser, with the same settings, keeps
    after a step (`_kept_state`): the same entries (Adam's `step`, `exp_avg`, `exp_avg_sq`),
    tensors of the same dtype, 0-dim or of the parameter's shape, counts and sizes not negative;
    and there is no state for a parameter the model does not have."""
    name = type(optimizer).__name__
    params = [p for group in optimizer.param_groups for p in group["params"]]
    if not {id(key) for key in optimizer.state} <= {id(p) for p in params}:
        raise CheckpointError(f"{path}: the {name} state is for parameters this model lacks")
    for group in optimizer.param_groups:
        for param, kept in zip(group["params"], _kept_state(optimizer, group)):
            saved = optimizer.state.get(param)
            if not saved:  # no step taken for it yet
                continue
            if set(saved) != set(kept):
                raise CheckpointError(
                    f"{path}: the {name} state of a parameter holds {', '.join(sorted(saved))}, "
                    f"not {', '.join(sorted(kept))}"
                )
            for key, value in saved.items():
                problem = _state_problem(key, value, kept[key], param)
                if problem is not None:
                    raise CheckpointError(f"{path}: the {name} state {key} {problem}")


def _state_problem(key: str, value: Any, kept: torch.Tensor, param: torch.Tensor) -> str | None:
    """What is wrong with a saved state entry, against the one its optimiser keeps, or None."""
    if not (isinstance(value, torch.Tensor) and value.dtype == kept.dtype):
        return f"is not a {kept.dtype} tensor"
    shape = param.shape if kept.ndim == param.ndim else kept.shape  # like its parameter, or 0-dim
    if value.shape != shape:
        return f"has shape {tuple(value.shape)}, its parameter {tuple(param.shape)}"
    if key in NON_NEGATIVE_STATE and bool((value < 0).any()):
        return "is negative"
    return None


def _kept_state(optimizer: torch.optim.Optimizer, group: dict) -> list[dict[str, torch.Tensor]]:
    """What `optimizer`'s class keeps for each parameter of `group` after one step with its
    settings, from a stand-in of one element per dimension (cheap whatever the model's size)."""
    stand_ins = [
        torch.nn.Parameter(torch.zeros((1,) * p.ndim, dtype=p.dtype, device=p.device))
        for p in group["params"]
    ]
    for stand_in in stand_ins:
        stand_in.grad = torch.zeros_like(stand_in)
    settings = {key: group[key] for key in optimizer.defaults}
    reference = type(optimizer)(stand_ins, **settings)
    reference.step()
    return [reference.state[stand_in] for stand_in in stand_ins]


def _usable(value: Any, default: Any) -> bool:
    """An optimiser setting of its default's kind (any number where that is a float), with every
    number in it finite and not negative."""
    if isinstance(default, float):
        kind = isinstance(value, (int, float, torch.Tensor)) and not isinstance(value, bool)
    else:
        kind = default is None or isinstance(value, type(default))
    numbers = value if isinstance(value, (tuple, list)) else [value]
    signs = all(
        isinstance(x, bool) or not isinstance(x, (int, float)) or 0 <= x < math.inf for x in numbers
    )
    return kind and signs


def check_call(trainer: str, policy: Any, resume: Any, stop: Any) -> None:
    """A trainer's arguments besides its settings, checked before anything is made: a clear
    TypeError or CheckpointError each, instead of an AttributeError from deep inside."""
    if not (isinstance(policy, torch.nn.Module) and hasattr(policy, "distribution")):
        raise TypeError(
            f"policy must be a pg.Policy (subclass it and override logits), got "
            f"{type(policy).__name__}"
        )
    if resume is not None and not isinstance(resume, Checkpoint):
        raise TypeError(
            "resume must be a checkpoint, pg.run.checkpoint.load(run_folder), got "
            f"{type(resume).__name__}"
        )
    if resume is not None and resume.state["trainer"] != trainer:
        raise CheckpointError(
            f"{resume.path}: a checkpoint of {resume.state['trainer']} training, not {trainer}"
        )
    if stop is not None and not hasattr(stop, "requested"):
        raise TypeError(f"stop must be a pg.run.GracefulStop, got {type(stop).__name__}")


def saved_settings(resume: Checkpoint | None) -> dict[str, Any] | None:
    """The settings a resumed run was saved with (None for a new run)."""
    return resume.state["settings"] if resume is not None else None


def check_resumable(resume: Checkpoint, processes: int) -> None:
    """A resume writes into the checkpoint's folder, as one process: the checkpoint must be a
    run folder's own (not a copy kept elsewhere, whose folder holds other files)."""
    if processes != 1:
        raise CheckpointError("resuming is for one process: a checkpoint holds rank 0's generators")
    if resume.path.name != FILENAME:
        raise CheckpointError(
            f"{resume.path}: a resume continues a run folder's own {FILENAME}, in that folder; "
            "this file is not one, and the run would write beside it: resume from its run folder"
        )


@contextmanager
def fitting(path: Path) -> Iterator[None]:
    """Putting a checkpoint's state back: whatever does not fit this run (an optimiser of another
    shape, a generator's state of another kind) becomes one CheckpointError naming the file."""
    try:
        yield
    except CheckpointError:
        raise
    except (ValueError, RuntimeError, LookupError, TypeError, AttributeError, ArithmeticError) as e:
        raise CheckpointError(f"{path}: does not fit this run ({first_line(e)})") from None


def load(path: str | Path, trainer: str | None = None) -> Checkpoint:
    """Read a checkpoint file, or the checkpoint of a run folder, written by `trainer` (any
    trainer when None)."""
    path = Path(path)
    if path.is_dir():
        path = path / FILENAME
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint")
    sealed = _read(path)
    if not isinstance(sealed, dict) or sealed.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a pg checkpoint (expected format {FORMAT})")
    payload = sealed.get("payload")
    usable = (
        isinstance(payload, torch.Tensor) and payload.dtype == torch.uint8 and payload.ndim == 1
    )
    payload = payload.numpy().tobytes() if usable else None
    digest = hashlib.sha256(payload).hexdigest() if payload is not None else None
    intact = digest is not None and digest == sealed.get("sha256")
    if not intact:
        raise CheckpointError(f"{path}: damaged: its contents do not match their SHA-256 checksum")
    state = _read(path, io.BytesIO(payload))
    problem = _schema_problem(state)
    if problem is not None:
        raise CheckpointError(f"{path}: not a usable checkpoint: {problem}")
    if trainer is not None and state["trainer"] != trainer:
        raise CheckpointError(f"{path}: a checkpoint of {state['trainer']} training, not {trainer}")
    return Checkpoint(path, state)


def _read(path: Path, source: Any = None) -> Any:
    """torch.load with weights_only: plain data only, and every failure one CheckpointError."""
    try:
        return torch.load(path if source is None else source, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        # weights_only names the first callable it would have had to import: that is the danger
        found = re.search(
            r"GLOBAL (\S+) was not an allowed global|Unsupported global: GLOBAL (\S+)", str(e)
        )
        if found:
            raise CheckpointError(
                f"{path}: refusing to load it, it holds Python objects that could run "
                "code when unpickled "
                f"(it refers to {found[1] or found[2]})"
            ) from None
        raise CheckpointError(
            f"{path}: not a readable checkpoint (not a file that torch.save wrote)"
        ) from None
    except Exception as e:  # a damaged zip can fail in many ways; all of them mean "unreadable"
        raise CheckpointError(f"{path}: not a readable checkpoint ({first_line(e)})") from None


def _schema_problem(state: Any) -> str | None:
    """What makes `state` unusable as a checkpoint, or None: every field is checked before any
    of it is used (a hand-edited file must not train with a negative step or a learning rate of
    -1e6)."""
    if not isinstance(state, dict):
        return "it holds no dictionary of state"
    missing = [
        k
        for k in ("trainer", "step", "update", "settings", "policy", "optimizer")
        if k not in state
    ]
    if missing:
        return f"missing {', '.join(missing)}"
    if state["trainer"] not in ("supervised", "reinforce", "episodic"):
        return f"unknown trainer {state['trainer']!r}"
    for key in ("step", "update"):
        value = state[key]
        if not (isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**62):
            return f"{key} must be a whole number >= 0, got {value!r}"
    # an update takes one step of the hunger trainers, one or more environment steps episodic
    same = state["trainer"] != "episodic"
    if state["update"] > state["step"] or (same and state["update"] != state["step"]):
        return f"update {state['update']} does not fit step {state['step']}"
    if not isinstance(state["settings"], dict):
        return "settings must be a dictionary"
    for key in ("policy", "value") if "value" in state else ("policy",):
        weights = state[key]
        if not (
            isinstance(weights, dict) and all(isinstance(v, torch.Tensor) for v in weights.values())
        ):
            return f"{key} must map names to tensors"
    name = _non_finite(state)  # what `save` refuses to write
    if name is not None:
        return f"{name} holds a NaN or an infinity"
    for key in [k for k in state if k.endswith("optimizer")]:  # the policy's, the value's
        problem = _optimizer_problem(state[key])
        if problem is not None:
            return f"{key.replace('_', ' ')}: {problem}" if key != "optimizer" else problem
    events = state.get("events")
    if not (
        isinstance(events, dict)
        and isinstance(events.get("file"), str)
        and isinstance(events.get("bytes"), int)
        and events["bytes"] >= 0
        and isinstance(events.get("files"), list)
        and all(
            isinstance(f, str) and _is_event_file(f) for f in [events["file"], *events["files"]]
        )
    ):
        return "events must name the run's event files and a position in one"
    generator = state.get("generator")
    if generator is not None and not (
        isinstance(generator, torch.Tensor) and generator.dtype == torch.uint8
    ):
        return "generator must be a generator's state (a uint8 tensor)"
    return None


def _optimizer_problem(saved: Any) -> str | None:
    """What makes `saved` unusable as an optimiser's state_dict, or None."""
    groups = saved.get("param_groups") if isinstance(saved, dict) else None
    if not isinstance(groups, list) or not all(isinstance(g, dict) for g in groups):
        return "optimizer must be an optimizer's state_dict"
    for group in groups:
        lr = group.get("lr")
        if not (isinstance(lr, (int, float)) and math.isfinite(lr) and 0 < lr <= MAX_LR):
            return f"the optimizer's learning rate must be in (0, {MAX_LR:g}], got {lr!r}"
    return None


def _is_event_file(name: str) -> bool:
    """A plain file name (no folder, nothing to climb out of the run folder) of an event file."""
    return "tfevents" in name and "/" not in name and "\\" not in name and name not in (".", "..")


def restore_policy(policy: nn.Module, saved: Checkpoint) -> None:
    """Load a checkpoint's parameters into `policy`, or say exactly how the two differ: in their
    parameters, or, where those fit, in what the checkpoint says the policy was (an MLP with
    tanh, whose weights would load into the same MLP with ReLU)."""
    built, described = getattr(policy, "spec", lambda: None)(), saved.state.get("policy_spec")
    weights = saved.state["policy"]
    described_otherwise = None not in (built, described) and _plain(built) != _plain(described)
    if described_otherwise and not _weight_problems(policy, weights):
        raise CheckpointError(
            f"{saved.path}: does not fit {type(policy).__name__}: it is {_plain(built)} here "
            f"but {_plain(described)} in the checkpoint"
        )
    _load_weights(policy, weights, saved.path)


def _load_weights(module: nn.Module, weights: dict[str, torch.Tensor], path: Path) -> None:
    """`module.load_state_dict(weights)`, or one line on how the two differ."""
    problems = _weight_problems(module, weights)
    if problems:
        raise CheckpointError(
            f"{path}: does not fit {type(module).__name__}: {'; '.join(problems)}"
        )
    module.load_state_dict(weights)


def _weight_problems(module: nn.Module, weights: dict[str, torch.Tensor]) -> list[str]:
    """How `weights` differ from `module`'s own, by name and shape."""
    own = module.state_dict()
    problems = [f"missing {name}" for name in own if name not in weights]
    problems += [f"unexpected {name}" for name in weights if name not in own]
    problems += [
        f"{name} has shape {tuple(own[name].shape)} here but {tuple(weights[name].shape)} "
        "in the checkpoint"
        for name in own
        if name in weights and own[name].shape != weights[name].shape
    ]
    return problems


def _plain(spec: Any) -> str:
    """A policy description as text, lists and tuples alike (a checkpoint stores either)."""
    return json.dumps(spec, sort_keys=True, default=repr)


def _non_finite(state: dict[str, Any]) -> str | None:
    """The name of the first tensor in `state` with a NaN or an infinity, or None."""
    for name, value in _tensors(state):
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            return name
    return None


def _tensors(tree: Any, prefix: str = "") -> list[tuple[str, torch.Tensor]]:
    """Every tensor in nested dicts and lists, with a dotted name."""
    if isinstance(tree, torch.Tensor):
        return [(prefix, tree)]
    if isinstance(tree, dict):
        return [
            pair
            for key, value in tree.items()
            for pair in _tensors(value, f"{prefix}.{key}" if prefix else str(key))
        ]
    if isinstance(tree, (list, tuple)):
        return [pair for i, value in enumerate(tree) for pair in _tensors(value, f"{prefix}[{i}]")]
    return []
