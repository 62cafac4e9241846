"""Which ``tf.distribute`` strategy a run uses, who writes, and who is reachable.

``distribution=default`` (alias ``auto``) picks for itself, so the same command runs on a
laptop, an 8-GPU machine and a cluster: ``MultiWorkerMirroredStrategy`` when
``TF_CONFIG`` describes a cluster of more than one task, ``MirroredStrategy`` when several
GPUs are visible, else one device. ``batch_size`` is always the global batch.
"""
import json
import os
import subprocess
import sys

import tensorflow as tf

from experiments.errors import ConfigError


def _tf_config() -> dict:
    try:
        return json.loads(os.environ.get("TF_CONFIG", "{}"))
    except ValueError as e:
        raise ConfigError(f"TF_CONFIG is not valid JSON ({e}); see 'Several GPUs, several "
                          "machines' in docs/sec53-imagenet.md for its form") from None


def _cluster_tasks() -> int:
    return sum(len(tasks) for tasks in _tf_config().get("cluster", {}).values())


def make_strategy(name: str, cluster_timeout_s: float = 300.0) -> tf.distribute.Strategy:
    """The strategy for ``distribution=name`` (see the module docstring)."""
    gpus = tf.config.list_physical_devices("GPU")
    if name == "default":
        name = ("multi_worker" if _cluster_tasks() > 1 else
                "mirrored" if len(gpus) > 1 else "one_device")
    if name == "mirrored":
        if not gpus:
            print("warning: distribution=mirrored but no GPU is visible: the replicas are "
                  "CPU devices (one, unless logical CPU devices were configured)",
                  file=sys.stderr)
        return tf.distribute.MirroredStrategy()
    if name == "multi_worker":
        if not os.environ.get("TF_CONFIG"):
            print("warning: distribution=multi_worker without TF_CONFIG: a cluster of this "
                  "one process", file=sys.stderr)
        return _multi_worker(cluster_timeout_s)
    return tf.distribute.get_strategy()


def _multi_worker(timeout_s: float):
    """``MultiWorkerMirroredStrategy()``, whose construction blocks until every task of
    ``TF_CONFIG`` has joined: a worker that never starts (a typo in a host name, a job
    that did not get its node) would hang it silently, holding the interpreter lock, and
    SIGTERM does not stop it. So a small watchdog process reports every 10 s who is not
    answering yet and, after ``timeout_s``, prints an error naming them and ends this
    process (SIGKILL: nothing else can interrupt the blocked constructor)."""
    watchdog = subprocess.Popen(
        [sys.executable, "-c", _WATCHDOG, str(os.getpid()), str(timeout_s), *_other_tasks()])
    try:
        return tf.distribute.MultiWorkerMirroredStrategy()
    finally:
        watchdog.kill()
        watchdog.wait()


_WATCHDOG = """
import os, signal, socket, sys, time
pid, timeout, others = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3:]

def answers(address):
    host, _, port = address.rpartition(":")
    try:
        socket.create_connection((host, int(port)), timeout=2).close()
        return True
    except (OSError, ValueError):
        return False

start = told = time.time()
while True:
    time.sleep(1)
    missing = [a for a in others if not answers(a)]
    waited = time.time() - start
    if waited > timeout:
        print(f"error: multi-worker cluster: not every task of TF_CONFIG joined within "
              f"{timeout:.0f} s (not answering: {', '.join(missing) or 'none'}). Start the "
              "same command on every machine named in TF_CONFIG (each with its own task "
              "index), check host names and ports, or raise cluster_timeout_s=. Stopping "
              f"process {pid}.", file=sys.stderr, flush=True)
        os.kill(pid, signal.SIGKILL)
        sys.exit(0)
    if time.time() - told >= 10:
        told = time.time()
        print(f"waiting for the other workers to join (not answering yet: "
              f"{', '.join(missing) or 'none'}; {waited:.0f} s of {timeout:.0f})", flush=True)
"""


def _other_tasks() -> list:
    """The addresses of the cluster's other tasks."""
    config = _tf_config()
    task = config.get("task", {})
    cluster = config.get("cluster", {})
    me = cluster.get(task.get("type"), [None] * (task.get("index", 0) + 1))[task.get("index", 0)]
    return [a for tasks in cluster.values() for a in tasks if a != me]


def is_chief(strategy) -> bool:
    """Only the chief of a multi-worker cluster writes the run folder; the others
    write their (required) checkpoint copies to a scratch folder."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True
    if resolver.task_type == "chief":
        return True
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return resolver.task_type == "worker" and resolver.task_id == 0 and not has_chief
