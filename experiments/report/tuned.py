"""REPORT.md sections for the tuned reduced-scale comparisons and the §5.2 baseline's
initialisation, computed from run folders only.

A tuned comparison's runs are found with ``experiments.engine.tuning.resolve`` - the rule
``run-group`` trains by, and the one the figures use - so the table, the verdict and the
figure always show the same runs. The initialisation comparison pairs
``sec52_adam`` runs that differ only in ``model.kernel_init``.
"""
import json
import math

from experiments.analysis import claims, speed, stats
from experiments.analysis.collect import group_runs, load_run, mean_std
from experiments.analysis.equivalence import optimizers as equivalence_verdict
from experiments.engine.tuning import resolve
from experiments.report.cells import duration as _duration, hardware as hardware_cell, link as _link, pct as _pct
from experiments.report.selection import builder, groups_training


def tuned_section(tuning, runs_root, out_dir) -> list:
    """Grid table, picked settings on the test set, and the verdict between arms."""
    arms = resolve(tuning, builder(runs_root), lambda p: load_run(p, with_flips=False))
    precision = tuning.overrides.get("precision", "float32")
    lines = [f"### Tuned comparison at {tuning.scale} scale, {precision} (`{tuning.name}`)", "",
             f"{tuning.description}. Protocol (`experiments/engine/tuning.py`): every grid value "
             f"trained once (seed {tuning.tuning_seed}) and validated on the holdout; each "
             "optimizer's value with the highest final-epoch holdout accuracy is picked and "
             f"trained on seeds {', '.join(map(str, tuning.seeds))} (seed "
             f"{tuning.tuning_seed} is the grid run itself); the test split is evaluated once "
             "per run, after its last epoch, and never used for the pick. ⚠ reduced scale: "
             "not comparable with the paper's numbers.", "",
             "**Tuning grid** (final-epoch holdout accuracy, %):", "",
             "| optimizer | tuned | value | holdout acc (%) | status | run |", "|---|---|---|---|---|---|"]
    seconds = 0.0
    for a in arms:
        for value in a.arm.values:
            run = a.grid.get(value)
            if value in a.selection.holdout:
                acc, status = _pct(a.selection.holdout[value]), "✓ picked" if value == a.selection.picked else ""
            elif value in a.selection.failed:
                acc, status = "—", f"✗ failed: {a.selection.failed[value][:100]}"
            else:
                acc, status = "—", "not run yet" if run is None else f"⚠ {run.status}"
            if run is not None:
                seconds += run.summary.get("wall_time_s") or 0
            lines.append(f"| {a.arm.label} | {a.arm.symbol or a.arm.key} | {value:g} | {acc} | "
                         f"{status} | {_link(run.path, out_dir) if run else '—'} |")
    lines += ["", "**Picked settings on the test set** (mean ± std over seeds):", "",
              "| optimizer | picked | n | test acc (%) | holdout acc (%) | final train acc (%) | "
              "wall time per run | hardware | runs | marks |", "|---|---|---|---|---|---|---|---|---|---|"]
    for a in arms:
        if a.selection.picked is None:
            lines.append(f"| {a.arm.label} | — (grid incomplete: "
                         f"{', '.join(f'{v:g}' for v in a.selection.missing)}) | 0 | | | | | | | "
                         f"{how_to_run(tuning, a.arm)} |")
            continue
        seconds += sum(r.summary.get("wall_time_s") or 0 for r in a.finals
                       if r.seed != tuning.tuning_seed)
        test = mean_std([r.summary.get("test_accuracy") for r in a.finals])
        hold = mean_std([r.summary.get("final_val_accuracy") for r in a.finals])
        train = mean_std([r.summary.get("final_train_accuracy") for r in a.finals])
        wall = mean_std([r.summary.get("wall_time_s") for r in a.finals])[0]
        hardware, mixed = hardware_cell(a.finals)
        marks = [f"⚠ seeds {a.pending} not completed"] if a.pending else []
        marks += [mixed] if mixed else []
        if a.selection.picked in (a.arm.values[0], a.arm.values[-1]) and len(a.arm.values) > 2:
            marks.append("⚠ picked at the edge of its grid: its best value may lie outside")
        marks = "; ".join(marks) or "✓"
        lines.append(
            f"| {a.arm.label} | {a.arm.symbol or a.arm.key} = {a.selection.picked:g} | "
            f"{len(a.finals)} | {_pct(*test)} | {_pct(*hold)} | {_pct(*train)} | "
            f"{_duration(wall) if wall else '—'} | {hardware} | "
            f"{' '.join(_link(r.path, out_dir) for r in a.finals)} | {marks} |")
    lines += ["", f"Training wall time of the whole comparison (grid + extra seeds, as "
              f"recorded by the runs): {_duration(seconds)}.", ""]
    lines += verdict_lines(arms, tuning.comparisons(), lambda arm: how_to_run(tuning, arm)) + [""]
    thresholds = speed.THRESHOLDS.get(tuning.scale, ())
    picked = {f"{a.arm.label} ({a.arm.symbol or a.arm.key} = {a.selection.picked:g})": a.finals
              for a in arms if a.finals}
    if picked and thresholds:
        lines += ["**Time to accuracy** of the picked settings (first epoch end with holdout "
                  f"accuracy at or above each threshold; thresholds for the {tuning.scale} scale "
                  "in `experiments/analysis/speed.py`; a run that never got there counts in "
                  "\"reached\" only):", ""] + speed.table(picked, thresholds) + [""]
    return lines


def how_to_run(tuning, arm) -> str:
    """Where an arm's missing runs come from: the command of a group that trains (or
    resumes) it."""
    groups = groups_training(tuning.name, arm.experiment)
    return f"`bnn run-group {groups[0] if groups else tuning.name}` makes them"


def verdict_lines(arms, comparisons, hint=lambda arm: "") -> list:
    """One row per declared claim ``(higher, lower, source)``: test accuracy of the picked
    settings, the interval of the difference and its verdict, interim while a pick has
    seeds still to run; a claim whose arms lack their picked runs says which and, with
    ``hint(arm)``, how to make them."""
    lines = ["| claim | verdict | evidence |", "|---|---|---|"]
    by_name = {a.arm.name: a for a in arms}
    for higher, lower, source in comparisons:
        a, b = by_name[higher], by_name[lower]
        claim = (f"Tuned alike, {a.arm.label} reaches a higher test accuracy than "
                 f"{b.arm.label}" + (f" ({source})" if source else ""))
        lacking = [x for x in (a, b) if not x.finals]
        if lacking:
            missing = "; ".join(f"{x.arm.label}: no picked runs" + (
                f" ({hint(x.arm)})" if hint(x.arm) else "") for x in lacking)
            lines.append(f"| {claim} | **not checked** | {missing} |")
            continue
        d = stats.difference([r.summary["test_accuracy"] for r in a.finals],
                             [r.summary["test_accuracy"] for r in b.finals])
        text = stats.describe(d, names=(a.arm.label, b.arm.label))
        verdict = f"**{stats.verdict(d)}**"
        if a.pending or b.pending:  # the declared n is not met: the verdict may change
            verdict = (f"interim (n = {len(a.finals)}, {len(b.finals)} of "
                       f"{len(a.finals) + len(a.pending)}): {verdict}")
        lines.append(f"| {claim} | {verdict} | test accuracy, {text} |")
    return lines


def _all_layer_flip_rate(run) -> float:
    """Mean per-step flip fraction over every binary weight (layers weighted by size)."""
    sizes = run.summary.get("binary_layers") or {}
    total = sum(sizes.values())
    if not total:
        return claims.run_flip_rate(run)
    per_epoch = [sum(m["flip_ratio"][k] * n for k, n in sizes.items()) / total for m in run.metrics]
    return sum(per_epoch) / len(per_epoch)


EFFECT = {"holds": "higher (95 % interval above 0)", "does not hold": "lower (95 % interval below 0)",
          "inconclusive": "no clear difference (interval includes 0, or n < 2)"}


def init_section(runs, out_dir, experiment: str, scale="quick") -> list:
    """§5.2 baseline: U[-1, 1] (Courbariaux et al.) vs Glorot latent init, same seeds."""
    import math

    members = [r for r in runs if r.experiment == experiment and r.scale == scale
               and r.complete and r.config.get("validation", "test") == "test"]
    by_init = {}
    for key, group in group_runs(members).items():
        init = group[0].config.get("model.kernel_init", "glorot_uniform")
        rest = {k: v for k, v in group[0].semantic_config.items() if k != "model.kernel_init"}
        by_init.setdefault(json.dumps(rest, sort_keys=True, default=str), {})[init] = group
    pairs = [v for v in by_init.values() if {"uniform", "glorot_uniform"} <= set(v)]
    if not pairs:
        return []
    both = max(pairs, key=lambda v: len(v["uniform"]) + len(v["glorot_uniform"]))
    uni, glo = both["uniform"], both["glorot_uniform"]
    lines = [f"### Latent-weight initialisation of the §5.2 baseline ({scale} scale, paper "
             "hyperparameters)", "",
             "`sec52_adam` initialises latent weights uniformly in [-1, 1] as Courbariaux et "
             "al.'s BinaryNet code does (H = 1; docs/methods.md#the-latent-weight-baseline); the suite used Glorot uniform before. "
             "Same seeds, only `model.kernel_init` differs (`make sec52-init`):", "",
             "| quantity | U[-1, 1] vs Glorot | effect of U[-1, 1] |", "|---|---|---|"]
    quantities = [
        ("final test accuracy", lambda r: r.curve("val_accuracy")[-1], {}),
        ("mean flip ratio per step, all binary layers, first epoch",
         lambda r: math.log10(max(sum(r.metrics[0]["flip_ratio"][k] * n for k, n in
                                      r.summary["binary_layers"].items())
                                  / sum(r.summary["binary_layers"].values()), 1e-12)),
         dict(scale=1.0, unit=" (log10)", fmt=".2f")),
        ("mean flip ratio per step, all binary layers, whole run",
         lambda r: math.log10(max(_all_layer_flip_rate(r), 1e-12)),
         dict(scale=1.0, unit=" (log10)", fmt=".2f")),
    ]
    for label, fn, fmt in quantities:
        outcome, text = claims.compare(uni, glo, fn, names=("U[-1, 1]", "Glorot"), **fmt)
        lines.append(f"| {label} | {text} | {EFFECT[outcome]} |")
    links = " ".join(_link(r.path, out_dir) for r in uni + glo)
    return lines + ["", f"Runs: {links}", ""]


# Real numbers per binary weight that each update rule needs (its state, plus the
# latent weight where the binary weight is the sign of one).
EXPECTED_REALS = {"Bop": "1 (m) - paper", "Bop2ndOrder": "2 (m, v) - its update rule",
                  "Bop2ndOrderUnbiased": "2 (m, v) - its update rule",
                  "LatentSGD": "1 (w̃) - update rule", "LatentMomentum": "2 (w̃, momentum) - paper",
                  "LatentAdam": "3 (w̃, m, v) - paper"}


def memory_section(runs) -> list:
    """Per optimizer and dataset: optimizer-state bytes and real numbers per binary
    weight, as recorded by the runs (``experiments/engine/memory.py``), and peak memory."""
    rows = {}
    for run in runs:
        memory = run.summary.get("memory")
        if not memory:
            continue
        key = (run.config.get("optimizer", "?"), run.summary.get("dataset", "Cifar10"))
        rows.setdefault(key, []).append((run, memory))
    if not rows:
        return []
    lines = ["## Optimizer memory (measured)", "",
             "From each run's `summary.json` (`memory`): the optimizer's slot variables for the "
             "binary kernels, per binary weight, and the real numbers held per binary weight "
             "(slots + the latent weight where there is one). Peak host memory is the "
             "process's peak resident set, which includes TensorFlow and the input pipeline.", "",
             "| optimizer | dataset | runs | state bytes / binary weight | real numbers / binary "
             "weight | expected (the paper's count, docs/methods.md#bop-algorithm-2; else the update rule) | peak host memory (max, GiB) | peak device "
             "memory (max, GiB) |", "|---|---|---|---|---|---|---|---|"]
    for (optimizer, dataset), members in sorted(rows.items()):
        states = sorted({m["optimizer_state_bytes_per_binary_weight"] for _, m in members})
        reals = sorted({m["real_numbers_per_binary_weight"] for _, m in members})
        host = max(m.get("peak_host_memory_bytes", 0) for _, m in members) / 2 ** 30
        device = [m["peak_device_memory_bytes"] for _, m in members if "peak_device_memory_bytes" in m]
        lines.append(
            f"| {optimizer} | {dataset} | {len(members)} | {', '.join(f'{s:g}' for s in states)} | "
            f"{', '.join(f'{r:g}' for r in reals)} | {EXPECTED_REALS.get(optimizer, '—')} | "
            f"{host:.2f} | {f'{max(device) / 2 ** 30:.2f}' if device else '— (no GPU)'} |")
    return lines + [""]


def sweep_section(sweep, runs_root) -> list:
    """A two-key sweep as a table: final validation accuracy (mean ± std, n of the
    declared seeds) and mean last-layer flip ratio per cell, with the sweep's wall time."""
    from experiments.report.selection import map_cells

    found = map_cells(sweep, runs_root)
    if found is None:
        return []
    cells, (k1, v1s), (k2, v2s) = found
    n_seeds = len(sweep.seeds)
    seconds = sum(r.summary.get("wall_time_s") or 0 for runs in cells.values() for r in runs)
    done = sum(len(r) for r in cells.values())
    any_run = next(r for runs in cells.values() for r in runs)
    lines = [f"### {sweep.description} (`{sweep.name}`, {sweep.scale} scale)", "",
             f"`bnn sweep {sweep.name}`: {sweep.experiment} with {k1} x {k2}, seeds "
             f"{list(sweep.seeds)}; {done} of {len(cells) * n_seeds} runs done, "
             f"{any_run.summary['epochs_planned']} epochs each on "
             f"{any_run.summary.get('train_examples', '?')} training images; training wall time of the "
             f"runs: {_duration(seconds)}. Cells: final validation accuracy (%), mean ± std "
             f"(n of {n_seeds} seeds), then mean last-layer flip ratio per step. ⚠ reduced "
             "scale.", "",
             f"| {k1} \\ {k2} | " + " | ".join(f"{v:g}" for v in v2s) + " |",
             "|---|" + "---|" * len(v2s)]
    for a in v1s:
        row = []
        for b in v2s:
            runs = cells.get((a, b), [])
            if not runs:
                row.append("not run")
                continue
            acc = mean_std([r.curve("val_accuracy")[-1] for r in runs])
            flips = sum(claims.run_flip_rate(r) for r in runs) / len(runs)
            row.append(f"{_pct(*acc)} (n = {len(runs)}); {flips:.1e}")
        lines.append(f"| {a:g} | " + " | ".join(row) + " |")
    return lines + [""]


def time_to_accuracy_section(runs, experiments) -> list:
    """Per scale, the optimizers' own-config runs: steps and training time to first
    reach each stated validation accuracy (tuned picks are in their own section)."""
    from experiments.analysis.collect import choose_group
    from experiments.report.selection import default_config

    lines = []
    for scale, thresholds in speed.THRESHOLDS.items():
        arms = {}
        for name in experiments:
            group = [r for r in choose_group(runs, name, scale, default_config(name, scale))
                     if r.complete]
            if group:
                arms[f"{group[0].config.get('optimizer', '?')} (`{name}`, validated on "
                     f"{group[0].summary.get('validation_split', 'test')})"] = group
        if arms:
            lines += [f"**Time to accuracy at {scale} scale** (validation accuracy thresholds "
                      f"for this scale: {', '.join(f'{100 * t:g} %' for t in thresholds)}; "
                      "`experiments/analysis/speed.py`):", ""] + speed.table(arms, thresholds) + [""]
    return lines


def ladder(runs_root) -> list:
    """``[(tuning, epochs, {experiment: ArmResult})]`` for the horizon ladder's rungs."""
    from experiments.report.selection import tunings, views

    by_name = {t.name: t for t in tunings(runs_root=runs_root)}
    rungs = []
    for name in views().HORIZON_LADDER:
        t = by_name[name]
        arms = resolve(t, builder(runs_root), lambda p: load_run(p, with_flips=False))
        rungs.append((t, t.overrides["epochs"], {a.arm.name: a for a in arms}))
    return rungs


def ladder_differences(rungs, pairs) -> list:
    """Per rung and pair ``(higher, lower)``: the test-accuracy difference of the picked
    settings (``stats.Difference`` over seeds, or None while a side has no picked runs)."""
    out = []
    for t, epochs, arms in rungs:
        for higher, lower in pairs:
            a, b = arms.get(higher), arms.get(lower)
            d = None
            if a and b and a.finals and b.finals:
                d = stats.difference([r.summary["test_accuracy"] for r in a.finals],
                                     [r.summary["test_accuracy"] for r in b.finals])
            out.append((t, epochs, higher, lower, a, b, d))
    return out


def horizon_section(runs_root, reported) -> list:
    """"Bop vs latent Adam vs training length": per rung of the ladder the picks, how many
    of the rung's declared runs and seeds exist, each pair's test-accuracy difference with
    its 95 % interval and verdicts, interim while a pair has fewer seeds than declared;
    the trend of the first pair across the rungs; the paper's full-scale difference
    apart, never joined."""
    from experiments.report.selection import horizon_pairs, views

    rungs = ladder(runs_root)
    if not rungs:
        return []
    pairs = horizon_pairs(runs_root)
    margin = views().HORIZON_MARGIN_PP
    labels = {a.name: a.label for _, _, arms in rungs for a in (x.arm for x in arms.values())}
    lines = ["### Bop vs latent Adam vs training length (the horizon ladder)", "",
             "Each rung is the tuned comparison's protocol (grid picked on the holdout, then "
             "each pick trained on the rung's declared seeds, test once) at one training "
             "length on the same 15,000 images, tuned on its own (`make cifar10-long`; "
             f"{rungs[0][0].overrides.get('precision', 'float32')}). The seeds per pick and "
             f"the equivalence margin, ±{margin:g} pp, were declared before the runs "
             "(`configs/cifar10.py`: `LADDER_SEEDS`, `LADDER_MARGIN_PP`). Differences: "
             "picked test accuracy, mean over seeds, with the 95 % interval (Welch), and "
             "whether it is above 0. Equivalence: two one-sided tests at 2.5 % each, read "
             f"off the same interval: **equivalent** when all of it lies within ±{margin:g} pp, "
             f"**different** when all of it lies beyond ±{margin:g} pp, **inconclusive** "
             "otherwise. A verdict is **interim** while its pair has fewer seeds than "
             "declared: the declared n is not met and the verdict may change. Bop's memory "
             "is about 1/γ steps, so its best γ and its standing against Adam may move with "
             "length.", "",
             "| epochs | runs done / declared | training wall time of those runs | hardware "
             "| picks | seeds per pick, done / declared | "
             + " | ".join(f"{labels[a]} − {labels[b]} (pp) | equivalence (±{margin:g} pp)"
                          for a, b in pairs) + " |",
             "|---|---|---|---|---|---|" + "---|---|" * len(pairs)]
    diffs = ladder_differences(rungs, pairs)
    for t, epochs, arms in rungs:
        done, declared = rung_progress(t, arms)
        picks = "; ".join(_pick_text(a) for a in arms.values())
        wall = _duration(rung_wall_s(t, arms))
        hardware = hardware_cell(_completed_protocol_runs(t, arms))[0] or "—"
        if not done:
            groups = groups_training(t.name, t.arms[0].experiment)
            picks = (f"not run yet: `bnn run-group {t.name}`"
                     + (f" or `bnn run-group {groups[0]}`" if groups else "") + " makes them")
            wall = "—"
        cells = [cell for rt, *_, a, b, d in diffs if rt is t
                 for cell in _verdict_cells(t, a, b, d, margin)]
        lines.append(f"| {epochs} | {done} / {declared} | {wall} | {hardware} | {picks} | "
                     f"{_seeds_text(t, arms)} | " + " | ".join(cells) + " |")
    lines += ["", trend_text(diffs, pairs[0], labels)]
    bop, adam = (reported.get(n, {}).get("metrics", {}).get("test_top1") for n in pairs[0])
    if bop is not None and adam is not None:
        lines += ["", f"Not on the ladder: the paper's full-scale runs (500 epochs, full width, "
                  f"50,000 images, one run each) differ by {bop - adam:+.1f} pp ({bop:g} vs "
                  f"{adam:g} %); a single pair of runs has no interval."]
    return lines + [""]


def ladder_trend(diffs, pair):
    """``(Line, [epochs])``: the pair's difference (pp) against log2(epochs), fitted by
    weighted least squares (weights 1/SE²) over the rungs whose difference has an
    interval; None while fewer than two rungs do."""
    points = [(epochs, d) for _, epochs, hi, lo, _, _, d in diffs
              if (hi, lo) == tuple(pair) and d is not None and stats.standard_error(d)]
    if len(points) < 2:
        return None
    line = stats.weighted_line([math.log2(e) for e, _ in points],
                               [100 * d.diff for _, d in points],
                               [100 * stats.standard_error(d) for _, d in points])
    return line, [e for e, _ in points]


def trend_text(diffs, pair, labels) -> str:
    """The trend of ``pair`` along the ladder, said as what it is: a description of the
    rungs it was fitted to, never a forecast for longer runs."""
    name = f"{labels[pair[0]]} − {labels[pair[1]]}"
    found = ladder_trend(diffs, pair)
    if found is None:
        return (f"Trend of {name} with length: not fitted yet (it needs two rungs whose "
                "difference has an interval).")
    line, lengths = found
    widened = (f", the interval widened ×{line.scale:.2f} because the rungs scatter about the "
               "line more than their errors allow" if line.scale > 1 else "")
    return (f"Trend of {name} with length, across the rungs with results "
            f"({', '.join(map(str, lengths))} epochs, interim ones with their n so far): "
            f"{line.slope:+.2f} pp per doubling of the training length, 95 % interval "
            f"[{line.low:+.2f}, {line.high:+.2f}] (weighted least squares of the per-rung "
            "differences on log2(epochs), weights 1/SE²; "
            f"χ² = {line.chi2:.2f} on {line.k - 2} degree{'' if line.k == 3 else 's'} of "
            f"freedom{widened}; `experiments/analysis/stats.py`, `weighted_line`). It "
            "describes these rungs only: it is not extrapolated, and says nothing about "
            "where the difference goes beyond them, such as at the paper's 500 epochs.")


def rung_progress(tuning, arms) -> tuple[int, int]:
    """Completed and declared runs of a tuned comparison: per arm its grid, then the
    pick's seeds other than the grid's own (the protocol's runs, not every folder it may
    own)."""
    extra = len(tuning.seeds) - 1
    declared = sum(len(a.arm.values) + extra for a in arms.values())
    return len(_completed_protocol_runs(tuning, arms)), declared


def rung_wall_s(tuning, arms) -> float:
    """Training seconds recorded by the completed runs that :func:`rung_progress` counts."""
    return sum(r.summary.get("wall_time_s") or 0 for r in _completed_protocol_runs(tuning, arms))


def _completed_protocol_runs(tuning, arms) -> list:
    """Each arm's completed grid runs, then its pick's seeds other than the grid's own."""
    return ([r for a in arms.values() for r in a.grid.values() if r is not None and r.complete]
            + [r for a in arms.values() for r in a.finals if r.seed != tuning.tuning_seed])


def _pick_text(a) -> str:
    name = f"{a.arm.label} {a.arm.symbol or a.arm.key} = "
    if a.selection.picked is None:
        return name + "—"
    edge = a.selection.picked in (a.arm.values[0], a.arm.values[-1])
    return name + f"{a.selection.picked:g}" + (" ⚠ grid edge" if edge else "")


def _seeds_text(tuning, arms) -> str:
    """Seeds of each arm's pick done, against the rung's declared seeds."""
    done = {a.arm.label: len(a.finals) for a in arms.values()}
    declared = len(tuning.seeds)
    if len(set(done.values())) == 1:
        return f"{next(iter(done.values()))} / {declared}"
    return ", ".join(f"{label} {n}" for label, n in done.items()) + f" / {declared}"


def _verdict_cells(tuning, a, b, d, margin) -> list:
    """The difference cell and the equivalence cell of one pair at one rung; both
    labelled interim while either pick has fewer seeds than the rung declares."""
    if d is None:
        return ["— (picks not run yet)", "—"]
    declared = len(tuning.seeds)
    n = f"n = {d.n_a}, {d.n_b}"
    if d.low is None:
        return [f"{100 * d.diff:+.2f} (no interval: {n})", "—"]
    interim = min(len(a.finals), len(b.finals)) < declared
    equivalence = f"**{equivalence_verdict(d, margin / 100)}**"
    difference = (f"{100 * d.diff:+.2f} [{100 * d.low:+.2f}, {100 * d.high:+.2f}] "
                  f"({stats.verdict(d)}; {n})")
    if interim:
        difference = (f"{100 * d.diff:+.2f} [{100 * d.low:+.2f}, {100 * d.high:+.2f}] "
                      f"(interim: {stats.verdict(d)}; {n} of {declared})")
        equivalence = f"interim ({n} of {declared}): {equivalence}"
    return [difference, equivalence]
