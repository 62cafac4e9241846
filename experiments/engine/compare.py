"""A new optimizer on the ground of a declared comparison (``bnn compare``).

An *entrant* is an optimizer component (one file in ``experiments/optimizers/`` or a
``BNN_PLUGINS`` module) with a grid of its main hyperparameter. It joins a tuned
comparison (``experiments.engine.tuning``) as one more arm, on the experiment of the
comparison's Bop arm with ``optimizer=`` replaced: the same data, model, length,
holdout, budget of grid points it brings, seeds and test-once rule as every other arm.
Scale-preset keys of the replaced optimizer (Bop's decay interval) are left out by
``build``.

The entrant is recorded in ``<results>/compare/<label>.json`` next to the runs, so that
the report and the figures - which know only declarations - show its arm in the same
tables, verdicts and figure as the declared ones.
"""
import os
import re
from dataclasses import asdict, dataclass, replace

from experiments.engine import runs
from experiments.engine.tuning import Arm, Tuning
from experiments.errors import ConfigError

LABEL = re.compile(r"^[A-Za-z][A-Za-z0-9_+-]*$")


@dataclass(frozen=True)
class Entrant:
    label: str  # the arm's name in tables, claims and file names
    optimizer: str  # the component's class name (optimizer=...)
    key: str  # the dotted config key of its grid, e.g. "optimizer.lr.value"
    values: tuple
    horizons: tuple = (8,)  # the ladder rungs (epochs) it joins
    overrides: dict = None  # its other settings, e.g. {"optimizer.clip": 1.0}
    plugins: str = ""  # BNN_PLUGINS that define it, if it lives outside the suite

    def arm(self, base: Arm) -> Arm:
        parts = self.key.split(".")  # "optimizer.lr.value" is written lr
        symbol = parts[-2] if parts[-1] == "value" and len(parts) > 1 else parts[-1]
        return Arm(base.experiment, self.key, tuple(self.values), self.label, symbol,
                   overrides={"optimizer": self.optimizer, **(self.overrides or {})},
                   id=self.label)


def check_label(label: str) -> None:
    if not LABEL.match(label or ""):
        raise ConfigError(f"label={label!r}: give a plain name (a letter, then letters, "
                          "digits, _ + -), e.g. label=SignSGD")


def folder(runs_root: str) -> str:
    """Where entrants are recorded: ``compare/`` beside the runs root."""
    return os.path.join(os.path.dirname(os.path.abspath(runs_root)), "compare")


def save(runs_root: str, entrant: Entrant) -> str:
    path = os.path.join(folder(runs_root), f"{entrant.label}.json")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    runs.write_json(path, asdict(entrant))
    return path


def load_all(runs_root: str) -> list:
    """Every recorded entrant (sorted by label); a damaged file is named."""
    root = folder(runs_root)
    if not os.path.isdir(root):
        return []
    out = []
    for name in sorted(os.listdir(root)):
        if name.endswith(".json"):
            data = runs.read_json(os.path.join(root, name),
                                  fix="Remove it, or run `bnn compare` again to rewrite it.")
            out.append(Entrant(**{**data, "values": tuple(data["values"]),
                                  "horizons": tuple(data.get("horizons", (8,)))}))
    return out


def with_entrants(tuning: Tuning, epochs: int, entrants, base: str) -> Tuning:
    """``tuning`` (a rung of ``epochs``) with an arm for every entrant that joins it, as a
    copy of the arm ``base`` (the registry's ``VIEWS.ENTRANT_BASE``: Bop's) with
    ``optimizer=`` replaced, and the claims "entrant beats <every declared arm>" (no
    published number behind them)."""
    joining = [e for e in entrants if epochs in e.horizons]
    if not joining:
        return tuning
    (bop,) = [a for a in tuning.arms if a.name == base]
    arms = tuning.arms + tuple(e.arm(bop) for e in joining)
    claims = tuning.comparisons() + [(e.label, a.name, "no published number")
                                     for e in joining for a in tuning.arms]
    return replace(tuning, arms=arms, claims=tuple(claims))


def ladder(found) -> dict:
    """``{epochs: rung}``: the horizon ladder a registry's views declare
    (``VIEWS.HORIZON_LADDER``: names of its tunings; ``VIEWS.HORIZONS``: their lengths)."""
    views = found.views
    return {epochs: found.tunings[name] for epochs, name in
            zip(getattr(views, "HORIZONS", ()), getattr(views, "HORIZON_LADDER", ()))}


def tiny(t: Tuning) -> Tuning:
    """A rung at tiny scale, for trying the protocol in seconds (``bnn compare ...
    scale=tiny``, the tests): two grid values per arm, two seeds, 60 images with a
    20-image holdout, an eighth of the epochs, the rung's precision. Every pick of a
    two-value grid is on an edge, so edge picks train their seeds here."""
    return replace(t, scale="tiny", seeds=(0, 1), claims=(), hold_edge_picks=False,
                   arms=tuple(replace(a, values=a.values[1:3]) for a in t.arms),
                   overrides={"holdout": 20, "train_subset": 60,
                              "epochs": t.overrides["epochs"] // 8,
                              "precision": t.overrides["precision"]})
