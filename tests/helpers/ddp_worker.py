"""Launched by torchrun from tests/test_parallel.py: trains each trainer named (comma-separated)
on every rank, one after the other in one process group, and saves each one's end state."""

import sys
from pathlib import Path

import torch

import pg
from pg.run import parallel

out, trainers = Path(sys.argv[1]), sys.argv[2].split(",")
with parallel.session("cpu") as (device, world):
    for trainer in trainers:
        torch.manual_seed(world.rank)  # different initial weights per rank: DDP makes them equal
        if trainer == "average":  # each rank's gradient is (rank + 1) times the same g
            layer = torch.nn.Linear(2, 1)
            with torch.no_grad():
                layer.weight.copy_(torch.tensor([[0.5, -1.0]]))
                layer.bias.fill_(0.25)
            ((world.rank + 1) * layer(torch.tensor([[1.0, 2.0]])).pow(2).sum()).backward()
            parallel.average_gradients(layer)
            torch.save(
                {"grads": [p.grad for p in layer.parameters()], "world": world.size},
                out / f"average-rank{world.rank}.pt",
            )
            continue
        if trainer == "reinforce":
            policy = pg.HungerPolicy(bias=float(world.rank))
            result = pg.train_reinforce(policy, steps=100, batch_size=2048, logdir=None)
            extra = {"average_reward": result.average_reward}
        else:
            policy = pg.MLPPolicy(obs_dim=4, hidden=(32,), num_actions=2)
            result = pg.train_episodic(policy, total_steps=6000, episodes_per_update=8, logdir=None)
            extra = {"episodes": result.episodes, "env_steps": result.env_steps}
        torch.save(
            {"state": policy.state_dict(), "world": world.size, **extra},
            out / f"{trainer}-rank{world.rank}.pt",
        )
