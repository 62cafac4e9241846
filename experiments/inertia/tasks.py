"""The §3 measurements as tasks of the engine: ``configs/inertia.py`` declares which
(``task = staticmethod(run_approximation)`` / ``run_theorem1``) and the engine's
``Experiment.run`` calls it, so configs stay declarations and the engine never imports §3.

* ``approximation``: train as usual, then run the approximation test once on the
  finished run (``approximation.json``), under the run folder's claim.
* ``theorem1``: a comparison run without its own training curves: for each declared
  variant and factor c, two runs (α, w0) and (c·α, c·w0) stepped in lockstep
  (``experiments.inertia.measurements.theorem1_pair``), results in ``theorem1.json``, claimed and
  summarised like every run folder; a finished comparison is skipped.
"""
import os
import time

from experiments.engine import runs
from experiments.engine.fingerprint import fingerprint
from experiments.locks import run_claim


def run_approximation(exp) -> dict:
    from experiments.inertia.measurements import approximation_test
    from experiments.engine.train import train

    summary = train(exp)
    path = os.path.join(exp.run_dir(), "approximation.json")
    if summary.get("status") == "completed" and not os.path.exists(path):
        with run_claim(exp.run_dir()):
            if not os.path.exists(path):
                runs.write_json(path, approximation_test(exp, exp.run_dir()))
                print(f"approximation test -> {path}")
    return summary


def theorem1_overrides(exp, variant: dict, factor: float):
    """The reference and the scaled run of one pair: the experiment's own data and model
    fields, the optimizer of ``variant``; the scaled run multiplies the initial kernels
    and the binary learning rate by ``factor``."""
    base = {k: v for k, v in exp.resolved_config().items()
            if k not in ("factors",) and not k.startswith("optimizer")}
    base.update({"optimizer.lr": "Constant", "optimizer.lr.value": 0.01,
                 "optimizer.clip": 0.0, "optimizer.ste_clip_value": 0.0,
                 "optimizer.binary_lr_multiplier": 1.0, **variant})
    scaled = {**base, "model.kernel_init_scale": factor,
              "optimizer.binary_lr_multiplier": base["optimizer.binary_lr_multiplier"] * factor}
    return base, scaled


def run_theorem1(exp) -> dict:
    run_dir = exp.run_dir()
    summary_path = os.path.join(run_dir, "summary.json")
    if os.path.exists(summary_path):
        previous = runs.read_json(summary_path)
        if previous.get("status") == "completed":
            print(f"{exp.name}: already completed in {run_dir}, skipping")
            return previous
    os.makedirs(run_dir, exist_ok=True)
    with run_claim(run_dir):
        return _theorem1_claimed(exp, run_dir)


def _theorem1_claimed(exp, run_dir) -> dict:
    from experiments.engine.experiment import build
    from experiments.inertia.measurements import theorem1_pair

    runs.write_json(os.path.join(run_dir, "config.json"), exp.resolved_config())
    path = os.path.join(run_dir, "theorem1.json")
    results = runs.read_json(path) if os.path.exists(path) else {}
    started, t0 = runs.now(), time.time()
    summary = {"experiment": exp.name, "section": exp.section, "kind": "comparison",
               "run_id": exp.run_name(), "scale": exp.scale,
               "epochs_done": exp.epochs, "epochs_planned": exp.epochs,
               "started": started, "git": runs.git_commit(),
               "hardware": fingerprint(), "packages": runs.package_versions()}
    try:
        for label, variant, conditions in exp.variants:
            for factor in exp.factors:
                key = f"{label}_c{factor:g}"
                if key in results:
                    continue
                base, scaled = theorem1_overrides(exp, variant, factor)
                print(f"Theorem 1: {key} (theorem's conditions "
                      f"{'hold' if conditions else 'broken'})")
                result = theorem1_pair(build(exp.pair_base, base), build(exp.pair_base, scaled),
                                       exp.epochs)
                result.update({"variant": label, "factor": factor,
                               "conditions_hold": conditions,
                               "overrides_reference": base, "overrides_scaled": scaled})
                results[key] = result
                runs.write_json(path, results)
                print(f"  differing binary weights: max "
                      f"{result['max_differing_fraction']:.2e}, final "
                      f"{result['final_differing_fraction']:.2e} "
                      f"({result['flips_reference_run']} flips in the reference run)")
    except BaseException as e:
        status = "interrupted" if isinstance(e, KeyboardInterrupt) else "failed"
        runs.write_json(os.path.join(run_dir, "summary.json"), {
            **summary, "status": status, "error": f"{type(e).__name__}: {e}",
            "updated": runs.now(), "wall_time_s": round(time.time() - t0, 1)})
        raise
    summary.update({"status": "completed", "updated": runs.now(),
                    # this process's time only: pairs finished before a resume are not counted
                    "wall_time_s": round(time.time() - t0, 1)})
    runs.write_json(os.path.join(run_dir, "summary.json"), summary)
    return summary

