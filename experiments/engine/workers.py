"""Several runs side by side: a pool of worker processes, each pinned to its own share of
the cores (``experiments.worker``, the process's entry point), fed from a :class:`~experiments.engine.schedule.Schedule`.

``workers=auto`` (the default) is one worker per core when at least two runs are pending
and no GPU is visible, else one; ``workers=1`` trains the runs one after another in this
process, on every core, as the suite always did.

What the pool guarantees:

* every run is trained at most once per invocation, and never by two processes at once:
  a worker starts a run through ``Experiment.run()``, which claims the run folder; a run
  another process holds is handed back and tried again later;
* Ctrl-C or SIGTERM to this process sends SIGTERM to every worker, each of which records
  its run as ``interrupted`` (resumable) and exits; the workers run in their own process
  group, so a terminal's Ctrl-C reaches them only through this process, once;
* a worker that dies (``kill -9``, out of memory) loses only its run's work since the
  last checkpoint: the run is named as failed here, its claim dies with the process, and
  the next start resumes it; a new worker takes the dead one's cores for the other runs;
* a run that fails (bad config, divergence) does not stop the others; the exit code is
  non-zero and every failed run is named;
* the output is one line per event, each prefixed with the worker and the run, and a
  status line (runs done / running / pending, estimated time left) after every start and end.
"""
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time

from experiments.engine import eta
from experiments.engine.schedule import encode
from experiments.errors import ConfigError

STOP_WAIT_S = 300.0  # how long workers get to record `interrupted` before they are killed
MAX_RESPAWNS = 3  # per share of the cores: a worker that keeps dying is not replaced forever


def available_cores() -> list:
    return sorted(os.sched_getaffinity(0))


def resolve(value, pending: int, gpus) -> int:
    """The number of workers for ``workers=value`` with ``pending`` runs to train."""
    cores = len(available_cores())
    if value in (None, "auto"):
        return cores if pending >= 2 and not gpus and cores > 1 else 1
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"workers must be auto or a whole number >= 1, got {value!r}")
    if value > cores:
        raise ConfigError(f"workers={value}, but this process may use {cores} core(s): each "
                          f"worker needs a core of its own; give workers=1..{cores} (or auto)")
    return value


def shares(workers: int, cores=None) -> list:
    """The cores split into ``workers`` contiguous shares, as even as they go."""
    cores = available_cores() if cores is None else list(cores)
    size, extra = divmod(len(cores), workers)
    out, start = [], 0
    for i in range(workers):
        end = start + size + (1 if i < extra else 0)
        out.append(cores[start:end])
        start = end
    return out


class Worker:
    """One worker process and the threads that read its output and its events."""

    def __init__(self, name: str, cores: list, inbox: queue.Queue):
        self.name, self.cores = name, cores
        self.job = None  # the job it trains now
        self.started = None  # when that job started (time.time())
        self.ready = False
        read_fd, write_fd = os.pipe()
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "experiments.worker", "--cores",
             ",".join(map(str, cores)), "--events-fd", str(write_fd), "--name", name,
             "--parent", str(os.getpid())],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            pass_fds=(write_fd,), env=env, text=True, bufsize=1,
            start_new_session=True)
        os.close(write_fd)
        self._events = os.fdopen(read_fd, "r")
        threading.Thread(target=self._pump, args=(self.process.stdout, "line", inbox),
                         daemon=True).start()
        threading.Thread(target=self._pump, args=(self._events, "event", inbox),
                         daemon=True).start()

    def _pump(self, stream, kind, inbox):
        for line in stream:
            inbox.put((self, kind, line.rstrip("\n")))
        inbox.put((self, f"{kind}-closed", None))

    def send(self, message: dict) -> None:
        self.process.stdin.write(json.dumps(message) + "\n")
        self.process.stdin.flush()

    def stop(self) -> None:
        if self.process.poll() is None:
            try:
                self.process.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass


class Pool:
    """Workers over ``shares`` of the cores; :meth:`measure` and :meth:`run` feed them."""

    def __init__(self, core_shares: list, out=None):
        self.out = out or sys.stdout
        self.inbox = queue.Queue()
        self.shares = core_shares
        self.respawns = [0] * len(core_shares)
        self.workers = [Worker(f"w{i}", cores, self.inbox) for i, cores in enumerate(core_shares)]
        self._closed = {}  # worker -> streams closed so far
        self.seen = {}  # worker name -> its ready event (affinity and thread pools)

    def say(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    # -- events ------------------------------------------------------------------------
    def _next(self, timeout: float):
        """The next ``(worker, kind, data)``; ``kind`` "event" comes decoded, "exit" when a
        worker has closed both streams; None after ``timeout`` seconds of quiet."""
        while True:
            try:
                worker, kind, data = self.inbox.get(timeout=timeout)
            except queue.Empty:
                return None
            if kind == "line":
                where = f" {_short(worker.job.run_dir)}" if worker.job else ""
                self.say(f"[{worker.name}{where}] {data}")
                continue
            if kind.endswith("-closed"):
                closed = self._closed.setdefault(worker, set())
                closed.add(kind)
                if len(closed) == 2:
                    worker.process.wait()
                    return worker, "exit", worker.process.returncode
                continue
            try:
                return worker, "event", json.loads(data)
            except ValueError:
                self.say(f"[{worker.name}] {data}")

    def _replace(self, worker: Worker) -> Worker | None:
        i = self.workers.index(worker)
        if self.respawns[i] >= MAX_RESPAWNS:
            self.workers[i] = None
            return None
        self.respawns[i] += 1
        self.workers[i] = Worker(worker.name, worker.cores, self.inbox)
        return self.workers[i]

    def _live(self) -> list:
        return [w for w in self.workers if w is not None]

    def _on_ready(self, worker: Worker, event: dict) -> None:
        worker.ready = True
        self.seen[worker.name] = event
        threads = event.get("threads", {})
        self.say(f"[{worker.name}] pid {event.get('pid')}, pinned to CPU "
                 f"{','.join(map(str, event.get('affinity', [])))} (TensorFlow: "
                 f"{threads.get('intra_op')} intra-op, {threads.get('inter_op')} inter-op "
                 "thread(s))")

    # -- warm-up -------------------------------------------------------------------------
    def measure(self, jobs: list, seconds: float = 15.0, start_at=None, windows=None) -> list:
        """Measure each job's speed class in a worker, side by side as the runs will be
        (``start_at``: the ``time.time()`` at which every timed window starts): a list of
        measured dicts in the order of ``jobs``, None where a measurement failed."""
        todo, results = list(enumerate(jobs)), [None] * len(jobs)
        busy = {}
        while todo or busy:
            for worker in self._live():
                if worker.ready and worker.job is None and todo:
                    index, job = todo.pop(0)
                    worker.job = job
                    busy[worker] = job
                    worker.send({"job": index, "kind": "measure", "seconds": seconds,
                                 "start_at": start_at, "windows": windows,
                                 "payload": encode((job.experiment, job.overrides, job.run_dir))})
            item = self._next(timeout=1.0)
            if item is None:
                if not self._live():
                    break
                continue
            worker, kind, data = item
            if kind == "exit":
                job = busy.pop(worker, None)
                worker.job = None
                if self._replace(worker) is None and not self._live():
                    break
                continue
            if data["event"] == "ready":
                self._on_ready(worker, data)
            elif data["event"] == "measured":
                results[data["job"]] = data
            elif data["event"] == "end":
                busy.pop(worker, None)
                worker.job = None
                if data.get("outcome") == "interrupted":
                    raise KeyboardInterrupt
        return results

    # -- training ------------------------------------------------------------------------
    def run(self, schedule, estimate=None, poll_s: float = 10.0, clock=time.time) -> dict:
        """Train every job of ``schedule``; returns ``{"done", "failed", "busy", "lost"}``
        lists of jobs (``failed``: (job, reason))."""
        outcome = {"done": [], "failed": [], "busy": [], "lost": []}
        held = []  # (retry time, job): another process holds the folder
        self.status(schedule, outcome, estimate, clock)
        while True:
            now = clock()
            for due, job in [h for h in held if h[0] <= now]:
                held.remove((due, job))
                schedule.put_back(job)
            idle = [w for w in self._live() if w.ready and w.job is None]
            for worker in idle:
                if not schedule.ready:
                    break
                job = schedule.ready[0]
                schedule.take(job)
                worker.job, worker.started = job, clock()
                where = "" if _short(job.run_dir) in job.title else f" -> {_short(job.run_dir)}"
                self.say(f"[{worker.name}] start {job.title}{where}")
                worker.send({"job": job.run_dir, "kind": "run",
                             "payload": encode((job.experiment, job.overrides, job.run_dir))})
                self.status(schedule, outcome, estimate, clock)
            running = [w for w in self._live() if w.job is not None]
            if not running and not schedule.ready and not held:
                break
            if not self._live():
                for job in list(schedule.ready):
                    schedule.take(job)
                    outcome["failed"].append((job, "no worker left to train it"))
                break
            item = self._next(timeout=min(poll_s, 5.0))
            if item is None:
                continue
            worker, kind, data = item
            if kind == "exit":
                job = worker.job
                if job is not None:
                    why = _exit_reason(data)
                    self.say(f"[{worker.name}] the worker {why} while training "
                             f"{_short(job.run_dir)}: the run resumes from its last "
                             "checkpoint at the next start")
                    outcome["lost"].append((job, f"worker {why}"))
                    schedule.ended(job)
                    worker.job = None
                if self._replace(worker) is not None:
                    self.say(f"[{worker.name}] a new worker takes CPU "
                             f"{','.join(map(str, worker.cores))}")
                self.status(schedule, outcome, estimate, clock)
                continue
            event = data["event"]
            if event == "ready":
                self._on_ready(worker, data)
            elif event == "end":
                job, worker.job = worker.job, None
                result = data.get("outcome")
                if result == "busy":
                    self.say(f"[{worker.name}] {_short(job.run_dir)} is held by another "
                             f"process; trying again in {poll_s:g} s")
                    held.append((clock() + poll_s, job))
                    continue
                if result == "interrupted":  # SIGTERM to this worker alone: it exits
                    outcome["lost"].append((job, "interrupted"))
                    self.say(f"[{worker.name}] {_short(job.run_dir)} was interrupted; it "
                             "resumes from its last checkpoint at the next start")
                    schedule.ended(job)
                    continue
                if result == "failed":
                    outcome["failed"].append((job, data.get("error", "")))
                    self.say(f"[{worker.name}] FAILED {job.title}: {data.get('error', '')}")
                else:
                    outcome["done"].append(job)
                    acc = data.get("accuracy")
                    self.say(f"[{worker.name}] done {job.title}"
                             + (f": accuracy {100 * acc:.2f} %" if acc is not None else ""))
                picks, no_pick = len(schedule.picks), len(schedule.no_pick)
                edge = len(schedule.edge)
                schedule.ended(job)
                for tuning, label, symbol, value, seeds in schedule.picks[picks:]:
                    # the words of the one-process path (drive.run_tuning)
                    self.say(f"{tuning}: picked {symbol} = {value:g} for {label}; training "
                             f"seeds {', '.join(map(str, seeds))}")
                for which in schedule.no_pick[no_pick:]:
                    self.say(f"{which}: no pick (a grid run did not complete)")
                for why in schedule.edge[edge:]:
                    self.say(why)
                self.status(schedule, outcome, estimate, clock)
        outcome["busy"] = [job for _, job in held]
        return outcome

    def status(self, schedule, outcome, estimate, clock) -> None:
        running = {w.job: w.started for w in self._live() if w.job is not None}
        done = len(outcome["done"]) + len(schedule.done_before)
        waiting = schedule.waiting()
        text = (f"[status] {done} done · {len(running)} running · {len(schedule.ready)} pending"
                + (f" (+{waiting} seed runs waiting for their pick)" if waiting else "")
                + (f" · {len(outcome['failed']) + len(outcome['lost'])} failed or stopped"
                   if outcome["failed"] or outcome["lost"] else ""))
        if estimate is not None and (running or schedule.ready):
            text += f" · {eta.duration(estimate.left(schedule, running, clock()))} left (estimate)"
        self.say(text)

    # -- stopping ------------------------------------------------------------------------
    def close(self, interrupt: bool = False, wait_s: float = STOP_WAIT_S) -> None:
        """End the workers: with ``interrupt``, SIGTERM first (each records its run as
        interrupted); otherwise close their input so they exit when idle."""
        for worker in self._live():
            if interrupt:
                worker.stop()
            else:
                try:
                    worker.process.stdin.close()
                except OSError:
                    pass
        deadline = time.time() + wait_s
        while time.time() < deadline and any(w.process.poll() is None for w in self._live()):
            self._next(timeout=0.5)  # their last lines (e.g. where each run stopped) are shown
        for worker in self._live():
            try:
                worker.process.wait(timeout=max(deadline - time.time(), 0.1))
            except subprocess.TimeoutExpired:
                self.say(f"[{worker.name}] did not stop within {wait_s:.0f} s; killing it "
                         "(its run resumes from its last checkpoint)")
                worker.process.kill()
                worker.process.wait()


def _short(run_dir: str) -> str:
    """``<experiment>/<run id>`` of a run folder."""
    return os.path.join(os.path.basename(os.path.dirname(run_dir)), os.path.basename(run_dir))


def _exit_reason(code) -> str:
    if code is not None and code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"
