"""The paper's qualitative §5.1 claims, checked against runs.

§5.1 publishes curves (Figure 1), not numbers, and makes five claims about them. Each is
turned into a comparison of statistics computed from ``metrics.jsonl`` (averaged over
seeds when a setting has several), with the numbers that decide it, so the verdict in
the report can be re-derived by anyone from the run files.
"""
import math
from dataclasses import dataclass

CENTRE = "sec51_gamma_1e-3_tau_1e-6"
GAMMA_SWEEP = {1e-4: "sec51_gamma_1e-4", 1e-3: CENTRE, 1e-2: "sec51_gamma_1e-2"}  # tau 1e-6
TAU_SWEEP = {0.0: "sec51_tau_0", 1e-6: CENTRE, 1e-5: "sec51_tau_1e-5"}  # gamma 1e-3


@dataclass
class Verdict:
    claim: str
    holds: bool | None  # None: the runs needed are missing
    evidence: str


def last_layer(run) -> str:
    order = run.summary.get("binary_layer_order") or sorted(run.metrics[0]["flip_ratio"])
    return order[-1]


def _mean(runs, fn):
    return sum(fn(r) for r in runs) / len(runs)


def flip_rate(runs) -> float:
    """Mean per-step flip fraction of the last layer over the whole run."""
    return _mean(runs, lambda r: sum(m["flip_ratio"][last_layer(r)] for m in r.metrics) / len(r.metrics))


def volatility(runs) -> float:
    """Mean absolute change of validation accuracy between consecutive epochs."""
    def one(r):
        v = r.curve("val_accuracy")
        return sum(abs(b - a) for a, b in zip(v, v[1:])) / max(len(v) - 1, 1)
    return _mean(runs, one)


def degradation(runs) -> float:
    """Best minus final validation accuracy."""
    return _mean(runs, lambda r: max(r.curve("val_accuracy")) - r.curve("val_accuracy")[-1])


def early_accuracy(runs) -> float:
    """Validation accuracy after the first fifth of the epochs (at least one)."""
    return _mean(runs, lambda r: r.curve("val_accuracy")[max(math.ceil(len(r.metrics) / 5), 1) - 1])


def late_gain(runs) -> float:
    """Training-accuracy gain over the second half of the run."""
    def one(r):
        t = r.curve("train_accuracy")
        return t[-1] - t[max(len(t) // 2 - 1, 0)]
    return _mean(runs, one)


def final_train(runs) -> float:
    return _mean(runs, lambda r: r.curve("train_accuracy")[-1])


def sci(value) -> str:
    """1e-4 rather than 0.0001, as the paper writes γ and τ."""
    if value == 0:
        return "0"
    mantissa, exponent = f"{value:.0e}".split("e")
    return f"{mantissa}e{int(exponent)}"


def _pct(x):
    return f"{100 * x:.1f} %"


def check_sec51(groups: dict) -> list:
    """``groups``: experiment name -> list of runs (one setting, any seeds)."""
    needed = set(GAMMA_SWEEP.values()) | set(TAU_SWEEP.values())
    missing = sorted(needed - {k for k, v in groups.items() if v})
    verdicts = []

    def need(*names):
        return [n for n in names if n in missing]

    def add(claim, names, decide):
        lacking = need(*names)
        if lacking:
            verdicts.append(Verdict(claim, None, f"missing runs: {', '.join(lacking)}"))
        else:
            holds, evidence = decide()
            verdicts.append(Verdict(claim, holds, evidence))

    def rates(sweep):
        return {k: flip_rate(groups[n]) for k, n in sweep.items()}

    def gamma_rises():
        r = rates(GAMMA_SWEEP)
        ordered = [r[k] for k in sorted(r)]
        return (all(a < b for a, b in zip(ordered, ordered[1:])),
                "mean last-layer flip ratio: " + ", ".join(f"γ={sci(k)}: {r[k]:.2e}" for k in sorted(r)))

    def tau_falls():
        r = rates(TAU_SWEEP)
        ordered = [r[k] for k in sorted(r)]
        return (all(a > b for a, b in zip(ordered, ordered[1:])),
                "mean last-layer flip ratio: " + ", ".join(f"τ={sci(k)}: {r[k]:.2e}" for k in sorted(r)))

    def tau0_volatile():
        t0, c = groups["sec51_tau_0"], groups[CENTRE]
        holds = volatility(t0) > volatility(c) and degradation(t0) > degradation(c)
        return holds, (f"epoch-to-epoch |Δ val acc|: τ=0 {_pct(volatility(t0))} vs τ=1e-6 "
                       f"{_pct(volatility(c))}; best − final val acc: τ=0 {_pct(degradation(t0))} "
                       f"vs τ=1e-6 {_pct(degradation(c))}")

    def aggressive_plateau():
        c = groups[CENTRE]
        parts, holds = [], True
        for name, label in (("sec51_gamma_1e-2", "γ=1e-2"), ("sec51_tau_0", "τ=0")):
            g = groups[name]
            ok = early_accuracy(g) > early_accuracy(c) and late_gain(g) < late_gain(c)
            holds &= ok
            parts.append(f"{label}: early val {_pct(early_accuracy(g))}, second-half train gain "
                         f"{_pct(late_gain(g))}")
        parts.append(f"centre: early val {_pct(early_accuracy(c))}, second-half train gain "
                     f"{_pct(late_gain(c))}")
        return holds, "; ".join(parts)

    def slow_learners():
        c = groups[CENTRE]
        parts, holds = [], True
        for name, label in (("sec51_gamma_1e-4", "γ=1e-4"), ("sec51_tau_1e-5", "τ=1e-5")):
            g = groups[name]
            holds &= final_train(g) < final_train(c) and flip_rate(g) < flip_rate(c)
            parts.append(f"{label}: final train {_pct(final_train(g))}, flip ratio {flip_rate(g):.2e}")
        parts.append(f"centre: final train {_pct(final_train(c))}, flip ratio {flip_rate(c):.2e}")
        return holds, "; ".join(parts)

    add("Flip rate rises with γ (τ = 1e-6)", GAMMA_SWEEP.values(), gamma_rises)
    add("Flip rate falls with τ (γ = 1e-3)", TAU_SWEEP.values(), tau_falls)
    add("τ = 0 makes validation accuracy volatile and then degrade (vs τ = 1e-6)",
        ["sec51_tau_0", CENTRE], tau0_volatile)
    add("The aggressive settings (γ = 1e-2; τ = 0) learn fast, then plateau (vs the centre)",
        ["sec51_gamma_1e-2", "sec51_tau_0", CENTRE], aggressive_plateau)
    add("Low γ / high τ (γ = 1e-4; τ = 1e-5) learn slowly, with few flips (vs the centre)",
        ["sec51_gamma_1e-4", "sec51_tau_1e-5", CENTRE], slow_learners)
    return verdicts
