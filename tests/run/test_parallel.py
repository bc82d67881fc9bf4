"""Devices and torchrun: identical parameters on every rank, one run folder, CPU when no GPU."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
from tensorboard.plugins.hparams.plugin_data_pb2 import HParamsPluginData

import pg
from pg.run import parallel

from conftest import ROOT, only_run_dir, read_events, run_main

CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def torchrun(*args: str, cwd) -> subprocess.CompletedProcess:
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
        *args,
    ]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=300)


def test_auto_is_the_cpu_without_a_gpu_and_cuda_without_one_is_refused():
    if torch.cuda.is_available():
        assert parallel.resolve_device("auto").type == "cuda"
    else:
        assert parallel.resolve_device("auto") == torch.device("cpu")
        with pytest.raises(pg.UsageError, match="CUDA is not available"):
            parallel.resolve_device("cuda")
    assert parallel.resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(pg.UsageError, match="device must be one of auto, cpu, cuda"):
        parallel.resolve_device("tpu")


def test_one_process_is_a_world_of_one_and_keeps_its_seed():
    world = parallel.init(torch.device("cpu"))
    assert (world.rank, world.size, world.is_main) == (0, 1, True)
    assert parallel.rank_seed(7, world) == 7
    seeds = {parallel.rank_seed(7, parallel.World(rank, 4)) for rank in range(4)}
    assert len(seeds) == 4 and all(0 <= s < 2**63 for s in seeds)


@pytest.mark.skipif(
    torch.cuda.is_available(), reason="checks the message on a machine without CUDA"
)
def test_asking_a_script_for_cuda_without_a_gpu_exits_2_with_one_line(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)
    code, out, err = run_main(
        "train_reinforce", "--device", "cuda", monkeypatch=monkeypatch, capsys=capsys
    )
    assert (code, out) == (2, "") and err.strip().endswith("CUDA is not available on this machine")
    assert not (tmp_path / "logs").exists()


@pytest.mark.slow
def test_two_torchrun_processes_end_with_identical_parameters(tmp_path):
    # both trainers, one after the other, in one torchrun launch
    done = torchrun(
        str(ROOT / "tests" / "helpers" / "ddp_worker.py"),
        str(tmp_path),
        "reinforce,episodic,average",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    # the gradients are averaged, not summed: ranks with 1 g and 2 g both end with 1.5 g, where
    # g = d (w.x + b)^2 / d(w, b) = 2 (w.x + b) (x, 1) = 2 * -1.25 * (1, 2, 1) by hand
    g = [torch.tensor([[-2.5, -5.0]]), torch.tensor([-2.5])]
    for r in (0, 1):
        grads = torch.load(tmp_path / f"average-rank{r}.pt")["grads"]
        for got, by_hand in zip(grads, g):
            assert torch.allclose(got, 1.5 * by_hand), (r, got)
    for trainer in ("reinforce", "episodic"):
        ranks = [torch.load(tmp_path / f"{trainer}-rank{r}.pt") for r in (0, 1)]
        assert ranks[0]["world"] == ranks[1]["world"] == 2
        for name, value in ranks[0]["state"].items():  # started different, stayed in step
            assert torch.equal(value, ranks[1]["state"][name]), (trainer, name)
    reinforce = [torch.load(tmp_path / f"reinforce-rank{r}.pt") for r in (0, 1)]
    assert abs(reinforce[0]["state"]["bias"].item() + 10) < 0.25  # and converged
    assert reinforce[0]["average_reward"] != reinforce[1]["average_reward"]  # each its own samples
    episodic = [torch.load(tmp_path / f"episodic-rank{r}.pt") for r in (0, 1)]
    assert episodic[0]["episodes"] == episodic[1]["episodes"]
    assert episodic[0]["episodes"] % 16 == 0  # 2 ranks x 8
    assert episodic[0]["env_steps"] == episodic[1]["env_steps"] >= 6000  # counted, stopped together


@pytest.mark.slow
def test_the_reinforce_script_under_torchrun_writes_one_run_and_prints_once(tmp_path):
    done = torchrun(
        str(ROOT / "scripts" / "train_reinforce.py"),
        "--steps",
        "100",
        "--logdir",
        "runs",
        "--quiet",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("final bias") == 1
    assert abs(float(done.stdout.split()[2]) + 10) < 0.25
    run_dir = only_run_dir(tmp_path / "runs", "reinforce")
    assert run_dir.name.endswith("-seed0-world_size=2,steps=100")  # not a one-process run
    assert json.loads((run_dir / "config.json").read_text())["world_size"] == 2
    hparams = read_events(run_dir).PluginTagToContent("hparams")
    start = HParamsPluginData.FromString(hparams["_hparams_/session_start_info"])
    assert start.session_start_info.hparams["world_size"].number_value == 2


@CUDA
def test_reinforce_trains_on_the_gpu_and_stays_there():
    policy = pg.HungerPolicy(device="cuda")
    result = pg.train_reinforce(policy, logdir=None)
    assert policy.bias.device.type == "cuda"
    assert (
        abs(policy.bias.item() + 10) < 0.25 and abs(result.expected_reward / 0.861380 - 1) < 0.001
    )


@CUDA
def test_supervised_and_episodic_training_run_on_the_gpu():
    policy = pg.HungerPolicy(device="cuda")
    pg.train_supervised(policy, *pg.article_data(), logdir=None)
    assert abs(policy.bias.item() + 10) < 0.1
    mlp = pg.MLPPolicy(obs_dim=4, num_actions=2).cuda()
    assert pg.train_episodic(mlp, total_steps=3000, logdir=None).episodes > 0


def test_threads_are_one_for_small_tensors_shared_for_big_batches_and_as_asked_otherwise(
    monkeypatch,
):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    one, two = parallel.World(0, 1), parallel.World(0, 2)
    assert parallel.choose_threads(None, 8192, one) == 1
    assert parallel.choose_threads(3, 8192, one) == 3
    cores = len(__import__("os").sched_getaffinity(0))
    big = parallel.THREADS_FROM
    assert parallel.choose_threads(None, big, one) == max(1, min(parallel.MAX_THREADS, cores))
    assert parallel.choose_threads(None, big, two) == max(1, min(parallel.MAX_THREADS, cores // 2))


def test_the_user_s_omp_num_threads_beats_the_workload_rule_and_threads_beats_both(monkeypatch):
    one, big = parallel.World(0, 1), parallel.THREADS_FROM
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert parallel.choose_threads(None, big, one) == 1  # not the cores, for a big batch
    assert parallel.choose_threads(2, big, one) == 2  # --threads
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert parallel.choose_threads(None, 8192, one) == 3  # not one, for a small batch
    monkeypatch.setenv("OMP_NUM_THREADS", "lots")  # not a count: the workload rule
    assert parallel.choose_threads(None, 8192, one) == 1


def test_a_run_sets_its_threads_and_puts_torchs_back_afterwards():
    before = torch.get_num_threads()
    seen = []

    class Watching(pg.HungerPolicy):
        def logits(self, obs):
            seen.append(torch.get_num_threads())
            return super().logits(obs)

    pg.train_supervised(Watching(), *pg.article_data(), steps=2, threads=3, logdir=None)
    assert set(seen[:2]) == {3} and torch.get_num_threads() == before


def test_more_torchrun_processes_than_gpus_share_the_cpu_or_are_refused_with_cuda(monkeypatch):
    from pg.run.parallel import resolve_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert resolve_device("auto") == torch.device("cpu")  # every rank alike: gloo on the CPU
    with pytest.raises(pg.UsageError, match="a GPU for each of the 2 processes .* which has 1"):
        resolve_device("cuda")
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "1")
    monkeypatch.setenv("LOCAL_RANK", "0")
    assert resolve_device("auto") == torch.device("cuda", 0)
