"""A finished run's trained model, rebuilt in float32 from its final checkpoint.

A deployed network must compute what the run's final weights compute, so the model is
built from the run's own config (``bnn remake``'s rule: only where files live may change)
and every model variable is read back from the newest checkpoint. LCE converts float32
models only: a run trained under a mixed policy is rebuilt under float32, which changes
nothing stored (every variable of a mixed run is float32 already, see
``experiments.engine.precision``) but makes the forward pass float32 throughout.
"""
import os

from experiments.analysis import collect
from experiments.errors import RunFolderError

COMMITTED_ROOT = os.path.join("results", "runs")


def load_finished(run_dir: str):
    """The run of ``run_dir``, refused in one line (with the fix) if it is not a finished
    training run."""
    run = collect.open_run(os.path.normpath(run_dir),
                           ".remake/runs/sec52_bop/quick-seed0-<hash>",
                           "there is no model to export", with_flips=False)
    if not run.complete:
        raise RunFolderError(f"{run_dir} has not completed (status {run.status}); only a "
                             "finished run's final weights are exported: finish it first")
    return run


def final_checkpoint(run) -> str:
    """The newest checkpoint of ``run``; committed run folders carry none (they are
    gitignored), and the error says how to get the weights back."""
    import tensorflow as tf

    latest = tf.train.latest_checkpoint(os.path.join(run.path, "checkpoints"))
    if latest is None:
        raise RunFolderError(
            f"{run.path} has no checkpoints (committed run folders carry none): re-make it "
            f"with `make remake RUN={run.path}`, then export the re-made run under "
            f".remake/runs/{run.experiment}/{os.path.basename(run.path)}")
    return latest


def rebuild_experiment(run, overrides: dict | None = None):
    """The run's experiment as recorded (its run id must still resolve to the same);
    ``overrides`` may only move files (``data_dir=...``)."""
    from experiments import registry
    from experiments.analysis.remake import rebuild
    from experiments.engine.experiment import build

    return rebuild(run, registry.load().experiment, build,
                   {"results_dir": os.path.dirname(os.path.dirname(run.path)),
                    **(overrides or {})})


def trained_model(run, overrides: dict | None = None):
    """``(experiment, float32 Keras model holding the run's final weights)``."""
    import tensorflow as tf

    from experiments.engine import precision

    checkpoint = final_checkpoint(run)
    exp = rebuild_experiment(run, overrides)
    tf.keras.backend.reset_uids()  # the run's layer names (see engine.train.TrainState)
    with precision.policy("float32"):
        model = exp.build_model()
    status = tf.train.Checkpoint(model=model).restore(checkpoint)
    status.expect_partial()  # the optimizer's slots and counters are not needed
    status.assert_existing_objects_matched()
    return exp, model


def committed_twin(run) -> str | None:
    """The committed run folder this run re-makes (the same experiment and run id under
    ``results/runs``), or None."""
    twin = os.path.join(COMMITTED_ROOT, run.experiment, os.path.basename(run.path))
    if os.path.abspath(twin) == os.path.abspath(run.path):
        return twin
    return twin if os.path.isfile(os.path.join(twin, "summary.json")) else None
