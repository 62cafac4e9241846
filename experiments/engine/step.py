"""The compiled training step and the host work around it: one run's state, the step
itself, and what every call of it checks and logs.

``TrainState`` holds the model, the optimizer and the epoch's running sums, and compiles
the replica's step (forward, backward, update, flips per binary layer) and the loop of
``n`` steps around it; :func:`train_call` is one such call and the host work after it
(reading the flips and losses back once per call, the divergence check, the
``flips.jsonl`` rows). The epoch loop (``experiments.engine.train``), the benchmark
(``experiments.tools.bench``), the GPU check (``experiments.tools.gpu_check``) and the
§3 measurements (``experiments.inertia``) all run this one step, so what they time or
measure is what training does.

The step is written for ``tf.distribute``: ``batch_size`` is the global batch, losses
are averaged over it, and the same code runs under the default, mirrored (multi-GPU) or
multi-worker strategy.
"""
import hashlib
import math
from typing import NamedTuple

import numpy as np
import tensorflow as tf

from experiments.engine import bf16, precision
from experiments.engine.fingerprint import fingerprint
from experiments.engine.flips import FlipCounter, pi_t, start_xla_quietly, updater_of
from experiments.errors import DivergenceError
from experiments.optimizers import binary_kernels


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
        # bfloat16 without its hardware: contractions in float32, rounded as it rounds
        bf16.follow(exp.precision, fingerprint())
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
            # top-5 only where the dataset declares it (``Dataset.top5``)
            self.val_top5 = (tf.keras.metrics.SparseTopKCategoricalAccuracy(
                k=min(5, num_classes)) if exp.dataset.top5 else None)
            self.val_metrics = [m for m in (self.val_loss, self.val_acc, self.val_top5)
                                if m is not None]
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
        if self.val_top5 is not None:
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


def check_losses(losses, first_step: int, reference: float, factor: float, epoch: int,
                 name: str, kept=None, what: str = "training") -> None:
    """The divergence check, the one place it is made: raise ``DivergenceError`` at the
    first step whose loss is non-finite, or larger than ``factor`` times the
    ``reference`` (first-step) loss when ``factor`` > 0. The training loop checks every
    step's loss here, and the epoch's validation loss (``what``) with ``factor`` 0; an
    epoch's mean training loss needs no check of its own, every step of it having passed
    this one. ``kept()`` says which checkpoint survives (only called for the message)."""
    losses = np.asarray(losses, dtype=np.float64)
    bound = factor * reference if factor > 0 and reference > 0 else math.inf
    bad = ~np.isfinite(losses) | (losses > bound)
    if not bad.any():
        return
    i = int(np.argmax(bad))
    why = ("became" if not np.isfinite(losses[i]) else
           f"exceeded {factor:g} x the first step's loss {reference:.4g}:")
    survives = f"{kept()} " if kept else ""
    raise DivergenceError(
        f"{name}: the {what} loss {why} {losses[i]:.4g} at epoch {epoch + 1}, step "
        f"{first_step + i}. {survives}Lower the learning rate (optimizer.lr / "
        "optimizer.real_lr) or gamma, which starts a new run folder (re-running the same "
        "command would resume and diverge again); divergence_factor= sets the bound.")


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
