"""Re-make a committed run on this machine, and judge the result against what the run's
hardware fingerprint says to expect (``experiments.engine.fingerprint``).

* **Same fingerprint**: the engine is deterministic on one machine, so a re-make must be
  *bit-identical*: the same run id, every epoch's metrics and every logged flip count
  (timings aside), and the same final weights and optimizer state (sha256).
* **Other fingerprint**: other kernels add in another order, and after a few hundred
  steps the trajectory is a different draw of the same experiment. It is judged
  against the committed seeds of the same config (:func:`judge`): for each quantity of
  :data:`QUANTITIES`, the mean of the ``m`` re-made runs must lie inside the
  :data:`LEVEL` prediction interval for the mean of ``m`` new draws built from the ``n``
  committed seeds (``stats.prediction_interval``). Inside for all: *within seed
  spread*; outside for any: *outside seed spread*, which a re-make that is only another
  draw reaches for fewer than 1 - LEVEL of its quantities (Bonferroni: under 2 % in all).

The quantities are chosen to catch different bugs: accuracy and losses see the data and
the model (augmentation, batch norm statistics), the flip ratio over all binary weights sees Bop's
rule (gamma, tau), and it is far tighter across seeds than accuracy.
"""
import math
import os
from dataclasses import dataclass, field

from experiments.analysis import collect, stats
from experiments.engine import fingerprint, runs
from experiments.errors import ConfigError, RunFolderError

LEVEL = 0.995
MIN_SEEDS = 3  # committed seeds needed before a spread is trusted
TIMED = ("seconds", "images_per_s", "time", "date")


def overall_log10_flip_ratio(run) -> float:
    """log10 of the fraction of binary weights that flipped per step, over the whole run
    (every epoch, every binary layer, weighted by layer size)."""
    sizes = run.summary["binary_layers"]
    flips = sum(row["flip_ratio"][name] * size for row in run.metrics
                for name, size in sizes.items())
    ratio = flips / (sum(sizes.values()) * len(run.metrics))
    return math.log10(ratio) if ratio > 0 else -math.inf


QUANTITIES = {
    "final val accuracy (%)": lambda run: 100 * run.metrics[-1]["val_accuracy"],
    "final val loss": lambda run: run.metrics[-1]["val_loss"],
    "final train loss": lambda run: run.metrics[-1]["train_loss"],
    "log10 flip ratio (all binary weights, whole run)": overall_log10_flip_ratio,
}


def untimed(rows: list) -> list:
    """Log rows without the keys that measure time or throughput."""
    return [{k: v for k, v in row.items() if not any(t in k for t in TIMED)} for row in rows]


def bit_identical(committed, remade) -> tuple[bool, str]:
    """Whether ``remade`` repeats ``committed`` exactly, and where it first differs."""
    if committed.summary.get("run_id") != remade.summary.get("run_id"):
        return False, (f"run id {remade.summary.get('run_id')} vs committed "
                       f"{committed.summary.get('run_id')}")
    for name, a, b in (("metrics.jsonl", committed.metrics, remade.metrics),
                       ("flips.jsonl", committed.flips, remade.flips)):
        a, b = untimed(a), untimed(b)
        if a != b:
            row = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
            return False, f"{name} differs from row {row + 1}"
    if committed.summary.get("state_sha256") != remade.summary.get("state_sha256"):
        return False, "final state sha256 differs"
    return True, "every metric and flip row, and the final state sha256, are equal"


@dataclass
class Judgement:
    # "bit-identical", "within seed spread", "outside seed spread", "not judged", or
    # "outside: bits differ on the same fingerprint"
    verdict: str
    reason: str
    rows: list = field(default_factory=list)  # (quantity, Prediction, remade mean, inside)

    @property
    def agrees(self) -> bool:
        return self.verdict in ("bit-identical", "within seed spread")


def rule_text(level: float = LEVEL) -> str:
    return (f"the re-made mean of each quantity inside the {100 * level:g} % prediction "
            "interval for a mean of that many new seeds, built from the committed seeds "
            "(mean ± t(n-1)·s·sqrt(1/n + 1/m))")


def judge(committed: list, remade: list, level: float = LEVEL) -> Judgement:
    """Are ``remade`` runs (any seeds) further draws of the experiment the ``committed``
    runs (its seeds, one config) are draws of? See the module docstring for the rule."""
    if len(committed) < MIN_SEEDS:
        return Judgement("not judged", f"only {len(committed)} committed seed(s) of this "
                         f"config; the rule needs at least {MIN_SEEDS}")
    rows = []
    for quantity, value in QUANTITIES.items():
        prediction = stats.prediction_interval([value(r) for r in committed], m=len(remade),
                                               level=level)
        mean = sum(value(r) for r in remade) / len(remade)
        rows.append((quantity, prediction, mean, prediction.contains(mean)))
    outside = [q for q, _, _, inside in rows if not inside]
    if outside:
        return Judgement("outside seed spread", "outside for " + ", ".join(outside), rows)
    return Judgement("within seed spread", rule_text(level), rows)


def describe_rows(rows: list) -> list:
    """One line per judged quantity."""
    out = []
    for quantity, p, mean, inside in rows:
        where = "inside" if inside else "OUTSIDE"
        out.append(f"  {quantity}: re-made {mean:.4g} (m = {p.m}); committed {p.mean:.4g} ± "
                   f"{p.std:.2g} (n = {p.n}); {100 * p.level:g} % prediction "
                   f"[{p.low:.4g}, {p.high:.4g}]: {where}")
    return out


# -- re-making one run folder --------------------------------------------------------
def load_committed(run_dir: str):
    """The committed run, refused in one line (with the fix) if it cannot be re-made."""
    path = collect.follow_moved(os.path.normpath(run_dir))
    if path != os.path.normpath(run_dir):
        print(f"note: {run_dir} moved to {path} (results/moved.json)")
    run = collect.open_run(path, "results/runs/sec51_tau_0/quick-seed0-<hash>",
                           "re-make it with `bnn run` and compare its JSON")
    if run.failed:
        raise RunFolderError(f"{run_dir} is a failed run ({run.summary.get('error', 'no reason')})"
                             "; only a completed run can be re-made and compared")
    if not run.complete:
        raise RunFolderError(f"{run_dir} has not completed (status {run.status}, "
                             f"{run.summary['epochs_done']}/{run.summary['epochs_planned']} "
                             "epochs); finish it with its own command first")
    return run


def _plain(value):
    return tuple(_plain(v) for v in value) if isinstance(value, list) else value


def rebuild(run, find_experiment, build, overrides: dict):
    """The run's experiment, configured as recorded; ``overrides`` may only move files
    (``data_dir``, ``results_dir``, ...), never change what is computed."""
    movable = runs.non_semantic_keys()
    semantic_keys = [k for k in overrides if k not in movable]
    if semantic_keys:
        raise ConfigError(f"a re-make keeps the run's config; only where files live may "
                          f"change ({', '.join(sorted(movable))}), not "
                          f"{', '.join(semantic_keys)}")
    config = {k: _plain(v) for k, v in runs.semantic(run.config).items()}
    commit = (run.summary.get("git") or {}).get("commit") or "its commit"
    try:
        exp = build(find_experiment(run.experiment), {**config, **overrides})
    except ConfigError as e:
        raise ConfigError(f"{run.path}: its config cannot be built by this version of the "
                          f"suite ({str(e).splitlines()[0]}); check out {commit} (its "
                          "summary.json's git commit) to re-make it") from None
    if exp.run_name() != run.summary["run_id"]:
        raise ConfigError(f"{run.path}: its config now resolves to run id {exp.run_name()}, "
                          f"not {run.summary['run_id']}: the suite's defaults changed since "
                          f"{commit}; check that commit out to re-make it")
    return exp


def seed_group(run) -> list:
    """The committed runs of ``run``'s config, one per seed, ``run`` among them."""
    root = os.path.dirname(os.path.dirname(run.path))
    found, _ = collect.load_runs(root)
    same = [r for r in found if r.group_key == run.group_key and r.complete]
    group = collect.group_runs(same).get(run.group_key, [])
    return group or [run]


def epoch_table(committed, remade) -> list:
    """Per epoch: train loss, val accuracy and log10 flip ratio, committed / re-made."""
    lines = ["  epoch | train loss committed / re-made | val acc (%) committed / re-made"]
    for a, b in zip(committed.metrics, remade.metrics):
        lines.append(f"  {a['epoch']:>5} | {a['train_loss']:.4f} / {b['train_loss']:.4f} | "
                     f"{100 * a['val_accuracy']:.2f} / {100 * b['val_accuracy']:.2f}")
    return lines


def fingerprint_match(committed: dict, here: dict) -> tuple:
    """Whether a re-make on ``here`` can give the committed run's bits (True), cannot
    (False), or the run predates fingerprints (None); with the reason, to be shown."""
    if committed.get("hardware_earlier"):  # its epochs came from several kernel sets
        made = ", ".join(fingerprint.label(fp) for fp in fingerprint.machines(committed))
        return False, f"the committed run was trained on several machines ({made})"
    there = committed.get("hardware", {})
    same = fingerprint.same_kernels(there, here)
    return same, {True: "the same (bit-identity expected)",
                  None: "the committed run predates fingerprints",
                  False: "differ in " + "; ".join(fingerprint.differences(there, here))}[same]


def remake(run_dir: str, find_experiment, build, out: str, overrides: dict) -> Judgement:
    """Re-make ``run_dir`` under ``out`` on this machine, print the comparison, return
    the judgement. A re-make already finished under ``out`` is reused, an interrupted one
    resumes (it is an ordinary run folder)."""
    committed = load_committed(run_dir)
    exp = rebuild(committed, find_experiment, build,
                  {"results_dir": out, "progress": False, "tensorboard": False, **overrides})
    exp.run()
    remade = collect.load_run(exp.run_dir())
    here = remade.summary.get("hardware", {})
    there = " then ".join(fingerprint.label(fp) for fp in fingerprint.machines(committed.summary))
    print(f"\nre-made {committed.path}\n     as {remade.path}")
    print(f"  committed on: {there}\n  re-made on:   {fingerprint.label(here)}")
    same, how_same = fingerprint_match(committed.summary, here)
    print("  fingerprints: " + how_same)
    print("\n".join(epoch_table(committed, remade)))
    identical, how = bit_identical(committed, remade)
    if identical:
        judgement = Judgement("bit-identical", how)
    else:
        group = seed_group(committed)
        judgement = judge(group, [remade])
        judgement.reason = f"{how}; {judgement.reason}"
        print("\n".join(describe_rows(judgement.rows)))
    if same and not identical:  # one machine's kernels give one result: the engine changed
        judgement.verdict = "outside: bits differ on the same fingerprint"
        judgement.reason += "; the engine computes differently from the one that made the run"
    print(f"verdict: {judgement.verdict} ({judgement.reason})")
    return judgement
