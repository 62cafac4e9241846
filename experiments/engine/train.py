"""The one training loop every experiment uses.

Custom rather than ``model.fit`` because the paper needs per-step, per-layer flip counts
(eq. 7) from inside the update, and resumption must restore Bop's momentum ``m``. The
loop is written for ``tf.distribute`` from the start: ``batch_size`` is the global batch,
losses are averaged over it, and the same code runs under the default, mirrored
(multi-GPU) or multi-worker strategy.

Resumption: a checkpoint (model, optimizer with all slots and step counters, epoch and
step, and the running sums of the epoch) is written after every epoch and, optionally,
every N steps or M minutes; re-running the same command restores it and goes on from
that step. Data order and augmentation are pure functions of (seed, epoch), and the
epoch's pipeline starts at the restored step, so a resumed run sees the same batches as
an uninterrupted one.

Data: the dataset component (``exp.dataset``) gives input shape, classes and pipelines;
each input pipeline (one per worker) is built by ``distribute_datasets_from_function``
with per-replica batches, and one global step always consumes the same examples, however
many replicas share it.

Failures: one process at a time holds a run folder (``experiments.locks``); on every
start the logs are cut back to the checkpoint that is restored, so nothing is logged
twice; SIGTERM is handled like Ctrl-C; a diverging loss, and any other exception, end
the run as ``failed`` with the reason in ``summary.json``.
"""
import contextlib
import hashlib
import math
import os
import signal
import sys
import tempfile
import threading
import time
from typing import NamedTuple

import numpy as np
import tensorflow as tf

from experiments import locks
from experiments.engine import precision, runs
from experiments.engine.distribute import is_chief, make_strategy
from experiments.errors import ConfigError, DivergenceError
from experiments.engine.fingerprint import earlier_machines, fingerprint
from experiments.engine.flips import FlipCounter, pi_t, start_xla_quietly, updater_of
from experiments.engine.memory import optimizer_memory, peak_memory
from experiments.optimizers import binary_kernels
from experiments.optimizers.schedules import evaluate

LOG_EVERY_S = 60


class TrainState:
    """Model, optimizer, the epoch's running sums and the compiled step functions of a run.

    Everything a resume needs is in ``checkpoint``: weights, optimizer slots (Bop's m,
    Adam's moments) and step counters (hence schedule positions), the epoch and global
    step, the divergence yardstick, and the epoch so far (loss/accuracy sums, flip
    counts, seconds) so that a run resumed mid-epoch reports the same epoch row.
    """

    def __init__(self, exp, strategy, steps_per_epoch: float):
        start_xla_quietly()  # after the strategy: see its docstring
        self.strategy = strategy
        self._global_batch = exp.batch_size  # losses average over the global batch
        num_classes = exp.dataset.num_classes
        # Layer names are the keys of the flip logs: numbered from 0 in every build (larq-zoo's
        # models are unnamed, so a second model in one process would get other names).
        tf.keras.backend.reset_uids()
        self.scales_loss = precision.scales_loss(exp.precision)
        with strategy.scope():
            with precision.policy(exp.precision):  # layers take the policy when created
                self.model = exp.build_model()
            optimizer, self.schedules = exp.optimizer.build(
                self.model, steps_per_epoch, exp.epochs)
            self.optimizer = precision.wrap(optimizer, exp.precision)
            create_weights(self.optimizer, self.model.trainable_variables)
            self.epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch")
            self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
            # the first step's loss: the yardstick of the divergence check (0 = not yet)
            self.reference_loss = tf.Variable(0.0, dtype=tf.float64, trainable=False,
                                              name="reference_loss")
            self.train_loss = tf.keras.metrics.Mean()
            self.train_acc = tf.keras.metrics.SparseCategoricalAccuracy()
            self.val_loss = tf.keras.metrics.Mean()
            self.val_acc = tf.keras.metrics.SparseCategoricalAccuracy()
            self.val_top5 = tf.keras.metrics.SparseTopKCategoricalAccuracy(
                k=min(5, num_classes))
        if exp.sync_batchnorm and strategy.num_replicas_in_sync > 1:
            synchronize_batchnorm(self.model)
        self.kernels = binary_kernels(self.model)
        self.flip_counter = FlipCounter(precision.inner(self.optimizer), self.kernels)
        self.layer_names = [k.name.split("/")[0] for k in self.kernels]
        self.layer_sizes = np.array([int(np.prod(k.shape)) for k in self.kernels], np.float64)
        self.epoch_flips = tf.Variable(np.zeros(len(self.kernels)), trainable=False,
                                       name="epoch_flips")
        self.epoch_seconds = tf.Variable(0.0, dtype=tf.float64, trainable=False,
                                         name="epoch_seconds")
        self.checkpoint = tf.train.Checkpoint(
            model=self.model, optimizer=self.optimizer, epoch=self.epoch, step=self.step,
            reference_loss=self.reference_loss, train_loss=self.train_loss,
            train_acc=self.train_acc, epoch_flips=self.epoch_flips,
            epoch_seconds=self.epoch_seconds)

        # XLA compiles the replica's step (the iterator and the loop around it stay TF ops)
        self.replica_step = (tf.function(self._step, jit_compile=True) if exp.jit_compile
                             else self._step)
        self.train_steps = tf.function(self._train_steps)
        self.evaluate_all = tf.function(self._evaluate_all)

    def _step(self, images, labels):
        """One replica's step: forward, backward, update, and flips per binary layer."""
        model = self.model
        with tf.GradientTape() as tape:
            probs = model(images, training=True)
            per_example = tf.keras.losses.sparse_categorical_crossentropy(labels, probs)
            loss = tf.nn.compute_average_loss(per_example, global_batch_size=self._global_batch)
            if model.losses:
                loss += tf.nn.scale_regularization_loss(tf.add_n(model.losses))
            scaled = self.optimizer.get_scaled_loss(loss) if self.scales_loss else loss
        variables = model.trainable_variables
        grads = tape.gradient(scaled, variables)
        if self.scales_loss:  # every optimizer sees the true gradients
            grads = self.optimizer.get_unscaled_gradients(grads)
        before = self.flip_counter.before()
        self.optimizer.apply_gradients(zip(grads, variables))
        flips = tf.cast(self.flip_counter.after(before), tf.float64)
        if self.scales_loss:  # a step skipped for non-finite gradients flipped nothing
            finite = tf.reduce_all([tf.reduce_all(tf.math.is_finite(g)) for g in grads])
            flips *= tf.cast(finite, tf.float64)
        self.train_loss.update_state(per_example)
        self.train_acc.update_state(labels, probs)
        return flips, loss

    def _train_steps(self, iterator, n):
        """``n`` steps in one compiled call; per-step flip counts and losses come back
        stacked, so the host reads them once per call, not once per step; the epoch's flip
        sums are added up here, on the device."""
        flips_ta = tf.TensorArray(tf.float64, size=n)
        loss_ta = tf.TensorArray(tf.float32, size=n)
        for i in tf.range(n):
            flips, loss = self.strategy.run(self.replica_step, args=next(iterator))
            # Variables are mirrored, so every replica counts the same flips.
            flips = self.strategy.reduce(tf.distribute.ReduceOp.MEAN, flips, axis=None)
            loss = self.strategy.reduce(tf.distribute.ReduceOp.SUM, loss, axis=None)
            flips_ta = flips_ta.write(i, flips)
            loss_ta = loss_ta.write(i, loss)
            self.step.assign_add(1)
        flips = flips_ta.stack()
        self.epoch_flips.assign_add(tf.reduce_sum(flips, axis=0))  # on the device: no host op
        return flips, loss_ta.stack()

    def _eval_step(self, images, labels):
        probs = self.model(images, training=False)
        self.val_loss.update_state(tf.keras.losses.sparse_categorical_crossentropy(labels, probs))
        self.val_acc.update_state(labels, probs)
        self.val_top5.update_state(labels, probs)

    def _evaluate_all(self, dataset):
        for images, labels in dataset:
            self.strategy.run(self._eval_step, args=(images, labels))

    def digest(self) -> str:
        """sha256 of every model and optimizer variable: equal digests, equal states
        (compared across workers and between interrupted and uninterrupted runs)."""
        def one(v):
            value = np.ascontiguousarray(v.numpy())
            return hashlib.sha256(str(value.shape).encode() + value.tobytes()).hexdigest()

        # the model's variables in layer order; the optimizer's as a sorted set, since a
        # restored optimizer creates its slots in another order (and under other names)
        parts = [one(v) for v in self.model.weights] + sorted(one(v) for v in self.optimizer.weights)
        return hashlib.sha256("".join(parts).encode()).hexdigest()


def create_weights(optimizer, variables) -> None:
    """Create the optimizer's variables (step counters, hyperparameters, slots such as
    Bop's m) now, as the first ``apply_gradients`` would. A compiled function whose first
    call creates variables is traced a second time, so this halves the tracing of every
    run. Under larq's ``CaseOptimizer`` each variable's slots go to the optimizer that will
    update it (``updater_of``); an optimizer without Keras 2's ``_create_all_weights``
    is left to create its own at its first step."""
    optimizer = precision.inner(optimizer)
    _ = optimizer.iterations
    groups = {}
    for variable in variables:
        updater = updater_of(optimizer, variable)
        groups.setdefault(id(updater), (updater, []))[1].append(variable)
    for updater, owned in groups.values():
        if updater is not optimizer and hasattr(updater, "pred_opt_pairs"):
            create_weights(updater, owned)  # a CaseOptimizer inside a CaseOptimizer
        elif hasattr(updater, "_create_all_weights"):
            updater._create_all_weights(owned)


def synchronize_batchnorm(model) -> int:
    """Batch norm over the global batch: every replica normalises with the statistics of
    all replicas' examples, so N replicas compute what one device does for the same
    global batch (``batch_size`` means the same on 1 or 8 GPUs). The fused kernel cannot
    synchronise, so it is switched off for these layers. Returns how many were changed."""
    layers = [layer for layer in model.submodules
              if isinstance(layer, tf.keras.layers.BatchNormalization)]
    for layer in layers:
        layer.synchronized = True
        layer.fused = False
    return len(layers)


def prepare_data(exp):
    """Prepared builder, split names, training-set size and steps per epoch of a run.

    ``build`` checked the plan from metadata before any preparation; ``plan_data`` checks
    it again here, from the prepared dataset's own metadata."""
    builder = exp.dataset.prepare(os.path.expanduser(exp.data_dir))
    plan = exp.plan_data()
    n_train = exp.dataset.num_examples(builder, plan.train_split)
    return builder, plan.train_split, plan.val_split, n_train, n_train // exp.batch_size


def train_iterator(exp, strategy, builder, split, epoch, skip_batches=0):
    """The distributed iterator over one epoch, from ``skip_batches`` global steps in."""
    def dataset_fn(input_context):
        return exp.dataset.train_dataset(builder, split, exp.batch_size, exp.seed, epoch,
                                         skip_batches=skip_batches, input_context=input_context)
    return iter(strategy.distribute_datasets_from_function(dataset_fn))


def eval_data(exp, strategy, builder, split):
    def dataset_fn(input_context):
        return exp.dataset.eval_dataset(builder, split, exp.batch_size,
                                        input_context=input_context)
    return strategy.distribute_datasets_from_function(dataset_fn)


class Progress:
    """What the latest checkpoint holds, for messages and for cutting the logs back:
    read from the checkpoint files themselves (``ckpt-<global step>``), so an interrupt
    that lands right after a save still counts that save."""

    def __init__(self, steps_per_epoch: int):
        self.steps_per_epoch = steps_per_epoch
        self.manager = None
        self.restored = 0

    @property
    def step(self) -> int:
        latest = self.manager.latest_checkpoint if self.manager else None
        return int(latest.rsplit("-", 1)[1]) if latest else self.restored

    def kept(self) -> str:
        if not self.step:
            return "There is no checkpoint yet, so a re-run starts from scratch."
        epochs, within = divmod(self.step, self.steps_per_epoch)
        where = f"{epochs} epochs" + (f" and {within} steps" if within else "")
        return f"The checkpoint at step {self.step} ({where} done) is kept."


def _cut_logs(run_dir: str, step: int) -> None:
    """Drop log rows of steps after ``step`` (the checkpoint a resume starts from)."""
    for name in ("metrics.jsonl", "flips.jsonl"):
        runs.truncate_jsonl(os.path.join(run_dir, name), lambda row: row["step"] <= step)


def _resume(state, manager, run_dir, restore_dir, chief) -> int:
    """Restore the newest checkpoint (if any) and cut the logs back to its step, so a
    run that died anywhere - before its first checkpoint included - logs no epoch or
    step twice. Workers other than the chief restore the chief's checkpoint. Returns
    the restored global step."""
    latest = tf.train.latest_checkpoint(restore_dir)
    step = 0
    if latest:
        state.checkpoint.restore(latest).assert_existing_objects_matched()
        step = int(state.step.numpy())
        print(f"Resuming from {latest} (epoch {int(state.epoch.numpy())}, step {step})")
    if chief:
        _cut_logs(run_dir, step)
    return step


def _summary(exp, run_dir, status, started, extra=None) -> dict:
    rows = runs.read_jsonl(os.path.join(run_dir, "metrics.jsonl"))
    best = max(rows, key=lambda r: r["val_accuracy"]) if rows else None
    summary = {
        "experiment": exp.name,
        "section": exp.section,
        "run_id": exp.run_name(),
        "status": status,
        "scale": exp.scale,
        "dataset": type(exp.dataset).__name__,
        "epochs_done": len(rows),
        "epochs_planned": exp.epochs,
        "validation_split": exp.validation,
        "final_val_accuracy": rows[-1]["val_accuracy"] if rows else None,
        "final_val_top5_accuracy": rows[-1].get("val_top5_accuracy") if rows else None,
        "final_train_accuracy": rows[-1]["train_accuracy"] if rows else None,
        "best_val_accuracy": best["val_accuracy"] if best else None,
        "best_epoch": best["epoch"] if best else None,
        "wall_time_s": round(sum(r["epoch_time_s"] for r in rows), 1),
        "started": started,
        "updated": runs.now(),
    }
    summary.update(extra or {})
    runs.write_json(os.path.join(run_dir, "summary.json"), summary)
    return summary


def _record_end(exp, run_dir, status, started, extra, saved_step: int) -> bool:
    """Record how a run ended, its logs cut back to its last checkpoint so that the
    folder states what a resume will start from. Best effort: a full disk may refuse
    these writes too; then the summary keeps saying ``running``, and readers see from
    the released claim that no process runs it."""
    try:
        _cut_logs(run_dir, saved_step)
        _summary(exp, run_dir, status, started, extra)
        return True
    except Exception as e:  # noqa: BLE001 -- the original error matters more
        print(f"warning: could not record status {status!r} in {run_dir}/summary.json: "
              f"{type(e).__name__}: {e}", file=sys.stderr)
        return False


_SUMMARY_FIX = ("It is rewritten after every epoch: delete it and re-run the same command "
                "(the run resumes from its checkpoint and writes it again).")


def _existing_run(run_dir: str, config: dict):
    """Refuse a folder holding another config; return its summary if it is complete.
    Reads only: nothing is written before the run's folder is claimed."""
    config_path = os.path.join(run_dir, "config.json")
    summary_path = os.path.join(run_dir, "summary.json")
    if os.path.exists(config_path):
        old = runs.semantic(runs.read_json(
            config_path, fix="Remove the run folder to start the run again."))
        new = runs.semantic(config)
        changed = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
        if changed:
            raise ConfigError(
                f"{run_dir} holds a run with a different config ({', '.join(changed)}); "
                "choose another run_id= or remove that folder")
    if os.path.exists(summary_path):
        previous = runs.read_json(summary_path, fix=_SUMMARY_FIX)
        if previous.get("status") == "completed":
            return previous
    return None


@contextlib.contextmanager
def sigterm_as_interrupt():
    """Handle SIGTERM (what cluster schedulers send before a kill) like Ctrl-C."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise KeyboardInterrupt("SIGTERM")

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def train(exp) -> dict:
    """Run (or resume, or skip if finished) one experiment; return its summary."""
    if not os.path.exists(os.path.join(exp.run_dir(), "summary.json")):
        exp.dataset.check_source(os.path.expanduser(exp.data_dir))  # said before anything starts
    # first: multi-worker set-up must precede ops
    strategy = make_strategy(exp.distribution, exp.cluster_timeout_s)
    replicas = strategy.num_replicas_in_sync
    if exp.batch_size % replicas:
        raise ConfigError(
            f"batch_size={exp.batch_size} (the global batch) does not split evenly over "
            f"{replicas} replicas; use a multiple of {replicas}")
    chief = is_chief(strategy)
    precision.warn_if_emulated(exp.precision, fingerprint())
    run_dir = exp.run_dir() if chief else tempfile.mkdtemp(prefix="bnn_worker_")
    config = exp.resolved_config()
    finished = _existing_run(exp.run_dir(), config)
    if finished:
        print(f"{exp.name}: already completed in {exp.run_dir()}, skipping "
              f"(val accuracy {finished['final_val_accuracy']:.4f})")
        return finished

    tf.keras.utils.set_random_seed(exp.seed)
    if exp.deterministic:
        tf.config.experimental.enable_op_determinism()
    prepared = prepare_data(exp)
    os.makedirs(run_dir, exist_ok=True)
    with locks.run_claim(run_dir) as claim, sigterm_as_interrupt():
        if claim.took_over:
            print(f"{run_dir}: taking over from {locks.describe(claim.took_over)}, "
                  f"which ended without releasing it")
        if chief:
            finished = _existing_run(run_dir, config)  # finished while data was prepared?
            if finished:
                return finished
            runs.write_json(os.path.join(run_dir, "config.json"), config)
        return _train_claimed(exp, strategy, run_dir, chief, *prepared)


def _train_claimed(exp, strategy, run_dir, chief, builder, train_split, val_split, n_train,
                   steps_per_epoch) -> dict:
    summary_path = os.path.join(run_dir, "summary.json")
    previous = runs.read_json(summary_path, fix=_SUMMARY_FIX) if os.path.exists(summary_path) else {}
    started = previous.get("started") or runs.now()
    # Provenance is taken when this process starts (the code that actually runs); a
    # resumed run lists every commit that contributed epochs to it.
    git = runs.git_commit()
    commits = [c for c in previous.get("git_commits", []) if c != git["commit"]] + [git["commit"]]
    here = fingerprint()
    extra = {"git": git, "git_commits": commits, "hardware": here,
             "packages": runs.package_versions(),
             "train_split": train_split, "val_split": val_split, "train_examples": n_train,
             "steps_per_epoch": steps_per_epoch, "global_batch_size": exp.batch_size}
    if earlier := earlier_machines(previous, here):  # resumed on another kind of machine
        extra["hardware_earlier"] = earlier
    progress = Progress(steps_per_epoch)
    try:
        # schedules count in exact epochs of n_train / batch images (the authors'
        # `epochs * n // batch` decay steps), the loop in whole steps per epoch
        state = TrainState(exp, strategy, n_train / exp.batch_size)
        extra.update({
            "replicas": strategy.num_replicas_in_sync,
            "binary_layer_order": state.layer_names,
            "binary_layers": dict(zip(state.layer_names, state.layer_sizes.astype(int).tolist()))})
        manager = tf.train.CheckpointManager(
            state.checkpoint, os.path.join(run_dir, "checkpoints"), max_to_keep=2)
        progress.restored = _resume(state, manager, run_dir,
                                    os.path.join(exp.run_dir(), "checkpoints"), chief)
        progress.manager = manager
        writer = (tf.summary.create_file_writer(os.path.join(run_dir, "tensorboard"))
                  if exp.tensorboard and chief else tf.summary.create_noop_writer())
        evaluation = eval_data(exp, strategy, builder, val_split)
        print(f"{exp.name} [{exp.scale} scale] -> {run_dir}\n  {n_train} training images "
              f"({train_split}), validation on {val_split}, {steps_per_epoch} steps/epoch, "
              f"{exp.epochs} epochs, {strategy.num_replicas_in_sync} replica(s)")

        def save(flip_rows, epoch_row=None):
            """Log the steps (and the finished epoch) since the last save, then
            checkpoint: logs never run ahead of a checkpoint by more than what the next
            start cuts back."""
            runs.append_jsonl(os.path.join(run_dir, "flips.jsonl"), flip_rows)
            _write_flips(writer, flip_rows)
            if epoch_row is not None:
                runs.append_jsonl(os.path.join(run_dir, "metrics.jsonl"), [epoch_row])
                state.epoch.assign(epoch_row["epoch"])
            manager.save(checkpoint_number=int(state.step.numpy()))

        for epoch in range(int(state.epoch.numpy()), exp.epochs):
            row, flip_rows = _train_epoch(exp, state, builder, train_split, epoch,
                                          steps_per_epoch, evaluation, writer, save, progress)
            save(flip_rows, row)
            # the optimizer's slots exist from the first step on
            extra["memory"] = {**optimizer_memory(state.optimizer, state.model),
                               **peak_memory()}
            if chief:
                _summary(exp, run_dir, "running", started, extra)
        if exp.final_test:  # after every epoch is saved: a kill here re-runs only this
            extra.update(_final_test(exp, state, strategy, builder))
    except DivergenceError as e:
        _record_end(exp, run_dir, "failed", started, {**extra, "error": str(e)}, progress.step)
        raise
    except KeyboardInterrupt as e:
        _record_end(exp, run_dir, "interrupted", started,
                    {**extra, "error": f"interrupted ({e or 'Ctrl-C'})"}, progress.step)
        print(f"\n{exp.name}: interrupted; {progress.kept()} Re-run the same command to resume.",
              file=sys.stderr)
        raise
    except Exception as e:
        recorded = _record_end(exp, run_dir, "failed", started,
                               {**extra, "error": f"{type(e).__name__}: {e}"}, progress.step)
        where = f"marked `failed` in {summary_path}" if recorded else "could not be recorded"
        print(f"\n{exp.name}: failed ({type(e).__name__}); {where}. {progress.kept()} Once "
              "the cause is fixed, re-run the same command to resume.", file=sys.stderr)
        raise
    digest = state.digest()
    print(f"final weights and optimizer state: sha256 {digest}")
    return _summary(exp, run_dir, "completed", started, {**extra, "state_sha256": digest})


def _final_test(exp, state, strategy, builder) -> dict:
    """One evaluation of the dataset's test split after the last epoch, for runs that
    validate on a holdout (tuning): the test set is seen once, by the finished model,
    and nothing is chosen from it (``experiments.engine.tuning`` picks on the holdout)."""
    split = exp.dataset.eval_split
    for metric in (state.val_loss, state.val_acc, state.val_top5):
        metric.reset_state()
    # the optimizer's weights to evaluate with (optimizers/base.py), the training ones after
    with exp.optimizer.evaluation_weights(state.model, precision.inner(state.optimizer)):
        state.evaluate_all(eval_data(exp, strategy, builder, split))
    result = {"test_split": split, "test_loss": float(state.val_loss.result()),
              "test_accuracy": float(state.val_acc.result()),
              "test_top5_accuracy": float(state.val_top5.result())}
    print(f"final test ({split}): acc {result['test_accuracy']:.4f}  "
          f"loss {result['test_loss']:.4f}")
    return result


def _kept(epochs_done: int) -> str:
    if epochs_done:
        return f"The checkpoint of epoch {epochs_done} is kept."
    return "No epoch had finished, so there is no checkpoint yet: a re-run starts from scratch."


def check_losses(losses, first_step: int, reference: float, factor: float, epoch: int,
                 name: str, kept=None) -> None:
    """Raise ``DivergenceError`` at the first step whose loss is non-finite, or larger
    than ``factor`` times the ``reference`` (first-step) loss when ``factor`` > 0.
    ``kept()`` says which checkpoint survives (only called for the message)."""
    losses = np.asarray(losses, dtype=np.float64)
    bound = factor * reference if factor > 0 and reference > 0 else math.inf
    bad = ~np.isfinite(losses) | (losses > bound)
    if not bad.any():
        return
    i = int(np.argmax(bad))
    why = ("became" if not np.isfinite(losses[i]) else
           f"exceeded {factor:g} x the first step's loss {reference:.4g}:")
    raise DivergenceError(
        f"{name}: the training loss {why} {losses[i]:.4g} at epoch {epoch + 1}, step "
        f"{first_step + i}. {kept() if kept else _kept(epoch)} Lower the learning rate (optimizer.lr / "
        "optimizer.real_lr) or gamma, which starts a new run folder (re-running the same "
        "command would resume and diverge again); divergence_factor= sets the bound.")


def _write_flips(writer, flip_rows) -> None:
    with writer.as_default():
        for flip_row in flip_rows:
            for name, value in flip_row["pi_t"].items():
                tf.summary.scalar(f"pi_t/{name}", value, step=flip_row["step"])


def flip_log_rows(state, flips, first_step: int, interval: int, epoch: int) -> list:
    """``flips.jsonl`` rows of one ``train_steps`` call (``flips[i]`` is step
    ``first_step + i``): the steps that are multiples of ``interval``, with per-layer
    counts and the paper's pi_t."""
    rows = []
    for i in range(len(flips)):
        if (first_step + i) % interval == 0:
            values = pi_t(flips[i], state.layer_sizes)
            rows.append({
                "epoch": epoch + 1, "step": first_step + i,
                "flips": dict(zip(state.layer_names, flips[i].astype(int).tolist())),
                "pi_t": dict(zip(state.layer_names, np.round(values, 5).tolist())),
            })
    return rows


class HostCursor:
    """The host's copies of what the loop needs between compiled calls - the global step
    and the divergence yardstick (the first step's loss) - so no step reads the device
    for them."""

    def __init__(self, state):
        self.step = int(state.step.numpy())
        self.reference = float(state.reference_loss.numpy())


class Call(NamedTuple):
    """What one :func:`train_call` returns: per-step flips (steps x binary layers) and
    losses, and the call's ``flips.jsonl`` rows."""
    flips: np.ndarray
    losses: np.ndarray
    rows: list


def train_call(exp, state, iterator, n: int, epoch: int, cursor: HostCursor, kept=None) -> Call:
    """One compiled call of ``n`` training steps and the host work after it: the one
    step of the loop, which ``make bench`` and ``make gpu-check`` time as it is. Reads the
    per-step flips and losses back (once per call), sets the divergence yardstick from
    the first finite loss, checks every loss (``check_losses``; ``kept()`` names the
    surviving checkpoint) and makes the call's ``flips.jsonl`` rows. ``cursor`` moves on
    by ``n`` steps."""
    flips, losses = state.train_steps(iterator, tf.constant(n))
    flips, losses = flips.numpy(), losses.numpy()
    first_step, cursor.step = cursor.step + 1, cursor.step + n
    if cursor.reference == 0.0 and np.isfinite(losses[0]):
        cursor.reference = float(losses[0])
        state.reference_loss.assign(cursor.reference)
    check_losses(losses, first_step, cursor.reference, exp.divergence_factor, epoch, exp.name,
                 kept)
    return Call(flips, losses, flip_log_rows(state, flips, first_step, exp.flip_log_interval,
                                             epoch))


def _train_epoch(exp, state, builder, train_split, epoch, steps_per_epoch, evaluation, writer,
                 save, progress):
    """Train (the rest of) one epoch and evaluate; ``save(flip_rows)`` is called for the
    step checkpoints within it. Returns the epoch's metrics row and its unsaved flip rows."""
    strategy = state.strategy
    step = int(state.step.numpy())  # the global step, kept on the host from here on
    done = step - epoch * steps_per_epoch  # > 0: resumed mid-epoch
    if done == 0:
        for metric in (state.train_loss, state.train_acc):
            metric.reset_state()
        state.epoch_flips.assign(np.zeros(len(state.kernels)))
        state.epoch_seconds.assign(0.0)
    for metric in (state.val_loss, state.val_acc, state.val_top5):
        metric.reset_state()
    iterator = train_iterator(exp, strategy, builder, train_split, epoch, skip_batches=done)
    # A live bar on a terminal; in a log file, a line every LOG_EVERY_S seconds instead.
    interactive = exp.progress and sys.stdout.isatty()
    progbar = tf.keras.utils.Progbar(
        steps_per_epoch, stateful_metrics=["loss", "accuracy"], verbose=int(interactive))
    flip_rows = []
    start = last_log = last_save = segment = time.time()
    first_done = done
    every_steps = exp.checkpoint_every_steps
    every_s = 60 * exp.checkpoint_every_minutes
    cursor = HostCursor(state)
    while done < steps_per_epoch:
        n = min(exp.steps_per_loop, steps_per_epoch - done)
        if every_steps:  # stop at the next multiple of checkpoint_every_steps
            n = min(n, every_steps - cursor.step % every_steps)
        flip_rows += train_call(exp, state, iterator, n, epoch, cursor, progress.kept).rows
        step = cursor.step
        done += n
        now = time.time()
        if interactive:  # the running metrics are read from the device only when shown
            progbar.update(done, [("loss", float(state.train_loss.result())),
                                  ("accuracy", float(state.train_acc.result()))])
        if exp.progress and not interactive and now - last_log > LOG_EVERY_S:
            last_log = now
            loss, accuracy = float(state.train_loss.result()), float(state.train_acc.result())
            rate = (done - first_done) * exp.batch_size / (now - start)
            print(f"  epoch {epoch + 1} step {done}/{steps_per_epoch}  loss {loss:.4f}  "
                  f"acc {accuracy:.4f}  {rate:.0f} images/s", flush=True)
        step_due = every_steps and step % every_steps == 0
        time_due = every_s and now - last_save >= every_s
        if done < steps_per_epoch and (step_due or time_due):
            state.epoch_seconds.assign_add(now - segment)
            segment = last_save = now
            save(flip_rows)
            flip_rows = []
    train_time = time.time() - start
    # the optimizer's weights to evaluate with (optimizers/base.py), the training ones after
    with exp.optimizer.evaluation_weights(state.model, precision.inner(state.optimizer)):
        state.evaluate_all(evaluation)
    kept = progress.kept()
    for key, metric in (("training", state.train_loss), ("validation", state.val_loss)):
        if not math.isfinite(float(metric.result())):
            raise DivergenceError(
                f"{exp.name}: the mean {key} loss of epoch {epoch + 1} is "
                f"{float(metric.result())} (step {step}). {kept} Lower the learning "
                "rate or gamma (a new run folder).")
    ratios = state.epoch_flips.numpy() / (state.layer_sizes * steps_per_epoch)
    row = {
        "epoch": epoch + 1,
        "step": step,
        "train_loss": float(state.train_loss.result()),
        "train_accuracy": float(state.train_acc.result()),
        "val_loss": float(state.val_loss.result()),
        "val_accuracy": float(state.val_acc.result()),
        "val_top5_accuracy": float(state.val_top5.result()),
        "flip_ratio": dict(zip(state.layer_names, ratios.tolist())),
        "log_flip_ratio": dict(zip(state.layer_names, pi_t(ratios, 1.0).round(5).tolist())),
        "hyperparameters": {k: evaluate(s, step) for k, s in state.schedules.items()},
        "epoch_time_s": round(float(state.epoch_seconds.numpy()) + time.time() - segment, 2),
        "train_images_per_s": round((done - first_done) * exp.batch_size / train_time, 1)
        if done > first_done else None,
    }
    with writer.as_default():
        for key in ("train_loss", "train_accuracy", "val_loss", "val_accuracy",
                    "val_top5_accuracy"):
            tf.summary.scalar(key, row[key], step=step)
        for key, value in row["hyperparameters"].items():
            tf.summary.scalar(f"hyperparameters/{key}", value, step=step)
        for name, ratio in row["flip_ratio"].items():
            tf.summary.scalar(f"flip_ratio/{name}", ratio, step=step)
    writer.flush()
    last = state.layer_names[-1]
    print(f"epoch {epoch + 1}/{exp.epochs}  loss {row['train_loss']:.4f}  "
          f"acc {row['train_accuracy']:.4f}  val_loss {row['val_loss']:.4f}  "
          f"val_acc {row['val_accuracy']:.4f}  top5 {row['val_top5_accuracy']:.4f}  "
          f"flip_ratio[{last}] {row['flip_ratio'][last]:.2e}  {row['epoch_time_s']:.0f}s",
          flush=True)
    return row, flip_rows
