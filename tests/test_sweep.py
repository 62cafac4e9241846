"""Sweeps over several workers: every run once, a killed worker's run finished by another."""
import glob
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from experiments.errors import ConfigError
from experiments.engine.sweep import Sweep, from_command_line, parse_shard, shard_of

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_points_shards_and_command_line_grids():
    sweep = Sweep("s", "sec52_bop", {"a": (1, 2), "b": (3, 4, 5)}, seeds=(0, 1), scale="tiny")
    points = sweep.points()
    assert len(points) == 12 and points[0] == {"scale": "tiny", "seed": 0, "a": 1, "b": 3,
                                               "folder": "s"}  # a sweep's points: its folder
    assert [p["seed"] for p in points] == [0] * 6 + [1] * 6  # seed-major
    shards = [shard_of(points, (i, 3)) for i in range(3)]
    assert sorted(map(str, sum(shards, []))) == sorted(map(str, points))  # a partition
    assert parse_shard("2/4") == (2, 4)
    for bad in ("4/4", "-1/2", "1", "a/b"):
        with pytest.raises(ConfigError, match="shard"):
            parse_shard(bad)
    adhoc, rest = from_command_line("sec52_bop", {"grid.optimizer.gamma.value": [1e-4, 1e-3],
                                                  "seeds": [0, 1], "scale": "tiny", "epochs": 2})
    assert adhoc.grid == {"optimizer.gamma.value": [1e-4, 1e-3]} and adhoc.seeds == (0, 1)
    assert rest == {"epochs": 2} and adhoc.scale == "tiny"
    with pytest.raises(ConfigError, match="grid.KEY"):
        from_command_line("sec52_bop", {"epochs": 2})


def _worker(data_dir, root, *extra):
    env = {**os.environ, "TF_USE_LEGACY_KERAS": "1", "PYTHONHASHSEED": "0"}
    cmd = [sys.executable, "-m", "experiments", "sweep", "sec52_bop", "scale=tiny",
           "grid.optimizer.gamma.value=[1e-4,1e-3,1e-2]", "seeds=[0,1]", "poll_s=1",
           "workers=1", "warmup_s=0",
           f"data_dir={data_dir}", f"results_dir={root}", "progress=False", *extra]
    return subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def _folders(root):
    return sorted(glob.glob(os.path.join(root, "sec52_bop", "*")))


def _epochs(folder):
    with open(os.path.join(folder, "metrics.jsonl")) as f:
        return [json.loads(line)["epoch"] for line in f]


@pytest.mark.slow
def test_two_workers_train_every_run_of_a_sweep_exactly_once(fake_cifar10, tmp_path):
    root = str(tmp_path / "runs")
    workers = [_worker(fake_cifar10[0], root), _worker(fake_cifar10[0], root)]
    outputs = [w.communicate(timeout=600)[0] for w in workers]
    assert [w.returncode for w in workers] == [0, 0], outputs
    folders = _folders(root)
    assert len(folders) == 6
    for folder in folders:
        with open(os.path.join(folder, "summary.json")) as f:
            assert json.load(f)["status"] == "completed"
        assert _epochs(folder) == [1]
    # each run was started by exactly one of the two workers
    starts = sum(out.count("[tiny scale] -> ") for out in outputs)
    assert starts == 6, outputs


@pytest.mark.slow
def test_a_killed_workers_run_is_taken_over_and_finished(fake_cifar10, tmp_path):
    root = str(tmp_path / "runs")
    first = _worker(fake_cifar10[0], root, "epochs=3", "shard=0/3")  # points 0 and 3
    deadline = time.time() + 300
    while time.time() < deadline:  # mid-run: one epoch logged, the run not finished
        done = [f for f in _folders(root) if os.path.exists(os.path.join(f, "metrics.jsonl"))
                and _epochs(f)]
        if done:
            break
        time.sleep(0.2)
    else:
        pytest.fail("the first worker never finished an epoch")
    first.send_signal(signal.SIGKILL)
    first.wait()
    victim = done[0]
    summary = os.path.join(victim, "summary.json")
    if os.path.exists(summary):  # the kill may land before the first summary is written
        with open(summary) as f:
            assert json.load(f)["status"] == "running"
    second = _worker(fake_cifar10[0], root, "epochs=3")  # no shard: takes whatever is left
    out = second.communicate(timeout=600)[0]
    assert second.returncode == 0, out
    folders = _folders(root)
    assert len(folders) == 6 and victim in folders
    for folder in folders:
        with open(os.path.join(folder, "summary.json")) as f:
            assert json.load(f)["status"] == "completed", folder
        assert _epochs(folder) == [1, 2, 3], folder  # each epoch logged once
    assert "Resuming from" in out or "taking over" in out


def test_a_two_key_sweep_is_tabled_and_drawn_from_its_own_run_folders(tmp_path, monkeypatch):
    import configs
    from configs import EXPERIMENTS
    from experiments.engine.experiment import build
    from experiments.report import figures
    from experiments.report.tuned import sweep_section
    from tests.test_report import write_run

    sweep = Sweep("toy_map", "sec51_gamma_1e-3_tau_1e-6",
                  {"optimizer.gamma.value": (1e-4, 1e-3), "optimizer.tau.value": (0.0, 1e-6)},
                  seeds=(0, 1), scale="tiny", description="toy map")
    monkeypatch.setitem(configs.SWEEPS, sweep.name, sweep)
    root = str(tmp_path / "runs")
    for point in sweep.points():
        if point["optimizer.gamma.value"] == 1e-3 and point["optimizer.tau.value"] == 0.0:
            continue  # one cell never run
        exp = build(EXPERIMENTS[sweep.experiment], {**point, "results_dir": root})
        acc = 0.3 + 100 * point["optimizer.gamma.value"] + 0.01 * point["seed"]
        write_run(root, sweep.experiment, exp.run_name(), val=[acc - 0.1, acc], seed=point["seed"],
                  folder=point["folder"])
    lines = sweep_section(sweep, root)
    text = "\n".join(lines)
    assert "6 of 8 runs done" in text and "not run" in text
    row = [line for line in lines if line.startswith("| 0.0001 |")][0]
    assert "31.50 ± 0.71 (n = 2)" in row
    paths = figures.sweep_map(sweep, root, str(tmp_path / "figures"))
    assert any(p.endswith("figure1-map-tiny.png") for p in paths)
    # the sweep's folders are its own, not extra rows of the §5.1 table - except the
    # experiment's own point (gamma 1e-3, tau 1e-6), which is that row
    from experiments.report import tables as report

    out = tmp_path / "REPORT.md"
    report.main(["--runs", root, "--out", str(out), "--figures", str(tmp_path / "figures")])
    text = out.read_text()
    assert "### toy map (`toy_map`, tiny scale)" in text
    rows = [line for line in text.splitlines()
            if line.startswith("| `sec51_gamma_1e-3_tau_1e-6`") and "tiny" in line]
    assert len(rows) == 1 and "| 2 |" in rows[0] and "config:" not in rows[0]


@pytest.mark.slow
def test_run_group_takes_its_shard(fake_cifar10, tmp_path, capsys):
    from configs import GROUPS
    from experiments.cli import main

    root = str(tmp_path / "runs")
    base = ["run-group", "sec51", "scale=tiny", "workers=1", "warmup_s=0",
            f"data_dir={fake_cifar10[0]}",
            f"results_dir={root}", "progress=False"]
    assert main(base + ["shard=1/2"]) == 0
    assert sorted(os.listdir(root)) == sorted(GROUPS["sec51"][1::2])
    assert main(base + ["shard=2/2"]) == 2
    assert "need 0 <= i < n" in capsys.readouterr().err


def test_declared_sweep_points_live_under_their_sweep_and_old_paths_are_followed():
    """A declared sweep's points are in its own folder; the 8 seeds that
    remake_reference and precision_bop share are under remake_reference, the first
    declared; every folder that moved there is in results/moved.json, and an old path
    still loads the run from where it is now."""
    from configs import EXPERIMENTS, SWEEPS
    from experiments.analysis import collect
    from experiments.engine.experiment import build
    from experiments.engine.sweep import placement

    where = placement(SWEEPS.values(), lambda name, o: build(EXPERIMENTS[name], o))
    assert set(where["sec51_map"]) == {"sec51_map"}
    assert set(where["remake_reference"]) == {"remake_reference"}
    precision = SWEEPS["precision_bop"].points()
    shared = [f for p, f in zip(precision, where["precision_bop"])
              if p["precision"] == "float32" and p["seed"] < 8]
    assert shared == ["remake_reference"] * 8
    assert set(where["precision_bop"]) == {"remake_reference", "precision_bop"}
    with open(os.path.join(REPO, "results", "moved.json")) as f:
        moved = json.load(f)["moved"]
    for old, new in moved.items():
        assert not os.path.exists(os.path.join(REPO, "results", old)), old
        assert os.path.isfile(os.path.join(REPO, "results", new, "summary.json")), new
    old = "runs/sec51_gamma_1e-3_tau_1e-6/quick-seed0-f84efe4c"
    run = collect.load_run(os.path.join(REPO, "results", *old.split("/")))
    assert run.path.endswith(os.path.join("remake_reference", "quick-seed0-f84efe4c"))
