"""Where training runs: the device, and several processes under torchrun.

    torchrun --standalone --nproc_per_node=2 scripts/train_reinforce.py

launches the same script N times. `init` joins them into one process group (gloo on the CPU,
nccl on GPUs). Each rank then samples its own rounds or episodes from a generator seeded
differently per rank (`rank_seed`), computes its gradient, and DistributedDataParallel averages
the gradients over the ranks during backward, so every rank applies the same update and the
parameters stay identical. Only rank 0 creates the run folder, writes TensorBoard events and
prints. With one process nothing of this is involved: the trainers use the policy directly.

DDP only synchronises gradients of computations that go through its `forward`, and the trainers
call `policy.distribution(obs)`, not `policy(obs)`. `synced(policy)` therefore wraps the policy's
logits in DDP and rebuilds the distribution from them, keeping `.distribution(obs)` the one call
a trainer makes, with or without torchrun.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.distributions import Distribution

from pg.config import UsageError
from pg.policy import Policy

__all__ = ["DEVICES", "World", "current", "gather", "init", "rank_seed", "resolve_device", "leave", "session", "synced"]

DEVICES = ("auto", "cpu", "cuda")


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def resolve_device(name: str) -> torch.device:
    """'auto' is CUDA when there is a GPU, else the CPU; under torchrun each rank gets its own GPU."""
    if name not in DEVICES:
        raise UsageError(f"device must be one of {', '.join(DEVICES)}, got {name!r}")
    if name == "cuda" and not torch.cuda.is_available():
        raise UsageError("device cuda was asked for, but CUDA is not available on this machine")
    if name == "cpu" or not torch.cuda.is_available():
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
    return int(np.random.SeedSequence([seed, world.rank]).generate_state(1, dtype=np.uint64)[0] >> 1)


def gather(values: np.ndarray, device: torch.device) -> np.ndarray:
    """Every rank's (n,) values, concatenated in rank order (the same on every rank)."""
    local = torch.as_tensor(values, dtype=torch.float64, device=device)
    parts = [torch.empty_like(local) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, local)
    return torch.cat(parts).cpu().numpy()


class _Logits(nn.Module):
    """The policy's checked logits as a forward pass, which is what DDP synchronises."""

    def __init__(self, policy: Policy):
        super().__init__()
        self.policy = policy

    def forward(self, obs: Tensor, check_values: bool = True) -> Tensor:
        return self.policy._checked_logits(obs, check_values)


class _Synced:
    """`.distribution(obs)` through DistributedDataParallel: backward averages over ranks."""

    def __init__(self, policy: Policy):
        self.policy = policy
        like = next(policy.parameters())
        device_ids = [like.device] if like.device.type == "cuda" else None
        # static_graph: one forward and one backward per update, always the same; it also copes
        # with parameters a subclass never uses (the built-in bias), without a graph search per step
        self._ddp = nn.parallel.DistributedDataParallel(_Logits(policy), device_ids=device_ids, static_graph=True)

    def distribution(self, obs: Tensor, *, check_values: bool = True) -> Distribution:
        return self.policy._distribution_from_logits(self._ddp(obs, check_values))


def synced(policy: Policy):
    """What a trainer calls `.distribution(obs)` on: the policy itself, or its DDP wrapper."""
    return _Synced(policy) if current().size > 1 else policy
