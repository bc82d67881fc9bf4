"""Interrupted and failed runs: Ctrl-C, SIGTERM, non-finite values, a full disk. Nothing is lost."""

from __future__ import annotations

import errno
import os
import shutil
import signal
import subprocess
import sys
import time
import traceback
from pathlib import Path

import pytest
import torch

import pg
from pg.run import checkpoint

from conftest import raw_scalars, read_scalars, run_main, script_copy


@pytest.mark.slow  # SIGTERM to a real process; Ctrl-C (the same handler) runs in-process below
@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 143)])
def test_a_signal_mid_run_saves_a_checkpoint_flushes_events_and_says_how_to_resume(
    tmp_path, monkeypatch, capsys, sig, code
):
    command = [
        sys.executable,
        script_copy("train_reinforce", tmp_path),
        "--steps",
        "1000000",
        "--batch-size",
        "256",
        "--log-every",
        "50",
        "--save-every",
        "0",
        "--run-name",
        "long",
    ]
    run = subprocess.Popen(
        command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    for line in run.stdout:  # wait until training has started
        if line.startswith("step"):
            break
    run.send_signal(sig)
    out, err = run.communicate(timeout=60)
    assert run.returncode == code, err
    assert "Traceback" not in err
    stopped = next(line for line in out.splitlines() if line.startswith("stopped by"))
    assert stopped.startswith(f"stopped by {sig.name} after ")
    done = int(stopped.split()[4])
    assert (
        "resume with: python scripts/train_reinforce.py --resume logs/reinforce/long "
        "--steps 1000000" in out
    )
    run_dir = tmp_path / "logs" / "reinforce" / "long"
    assert checkpoint.load(run_dir, "reinforce").step == done  # saved at the step it stopped after
    logged = [s for s, _ in read_scalars(run_dir)["policy/bias"]]
    assert logged == [0, 1, *range(50, done + 1, 50)]  # every point up to the stop
    # the resume itself is the in-process script (a whole interpreter more would only repeat
    # what the interrupted one showed)
    monkeypatch.chdir(tmp_path)
    code, _, err = run_main(
        "train_reinforce",
        "--resume",
        str(run_dir),
        "--steps",
        str(done + 20),
        "--quiet",
        monkeypatch=monkeypatch,
        capsys=capsys,
    )
    assert code == 0, err
    assert checkpoint.load(run_dir, "reinforce").step == done + 20


class NanAfter(pg.HungerPolicy):
    """Its logits turn NaN from the `bad`-th training batch on (counting batches of `size` rows
    with gradients on, not the probes and quadrature of logging), as a diverging network's
    would."""

    def __init__(self, bad, size):
        super().__init__()
        self.batches, self.bad, self.size = 0, bad, size

    def logits(self, obs):
        training = obs.shape[0] == self.size and torch.is_grad_enabled()
        self.batches += training
        out = super().logits(obs)
        return out * float("nan") if self.batches >= self.bad and training else out


def test_a_non_finite_loss_stops_training_naming_the_step_and_keeps_the_last_good_checkpoint(
    logdir,
):
    policy = NanAfter(bad=17, size=64)  # the 17th batch: step 17, as the progress line counts
    with pytest.raises(checkpoint.NonFiniteError) as caught:
        pg.train_reinforce(
            policy, steps=100, batch_size=64, log_every=1000, save_every=5, logdir=str(logdir)
        )
    message = str(caught.value)
    assert message.startswith("non-finite loss at step 17: nan; the last good checkpoint is ")
    assert message.endswith("checkpoint.pt (step 15)")
    (run_dir,) = (logdir / "reinforce").iterdir()
    state = checkpoint.load(run_dir).state
    assert state["step"] == 15 and torch.isfinite(state["policy"]["bias"])
    assert torch.isfinite(policy.bias)  # stopped before the optimiser applied the bad gradient


def test_supervised_and_episodic_training_stop_at_the_first_non_finite_value_too(logdir):
    with pytest.raises(
        checkpoint.NonFiniteError,
        match="non-finite loss at step 4: nan; no checkpoint had been saved yet",
    ):
        pg.train_supervised(
            NanAfter(bad=4, size=4), *pg.article_data(), steps=50, logdir=str(logdir)
        )

    class NanMLP(pg.MLPPolicy):
        def logits(self, obs):
            return super().logits(obs) * float("nan")

    with pytest.raises(
        checkpoint.NonFiniteError, match=r"non-finite loss at step \d+: nan"
    ):  # the first batch's env steps
        pg.train_episodic(
            NanMLP(obs_dim=4, num_actions=2, hidden=(8,)), total_steps=1000, logdir=None
        )


def test_a_diverging_run_ends_the_script_with_one_line_and_exit_1(tmp_path, monkeypatch, capsys):
    # the hunger task's sigmoid saturates rather than diverging at any learning rate the flags
    # allow, so the divergence is injected: NaN logits from the 31st training batch on
    normal = pg.HungerPolicy.logits
    batches = []

    def diverging(self, obs):
        batches.append(obs.shape[0] == 8192)
        return normal(self, obs) * (float("nan") if sum(batches) > 30 and batches[-1] else 1.0)

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(pg.HungerPolicy, "logits", diverging)
    code, out, err = run_main(
        "train_reinforce", "--save-every", "20", "--quiet", monkeypatch=monkeypatch, capsys=capsys
    )
    assert (code, out) == (1, "")
    assert err.startswith(
        "train_reinforce.py: error: non-finite loss at step 31: nan; the last good "
        "checkpoint is logs/reinforce/"
    )
    assert err.endswith("checkpoint.pt (step 20)\n") and len(err.splitlines()) == 1


@pytest.mark.parametrize("failure", [errno.ENOSPC, errno.EROFS])
def test_a_full_or_read_only_disk_gives_one_clear_line_not_a_traceback(
    tmp_path, monkeypatch, capsys, failure
):
    def refuse(*args, **kwargs):
        raise OSError(
            failure,
            {errno.ENOSPC: "No space left on device", errno.EROFS: "Read-only file system"}[
                failure
            ],
        )

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(torch, "save", refuse)
    code, out, err = run_main("train_supervised", "--quiet", monkeypatch=monkeypatch, capsys=capsys)
    assert code == 1 and len(err.splitlines()) == 1 and "Traceback" not in err
    assert err.startswith("train_supervised.py: error: [Errno") and (
        "No space left" in err or "Read-only" in err
    )
    (run_dir,) = (tmp_path / "logs" / "supervised").iterdir()
    assert "loss/mse" in read_scalars(run_dir)  # the events written before the failure are on disk


def test_a_disk_failure_inside_torchs_zip_writer_is_one_line_too(tmp_path, monkeypatch, capsys):
    real_save = torch.save

    def failing(obj, f, *args, **kwargs):
        if not isinstance(f, (str, os.PathLike)):  # the in-memory payload is fine
            return real_save(obj, f, *args, **kwargs)
        raise RuntimeError("PytorchStreamWriter failed writing file data/0: file write failed")

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(torch, "save", failing)
    code, out, err = run_main("train_supervised", "--quiet", monkeypatch=monkeypatch, capsys=capsys)
    assert code == 1 and len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert "cannot write the checkpoint in logs/supervised/" in err and "file write failed" in err


FIFTY_STEPS = ["--steps", "50", "--run-name", "r", "--quiet", "--no-figure"]


def ctrl_c_at_training_step(monkeypatch, step: int) -> None:
    """Press Ctrl-C (SIGINT to this process) during the `step`-th supervised training step, a
    forward pass on the article's four points, counting from 1."""
    forward = pg.HungerPolicy.logits
    calls = []

    def signalling(self, obs):
        if obs.shape[0] == 4 and torch.is_grad_enabled():  # a training step, not a probe
            calls.append(1)
            if len(calls) == step:
                os.kill(os.getpid(), signal.SIGINT)
        return forward(self, obs)

    monkeypatch.setattr(pg.HungerPolicy, "logits", signalling)


def test_a_signal_during_the_last_step_still_ends_with_the_summary(tmp_path, monkeypatch, capsys):
    ctrl_c_at_training_step(monkeypatch, 5)  # the fifth and last step
    monkeypatch.chdir(tmp_path)
    code, out, err = run_main(
        "train_supervised", "--steps", "5", "--quiet", monkeypatch=monkeypatch, capsys=capsys
    )
    assert code == 0 and err == "", err
    assert out.startswith("final bias") and "stopped" not in out


def test_ctrl_c_mid_run_stops_after_the_step_with_a_checkpoint_and_exit_130(
    tmp_path, monkeypatch, capsys
):
    ctrl_c_at_training_step(monkeypatch, 7)  # of 50
    monkeypatch.chdir(tmp_path)
    code, out, err = run_main(
        "train_supervised", *FIFTY_STEPS, monkeypatch=monkeypatch, capsys=capsys
    )
    assert code == 130 and "Traceback" not in err, err
    assert out.startswith("stopped by SIGINT after 7 of 50; checkpoint logs/supervised/r/")
    assert "resume with: python scripts/train_supervised.py --resume logs/supervised/r" in out
    assert checkpoint.load(tmp_path / "logs" / "supervised" / "r").step == 7


def test_a_run_started_ignoring_ctrl_c_goes_on_ignoring_it(tmp_path, monkeypatch, capsys):
    """`python train.py &` in a shell script starts with SIGINT ignored; as Python leaves it
    so, the trainer does not take it over: a Ctrl-C to the script does not stop the run."""
    ctrl_c_at_training_step(monkeypatch, 7)
    monkeypatch.chdir(tmp_path)
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        code, out, err = run_main(
            "train_supervised", *FIFTY_STEPS, monkeypatch=monkeypatch, capsys=capsys
        )
        assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN  # and left as it was
    finally:
        signal.signal(signal.SIGINT, previous)
    assert code == 0 and err == "", err
    assert out.startswith("final bias") and "stopped" not in out
    assert checkpoint.load(tmp_path / "logs" / "supervised" / "r").step == 50


def _train_in_a_child(run_dir, steps: int) -> int:
    """Fork a process that trains REINFORCE into `run_dir` (resuming it if it has a checkpoint);
    return its pid. The child shares this process's imports, so it starts in milliseconds."""
    pid = os.fork()
    if pid == 0:  # the child: train, then leave without running any of pytest's teardown
        code = 1
        try:
            saved = run_dir / checkpoint.FILENAME
            pg.train_reinforce(
                pg.HungerPolicy(),
                steps=steps,
                batch_size=64,
                log_every=1,
                save_every=40,
                logdir=str(run_dir.parent.parent),
                run_name=run_dir.name,
                figure=False,
                resume=checkpoint.load(saved) if saved.exists() else None,
            )
            code = 0
        except BaseException:
            traceback.print_exc()
        finally:
            os._exit(code)
    return pid


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_killed_at_random_moments_and_resumed_the_events_hold_one_point_per_step(tmp_path):
    import random

    # this process imports what training imports (the children inherit it): a child then gets
    # to its first steps in milliseconds, and the kills land all through training
    pg.train_reinforce(pg.HungerPolicy(), steps=2, batch_size=8, logdir=str(tmp_path / "warm"))
    rng = random.Random(0)
    killed = tmp_path / "logs" / "reinforce" / "killed"
    reached = []  # the checkpoint's step after each kill
    while len(reached) < 20:  # SIGKILL: no handler runs, nothing is flushed, a write may be torn
        if killed.exists() and not (killed / checkpoint.FILENAME).exists():
            shutil.rmtree(killed)  # killed before its first checkpoint: nothing to resume
        saved = killed / checkpoint.FILENAME
        before = saved.stat().st_mtime_ns if saved.exists() else None
        pid = _train_in_a_child(killed, steps=10**6)  # far more than it gets time for
        if len(reached) % 2:  # every other kill lands after a new checkpoint: progress, even
            deadline = time.monotonic() + 60  # on a machine busy with other work
            while time.monotonic() < deadline and (
                not saved.exists() or saved.stat().st_mtime_ns == before
            ):
                time.sleep(0.005)
        time.sleep(rng.uniform(0.0, 0.3))
        os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
        assert os.WIFSIGNALED(status), f"ended with {status >> 8} before it was killed"
        reached.append(checkpoint.load(saved).step if saved.exists() else 0)
    assert len(set(reached)) >= 5, reached  # killed at many points of the run, not all at once
    steps = reached[-1] + 100  # the last resume runs to an end (steps is the run's total)
    for run_dir in (killed, tmp_path / "logs" / "reinforce" / "whole"):
        pid = _train_in_a_child(run_dir, steps)
        assert os.waitpid(pid, 0)[1] == 0

    assert checkpoint.load(killed).step == steps
    got, expected = raw_scalars(killed), raw_scalars(tmp_path / "logs" / "reinforce" / "whole")
    assert {step for _, step, _ in expected} == set(range(steps + 1))  # the start, every update
    assert sorted(got) == sorted(expected)  # every point once: no gap, no duplicate, same value


def test_a_run_folder_in_use_is_refused_to_a_second_process(tmp_path, monkeypatch, capsys):
    from pg.run.logger import lock_run_dir

    monkeypatch.chdir(tmp_path)
    first = ["--steps", "5", "--run-name", "r", "--quiet", "--no-figure"]
    assert run_main("train_reinforce", *first, monkeypatch=monkeypatch, capsys=capsys)[0] == 0
    run_dir = tmp_path / "logs" / "reinforce" / "r"
    resume = ["--resume", str(run_dir), "--steps", "10", "--quiet", "--no-figure"]
    held = lock_run_dir(run_dir)  # as a resume still running in another process holds it
    try:
        before = sorted((p.name, p.stat().st_size) for p in run_dir.iterdir())
        code, out, err = run_main(
            "train_reinforce", *resume, monkeypatch=monkeypatch, capsys=capsys
        )
        assert (code, out) == (2, "") and len(err.splitlines()) == 1, err
        assert f"run folder {run_dir} is in use by another process" in err
        assert sorted((p.name, p.stat().st_size) for p in run_dir.iterdir()) == before
    finally:
        held.close()
    code, out, err = run_main("train_reinforce", *resume, monkeypatch=monkeypatch, capsys=capsys)
    assert code == 0 and checkpoint.load(run_dir).step == 10, err


@pytest.mark.slow
# a checkout's script and an installed command: both start through `pg_launch`
@pytest.mark.parametrize("how", ["scripts/train_episodic.py", "pg-train-reinforce"])
def test_ctrl_c_while_the_program_is_still_importing_exits_130_without_a_traceback(tmp_path, how):
    if how.startswith("scripts/"):
        command = [sys.executable, script_copy(Path(how).stem, tmp_path)]
    else:  # the installed command, beside this interpreter
        command = [str(Path(sys.executable).parent / how)]
    run = subprocess.Popen(
        command,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # as from a terminal: a test run started in the background (`pytest &`) ignores SIGINT,
        # and a child would inherit that and, like Python itself, respect it
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    wait_until_sigint_is_held_back(run.pid)  # then torch and the rest import, for seconds
    time.sleep(0.1)
    run.send_signal(signal.SIGINT)
    out, err = run.communicate(timeout=60)
    assert run.returncode == 130 and "Traceback" not in err, err
    assert err.endswith(": interrupted\n"), err
    assert not (tmp_path / "logs").exists()  # stopped before any run began


@pytest.mark.slow
def test_a_second_ctrl_c_while_the_program_shuts_down_ends_it_without_a_traceback(tmp_path):
    command = [str(Path(sys.executable).parent / "pg-train-reinforce"), "--steps", "1000000"]
    for _ in range(3):  # torch's exit handlers run for some milliseconds: aim at them
        run = subprocess.Popen(
            [*command, "--quiet"],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
        wait_until_sigint_is_held_back(run.pid)
        wait_until_sigint_is_held_back(run.pid, held=False)  # imported: the program runs
        time.sleep(0.5)
        run.send_signal(signal.SIGINT)
        said = run.stdout.readline()
        if said.startswith("stopped by SIGINT after"):  # not still importing: how to resume
            said = run.stdout.readline()
        assert said.startswith(("resume with:", "stopped by SIGINT before")), said
        run.send_signal(signal.SIGINT)  # the program has said all it says: it is shutting down
        out, err = run.communicate(timeout=60)
        assert "Traceback" not in err and "Exception ignored" not in err, err
        assert run.returncode in (130, -signal.SIGINT), err


def wait_until_sigint_is_held_back(pid: int, held: bool = True) -> None:
    """Wait until process `pid` blocks SIGINT (its `SigBlk` mask in /proc, Linux), or, with
    `held=False`, until it lets SIGINT through again."""
    bit = 1 << (signal.SIGINT - 1)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status = Path(f"/proc/{pid}/status").read_text()
        blocked = next(line.split()[1] for line in status.splitlines() if line.startswith("SigBlk"))
        if bool(int(blocked, 16) & bit) == held:
            return
        time.sleep(0.002)
    raise AssertionError(f"process {pid} never {'held SIGINT back' if held else 'let it through'}")


def test_a_signal_before_the_first_update_saves_nothing_and_frees_the_run_name(
    tmp_path, monkeypatch, capsys
):
    check_fits = pg.HungerBandit.check_fits

    def ctrl_c_while_setting_up(self, policy):  # after the signal handler, before any step
        check_fits(self, policy)
        os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(pg.HungerBandit, "check_fits", ctrl_c_while_setting_up)
    monkeypatch.chdir(tmp_path)
    args = ["--run-name", "r", "--quiet"]
    code, out, err = run_main("train_reinforce", *args, monkeypatch=monkeypatch, capsys=capsys)
    assert code == 130 and "Traceback" not in err, err
    assert out == "stopped by SIGINT before the first update: nothing was trained or saved\n"
    assert not (tmp_path / "logs" / "reinforce" / "r").exists()  # the name is free again
    monkeypatch.setattr(pg.HungerBandit, "check_fits", check_fits)
    code, out, err = run_main(
        "train_reinforce", *args, "--steps", "3", monkeypatch=monkeypatch, capsys=capsys
    )
    assert code == 0 and out.startswith("final bias"), err


def test_a_run_folder_with_anything_else_in_it_is_never_discarded(tmp_path):
    from pg.run.logger import discard_empty_run

    for extra in ("notes.txt", "checkpoint.pt"):
        run_dir = tmp_path / extra.replace(".", "_")
        run_dir.mkdir()
        for name in ("config.json", ".lock", "events.out.tfevents.1.host.2.0", extra):
            (run_dir / name).write_text("x")
        discard_empty_run(run_dir)
        assert len(list(run_dir.iterdir())) == 4  # all kept


def test_a_lock_file_that_is_a_fifo_is_refused_instead_of_blocking(tmp_path):
    from pg.run.logger import lock_run_dir

    os.mkfifo(tmp_path / ".lock")  # open() on it would wait for a writer for ever
    with pytest.raises(pg.UsageError, match="is not a regular file"):
        lock_run_dir(tmp_path)
