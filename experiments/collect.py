"""Read run folders back for reports and figures, tolerating broken ones.

A run folder is ``<root>/<experiment>/<run-id>/`` as written by ``experiments.train``.
Folders that cannot be read (missing or corrupt files, a run killed before its first
epoch) are returned separately with the reason, so a report can list them instead of
crashing or silently dropping them.
"""
import json
import os
import statistics
from dataclasses import dataclass, field

from experiments.runs import NON_SEMANTIC

SEED_FREE = {"seed", "run_id"}


@dataclass
class Run:
    path: str
    config: dict
    summary: dict
    metrics: list
    flips: list = field(default_factory=list)

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
    def complete(self) -> bool:
        return (self.summary.get("status") == "completed"
                and self.summary.get("epochs_done") == self.summary.get("epochs_planned"))

    @property
    def semantic_config(self) -> dict:
        """The config without seed and bookkeeping (paths, progress bar): what a result
        depends on besides the seed."""
        return {k: v for k, v in self.config.items() if k not in SEED_FREE | NON_SEMANTIC}

    @property
    def group_key(self) -> tuple:
        """Runs that differ only in their seed form one group (mean ± std over seeds)."""
        return self.experiment, self.scale, json.dumps(self.semantic_config, sort_keys=True,
                                                       default=str)

    def curve(self, key: str) -> list:
        return [row[key] for row in self.metrics]


def _read_jsonl(path: str, required: bool) -> list:
    if not os.path.exists(path):
        if required:
            raise ValueError(f"{os.path.basename(path)} is missing")
        return []
    rows = []
    with open(path) as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                raise ValueError(f"{os.path.basename(path)} line {number} is not valid JSON") from None
    return rows


def load_run(path: str, with_flips: bool = True) -> Run:
    """Load one run folder; raise ValueError naming what is wrong with it."""
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
    metrics = _read_jsonl(os.path.join(path, "metrics.jsonl"), required=True)
    if not metrics:
        raise ValueError("no finished epoch in metrics.jsonl")
    for row in metrics:
        for key in ("epoch", "train_accuracy", "val_accuracy"):
            if key not in row:
                raise ValueError(f"metrics.jsonl epoch row without '{key}'")
    flips = _read_jsonl(os.path.join(path, "flips.jsonl"), required=False) if with_flips else []
    return Run(path=path, config=loaded["config.json"], summary=summary, metrics=metrics,
               flips=flips)


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
    """``{group_key: [runs sorted by seed]}``."""
    groups = {}
    for run in runs:
        groups.setdefault(run.group_key, []).append(run)
    return {k: sorted(v, key=lambda r: r.seed) for k, v in groups.items()}


def mean_std(values):
    """Mean and sample standard deviation (None for a single value)."""
    values = [v for v in values if v is not None]
    if not values:
        return None, None
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else None)
