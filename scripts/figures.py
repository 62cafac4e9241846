"""Figures 1 and 2 of the paper and per-run flip heatmaps, drawn only from run files.

    python scripts/figures.py [--runs results/runs] [--out results/figures]

One figure per scale (``figure1-quick.png``, ``figure1-paper.png``, ...): runs of
different scales are never mixed in one plot, and every title states the scale and the
epochs actually run. Where a setting has several seeds the lowest seed is drawn. Failed
runs are never drawn, and a figure whose runs are gone or no longer readable is removed,
so REPORT.md cannot embed a picture of data it no longer has.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from experiments.claims import GAMMA_SWEEP, SGD_RUNS, TAU_SWEEP, last_layer, sci  # noqa: E402
from experiments.collect import group_runs, load_runs  # noqa: E402

PI_T_FLOOR = -9.0


def pick(runs, experiment, scale):
    """The run drawn for (experiment, scale): complete before incomplete, then newest,
    then the lowest seed of that group."""
    candidates = [r for r in runs if r.experiment == experiment and r.scale == scale
                  and r.analysable and r.metrics]
    if not candidates:
        return None
    groups = group_runs(candidates).values()
    best = max(groups, key=lambda g: (any(r.complete for r in g),
                                      max(r.summary.get("updated", "") for r in g)))
    return best[0]


def _epochs_label(runs):
    done = sorted({r.summary["epochs_done"] for r in runs})
    planned = sorted({r.summary["epochs_planned"] for r in runs})
    text = "/".join(map(str, done)) + " epochs"
    if done != planned:
        text += f" of {'/'.join(map(str, planned))} planned"
    return text


def _save(fig, out_dir, name):
    os.makedirs(out_dir, exist_ok=True)
    paths = []
    for ext in ("png", "pdf"):
        path = os.path.join(out_dir, f"{name}.{ext}")
        # no creation date: re-drawing unchanged runs leaves the committed files unchanged
        metadata = {"CreationDate": None} if ext == "pdf" else None
        fig.savefig(path, dpi=130, bbox_inches="tight", metadata=metadata)
        paths.append(path)
    plt.close(fig)
    return paths


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
    panels = [("γ", GAMMA_SWEEP, "τ = 1e-6"), ("τ", TAU_SWEEP, "γ = 1e-3")]
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
    fig.suptitle(f"§5.1 / Figure 1 re-drawn — BinaryNet + Bop on CIFAR-10, scale: {scale}, "
                 f"{_epochs_label(drawn)}")
    return _save(fig, out_dir, f"figure1-{scale}")


def figure2(runs, scale, out_dir):
    """Figure 2: train and test accuracy per epoch, Bop vs the latent-weight baseline."""
    chosen = {"Bop": pick(runs, "sec52_bop", scale),
              "Adam (latent weights)": pick(runs, "sec52_adam", scale)}
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
    ax.set_title(f"§5.2 / Figure 2 re-drawn — BinaryNet on CIFAR-10\nscale: {scale}, "
                 f"{_epochs_label(drawn)}")
    return _save(fig, out_dir, f"figure2-{scale}")


def figure_lr_vs_init(runs, scale, out_dir):
    """§3: SGD at lr 1, lr 0.01, and lr 0.01 with the initial weights x 0.01."""
    chosen = {label: pick(runs, name, scale) for label, name in SGD_RUNS.items()}
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
    chosen = {"Bop (sec52_bop)": pick(runs, "sec52_bop", scale),
              "latent Adam, decayed (sec52_adam)": pick(runs, "sec52_adam", scale),
              "latent Adam, constant (sec3_adam_constant)": pick(runs, "sec3_adam_constant", scale),
              "latent SGD, lr 1 (sec3_sgd_lr_1)": pick(runs, "sec3_sgd_lr_1", scale)}
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
    for scale in sorted({r.scale for r in runs}):
        paths += figure1(runs, scale, out_dir)
        paths += figure2(runs, scale, out_dir)
        paths += figure_lr_vs_init(runs, scale, out_dir)
        paths += figure_inertia_flips(runs, scale, out_dir)
    for run in runs:
        if run.metrics and run.analysable:
            paths += flip_heatmap(run, out_dir)
    remove_stale(out_dir, paths)
    return paths


def remove_stale(out_dir, written) -> list:
    """Delete figures this script made earlier but did not make now (their runs were
    removed, became unreadable or failed)."""
    written = {os.path.abspath(p) for p in written}
    stale = []
    for folder, prefix in ((out_dir, "figure"), (os.path.join(out_dir, "flips"), "")):
        if not os.path.isdir(folder):
            continue
        for name in os.listdir(folder):
            path = os.path.abspath(os.path.join(folder, name))
            if (name.startswith(prefix) and name.endswith((".png", ".pdf"))
                    and path not in written):
                os.remove(path)
                stale.append(path)
                print(f"removed {path} (its runs are gone, unreadable or failed)")
    return stale


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", default="results/runs")
    parser.add_argument("--out", default="results/figures")
    args = parser.parse_args(argv)
    for path in draw_all(args.runs, args.out):
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
