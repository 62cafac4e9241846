"""What the measuring tools (``bench``, ``gpu_check``) share, so that they measure and
record the same way: the data overrides they accept, the experiment they build from the
registry, the timed calls of the suite's own step, and the provenance and writing of the
JSON document they leave.

The step they time is the training loop's (``experiments.engine.step.train_call``): a
compiled call of ``steps_per_loop`` steps and the host work after it, so a measured
rate is the rate training runs at.
"""
import math
import os
import time

from experiments import registry
from experiments.cli import parse_overrides
from experiments.engine import runs
from experiments.engine.experiment import build
from experiments.engine.fingerprint import fingerprint
from experiments.engine.pipelines import train_iterator
from experiments.engine.step import HostCursor, TrainState, train_call
from experiments.tools.paired_rounds import stamp

# the keys a tool accepts on its command line: where the data are, nothing that changes
# what is computed
DATA_KEYS = ("data_dir", "dataset.archive")


def data_overrides(items, tool: str) -> dict:
    """``data_dir`` (default ``~/tensorflow_datasets``) and, if given,
    ``dataset.archive``, from ``key=value`` command-line items, both as absolute paths;
    any other key is refused in one line naming ``tool``."""
    overrides = parse_overrides(items)
    unknown = set(overrides) - set(DATA_KEYS)
    if unknown:
        raise SystemExit(f"error: {tool} accepts only data_dir= and dataset.archive=, got "
                         f"{sorted(unknown)}")
    data = {"data_dir": os.path.expanduser(overrides.get("data_dir", "~/tensorflow_datasets"))}
    if overrides.get("dataset.archive"):
        data["dataset.archive"] = os.path.abspath(os.path.expanduser(overrides["dataset.archive"]))
    return data


def experiment(name: str, overrides: dict):
    """The registry's experiment ``name`` built (and validated) with ``overrides``."""
    return build(registry.load().experiment(name), overrides)


class Calls:
    """The loop's own step, ``train_call``, again and again on one ``TrainState``: keeps
    every step's loss and flip counts, the calls' ``flips.jsonl`` rows (as the loop keeps
    them until its next save), and returns a (wall, CPU) stamp after every call."""

    def __init__(self, exp, state, iterator):
        self.exp, self.state, self.iterator = exp, state, iterator
        self.cursor = HostCursor(state)
        self.losses, self.flips, self.rows = [], [], []

    @property
    def step(self) -> int:
        return self.cursor.step

    def run(self, calls: int, deadline: float | None = None) -> list:
        """``calls`` calls (fewer once ``time.monotonic()`` passes ``deadline``)."""
        n = self.exp.steps_per_loop
        stamps = []
        for _ in range(calls):
            call = train_call(self.exp, self.state, self.iterator, n, 0, self.cursor)
            self.losses.extend(call.losses.tolist())
            self.flips.extend(call.flips)
            self.rows += call.rows
            stamps.append(stamp())
            if deadline is not None and time.monotonic() > deadline:
                break
        return stamps


def provenance(command: str, hardware: dict | None = None) -> dict:
    """Where a measurement comes from: the command, the date, the machine (``hardware``,
    default this one's fingerprint), the package versions and the git commit."""
    return {"command": command, "date": runs.now(), "hardware": hardware or fingerprint(),
            "packages": runs.package_versions(), "git": runs.git_commit()}


def write_document(path: str, doc: dict) -> None:
    """Write a tool's JSON document atomically, making its folder if needed."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    runs.write_json(path, doc)


def suite_window(exp, state, iterator, steps):
    """Stamps of the suite's loop: one ``experiments.engine.step.train_call`` per stamp
    (:class:`Calls`) - the loop's own step: a compiled ``train_steps`` call of
    ``exp.steps_per_loop`` steps and the host work after it (read flips and losses back,
    the divergence check, the flip-log rows; the epoch's flip sums are added on the
    device, the running metrics read only when a progress line is due). The first call
    (the round's first steps, a fresh pipeline) is not timed: stamps start after it,
    then one per call for ``ceil(steps / n)`` calls."""
    return Calls(exp, state, iterator).run(1 + math.ceil(steps / exp.steps_per_loop))


def suite_rounds(exp, strategy, builder, split, steps_per_epoch, steps):
    """The suite's variant: one ``TrainState``, round r on a fresh pipeline of epoch r;
    returns ``(round function, images per stamp, the state)``."""
    state = TrainState(exp, strategy, steps_per_epoch)

    def suite(r):
        return suite_window(exp, state, train_iterator(exp, strategy, builder, split, epoch=r),
                            steps)
    return suite, exp.batch_size * exp.steps_per_loop, state
