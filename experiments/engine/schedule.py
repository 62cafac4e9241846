"""Which run may start next: a group's plan as jobs in the order its protocol needs.

A plan (``experiments.engine.drive``) holds plain runs and tuned comparisons. A
comparison's runs come in two steps (``experiments.engine.tuning``): every grid value
once, then - when the whole grid of an arm has ended - the picked value's other seeds.
:class:`Schedule` hands out the runs that may start now, in plan order, so that several
workers can train them side by side without ever starting a pick's seeds before the pick
exists; an arm's seeds go ahead of later comparisons' grid runs, so each comparison
finishes as early as it can.

Every job is a run folder, trained at most once per invocation here; whether another
process holds it is settled by the folder's claim (``experiments.locks``) when a worker
starts it. ``shard=i/n`` keeps this machine's share: grid and plain runs dealt as
``experiments.engine.drive.run_sharded`` deals them, seeds by their place among every
arm's seeds.
"""
import base64
import os
import pickle
from dataclasses import dataclass, field

from experiments.engine import runs
from experiments.engine.tuning import edge_hold, finals, grid, select
from experiments.errors import RunFolderError


@dataclass(eq=False)
class Job:
    """One run: how to build it (experiment name and overrides) and where it lives."""
    run_dir: str  # absolute: the job's identity
    title: str
    experiment: str
    overrides: dict
    exp: object = field(repr=False, default=None)
    priority: tuple = ()
    arm: str = ""  # the tuning arm whose grid this run belongs to ("" for other runs)
    seeds_of: str = ""  # the arm whose pick this run is a seed of


def encode(obj) -> str:
    """A job's payload as text (pickle keeps tuples and floats exactly as the parent built them)."""
    return base64.b64encode(pickle.dumps(obj)).decode("ascii")


def decode(text: str):
    return pickle.loads(base64.b64decode(text))


class Recorder:
    """``build(name, overrides)`` that also remembers how each run was built, so that a
    worker process can build the very same run."""

    def __init__(self, build):
        self._build = build
        self.recipes = {}  # absolute run folder -> (experiment name, overrides)

    def __call__(self, name, overrides):
        exp = self._build(name, overrides)
        self.recipes[os.path.abspath(exp.run_dir())] = (name, dict(overrides))
        return exp

    def job(self, exp, title, **kw) -> Job:
        run_dir = os.path.abspath(exp.run_dir())
        name, overrides = self.recipes[run_dir]
        return Job(run_dir, title, name, overrides, exp, **kw)


def status(run_dir: str):
    """The status a run folder's summary records (None: no summary yet)."""
    path = os.path.join(run_dir, "summary.json")
    if not os.path.exists(path):
        return None
    try:
        return runs.read_json(path).get("status")
    except RunFolderError:
        return None


def _symbol(arm) -> str:
    return arm.symbol or arm.key


class Schedule:
    """The jobs of a plan ``[(name, experiment) | (Tuning, overrides)]`` built through a
    :class:`Recorder`; see the module docstring."""

    def __init__(self, plan, build: Recorder, shard=None):
        self.build = build
        self.ready: list = []  # jobs that may start, kept in priority order
        self.done_before: list = []  # completed before this invocation started
        self.no_pick: list = []  # "tuning: arm" whose grid ended without a pick
        self.edge: list = []  # why a pick's seeds wait for a wider grid (tuning.edge_hold)
        self.picks: list = []  # (tuning name, arm label, symbol, value, seeds) chosen here
        self._arms = {}  # arm id -> [tuning, arm, overrides, plan index, grid jobs, open]
        self._expected = []  # seed jobs that will appear once their arm's grid ends
        first, seeds_seen = [], 0
        for index, (what, item) in enumerate(plan):
            if isinstance(what, str):
                first.append(build.job(item, what, priority=(index, 0, 0, 0)))
                continue
            for a, arm in enumerate(what.arms):
                arm_id = f"{what.name}:{arm.name}"
                jobs = [build.job(exp, f"{what.name}: {arm.label} {_symbol(arm)}={v:g} (grid)",
                                  priority=(index, 0, a, i), arm=arm_id)
                        for i, (v, exp) in enumerate(grid(what, arm, build, item))]
                first += jobs
                n_seeds = sum(1 for s in what.seeds if s != what.tuning_seed)
                mine = [j for j in range(seeds_seen, seeds_seen + n_seeds)
                        if shard is None or j % shard[1] == shard[0]]
                seeds_seen += n_seeds
                self._arms[arm_id] = [what, arm, item, index, jobs, None, mine, seeds_seen - n_seeds]
        if shard is not None:
            first = first[shard[0]::shard[1]]
        for arm_id, entry in self._arms.items():
            entry[5] = {j.run_dir for j in entry[4] if j in first}
        for job in first:
            if status(job.run_dir) == "completed":
                self.done_before.append(job)
                self._ended(job)
            else:
                self.ready.append(job)
        for arm_id in list(self._arms):
            self._release(arm_id)
        self.ready.sort(key=lambda j: j.priority)

    # -- what the pool tells the schedule --------------------------------------------
    def take(self, job: Job) -> None:
        """``job`` has been handed to a worker."""
        self.ready.remove(job)

    def put_back(self, job: Job) -> None:
        """``job`` could not start (another process holds its folder): ready again."""
        self.ready.append(job)
        self.ready.sort(key=lambda j: j.priority)

    def ended(self, job: Job) -> list:
        """``job`` ended (completed, failed or lost); returns the jobs it released."""
        before = set(id(j) for j in self.ready)
        self._ended(job)
        if job.arm:
            self._release(job.arm)
        self.ready.sort(key=lambda j: j.priority)
        return [j for j in self.ready if id(j) not in before]

    def waiting(self) -> int:
        """Seed runs not yet released: their arm's grid has not ended."""
        return len(self.expected_seeds())

    def expected_seeds(self) -> list:
        """``[(key, arm id, priority)]`` of this machine's seed runs whose arm's grid has
        not ended yet: they exist once the pick does (keys are placeholders)."""
        out = []
        for arm_id, (tuning, arm, _, index, _, open_, mine, _) in self._arms.items():
            if open_:
                out += [(f"{arm_id}#seed-run-{j}", arm_id, (index, 1, 0, j)) for j in mine]
        return out

    def grid_jobs(self, arm_id: str) -> list:
        return list(self._arms[arm_id][4])

    # -- inside -----------------------------------------------------------------------
    def _ended(self, job: Job) -> None:
        if job.arm:
            self._arms[job.arm][5].discard(job.run_dir)

    def _release(self, arm_id: str) -> None:
        tuning, arm, overrides, index, jobs, open_, mine, offset = self._arms[arm_id]
        if open_ or open_ is None:
            return
        self._arms[arm_id][5] = None  # released (or refused): never again
        selection = select(arm, [(v, j.exp) for v, j in zip(arm.values, jobs)])
        if not selection.complete:
            self.no_pick.append(f"{tuning.name}: {arm.label}")
            self._arms[arm_id][6] = []
            return
        why = edge_hold(tuning, selection)
        if why:
            self.edge.append(why)
            self._arms[arm_id][6] = []
            return
        self.picks.append((tuning.name, arm.label, _symbol(arm), selection.picked,
                           tuple(tuning.seeds)))
        seeds = [(s, exp) for s, exp in finals(tuning, arm, selection.picked, self.build,
                                               overrides) if s != tuning.tuning_seed]
        for j, (seed, exp) in enumerate(seeds):
            if offset + j not in mine:
                continue
            job = self.build.job(exp, f"{tuning.name}: {arm.label} {_symbol(arm)}="
                                      f"{selection.picked:g} (picked), seed {seed}",
                                 priority=(index, 1, 0, offset + j), seeds_of=arm_id)
            if status(job.run_dir) == "completed":
                self.done_before.append(job)
            else:
                self.ready.append(job)
        self._arms[arm_id][6] = []
