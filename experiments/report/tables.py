"""Compare reproduced runs with the paper: writes ``results/REPORT.md`` (``make report``,
``bnn report``).

    bnn report [--runs results/runs] [--reported results/reported.yaml]
               [--out results/REPORT.md] [--figures results/figures]

Reads only the run folders and the reported-numbers file. One table per paper section;
runs that differ only in their seed are pooled (mean ± std, n). Reduced-scale and
incomplete runs are marked in every row and get no "difference to the paper" column
value, so they cannot be read as paper-scale results. Broken run folders are listed
with the reason they were skipped.
"""
import argparse
import json
import os
import re

import yaml

from experiments.analysis import claims
from experiments.analysis.claims import check_sec51
from experiments.analysis.collect import choose_group, group_runs, load_runs, mean_std
from experiments.report import declarations, speed, tuned
from experiments.report.deployment import deployment_section
from experiments.report.cells import duration as _duration, hardware as hardware_cell, link, pct as _pct, precisions
from experiments.report.selection import (dataset_named, dataset_of, default_config,
                                          owned_paths, read_rules, sections, sweeps, tunings, views)


def load_reported(path) -> dict:
    """The published numbers by experiment name. The file holds ``experiments`` only: a
    number the suite cites is tied to an experiment that can make it, so any other
    section (such as numbers waiting for an experiment) is refused."""
    with open(path) as f:
        data = yaml.safe_load(f) or {}
    other = sorted(set(data) - {"experiments"})
    if other:
        raise ValueError(f"{path}: only `experiments` may hold published numbers, found "
                         f"{', '.join(other)}; tie each number to an experiment in configs/")
    return data.get("experiments") or {}


def _reported_text(entry):
    metrics = entry.get("metrics") or {}
    if entry.get("elsewhere"):
        return f"none on this dataset (published on {entry['elsewhere']})"
    if not metrics:
        return "no number published"
    return ", ".join(f"{v:g} ({k})" for k, v in metrics.items())


def _link(run, out_dir):
    return link(run.path, out_dir)


def _config_differences(groups) -> list:
    """Per group, the config values that set it apart from the experiment's other groups at
    the same scale (e.g. Theorem 1's ``factors``), so that such rows can be told apart."""
    configs = [g[0].semantic_config for g in groups]
    keys = sorted({k for c in configs for k in c})
    differing = [k for k in keys
                 if len({json.dumps(c.get(k), sort_keys=True) for c in configs}) > 1]
    return [", ".join(f"{k}={c.get(k)}" for k in differing) for c in configs]


def group_row(name, entry, runs, out_dir, distinct: str = "", top5: bool = False):
    """One table row for a group of seeds of one experiment config (with a top-5 cell
    after the top-1 one when ``top5``)."""
    first = runs[0]
    s = first.summary
    final = mean_std([r.summary.get("final_val_accuracy") for r in runs])
    final5 = mean_std([r.summary.get("final_val_top5_accuracy") for r in runs])
    best = mean_std([r.summary.get("best_val_accuracy") for r in runs])
    complete = all(r.complete for r in runs)
    marks = [f"config: {distinct}"] if distinct else []
    if first.failed:
        error = (s.get("error") or "no reason recorded").splitlines()[0]
        marks.append(f"✗ failed, not pooled: {error[:160]}")
    if first.scale != "paper":
        marks.append(f"⚠ reduced scale ({first.scale})")
        if name in views().SEC52.experiments.values():
            marks.append(f"{views().SEC52.note}; the fair comparison is the tuned one below")
    if not complete and not first.failed:
        states = ", ".join(sorted({r.status for r in runs}))
        if "stale" in states:
            states += ": status says running, but no process holds the folder"
        marks.append(f"⚠ incomplete ({states})")
    for r in runs:
        if r.duplicates:
            others = ", ".join(os.path.basename(p) for p in r.duplicates)
            marks.append(f"⚠ seed {r.seed} run twice (also {others}); counted once")
    reported = (entry.get("metrics") or {}).get("test_top1")
    if reported is not None and first.scale == "paper" and complete and final[0] is not None:
        diff = f"{100 * final[0] - reported:+.2f}"
    elif reported is None:
        diff = "—"
    else:
        diff = "n/a (not paper scale)" if first.scale != "paper" else "n/a (incomplete)"
    epochs = "/".join(sorted({f"{r.summary['epochs_done']}/{r.summary['epochs_planned']}" for r in runs}))
    hardware, mixed = hardware_cell(runs)
    marks += [mixed] if mixed else []
    wall = mean_std([r.summary.get("wall_time_s") for r in runs])[0]
    date = max(r.summary.get("updated", "") for r in runs)[:10]
    split = s.get("validation_split", "test")
    top5_cell = f" {_pct(*final5)} |" if top5 else ""
    return (f"| `{name}` | {_reported_text(entry)} | {_pct(*final)} |{top5_cell} {_pct(*best)} | {diff} | "
            f"{len(runs)} | {epochs} | {first.scale} · {precisions(runs)} | {split} | {hardware} | "
            f"{_duration(wall) if wall else '—'} | {date} | "
            f"{' '.join(_link(r, out_dir) for r in runs)} | {'; '.join(marks) or '✓'} |")



HEADER = ("| experiment | reported (%) | reproduced final (%) | best (%) | final − reported (pp) | "
          "n | epochs done/planned | scale · precision | validated on | hardware | wall time | date | runs | "
          "marks |\n|" + "---|" * 14)
# §5.3 (ImageNet): top-1 and top-5 of the final epoch
HEADER_TOP5 = ("| experiment | reported (%) | reproduced final top-1 (%) | top-5 (%) | best top-1 (%) "
               "| final − reported (pp) | n | epochs done/planned | scale · precision | validated on | "
               "hardware | wall time | date | runs | marks |\n|" + "---|" * 15)


def claims_section(runs):
    lines = ["### The paper's §5.1 claims, checked", ""]
    runs = [r for r in runs if r.analysable]
    view = views().SEC51
    scales = sorted({r.scale for r in runs if r.experiment in view.experiments},
                    key=lambda s: (s != "paper", s))
    if not scales:
        return lines + ["No §5.1 runs yet.", ""]
    for scale in scales:
        names = sorted({r.experiment for r in runs
                        if r.scale == scale and r.experiment in view.experiments})
        # one setting per experiment, by the rule the figures use too
        picked = {name: choose_group(runs, name, scale, default_config(name, scale))
                  for name in names}
        epochs = sorted({r.summary["epochs_done"] for g in picked.values() for r in g})
        seeds = sorted({len(g) for g in picked.values()})
        lines += [f"At scale **{scale}** ({', '.join(map(str, epochs))} epochs run, "
                  f"{'/'.join(map(str, seeds))} seed(s) per setting; computed by "
                  "`experiments/report/tables.py` from `metrics.jsonl`; each comparison: n, mean ± std per "
                  "side and the 95 % interval of the difference, paired by seed where both "
                  "sides have the same seeds):", "",
                  "| claim (§5.1) | verdict | evidence |", "|---|---|---|"]
        for v in check_sec51(picked, view):
            lines.append(f"| {v.claim} | **{v.outcome}** | {v.evidence} |")
        lines.append("")
    return lines


def _newest_group(runs, experiment, scale):
    return choose_group(runs, experiment, scale, default_config(experiment, scale))


def inertia_section(runs, out_dir):
    """§3: approximation test, Theorem 1, learning rate vs initial scale, decay."""
    runs = [r for r in runs if r.analysable]
    view = views().SEC3
    own = set(view.experiments) - set(views().SEC52.experiments.values())
    scales = sorted({r.scale for r in runs if r.experiment in own},
                    key=lambda s: (s != "paper", s))
    if not scales:
        return ["No §3 runs yet (`make inertia`).", ""]
    lines = []
    for scale in scales:
        lines += [f"### At scale **{scale}**", ""]
        approx = [r for r in _newest_group(runs, view.approximation, scale)
                  if os.path.exists(os.path.join(r.path, "approximation.json"))]
        lines += ["**Approximation test** (latent-weight Adam; accuracy %, mean ± std over "
                  f"{len(approx)} seed(s)):", "",
                  "| weights used | train | test |", "|---|---|---|"]
        tables = [json.load(open(os.path.join(r.path, "approximation.json"))) for r in approx]
        for key, label in (("binary", "(a) binary weights"),
                           ("latent", "(b) latent weights in their place"),
                           ("latent_bn_reestimated", "(c) as (b), batch-norm statistics re-estimated")):
            cells = [_pct(*mean_std([t[key][part] for t in tables])) for part in ("train", "test")]
            lines.append(f"| {label} | {cells[0]} | {cells[1]} |")
        lines.append("")
        pairs = {}  # every Theorem 1 run at this scale (e.g. c = 0.01/100 and 2^-7/2^7)
        for run in runs:
            path = os.path.join(run.path, "theorem1.json")
            if run.experiment == view.theorem1 and run.scale == scale and os.path.exists(path):
                pairs.update(json.load(open(path)))
        verdicts = claims.check_theorem1(pairs)
        lines += ["**The §3 claims** (each Theorem 1 row: runs (α, w0) and (c·α, c·w0) stepped in "
                  "lockstep on the same batches, binary weights compared after every step):", "",
                  "| claim | verdict | evidence |", "|---|---|---|"]
        lines += [f"| {v.claim} | **{v.outcome}** | {v.evidence} |" for v in verdicts]
        if not verdicts:
            lines.append(f"| Theorem 1 | **not checked** | no `{view.theorem1}` run |")
        sgd = {n: _newest_group(runs, n, scale) for n in view.sgd.values()}
        decayed = _newest_group(runs, view.adam_decayed, scale)
        every = decayed[0].config.get("optimizer.lr.every_epochs", 0) if decayed else 0
        for v in (claims.check_lr_vs_init(sgd, view),
                  claims.check_decay_raises_inertia(
                      decayed, _newest_group(runs, view.adam_constant, scale), every,
                      names=(view.adam_decayed, view.adam_constant))):
            lines.append(f"| {v.claim} | **{v.outcome}** | {v.evidence} |")
        lines.append("")
    return lines


def across_machines_section(runs_root, remade_root, out_dir) -> list:
    """The committed re-make reference (``remake_reference``) against every set of its
    seeds re-made on other hardware under ``remade_root/<set>/``: per quantity of
    ``experiments.analysis.remake``, each side's n and mean ± std, the difference with
    its 95 % interval (Welch), and the re-make verdict of the whole set."""
    from experiments.analysis import remake
    from experiments.analysis.collect import load_run
    from experiments.analysis.stats import difference
    from experiments.report.selection import builder, sweep_points

    sweep = next((s for s in sweeps() if s.name == getattr(views(), "REMAKE_REFERENCE", None)),
                 None)
    if sweep is None:
        return []
    build = builder(runs_root)
    paths = [build(sweep.experiment, p).run_dir() for p in sweep_points(sweep, runs_root)]
    committed = [r for r in (load_run(p) for p in paths if os.path.isdir(p)) if r.complete]
    lines = ["## Re-making runs on other machines", "",
             f"The reference is the declared sweep `{sweep.name}` ({sweep.description}; "
             f"{len(committed)} of {len(paths)} seeds committed, made on "
             f"{hardware_cell(committed)[0] or '—'}). A machine with the same kernels re-makes "
             "each run bit for bit; elsewhere the re-made seeds are judged by "
             f"{remake.rule_text()} (`experiments/analysis/remake.py`, `bnn remake`).", ""]
    sets = sorted(os.listdir(remade_root)) if os.path.isdir(remade_root) else []
    if not committed or not sets:
        return lines + ["No re-made set is committed yet (`results/remade/<name>/`).", ""]
    lines += ["| re-made set | hardware | quantity | committed | re-made | re-made − committed "
              "(95 % CI, Welch) | verdict |", "|---|---|---|---|---|---|---|"]
    for name in sets:
        root = os.path.join(remade_root, name)
        found = [load_run(os.path.join(root, os.path.relpath(p, runs_root))) for p in paths
                 if os.path.isdir(os.path.join(root, os.path.relpath(p, runs_root)))]
        found = [r for r in found if r.complete]  # a set still being made: its finished seeds
        if not found:
            continue
        judgement = remake.judge(committed, found)
        label = hardware_cell(found)[0]
        for i, (quantity, value) in enumerate(remake.QUANTITIES.items()):
            a, b = [value(r) for r in found], [value(r) for r in committed]
            d = difference(a, b)
            cell = (f"{d.diff:+.4g} [{d.low:+.4g}, {d.high:+.4g}]" if d.low is not None
                    else f"{d.diff:+.4g}")
            first = (f"`{name}` ({len(found)} seeds)", label) if i == 0 else ("", "")
            lines.append(f"| {first[0]} | {first[1]} | {quantity} | {d.mean_b:.4g} ± "
                         f"{d.std_b:.2g} | {d.mean_a:.4g} ± {d.std_a or 0:.2g} | {cell} | "
                         f"{('**' + judgement.verdict + '**') if i == 0 else ''} |")
    return lines + [""]


def precision_section(runs_root, bench_path=None, remade_root=None) -> list:
    """Mixed precision's equivalence study (``experiments/analysis/equivalence.py``): per
    optimizer, float32 vs mixed_bfloat16 on the same seeds, each quantity's paired
    difference with its 95 % interval against its margin; the study's bfloat16 runs
    re-made on CPUs without bfloat16 hardware (``remade_root/<set>/``), against the
    committed ones; and the measured speed-up."""
    from experiments.analysis import equivalence
    from experiments.analysis.collect import load_run
    from experiments.report.selection import sweep_cells

    declared = [s for s in sweeps() if s.name in getattr(views(), "PRECISION_STUDIES", ())]
    if not declared:
        return []
    lines = ["## Mixed precision", "",
             "float32 (the authors' setting) vs `precision=mixed_bfloat16` on the same seeds: "
             "per seed the difference mixed − float32, its mean with a 95 % interval (paired t). "
             "**Equivalent** only where the whole interval lies inside the margin (±2 pp of test "
             "accuracy, ±0.05 in log10 flip ratio), **not equivalent** where it lies wholly "
             "outside, **not shown** otherwise.", "",
             "| study | hardware | quantity | n pairs | float32 | mixed_bfloat16 | difference "
             "[95 % CI] | margin | verdict |", "|---|---|---|---|---|---|---|---|---|"]
    for sweep in declared:
        cells = sweep_cells(sweep, runs_root, lambda p: load_run(p, with_flips=False))
        f32, bf16 = cells.get(("float32",), []), cells.get(("mixed_bfloat16",), [])
        rows = equivalence.compare(f32, bf16)
        if not rows:
            lines.append(f"| `{sweep.name}` | | not run yet (`bnn sweep {sweep.name}`) | | | | | | |")
            continue
        label = hardware_cell(f32 + bf16)[0]
        for i, (quantity, d, margin, unit, verdict) in enumerate(rows):
            ci = (f"{d.diff:+.3f} [{d.low:+.3f}, {d.high:+.3f}]" if d.low is not None
                  else f"{d.diff:+.3f} (no interval)")
            first = (f"`{sweep.name}` ({sweep.description}; {sweep.experiment}, "
                     f"{sweep.overrides})", label) if i == 0 else ("", "")
            lines.append(f"| {first[0]} | {first[1]} | {quantity} | {d.n_a} | {d.mean_b:.3f} ± "
                         f"{d.std_b or 0:.3f} | {d.mean_a:.3f} ± {d.std_a or 0:.3f} | {ci} | "
                         f"±{margin:g} {unit} | **{verdict}** |")
    lines.append("")
    lines += _bf16_remade_lines(declared, runs_root, remade_root)
    # make bench's file beside the runs root (results/bench.json)
    bench_path = bench_path or os.path.join(os.path.dirname(os.path.abspath(runs_root)),
                                            "bench.json")
    lines += speed.precision_lines(bench_path) + speed.bf16_lines(bench_path)
    return lines


def _bf16_remade_lines(declared, runs_root, remade_root) -> list:
    """Each re-made set that holds the precision studies' bfloat16 runs made again with
    float32 contractions (``experiments/engine/bf16.py``), paired by seed with the
    committed runs: re-made − committed against the study's margins."""
    from experiments.analysis import equivalence
    from experiments.analysis.collect import load_run
    from experiments.engine.bf16 import RECORD
    from experiments.report.selection import sweep_cells

    sets = sorted(os.listdir(remade_root)) if remade_root and os.path.isdir(remade_root) else []
    rows = []
    for name in sets:
        for sweep in declared:
            committed = sweep_cells(sweep, runs_root, lambda p: load_run(p, with_flips=False)
                                    ).get(("mixed_bfloat16",), [])
            # where `bnn remake --out <set>` puts each: <set>/<experiment>/<run id>
            again = [load_run(p, with_flips=False) for p in (
                os.path.join(remade_root, name, r.experiment, os.path.basename(r.path))
                for r in committed) if os.path.exists(os.path.join(p, "summary.json"))]
            again = [r for r in again if r.complete  # a set still being made: its finished runs
                     and (r.summary.get("hardware") or {}).get("bf16_contractions") == RECORD]
            for i, (quantity, d, margin, unit, verdict) in enumerate(
                    equivalence.compare(committed, again)):
                ci = (f"{d.diff:+.3f} [{d.low:+.3f}, {d.high:+.3f}]" if d.low is not None
                      else f"{d.diff:+.3f} (no interval)")
                first = (f"`{name}`: `{sweep.name}`", hardware_cell(again)[0],
                         hardware_cell(committed)[0]) if i == 0 else ("", "", "")
                rows.append(f"| {first[0]} | {first[1]} | {first[2]} | {quantity} | {d.n_a} | "
                            f"{d.mean_b:.3f} ± {d.std_b or 0:.3f} | {d.mean_a:.3f} ± "
                            f"{d.std_a or 0:.3f} | {ci} | ±{margin:g} {unit} | **{verdict}** |")
    if not rows:
        return []
    return ["**bfloat16 without its hardware.** A CPU without bfloat16 hardware trains "
            "`mixed_bfloat16` runs with each convolution and matrix product computed in "
            "float32 on the bfloat16 operands and rounded to bfloat16 "
            "(`experiments/engine/bf16.py`). The studies' bfloat16 runs, made on bfloat16 "
            "hardware, re-made that way (`bnn remake`), paired by seed: re-made − committed, "
            "read against the same margins.", "",
            "| re-made set: study | re-made on | committed on | quantity | n pairs | committed "
            "| re-made | difference [95 % CI] | margin | verdict |",
            "|---|---|---|---|---|---|---|---|---|---|", *rows, ""]


def _declared(name, groups):
    """The dataset component class ``name`` trains on by default: its registry's, or for
    runs of an experiment no registry declares, the one their summary records."""
    found = dataset_of(name)
    if found is None:
        recorded = next((g[0].summary.get("dataset") for key, g in groups.items()
                         if key[0] == name), None)
        found = dataset_named(recorded) if recorded else None
    return found


def _dataset_name(group, declared) -> str:
    """The dataset a group of runs trained on (its class name): what their summary
    records; runs made before summaries recorded it trained on the experiment's own."""
    return group[0].summary.get("dataset") or (declared.__name__ if declared else "?")


def _tables(names, groups) -> list:
    """A section's runs split into the tables they need, in order: ``[(top5, label,
    [(name, dataset)])]``, one table per dataset (class name), so that runs of a paper
    experiment on another dataset (``dataset=...``) never sit beside the paper's; the
    datasets whose tables show top-5 accuracy (``Dataset.top5_in_tables``, ImageNet's)
    come after the others."""
    members = []
    for name in names:
        declared = _declared(name, groups)
        used = [_dataset_name(g, declared) for key, g in groups.items() if key[0] == name]
        # the experiment's own dataset first (its "not run" row when nothing ran on it)
        own = [declared.__name__] if declared else ([] if used else ["?"])
        members += [(name, d) for d in dict.fromkeys(own + used)]

    def about(dataset):
        cls = dataset_named(dataset) if dataset != "?" else None
        return (cls.label or cls.__name__, cls.top5_in_tables) if cls else (dataset, False)

    datasets = list(dict.fromkeys(d for _, d in members))
    tables = []
    for top5 in (False, True):
        for d in datasets:
            label, has_top5 = about(d)
            if has_top5 == top5:
                tables.append((top5, label, [m for m in members if m[1] == d]))
    return tables or [(False, "", [])]


def _rows(members, reported, groups, skipped, out_dir, top5) -> list:
    """Table rows of ``members`` (experiment, dataset): one per scale and config of each,
    or one saying why none. A published number is shown, and compared with, only on the
    dataset it was published on (``dataset`` in ``results/reported.yaml``)."""
    lines = []
    for name, dataset in members:
        entry = reported.get(name, {})
        if entry and entry.get("dataset", dataset) != dataset:
            entry = {"metrics": {}, "elsewhere": entry.get("dataset")}
        mine = [g for key, g in groups.items()
                if key[0] == name and _dataset_name(g, _declared(name, groups)) == dataset]
        broken = [reason for path, reason in skipped
                  if os.path.basename(os.path.dirname(os.path.normpath(path))) == name]
        if not mine:
            state = f"skipped (corrupt: {'; '.join(broken)})" if broken else "not run"
            lines.append(f"| `{name}` | {_reported_text(entry)} | {state} | | | | | | "
                         "| | | | | |" + (" |" if top5 else ""))
        mine.sort(key=lambda g: (g[0].scale != "paper", g[0].scale))
        for scale in dict.fromkeys(g[0].scale for g in mine):
            same_scale = [g for g in mine if g[0].scale == scale]
            distinct = _config_differences(same_scale) if len(same_scale) > 1 else [""]
            for g, d in zip(same_scale, distinct):
                lines.append(group_row(name, entry, g, out_dir, d, top5))
    return lines


def render(runs, skipped, reported, out_dir, figures_dir, runs_root="results/runs",
           remade_root="results/remade"):
    # tuned comparisons' runs appear in their own sections, not as extra table rows
    owned = owned_paths(runs_root)
    groups = group_runs([r for r in runs if os.path.abspath(r.path) not in owned])
    # the date of the data, not of the rendering: the same runs give the same file
    newest = max((r.summary.get("updated") or "" for r in runs), default="")[:10] or "—"
    lines = [
        "# Reproduction report",
        "",
        f"Generated by `make report` from `results/runs/` ({len(runs)} runs, the newest "
        f"updated {newest}) and `results/reported.yaml`. Reported numbers come "
        "only from that file; reproduced numbers only from run folders. Rows marked ⚠ are "
        "reduced-scale or incomplete runs: they are **not** paper-scale results and get no "
        "difference to the paper. \"final\"/\"best\" are validation accuracies on the split in "
        "\"validated on\" (`test` = the CIFAR-10 test set, as the authors did).",
        "",
    ]
    for section, title in sections().items():
        lines += [f"## {title}", ""]
        names = [n for n, e in reported.items() if str(e.get("section")) == section]
        # published numbers are optional: an experiment without one (a new optimizer's,
        # say) still gets its rows, in the section its runs name
        unpublished = sorted({key[0] for key, g in groups.items()
                              if str(g[0].summary.get("section")) == section} - set(reported))
        tables = _tables(names + unpublished, groups)
        for top5, label, members in tables:
            if len(tables) > 1:
                lines += [f"**{label}**", ""]
            lines.append(HEADER_TOP5 if top5 else HEADER)
            lines += _rows(members, reported, groups, skipped, out_dir, top5)
            lines.append("")
        for name in names:
            if not reported[name].get("metrics"):
                continue
            lines.append(f"- `{name}`: {reported[name]['source']}")
        lines.append("")
        if section == "5.1":
            lines += [""] + claims_section(runs)
            for sweep in sweeps():
                lines += tuned.sweep_section(sweep, runs_root)
        if section == "3":
            lines += [""] + inertia_section(runs, out_dir)
        if section == "5.2":
            for tuning in tunings("5.2", runs_root):
                lines += tuned.tuned_section(tuning, runs_root, out_dir)
            lines += tuned.horizon_section(runs_root, reported)
            lines += tuned.init_section(runs, out_dir, experiment=views().INIT)
            lines += tuned.time_to_accuracy_section(
                [r for r in runs if os.path.abspath(r.path) not in owned],
                views().TIME_TO_ACCURACY)
        lines += _figure_links(section, figures_dir, out_dir)
    lines += tuned.memory_section(runs)
    lines += precision_section(runs_root, remade_root=remade_root)
    lines += speed.workers_section(os.path.join(os.path.dirname(os.path.abspath(runs_root)),
                                                "bench.json"))
    lines += across_machines_section(runs_root, remade_root, out_dir)
    lines += deployment_section(os.path.join(os.path.dirname(os.path.normpath(runs_root)),
                                             "deploy"), reported, out_dir)
    lines += ["## Skipped run folders", ""]
    if skipped:
        lines += [f"- `{os.path.relpath(os.path.abspath(path), out_dir)}`: {reason}"
                  for path, reason in skipped]
    else:
        lines.append("None.")
    return "\n".join(lines) + "\n"


def _numbers_as_numbers(name: str) -> list:
    """A sort key that reads the digits in a name as numbers, so that the ladder's figures
    follow the rungs (8, 16, 32, 64 epochs) instead of the characters (16, 32, 64, 8)."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def _figure_links(section, figures_dir, out_dir):
    stem = {"3": "figure3", "5.1": "figure1", "5.2": "figure2"}.get(section)
    if not stem or not os.path.isdir(figures_dir):
        return []
    found = sorted((f for f in os.listdir(figures_dir) if f.startswith(stem) and f.endswith(".png")),
                   key=_numbers_as_numbers)
    out = []
    for name in found:
        rel = os.path.relpath(os.path.join(figures_dir, name), out_dir)
        out += [f"![{name}]({rel})", ""]
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", default="results/runs")
    parser.add_argument("--reported", default="results/reported.yaml")
    parser.add_argument("--out", default="results/REPORT.md")
    parser.add_argument("--figures", default="results/figures")
    parser.add_argument("--remade", default="results/remade",
                        help="sets of the re-make reference made on other hardware")
    args = parser.parse_args(argv)
    # a missing folder for the report is made, as `make figures` makes its own; the
    # links inside are relative to it either way
    out_folder = os.path.dirname(os.path.abspath(args.out))
    if os.path.exists(out_folder) and not os.path.isdir(out_folder):
        raise SystemExit(f"error: --out {args.out}: {out_folder} is a file, not a folder; "
                         "give a path inside a folder")
    os.makedirs(out_folder, exist_ok=True)
    read_rules()
    runs, skipped = load_runs(args.runs)
    reported = load_reported(args.reported)
    out_dir = os.path.dirname(os.path.abspath(args.out))
    text = render(runs, skipped, reported, out_dir, os.path.abspath(args.figures), args.runs,
                  args.remade)
    with open(args.out, "w") as f:
        f.write(text)
    declarations.save()
    print(f"wrote {args.out}: {len(runs)} runs, {len(skipped)} skipped")


if __name__ == "__main__":
    main()
