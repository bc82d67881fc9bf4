"""The programs however they are started: a checkout's `scripts/*.py` (from any folder), the
installed `pg-*` commands, and `python -m pg COMMAND`; and `import pg` staying light."""

from __future__ import annotations

import importlib.metadata
import runpy
import subprocess
import sys
from pathlib import Path

import pytest

import pg.__main__
from pg.commands import COMMANDS, checkout_logdir
from pg.run import cli

from conftest import only_run_dir, run_main, script_copy


def test_import_pg_loads_no_torch_yet_every_name_it_offers_loads_on_use():
    done = subprocess.run(  # a fresh interpreter: this one has loaded torch long ago
        [sys.executable, "-c", "import sys, pg; print('torch' in sys.modules, len(pg.__all__)); "
         "print(pg.exact.__name__, pg.run.Run.__name__)"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", str(len(pg.__all__)), "pg.exact", "Run"]
    missing = [name for name in pg.__all__ if getattr(pg, name, None) is None]
    assert not missing and len(pg.__all__) >= 30
    assert (pg.HungerPolicy.__module__, pg.train_episodic.__module__) == (
        "pg.policy",
        "pg.episodic",
    )


def test_python_dash_m_pg_lists_its_commands_and_refuses_an_unknown_one_in_one_line():
    listing = subprocess.run(
        [sys.executable, "-m", "pg"], capture_output=True, text=True, timeout=60
    )
    assert listing.returncode == 0 and listing.stderr == ""
    assert all(command in listing.stdout for command in COMMANDS)
    unknown = subprocess.run(
        [sys.executable, "-m", "pg", "train-ppo"], capture_output=True, text=True, timeout=60
    )
    assert unknown.returncode == 2 and unknown.stdout == ""
    assert unknown.stderr.startswith("python -m pg: error: unknown command 'train-ppo'")
    assert "Traceback" not in unknown.stderr


def test_every_installed_command_runs_the_program_of_its_name(monkeypatch):
    scripts = {
        entry.name: entry
        for entry in importlib.metadata.distribution("pg").entry_points
        if entry.group == "console_scripts"
    }
    assert sorted(scripts) == sorted(f"pg-{command}" for command in COMMANDS)
    launched = []
    monkeypatch.setattr(pg.__main__, "launch", launched.append)
    for name, entry in scripts.items():
        entry.load()()
        assert launched.pop() == name.removeprefix("pg-")


def test_python_dash_m_pg_names_the_program_in_its_errors(monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["/x/pg/__main__.py", "train-supervised", "--lr", "-1"])
    with pytest.raises(SystemExit) as stopped:
        pg.__main__.main()
    out, err = capsys.readouterr()
    assert stopped.value.code == 2 and out == ""
    assert err.startswith("python -m pg train-supervised: error: --lr must be")


@pytest.mark.parametrize(
    "argv0, expected",
    [
        ("scripts/train_reinforce.py", "python scripts/train_reinforce.py"),
        ("my scripts/train_reinforce.py", "python 'my scripts/train_reinforce.py'"),
        ("/venv/bin/pg-train-reinforce", "pg-train-reinforce"),
        ("python -m pg train-reinforce", "python -m pg train-reinforce"),
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
    assert checkout_logdir(str(script)) == expected.format(root=tmp_path)


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
    assert cli.run(lambda: module.main(logdir="../elsewhere/logs")) == 0
    out, err = capsys.readouterr()
    assert "run folder: logs/reinforce/r" in out, err


@pytest.mark.slow  # a real installed command: an interpreter and torch's import
def test_the_installed_command_trains_into_logs_in_the_current_folder(tmp_path):
    command = Path(sys.executable).parent / "pg-train-reinforce"
    done = subprocess.run(
        [str(command), "--steps", "20", "--no-figure", "--run-name", "r"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "run folder: logs/reinforce/r" in done.stdout
    assert (tmp_path / "logs" / "reinforce" / "r" / "checkpoint.pt").is_file()


def test_an_installed_command_names_itself_in_its_errors(monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["/venv/bin/pg-train-reinforce", "--lr", "-1"])
    with pytest.raises(SystemExit) as stopped:
        pg.__main__.train_reinforce()
    out, err = capsys.readouterr()
    assert stopped.value.code == 2 and out == ""
    assert err.startswith("pg-train-reinforce: error: --lr must be")
