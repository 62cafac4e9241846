"""Scale-out on TensorFlow's own engine, with real processes: two replicas compute what one
does for the same global batch; two MultiWorkerMirroredStrategy workers on localhost are
killed, resumed, and end with identical states; a worker that never joins is named."""
import json
import os
import re
import socket
import subprocess
import sys
import textwrap
import time

import pytest

from experiments.engine import runs

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

ONE_VS_TWO = textwrap.dedent("""
    import json, sys
    import experiments
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import numpy as np
    from configs import EXPERIMENTS
    from experiments.cli import parse_overrides
    from experiments.engine.experiment import build
    from experiments.engine.pipelines import prepare_data, train_iterator
    from experiments.engine.step import TrainState

    exp = build(EXPERIMENTS[sys.argv[1]], parse_overrides(sys.argv[2:]))
    builder, split, _, n, _ = prepare_data(exp)
    out = {}
    for label, strategy in (("one", tf.distribute.OneDeviceStrategy("/cpu:0")),
                            ("two", tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]))):
        tf.keras.utils.set_random_seed(0)
        state = TrainState(exp, strategy, n / exp.batch_size)
        signs = [k.numpy() >= 0 for k in state.kernels]
        before = [k.numpy() for k in state.kernels]
        flips, losses = state.train_steps(train_iterator(exp, strategy, builder, split, 0),
                                          tf.constant(1))
        seen = [int(np.sum(s != (k.numpy() >= 0))) for s, k in zip(signs, state.kernels)]
        out[label] = (float(losses[0]), [v.numpy() for v in state.model.weights],
                      sorted((v.name, v.numpy()) for v in state.optimizer.weights
                             if "iter" not in v.name), strategy.num_replicas_in_sync)
        out[label + "_flips"] = (flips.numpy()[0].astype(int).tolist(), seen)
        out[label + "_kernels"] = before, [k.numpy() for k in state.kernels]
        out[label + "_signal"] = [state.optimizer.weights[[v.name for v in state.optimizer.weights]
                                  .index(k.name.replace(":0", "/m:0"))].numpy()
                                  if sys.argv[1] == "sec52_bop" else None for k in state.kernels]
    (l1, w1, o1, r1), (l2, w2, o2, r2) = out["one"], out["two"]
    names = [v.name for v in state.model.weights]
    var = [i for i, n in enumerate(names) if "moving_variance" in n]
    # per kernel: entries whose new value differs between the runs, and how many of them
    # are Bop decisions on either side of tau (w * m above tau in one run, not in the other)
    tau = exp.optimizer.tau.build(1, 1) if sys.argv[1] == "sec52_bop" else None
    tau = float(tau(0)) if callable(tau) else tau
    differ, straddle = [], []
    for i, (w0, a, b) in enumerate(zip(out["one_kernels"][0], out["one_kernels"][1],
                                       out["two_kernels"][1])):
        where = a != b
        differ.append(int(np.sum(where)))
        if tau is not None:
            p1, p2 = w0 * out["one_signal"][i], w0 * out["two_signal"][i]
            straddle.append(int(np.sum(where & ((p1 > tau) != (p2 > tau)))))
    print(json.dumps({
        "replicas": [r1, r2], "loss": [l1, l2],
        "weights": max(float(np.max(np.abs(w1[i] - w2[i])))
                       for i in range(len(names)) if i not in var),
        "real_weights": max([float(np.max(np.abs(w1[i] - w2[i]))) for i in range(len(names))
                             if i not in var and "kernel" not in names[i]] or [0.0]),
        "kernel_entries": int(sum(k.size for k in out["one_kernels"][1])),
        "kernels_differ": differ, "kernels_straddle": straddle,
        "moving_variance": max(float(np.max(np.abs(w1[i] / w2[i] - 1))) for i in var),
        "optimizer": max(float(np.max(np.abs(a[1] - b[1]))) for a, b in zip(o1, o2)),
        # each slot's difference relative to its size (Euclidean norms): what bfloat16's
        # rounding is measured by
        "optimizer_relative": max(float(np.linalg.norm(a[1] - b[1])
                                        / max(np.linalg.norm(a[1]), 1e-30))
                                  for a, b in zip(o1, o2)),
        "slots": [len(o1), len(o2)], "flips": [out["one_flips"], out["two_flips"]]}))
""")


def _python(script, args, tmp_path, env=None, timeout=300, wait=True):
    path = tmp_path / f"script_{abs(hash(script)) % 10**8}.py"
    path.write_text(script)
    cmd = [sys.executable, str(path), *args]
    env = {**os.environ, "PYTHONPATH": REPO, **(env or {})}
    if not wait:
        return subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
    return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=timeout)


@pytest.mark.slow
@pytest.mark.parametrize("name,precision", [("sec52_bop", "float32"), ("sec52_adam", "float32"),
                                            ("sec52_bop", "mixed_bfloat16")])
def test_two_replicas_compute_what_one_does_for_the_same_global_batch(name, precision,
                                                                      fake_cifar10, tmp_path):
    """Loss averaged over the global batch, each replica fed its half of the same
    examples, batch norm over the global batch: the loss, the weights and the optimizer
    state (Bop's m = gamma * gradient after one step; Adam's moments) agree. A loss
    averaged per replica, replicas fed the same examples, or per-replica batch-norm
    statistics would not. (Only the moving variance differs slightly: one device uses
    the fused kernel, whose running variance has Bessel's correction n/(n-1).)"""
    data_dir, _, _ = fake_cifar10
    out = _python(ONE_VS_TWO, [name, "scale=tiny", f"data_dir={data_dir}", "progress=False",
                               f"precision={precision}"], tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["replicas"] == [1, 2]
    assert result["loss"][0] == pytest.approx(result["loss"][1], rel=1e-6)
    (one, one_seen), (two, two_seen) = result["flips"]
    # each replica's per-layer flip counts (Bop: read from its fused update) are the sign
    # changes seen on the host
    assert one == one_seen and two == two_seen and sum(one) > 0, result["flips"]
    if precision == "float32":
        assert result["weights"] < 1e-5 and result["optimizer"] < 1e-6, result
        assert one == two, result["flips"]
    else:
        # Each replica's gradients are rounded to bfloat16 (8-bit mantissa) before the sum,
        # and the sums run in another order on one device than on two: the slots agree to a
        # few percent of their size (a loss averaged per replica, or replicas fed the same
        # examples, would be off by order one), and a binary weight may differ only where
        # that rounding moved w * m across tau, so Bop decided differently; such weights
        # are rare, and each moves its layer's flip count by one. A batch-norm offset's
        # gradient sums terms that nearly cancel, so its rounding can change it by tens of
        # percent; Adam's first step, lr * g / (|g| + eps), then moves the offset by a
        # slightly different fraction of lr (1e-2): well under a tenth of it, where a
        # step of the wrong sign would differ by twice lr.
        assert result["real_weights"] < 1e-3 and result["optimizer_relative"] < 5e-2, result
        assert result["kernels_differ"] == result["kernels_straddle"], result
        assert sum(result["kernels_differ"]) <= 0.01 * result["kernel_entries"], result
        assert all(abs(a - b) <= d for a, b, d in zip(one, two, result["kernels_differ"])), result
    assert result["moving_variance"] < 1e-2, result
    assert result["slots"][0] == result["slots"][1] > 0


def _free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def _tf_config(ports, index):
    return json.dumps({"cluster": {"worker": [f"127.0.0.1:{p}" for p in ports]},
                       "task": {"type": "worker", "index": index}})


WORKER = textwrap.dedent("""
    import os, signal, sys
    import experiments
    import tensorflow as tf
    kill_after = int(sys.argv[1])  # SIGKILL itself right after this many checkpoints (0: never)
    real = tf.train.CheckpointManager.save
    count = [0]

    def save(self, *args, **kwargs):
        path = real(self, *args, **kwargs)
        count[0] += 1
        if count[0] == kill_after:
            os.kill(os.getpid(), signal.SIGKILL)
        return path

    tf.train.CheckpointManager.save = save
    from experiments.cli import main
    sys.exit(main(sys.argv[2:]))
""")


def _cluster(args, tmp_path, kill_after=0):
    ports = _free_ports(2)
    procs = [_python(WORKER, [str(kill_after), *args], tmp_path, wait=False,
                     env={"TF_CONFIG": _tf_config(ports, i)}) for i in range(2)]
    return [(p.returncode, *p.communicate(timeout=300)) for p in procs] if False else [
        (p, *p.communicate(timeout=300)) for p in procs]


@pytest.mark.slow
def test_two_workers_killed_and_resumed_end_with_identical_states(fake_cifar10, tmp_path):
    data_dir, _, _ = fake_cifar10
    results = tmp_path / "runs"
    args = ["run", "sec52_bop", "scale=tiny", f"data_dir={data_dir}", f"results_dir={results}",
            "distribution=multi_worker", "epochs=2", "deterministic=True", "progress=False",
            "checkpoint_every_steps=2"]
    killed = _cluster(args, tmp_path, kill_after=2)  # epoch 1 done, then step 4 of 6
    assert [p.returncode for p, _, _ in killed] == [-9, -9], [e[-2000:] for _, _, e in killed]
    resumed = _cluster(args, tmp_path)
    assert [p.returncode for p, _, _ in resumed] == [0, 0], [e[-2000:] for _, _, e in resumed]
    digests = [re.findall(r"sha256 ([0-9a-f]{64})", out) for _, out, _ in resumed]
    assert all(len(d) == 1 for d in digests) and digests[0] == digests[1]
    assert all("Resuming from" in out and "(epoch 1, step 3)" in out for _, out, _ in resumed) or \
        all("(epoch 1, step 4)" in out for _, out, _ in resumed)
    (run_dir,) = [os.path.join(results, "sec52_bop", d) for d in os.listdir(results / "sec52_bop")]
    summary = runs.read_json(os.path.join(run_dir, "summary.json"))  # written by the chief only
    assert summary["status"] == "completed" and summary["replicas"] == 2
    assert summary["state_sha256"] == digests[0][0]
    assert [r["epoch"] for r in runs.read_jsonl(os.path.join(run_dir, "metrics.jsonl"))] == [1, 2]
    steps = [r["step"] for r in runs.read_jsonl(os.path.join(run_dir, "flips.jsonl"))]
    assert steps == list(range(1, 7))  # 60 images / 20 per step, 2 epochs: each step once

    # the same two workers never interrupted reach the same state
    straight = _cluster([a.replace(str(results), str(tmp_path / "straight")) for a in args],
                        tmp_path)
    assert [re.findall(r"sha256 ([0-9a-f]{64})", out) for _, out, _ in straight] == digests


@pytest.mark.slow
def test_a_worker_that_never_joins_is_named(fake_cifar10, tmp_path):
    data_dir, _, _ = fake_cifar10
    ports = _free_ports(2)
    start = time.time()
    out = _python(WORKER, ["0", "run", "sec52_bop", "scale=tiny", f"data_dir={data_dir}",
                           f"results_dir={tmp_path / 'runs'}", "cluster_timeout_s=4"],
                  tmp_path, env={"TF_CONFIG": _tf_config(ports, 0)}, timeout=120)
    # nothing can interrupt TensorFlow's blocked constructor: the watchdog says why, then kills
    assert out.returncode == -9, out.stderr[-2000:]
    assert f"not answering: 127.0.0.1:{ports[1]}" in out.stderr
    assert "Start the same command on every machine" in out.stderr
    assert time.time() - start < 60
    assert not (tmp_path / "runs").exists()


@pytest.mark.slow
def test_batch_not_divisible_by_the_replicas_is_refused(fake_cifar10, tmp_path):
    data_dir, _, _ = fake_cifar10
    script = textwrap.dedent("""
        import sys
        import experiments
        import tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        from experiments.cli import main
        sys.exit(main(sys.argv[1:]))
    """)
    out = _python(script, ["run", "sec52_bop", "scale=tiny", f"data_dir={data_dir}",
                           f"results_dir={tmp_path / 'runs'}", "distribution=mirrored",
                           "batch_size=15"], tmp_path)
    assert out.returncode == 2
    assert "batch_size=15 (the global batch) does not split evenly over 2 replicas" in out.stderr
    assert not (tmp_path / "runs").exists()
