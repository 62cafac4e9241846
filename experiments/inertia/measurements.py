"""§3 of the paper, "latent weights are inertia": the measurements behind the argument.

* :func:`approximation_test` - evaluate a latent-weight BNN (a) with its binary weights,
  (b) with the real latent weights in their place (activations still binarised), (c) as
  (b) after re-estimating the batch-norm statistics on training data.
* :func:`theorem1_pair` - Theorem 1 checked directly: two runs, (α, w0) and (c·α, c·w0),
  stepped in lockstep on the same batches; after every step the binary weights
  (signs of the latent weights) of the two are compared.
"""
import os

import numpy as np
import tensorflow as tf

from experiments.engine import runs
from experiments.engine.flips import count_flips, sign_bits
from experiments.engine.pipelines import prepare_data
from experiments.engine.step import TrainState
from experiments.models import every_layer


def accuracy(model, dataset) -> float:
    metric = tf.keras.metrics.SparseCategoricalAccuracy()
    for images, labels in dataset:
        metric.update_state(labels, model(images, training=False))
    return float(metric.result())


def latent_copy(exp, model) -> tf.keras.Model:
    """The same network with the real latent kernels used as they are: no kernel
    quantizer, while every input quantizer still binarises the activations."""
    twin = exp.model.build(input_shape=exp.dataset.input_shape(),
                           num_classes=exp.dataset.num_classes, represent=every_layer(None))
    twin.set_weights(model.get_weights())
    return twin


def reestimate_batchnorm(model, dataset) -> None:
    """Replace every batch-norm layer's moving statistics by their average over
    ``dataset`` (training-mode forward passes, momentum k/(k+1) at batch k)."""
    layers = [layer for layer in model.layers
              if isinstance(layer, tf.keras.layers.BatchNormalization)]
    saved = [layer.momentum for layer in layers]
    for layer in layers:
        layer.moving_mean.assign(tf.zeros_like(layer.moving_mean))
        layer.moving_variance.assign(tf.ones_like(layer.moving_variance))
    for k, (images, _) in enumerate(dataset):
        for layer in layers:
            layer.momentum = k / (k + 1)
        model(images, training=True)
    for layer, momentum in zip(layers, saved):
        layer.momentum = momentum


def approximation_test(exp, run_dir: str) -> dict:
    """Train/test accuracy of a finished run's model with binary and latent weights."""
    builder, train_split, val_split, _, steps_per_epoch = prepare_data(exp)
    state = TrainState(exp, tf.distribute.get_strategy(), steps_per_epoch)
    manager = tf.train.CheckpointManager(
        tf.train.Checkpoint(model=state.model), os.path.join(run_dir, "checkpoints"), 1)
    if not manager.latest_checkpoint:
        raise FileNotFoundError(f"no checkpoint in {run_dir}; train the run first")
    tf.train.Checkpoint(model=state.model).restore(manager.latest_checkpoint).expect_partial()
    train_eval = exp.dataset.eval_dataset(builder, train_split, 500)
    test_eval = exp.dataset.eval_dataset(builder, val_split, 500)
    latent = latent_copy(exp, state.model)
    results = {
        "binary": {"train": accuracy(state.model, train_eval), "test": accuracy(state.model, test_eval)},
        "latent": {"train": accuracy(latent, train_eval), "test": accuracy(latent, test_eval)},
    }
    reestimate_batchnorm(latent, train_eval)
    results["latent_bn_reestimated"] = {"train": accuracy(latent, train_eval),
                                        "test": accuracy(latent, test_eval)}
    results["splits"] = {"train": train_split, "test": val_split}
    return results


class Lockstep:
    """Two training states stepped on identical batches; their binary weights compared."""

    def __init__(self, exp_a, exp_b, steps_per_epoch):
        strategy = tf.distribute.get_strategy()
        self.states = []
        for exp in (exp_a, exp_b):
            tf.keras.utils.set_random_seed(exp.seed)  # same w0 draw for both
            self.states.append(TrainState(exp, strategy, steps_per_epoch))
        kernels_a, kernels_b = self.states[0].kernels, self.states[1].kernels
        self.total = int(sum(np.prod(k.shape) for k in kernels_a))

        @tf.function
        def compare():
            """Binary weights that differ, and each run's largest |w~| (clipping at 1 or an
            STE cut at |w~| > 1 can only act once it exceeds 1)."""
            differing = tf.add_n([count_flips(sign_bits(a), b)
                                  for a, b in zip(kernels_a, kernels_b)])
            max_abs = tf.stack([tf.reduce_max([tf.reduce_max(tf.abs(k)) for k in kernels])
                                for kernels in (kernels_a, kernels_b)])
            return differing, max_abs

        self.compare = compare

    def state(self):
        differing, max_abs = self.compare()
        return int(differing.numpy()), max_abs.numpy()

    def step(self, iterators):
        flips = [state.train_steps(it, tf.constant(1))[0].numpy().sum()
                 for state, it in zip(self.states, iterators)]
        return (*self.state(), flips)


def theorem1_pair(exp_a, exp_b, epochs: int) -> dict:
    """Run (α, w0) and (c·α, c·w0) in lockstep; count differing binary weights per step."""
    builder, train_split, _, _, steps_per_epoch = prepare_data(exp_a)
    pair = Lockstep(exp_a, exp_b, steps_per_epoch)
    d, max_abs = pair.state()  # step 0: c > 0 keeps every sign
    differing = [d]
    flips_a = flips_b = 0
    for epoch in range(epochs):
        batches = [iter(exp_a.dataset.train_dataset(builder, train_split, exp_a.batch_size,
                                                 exp_a.seed, epoch))
                   for _ in range(2)]
        for _ in range(steps_per_epoch):
            d, now_abs, (fa, fb) = pair.step(batches)
            differing.append(d)
            max_abs = np.maximum(max_abs, now_abs)
            flips_a, flips_b = flips_a + fa, flips_b + fb
    fractions = np.array(differing) / pair.total
    nonzero = np.flatnonzero(differing)
    return {
        "steps": len(differing) - 1,
        "binary_weights": pair.total,
        "flips_reference_run": int(flips_a),
        "flips_scaled_run": int(flips_b),
        "steps_with_any_difference": int(np.count_nonzero(differing)),
        "first_differing_step": int(nonzero[0]) if nonzero.size else None,
        "max_differing_fraction": float(fractions.max()),
        "mean_differing_fraction": float(fractions.mean()),
        "final_differing_fraction": float(fractions[-1]),
        "differing_per_step": differing,
        "max_abs_latent_reference_run": float(max_abs[0]),
        "max_abs_latent_scaled_run": float(max_abs[1]),
        "git": runs.git_commit(),
    }
