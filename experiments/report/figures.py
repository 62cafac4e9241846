"""The paper's figures re-drawn from run files only (``make figures``, ``bnn figures``),
and a run's per-layer flip heatmap on demand.

    bnn figures [--runs results/runs] [--out results/figures]
    bnn figures --run results/runs/<experiment>/<run-id>   # -> results/figures/flips/

One figure per scale (``figure1-quick.png``, ``figure1-paper.png``, ...): runs of
different scales are never mixed in one plot, and every title states the scale and the
epochs actually run. Where a setting has several seeds the lowest seed is drawn. Failed
runs are never drawn, and a figure whose runs are gone or no longer readable is removed,
so REPORT.md cannot embed a picture of data it no longer has. Figures are PNG files
without any date or software stamp: the same runs draw the same bytes (with the pinned
matplotlib), so they are committed next to REPORT.md and re-made identically. Flip
heatmaps are made per run on demand (``make figures RUN=...``) and not committed.
"""
import argparse
import os
import textwrap

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from experiments.analysis.claims import last_layer, run_flip_rate
from experiments.analysis.views import sci
from experiments.analysis.collect import choose_group, load_run, load_runs
from experiments.report import declarations
from experiments.report.cells import precisions
from experiments.report.selection import (default_config, owned_paths, read_rules, sweeps,
                                          tunings, views)

PI_T_FLOOR = -9.0


def pick(runs, experiment, scale):
    """The run drawn for (experiment, scale): the lowest seed of the group REPORT.md
    shows too (``choose_group``: the experiment's own config first)."""
    group = [r for r in choose_group(runs, experiment, scale, default_config(experiment, scale))
             if r.metrics]
    return group[0] if group else None


def _epochs_label(runs):
    """Epochs run (of planned) and the precision: every title carries both."""
    done = sorted({r.summary["epochs_done"] for r in runs})
    planned = sorted({r.summary["epochs_planned"] for r in runs})
    text = "/".join(map(str, done)) + " epochs"
    if done != planned:
        text += f" of {'/'.join(map(str, planned))} planned"
    return f"{text}, {precisions(runs)}"


def _save(fig, out_dir, name):
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, f"{name}.png")
    # no software stamp (and PNG has no date): unchanged runs redraw the same bytes
    fig.savefig(path, dpi=130, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return [path]


def _accuracy(ax, run, color, label):
    epochs = run.curve("epoch")
    ax.plot(epochs, run.curve("train_accuracy"), color=color, linestyle="-", label=f"{label} train")
    ax.plot(epochs, run.curve("val_accuracy"), color=color, linestyle="--", label=f"{label} val")


def _pi_t(ax, run, color, label):
    layer = last_layer(run)
    steps = [row["step"] for row in run.flips]
    values = [row["pi_t"][layer] for row in run.flips]
    ax.plot(steps, values, color=color, linewidth=0.6, alpha=0.8, label=label)


def figure1(runs, scale, out_dir):
    """Figure 1: γ sweep (left) and τ sweep (right); accuracy (top), π_t (bottom)."""
    view = views().SEC51
    panels = [("γ", view.gamma, f"τ = {sci(view.centre_tau)}"),
              ("τ", view.tau, f"γ = {sci(view.centre_gamma)}")]
    chosen = {n: pick(runs, n, scale) for _, sweep, _ in panels for n in sweep.values()}
    drawn = [r for r in chosen.values() if r is not None]
    if not drawn:
        return []
    fig, axes = plt.subplots(2, 2, figsize=(12, 8))  # top: epochs, bottom: steps
    colors = plt.get_cmap("viridis")(np.linspace(0.0, 0.85, 3))
    for col, (symbol, sweep, fixed) in enumerate(panels):
        for color, (value, name) in zip(colors, sorted(sweep.items())):
            run = chosen[name]
            if run is None:
                continue
            label = f"{symbol} = {sci(value)}"
            _accuracy(axes[0, col], run, color, label)
            _pi_t(axes[1, col], run, color, label)
        axes[0, col].set_title(f"{symbol} sweep at {fixed}")
        axes[0, col].set_ylabel("accuracy")
        axes[0, col].legend(fontsize=7, ncol=2)
        axes[1, col].set_ylabel("π_t = ln(flips/total + e⁻⁹), last layer")
        axes[1, col].set_ylim(bottom=PI_T_FLOOR - 0.2)
        axes[1, col].set_xlabel("training step")
        axes[1, col].legend(fontsize=7)
        axes[0, col].set_xlabel("epoch")
    seeds = sorted({r.seed for r in drawn})
    fig.suptitle(f"§5.1 / Figure 1 re-drawn — BinaryNet + Bop on CIFAR-10, scale: {scale}, "
                 f"{_epochs_label(drawn)}, seed {'/'.join(map(str, seeds))} of each setting "
                 "(REPORT.md pools every seed)", fontsize=10)
    return _save(fig, out_dir, f"figure1-{scale}")


def figure2(runs, scale, out_dir):
    """Figure 2: train and test accuracy per epoch, Bop vs the latent-weight baseline."""
    chosen = {label: pick(runs, name, scale)
              for label, name in views().SEC52.experiments.items()}
    drawn = [r for r in chosen.values() if r is not None]
    if not drawn:
        return []
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for color, (label, run) in zip(("tab:blue", "tab:orange"), chosen.items()):
        if run is not None:
            epochs = run.curve("epoch")
            ax.plot(epochs, run.curve("train_accuracy"), color=color, label=f"{label} train")
            ax.plot(epochs, run.curve("val_accuracy"), color=color, linestyle="--",
                    label=f"{label} {drawn[0].summary.get('validation_split', 'test')}")
    ax.set_xlabel("epoch")
    ax.set_ylabel("accuracy")
    ax.legend()
    what = "" if scale == "paper" else f", {views().SEC52.note.split(':')[0]}"
    ax.set_title(f"§5.2 / Figure 2 re-drawn — BinaryNet on CIFAR-10\nscale: {scale}{what}, "
                 f"{_epochs_label(drawn)}")
    return _save(fig, out_dir, f"figure2-{scale}")


def tuned_figures(tuning, runs_root, out_dir):
    """A tuned comparison (``experiments.engine.tuning``), from the runs ``resolve`` names - the
    ones REPORT.md tables: the grid (final holdout accuracy against each optimizer's
    tuned value, pick marked), and Figure 2 re-drawn with the picked settings, mean ±
    std over seeds per epoch, with each seed's single test evaluation at the end."""
    from experiments.engine.tuning import resolve
    from experiments.report.selection import builder

    arms = resolve(tuning, builder(runs_root), lambda p: load_run(p, with_flips=False))
    if not any(a.selection.holdout for a in arms):
        return []
    paths = []
    fig, axes = plt.subplots(1, len(arms), figsize=(4.5 * len(arms), 3.6), squeeze=False)
    for ax, a in zip(axes[0], arms):
        values = [v for v in a.arm.values if v in a.selection.holdout]
        ax.plot(values, [100 * a.selection.holdout[v] for v in values], "o-", color="tab:gray")
        if a.selection.picked is not None:
            ax.plot([a.selection.picked], [100 * a.selection.holdout[a.selection.picked]], "o",
                    color="tab:red", markersize=10, label="picked")
            ax.legend(fontsize=8)
        for v in a.selection.failed:
            ax.axvline(v, color="tab:red", linestyle=":", linewidth=1)
        ax.set_xscale("log")
        if not values:
            ax.set_xlim(min(a.arm.values) / 2, max(a.arm.values) * 2)
            ax.set_yticks([])
            ax.text(0.5, 0.5, "not run yet", ha="center", va="center", transform=ax.transAxes)
        ax.set_xlabel(f"{a.arm.symbol or a.arm.key} (initial value)")
        ax.set_ylabel("final holdout accuracy (%)")
        ax.set_title(a.arm.label)
    fig.suptitle(f"{tuning.name}: tuning grid, seed {tuning.tuning_seed}, scale {tuning.scale}",
                 fontsize=10)
    paths += _save(fig, out_dir, f"figure2-tuning-grid-{tuning.name}")

    picked = [a for a in arms if a.finals]
    if picked:
        fig, ax = plt.subplots(figsize=(7.5, 4.8))
        for color, a in zip(("tab:blue", "tab:orange", "tab:green", "tab:purple"), picked):
            n = min(len(r.metrics) for r in a.finals)
            epochs = np.arange(1, n + 1)
            label = f"{a.arm.label} ({a.arm.symbol or a.arm.key} = {a.selection.picked:g}, n = {len(a.finals)})"
            for key, style, what in (("train_accuracy", "-", "train"),
                                     ("val_accuracy", "--", "holdout")):
                curves = np.array([r.curve(key)[:n] for r in a.finals]) * 100
                mean, std = curves.mean(0), curves.std(0, ddof=1) if len(curves) > 1 else 0 * curves[0]
                ax.plot(epochs, mean, color=color, linestyle=style, label=f"{label} {what}")
                ax.fill_between(epochs, mean - std, mean + std, color=color, alpha=0.15)
            test = np.array([r.summary["test_accuracy"] for r in a.finals]) * 100
            ax.errorbar([n + 0.3], [test.mean()], yerr=[test.std(ddof=1) if len(test) > 1 else 0],
                        color=color, marker="s", capsize=4, label=f"{label} test (once, at the end)")
        ax.set_xlabel("epoch")
        ax.set_ylabel("accuracy (%), mean ± std over seeds")
        ax.legend(fontsize=7)
        ax.set_title(f"§5.2 / Figure 2 at reduced scale, each optimizer tuned on a holdout "
                     f"({tuning.name})\nscale: {tuning.scale}, {_epochs_label(picked[0].finals)}",
                     fontsize=9)
        paths += _save(fig, out_dir, f"figure2-tuned-{tuning.name}")
    return paths


def horizon_figure(runs_root, out_dir, reported_path=None):
    """The horizon ladder: per pair of arms, the picked settings' test-accuracy difference
    (mean, 95 % interval; hollow while interim) against training length, every declared
    rung on the axis with its runs done / declared, the equivalence margin as a band, and
    the first pair's weighted trend drawn over the rungs it was fitted to only; the
    paper's full-scale difference in a panel of its own, never joined to the ladder."""
    import yaml

    from experiments.report.cells import hardware
    from experiments.report.selection import horizon_pairs
    from experiments.report.tuned import ladder, ladder_differences, ladder_trend, rung_progress

    rungs = ladder(runs_root)
    pairs = horizon_pairs(runs_root)
    diffs = [x for x in ladder_differences(rungs, pairs) if x[-1] is not None]
    if not diffs:
        return []
    margin = views().HORIZON_MARGIN_PP
    labels = {a.name: a.label for _, _, arms in rungs for a in (x.arm for x in arms.values())}
    fig, (ax, paper_ax) = plt.subplots(1, 2, figsize=(8, 4.2), sharey=True,
                                       gridspec_kw={"width_ratios": [4, 1]})
    for a in (ax, paper_ax):
        a.axhspan(-margin, margin, color="0.88", zorder=0)
        a.axhline(0, color="gray", linewidth=0.8)
    colors = ("tab:blue", "tab:green", "tab:purple")
    for i, (pair, color) in enumerate(zip(pairs, colors)):
        points = [(epochs, d, min(len(a.finals), len(b.finals)) < len(t.seeds))
                  for t, epochs, hi, lo, a, b, d in diffs if (hi, lo) == pair]
        if not points:
            continue
        xs = np.array([e for e, _, _ in points]) * (1 + 0.04 * (i - 0.5))  # side by side
        ys = np.array([100 * d.diff for _, d, _ in points])
        low = np.array([100 * (d.diff - d.low) if d.low is not None else 0 for _, d, _ in points])
        high = np.array([100 * (d.high - d.diff) if d.high is not None else 0
                         for _, d, _ in points])
        ax.errorbar(xs, ys, yerr=[low, high], color=color, marker="o", capsize=4,
                    label=f"{labels[pair[0]]} − {labels[pair[1]]}")
        interim = np.array([flag for _, _, flag in points])
        if interim.any():  # interim points hollow: fewer seeds than the rung declares
            ax.plot(xs[interim], ys[interim], "o", color=color, markerfacecolor="white",
                    zorder=3)
    found = ladder_trend(diffs, pairs[0])
    if found is not None:
        line, fitted = found
        x = np.linspace(np.log2(min(fitted)), np.log2(max(fitted)), 20)  # its range only
        ax.plot(2 ** x, line.intercept + line.slope * x, ":", color=colors[0],
                label=f"{labels[pairs[0][0]]} − {labels[pairs[0][1]]}, weighted fit: "
                      f"{line.slope:+.1f} pp per doubling [{line.low:+.1f}, {line.high:+.1f}]"
                      ", these rungs only")
    ax.plot([], [], "s", color="0.88", markersize=10,
            label=f"equivalence margin ±{margin:g} pp")
    lengths = [e for _, e, _ in rungs]
    ax.set_xscale("log", base=2)
    ax.set_xlim(min(lengths) / 1.25, max(lengths) * 1.25)  # room for the side-by-side offsets
    ax.set_xticks(lengths, [str(e) for e in lengths])
    ax.xaxis.set_minor_locator(plt.NullLocator())
    for t, epochs, arms in rungs:
        done, declared = rung_progress(t, arms)
        ax.text(epochs, 0.02, f"{done} / {declared} runs", transform=ax.get_xaxis_transform(),
                ha="center", fontsize=7, color="0.3")
    ax.set_xlabel("training length (epochs, 15,000 images), each rung tuned on its own")
    ax.set_ylabel("test accuracy difference (pp), mean and 95 % interval")
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.6, -0.2), ncol=2)
    # the published numbers beside the runs root (results/reported.yaml)
    reported_path = reported_path or os.path.join(os.path.dirname(os.path.abspath(runs_root)),
                                                  "reported.yaml")
    if not os.path.exists(reported_path):  # e.g. a scratch runs folder: the suite's own
        reported_path = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
            os.path.abspath(__file__)))), "results", "reported.yaml")
    with open(reported_path) as f:
        reported = yaml.safe_load(f).get("experiments", {})
    bop, adam = (reported.get(n, {}).get("metrics", {}).get("test_top1")
                 for n in views().HORIZON_PAIRS[0])
    if bop is not None and adam is not None:
        paper_ax.plot([0], [bop - adam], "s", color=colors[0])
        paper_ax.annotate(f"{labels[pairs[0][0]]} − {labels[pairs[0][1]]}\n"
                          f"{bop:g} − {adam:g}\n= {bop - adam:+.1f} pp", (0, bop - adam),
                          xytext=(0, 12), textcoords="offset points", ha="center",
                          fontsize=7, color=colors[0])
    paper_ax.set_xticks([0], ["paper"])
    paper_ax.set_xlabel("500 epochs, full\nscale, 1 run each")
    paper_ax.set_title("reported", fontsize=9)
    runs = [r for _, _, _, _, a, b, _ in diffs for r in a.finals + b.finals]
    precision = rungs[0][0].overrides.get("precision", "float32")
    made_on = textwrap.wrap(f"runs made on: {hardware(runs)[0]}", 100)  # grows with machines
    fig.suptitle("\n".join([f"§5.2 vs training length: quarter-width BinaryNet, {precision}; "
                            "hollow: interim (fewer seeds than declared)", *made_on]),
                 fontsize=9, y=1 + 0.045 * len(made_on))
    return _save(fig, out_dir, "figure2-horizons")


def sweep_map(sweep, runs_root, out_dir):
    """A two-key sweep as two heatmaps: final validation accuracy (mean over seeds; each
    cell annotated with mean ± std and n) and log10 of the mean last-layer flip ratio."""
    from experiments.report.selection import map_cells

    found = map_cells(sweep, runs_root)
    if found is None:
        return []
    cells, (k1, v1s), (k2, v2s) = found
    acc = np.full((len(v1s), len(v2s)), np.nan)
    flips = np.full_like(acc, np.nan)
    notes = [["not run"] * len(v2s) for _ in v1s]
    for i, a in enumerate(v1s):
        for j, b in enumerate(v2s):
            runs = cells.get((a, b), [])
            if not runs:
                continue
            finals = np.array([r.curve("val_accuracy")[-1] for r in runs]) * 100
            acc[i, j] = finals.mean()
            flips[i, j] = np.log10(np.mean([run_flip_rate(r) for r in runs]) + 1e-12)
            spread = f" ± {finals.std(ddof=1):.1f}" if len(finals) > 1 else ""
            notes[i][j] = f"{finals.mean():.1f}{spread}\nn={len(runs)}/{len(sweep.seeds)}"
    fig, axes = plt.subplots(1, 2, figsize=(12, 0.7 * len(v1s) + 2.5))
    for ax, data, title, cmap in ((axes[0], acc, "final validation accuracy (%)", "viridis"),
                                  (axes[1], flips, "log10 mean flip ratio per step, last layer",
                                   "magma")):
        image = ax.imshow(data, cmap=cmap, aspect="auto")
        ax.set_xticks(range(len(v2s)), [f"{v:g}" for v in v2s])
        ax.set_yticks(range(len(v1s)), [f"{v:g}" for v in v1s])
        ax.set_xlabel(k2)
        ax.set_ylabel(k1)
        ax.set_title(title, fontsize=9)
        fig.colorbar(image, ax=ax)
    for i in range(len(v1s)):
        for j in range(len(v2s)):
            axes[0].text(j, i, notes[i][j], ha="center", va="center", fontsize=7, color="white")
    done = [r for runs in cells.values() for r in runs]
    images = sorted({r.summary.get("train_examples") for r in done}, key=str)
    fig.suptitle(f"{sweep.description} ({sweep.name}) — scale: {sweep.scale} "
                 f"({'/'.join(map(str, images))} training images), {_epochs_label(done)}, "
                 f"seeds {list(sweep.seeds)}", fontsize=10)
    return _save(fig, out_dir, f"figure1-map-{sweep.scale}")


def figure_lr_vs_init(runs, scale, out_dir):
    """§3: SGD at lr 1, lr 0.01, and lr 0.01 with the initial weights x 0.01."""
    chosen = {label: pick(runs, name, scale) for label, name in views().SEC3.sgd.items()}
    drawn = [r for r in chosen.values() if r is not None]
    if not drawn:
        return []
    fig, ax = plt.subplots(figsize=(7, 4.5))
    styles = {"lr 1": ("tab:blue", 2.5), "lr 0.01": ("tab:gray", 1.5),
              "lr 0.01, init x 0.01": ("tab:red", 1.0)}
    for label, run in chosen.items():
        if run is not None:
            color, width = styles[label]
            epochs = run.curve("epoch")
            ax.plot(epochs, run.curve("train_accuracy"), color=color, linewidth=width,
                    label=f"{label} train")
            ax.plot(epochs, run.curve("val_accuracy"), color=color, linewidth=width,
                    linestyle="--", label=f"{label} test")
    ax.set_xlabel("epoch")
    ax.set_ylabel("accuracy")
    ax.legend(fontsize=8)
    ax.set_title(f"§3 learning rate vs initial scale — SGD on latent weights, BinaryNet, "
                 f"CIFAR-10\nscale: {scale}, {_epochs_label(drawn)}", fontsize=10)
    return _save(fig, out_dir, f"figure3-lr-vs-init-{scale}")


def figure_inertia_flips(runs, scale, out_dir):
    """§3: π_t of the last layer under latent-weight Adam, SGD and Bop; and latent
    Adam's flip ratio per epoch with and without learning-rate decay."""
    chosen = {label: pick(runs, name, scale) for label, name in views().SEC3.flips.items()}
    drawn = [r for r in chosen.values() if r is not None]
    if not drawn:
        return []
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 4.5))
    colors = ("tab:blue", "tab:orange", "tab:green", "tab:red")
    for color, (label, run) in zip(colors, chosen.items()):
        if run is None:
            continue
        _pi_t(left, run, color, label)
        if "Adam" in label:
            layer = last_layer(run)
            right.plot(run.curve("epoch"), [m["flip_ratio"][layer] for m in run.metrics],
                       color=color, marker="o", label=label)
            every = run.config.get("optimizer.lr.every_epochs")
            if run.config.get("optimizer.lr") == "Staircase" and every:
                for epoch in range(every, run.summary["epochs_done"], every):
                    right.axvline(epoch + 0.5, color=color, linestyle=":", linewidth=1)
    left.set_ylim(bottom=PI_T_FLOOR - 0.2)
    left.set_xlabel("training step")
    left.set_ylabel("π_t, last layer")
    left.legend(fontsize=7)
    right.set_yscale("log")
    right.set_xlabel("epoch (dotted: learning-rate decay x0.1)")
    right.set_ylabel("mean flip ratio per step, last layer")
    right.legend(fontsize=7)
    fig.suptitle(f"§3 flips under latent weights vs Bop — BinaryNet on CIFAR-10, scale: {scale}, "
                 f"{_epochs_label(drawn)}")
    return _save(fig, out_dir, f"figure3-flips-{scale}")


def flip_heatmap(run, out_dir):
    """Per-layer flip ratio over training: layers x epochs, log10 colour scale."""
    order = run.summary.get("binary_layer_order") or sorted(run.metrics[0]["flip_ratio"])
    ratios = np.array([[row["flip_ratio"][layer] for row in run.metrics] for layer in order])
    fig, ax = plt.subplots(figsize=(max(5, 0.35 * len(run.metrics) + 3), 0.4 * len(order) + 1.8))
    image = ax.imshow(np.log10(ratios + 1e-9), aspect="auto", cmap="magma",
                      extent=(0.5, len(run.metrics) + 0.5, len(order) - 0.5, -0.5))
    ax.set_yticks(range(len(order)), order)
    ax.set_xlabel("epoch")
    fig.colorbar(image, ax=ax, label="log10 mean flip ratio per step")
    ax.set_title(f"{run.experiment} ({os.path.basename(run.path)})\nscale: {run.scale}, "
                 f"{_epochs_label([run])}", fontsize=9)
    return _save(fig, os.path.join(out_dir, "flips"),
                 f"{run.experiment}-{os.path.basename(run.path)}")


def draw_all(runs_root, out_dir):
    runs, _ = load_runs(runs_root)
    paths = []
    for tuning in tunings(runs_root=runs_root):
        paths += tuned_figures(tuning, runs_root, out_dir)
    paths += horizon_figure(runs_root, out_dir)
    for sweep in sweeps():
        paths += sweep_map(sweep, runs_root, out_dir)
    owned = owned_paths(runs_root)  # drawn above; Figures 1-3 never pick them
    others = [r for r in runs if os.path.abspath(r.path) not in owned]
    for scale in sorted({r.scale for r in others}):
        paths += figure1(others, scale, out_dir)
        paths += figure2(others, scale, out_dir)
        paths += figure_lr_vs_init(others, scale, out_dir)
        paths += figure_inertia_flips(others, scale, out_dir)
    remove_stale(out_dir, paths)
    return paths


def remove_stale(out_dir, written) -> list:
    """Delete figures this module made earlier but did not make now (their runs were
    removed, became unreadable or failed; PDFs, which it no longer makes)."""
    written = {os.path.abspath(p) for p in written}
    stale = []
    if not os.path.isdir(out_dir):
        return stale
    for name in sorted(os.listdir(out_dir)):
        path = os.path.abspath(os.path.join(out_dir, name))
        if name.startswith("figure") and name.endswith((".png", ".pdf")) and path not in written:
            os.remove(path)
            stale.append(path)
            print(f"removed {path} (its runs are gone, unreadable or failed)")
    return stale


def draw_run(run_dir, out_dir) -> list:
    """The flip heatmap of one run folder, into ``<out>/flips/`` (not committed)."""
    run = load_run(os.path.normpath(run_dir))
    if not (run.metrics and run.analysable):
        raise SystemExit(f"error: {run_dir} has no finished epoch to draw (status {run.status})")
    return flip_heatmap(run, out_dir)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", default="results/runs")
    parser.add_argument("--out", default="results/figures")
    parser.add_argument("--run", help="draw only this run folder's flip heatmap (-> OUT/flips/)")
    args = parser.parse_args(argv)
    read_rules()
    paths = draw_run(args.run, args.out) if args.run else draw_all(args.runs, args.out)
    declarations.save()
    for path in paths:
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
