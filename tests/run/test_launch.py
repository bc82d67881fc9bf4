"""The programs however they are started: a checkout's `scripts/*.py` (from any folder) and the
installed `pg-*` commands, both through `pg_launch`; and `import pg`, which is plain imports."""

from __future__ import annotations

import importlib.metadata
import runpy
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import pg
import pg_launch
from pg.run import cli

from conftest import ROOT, only_run_dir, run_main, script_copy

PROGRAMS = ["train_reinforce", "train_supervised", "train_episodic", "evaluate"]


@pytest.fixture(autouse=True)
def ctrl_c_as_it_was():
    """A program started here, in the test's process, leaves Ctrl-C to end the process at once
    as it returns (`pg_launch.launch`): put this process's handler back."""
    handler = signal.getsignal(signal.SIGINT)
    yield
    signal.signal(signal.SIGINT, handler)


def test_import_pg_offers_every_name_it_lists_from_the_module_that_defines_it():
    missing = [name for name in pg.__all__ if getattr(pg, name, None) is None]
    assert not missing and len(pg.__all__) >= 30
    assert (pg.HungerPolicy.__module__, pg.train_episodic.__module__) == (
        "pg.policy",
        "pg.episodic",
    )


def test_the_launcher_imports_nothing_from_pg_before_ctrl_c_is_held_back():
    done = subprocess.run(  # a fresh interpreter: this one has loaded torch long ago
        [sys.executable, "-c", "import sys, pg_launch; print(sorted(sys.modules).count('pg'))"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0 and done.stdout.split() == ["0"], done.stderr


def test_every_installed_command_and_script_runs_the_program_of_its_name(monkeypatch):
    entries = {
        entry.name: entry
        for entry in importlib.metadata.distribution("pg").entry_points
        if entry.group == "console_scripts"
    }
    assert sorted(entries) == sorted("pg-" + name.replace("_", "-") for name in PROGRAMS)
    launched = []
    monkeypatch.setattr(pg_launch, "launch", lambda program, script=None: launched.append(program))
    for name, entry in entries.items():
        entry.load()()
        assert launched.pop() == name.removeprefix("pg-").replace("-", "_")
    for name in PROGRAMS:  # the checkout's scripts name their program the same way
        assert f'launch("{name}"' in (ROOT / "scripts" / f"{name}.py").read_text()


@pytest.mark.parametrize(
    "argv0, expected",
    [
        ("scripts/train_reinforce.py", "python scripts/train_reinforce.py"),
        ("my scripts/train_reinforce.py", "python 'my scripts/train_reinforce.py'"),
        ("/venv/bin/pg-train-reinforce", "pg-train-reinforce"),
    ],
)
def test_the_resume_hint_starts_the_program_the_way_the_user_did(monkeypatch, argv0, expected):
    monkeypatch.setattr(sys, "argv", [argv0])
    assert cli.invocation() == expected


@pytest.mark.parametrize(
    "cwd, expected", [("", "logs"), ("scripts", "../logs"), ("scripts/a", "{root}/logs")]
)
def test_a_checkout_s_scripts_write_to_the_logs_folder_beside_them(
    tmp_path, monkeypatch, cwd, expected
):
    script = tmp_path / "scripts" / "train_reinforce.py"
    (tmp_path / cwd).mkdir(parents=True, exist_ok=True)
    monkeypatch.chdir(tmp_path / cwd)
    assert pg_launch.checkout_logdir(str(script)) == expected.format(root=tmp_path)


def test_started_from_inside_scripts_a_run_lands_in_the_checkout_s_logs(
    tmp_path, monkeypatch, capsys
):
    script_copy("train_reinforce", tmp_path)
    monkeypatch.chdir(tmp_path / "scripts")
    monkeypatch.setattr(sys, "argv", ["train_reinforce.py", "--steps", "5", "--no-figure"])
    with pytest.raises(SystemExit) as finished:
        runpy.run_path("train_reinforce.py", run_name="__main__")
    out, err = capsys.readouterr()
    assert finished.value.code == 0, err
    run_dir = only_run_dir(tmp_path / "logs", "reinforce")
    assert not (tmp_path / "scripts" / "logs").exists()
    assert f"run folder: ../logs/reinforce/{run_dir.name}" in out
    assert "(view: tensorboard --logdir ../logs)" in out


def test_the_walkthrough_runs_from_any_folder(tmp_path, monkeypatch, capsys):
    """A script's own logs folder is where runs go, not a flag the user typed: the walkthrough,
    which takes no flags, still runs when the checkout's logs/ is not ./logs."""
    script_copy("train_reinforce", tmp_path)
    monkeypatch.chdir(tmp_path / "scripts")
    monkeypatch.setattr(sys, "argv", ["train_reinforce.py", "--walkthrough"])
    with pytest.raises(SystemExit) as finished:
        runpy.run_path("train_reinforce.py", run_name="__main__")
    out, err = capsys.readouterr()
    assert finished.value.code == 0, err
    assert out.splitlines()[2].split()[-1] == "-1.122459"


def test_a_run_resumes_whichever_way_it_was_started(tmp_path, monkeypatch, capsys):
    """A run made by an installed command (logdir `logs`) resumes through a checkout's script,
    whose default logdir differs: an untyped flag's default is not a change to the run."""
    monkeypatch.chdir(tmp_path)
    made = ["--steps", "5", "--no-figure", "--run-name", "r", "--quiet"]
    code, _, err = run_main("train_reinforce", *made, monkeypatch=monkeypatch, capsys=capsys)
    assert code == 0, err
    module = sys.modules["pg.commands.train_reinforce"]
    monkeypatch.setattr(
        sys, "argv", ["scripts/train_reinforce.py", "--resume", "logs/reinforce/r", "--steps", "9"]
    )
    assert cli.run(module.main, logdir="../elsewhere/logs") == 0
    out, err = capsys.readouterr()
    assert "run folder: logs/reinforce/r" in out, err


@pytest.mark.slow  # a real installed command: an interpreter and torch's import
def test_the_installed_command_trains_into_logs_in_the_current_folder(tmp_path):
    command = Path(sys.executable).parent / "pg-train-reinforce"
    done = subprocess.run(
        [str(command), "--steps", "20", "--no-figure", "--run-name", "r"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "run folder: logs/reinforce/r" in done.stdout
    assert (tmp_path / "logs" / "reinforce" / "r" / "checkpoint.pt").is_file()


def test_an_installed_command_names_itself_in_its_errors(monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["/venv/bin/pg-train-reinforce", "--lr", "-1"])
    assert pg_launch.train_reinforce() == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("pg-train-reinforce: error: --lr must be")


@pytest.mark.parametrize(
    "argv0, examples",
    [
        (
            "/venv/bin/pg-train-episodic",
            [
                "pg-train-episodic --env-id Acrobot-v1",
                "pg-evaluate logs/episodic/RUN",
                "torchrun --standalone --nproc_per_node=2 --no-python pg-train-episodic",
            ],
        ),
        (
            "scripts/train_episodic.py",
            [
                "python scripts/train_episodic.py --env-id Acrobot-v1",
                "python scripts/evaluate.py logs/episodic/RUN",
                "torchrun --standalone --nproc_per_node=2 scripts/train_episodic.py",
            ],
        ),
    ],
)
def test_help_shows_examples_the_way_the_program_was_started(monkeypatch, capsys, argv0, examples):
    monkeypatch.setattr(sys, "argv", [argv0, "--help"])
    assert pg_launch.train_episodic() == 0
    out = capsys.readouterr().out
    for example in examples:
        assert example in out
    if argv0.startswith("/venv"):
        assert "scripts/" not in out  # nothing a pip user without the checkout cannot run


@pytest.mark.parametrize("fails", [True, False])
def test_warnings_wait_for_the_end_shown_after_success_and_dropped_before_an_error(
    monkeypatch, capsys, fails
):
    import warnings

    from pg.run import cli
    from pg.run.settings import UsageError

    def main():
        warnings.warn("overflow encountered in exp", RuntimeWarning, stacklevel=1)
        if fails:
            raise UsageError("the weights are not finite")
        print("done")

    monkeypatch.setattr(sys, "argv", ["train_reinforce.py"])
    with warnings.catch_warnings(record=True) as shown:  # what reaches the user
        warnings.simplefilter("always")
        code = cli.run(main)
    out, err = capsys.readouterr()
    if fails:
        assert code == 2 and err == "train_reinforce.py: error: the weights are not finite\n"
        assert shown == []
    else:
        assert code == 0 and out == "done\n"
        assert [str(w.message) for w in shown] == ["overflow encountered in exp"]
