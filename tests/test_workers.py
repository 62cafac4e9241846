"""Runs side by side (experiments/engine/workers.py, schedule.py, eta.py): pinned worker
processes that train every run exactly once, survive a killed worker and a SIGTERM, and
the arithmetic of the time estimates (with a fake clock: nothing here times anything)."""
import glob
import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from experiments.engine import eta, workers
from experiments.engine.fingerprint import kernel_key
from experiments.engine.schedule import Recorder, Schedule
from experiments.engine.records import clock, time_left
from experiments.engine.tuning import Arm, Tuning
from experiments.errors import ConfigError

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TWO_CORES = pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two cores")


# -- how many workers, on which cores ------------------------------------------------------

def test_auto_is_one_worker_per_core_when_two_runs_wait_and_no_gpu(monkeypatch):
    monkeypatch.setattr(workers, "available_cores", lambda: [0, 1])
    assert workers.resolve("auto", pending=2, gpus=[]) == 2
    assert workers.resolve("auto", pending=1, gpus=[]) == 1
    assert workers.resolve("auto", pending=5, gpus=[{"name": "H100"}]) == 1
    assert workers.resolve(1, pending=9, gpus=[]) == 1
    with pytest.raises(ConfigError, match="workers=1..2"):
        workers.resolve(3, pending=9, gpus=[])
    for bad in ("two", 0, True):
        with pytest.raises(ConfigError, match="workers must be auto"):
            workers.resolve(bad, pending=9, gpus=[])
    monkeypatch.setattr(workers, "available_cores", lambda: [3])
    assert workers.resolve("auto", pending=9, gpus=[]) == 1


def test_the_cores_are_split_into_contiguous_shares():
    assert workers.shares(2, [0, 1]) == [[0], [1]]
    assert workers.shares(2, [0, 1, 2]) == [[0, 1], [2]]
    assert workers.shares(1, [4, 5]) == [[4, 5]]


def test_a_runs_thread_pools_are_part_of_its_kernel_key():
    base = {"vendor": "AuthenticAMD", "family": 25, "model_number": 1, "flags": ["avx2"],
            "cpu_count": 1, "onednn": False, "tensorflow": "2.19.1", "cuda": None,
            "cudnn": None, "gpus": []}
    old = dict(base)  # recorded before thread pools were: they equal its CPUs
    new = {**base, "threads": {"intra_op": 1, "inter_op": 1}}
    assert kernel_key(old) == kernel_key(new)
    assert kernel_key({**new, "threads": {"intra_op": 2, "inter_op": 2}}) != kernel_key(new)


# -- the estimate's arithmetic ---------------------------------------------------------------

def test_makespan_deals_tasks_to_the_first_free_worker():
    tasks = [eta.Task(k, s) for k, s in (("a", 10), ("b", 10), ("c", 10))]
    assert eta.makespan(tasks, 1) == 30
    assert eta.makespan(tasks, 2) == 20
    assert eta.makespan(tasks, 3) == 10


def test_a_picks_seeds_wait_for_the_whole_grid_of_their_arm():
    # arm A's grid: 10 s and 4 s; its two seeds (5 s each) start when both have ended
    tasks = [eta.Task("g1", 10, arm="A"), eta.Task("g2", 4, arm="A"),
             eta.Task("s1", 5, after="A"), eta.Task("s2", 5, after="A"), eta.Task("x", 3)]
    # two workers: g1 0-10, g2 0-4, x 4-7 (fills the wait), then s1 and s2 10-15
    assert eta.makespan(tasks, 2) == 15
    # runs under way: a worker busy for 6 more seconds, and arm A's grid still open 8 s
    assert eta.makespan([eta.Task("s", 5, after="A")], 2,
                        running=[eta.Busy(10, 4)], waits={"A": 8}) == 13


class _Job:
    def __init__(self, key, priority, arm="", seeds_of=""):
        self.run_dir, self.priority, self.arm, self.seeds_of = key, priority, arm, seeds_of


class _Schedule:
    def __init__(self, ready, expected=()):
        self.ready, self._expected = ready, list(expected)
        self.grid = {"A": [ready[0]]}

    def expected_seeds(self):
        return self._expected

    def grid_jobs(self, arm):
        return self.grid[arm]


class _FixedCosts(eta.Estimate):
    def __init__(self, costs, workers):
        super().__init__({}, workers)
        self.costs = costs

    def cost(self, job):
        return self.costs[job.run_dir]

    def _fresh(self, job):
        return self.costs[job.run_dir]


def test_time_left_moves_with_a_fake_clock():
    g1, g2 = _Job("g1", (0, 0, 0, 0), arm="A"), _Job("g2", (0, 0, 0, 1), arm="A")
    costs = {"g1": 100.0, "g2": 100.0}
    schedule = _Schedule([g1, g2], expected=[("A#seed-run-0", "A", (0, 1, 0, 0))])
    estimate = _FixedCosts(costs, workers=2)
    # before anything starts: the grid side by side (100 s), then the seed (100 s)
    assert estimate.left(schedule, {}, now=0.0) == 200.0
    # g1 and g2 started at t=1000; the clock says 1030: 70 s of grid, then the seed
    schedule.ready = []
    assert estimate.left(schedule, {g1: 1000.0, g2: 1000.0}, now=1030.0) == 170.0
    # a run that takes longer than estimated is counted as ending now, not in the past
    assert estimate.left(schedule, {g1: 1000.0, g2: 1000.0}, now=1250.0) == 100.0


def test_epoch_and_run_time_left_from_the_pace_so_far():
    # 30 of 100 steps in 60 s: 140 s left in the epoch; 2 more epochs of 200 s each
    assert time_left(30, 60.0, 70, 2) == (140.0, 540.0)
    # finished epochs (evaluation included) set the later epochs' length: their median
    assert time_left(30, 60.0, 70, 2, [250.0, 230.0, 900.0]) == (140.0, 140.0 + 2 * 250.0)
    assert [clock(s) for s in (45, 760, 11100)] == ["45s", "12m40s", "3h05m"]
    assert eta.duration(6 * 86400) == "about 6 days" and eta.duration(3000) == "about 50 min"


_ZEN3_CORE = {"vendor": "AuthenticAMD", "family": 25, "model_number": 1, "flags": ["avx2"],
              "cpu_count": 1, "onednn": False, "tensorflow": "2.19.1", "cuda": None,
              "cudnn": None, "gpus": [], "threads": {"intra_op": 1, "inter_op": 1}}


def _completed_run(run, precision, hardware, rate):
    """A completed one-epoch run folder: 500 training images at `rate`, then 500 holdout
    images in 1 s."""
    run.mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({
        "model": "BinaryNet", "model.filters": 32, "optimizer": "Bop", "batch_size": 50,
        "precision": precision, "holdout": 500, "seed": 0}))
    (run / "summary.json").write_text(json.dumps({
        "status": "completed", "hardware": hardware, "steps_per_epoch": 10,
        "global_batch_size": 50, "validation_split": "holdout"}))
    (run / "metrics.jsonl").write_text(json.dumps(
        {"epoch": 1, "train_images_per_s": rate, "epoch_time_s": 500 / rate + 1.0}) + "\n")


def test_history_takes_rates_only_from_runs_on_the_same_kind_of_machine(tmp_path):
    hw = _ZEN3_CORE
    for name, hardware, rate in (("a", hw, 200.0), ("b", hw, 220.0),
                                 ("c", {**hw, "cpu_count": 2}, 999.0)):
        _completed_run(tmp_path / "sec52_bop" / name, "float32", hardware, rate)
    rates = eta.history([str(tmp_path)], hw)
    (rate,) = rates.values()
    assert rate.train_images_per_s == pytest.approx(210.0)
    assert rate.eval_images_per_s == pytest.approx(500.0, rel=1e-6)
    assert rate.source == "2 completed run(s)"


def test_history_finds_mixed_bfloat16_runs_made_with_float32_contractions(tmp_path):
    """On a CPU without bfloat16 hardware a mixed_bfloat16 run records its float32
    contractions (experiments.engine.bf16): the estimate reads such runs, and not runs
    of the same config made there before with TensorFlow's own bfloat16 kernels."""
    from experiments.engine import bf16

    hw = _ZEN3_CORE
    for name, hardware, rate in (("emulated", bf16.recorded("mixed_bfloat16", hw), 200.0),
                                 ("tf_kernels", hw, 20.0)):
        _completed_run(tmp_path / "sec52_bop" / name, "mixed_bfloat16", hardware, rate)
    (rate,) = eta.history([str(tmp_path)], hw).values()
    assert rate.train_images_per_s == pytest.approx(200.0)
    assert rate.source == "1 completed run(s)"


# -- the order the protocol needs --------------------------------------------------------------

class _Exp:
    def __init__(self, root, name, overrides):
        self.name = name
        value = overrides.get("optimizer.gamma.value", 0)
        self._dir = os.path.join(root, name, f"v{value:g}-seed{overrides['seed']}")

    def run_dir(self):
        return self._dir


def _finish(exp, holdout_accuracy):
    os.makedirs(exp.run_dir(), exist_ok=True)
    with open(os.path.join(exp.run_dir(), "summary.json"), "w") as f:
        json.dump({"status": "completed", "epochs_done": 1, "epochs_planned": 1,
                   "validation_split": "holdout", "final_val_accuracy": holdout_accuracy}, f)


def test_a_picks_seeds_are_released_only_when_its_grid_has_ended(tmp_path):
    tuning = Tuning(name="toy", section="5.2", scale="tiny", seeds=(0, 1, 2),
                    arms=(Arm("sec52_bop", "optimizer.gamma.value", (1e-3, 1e-2), "Bop", "γ"),))
    build = Recorder(lambda name, o: _Exp(str(tmp_path), name, o))
    schedule = Schedule([(tuning, {})], build)
    assert [j.title for j in schedule.ready] == ["toy: Bop γ=0.001 (grid)", "toy: Bop γ=0.01 (grid)"]
    assert schedule.waiting() == 2
    first, second = schedule.ready
    schedule.take(first)
    schedule.take(second)
    _finish(first.exp, 0.40)
    assert schedule.ended(first) == []  # the other grid value is still training
    _finish(second.exp, 0.55)
    released = schedule.ended(second)
    assert [j.title for j in released] == ["toy: Bop γ=0.01 (picked), seed 1",
                                           "toy: Bop γ=0.01 (picked), seed 2"]
    assert schedule.waiting() == 0 and schedule.picks == [("toy", "Bop", "γ", 0.01, (0, 1, 2))]


def test_a_pick_on_its_grids_edge_releases_no_seeds_when_its_rung_holds_them(tmp_path):
    """As the one-process path (tests/test_tuning.py): the pool's schedule keeps an edge
    pick's seeds back and says why, when the declaration asks for it."""
    for hold in (True, False):
        tuning = Tuning(name="toy", section="5.2", scale="tiny", seeds=(0, 1),
                        hold_edge_picks=hold,
                        arms=(Arm("sec52_bop", "optimizer.gamma.value", (1e-3, 1e-2, 1e-1),
                                  "Bop", "γ"),))
        build = Recorder(lambda name, o: _Exp(str(tmp_path / str(hold)), name, o))
        schedule = Schedule([(tuning, {})], build)
        for job, acc in zip(list(schedule.ready), (0.3, 0.4, 0.5)):  # the largest value wins
            schedule.take(job)
            _finish(job.exp, acc)
            schedule.ended(job)
        if hold:
            assert schedule.ready == [] and schedule.picks == [] and schedule.waiting() == 0
            (why,) = schedule.edge
            assert why.startswith("toy: Bop picked γ = 0.1, the largest value of its grid")
        else:
            assert [j.title for j in schedule.ready] == ["toy: Bop γ=0.1 (picked), seed 1"]
            assert schedule.edge == []


def test_a_finished_grid_releases_its_seeds_at_once_and_shards_split_them(tmp_path):
    tuning = Tuning(name="toy", section="5.2", scale="tiny", seeds=(0, 1, 2, 3),
                    arms=(Arm("sec52_bop", "optimizer.gamma.value", (1e-3, 1e-2), "Bop", "γ"),))
    build = Recorder(lambda name, o: _Exp(str(tmp_path), name, o))
    for value, acc in ((1e-3, 0.6), (1e-2, 0.5)):
        _finish(build("sec52_bop", {"optimizer.gamma.value": value, "seed": 0}), acc)
    seeds = [[j.title[-6:] for j in Schedule([(tuning, {})], build, shard).ready]
             for shard in ((0, 2), (1, 2))]
    assert seeds == [["seed 1", "seed 3"], ["seed 2"]]


def test_a_worker_prepares_a_dataset_without_drawing_progress_bars(tmp_path, capsys):
    """A worker's output is split into prefixed lines, so a progress bar's redraws would
    flood it; the control shows that TFDS draws them when nothing turns them off."""
    import tensorflow_datasets as tfds

    from experiments.datasets.cifar10 import load_cifar10_builder
    from experiments.fakes.cifar10 import write_fake_cifar10_archive
    from experiments.worker import quiet_progress_bars

    archive, md5s = write_fake_cifar10_archive(str(tmp_path), n_train_per_batch=2, n_test=2)

    def prepare(name):
        load_cifar10_builder(str(tmp_path / name), archive=archive, md5s=md5s)
        out = capsys.readouterr()
        return out.out + out.err

    try:
        tfds.enable_progress_bar()
        assert "Generating train examples" in prepare("with-bars")
        quiet_progress_bars()
        printed = prepare("quiet")
        assert "examples" not in printed and "%|" not in printed, printed
        assert "prepared to" in printed  # where the dataset went is still said
    finally:
        tfds.enable_progress_bar()


# -- real processes ------------------------------------------------------------------------

def _sweep(data_dir, root, *extra, epochs=1):
    env = {**os.environ, "TF_USE_LEGACY_KERAS": "1", "PYTHONHASHSEED": "0"}
    cmd = [sys.executable, "-m", "experiments", "sweep", "sec52_bop", "scale=tiny",
           "grid.optimizer.gamma.value=[1e-4,1e-3,1e-2]", "seeds=[0,1]", "poll_s=1",
           "warmup_s=0", f"epochs={epochs}", "checkpoint_every_steps=1",
           f"data_dir={data_dir}", f"results_dir={root}", "progress=False", *extra]
    return subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def _summaries(root):
    out = {}
    for path in glob.glob(os.path.join(root, "sec52_bop", "*", "summary.json")):
        with open(path) as f:
            out[os.path.basename(os.path.dirname(path))] = json.load(f)
    return out


def _epochs(root, run_id):
    with open(os.path.join(root, "sec52_bop", run_id, "metrics.jsonl")) as f:
        return [json.loads(line)["epoch"] for line in f]


def _read_until(proc, pattern, lines, timeout_s=600):
    """The first line of ``proc`` (those read so far included) that matches ``pattern``."""
    for line in lines:
        m = re.search(pattern, line)
        if m:
            return m
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        m = re.search(pattern, line)
        if m:
            return m
    raise AssertionError(f"no line matching {pattern!r} in:\n{''.join(lines[-40:])}")


@pytest.mark.slow
@TWO_CORES
def test_two_pinned_workers_train_every_run_of_a_sweep_exactly_once(fake_cifar10, tmp_path):
    root = str(tmp_path / "runs")
    out, _ = _sweep(fake_cifar10[0], root, "workers=2").communicate(timeout=900)
    pinned = dict(re.findall(r"\[(w\d)\] pid \d+, pinned to CPU (\S+) \(TensorFlow: 1 intra-op, "
                             r"1 inter-op", out))
    assert pinned == {"w0": "0", "w1": "1"}, out  # as each worker saw it from inside
    starts = re.findall(r"\] start .* -> sec52_bop/(\S+)", out)
    summaries = _summaries(root)
    assert len(summaries) == 6 and sorted(starts) == sorted(summaries), out
    # the same run ids as one process would give them: workers change nothing in a config
    from configs import EXPERIMENTS
    from experiments.engine.experiment import build

    ids = {build(EXPERIMENTS["sec52_bop"], {"scale": "tiny", "seed": seed, "epochs": 1,
                                            "optimizer.gamma.value": gamma,
                                            "checkpoint_every_steps": 1}).run_name()
           for seed in (0, 1) for gamma in (1e-4, 1e-3, 1e-2)}
    assert ids == set(summaries)
    for run_id, summary in summaries.items():
        assert summary["status"] == "completed", run_id
        assert _epochs(root, run_id) == [1]  # trained once: one epoch row
        assert summary["hardware"]["cpu_count"] == 1
        assert summary["hardware"]["threads"] == {"intra_op": 1, "inter_op": 1}
    assert "[status] 6 done · 0 running · 0 pending" in out


@pytest.mark.slow
@TWO_CORES
def test_a_worker_killed_mid_run_leaves_a_run_the_next_start_resumes(fake_cifar10, tmp_path):
    root, lines = str(tmp_path / "runs"), []
    proc = _sweep(fake_cifar10[0], root, "workers=2", epochs=3)
    pid = int(_read_until(proc, r"\[w0\] pid (\d+), pinned", lines)[1])
    run_id = _read_until(proc, r"\[w0 sec52_bop/(\S+)\] epoch 1/3", lines)[1]
    os.kill(pid, signal.SIGKILL)
    rest, _ = proc.communicate(timeout=900)
    out = "".join(lines) + rest
    assert proc.returncode == 1
    assert f"was killed by SIGKILL while training sec52_bop/{run_id}" in out
    assert re.search(rf"failed: .* \(.*{run_id}\): worker was killed by SIGKILL", out), out
    summaries = _summaries(root)  # the killed run's summary exists if its epoch was recorded
    assert len(summaries) >= 5, out
    assert sum(s["status"] == "completed" for s in summaries.values()) == 5
    assert summaries.get(run_id, {}).get("status", "running") == "running"
    assert glob.glob(os.path.join(root, "sec52_bop", run_id, "checkpoints", "ckpt-*"))
    again, _ = _sweep(fake_cifar10[0], root, "workers=2", epochs=3).communicate(timeout=900)
    assert f"Resuming from" in again and "5 already completed" in again, again
    assert _summaries(root)[run_id]["status"] == "completed"
    assert _epochs(root, run_id) == [1, 2, 3]  # nothing logged twice, nothing lost


@pytest.mark.slow
@TWO_CORES
def test_sigterm_to_the_parent_leaves_every_run_interrupted_or_completed(fake_cifar10, tmp_path):
    root, lines = str(tmp_path / "runs"), []
    proc = _sweep(fake_cifar10[0], root, "workers=2", epochs=3)
    pids = [int(_read_until(proc, rf"\[w{i}\] pid (\d+), pinned", lines)[1]) for i in (0, 1)]
    for i in (0, 1):
        _read_until(proc, rf"\[w{i} sec52_bop/\S+\] epoch 1/3", lines)
    proc.send_signal(signal.SIGTERM)
    rest, _ = proc.communicate(timeout=600)
    assert proc.returncode == 130, "".join(lines) + rest
    statuses = [s["status"] for s in _summaries(root).values()]
    assert statuses and set(statuses) <= {"interrupted", "completed"}, statuses
    assert "interrupted" in statuses
    for pid in pids:  # no worker is left training on its own
        assert not os.path.exists(f"/proc/{pid}") or \
            open(f"/proc/{pid}/stat").read().split()[2] == "Z"
