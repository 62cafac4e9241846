"""One worker process of a pool (``experiments.engine.workers``): pinned to its share of
the cores, it trains the runs its parent sends, one at a time.

Why a process per share of the cores: a small network does not split well over two
threads, while two runs side by side do, so two single-core runs train more images per
second than one run on both cores. The pinning must happen before TensorFlow starts:
TensorFlow and tf.data size their thread pools from the CPUs the process may use
(``sched_getaffinity``), once, when they start. The worker pins itself first thing, then
sets TensorFlow's intra- and inter-op pools to its core count explicitly, and reports
what it sees from inside (its affinity and TensorFlow's pool sizes) so that the parent
and the tests check the pinning instead of assuming it.

Protocol: the parent writes one JSON line per job on the worker's stdin
(``{"job": id, "kind": "run" | "measure", "payload": <base64 pickle of (experiment
name, overrides, expected run folder)>}``); the worker answers on its event pipe
(``--events-fd``) with one JSON line per event: ``ready``, ``start``, ``end`` (outcome
``done``, ``busy``, ``failed`` or ``interrupted``) and ``measured``. Everything a run
prints goes to stdout, which the parent prefixes with the worker and the run. The run
itself is an ordinary ``Experiment.run()``: it claims its folder (``experiments.locks``),
resumes from its checkpoint, and records ``interrupted`` on SIGTERM.
"""
import argparse
import ctypes
import json
import os
import signal
import sys
import time
import traceback


def pin(cores) -> set:
    """Pin this process to ``cores`` (before TensorFlow starts) and return the affinity."""
    os.sched_setaffinity(0, set(cores))
    return os.sched_getaffinity(0)


def set_thread_pools(count: int) -> dict:
    """TensorFlow's intra- and inter-op pools sized for ``count`` cores, before any op runs
    (its default - one thread per CPU the process may use - gives the same sizes; set
    here so that it does not rest on that default). Returns the sizes as TensorFlow has them."""
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(count)
    tf.config.threading.set_inter_op_parallelism_threads(count)
    return {"intra_op": tf.config.threading.get_intra_op_parallelism_threads(),
            "inter_op": tf.config.threading.get_inter_op_parallelism_threads()}


def quiet_progress_bars() -> None:
    """Turn off TensorFlow Datasets' progress bars in this process. A worker's stdout is a
    pipe that the parent splits into lines, each prefixed with the worker and the run, and
    every redraw of a bar would become a line of its own (hundreds while CIFAR-10 is
    prepared). The lines saying that a dataset is being prepared, and where it went, stay."""
    import tensorflow_datasets as tfds

    tfds.disable_progress_bar()


class Events:
    """The event pipe to the parent: one JSON object per line."""

    def __init__(self, fd: int):
        self._file = os.fdopen(fd, "w", buffering=1)

    def send(self, kind: str, **fields) -> None:
        self._file.write(json.dumps({"event": kind, "time": time.time(), **fields}) + "\n")
        self._file.flush()


def die_with_parent(parent: int) -> None:
    """SIGTERM to this worker when its parent dies (Linux's PR_SET_PDEATHSIG), so that a
    killed parent leaves no worker training on its own; a parent already gone ends it now."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:
        raise SystemExit(130)


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt("SIGTERM")


def run_job(job: dict, build, events: Events) -> bool:
    """Train one run; returns False when the worker must stop (it was interrupted)."""
    from experiments.engine.schedule import decode
    from experiments.errors import RunLockedError, SuiteError

    name, overrides, expected_dir = decode(job["payload"])
    events.send("start", job=job["job"])
    try:
        exp = build(name, overrides)
        if os.path.abspath(exp.run_dir()) != expected_dir:
            raise SuiteError(f"this worker builds the run folder {exp.run_dir()}, the parent "
                             f"expected {expected_dir}: are both on the same code and plug-ins?")
        if job["kind"] == "measure":
            from experiments.engine.eta import measure

            events.send("measured", job=job["job"],
                        **measure(exp, job.get("seconds", 15.0), start_at=job.get("start_at"),
                                  windows=job.get("windows")))
        else:
            summary = exp.run() or {}
            events.send("end", job=job["job"], outcome="done",
                        status=summary.get("status"),
                        accuracy=summary.get("test_accuracy", summary.get("final_val_accuracy")),
                        wall_time_s=summary.get("wall_time_s"))
            return True
    except RunLockedError as e:
        events.send("end", job=job["job"], outcome="busy", error=str(e))
    except KeyboardInterrupt:
        events.send("end", job=job["job"], outcome="interrupted")
        return False
    except SuiteError as e:
        print(f"error: {e}", flush=True)
        events.send("end", job=job["job"], outcome="failed", error=str(e).splitlines()[0])
    except Exception as e:  # noqa: BLE001 -- one run's bug must not stop the other runs
        traceback.print_exc(file=sys.stdout)
        events.send("end", job=job["job"], outcome="failed", error=f"{type(e).__name__}: {e}")
    else:
        events.send("end", job=job["job"], outcome="done")
    return True


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m experiments.worker")
    parser.add_argument("--cores", required=True, help="comma-separated CPU numbers")
    parser.add_argument("--events-fd", type=int, required=True)
    parser.add_argument("--name", default="w0")
    parser.add_argument("--parent", type=int, default=0, help="the pool's pid")
    args = parser.parse_args(argv)
    cores = sorted(int(c) for c in args.cores.split(","))
    affinity = pin(cores)  # first: TensorFlow must start after this
    signal.signal(signal.SIGTERM, _raise_interrupt)
    if args.parent:
        die_with_parent(args.parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides; it sends SIGTERM
    events = Events(args.events_fd)
    try:
        from experiments import plugins, registry
        from experiments.engine.experiment import build

        pools = set_thread_pools(len(affinity))
        quiet_progress_bars()
        plugins.load()
        found = registry.load()
        events.send("ready", pid=os.getpid(), affinity=sorted(affinity), threads=pools)
        for line in sys.stdin:
            if not line.strip():
                continue
            if not run_job(json.loads(line), lambda n, o: build(found.experiment(n), o), events):
                return 130
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
