"""Failure modes a user on a shared cluster meets: kills at chosen points, a full disk,
the same job started twice, bad values, damaged files. Each test asserts that nothing
already recorded is lost or duplicated, and that the message names the problem and fix.
"""
import errno
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from configs import EXPERIMENTS
from experiments.datasets import cifar10 as data
from experiments import locks
from experiments.engine import runs
from experiments.analysis.collect import load_runs
from experiments.errors import (ConfigError, DatasetError, DivergenceError, RunFolderError,
                                RunLockedError)
from experiments.engine.experiment import build
from experiments.engine.records import Progress
from experiments.engine.step import check_losses

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _rows(run_dir, name="metrics.jsonl"):
    return runs.read_jsonl(os.path.join(run_dir, name))


def _assert_each_once(run_dir, epochs):
    """metrics: epochs 1..n exactly once; flips: every step at most once, all epochs."""
    assert [r["epoch"] for r in _rows(run_dir)] == list(range(1, epochs + 1))
    steps = [r["step"] for r in _rows(run_dir, "flips.jsonl")]
    assert steps == sorted(set(steps)) and steps, steps
    assert {r["epoch"] for r in _rows(run_dir, "flips.jsonl")} == set(range(1, epochs + 1))


# -- the process: run the CLI, optionally killed at a chosen point ---------------------
KILLER = textwrap.dedent("""
    import os, signal, sys
    import experiments
    from experiments.engine import runs
    from experiments.engine import train
    point, sig = sys.argv[1], getattr(signal, sys.argv[2])
    real_append, real_summary = runs.append_jsonl, runs.write_json
    sent = []

    def kill():
        if not sent:  # once: the handler's own summary write must not re-trigger it
            sent.append(1)
            os.kill(os.getpid(), sig)

    def append(path, rows):
        rows = list(rows)
        if point == "mid_metrics_line" and path.endswith("metrics.jsonl") and rows[0]["epoch"] == 2:
            text = runs.json.dumps(rows[0])
            with open(path, "a") as f:  # half a line reaches the disk, then the kill
                f.write(text[: len(text) // 2])
            kill()
        real_append(path, rows)
        if point == "before_first_checkpoint" and path.endswith("metrics.jsonl"):
            kill()

    def write_json(path, obj):
        real_summary(path, obj)
        if point == "after_epoch_1" and path.endswith("summary.json") and obj.get("epochs_done") == 1:
            kill()

    runs.append_jsonl, runs.write_json = append, write_json
    from experiments.cli import main
    sys.exit(main(sys.argv[3:]))
""")


def _cli(args, *, tmp_path, point="none", sig="SIGKILL", wait=True, timeout=300):
    script = tmp_path / "killer.py"
    script.write_text(KILLER)
    cmd = [sys.executable, str(script), point, sig, *args]
    env = {**os.environ, "PYTHONPATH": REPO}
    if not wait:
        return subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
    return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=timeout)


def _args(overrides, name="sec52_bop", **extra):
    merged = {**overrides, **extra}
    return ["run", name] + [f"{k}={v}" for k, v in merged.items()]


@pytest.fixture
def cli_overrides(fake_cifar10, tmp_path):
    data_dir, _, _ = fake_cifar10
    return {"scale": "tiny", "data_dir": data_dir, "results_dir": str(tmp_path / "runs"),
            "progress": False, "deterministic": True}


def _run_dir(overrides, name="sec52_bop", **extra):
    return build(EXPERIMENTS[name], {**overrides, **extra}).run_dir()


@pytest.mark.slow
@pytest.mark.parametrize("point,sig", [("before_first_checkpoint", "SIGKILL"),
                                       ("mid_metrics_line", "SIGKILL"),
                                       ("after_epoch_1", "SIGTERM")])
def test_killed_run_resumes_without_lost_or_duplicated_rows(point, sig, cli_overrides,
                                                             tmp_path):
    args = _args(cli_overrides, epochs=3)
    killed = _cli(args, tmp_path=tmp_path, point=point, sig=sig)
    run_dir = _run_dir(cli_overrides, epochs=3)
    summary = runs.read_json(os.path.join(run_dir, "summary.json")) if os.path.exists(
        os.path.join(run_dir, "summary.json")) else {}
    if sig == "SIGTERM":  # handled like Ctrl-C: recorded, resumable, exit code 130
        assert killed.returncode == 130, killed.stderr[-2000:]
        assert summary["status"] == "interrupted" and summary["epochs_done"] == 1
        assert "Re-run the same command to resume" in killed.stderr
    else:
        assert killed.returncode == -signal.SIGKILL
        (run,) = load_runs(cli_overrides["results_dir"])[0] or [None]
        if run is not None:  # status `running`, but no process holds the folder
            assert run.status == "stale"

    resumed = _cli(args, tmp_path=tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    if point == "mid_metrics_line":
        assert "is cut short" in resumed.stderr and "metrics.jsonl" in resumed.stderr
    summary = runs.read_json(os.path.join(run_dir, "summary.json"))
    assert (summary["status"], summary["epochs_done"], summary["epochs_planned"]) == (
        "completed", 3, 3)
    _assert_each_once(run_dir, 3)
    if point == "after_epoch_1":  # and the same numbers as a run never interrupted
        straight = {**cli_overrides, "results_dir": str(tmp_path / "straight")}
        assert _cli(_args(straight, epochs=3), tmp_path=tmp_path).returncode == 0
        assert ([r["val_accuracy"] for r in _rows(_run_dir(straight, epochs=3))]
                == [r["val_accuracy"] for r in _rows(run_dir)])


@pytest.mark.slow
def test_the_same_run_started_twice_is_trained_once(cli_overrides, tmp_path):
    args = _args(cli_overrides, epochs=2)
    procs = [_cli(args, tmp_path=tmp_path, wait=False) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    codes = sorted(p.returncode for p in procs)
    assert codes in ([0, 0], [0, 2]), (codes, [o[1][-1500:] for o in outs])
    run_dir = _run_dir(cli_overrides, epochs=2)
    if codes == [0, 2]:  # the second found the first training: refused, naming it
        (loser_err,) = [o[1] for p, o in zip(procs, outs) if p.returncode == 2]
        assert "is in use by pid" in loser_err and socket.gethostname() in loser_err
    # (both 0: the second started after the first finished and skipped it as completed)
    assert runs.read_json(os.path.join(run_dir, "summary.json"))["epochs_done"] == 2
    _assert_each_once(run_dir, 2)


HOLDER = textwrap.dedent("""
    import sys, time
    from experiments import locks
    claim = locks.run_claim(sys.argv[1]).acquire()
    print("held", flush=True)
    time.sleep(120)
""")


@pytest.mark.slow
def test_a_held_folder_is_refused_and_a_dead_holders_claim_taken_over(cli_overrides, tmp_path,
                                                                      capsys):
    run_dir = _run_dir(cli_overrides)
    os.makedirs(run_dir)
    script = tmp_path / "holder.py"
    script.write_text(HOLDER)
    holder = subprocess.Popen([sys.executable, str(script), run_dir], cwd=REPO, text=True,
                              env={**os.environ, "PYTHONPATH": REPO}, stdout=subprocess.PIPE)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(RunLockedError, match=f"pid {holder.pid} on host"):
            build(EXPERIMENTS["sec52_bop"], cli_overrides).run()
        assert locks.is_held(os.path.join(run_dir, locks.LOCK_NAME))
    finally:
        holder.kill()
        holder.wait()
    capsys.readouterr()
    summary = build(EXPERIMENTS["sec52_bop"], cli_overrides).run()  # the kernel freed it
    assert summary["status"] == "completed"
    assert f"taking over from pid {holder.pid} on host" in capsys.readouterr().out
    assert not locks.is_held(os.path.join(run_dir, locks.LOCK_NAME))


def test_claims_fall_back_to_a_lease_where_the_file_system_has_no_locks(tmp_path, monkeypatch):
    def no_locks(fd, op):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(locks.fcntl, "flock", no_locks)
    path = str(tmp_path / ".lock")
    first = locks.Claim(path, what="folder x", stale_after_s=0.5, heartbeat_s=0.1).acquire()
    with first:  # re-entrant within the process
        pass
    assert os.path.exists(path + ".lease") and locks.is_held(path)
    monkeypatch.setattr(locks, "_HELD", {})  # as seen from another process
    with pytest.raises(RunLockedError, match=f"pid {os.getpid()}"):
        locks.Claim(path, what="folder x", stale_after_s=0.5).acquire()
    first._stop.set()  # the holder dies: its heartbeat stops
    time.sleep(0.8)
    second = locks.Claim(path, what="folder x", stale_after_s=0.5, heartbeat_s=0.1).acquire()
    assert second.took_over["pid"] == os.getpid()
    second.release()
    assert not os.path.exists(path + ".lease")


# -- a full disk -----------------------------------------------------------------------
def _fill(directory):
    """Fill a file system to the last byte."""
    fd = os.open(os.path.join(directory, "filler"), os.O_WRONLY | os.O_CREAT)
    for chunk in (1 << 16, 1 << 10, 1):
        try:
            while True:
                os.write(fd, b"\0" * chunk)
        except OSError:
            pass
    os.close(fd)


@pytest.fixture
def small_disk(tmp_path):
    mount = tmp_path / "disk"
    mount.mkdir()
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mount)],
                            capture_output=True)
    if result.returncode != 0:
        pytest.skip("cannot mount a tmpfs here; the monkeypatched variant covers this")
    yield str(mount)
    subprocess.run(["umount", "-l", str(mount)])


@pytest.mark.slow
def test_a_full_disk_loses_nothing_already_recorded(small_disk, tiny_overrides, monkeypatch):
    from experiments.engine import records

    overrides = {**tiny_overrides, "results_dir": os.path.join(small_disk, "runs"),
                 "epochs": 3, "tensorboard": False}
    real = records.write_summary

    def fill_after_epoch_1(exp, run_dir, status, *args, **kwargs):
        result = real(exp, run_dir, status, *args, **kwargs)
        if status == "running" and result["epochs_done"] == 1:
            _fill(small_disk)
        return result

    monkeypatch.setattr(records, "write_summary", fill_after_epoch_1)
    with pytest.raises(Exception):
        build(EXPERIMENTS["sec52_bop"], overrides).run()
    monkeypatch.setattr(records, "write_summary", real)
    run_dir = build(EXPERIMENTS["sec52_bop"], overrides).run_dir()
    # epoch 1 intact and nothing half-written; epoch 2's small lines may still fit in a
    # page the file already had (its checkpoint did not): the next start cuts them back
    assert [r["epoch"] for r in _rows(run_dir)] in ([1], [1, 2])
    assert not [f for f in os.listdir(run_dir) if f.endswith(".tmp")]
    (run,), _ = load_runs(overrides["results_dir"])
    assert run.status in ("stale", "failed")  # never a `running` no process holds
    os.remove(os.path.join(small_disk, "filler"))
    summary = build(EXPERIMENTS["sec52_bop"], overrides).run()
    assert (summary["status"], summary["epochs_done"]) == ("completed", 3)
    _assert_each_once(run_dir, 3)


def test_a_failed_write_leaves_whole_lines(tmp_path, monkeypatch):
    path = str(tmp_path / "metrics.jsonl")
    runs.append_jsonl(path, [{"epoch": 1}])
    real_write = os.write

    def half_then_full(fd, data):
        real_write(fd, bytes(data)[: len(data) // 2])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(runs.os, "write", half_then_full)
    with pytest.raises(OSError):
        runs.append_jsonl(path, [{"epoch": 2, "x": "y" * 100}])
    monkeypatch.setattr(runs.os, "write", real_write)
    assert open(path).read() == '{"epoch": 1}\n'
    with pytest.raises(ValueError):  # non-finite numbers are not JSON: refused, not written
        runs.append_jsonl(path, [{"epoch": 2, "loss": float("inf")}])
    assert runs.read_jsonl(path) == [{"epoch": 1}]


def test_an_uncaught_error_marks_the_run_failed(tiny_overrides, monkeypatch, capsys):
    from experiments.engine import train as train_module

    def broken(*args, **kwargs):
        raise RuntimeError("out of memory (simulated)")

    monkeypatch.setattr(train_module, "_train_epoch", broken)
    exp = build(EXPERIMENTS["sec51_tau_0"], tiny_overrides)
    with pytest.raises(RuntimeError):
        exp.run()
    summary = runs.read_json(os.path.join(exp.run_dir(), "summary.json"))
    assert summary["status"] == "failed" and "out of memory" in summary["error"]
    err = capsys.readouterr().err
    assert "marked `failed`" in err and "no checkpoint" in err and "re-run the same command" in err


# -- divergence --------------------------------------------------------------------------
def test_divergence_bound_on_hand_made_losses():
    check_losses([2.3, 2.2, 40.0], 1, reference=2.3, factor=1e4, epoch=0, name="x")
    with pytest.raises(DivergenceError, match="step 3") as e:
        check_losses([2.3, 2.2, 5e29], 1, reference=2.3, factor=1e4, epoch=0, name="x",
                     kept=Progress(10).kept)
    assert "exceeded 10000 x the first step's loss 2.3: 5e+29" in str(e.value)
    assert "no checkpoint" in str(e.value)
    with pytest.raises(DivergenceError, match="became inf at epoch 3, step 11"):
        check_losses([1.0, float("inf")], 10, reference=2.3, factor=0, epoch=2, name="x")
    check_losses([1e30], 1, reference=2.3, factor=0, epoch=0, name="x")  # 0: bound off


@pytest.mark.slow
def test_an_exploding_loss_fails_the_run_and_the_report_never_pools_it(tiny_overrides, tmp_path):
    from experiments.report import tables as report

    ok = build(EXPERIMENTS["sec51_tau_0"], {**tiny_overrides, "epochs": 2}).run()
    assert ok["status"] == "completed"
    # a bound just above the first step's loss: the first larger loss is "divergence"
    bad = build(EXPERIMENTS["sec51_tau_0"], {**tiny_overrides, "epochs": 2, "seed": 1,
                                            "divergence_factor": 1.0000001,
                                            "optimizer.gamma.value": 0.5})
    with pytest.raises(DivergenceError, match="exceeded"):
        bad.run()
    summary = runs.read_json(os.path.join(bad.run_dir(), "summary.json"))
    assert summary["status"] == "failed" and "exceeded" in summary["error"]
    out = tmp_path / "REPORT.md"
    report.main(["--runs", tiny_overrides["results_dir"], "--out", str(out),
                 "--reported", os.path.join(REPO, "results", "reported.yaml"),
                 "--figures", str(tmp_path / "figures")])
    rows = [line for line in out.read_text().splitlines() if line.startswith("| `sec51_tau_0`")]
    assert len(rows) == 2 and sum("✗ failed, not pooled" in r for r in rows) == 1
    assert all("| 1 |" in r for r in rows)  # n = 1 each: the failed seed is not pooled


def test_a_non_finite_validation_loss_fails_the_run(tiny_overrides, monkeypatch):
    import tensorflow as tf

    from experiments.engine.step import TrainState

    real = TrainState._eval_step

    def overflowing(self, images, labels):
        real(self, images, labels)
        self.val_loss.update_state(tf.constant(float("inf")))

    monkeypatch.setattr(TrainState, "_eval_step", overflowing)
    exp = build(EXPERIMENTS["sec52_adam"], tiny_overrides)
    with pytest.raises(DivergenceError, match="validation loss became inf at epoch 1"):
        exp.run()
    summary = runs.read_json(os.path.join(exp.run_dir(), "summary.json"))
    assert summary["status"] == "failed" and summary["epochs_done"] == 0
    assert _rows(exp.run_dir()) == []


# -- bad values, refused before any data is read and without leaving a folder ----------
@pytest.mark.parametrize("overrides,message", [
    ({"optimizer.tau.value": float("inf")}, "optimizer.tau.value=inf is not a finite number"),
    ({"optimizer.gamma.value": float("nan")}, "optimizer.gamma.value=nan is not a finite"),
    ({"train_subset": 100000}, "train_subset=100000 is more than the 50000 training images"),
    ({"validation": "holdout", "train_subset": 46000}, "after the 5000-image holdout"),
    ({"batch_size": 60000}, "batch_size=60000 is larger than the 50000 training images"),
    ({"run_id": "../../x"}, "run_id='../../x' is not a plain folder name"),
    ({"run_id": "a/b"}, "not a plain folder name"),
    ({"optimizer": "NoSuchOpt"}, "choose one of BayesBiNN, Bop, Bop2ndOrder, Bop2ndOrderUnbiased, Cema, LatentAdam, LatentMomentum, LatentSGD"),
    ({"divergence_factor": -1.0}, "divergence_factor must be >= 0"),
])
def test_bad_values_are_refused_before_data_and_leave_no_folder(overrides, message, tmp_path):
    results = tmp_path / "runs"
    base = {"data_dir": str(tmp_path / "empty-data-dir"), "results_dir": str(results)}
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(".", r"\.")):
        build(EXPERIMENTS["sec52_bop"], {**base, **overrides})
    assert not results.exists() and not (tmp_path / "empty-data-dir").exists()


@pytest.mark.slow
def test_the_command_line_parses_1e400_as_inf_and_refuses_it(tmp_path):
    out = subprocess.run([sys.executable, "-m", "experiments", "show", "sec52_bop",
                          "optimizer.lr.value=1e400", "optimizer=LatentAdam"],
                         cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and "optimizer.lr.value=inf is not a finite number" in out.stderr
    # and TensorFlow's C++ start-up lines are not shown (BNN_VERBOSE=1 brings them back)
    assert "computation_placer" not in out.stderr and "cuInit" not in out.stderr
    assert out.stderr.count("\n") == 1, out.stderr


def test_sizes_come_from_the_prepared_dataset_when_there_is_one(tiny_overrides):
    # the fake CIFAR-10 has 100 training images: 101 is refused before any run starts
    with pytest.raises(ConfigError, match="train_subset=101 is more than the 100"):
        build(EXPERIMENTS["sec52_bop"], {**tiny_overrides, "train_subset": 101})
    with pytest.raises(ConfigError, match="batch_size=120 is larger than the 60"):
        build(EXPERIMENTS["sec52_bop"], {**tiny_overrides, "batch_size": 120})


def test_a_preset_key_for_a_replaced_component_is_left_out(capsys):
    exp = build(EXPERIMENTS["sec52_bop"], {"scale": "quick", "optimizer": "LatentSGD"})
    assert type(exp.optimizer).__name__ == "LatentSGD" and exp.epochs == 8
    assert "optimizer.gamma.every_epochs do not apply" in capsys.readouterr().err
    # a key the user typed is never dropped
    with pytest.raises(ConfigError, match="gamma.every_epochs"):
        build(EXPERIMENTS["sec52_bop"], {"optimizer": "LatentSGD",
                                         "optimizer.gamma.every_epochs": 3})


def test_archive_given_as_a_directory(tmp_path, fake_cifar10):
    _, archive, _ = fake_cifar10
    with pytest.raises(ConfigError, match="is a directory; give the path of the file"):
        build(EXPERIMENTS["sec52_bop"], {"dataset.archive": str(tmp_path)})


def test_nan_in_the_first_epoch_says_there_is_no_checkpoint(tiny_overrides, monkeypatch):
    real = data.train_dataset
    monkeypatch.setattr(data, "train_dataset", lambda *a, **k: real(*a, **k).map(
        lambda x, y: (x * float("nan"), y)))
    with pytest.raises(DivergenceError, match="no checkpoint") as e:
        build(EXPERIMENTS["sec52_adam"], tiny_overrides).run()
    assert "epoch 0" not in str(e.value)


# -- damaged files ---------------------------------------------------------------------
def test_damaged_run_files_name_the_file(tiny_overrides):
    exp = build(EXPERIMENTS["sec51_tau_0"], tiny_overrides)
    exp.run()
    path = os.path.join(exp.run_dir(), "summary.json")
    with open(path) as f:
        text = f.read()
    with open(path, "w") as f:
        f.write(text[:40])
    with pytest.raises(RunFolderError, match=f"{path} is not valid JSON.*delete it and re-run"):
        build(EXPERIMENTS["sec51_tau_0"], tiny_overrides).run()
    metrics = os.path.join(exp.run_dir(), "metrics.jsonl")
    with open(metrics, "w") as f:
        f.write('{"epoch": 1, broken\n{"epoch": 2}\n')
    with pytest.raises(RunFolderError, match="metrics.jsonl line 1 is not valid JSON"):
        runs.read_jsonl(metrics)


def test_a_damaged_prepared_dataset_says_delete_and_prepare_again(tmp_path):
    import shutil

    from experiments.fakes.cifar10 import write_fake_cifar10_archive

    archive, md5s = write_fake_cifar10_archive(str(tmp_path), n_train_per_batch=4, n_test=4)
    data_dir = str(tmp_path / "tfds")
    builder = data.load_cifar10_builder(data_dir, archive=archive, md5s=md5s)
    for record in builder.data_path.glob("*train.tfrecord*"):
        with open(record, "r+b") as f:
            f.truncate(os.path.getsize(record) // 2)
    data._DECODED.clear()
    with pytest.raises(DatasetError, match=f"Delete {builder.data_path} and run again"):
        data._decoded(builder, "train")
    shutil.rmtree(builder.data_path)


PREPARE = textwrap.dedent("""
    import sys
    from experiments.datasets import cifar10 as data
    from experiments.fakes.cifar10 import write_fake_cifar10_archive
    md5s = write_fake_cifar10_archive(sys.argv[2], n_train_per_batch=4, n_test=4)[1]
    builder = data.load_cifar10_builder(sys.argv[1], archive=sys.argv[3], md5s=md5s)
    print("prepared", builder.info.splits["train"].num_examples)
""")


@pytest.mark.slow
def test_two_processes_preparing_one_new_data_dir(tmp_path):
    from experiments.fakes.cifar10 import write_fake_cifar10_archive

    archive, _ = write_fake_cifar10_archive(str(tmp_path), n_train_per_batch=4, n_test=4)
    data_dir = tmp_path / "tfds"
    data_dir.mkdir()
    (data_dir / ".cifar10_prepare_killed").mkdir()  # what a killed preparation leaves
    script = tmp_path / "prepare.py"
    script.write_text(PREPARE)
    env = {**os.environ, "PYTHONPATH": REPO}
    procs = [subprocess.Popen([sys.executable, str(script), str(data_dir),
                               str(tmp_path / f"copy{i}"), archive], cwd=REPO, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i in range(2)]
    for i in range(2):
        (tmp_path / f"copy{i}").mkdir(exist_ok=True)
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [o[1][-2000:] for o in outs]
    assert all("prepared 20" in o[0] for o in outs)
    assert not list(data_dir.glob(".cifar10_prepare_*"))
    assert not list((data_dir / "cifar10").glob("*.incomplete*"))


def test_a_killed_preparations_temporary_folders_are_removed(tmp_path, fake_cifar10):
    _, archive, md5s = fake_cifar10
    data_dir = tmp_path / "tfds"
    (data_dir / "cifar10" / "3.0.2.incompleteABCDEF").mkdir(parents=True)
    (data_dir / ".cifar10_prepare_zzz").mkdir()
    data.load_cifar10_builder(str(data_dir), archive=archive, md5s=md5s)
    assert sorted(os.listdir(data_dir / "cifar10")) == ["3.0.2"]
    assert not list(data_dir.glob(".cifar10_prepare_*"))


# -- the report ----------------------------------------------------------------------------
def test_report_duplicates_stale_runs_and_stale_figures(tmp_path):
    from experiments.report import figures, tables as report
    from tests.test_report import write_run

    root = str(tmp_path / "runs")
    write_run(root, "sec52_bop", "quick-seed0-aaaa", val=[0.5, 0.6], seed=0)
    write_run(root, "sec52_bop", "again-seed0", val=[0.5, 0.8], seed=0)  # same seed, new id
    write_run(root, "sec52_bop", "quick-seed1-bbbb", val=[0.5, 0.7], seed=1)
    write_run(root, "sec52_adam", "quick-seed0-cccc", val=[0.5], status="running", planned=8)
    figs = tmp_path / "figures"
    figures.draw_all(root, str(figs))
    adam = os.path.join(root, "sec52_adam", "quick-seed0-cccc")
    figures.draw_run(adam, str(figs))  # a run's heatmap, on demand
    assert (figs / "flips" / "sec52_adam-quick-seed0-cccc.png").exists()
    assert (figs / "figure2-quick.png").exists()
    out = tmp_path / "REPORT.md"
    args = ["--runs", root, "--out", str(out), "--figures", str(figs),
            "--reported", os.path.join(REPO, "results", "reported.yaml")]
    report.main(args)
    rows = {line.split("|")[1].strip(): line for line in out.read_text().splitlines()
            if line.startswith("| `")}
    bop = rows["`sec52_bop`"]
    assert "| 2 |" in bop and "seed 0 run twice (also quick-seed0-aaaa); counted once" in bop
    assert "75.00 ± 7.07" in bop  # seeds 0 (the newer of the two: 0.8) and 1 (0.7)
    assert "stale: status says running, but no process holds the folder" in rows["`sec52_adam`"]

    # the adam run's files get damaged: its row and its figure go, the reason is shown
    with open(os.path.join(root, "sec52_adam", "quick-seed0-cccc", "summary.json"), "w") as f:
        f.write('{"experiment": "sec52_ad')
    with pytest.raises(ValueError, match="summary.json is not valid JSON"):
        figures.draw_run(adam, str(figs))
    report.main(args)
    text = out.read_text()
    assert "skipped (corrupt: summary.json is not valid JSON" in text
    assert "sec52_adam-quick-seed0-cccc" not in text.split("## Skipped run folders")[0]
    # and once no run of a figure is left, the figure goes too
    shutil.rmtree(os.path.join(root, "sec52_bop"))
    figures.draw_all(root, str(figs))
    assert not (figs / "figure2-quick.png").exists()


@pytest.mark.slow
def test_errors_and_resume_hints_reach_the_user_through_the_cli(cli_overrides, tmp_path):
    out = _cli(_args(cli_overrides, run_id="../x"), tmp_path=tmp_path)
    assert out.returncode == 2 and "is not a plain folder name" in out.stderr
    assert not os.path.exists(cli_overrides["results_dir"])


SLOW_HOLDER = textwrap.dedent("""
    import fcntl, json, os, sys, time
    fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX)
    print("locked", flush=True)
    time.sleep(0.5)  # the moment between taking the lock and writing who holds it
    os.pwrite(fd, json.dumps({"host": "h", "pid": os.getpid(), "since": "now"}).encode(), 0)
    time.sleep(60)
""")


@pytest.mark.slow
def test_a_holder_caught_before_it_wrote_its_name_is_still_named(tmp_path):
    script = tmp_path / "slow_holder.py"
    script.write_text(SLOW_HOLDER)
    path = str(tmp_path / ".lock")
    holder = subprocess.Popen([sys.executable, str(script), path], stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(RunLockedError, match=f"pid {holder.pid} on host h"):
            locks.Claim(path, what="folder x").acquire()
    finally:
        holder.kill()
        holder.wait()
