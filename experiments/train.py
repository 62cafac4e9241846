"""The one training loop every experiment uses.

Custom rather than ``model.fit`` because the paper needs per-step, per-layer flip counts
(eq. 7) from inside the update, and resumption must restore Bop's momentum ``m``. The
loop is written for ``tf.distribute`` from the start: ``batch_size`` is the global batch,
losses are averaged over it, and the same code runs under the default, mirrored
(multi-GPU) or multi-worker strategy.

Resumption: a checkpoint (model, optimizer with all slots and step counters, epoch and
step) is written after every epoch; re-running the same command restores it and goes
on. Data order and augmentation are pure functions of (seed, epoch), so a resumed run
sees the same batches as an uninterrupted one.

Failures: one process at a time holds a run folder (``experiments.locks``); on every
start the logs are cut back to the checkpoint that is restored, so nothing is logged
twice; SIGTERM is handled like Ctrl-C; a diverging loss, and any other exception, end
the run as ``failed`` with the reason in ``summary.json``.
"""
import contextlib
import math
import os
import signal
import sys
import tempfile
import threading
import time

from experiments import _keras2  # noqa: F401
import numpy as np
import tensorflow as tf

from experiments import data, locks, runs
from experiments.errors import ConfigError, DivergenceError
from experiments.flips import count_flips, pi_t, sign_bits
from experiments.optimizers import binary_kernels
from experiments.schedules import evaluate

INPUT_SHAPE = (32, 32, 3)
NUM_CLASSES = 10
LOG_EVERY_S = 60


def make_strategy(name: str) -> tf.distribute.Strategy:
    """``mirrored``: all local GPUs; ``multi_worker``: the cluster in ``TF_CONFIG``."""
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi_worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    return tf.distribute.get_strategy()


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


class TrainState:
    """Model, optimizer and the compiled step functions of one run."""

    def __init__(self, exp, strategy, steps_per_epoch: int):
        self.strategy = strategy
        self._global_batch = exp.batch_size  # losses average over the global batch
        with strategy.scope():
            self.model = exp.model.build(
                input_shape=INPUT_SHAPE, num_classes=NUM_CLASSES,
                kernel_quantizer=exp.optimizer.kernel_quantizer(),
                kernel_constraint=exp.optimizer.kernel_constraint(),
            )
            self.optimizer, self.schedules = exp.optimizer.build(
                self.model, steps_per_epoch, exp.epochs)
            self.epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch")
            self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
            # the first step's loss: the yardstick of the divergence check (0 = not yet)
            self.reference_loss = tf.Variable(0.0, dtype=tf.float64, trainable=False,
                                              name="reference_loss")
            self.train_loss = tf.keras.metrics.Mean()
            self.train_acc = tf.keras.metrics.SparseCategoricalAccuracy()
            self.val_loss = tf.keras.metrics.Mean()
            self.val_acc = tf.keras.metrics.SparseCategoricalAccuracy()
        self.kernels = binary_kernels(self.model)
        self.layer_names = [k.name.split("/")[0] for k in self.kernels]
        self.layer_sizes = np.array([int(np.prod(k.shape)) for k in self.kernels], np.float64)
        self.checkpoint = tf.train.Checkpoint(
            model=self.model, optimizer=self.optimizer, epoch=self.epoch, step=self.step,
            reference_loss=self.reference_loss)

        self.train_steps = tf.function(self._train_steps)
        self.evaluate_all = tf.function(self._evaluate_all)

    def _step(self, images, labels):
        """One replica's step: forward, backward, update, and flips per binary layer."""
        model, kernels = self.model, self.kernels
        with tf.GradientTape() as tape:
            probs = model(images, training=True)
            per_example = tf.keras.losses.sparse_categorical_crossentropy(labels, probs)
            loss = tf.nn.compute_average_loss(per_example, global_batch_size=self._global_batch)
            if model.losses:
                loss += tf.nn.scale_regularization_loss(tf.add_n(model.losses))
        variables = model.trainable_variables
        grads = tape.gradient(loss, variables)
        before = [sign_bits(k) for k in kernels]
        self.optimizer.apply_gradients(zip(grads, variables))
        flips = tf.stack([count_flips(b, k) for b, k in zip(before, kernels)])
        self.train_loss.update_state(per_example)
        self.train_acc.update_state(labels, probs)
        return flips, loss

    def _train_steps(self, iterator, n):
        """``n`` steps in one compiled call; per-step flip counts and losses come back
        stacked, so the host reads them once per call, not once per step."""
        flips_ta = tf.TensorArray(tf.float32, size=n)
        loss_ta = tf.TensorArray(tf.float32, size=n)
        for i in tf.range(n):
            flips, loss = self.strategy.run(self._step, args=next(iterator))
            # Variables are mirrored, so every replica counts the same flips.
            flips = self.strategy.reduce(tf.distribute.ReduceOp.MEAN, flips, axis=None)
            loss = self.strategy.reduce(tf.distribute.ReduceOp.SUM, loss, axis=None)
            flips_ta = flips_ta.write(i, flips)
            loss_ta = loss_ta.write(i, loss)
            self.step.assign_add(1)
        return flips_ta.stack(), loss_ta.stack()

    def _eval_step(self, images, labels):
        probs = self.model(images, training=False)
        self.val_loss.update_state(tf.keras.losses.sparse_categorical_crossentropy(labels, probs))
        self.val_acc.update_state(labels, probs)

    def _evaluate_all(self, dataset):
        for images, labels in dataset:
            self.strategy.run(self._eval_step, args=(images, labels))


def prepare_data(exp):
    """Prepared builder, split names, training-set size and steps per epoch of a run.

    The plan is checked from metadata before preparation (``exp.plan_data``) and again
    from the prepared dataset's own metadata afterwards."""
    exp.plan_data()
    builder = data.load_cifar10_builder(
        os.path.expanduser(exp.data_dir),
        archive=os.path.expanduser(exp.cifar10_archive) if exp.cifar10_archive else None,
    )
    plan = exp.plan_data()
    n_train = data.num_examples(builder, plan.train_split)
    steps_per_epoch = n_train // exp.batch_size
    if steps_per_epoch < 1:
        raise ConfigError(
            f"batch_size={exp.batch_size} is larger than the {n_train} training images of "
            f"split {plan.train_split!r}; lower batch_size or raise train_subset")
    return builder, plan.train_split, plan.val_split, n_train, steps_per_epoch


def _resume(state, manager, run_dir) -> int:
    """Restore the newest checkpoint (if any) and cut the logs back to it, so a run that
    died anywhere - before its first checkpoint included - logs no epoch or step twice.
    Returns the number of epochs done."""
    done = 0
    if manager.latest_checkpoint:
        state.checkpoint.restore(manager.latest_checkpoint).assert_existing_objects_matched()
        done = int(state.epoch.numpy())
        print(f"Resuming from {manager.latest_checkpoint} (epoch {done}, "
              f"step {int(state.step.numpy())})")
    for name in ("metrics.jsonl", "flips.jsonl"):
        runs.truncate_jsonl(os.path.join(run_dir, name), lambda row: row["epoch"] <= done)
    return done


def _summary(exp, run_dir, status, started, extra=None) -> dict:
    rows = runs.read_jsonl(os.path.join(run_dir, "metrics.jsonl"))
    best = max(rows, key=lambda r: r["val_accuracy"]) if rows else None
    summary = {
        "experiment": exp.name,
        "section": exp.section,
        "run_id": exp.run_name(),
        "status": status,
        "scale": exp.scale,
        "epochs_done": len(rows),
        "epochs_planned": exp.epochs,
        "validation_split": exp.validation,
        "final_val_accuracy": rows[-1]["val_accuracy"] if rows else None,
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


def _record_end(exp, run_dir, status, started, extra, done: int) -> bool:
    """Record how a run ended, its logs cut back to its last checkpoint (``done`` epochs)
    so that the folder states what a resume will start from. Best effort: a full disk may
    refuse these writes too; then the summary keeps saying ``running``, and readers see
    from the released claim that no process runs it."""
    try:
        for name in ("metrics.jsonl", "flips.jsonl"):
            runs.truncate_jsonl(os.path.join(run_dir, name), lambda row: row["epoch"] <= done)
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
        old = runs.read_json(config_path, fix="Remove the run folder to start the run again.")
        changed = sorted(k for k in set(old) | set(config)
                         if k not in runs.NON_SEMANTIC and old.get(k) != config.get(k))
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
    strategy = make_strategy(exp.distribution)  # first: multi-worker set-up must precede ops
    run_dir = exp.run_dir() if is_chief(strategy) else tempfile.mkdtemp(prefix="bnn_worker_")
    config = exp.resolved_config()
    finished = _existing_run(run_dir, config)
    if finished:
        print(f"{exp.name}: already completed in {run_dir}, skipping "
              f"(val accuracy {finished['final_val_accuracy']:.4f})")
        return finished

    tf.keras.utils.set_random_seed(exp.seed)
    if exp.deterministic:
        tf.config.experimental.enable_op_determinism()
    prepared = prepare_data(exp)
    os.makedirs(run_dir, exist_ok=True)
    with locks.run_claim(run_dir) as claim, sigterm_as_interrupt():
        if claim.took_over:
            print(f"{run_dir}: taking over from {locks.describe_holder(claim.path)}, "
                  f"which ended without releasing it")
        finished = _existing_run(run_dir, config)  # finished while we prepared the data?
        if finished:
            return finished
        runs.write_json(os.path.join(run_dir, "config.json"), config)
        return _train_claimed(exp, strategy, run_dir, *prepared)


def _train_claimed(exp, strategy, run_dir, builder, train_split, val_split, n_train,
                   steps_per_epoch) -> dict:
    summary_path = os.path.join(run_dir, "summary.json")
    previous = runs.read_json(summary_path, fix=_SUMMARY_FIX) if os.path.exists(summary_path) else {}
    started = previous.get("started") or runs.now()
    # Provenance is taken when this process starts (the code that actually runs); a
    # resumed run lists every commit that contributed epochs to it.
    git = runs.git_commit()
    commits = [c for c in previous.get("git_commits", []) if c != git["commit"]] + [git["commit"]]
    extra = {"git": git, "git_commits": commits, "hardware": runs.hardware(),
             "packages": runs.package_versions(),
             "train_split": train_split, "val_split": val_split, "train_examples": n_train,
             "steps_per_epoch": steps_per_epoch, "global_batch_size": exp.batch_size}
    done = 0
    try:
        state = TrainState(exp, strategy, steps_per_epoch)
        extra.update({
            "replicas": strategy.num_replicas_in_sync,
            "binary_layer_order": state.layer_names,
            "binary_layers": dict(zip(state.layer_names, state.layer_sizes.astype(int).tolist()))})
        manager = tf.train.CheckpointManager(
            state.checkpoint, os.path.join(run_dir, "checkpoints"), max_to_keep=2)
        done = _resume(state, manager, run_dir)
        writer = (tf.summary.create_file_writer(os.path.join(run_dir, "tensorboard"))
                  if exp.tensorboard else tf.summary.create_noop_writer())
        eval_data = strategy.experimental_distribute_dataset(
            data.eval_dataset(builder, val_split, exp.batch_size))
        print(f"{exp.name} [{exp.scale} scale] -> {run_dir}\n  {n_train} training images "
              f"({train_split}), validation on {val_split}, {steps_per_epoch} steps/epoch, "
              f"{exp.epochs} epochs, {strategy.num_replicas_in_sync} replica(s)")
        for epoch in range(done, exp.epochs):
            row, flip_rows = _train_epoch(exp, state, builder, train_split, epoch,
                                          steps_per_epoch, eval_data, writer)
            runs.append_jsonl(os.path.join(run_dir, "flips.jsonl"), flip_rows)
            runs.append_jsonl(os.path.join(run_dir, "metrics.jsonl"), [row])
            state.epoch.assign(epoch + 1)
            manager.save(checkpoint_number=epoch + 1)
            done = epoch + 1
            _summary(exp, run_dir, "running", started, extra)
    except DivergenceError as e:
        _record_end(exp, run_dir, "failed", started, {**extra, "error": str(e)}, done)
        raise
    except KeyboardInterrupt as e:
        _record_end(exp, run_dir, "interrupted", started,
                    {**extra, "error": f"interrupted ({e or 'Ctrl-C'})"}, done)
        print(f"\n{exp.name}: interrupted; {_kept(done)} Re-run the same command to resume.",
              file=sys.stderr)
        raise
    except Exception as e:
        recorded = _record_end(exp, run_dir, "failed", started,
                               {**extra, "error": f"{type(e).__name__}: {e}"}, done)
        where = f"marked `failed` in {summary_path}" if recorded else "could not be recorded"
        print(f"\n{exp.name}: failed ({type(e).__name__}); {where}. {_kept(done)} Once the "
              "cause is fixed, re-run the same command to resume.", file=sys.stderr)
        raise
    return _summary(exp, run_dir, "completed", started, extra)


def _kept(done: int) -> str:
    if done:
        return f"The checkpoint of epoch {done} is kept."
    return "No epoch had finished, so there is no checkpoint: the run starts from scratch."


def check_losses(losses, first_step: int, reference: float, factor: float, epoch: int,
                 name: str) -> None:
    """Raise ``DivergenceError`` at the first step whose loss is non-finite, or larger
    than ``factor`` times the ``reference`` (first-step) loss when ``factor`` > 0."""
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
        f"{first_step + i}. {_kept(epoch)} Lower the learning rate (optimizer.lr / "
        "optimizer.real_lr) or gamma, which starts a new run folder (re-running the same "
        "command would resume and diverge again); divergence_factor= sets the bound.")


def _train_epoch(exp, state, builder, train_split, epoch, steps_per_epoch, eval_data, writer):
    strategy = state.strategy
    for metric in (state.train_loss, state.train_acc, state.val_loss, state.val_acc):
        metric.reset_state()
    dataset = data.train_dataset(builder, train_split, exp.batch_size, exp.seed, epoch)
    iterator = iter(strategy.experimental_distribute_dataset(dataset))
    # A live bar on a terminal; in a log file, a line every LOG_EVERY_S seconds instead.
    interactive = exp.progress and sys.stdout.isatty()
    progbar = tf.keras.utils.Progbar(
        steps_per_epoch, stateful_metrics=["loss", "accuracy"], verbose=int(interactive))
    last_log = time.time()
    epoch_flips = np.zeros(len(state.kernels))
    flip_rows = []
    start, done = time.time(), 0
    while done < steps_per_epoch:
        n = min(exp.steps_per_loop, steps_per_epoch - done)
        flips, losses = state.train_steps(iterator, tf.constant(n))
        flips, losses = flips.numpy(), losses.numpy()
        first_step = int(state.step.numpy()) - n + 1
        if float(state.reference_loss.numpy()) == 0.0 and np.isfinite(losses[0]):
            state.reference_loss.assign(float(losses[0]))
        check_losses(losses, first_step, float(state.reference_loss.numpy()),
                     exp.divergence_factor, epoch, exp.name)
        epoch_flips += flips.sum(axis=0)
        for i in range(n):
            step = first_step + i
            if step % exp.flip_log_interval == 0:
                values = pi_t(flips[i], state.layer_sizes)
                flip_rows.append({
                    "epoch": epoch + 1, "step": step,
                    "flips": dict(zip(state.layer_names, flips[i].astype(int).tolist())),
                    "pi_t": dict(zip(state.layer_names, np.round(values, 5).tolist())),
                })
        done += n
        loss, accuracy = float(state.train_loss.result()), float(state.train_acc.result())
        progbar.update(done, [("loss", loss), ("accuracy", accuracy)])
        if exp.progress and not interactive and time.time() - last_log > LOG_EVERY_S:
            last_log = time.time()
            rate = done * exp.batch_size / (last_log - start)
            print(f"  epoch {epoch + 1} step {done}/{steps_per_epoch}  loss {loss:.4f}  "
                  f"acc {accuracy:.4f}  {rate:.0f} images/s", flush=True)
    train_time = time.time() - start
    state.evaluate_all(eval_data)
    step = int(state.step.numpy())
    for key, metric in (("training", state.train_loss), ("validation", state.val_loss)):
        if not math.isfinite(float(metric.result())):
            raise DivergenceError(
                f"{exp.name}: the mean {key} loss of epoch {epoch + 1} is "
                f"{float(metric.result())} (step {step}). {_kept(epoch)} Lower the learning "
                "rate or gamma (a new run folder).")
    ratios = epoch_flips / (state.layer_sizes * steps_per_epoch)
    row = {
        "epoch": epoch + 1,
        "step": step,
        "train_loss": float(state.train_loss.result()),
        "train_accuracy": float(state.train_acc.result()),
        "val_loss": float(state.val_loss.result()),
        "val_accuracy": float(state.val_acc.result()),
        "flip_ratio": dict(zip(state.layer_names, ratios.tolist())),
        "log_flip_ratio": dict(zip(state.layer_names, pi_t(ratios, 1.0).round(5).tolist())),
        "hyperparameters": {k: evaluate(s, step) for k, s in state.schedules.items()},
        "epoch_time_s": round(time.time() - start, 2),
        "train_images_per_s": round(steps_per_epoch * exp.batch_size / train_time, 1),
    }
    with writer.as_default():
        for key in ("train_loss", "train_accuracy", "val_loss", "val_accuracy"):
            tf.summary.scalar(key, row[key], step=step)
        for key, value in row["hyperparameters"].items():
            tf.summary.scalar(f"hyperparameters/{key}", value, step=step)
        for name, ratio in row["flip_ratio"].items():
            tf.summary.scalar(f"flip_ratio/{name}", ratio, step=step)
        for flip_row in flip_rows:
            for name, value in flip_row["pi_t"].items():
                tf.summary.scalar(f"pi_t/{name}", value, step=flip_row["step"])
    writer.flush()
    last = state.layer_names[-1]
    print(f"epoch {epoch + 1}/{exp.epochs}  loss {row['train_loss']:.4f}  "
          f"acc {row['train_accuracy']:.4f}  val_loss {row['val_loss']:.4f}  "
          f"val_acc {row['val_accuracy']:.4f}  flip_ratio[{last}] "
          f"{row['flip_ratio'][last]:.2e}  {row['epoch_time_s']:.0f}s", flush=True)
    return row, flip_rows
