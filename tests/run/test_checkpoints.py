"""Checkpoints: exact resume, safe loading, and refusing what does not fit."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import re
import shutil
import sys
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import pg
from pg.run import checkpoint, cli
from pg.run.checkpoint import Checkpoint
from pg.run.settings import UsageError

from conftest import read_scalars, run_main, run_script, script_module


def saved(run_dir):
    return checkpoint.load(run_dir).state


@pytest.mark.parametrize(
    "script, kind, extra",
    [
        ("train_supervised", "supervised", []),
        ("train_reinforce", "reinforce", []),
        (
            "train_reinforce",
            "reinforce",
            ["--optimizer", "adam", "--lr", "0.3", "--baseline", "mean", "--stochastic-portions"],
        ),
    ],
)
def test_n_steps_then_resume_to_2n_equals_2n_steps_bit_for_bit(
    tmp_path, monkeypatch, capsys, script, kind, extra
):
    monkeypatch.chdir(tmp_path)
    common = ["--quiet", "--no-figure", "--log-every", "7", "--save-every", "25", *extra]
    for args in (
        ["--steps", "60", "--run-name", "split"],
        ["--resume", f"logs/{kind}/split", "--steps", "120"],
        ["--steps", "120", "--run-name", "whole"],
    ):
        code, out, err = run_main(script, *common, *args, monkeypatch=monkeypatch, capsys=capsys)
        assert code == 0, err
    split, whole = (
        saved(tmp_path / "logs" / kind / "split"),
        saved(tmp_path / "logs" / kind / "whole"),
    )
    assert split["step"] == whole["step"] == 120
    for name, value in whole["policy"].items():
        assert torch.equal(split["policy"][name], value), name
    # the whole trajectory, at every logged step (the split run also logged 60, its first part's
    # end)
    logged = {
        name: dict(read_scalars(tmp_path / "logs" / kind / name)["policy/bias"])
        for name in ("split", "whole")
    }
    assert {s: logged["split"][s] for s in logged["whole"]} == logged["whole"]
    assert set(logged["split"]) - set(logged["whole"]) <= {60}
    assert torch.equal(
        split.get("generator", torch.zeros(1)), whole.get("generator", torch.zeros(1))
    )
    # the events continue on one step counter in the same folder: 0 (the start), 1 (the first
    # update), 7, 14, ..., 119, 120 (and 60, the first part's last step); the settings now say
    # 120 steps
    steps = [s for s, _ in read_scalars(tmp_path / "logs" / kind / "split")["policy/bias"]]
    expected = {0, 1, *range(7, 120, 7), 120}
    assert steps == sorted(steps) and expected <= set(steps) <= expected | {60}
    assert (
        json.loads((tmp_path / "logs" / kind / "split" / "config.json").read_text())["steps"] == 60
    )


@pytest.mark.slow
def test_a_resumed_reinforce_script_from_a_real_command_line_continues_exactly(
    tmp_path, monkeypatch, capsys
):
    # the resume is a real interpreter; the runs around it are the same script in-process
    monkeypatch.chdir(tmp_path)
    outputs = []
    for args in (["--steps", "40", "--run-name", "r"], ["--steps", "80", "--run-name", "w"]):
        code, out, err = run_main(
            "train_reinforce",
            *args,
            "--quiet",
            "--no-figure",
            monkeypatch=monkeypatch,
            capsys=capsys,
        )
        assert code == 0, err
        outputs.append(out)
    again = run_script(
        "train_reinforce",
        "--resume",
        "logs/reinforce/r/checkpoint.pt",
        "--steps",
        "80",
        "--quiet",
        "--no-figure",
        cwd=tmp_path,
    )
    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines()[0] == outputs[1].splitlines()[0]  # "final bias", 6 decimals
    assert torch.equal(
        saved(tmp_path / "logs/reinforce/r")["policy"]["bias"],
        saved(tmp_path / "logs/reinforce/w")["policy"]["bias"],
    )


@pytest.mark.parametrize("baseline", ["none", "value"])
def test_episodic_training_resumes_exactly_too(tmp_path, baseline):
    def policy():
        torch.manual_seed(1)
        return pg.MLPPolicy(obs_dim=4, hidden=(16,), num_actions=2)

    settings = {"logdir": str(tmp_path), "baseline": baseline, "value_hidden": (8,)}
    first = pg.train_episodic(policy(), total_steps=3000, run_name="split", **settings)
    resumed = pg.train_episodic(
        policy(), total_steps=6000, resume=checkpoint.load(first.run_dir, "episodic"), **settings
    )
    whole = pg.train_episodic(policy(), total_steps=6000, run_name="whole", **settings)
    assert (resumed.env_steps, resumed.episodes) == (whole.env_steps, whole.episodes)
    a, b = saved(resumed.run_dir), saved(whole.run_dir)
    assert a["recent"] == b["recent"]
    assert (a["step"], a["update"]) == (b["step"], b["update"])  # updates counted, not env steps
    # and so the logging points after the resume are the uninterrupted run's (with the split's
    # own last point as the only extra)
    logged = [{s for s, _ in read_scalars(run.run_dir)["grad/norm"]} for run in (resumed, whole)]
    assert logged[1] <= logged[0] and len(logged[0] - logged[1]) <= 1
    learned = ["policy", "optimizer"] + (
        ["value", "value_optimizer"] if baseline == "value" else []
    )
    assert [k for k in b if k in learned] == learned
    for key in learned:  # every tensor of every learned thing, bit for bit
        pairs = zip(checkpoint._tensors(a[key]), checkpoint._tensors(b[key]))
        assert all(n == m and torch.equal(x, y) for (n, x), (m, y) in pairs), key


@pytest.fixture(scope="module")
def finished_runs(tmp_path_factory) -> Path:
    """`logs/` after 30-step REINFORCE runs `r` (lr 10, the default) and `r5` (lr 5) and a 5-step
    supervised run `s`, made once; each test works on its own copy."""
    root = tmp_path_factory.mktemp("finished")
    runs = [
        ("train_reinforce", "r", ["--steps", "30"]),
        ("train_reinforce", "r5", ["--steps", "30", "--lr", "5"]),
        ("train_supervised", "s", ["--steps", "5"]),
    ]
    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stdout(io.StringIO()):
        patch.chdir(root)
        for script, name, flags in runs:
            argv = [script, *flags, "--run-name", name, "--quiet", "--no-figure"]
            patch.setattr(sys, "argv", argv)
            assert cli.run(script_module(script).main) == 0
    return root / "logs"


@pytest.mark.parametrize(
    "args, words",
    [
        (
            ["--resume", "logs/reinforce/r", "--steps", "20"],
            "already at step 30; steps is the run's total",
        ),
        (
            ["--resume", "logs/reinforce/r", "--steps", "30"],  # a finished run: nothing to do
            "already at step 30; steps is the run's total",
        ),
        (
            ["--resume", "logs/reinforce/r", "--lr", "5"],
            "lr is 5.0 here but 10.0 in the run being resumed",
        ),
        (  # typed at its default value, and still not the run's own: refused, not replaced
            ["--resume", "logs/reinforce/r5", "--lr", "10"],
            "lr is 10.0 here but 5.0 in the run being resumed",
        ),
        (["--resume", "logs/reinforce/r5", "--lr=10"], "lr is 10.0 here but 5.0"),
        (["--resume", "logs/reinforce/nothing"], "no such checkpoint"),
        (["--resume", ""], "--resume needs a run folder or checkpoint file, got ''"),
        (["--resume="], "--resume needs a run folder or checkpoint file, got ''"),
        (["--resume", "logs/supervised/s"], "a checkpoint of supervised training, not reinforce"),
        (["--resume", "garbage.pt"], "not a readable checkpoint"),
        (["--resume", "logs/reinforce/r", "--walkthrough"], "takes no --resume"),
    ],
)
def test_a_resume_that_cannot_continue_the_run_is_refused_in_one_line(
    tmp_path, monkeypatch, capsys, finished_runs, args, words
):
    shutil.copytree(finished_runs, tmp_path / "logs")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "garbage.pt").write_bytes(b"not a zip file")

    def files():
        return sorted((str(p), p.stat().st_size) for p in (tmp_path / "logs").rglob("*"))

    before = files()
    code, out, err = run_main("train_reinforce", *args, monkeypatch=monkeypatch, capsys=capsys)
    assert (code, out) == (2, "") and len(err.splitlines()) == 1 and words in err, err
    assert files() == before


class HalfLogits(pg.HungerPolicy):
    """A policy class of the user's own, with the same parameters as the shipped one."""

    def logits(self, obs):
        return super().logits(obs) / 2


def test_resuming_a_run_of_a_policy_class_of_ones_own_from_the_program_says_how_from_python(
    tmp_path, monkeypatch, capsys
):
    result = pg.train_reinforce(HalfLogits(), steps=3, logdir=str(tmp_path / "logs"))
    monkeypatch.chdir(tmp_path)
    files = sorted((str(p), p.stat().st_size) for p in result.run_dir.rglob("*"))
    args = ["--resume", str(result.run_dir), "--steps", "6"]
    code, out, err = run_main("train_reinforce", *args, monkeypatch=monkeypatch, capsys=capsys)
    assert (code, out) == (2, "") and len(err.splitlines()) == 1, err
    assert "a policy class of your own" in err and "resume=pg.run.checkpoint.load(" in err
    assert sorted((str(p), p.stat().st_size) for p in result.run_dir.rglob("*")) == files
    # what it says to do works: the user's class, resumed from Python
    resumed = pg.train_reinforce(
        HalfLogits(), steps=6, logdir=str(tmp_path / "logs"), resume=checkpoint.load(result.run_dir)
    )
    assert resumed.run_dir == result.run_dir and resumed.steps == 6


class Payload:
    """What a malicious checkpoint could carry: unpickling it calls `Path.touch`."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        import pathlib

        return (pathlib.Path.touch, (pathlib.Path(self.marker),))


def test_a_checkpoint_carrying_a_pickle_payload_is_refused_and_the_payload_never_runs(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)
    marker = tmp_path / "payload_ran"
    run_dir = tmp_path / "logs" / "reinforce" / "evil"
    run_dir.mkdir(parents=True)
    torch.save(
        {
            "format": checkpoint.FORMAT,
            "trainer": "reinforce",
            "step": 1,
            "settings": {},
            "x": Payload(marker),
        },
        run_dir / "checkpoint.pt",
    )
    code, out, err = run_main(
        "train_reinforce", "--resume", str(run_dir), monkeypatch=monkeypatch, capsys=capsys
    )
    assert (code, out) == (
        2,
        "",
    ) and "refusing to load it, it holds Python objects that could run code" in err
    assert "it refers to" in err and len(err.splitlines()) == 1
    assert not marker.exists()
    torch.load(
        run_dir / "checkpoint.pt", weights_only=False
    )  # the control: loading it unsafely does run it
    assert marker.exists()


def test_a_checkpoint_of_another_model_is_refused_naming_what_differs(tmp_path):
    mlp = pg.MLPPolicy(obs_dim=1, hidden=(4,), num_actions=2)
    result = pg.train_reinforce(mlp, steps=3, batch_size=64, logdir=str(tmp_path))
    resume = checkpoint.load(result.run_dir, "reinforce")
    with pytest.raises(checkpoint.CheckpointError) as caught:
        pg.train_reinforce(pg.HungerPolicy(), steps=6, logdir=str(tmp_path), resume=resume)
    message = str(caught.value)
    assert (
        "does not fit HungerPolicy" in message
        and "missing weight" in message
        and "unexpected net.0.weight" in message
    )
    with pytest.raises(
        checkpoint.CheckpointError, match=r"net.0.weight has shape \(8, 1\) here but \(4, 1\)"
    ):
        pg.train_reinforce(
            pg.MLPPolicy(obs_dim=1, hidden=(8,), num_actions=2),
            steps=6,
            logdir=str(tmp_path),
            resume=resume,
        )


def test_no_checkpoint_ever_holds_a_nan(tmp_path):
    policy = pg.HungerPolicy()
    with torch.no_grad():
        policy.bias.fill_(float("nan"))
    with pytest.raises(
        checkpoint.NonFiniteError,
        match="refusing to checkpoint a non-finite value in policy.bias at step 3",
    ):
        checkpoint.save(tmp_path, {"step": 3, "policy": policy.state_dict(), "optimizer": {}})
    assert not (tmp_path / "checkpoint.pt").exists()


def test_a_crash_in_the_middle_of_writing_a_checkpoint_leaves_the_previous_one_loadable(
    tmp_path, monkeypatch
):
    real_save, files = torch.save, []

    def dies_halfway(obj, f, *args, **kwargs):  # the second checkpoint file: half, then a crash
        if isinstance(f, (str, Path)):
            files.append(f)
            if len(files) == 2:
                data = io.BytesIO()
                real_save(obj, data, *args, **kwargs)
                Path(f).write_bytes(data.getvalue()[: len(data.getvalue()) // 2])
                raise OSError("the disk went away")
        return real_save(obj, f, *args, **kwargs)

    monkeypatch.setattr(torch, "save", dies_halfway)
    with pytest.raises(OSError, match="the disk went away"):
        pg.train_reinforce(
            pg.HungerPolicy(), steps=30, batch_size=64, save_every=10, logdir=str(tmp_path)
        )
    (run_dir,) = (tmp_path / "reinforce").iterdir()
    assert checkpoint.load(run_dir).step == 10  # the first, whole and verified


def test_checkpoints_are_replaced_atomically_and_hold_every_generator_state(tmp_path):
    result = pg.train_reinforce(
        pg.HungerPolicy(),
        steps=30,
        batch_size=64,
        save_every=10,
        logdir=str(tmp_path),
        figure=False,
    )
    state = saved(result.run_dir)
    assert (
        state["step"] == 30
        and state["trainer"] == "reinforce"
        and state["settings"]["save_every"] == 10
    )
    assert isinstance(state["generator"], torch.Tensor) and set(state["optimizer"]) == {
        "state",
        "param_groups",
    }
    assert sorted(p.name for p in result.run_dir.glob("checkpoint*")) == [
        "checkpoint.pt"
    ]  # no partial file left
    assert result.checkpoint == result.run_dir / "checkpoint.pt"


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    """A short REINFORCE run's checkpoint (its bytes, at step 20), and the bias that 20 more steps
    from it give."""
    logdir = tmp_path_factory.mktemp("runs")
    result = pg.train_reinforce(
        pg.HungerPolicy(), steps=20, batch_size=64, run_name="r", logdir=str(logdir), figure=False
    )
    data = result.checkpoint.read_bytes()
    resumed = pg.HungerPolicy()
    pg.train_reinforce(
        resumed, resume=checkpoint.load(result.run_dir), steps=40, logdir=str(logdir), figure=False
    )
    return data, resumed.bias.item()


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")  # a flip can hit the protocol byte
@settings(max_examples=60, deadline=None, derandomize=True)
@given(rng=st.randoms(use_true_random=False), count=st.integers(1, 3))
def test_flipped_bytes_give_a_clean_refusal_or_the_same_run_never_a_changed_one(
    small_run, rng, count, tmp_path_factory
):
    original, expected_bias = small_run
    data = bytearray(original)
    for _ in range(count):
        data[rng.randrange(len(data))] ^= rng.randrange(1, 256)
    folder = tmp_path_factory.mktemp("flipped")
    (folder / "checkpoint.pt").write_bytes(bytes(data))
    try:
        damaged = checkpoint.load(folder)
    except checkpoint.CheckpointError as e:
        assert len(str(e).splitlines()) == 1
        return
    policy = pg.HungerPolicy()
    pg.train_reinforce(policy, resume=damaged, steps=40, logdir=str(folder.parent), figure=False)
    assert policy.bias.item() == expected_bias  # loaded despite the flip: the run is unchanged


def program_run(tmp_path, monkeypatch, capsys, name: str, *flags: str) -> Path:
    """The folder of a short run the program `name` made in `tmp_path/src` (`--resume` takes
    only the runs of its program)."""
    monkeypatch.chdir(tmp_path)
    where = ["--logdir", "src", "--run-name", "r", "--quiet"]
    code, _, err = run_main(name, *where, *flags, monkeypatch=monkeypatch, capsys=capsys)
    assert code == 0, err
    return tmp_path / "src" / name.removeprefix("train_") / "r"


def seal(tmp_path, monkeypatch, capsys, **changes):
    """A real checkpoint with some fields changed, sealed with a valid checksum (hand-made)."""
    flags = ["--steps", "3", "--batch-size", "16", "--no-figure"]
    source = program_run(tmp_path, monkeypatch, capsys, "train_reinforce", *flags)
    state = checkpoint.load(source).state
    for key, value in changes.items():
        if key == "lr":
            state["optimizer"]["param_groups"][0]["lr"] = value
        elif value is None:
            del state[key]
        else:
            state[key] = value
    if "baseline" in changes:
        state["settings"]["baseline"] = "mean"  # a run with a baseline, whose state is bad
    folder = tmp_path / "made"
    folder.mkdir()
    checkpoint.save(folder, state)
    return folder


@pytest.mark.parametrize(
    "changes, words",
    [
        ({"step": -50}, "step must be a whole number >= 0, got -50"),
        ({"step": float("nan")}, "step must be a whole number >= 0, got nan"),
        ({"lr": -1e6}, "the optimizer's learning rate must be in (0, 1e+06], got -1000000.0"),
        ({"policy": None}, "missing policy"),
        ({"generator": torch.zeros(3, dtype=torch.uint8)}, "does not fit this run"),
        ({"optimizer": {"state": {}, "param_groups": []}}, "does not fit this run"),
        ({"baseline": {"decay": 2.0, "value": None}}, "does not fit this run"),
        (  # rewinding would truncate a file outside the run folder
            {"events": {"file": "../../x.tfevents", "bytes": 0, "files": []}},
            "events must name the run's event files",
        ),
        ({"events": {"file": "a.tfevents", "bytes": -1, "files": []}}, "events must name"),
    ],
)
def test_a_hand_made_checkpoint_is_checked_field_by_field_before_use(
    tmp_path, monkeypatch, capsys, changes, words
):
    folder = seal(tmp_path, monkeypatch, capsys, **changes)
    flags = ["--resume", str(folder), "--steps", "60"]
    code, out, err = run_main("train_reinforce", *flags, monkeypatch=monkeypatch, capsys=capsys)
    assert code == 2 and out == "" and len(err.splitlines()) == 1, err
    assert words in err, err


def test_a_text_file_given_as_a_checkpoint_is_refused_in_one_line(tmp_path, monkeypatch, capsys):
    (tmp_path / "notes.txt").write_text("hello, this is not a checkpoint\n")
    monkeypatch.chdir(tmp_path)
    code, out, err = run_main(
        "train_reinforce", "--resume", "notes.txt", monkeypatch=monkeypatch, capsys=capsys
    )
    assert code == 2 and len(err.splitlines()) == 1 and "not a readable checkpoint" in err, err


def test_an_env_id_with_a_module_part_is_imported_from_a_checkpoint_only_when_typed(
    tmp_path, monkeypatch, capsys
):
    flags = ["--hidden", "8", "--total-steps", "200"]
    run_dir = program_run(tmp_path, monkeypatch, capsys, "train_episodic", *flags)
    state = checkpoint.load(run_dir).state
    state["settings"]["env_id"] = "this:CartPole-v1"  # importing `this` prints the Zen of Python
    checkpoint.save(run_dir, state)
    code, out, err = run_main(
        "train_episodic",
        "--resume",
        str(run_dir),
        "--total-steps",
        "400",
        monkeypatch=monkeypatch,
        capsys=capsys,
    )
    assert code == 2 and "Beautiful is better" not in out + err, err
    assert "names a module to import" in err and "--env-id this:CartPole-v1 yourself" in err


def test_rewinding_touches_only_the_event_files_the_run_wrote_after_its_checkpoint(tmp_path):
    from pg.run.logger import rewind_events

    def event_file(seconds: int, size: int, name_end: str = "") -> Path:
        path = tmp_path / f"events.out.tfevents.{seconds}.host.7.0{name_end}"
        path.write_bytes(b"x" * size)
        return path

    older = event_file(100, 50)  # the run's first part, not listed (as a forged list would)
    current = event_file(200, 90)  # being written when the checkpoint was saved, at 60 bytes
    died = event_file(300, 40)  # a resume that died before its first checkpoint
    copy = event_file(200, 90, ".bak")  # the user's copy
    folder = tmp_path / "events.out.tfevents.400.host.7.0"
    folder.mkdir()  # a folder with an event file's name
    keep = event_file(500, 10)  # the resumed run's own new file
    position = {"file": current.name, "bytes": 60, "files": []}
    rewind_events(tmp_path, position, keep=keep)
    assert current.stat().st_size == 60 and not died.exists()
    assert older.stat().st_size == 50 and copy.stat().st_size == 90 and folder.is_dir()
    assert keep.exists()
    for forged in ({**position, "bytes": 0}, {**position, "file": "notes.txt"}):
        with pytest.raises(pg.UsageError, match="not one this program writes"):
            rewind_events(tmp_path, forged, keep=keep)
    assert current.stat().st_size == 60  # a forged record cuts nothing


def test_a_resume_from_a_copied_checkpoint_file_is_refused_and_its_folder_left_alone(
    tmp_path, monkeypatch, capsys
):
    first = program_run(tmp_path, monkeypatch, capsys, "train_reinforce", "--steps", "4")
    other = pg.train_reinforce(pg.HungerPolicy(), steps=2, batch_size=8, logdir="logs")
    store = tmp_path / "ckpts"
    store.mkdir()
    shutil.copy(first / checkpoint.FILENAME, store / "A-step4.pt")
    shutil.copy(other.checkpoint, store / "checkpoint.pt")  # another run's, beside it

    def files():
        return sorted((p.name, p.read_bytes()) for p in store.iterdir())

    before = files()
    args = ["--resume", "ckpts/A-step4.pt", "--steps", "8"]
    code, out, err = run_main("train_reinforce", *args, monkeypatch=monkeypatch, capsys=capsys)
    assert (code, out) == (2, "") and "resume from its run folder" in err, err
    assert files() == before


def test_trainers_called_with_the_wrong_kind_of_argument_say_what_they_take(tmp_path):
    done = pg.train_reinforce(pg.HungerPolicy(), steps=2, batch_size=8, logdir=str(tmp_path))
    data = pg.article_data()
    cases = [
        (lambda: pg.train_reinforce(pg.HungerPolicy(), "CartPole-v1"), ValueError, "HungerBandit"),
        (
            lambda: pg.train_reinforce(pg.HungerPolicy(), steps=4, resume=str(done.run_dir)),
            TypeError,
            r"resume must be a checkpoint, pg.run.checkpoint.load\(run_folder\), got str",
        ),
        (lambda: pg.train_reinforce(pg.HungerPolicy(), stop=object()), TypeError, "GracefulStop"),
        (lambda: pg.train_supervised(torch.nn.Linear(1, 1), *data), TypeError, "got Linear"),
        (lambda: pg.train_episodic(torch.nn.Linear(4, 1)), TypeError, "a pg.Policy"),
        (
            lambda: pg.train_supervised(
                pg.HungerPolicy(), *data, steps=4, resume=checkpoint.load(done.run_dir)
            ),
            checkpoint.CheckpointError,
            "a checkpoint of reinforce training, not supervised",
        ),
    ]
    if not torch.cuda.is_available():
        cases.append(
            (lambda: pg.load_policy(done.run_dir, device="cuda"), ValueError, "no CUDA here")
        )
    for call, kind, words in cases:
        with pytest.raises(kind, match=words):
            call()


def resealed(run_dir: Path, edit) -> Checkpoint:
    """The run's checkpoint with `edit(state)` applied and sealed again (a valid checksum), as a
    hand-edited or tampered file would be."""
    state = checkpoint.load(run_dir).state
    edit(state)
    return checkpoint.save(run_dir, state)


def drop_betas(state):
    del state["optimizer"]["param_groups"][0]["betas"]


def negative_momentum(state):
    state["optimizer"]["param_groups"][0]["momentum"] = -0.5


def wrong_shape(state):
    state["optimizer"]["state"][0]["exp_avg"] = torch.zeros(3)


def drop_exp_avg(state):  # Adam's first step for the bias would fail with KeyError: 'exp_avg'
    del state["optimizer"]["state"][0]["exp_avg"]


def negative_second_moment(state):  # its square root would be NaN
    state["optimizer"]["state"][0]["exp_avg_sq"] = torch.tensor(-1.0)


def negative_step_size(state):  # Rprop would step the wrong way until it clamps
    state["optimizer"]["state"][0]["step_size"] = torch.tensor(-0.5)


def whole_number_step(state):  # torch keeps Adam's count a float32 tensor
    state["optimizer"]["state"][0]["step"] = torch.tensor(3)


def state_of_another_parameter(state):
    state["optimizer"]["state"][7] = state["optimizer"]["state"][0]


@pytest.mark.parametrize(
    "optimizer, edit, words",
    [
        ("adam", drop_betas, "the Adam setting betas is missing"),
        ("sgd", negative_momentum, "the SGD setting momentum is -0.5"),
        ("adam", wrong_shape, "the Adam state exp_avg has shape (3,), its parameter ()"),
        ("adam", drop_exp_avg, "holds exp_avg_sq, step, not exp_avg, exp_avg_sq, step"),
        ("adam", negative_second_moment, "the Adam state exp_avg_sq is negative"),
        ("rprop", negative_step_size, "the Rprop state step_size is negative"),
        ("adam", whole_number_step, "the Adam state step is not a torch.float32 tensor"),
        ("adam", state_of_another_parameter, "the Adam state is for parameters this model lacks"),
    ],
)
def test_an_edited_optimiser_state_is_refused_in_one_line_before_training(
    tmp_path, optimizer, edit, words
):
    def train(policy, **settings):  # Rprop is full-batch: the supervised trainer's
        if optimizer == "rprop":
            return pg.train_supervised(policy, *pg.article_data(), **settings)
        return pg.train_reinforce(policy, batch_size=8, **settings)

    settings = {"optimizer": optimizer, "lr": 0.5, "logdir": str(tmp_path)}
    first = train(pg.HungerPolicy(), steps=3, **settings)
    edited = resealed(first.run_dir, edit)
    with pytest.raises(checkpoint.CheckpointError) as caught:
        train(pg.HungerPolicy(), steps=6, resume=edited, **settings)
    assert words in str(caught.value) and "\n" not in str(caught.value)


def test_an_adam_state_put_into_an_sgd_run_is_refused(tmp_path):
    adam = pg.train_reinforce(
        pg.HungerPolicy(), steps=3, optimizer="adam", lr=0.5, batch_size=8, logdir=str(tmp_path)
    )
    sgd = pg.train_reinforce(pg.HungerPolicy(), steps=3, batch_size=8, logdir=str(tmp_path))
    foreign = checkpoint.load(adam.run_dir).state["optimizer"]
    edited = resealed(sgd.run_dir, lambda state: state.__setitem__("optimizer", foreign))
    with pytest.raises(checkpoint.CheckpointError, match="the SGD setting momentum is missing"):
        pg.train_reinforce(pg.HungerPolicy(), steps=6, batch_size=8, resume=edited)


MISSING = object()  # a setting deleted from the checkpoint


@pytest.mark.parametrize(
    "script, kind, field, value, words",
    [
        ("train_reinforce", "reinforce", "stochastic_portions", "no", "not of its type (bool)"),
        ("train_reinforce", "reinforce", "lr", "10", "not of its type (float)"),
        ("train_reinforce", "reinforce", "batch_size", 8.5, "not of its type (int)"),
        ("train_reinforce", "reinforce", "threads", "2", "not of its type (int | None)"),
        ("train_reinforce", "reinforce", "optimizer", "lbfgs", "not one of sgd, adam"),
        ("train_supervised", "supervised", "data", 5, "not of its type (str | None)"),
        # a missing setting would take today's default, which need not be the run's
        ("train_reinforce", "reinforce", "batch_size", MISSING, "settings lack batch_size"),
        ("train_reinforce", "reinforce", "colour", "red", "settings name colour, not settings"),
    ],
)
def test_a_checkpoint_whose_settings_were_edited_is_refused_by_the_program_naming_the_field(
    tmp_path, monkeypatch, capsys, script, kind, field, value, words
):
    monkeypatch.chdir(tmp_path)
    flags = ["--steps", "3", "--run-name", "r", "--quiet", "--no-figure"]
    assert run_main(script, *flags, monkeypatch=monkeypatch, capsys=capsys)[0] == 0
    run_dir = tmp_path / "logs" / kind / "r"
    settings = checkpoint.load(run_dir).state["settings"]
    assert (field in settings) == (field != "colour")  # an edit of a real setting, or an extra

    def edit(state):
        if value is MISSING:
            del state["settings"][field]
        else:
            state["settings"][field] = value

    resealed(run_dir, edit)
    code, out, err = run_main(
        script, "--resume", str(run_dir), "--steps", "6", monkeypatch=monkeypatch, capsys=capsys
    )
    assert (code, out) == (2, "") and len(err.splitlines()) == 1, err
    assert words in err and field in err, err


def test_a_resume_from_python_continues_with_the_runs_own_settings(tmp_path):
    settings = {"lr": 0.5, "batch_size": 8, "optimizer": "adam", "figure": False}
    straight = pg.HungerPolicy()
    pg.train_reinforce(straight, steps=6, **settings)
    first = pg.train_reinforce(pg.HungerPolicy(), steps=3, logdir=str(tmp_path), **settings)
    resumed = pg.HungerPolicy()
    # only the budget given: the run's learning rate, batch size and optimiser, not the defaults
    second = pg.train_reinforce(resumed, steps=6, resume=checkpoint.load(first.run_dir))
    assert resumed.bias.item() == straight.bias.item()
    # no logdir given: the run goes on being recorded in its own folder
    assert second.run_dir == first.run_dir and checkpoint.load(first.run_dir).step == 6
    with pytest.raises(UsageError, match="batch_size is 16 here but 8 in the run being resumed"):
        pg.train_reinforce(
            pg.HungerPolicy(), steps=6, batch_size=16, resume=checkpoint.load(first.run_dir)
        )
    # a setting the checkpoint lacks is not taken from today's defaults
    resume = resealed(first.run_dir, lambda state: state["settings"].pop("batch_size"))
    with pytest.raises(UsageError, match="the run's saved settings lack batch_size"):
        pg.train_reinforce(pg.HungerPolicy(), steps=6, resume=resume)


def nan_weight(state):
    state["policy"]["bias"] = torch.tensor(float("nan"))


def update_past_step(state):
    state["update"] = state["step"] + 1


def no_events(state):
    del state["events"]


@pytest.mark.parametrize(
    "edit, words",
    [
        (nan_weight, "policy.bias holds a NaN or an infinity"),  # `save` never writes one
        (update_past_step, "update 4 does not fit step 3"),
        (no_events, "events must name the run's event files"),  # a resume would not rewind
    ],
)
def test_a_checkpoint_no_run_could_have_written_is_refused_when_loaded(tmp_path, edit, words):
    first = pg.train_reinforce(pg.HungerPolicy(), steps=3, batch_size=8, logdir=str(tmp_path))
    # sealed by hand: `checkpoint.save` itself refuses a NaN
    state = checkpoint.load(first.run_dir).state
    edit(state)
    payload = io.BytesIO()
    torch.save(state, payload)
    sealed = {
        "format": checkpoint.FORMAT,
        "sha256": hashlib.sha256(payload.getvalue()).hexdigest(),
        "payload": torch.frombuffer(bytearray(payload.getvalue()), dtype=torch.uint8),
    }
    torch.save(sealed, first.checkpoint)
    for load in (checkpoint.load, pg.load_policy):
        with pytest.raises(checkpoint.CheckpointError, match=re.escape(words)):
            load(first.run_dir)


def test_weights_of_a_tanh_policy_are_not_loaded_into_the_same_shapes_with_relu(tmp_path):
    settings = {"total_steps": 300, "logdir": str(tmp_path), "baseline": "none"}
    first = pg.train_episodic(pg.MLPPolicy(4, 2, hidden=(8,)), **settings)
    relu = pg.MLPPolicy(4, 2, hidden=(8,), activation="relu")  # the same parameter shapes
    resume = checkpoint.load(first.run_dir)
    with pytest.raises(checkpoint.CheckpointError, match='"activation": "relu"'):
        pg.train_episodic(relu, **{**settings, "total_steps": 600}, resume=resume)
    with pytest.raises(checkpoint.CheckpointError, match="tanh"):
        pg.load_policy(first.run_dir, policy=relu)


def test_an_optimiser_learning_rate_edited_apart_from_the_settings_is_refused(tmp_path):
    settings = {"total_steps": 300, "logdir": str(tmp_path)}
    first = pg.train_episodic(pg.MLPPolicy(4, 2, hidden=(8,)), **settings)

    def value_lr(state):
        state["value_optimizer"]["param_groups"][0]["lr"] = 0.5  # the settings say 3e-3

    resume = resealed(first.run_dir, value_lr)
    with pytest.raises(checkpoint.CheckpointError, match="value optimizer's learning rate is 0.5"):
        pg.train_episodic(pg.MLPPolicy(4, 2, hidden=(8,)), total_steps=600, resume=resume)

    def value_betas(state):
        state["value_optimizer"]["param_groups"][0]["betas"] = "ab"

    resume = resealed(first.run_dir, value_betas)
    with pytest.raises(checkpoint.CheckpointError, match="the Adam setting betas is 'ab'"):
        pg.train_episodic(pg.MLPPolicy(4, 2, hidden=(8,)), total_steps=600, resume=resume)


def nan_return(state):
    state["recent"]["returns"][0] = float("nan")


def fewer_episodes_than_returns(state):
    state["recent"]["episodes"] = len(state["recent"]["returns"]) - 1


def nan_best(state):
    state["recent"]["best"] = float("nan")  # -inf, or the mean of 100 finite returns


def unknown_generator(state):
    state["envs"]["rng"][0]["bit_generator"] = "seed"  # np.random.seed, not a bit generator


def negative_generator_state(state):
    state["envs"]["rng"][0]["state"]["state"] = -1  # numpy raises OverflowError


@pytest.mark.parametrize(
    "edit, words",
    [
        (nan_return, "recent returns are not all finite"),
        (fewer_episodes_than_returns, "its episode count"),
        (nan_best, "its best mean nan"),
        (unknown_generator, "an environment's generator of kind 'seed'"),
        (negative_generator_state, "out of bounds"),
    ],
)
def test_an_episodic_trainers_own_state_edited_is_refused_on_resume(tmp_path, edit, words):
    settings = {"total_steps": 600, "logdir": str(tmp_path), "baseline": "none"}
    first = pg.train_episodic(pg.MLPPolicy(4, 2, hidden=(8,)), **settings)
    assert len(checkpoint.load(first.run_dir).state["recent"]["returns"]) >= 1
    edited = resealed(first.run_dir, edit)
    with pytest.raises(checkpoint.CheckpointError, match=re.escape(words)):
        pg.train_episodic(pg.MLPPolicy(4, 2, hidden=(8,)), total_steps=1200, resume=edited)


def test_a_resume_on_data_edited_since_the_run_is_refused(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "labels.csv").write_text("hunger,p_b\n0.1,0\n0.9,1\n")
    flags = ["--data", "labels.csv", "--run-name", "r", "--quiet", "--no-figure"]
    code, out, err = run_main(
        "train_supervised", *flags, "--steps", "3", monkeypatch=monkeypatch, capsys=capsys
    )
    assert code == 0, err
    (tmp_path / "labels.csv").write_text("hunger,p_b\n0.1,0\n0.9,0\n")  # a label changed
    resume = ["--resume", "logs/supervised/r", "--steps", "6"]
    code, out, err = run_main("train_supervised", *resume, monkeypatch=monkeypatch, capsys=capsys)
    assert (code, out) == (2, "") and "the training data differ" in err, err
    (tmp_path / "labels.csv").write_text("hunger,p_b\n0.1,0\n0.9,1\n")  # as it was: resumes
    code, out, err = run_main("train_supervised", *resume, monkeypatch=monkeypatch, capsys=capsys)
    assert code == 0 and "\nfinal bias" in out, err


@pytest.mark.parametrize(
    "edit",
    [
        {"activation": "swish"},  # not one of ACTIVATIONS
        {"hidden": "64"},  # a string, not widths
        {"colour": "red"},  # not an argument of the class
    ],
)
def test_a_policy_description_edited_in_a_checkpoint_is_refused_by_load_policy(tmp_path, edit):
    result = pg.train_episodic(
        pg.MLPPolicy(4, 2, hidden=(8,)), total_steps=300, logdir=str(tmp_path), baseline="none"
    )
    resealed(result.run_dir, lambda state: state["policy_spec"].update(edit))
    with pytest.raises(checkpoint.CheckpointError, match="does not fit this run"):
        pg.load_policy(result.run_dir)
