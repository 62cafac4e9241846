"""Data plumbing of a run: the prepared dataset and its splits, and the distributed
pipelines the step consumes.

The dataset component (``exp.dataset``) gives the input shape, classes and pipelines;
each input pipeline (one per worker) is built by ``distribute_datasets_from_function``
with per-replica batches, so one global step always consumes the same examples however
many replicas share it. Data order and augmentation are pure functions of (seed, epoch),
and an epoch's pipeline can start at any step (``skip_batches``), which is what lets a
resumed run see the same batches as an uninterrupted one.
"""
import os


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
