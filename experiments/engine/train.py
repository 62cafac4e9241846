"""The one training loop every experiment uses: epochs of compiled steps, an evaluation
after each, and a checkpoint and a logged row after each.

Custom rather than ``model.fit`` because the paper needs per-step, per-layer flip counts
(eq. 7) from inside the update, and resumption must restore Bop's momentum ``m``. The
loop calls helpers that each do one job, found by their module's name:

* ``step``: the run's state and its compiled step (``TrainState``, ``train_call``), and
  the divergence check;
* ``pipelines``: the prepared dataset and the distributed input pipelines;
* ``records``: the run folder's summary, the logs cut back to a checkpoint, what a
  re-run finds;
* ``signals``: SIGTERM handled like Ctrl-C.

Resumption: a checkpoint (model, optimizer with all slots and step counters, epoch and
step, and the running sums of the epoch) is written after every epoch and, optionally,
every N steps or M minutes; re-running the same command restores it and goes on from
that step, on the same batches an uninterrupted run sees.

Failures: one process at a time holds a run folder (``experiments.locks``); on every
start the logs are cut back to the checkpoint that is restored, so nothing is logged
twice; a diverging loss, and any other exception, end the run as ``failed`` with the
reason in ``summary.json``; an interrupt as ``interrupted``.
"""
import os
import sys
import tempfile
import time

import numpy as np
import tensorflow as tf

from experiments import locks
from experiments.engine import bf16, precision, records, runs
from experiments.engine.distribute import is_chief, make_strategy
from experiments.engine.fingerprint import earlier_machines, fingerprint
from experiments.engine.flips import pi_t
from experiments.engine.memory import optimizer_memory, peak_memory
from experiments.engine.pipelines import eval_data, prepare_data, train_iterator
from experiments.engine.signals import sigterm_as_interrupt
from experiments.engine.step import HostCursor, TrainState, check_losses, train_call
from experiments.errors import ConfigError, DivergenceError
from experiments.optimizers.schedules import evaluate

LOG_EVERY_S = 60


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
        records.cut_logs(run_dir, step)
    return step


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
    finished = records.existing_run(exp.run_dir(), config)
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
            finished = records.existing_run(run_dir, config)  # finished while data was prepared?
            if finished:
                return finished
            runs.write_json(os.path.join(run_dir, "config.json"), config)
        return _train_claimed(exp, strategy, run_dir, chief, *prepared)


def _train_claimed(exp, strategy, run_dir, chief, builder, train_split, val_split, n_train,
                   steps_per_epoch) -> dict:
    summary_path = os.path.join(run_dir, "summary.json")
    previous = runs.read_json(summary_path, fix=records.SUMMARY_FIX) if os.path.exists(summary_path) else {}
    started = previous.get("started") or runs.now()
    # Provenance is taken when this process starts (the code that actually runs); a
    # resumed run lists every commit that contributed epochs to it.
    git = runs.git_commit()
    commits = [c for c in previous.get("git_commits", []) if c != git["commit"]] + [git["commit"]]
    here = bf16.recorded(exp.precision, fingerprint())  # with what TrainState will do
    extra = {"git": git, "git_commits": commits, "hardware": here,
             "packages": runs.package_versions(),
             "train_split": train_split, "val_split": val_split, "train_examples": n_train,
             "steps_per_epoch": steps_per_epoch, "global_batch_size": exp.batch_size}
    if earlier := earlier_machines(previous, here):  # resumed on another kind of machine
        extra["hardware_earlier"] = earlier
    progress = records.Progress(steps_per_epoch)
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
                records.write_summary(exp, run_dir, "running", started, extra)
        if exp.final_test:  # after every epoch is saved: a kill here re-runs only this
            extra.update(_final_test(exp, state, strategy, builder))
    except DivergenceError as e:
        records.record_end(exp, run_dir, "failed", started, {**extra, "error": str(e)},
                           progress.step)
        raise
    except KeyboardInterrupt as e:
        records.record_end(exp, run_dir, "interrupted", started,
                    {**extra, "error": f"interrupted ({e or 'Ctrl-C'})"}, progress.step)
        print(f"\n{exp.name}: interrupted; {progress.kept()} Re-run the same command to resume.",
              file=sys.stderr)
        raise
    except Exception as e:
        recorded = records.record_end(exp, run_dir, "failed", started,
                               {**extra, "error": f"{type(e).__name__}: {e}"}, progress.step)
        where = f"marked `failed` in {summary_path}" if recorded else "could not be recorded"
        print(f"\n{exp.name}: failed ({type(e).__name__}); {where}. {progress.kept()} Once "
              "the cause is fixed, re-run the same command to resume.", file=sys.stderr)
        raise
    digest = state.digest()
    print(f"final weights and optimizer state: sha256 {digest}")
    return records.write_summary(exp, run_dir, "completed", started,
                                 {**extra, "state_sha256": digest})


def _final_test(exp, state, strategy, builder) -> dict:
    """One evaluation of the dataset's test split after the last epoch, for runs that
    validate on a holdout (tuning): the test set is seen once, by the finished model,
    and nothing is chosen from it (``experiments.engine.tuning`` picks on the holdout)."""
    split = exp.dataset.eval_split
    for metric in state.val_metrics:
        metric.reset_state()
    # the optimizer's weights to evaluate with (optimizers/base.py), the training ones after
    with exp.optimizer.evaluation_weights(state.model, precision.inner(state.optimizer)):
        state.evaluate_all(eval_data(exp, strategy, builder, split))
    result = {"test_split": split, "test_loss": float(state.val_loss.result()),
              "test_accuracy": float(state.val_acc.result())}
    if state.val_top5 is not None:
        result["test_top5_accuracy"] = float(state.val_top5.result())
    print(f"final test ({split}): acc {result['test_accuracy']:.4f}  "
          f"loss {result['test_loss']:.4f}")
    return result


def _write_flips(writer, flip_rows) -> None:
    with writer.as_default():
        for flip_row in flip_rows:
            for name, value in flip_row["pi_t"].items():
                tf.summary.scalar(f"pi_t/{name}", value, step=flip_row["step"])


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
    for metric in state.val_metrics:
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
            epoch_left, run_left = records.time_left(
                done - first_done, now - start, steps_per_epoch - done, exp.epochs - epoch - 1,
                progress.epoch_times)
            print(f"  epoch {epoch + 1} step {done}/{steps_per_epoch}  loss {loss:.4f}  "
                  f"acc {accuracy:.4f}  {rate:.0f} images/s  left: epoch "
                  f"{records.clock(epoch_left)}, run {records.clock(run_left)}", flush=True)
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
    check_losses([float(state.val_loss.result())], step, 0.0, 0.0, epoch, exp.name,
                 progress.kept, what="validation")
    ratios = state.epoch_flips.numpy() / (state.layer_sizes * steps_per_epoch)
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
        "epoch_time_s": round(float(state.epoch_seconds.numpy()) + time.time() - segment, 2),
        "train_images_per_s": round((done - first_done) * exp.batch_size / train_time, 1)
        if done > first_done else None,
    }
    if state.val_top5 is not None:
        row["val_top5_accuracy"] = float(state.val_top5.result())
    with writer.as_default():
        for key in ("train_loss", "train_accuracy", "val_loss", "val_accuracy",
                    "val_top5_accuracy"):
            if key in row:
                tf.summary.scalar(key, row[key], step=step)
        for key, value in row["hyperparameters"].items():
            tf.summary.scalar(f"hyperparameters/{key}", value, step=step)
        for name, ratio in row["flip_ratio"].items():
            tf.summary.scalar(f"flip_ratio/{name}", ratio, step=step)
    writer.flush()
    last = state.layer_names[-1]
    top5 = f"top5 {row['val_top5_accuracy']:.4f}  " if "val_top5_accuracy" in row else ""
    progress.epoch_times.append(row["epoch_time_s"])
    _, run_left = records.time_left(0, 0.0, 0, exp.epochs - epoch - 1, progress.epoch_times)
    print(f"epoch {epoch + 1}/{exp.epochs}  loss {row['train_loss']:.4f}  "
          f"acc {row['train_accuracy']:.4f}  val_loss {row['val_loss']:.4f}  "
          f"val_acc {row['val_accuracy']:.4f}  {top5}"
          f"flip_ratio[{last}] {row['flip_ratio'][last]:.2e}  {row['epoch_time_s']:.0f}s"
          + (f"  run left {records.clock(run_left)}" if epoch + 1 < exp.epochs else ""),
          flush=True)
    return row, flip_rows
