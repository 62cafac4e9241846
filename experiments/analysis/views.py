"""What a section, a figure or a claim of the report looks at, as data: the analysis
functions take these, and ``configs/analysis.py`` declares them, so every experiment
the report and the figures show is named once, in ``configs/``.

A view names experiments and their roles; it holds no runs. Which runs of an experiment
feed a view is decided by one rule (``experiments.analysis.collect.choose_group``), for
REPORT.md and the figures alike.
"""
from dataclasses import dataclass, field


def sci(value) -> str:
    """1e-4 rather than 0.0001, as the paper writes γ and τ."""
    if value == 0:
        return "0"
    mantissa, exponent = f"{value:.0e}".split("e")
    return f"{mantissa}e{int(exponent)}"


@dataclass(frozen=True)
class AblationView:
    """§5.1 / Figure 1: a γ sweep and a τ sweep that share one setting, the centre.

    Claims read their settings off the sweeps: the largest γ and the smallest τ are the
    aggressive settings, the smallest γ and the largest τ the slow ones, τ = 0 (if swept)
    the run without a threshold."""

    gamma: dict  # γ -> experiment name, at the centre's τ
    tau: dict  # τ -> experiment name, at the centre's γ
    title: str = "§5.1"

    def __post_init__(self):
        common = set(self.gamma.values()) & set(self.tau.values())
        if len(common) != 1:
            raise ValueError(f"{self.title}: the γ and τ sweeps must share exactly one "
                             f"experiment (the centre), got {sorted(common)}")

    @property
    def centre(self) -> str:
        return (set(self.gamma.values()) & set(self.tau.values())).pop()

    @property
    def centre_gamma(self) -> float:
        return next(g for g, n in self.gamma.items() if n == self.centre)

    @property
    def centre_tau(self) -> float:
        return next(t for t, n in self.tau.items() if n == self.centre)

    @property
    def experiments(self) -> list:
        return list(dict.fromkeys([*self.gamma.values(), *self.tau.values()]))

    def aggressive(self) -> dict:
        """label -> experiment: the largest γ and the smallest τ."""
        g, t = max(self.gamma), min(self.tau)
        return {f"γ={sci(g)}": self.gamma[g], f"τ={sci(t)}": self.tau[t]}

    def slow(self) -> dict:
        """label -> experiment: the smallest γ and the largest τ."""
        g, t = min(self.gamma), max(self.tau)
        return {f"γ={sci(g)}": self.gamma[g], f"τ={sci(t)}": self.tau[t]}

    def no_threshold(self) -> tuple | None:
        """(label, experiment) of τ = 0, if the τ sweep has it."""
        return ("τ=0", self.tau[0.0]) if 0.0 in self.tau else None


@dataclass(frozen=True)
class CurvesView:
    """A figure (and its table rows) of named experiments' curves, label -> experiment."""

    experiments: dict
    title: str = ""
    note: str = ""  # e.g. what a reduced scale does to this comparison


@dataclass(frozen=True)
class InertiaView:
    """§3: which experiments carry each measurement."""

    sgd_large_lr: str  # SGD, lr 1
    sgd_small_lr: str  # SGD, lr 0.01
    sgd_small_lr_small_init: str  # SGD, lr 0.01, initial weights x 0.01
    adam_decayed: str  # latent Adam with learning-rate decay
    adam_constant: str  # the same without decay
    approximation: str  # the approximation test's run
    theorem1: str  # the lockstep comparison
    flips: dict = field(default_factory=dict)  # label -> experiment, the π_t figure

    @property
    def sgd(self) -> dict:
        return {"lr 1": self.sgd_large_lr, "lr 0.01": self.sgd_small_lr,
                "lr 0.01, init x 0.01": self.sgd_small_lr_small_init}

    @property
    def experiments(self) -> list:
        return list(dict.fromkeys([*self.sgd.values(), self.adam_decayed, self.adam_constant,
                                   self.approximation, self.theorem1, *self.flips.values()]))
