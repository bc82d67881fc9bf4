"""Where training runs: the device, and several processes under torchrun.

    torchrun --standalone --nproc_per_node=2 scripts/train_reinforce.py

launches the same script N times. `init` joins them into one process group (gloo on the CPU,
nccl on GPUs). Each rank then samples its own rounds or episodes from a generator seeded
differently per rank (`rank_seed`), computes its gradient, and the gradients are averaged over
the ranks, so every rank applies the same update and the parameters stay identical. Only rank 0
creates the run folder, writes TensorBoard events and prints. With one process nothing of this
is involved.

The gradients are averaged by one all-reduce after backward (`average_gradients`, a call in
each trainer's step), as DistributedDataParallel would, but without a wrapper around the policy:
the trainers call `policy.distribution(obs)`, not `forward`, and DDP only synchronises what goes
through `forward`. `share_parameters` makes every rank start from rank 0's weights (`pg.run.Run`
calls it). With one process both do nothing, so a trainer's step is the same either way.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from pg.run.settings import UsageError

__all__ = [
    "DEVICES",
    "World",
    "average_gradients",
    "choose_threads",
    "current",
    "gather_episodes",
    "init",
    "leave",
    "rank_seed",
    "resolve_device",
    "session",
    "share_parameters",
]

DEVICES = ("auto", "cpu", "cuda")


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def resolve_device(name: str) -> torch.device:
    """'auto' is CUDA when there is a GPU, else the CPU; under torchrun a GPU per process, or
    the CPU for every process when this machine has fewer GPUs than torchrun started on it (the
    same answer on every rank, so that all of them pick the same backend)."""
    if name not in DEVICES:
        raise UsageError(f"device must be one of {', '.join(DEVICES)}, got {name!r}")
    if name == "cuda" and not torch.cuda.is_available():
        raise UsageError("device cuda was asked for, but CUDA is not available on this machine")
    if name == "cpu" or not torch.cuda.is_available():
        return torch.device("cpu")
    here, gpus = int(os.environ.get("LOCAL_WORLD_SIZE", "1")), torch.cuda.device_count()
    if here > gpus:
        if name == "cuda":
            raise UsageError(
                f"device cuda needs a GPU for each of the {here} processes torchrun started on "
                f"this machine, which has {gpus}; start at most {gpus} or use --device cpu"
            )
        return torch.device("cpu")
    return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))


def init(device: torch.device) -> World:
    """Join the process group if torchrun launched several processes; else a world of one."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return World()
    if not dist.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return current()


def current() -> World:
    """This process's rank and the number of processes (1 when not distributed)."""
    if dist.is_available() and dist.is_initialized():
        return World(dist.get_rank(), dist.get_world_size())
    return World()


def leave(wait_for_others: bool = True) -> None:
    """Leave the process group, normally together: a rank that tears it down while another is
    still busy (rank 0 draws the figures) can abort in gloo's threads."""
    if dist.is_available() and dist.is_initialized():
        if wait_for_others:
            dist.barrier()
        dist.destroy_process_group()


@contextmanager
def session(device: str) -> Iterator[tuple[torch.device, World]]:
    """A script's training session: the device resolved, the process group joined and left."""
    resolved = resolve_device(device)
    world = init(resolved)
    try:
        yield resolved, world
    except BaseException:
        leave(wait_for_others=False)  # others may be inside a collective: torchrun ends them
        raise
    leave(wait_for_others=True)


def rank_seed(seed: int, world: World) -> int:
    """The seed of this rank's generators: `seed` itself alone, independent streams per rank."""
    if world.size == 1:
        return seed
    return int(
        np.random.SeedSequence([seed, world.rank]).generate_state(1, dtype=np.uint64)[0] >> 1
    )


def gather_episodes(batch: Any) -> tuple[np.ndarray, np.ndarray]:
    """The lengths and returns of a batch's episodes: this process's alone, or under torchrun
    every rank's, in rank order (the same on every rank, so that all count the same episodes)."""
    if current().size == 1:
        return batch.lengths, batch.returns
    device = batch.obs.device
    return _gather(batch.lengths, device).astype(np.int64), _gather(batch.returns, device)


def _gather(values: np.ndarray, device: torch.device) -> np.ndarray:
    """Every rank's (n,) values, concatenated in rank order."""
    local = torch.as_tensor(values, dtype=torch.float64, device=device)
    parts = [torch.empty_like(local) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, local)
    return torch.cat(parts).cpu().numpy()


# Below this many rows per forward pass a second CPU thread buys nothing (the tensors are too
# small to split) and, on a machine busy with other work, a contended thread costs 10-50x:
# `scripts/benchmark.py --only threads` measures both.
THREADS_FROM = 262_144
MAX_THREADS = 4


def choose_threads(requested: int | None, rows: int, world: World) -> int:
    """torch's intra-op CPU threads for a run: `requested` (`--threads`) if given; else the
    user's OMP_NUM_THREADS if set; else one for small tensors, and for big batches the cores this
    process may use (shared among torchrun's ranks)."""
    if requested is not None:
        return requested
    omp = os.environ.get("OMP_NUM_THREADS", "")
    if omp.isdigit() and int(omp) > 0:
        return int(omp)
    if rows < THREADS_FROM:
        return 1
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(MAX_THREADS, (cores or 1) // world.size))


def share_parameters(module: nn.Module) -> None:
    """Make every rank start from rank 0's parameters and buffers (what DDP does when it wraps)."""
    if current().size > 1:
        for tensor in [*module.parameters(), *module.buffers()]:
            dist.broadcast(tensor.data, src=0)


def average_gradients(module: nn.Module) -> None:
    """Replace each gradient of `module` by its mean over the ranks, so that every rank takes the
    same step; with one process, nothing to do.

    One all-reduce over the gradients flattened together (a parameter that got no gradient
    counts as zeros). Every rank receives the same sum, so the parameters stay identical, bit
    for bit.
    """
    size = current().size
    if size == 1:
        return
    params = [p for p in module.parameters() if p.requires_grad]
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= size
    for p, part in zip(params, flat.split([g.numel() for g in grads])):
        p.grad = part.view_as(p).clone()
