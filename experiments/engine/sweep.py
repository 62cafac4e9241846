"""Sweeps: a grid over any config fields x seeds, spread over as many workers as the
user's scheduler starts.

Every point of a sweep is an ordinary run folder, so finished points are skipped and
interrupted ones resume. Workers coordinate through the run folders alone: each folder
is claimed by one process (``experiments.locks``: ``flock``, which NFS arbitrates
between machines, or a lease where there is none), so two workers never train the same
run, and a killed worker's claim dies with it. Two ways to split the work:

* ``shard=i/n`` (e.g. a SLURM array's task id): worker i takes points i, i+n, i+2n, ...;
* no shard: every worker walks the whole grid and takes whichever point is unclaimed;
  points other workers hold are retried until they are finished - so a point whose
  worker was killed is taken over and finished by a survivor.

Where the points live: a declared sweep's points in ``<results_dir>/<sweep name>/``
(the experiment's ``folder`` field; non-semantic, so run ids do not change), apart from
its experiment's own runs. A point that several declared sweeps share (the same
experiment and run id: ``remake_reference``'s 8 seeds are also ``precision_bop``'s
float32 seeds 0-7) lives under the first of them in declaration order, and every later
one finds it there (:func:`placed`). An ad-hoc sweep (``grid.KEY=[...]`` on the command
line) has no name of its own: its points live under the experiment, as plain runs do.
"""
import itertools
import time
from dataclasses import dataclass, field

from experiments.errors import ConfigError

GRID_PREFIX = "grid."  # command-line keys swept rather than set: grid.optimizer.gamma.value=[...]


@dataclass(frozen=True)
class Sweep:
    """A declared grid (``configs/``): ``grid`` maps dotted config keys to values."""
    name: str
    experiment: str
    grid: dict
    seeds: tuple = (0,)
    scale: str = "quick"
    description: str = ""
    overrides: dict = field(default_factory=dict)

    def points(self) -> list:
        """Every run's overrides, in this sweep's own folder (for a point another declared
        sweep shares, :func:`placed` says where it lives); seed-major, so a partial sweep
        covers the whole grid."""
        keys = list(self.grid)
        for key in keys:
            values = self.grid[key]
            if not isinstance(values, (list, tuple)) or not values:
                raise ConfigError(f"sweep {self.name}: {key} needs a non-empty list of values, "
                                  f"got {values!r}")
        return [{**self.overrides, "scale": self.scale, "seed": seed, **dict(zip(keys, combo)),
                 "folder": self.name}
                for seed in self.seeds
                for combo in itertools.product(*(self.grid[k] for k in keys))]


def placement(declared, build, extra=None) -> dict:
    """``{sweep name: [the folder of each of its points]}`` for the ``declared`` sweeps,
    in order: a point lives in the first sweep's folder that has the same run (the same
    experiment and run id). ``build(experiment, overrides)`` builds a point; ``extra``:
    overrides added to every point."""
    first, out = {}, {}
    for sweep in declared:
        folders = []
        for point in sweep.points():
            exp = build(sweep.experiment, {**point, **(extra or {})})
            folders.append(first.setdefault((exp.name, exp.run_name()), sweep.name))
        out[sweep.name] = folders
    return out


def placed(sweep, declared, build, extra=None, where=None) -> list:
    """``sweep.points()``, each in the folder where it lives (:func:`placement`; pass
    ``where`` to reuse one). A sweep that is not one of ``declared`` (e.g. a declared
    grid at another scale) keeps every point in its own folder."""
    declared = list(declared)
    if not any(s is sweep for s in declared):
        return sweep.points()
    where = placement(declared, build, extra) if where is None else where
    return [{**point, "folder": folder} for point, folder in zip(sweep.points(), where[sweep.name])]


def parse_shard(text) -> tuple:
    """``"i/n"`` -> ``(i, n)`` with 0 <= i < n."""
    try:
        i, n = (int(part) for part in str(text).split("/"))
    except ValueError:
        raise ConfigError(f"shard must look like i/n (e.g. shard=0/4), got {text!r}") from None
    if not (n >= 1 and 0 <= i < n):
        raise ConfigError(f"shard={text}: need 0 <= i < n (worker i of n, counted from 0)")
    return i, n


def shard_of(items: list, shard) -> list:
    """Worker i of n takes items i, i+n, i+2n, ... (all of them without a shard)."""
    if shard is None:
        return list(items)
    i, n = shard
    return list(items)[i::n]


def from_command_line(experiment: str, overrides: dict) -> tuple:
    """An ad-hoc sweep from ``grid.KEY=[v1,v2]`` and ``seeds=[...]`` overrides:
    ``(Sweep, the remaining overrides)``."""
    grid = {k[len(GRID_PREFIX):]: v for k, v in overrides.items() if k.startswith(GRID_PREFIX)}
    if not grid:
        raise ConfigError(f"{experiment} is not a declared sweep; give its grid as "
                          "grid.KEY=[v1,v2] (e.g. grid.optimizer.gamma.value=[1e-4,1e-3])")
    seeds = overrides.get("seeds", [0])
    seeds = tuple(seeds) if isinstance(seeds, (list, tuple)) else (seeds,)
    rest = {k: v for k, v in overrides.items()
            if not k.startswith(GRID_PREFIX) and k not in ("seeds", "scale")}
    return Sweep(name="", experiment=experiment, grid=grid, seeds=seeds,
                 scale=overrides.get("scale", "quick")), rest


def run_all(exps: list, run_one, poll_s: float = 10.0) -> list:
    """Train every experiment of this worker: ``run_one(exp)`` returns "done", "busy"
    (another process holds the folder) or "failed". Busy ones are retried every
    ``poll_s`` seconds until each is finished here or by its holder. Returns the failed."""
    pending, failed = list(exps), []
    while pending:
        busy = []
        for exp in pending:
            outcome = run_one(exp)
            if outcome == "busy":
                busy.append(exp)
            elif outcome == "failed":
                failed.append(exp)
        if busy:
            print(f"{len(busy)} run(s) held by other workers; checking again in {poll_s:g} s "
                  "(a killed worker's run is taken over)", flush=True)
            time.sleep(poll_s)
        pending = busy
    return failed
