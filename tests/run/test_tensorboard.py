"""Viewing the curves: the real `tensorboard` server serves what a short run logged."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

import pg

from conftest import read_scalars


def start_tensorboard(logdir: Path) -> tuple[subprocess.Popen, str]:
    """Start `tensorboard --logdir` on 127.0.0.1 and a free port; return it and its base URL."""
    exe = shutil.which("tensorboard") or str(Path(sys.executable).parent / "tensorboard")
    server = subprocess.Popen(
        [
            exe,
            "--logdir",
            str(logdir),
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--load_fast",
            "false",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 60
    seen = []
    while time.monotonic() < deadline:
        line = server.stdout.readline()
        if not line and server.poll() is not None:
            break
        seen.append(line)
        match = re.search(r"(http://127\.0\.0\.1:\d+)/", line)
        if match:
            return server, match.group(1)
    server.kill()
    pytest.fail("tensorboard did not start:\n" + "".join(seen))


def get_json(url: str, body: dict | None = None, timeout: float = 30.0):
    """A JSON document, retrying while the server is still loading the runs: GET, or with `body`
    a JSON POST as TensorBoard's own front end sends it."""
    request = urllib.request.Request(url)
    if body is not None:
        request = urllib.request.Request(
            url,
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json", "X-XSRF-Protected": "1"},
        )
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return json.load(response)
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.25)


@pytest.mark.slow  # a TensorBoard server process
def test_a_short_run_s_bias_curve_is_served_by_a_real_tensorboard(tmp_path):
    logdir = tmp_path / "logs"
    policy = pg.HungerPolicy()
    result = pg.train_supervised(
        policy, *pg.article_data(), steps=30, log_every=5, logdir=str(logdir)
    )
    server, base = start_tensorboard(logdir)
    try:
        run = result.run_dir.relative_to(logdir).as_posix()
        query = urllib.parse.urlencode({"run": run, "tag": "policy/bias"})
        points = get_json(f"{base}/data/plugin/scalars/scalars?{query}")
    finally:
        server.terminate()
        server.wait(timeout=10)
    # where it started, then after the first update, every 5th and the last: the step count
    # the console shows, and the last point is the trained bias it prints
    assert [step for _, step, _ in points] == [0, 1, 5, 10, 15, 20, 25, 30]
    assert [value for _, _, value in points] == pytest.approx([0.0, *result.history["policy/bias"]])
    assert points[-1][2] == pytest.approx(policy.bias.item()) and abs(points[-1][2] + 10) < 0.1


@pytest.mark.slow  # a TensorBoard server process
def test_the_hparams_and_custom_scalars_tabs_show_both_trainers_runs_alike(tmp_path):
    logdir = tmp_path / "logs"
    pg.train_supervised(
        pg.HungerPolicy(),
        *pg.article_data(),
        steps=3,
        lr=0.2,
        run_name="s",
        logdir=str(logdir),
        figure=False,
    )
    pg.train_reinforce(
        pg.HungerPolicy(),
        steps=3,
        batch_size=64,
        lr=7.0,
        run_name="r",
        logdir=str(logdir),
        figure=False,
    )
    pg.train_episodic(
        pg.MLPPolicy(4, 2, (8,)), total_steps=300, run_name="e", logdir=str(logdir)
    )  # CartPole-v1: its reward threshold, 475, is the target
    server, base = start_tensorboard(logdir)
    try:
        experiment = get_json(f"{base}/data/plugin/hparams/experiment", {"experimentName": ""})
        statuses = ["STATUS_UNKNOWN", "STATUS_SUCCESS", "STATUS_FAILURE", "STATUS_RUNNING"]
        groups = get_json(
            f"{base}/data/plugin/hparams/session_groups",
            {
                "experimentName": "",
                "allowedStatuses": statuses,
                "colParams": [],
                "startIndex": 0,
                "sliceSize": 100,
            },
        )
        layout = get_json(f"{base}/data/plugin/custom_scalars/layout")
        tags = get_json(f"{base}/data/plugin/scalars/tags")
    finally:
        server.terminate()
        server.wait(timeout=10)
    # one view for both: every run's hyperparameters as columns, and nothing that is not one
    columns = {h["name"] for h in experiment["hparamInfos"]}
    assert {"lr", "optimizer", "steps", "seed", "batch_size", "baseline"} <= columns
    assert not columns & {"logdir", "run_name", "log_every", "save_every", "threads", "figure"}
    metrics = {m["name"]["tag"] for m in experiment["metricInfos"]}
    assert {"loss/mse", "loss/reinforce", "reward/expected", "policy/bias"} <= metrics
    rows = {g["name"]: g["hparams"] for g in groups["sessionGroups"]}
    assert rows["supervised/s"]["lr"] == 0.2 and rows["supervised/s"]["optimizer"] == "rprop"
    assert rows["reinforce/r"]["lr"] == 7.0 and rows["reinforce/r"]["batch_size"] == 64
    # J drawn with the best it can reach, in one chart
    charts = {c["title"]: c["chart"] for c in layout["category"]}
    (hunger,) = charts["REINFORCE"]
    assert {"reward/expected", "reward/optimal"} <= set(hunger["multiline"]["tag"])
    # an episodic run's target is a setting, not a card of its own that would sit empty
    assert "charts/mean_return_100" in tags["episodic/e"]
    assert "charts/target_return" not in tags["episodic/e"] and "episodic" not in charts


def test_a_point_reaches_the_event_file_within_seconds_though_few_are_pending(tmp_path):
    """A live TensorBoard reads the file while training runs. One point is far fewer events
    than the writer's queue holds before it must write, so only its periodic flush (every
    FLUSH_SECONDS) brings the point to disk before the run ends."""
    from pg.run.logger import FLUSH_SECONDS, RunLogger

    log = RunLogger(tmp_path)
    try:
        log.scalars(7, {"reward/average": 0.5})
        deadline, seen = time.monotonic() + FLUSH_SECONDS + 8, []
        while time.monotonic() < deadline and not seen:
            time.sleep(0.5)
            seen = read_scalars(tmp_path).get("reward/average", [])
        assert seen == [(7, 0.5)]  # on disk while the writer is still open
    finally:
        log.close()
