"""How long the pending runs of a job will take on this machine, before and while they train.

A run's time is its set-up plus its training images over the rate this machine trains
them at, plus its evaluation images over the evaluation rate. The rates come from
completed runs of the same *speed class* (model, dataset, optimizer, precision, batch:
:func:`speed_key`) made on the same kind of machine with the same cores per process
(``experiments.engine.fingerprint.kernel_key``) where there are such runs, else from a
short warm-up (:func:`measure`: a few seconds of real training steps of one run of the
class, in a worker pinned as the real ones will be). The wall time of the whole job then
follows from dealing the runs, in the order the protocol allows, to the workers
(:func:`makespan`): a pick's seeds start only when its grid has ended.

These are estimates, and they are printed as such. Everything here but :func:`measure`
and :func:`history` is arithmetic on numbers it is given (the clock included), so that
the tests can check it without timing anything.
"""
import math
import os
import statistics
import time
from collections import Counter
from dataclasses import dataclass, field

from experiments.engine import bf16, runs
from experiments.engine.fingerprint import kernel_key
from experiments.errors import RunFolderError

# Config keys that set what one training image costs (beside model.* and dataset.*).
SPEED_KEYS = ("optimizer", "precision", "batch_size", "jit_compile", "steps_per_loop",
              "distribution")
DEFAULT_SETUP_S = 20.0  # building the model and tracing its step, where nothing measured it


def speed_key(config: dict) -> tuple:
    """The fields of a resolved config that set the cost of one image, as a hashable key."""
    kept = {k: v for k, v in runs.semantic(config).items()
            if k in SPEED_KEYS or k.startswith(("model.", "dataset.")) or k in ("model", "dataset")}
    return tuple(sorted((k, repr(v)) for k, v in kept.items()))


@dataclass
class Rate:
    """What one run of a speed class costs on this machine with this many cores per process."""
    train_images_per_s: float
    eval_images_per_s: float
    setup_s: float = DEFAULT_SETUP_S
    source: str = ""  # "n completed runs" or "warm-up"


@dataclass
class Work:
    """What is left of one run: images to train and to evaluate."""
    train_images: int
    eval_images: int

    def seconds(self, rate: Rate) -> float:
        return (rate.setup_s + self.train_images / rate.train_images_per_s
                + self.eval_images / rate.eval_images_per_s)


def work_of(exp, epochs_done: int = 0, test_images: int = 0) -> Work:
    """The images a run still trains and evaluates: ``epochs_done`` of its epochs are
    finished (a resumed run); ``test_images``: the final test split, where it has one."""
    plan = exp.plan_data()
    left = max(exp.epochs - epochs_done, 0)
    steps = plan.n_train // exp.batch_size
    final = test_images if exp.final_test else 0
    return Work(left * steps * exp.batch_size, left * plan.n_val + final)


def epochs_done(run_dir: str) -> int:
    """Finished epochs of a run folder (0 without a summary)."""
    path = os.path.join(run_dir, "summary.json")
    try:
        return int(runs.read_json(path).get("epochs_done") or 0) if os.path.exists(path) else 0
    except RunFolderError:
        return 0


def _median(values):
    values = [v for v in values if v and v > 0 and math.isfinite(v)]
    return statistics.median(values) if values else None


def history(roots, hardware: dict) -> dict:
    """``{speed key: Rate}`` from the completed runs under ``roots`` made on a machine
    whose kernel key equals ``hardware``'s (same CPU kind, same cores per process), as a
    run in that config's precision records it (a mixed_bfloat16 run without bfloat16
    hardware records its float32 contractions, so a plain fingerprint never matches it)."""
    per_class = {}
    for root in roots:
        if not os.path.isdir(root):
            continue
        for top, dirs, files in os.walk(root):
            dirs[:] = [d for d in dirs if d not in ("checkpoints", "tensorboard")]
            if "summary.json" not in files or "config.json" not in files:
                continue
            try:
                summary = runs.read_json(os.path.join(top, "summary.json"))
                config = runs.read_json(os.path.join(top, "config.json"))
                rows = runs.read_jsonl(os.path.join(top, "metrics.jsonl"))
            except RunFolderError:
                continue
            target = kernel_key(bf16.recorded(config.get("precision", "float32"), hardware))
            if (summary.get("status") != "completed" or target is None
                    or kernel_key(summary.get("hardware") or {}) != target
                    or summary.get("hardware_earlier")):
                continue
            train, evals = [], []
            images = (summary.get("steps_per_epoch") or 0) * (summary.get("global_batch_size") or 0)
            n_val = config.get("holdout") if summary.get("validation_split") == "holdout" else None
            for row in rows:
                rate = row.get("train_images_per_s")
                if not rate or not images:
                    continue
                train.append(rate)
                eval_s = row["epoch_time_s"] - images / rate
                if n_val and eval_s > 0.05:
                    evals.append(n_val / eval_s)
            per_class.setdefault(speed_key(config), []).append((_median(train), _median(evals)))
    out = {}
    for key, found in per_class.items():
        train = _median([t for t, _ in found])
        if train:
            out[key] = Rate(train, _median([e for _, e in found]) or 3 * train,
                            source=f"{len(found)} completed run(s)")
    return out


def measure(exp, seconds: float = 15.0, clock=time.perf_counter, start_at=None,
            windows=None) -> dict:
    """A warm-up: set up ``exp`` as its run would (data, model, optimizer, one traced
    step), then train for about ``seconds`` and evaluate a few batches. Nothing is written
    to any run folder. Returns the rates and the set-up time. ``start_at`` (a
    ``time.time()``): keep training untimed until then, so that several processes time
    the same window. ``windows``: ``[(start, end), ...]`` in ``time.time()``: train only
    inside each (idle between them, so that other processes can be timed alone) and return
    the rate of each (``make bench``'s workers part)."""
    import tensorflow as tf

    from experiments.engine.distribute import make_strategy
    from experiments.engine.pipelines import prepare_data, train_iterator
    from experiments.engine.step import HostCursor, TrainState, train_call

    start = clock()
    tf.keras.utils.set_random_seed(exp.seed)
    strategy = make_strategy(exp.distribution, exp.cluster_timeout_s)
    builder, train_split, val_split, n_train, steps = prepare_data(exp)
    state = TrainState(exp, strategy, n_train / exp.batch_size)
    cursor = HostCursor(state)
    iterator = None

    def step():  # one training step; a new epoch's pipeline where the last one ends
        nonlocal iterator
        if cursor.step % steps == 0:
            iterator = train_iterator(exp, strategy, builder, train_split, cursor.step // steps)
        train_call(exp, state, iterator, 1, 0, cursor)

    step()  # traces the step
    setup = clock() - start
    if windows:
        return {"window_images_per_s": [_window(step, exp.batch_size, *w) for w in windows],
                "setup_s": setup}
    while start_at is not None and time.time() < start_at:
        step()
    begin, done = clock(), 0
    while done < 3 or clock() - begin < seconds:
        step()
        done += 1
    train_rate = done * exp.batch_size / (clock() - begin)
    forward = tf.function(lambda x: state.model(x, training=False))
    batches = exp.dataset.eval_dataset(builder, val_split, exp.batch_size).take(6)
    seen, eval_s = 0, 0.0
    for i, (images, _) in enumerate(batches):
        t = clock()
        forward(images).numpy()
        if i:  # the first call traces
            eval_s += clock() - t
            seen += int(images.shape[0])
    return {"train_images_per_s": train_rate, "timed_steps": done,
            "eval_images_per_s": seen / eval_s if eval_s > 0 else 3 * train_rate,
            "setup_s": setup}


def _window(step, batch: int, start: float, end: float) -> float:
    """Images per second of the steps taken between ``start`` and ``end`` (time.time()):
    no step is started that would, at the last step's pace, run past ``end``."""
    while time.time() < start:
        time.sleep(min(0.05, start - time.time()))
    begin = last = time.perf_counter()
    done, per_step = 0, 0.0
    while done == 0 or time.time() + per_step < end:
        step()
        now = time.perf_counter()
        per_step, last, done = now - last, now, done + 1
    return done * batch / (last - begin)


@dataclass
class Task:
    """A run for :func:`makespan`: its estimated seconds, the arm whose grid it belongs
    to, and the arm whose grid must end before it may start."""
    key: str
    seconds: float
    arm: str = ""
    after: str = ""


@dataclass
class Busy:
    """A worker's run under way: estimated seconds in all and seconds it has run."""
    seconds: float
    elapsed: float

    @property
    def left(self) -> float:
        return max(self.seconds - self.elapsed, 0.0)


def makespan(tasks, workers: int, running=(), waits=None) -> float:
    """Seconds until every task has ended when ``workers`` processes take them in the
    given order (each free worker takes the first task that may start; a task with
    ``after`` waits for every task of that arm, those under way included via ``waits``:
    ``{arm: seconds until its last running grid run ends}``). ``running``: the
    :class:`Busy` runs that occupy workers now."""
    workers = max(workers, 1)
    free = sorted(b.left for b in running)[:workers]
    free += [0.0] * (workers - len(free))
    arm_end = dict(waits or {})
    open_count = Counter(t.arm for t in tasks if t.arm)
    end = max([b.left for b in running], default=0.0)
    todo = list(tasks)
    while todo:
        free.sort()
        now = free[0]
        # (a seed listed before its grid cannot happen in a schedule; taken in order then)
        ready = [t for t in todo if not t.after or open_count[t.after] == 0] or todo[:1]
        starts = [max(now, arm_end.get(t.after, 0.0)) if t.after else now for t in ready]
        i = min(range(len(ready)), key=lambda k: (starts[k] > now, starts[k], k))
        task, start = ready[i], starts[i]
        todo.remove(task)
        finish = start + task.seconds
        free[0] = finish
        end = max(end, finish)
        if task.arm:
            open_count[task.arm] -= 1
            arm_end[task.arm] = max(arm_end.get(task.arm, 0.0), finish)
    return end


def duration(seconds: float) -> str:
    """"about 6 days", "about 3 h 10 min", "about 50 min", "about 40 s"."""
    if seconds >= 2 * 86400:
        return f"about {seconds / 86400:.0f} days"
    if seconds >= 3600:
        hours, minutes = divmod(int(round(seconds / 60)), 60)
        return f"about {hours} h {minutes:02d} min"
    if seconds >= 90:
        return f"about {seconds / 60:.0f} min"
    return f"about {max(seconds, 1):.0f} s"


def _test_images(exp, cache={}) -> int:
    """Images of the final test evaluation of a tuning run (0 for other runs)."""
    if not exp.final_test:
        return 0
    key = (type(exp.dataset).__name__, exp.data_dir)
    if key not in cache:
        cache[key] = exp.dataset.split_sizes(os.path.expanduser(exp.data_dir))
    return int(cache[key].get(exp.dataset.eval_split, 0))


def classes(schedule) -> dict:
    """``{speed key: a job of that class}`` over the pending runs of ``schedule``."""
    out = {}
    jobs = list(schedule.ready) + [schedule.grid_jobs(arm)[0] for _, arm, _ in schedule.expected_seeds()]
    for job in jobs:
        out.setdefault(speed_key(job.exp.resolved_config()), job)
    return out


class Estimate:
    """The wall time of a schedule's pending runs on ``workers`` workers, from ``rates``
    ({speed key: Rate}); re-estimated from the schedule as it moves. A seed run not
    released yet costs what its arm's grid runs do."""

    def __init__(self, rates: dict, workers: int):
        self.rates, self.workers = rates, workers
        self._cost = {}  # run folder -> estimated seconds (from its state when first asked)

    def cost(self, job):
        """Seconds ``job`` takes (what is left of it when first asked), None without a rate."""
        if job.run_dir not in self._cost:
            rate = self.rates.get(speed_key(job.exp.resolved_config()))
            self._cost[job.run_dir] = None if rate is None else work_of(
                job.exp, epochs_done(job.run_dir), _test_images(job.exp)).seconds(rate)
        return self._cost[job.run_dir]

    def tasks(self, schedule) -> tuple:
        """``([Task] in the order they will start, [jobs without a rate])``."""
        entries, unknown = [], []
        for job in schedule.ready:
            s = self.cost(job)
            if s is None:
                unknown.append(job)
            else:
                entries.append((job.priority, Task(job.run_dir, s, arm=job.arm)))
        for key, arm, priority in schedule.expected_seeds():
            grid_run = schedule.grid_jobs(arm)[0]
            s = self._fresh(grid_run)
            if s is None:
                unknown.append(grid_run)
            else:
                entries.append((priority, Task(key, s, after=arm)))
        entries.sort(key=lambda e: e[0])
        return [t for _, t in entries], unknown

    def _fresh(self, job):
        """Seconds of a whole run like ``job`` (a seed run is its grid run at another seed)."""
        key = ("fresh", job.run_dir)
        if key not in self._cost:
            rate = self.rates.get(speed_key(job.exp.resolved_config()))
            self._cost[key] = None if rate is None else work_of(
                job.exp, 0, _test_images(job.exp)).seconds(rate)
        return self._cost[key]

    def left(self, schedule, running: dict, now: float) -> float:
        """Seconds until every run has ended; ``running``: {job: its start time}, ``now``
        on the same clock."""
        tasks, _ = self.tasks(schedule)
        busy, waits = [], {}
        for job, started in running.items():
            seconds = self.cost(job) or 0.0
            b = Busy(seconds, now - started)
            busy.append(b)
            if job.arm:
                waits[job.arm] = max(waits.get(job.arm, 0.0), b.left)
        return makespan(tasks, self.workers, busy, waits)
