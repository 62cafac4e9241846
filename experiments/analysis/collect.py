"""Read run folders back for reports and figures, tolerating broken ones.

A run folder is ``<root>/<experiment>/<run-id>/`` as written by ``experiments.engine.train``.
Folders that cannot be read (missing or corrupt files) are returned separately with the
reason, so a report can list them instead of crashing or silently dropping them. A last
line cut short by a kill costs that line only. Failed, interrupted and stale runs (status
``running`` but no live process holds the folder) are loaded and marked, never pooled
with finished ones; two runs of one config and seed count once.
"""
import json
import os
import statistics
from dataclasses import dataclass, field

from experiments import locks

from experiments.engine import runs as run_files
from experiments.errors import RunFolderError

SEED_FREE = {"seed", "run_id"}


def seed_free(key: str) -> bool:
    """Whether a config key is left out when runs are pooled over seeds: the run's seed and
    id, and a component's own copy of the seed (BayesBiNN draws its samples from
    ``optimizer.seed``, which zookeeper fills in from the experiment's)."""
    return key in SEED_FREE or key.endswith(".seed")
# Run folders that moved (a sweep's points, to the sweep's own folder): old -> new path,
# relative to the folder of this file (results/).
MOVED = "moved.json"


def follow_moved(path: str) -> str:
    """``path``, or where its run folder moved to, as the nearest ``moved.json`` above it
    records (``results/moved.json``); relative if ``path`` was."""
    if os.path.exists(path):
        return path
    target = os.path.abspath(path)
    folder = os.path.dirname(target)
    while True:
        record = os.path.join(folder, MOVED)
        if os.path.isfile(record):
            with open(record) as f:
                moved = json.load(f).get("moved", {})
            new = moved.get(os.path.relpath(target, folder).replace(os.sep, "/"))
            if new is None:
                return path
            new = os.path.join(folder, *new.split("/"))
            return new if os.path.isabs(path) else os.path.relpath(new)
        parent = os.path.dirname(folder)
        if parent == folder:
            return path
        folder = parent


@dataclass
class Run:
    path: str
    config: dict
    summary: dict
    metrics: list
    flips: list = field(default_factory=list)
    duplicates: list = field(default_factory=list)  # other folders with this config and seed

    @property
    def experiment(self) -> str:
        return self.summary["experiment"]

    @property
    def scale(self) -> str:
        return self.summary["scale"]

    @property
    def seed(self) -> int:
        return self.config.get("seed", 0)

    @property
    def status(self) -> str:
        """The recorded status, or ``stale`` for a ``running`` run that no live process
        holds (killed by SIGKILL, or its last write refused by a full disk)."""
        status = self.summary.get("status", "?")
        if status == "running" and not locks.is_held(os.path.join(self.path, locks.LOCK_NAME)):
            return "stale"
        return status

    @property
    def complete(self) -> bool:
        return (self.summary.get("status") == "completed"
                and self.summary.get("epochs_done") == self.summary.get("epochs_planned"))

    @property
    def failed(self) -> bool:
        return self.summary.get("status") == "failed"

    @property
    def analysable(self) -> bool:
        """Has curves (or is a comparison run) and did not fail: fit for figures and claims."""
        return not self.failed and (bool(self.metrics) or self.summary.get("kind") == "comparison")

    @property
    def semantic_config(self) -> dict:
        """The config without seed and bookkeeping (paths, progress bar): what a result
        depends on besides the seed."""
        return {k: v for k, v in run_files.semantic(self.config).items() if not seed_free(k)}

    @property
    def group_key(self) -> tuple:
        """Runs that differ only in their seed form one group (mean ± std over seeds); a
        failed run is a group of its own, so it is shown but never pooled."""
        key = (self.experiment, self.scale,
               json.dumps(self.semantic_config, sort_keys=True, default=str))
        return key + (self.path,) if self.failed else key

    def curve(self, key: str) -> list:
        return [row[key] for row in self.metrics]


def _read_jsonl(path: str, required: bool) -> list:
    if not os.path.exists(path):
        if required:
            raise ValueError(f"{os.path.basename(path)} is missing")
        return []
    try:
        return run_files.read_jsonl(path)  # a cut-short last line is dropped, with a warning
    except RunFolderError as e:
        raise ValueError(f"{os.path.basename(path)} {e.problem}") from None


def load_run(path: str, with_flips: bool = True) -> Run:
    """Load one run folder (one that moved: from where it is now, ``follow_moved``);
    raise ValueError naming what is wrong with it."""
    path = follow_moved(path)
    loaded = {}
    for name in ("config.json", "summary.json"):
        file = os.path.join(path, name)
        if not os.path.exists(file):
            raise ValueError(f"{name} is missing")
        try:
            with open(file) as f:
                loaded[name] = json.load(f)
        except json.JSONDecodeError as e:
            raise ValueError(f"{name} is not valid JSON ({e})") from None
    summary = loaded["summary.json"]
    for key in ("experiment", "scale", "status", "epochs_done", "epochs_planned"):
        if key not in summary:
            raise ValueError(f"summary.json has no '{key}'")
    if summary.get("kind") == "comparison":  # e.g. Theorem 1: no training curves
        return Run(path=path, config=loaded["config.json"], summary=summary, metrics=[])
    metrics = _read_jsonl(os.path.join(path, "metrics.jsonl"),
                          required=summary["status"] == "completed")
    if not metrics and summary["status"] == "completed":
        raise ValueError("no finished epoch in metrics.jsonl")
    for row in metrics:
        for key in ("epoch", "train_accuracy", "val_accuracy"):
            if key not in row:
                raise ValueError(f"metrics.jsonl epoch row without '{key}'")
    flips = _read_jsonl(os.path.join(path, "flips.jsonl"), required=False) if with_flips else []
    return Run(path=path, config=loaded["config.json"], summary=summary, metrics=metrics,
               flips=flips)


def open_run(run_dir: str, example: str, comparison_fix: str, with_flips: bool = True) -> Run:
    """The training run in ``run_dir``, for a command that needs one: a missing folder, a
    folder that is not a run's, or a comparison task (which has no model) is refused in
    one line with the fix (``example``: a run folder to name; ``comparison_fix``: what to
    do with a comparison instead)."""
    if not os.path.isdir(run_dir):
        raise RunFolderError(f"{run_dir} is not a folder; give a run folder, e.g. {example}")
    try:
        run = load_run(run_dir, with_flips=with_flips)
    except ValueError as e:
        raise RunFolderError(f"{run_dir} is not a run folder ({e}); give a folder "
                             f"{os.path.dirname(os.path.dirname(example))}/<experiment>/<run-id>/ "
                             "that a run wrote") from None
    if run.summary.get("kind") == "comparison":
        raise RunFolderError(f"{run_dir} is a comparison task ({run.experiment}), not a "
                             f"training run; {comparison_fix}")
    return run


def load_runs(root: str, with_flips: bool = True):
    """All run folders under ``root``: ``(runs, [(path, reason), ...])``."""
    runs, skipped = [], []
    if not os.path.isdir(root):
        return runs, skipped
    for experiment in sorted(os.listdir(root)):
        exp_dir = os.path.join(root, experiment)
        if not os.path.isdir(exp_dir):
            continue
        for run_id in sorted(os.listdir(exp_dir)):
            path = os.path.join(exp_dir, run_id)
            if not os.path.isdir(path):
                continue
            try:
                runs.append(load_run(path, with_flips))
            except (ValueError, OSError) as e:
                skipped.append((path, str(e)))
    return runs, skipped


def group_runs(runs) -> dict:
    """``{group_key: [runs sorted by seed]}``, one run per seed: a second folder with the
    same config and seed (another run_id) is the same experiment run twice, not an
    independent sample. The one kept is complete before incomplete, then the newest; the
    others are listed in its ``duplicates``."""
    groups = {}
    for run in runs:
        groups.setdefault(run.group_key, []).append(run)
    out = {}
    for key, members in groups.items():
        by_seed = {}
        for run in members:
            by_seed.setdefault(run.seed, []).append(run)
        kept = []
        for seed, same in by_seed.items():
            same.sort(key=lambda r: (r.complete, r.summary.get("updated", "")), reverse=True)
            same[0].duplicates = [r.path for r in same[1:]]
            kept.append(same[0])
        out[key] = sorted(kept, key=lambda r: r.seed)
    return out


def mean_std(values):
    """Mean and sample standard deviation (None for a single value)."""
    values = [v for v in values if v is not None]
    if not values:
        return None, None
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else None)


def choose_group(runs, experiment: str, scale: str, default: str | None = None) -> list:
    """The group of seeds shown for ``(experiment, scale)`` in tables, claims and
    figures alike: the experiment's own config (``default``, JSON text of its semantic
    config without seed) when it has runs, else any; complete before incomplete, then
    the newest. Failed runs are never chosen."""
    members = [r for r in runs if r.experiment == experiment and r.scale == scale
               and r.analysable]
    if not members:
        return []
    groups = list(group_runs(members).values())
    if default is not None:
        own = [g for g in groups
               if json.dumps(g[0].semantic_config, sort_keys=True, default=str) == default]
        groups = own or groups
    return max(groups, key=lambda g: (any(r.complete for r in g),
                                      max(r.summary.get("updated", "") for r in g)))
