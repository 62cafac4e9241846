"""Reported numbers as data; REPORT.md, §5.1 verdicts and figures on synthetic run folders."""
import json
import os

import pytest

from configs import EXPERIMENTS
from configs.analysis import SEC3, SEC51
from experiments.analysis import claims
from experiments.analysis.collect import load_runs
from experiments.report import figures, tables as report

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPORTED = os.path.join(REPO, "results", "reported.yaml")
LAYERS = ["conv1", "dense1", "dense2"]
HEADER_CELLS_TOP5 = report.HEADER_TOP5.split("\n")[0].count("|") - 1


def test_every_paper_experiment_has_a_reported_entry_and_every_entry_an_experiment():
    """Published numbers are optional per experiment, but every item of the paper (and of
    the papers the suite reproduces beyond it) has its entry, and every number cited has
    an experiment that can make it."""
    reported = report.load_reported(REPORTED)
    paper_items = {n for n, cls in EXPERIMENTS.items() if cls.section in ("3", "5.1", "5.2", "5.3")}
    assert paper_items <= set(reported) <= set(EXPERIMENTS)
    assert set(EXPERIMENTS) - set(reported) <= {n for n, c in EXPERIMENTS.items()
                                                if c.section not in ("3", "5.1", "5.2", "5.3")}
    for name, entry in reported.items():
        assert entry["source"] and entry["hyperparameters"], name
        assert entry["metrics"] or entry.get("note"), f"{name}: a number or an explicit note"
        assert str(entry["section"]) == EXPERIMENTS[name].section, name
        # the dataset its number is on: the experiment's own (the report compares by it)
        assert entry["dataset"] == type(EXPERIMENTS[name]().dataset).__name__, name
    assert reported["sec52_bop"]["metrics"]["test_top1"] == 91.3
    assert reported["sec52_adam"]["metrics"]["test_top1"] == 90.9
    # Bop and Beyond's README: every number of it has its experiment (configs/bop2ndorder.py);
    # BayesBiNN's logged CIFAR-10 runs theirs (configs/bayesbinn.py)
    assert {n: e["metrics"] for n, e in reported.items() if e["section"] == "beyond"} == {
        "bayesbinn_cifar10": {"test_top1": 93.75},
        "sec52_bop2ndorder": {"test_top1": 91.9}, "sec52_bop2ndorder_unbiased": {"test_top1": 91.4},
        "sec53_xnornet_bop2ndorder": {"test_top1": 46.9},
        "sec53_birealnet_bop2ndorder": {"test_top1": 57.2}}
    sec53 = {n: e["metrics"] for n, e in reported.items() if str(e["section"]) == "5.3"}
    assert sec53 == {
        "sec53_binary_alexnet": {"test_top1": 41.1}, "sec53_xnornet": {"test_top1": 45.9},
        "sec53_birealnet": {"test_top1": 56.6},
        "sec53_birealnet_arxiv_v1": {"test_top1": 54.2, "test_top5": 77.2},
        # larq-zoo's latent-weight models (docstrings of larq_zoo/literature/*.py)
        "sec53_binary_alexnet_latent_adam": {"test_top1": 36.30, "test_top5": 61.53},
        "sec53_xnornet_latent_adam": {"test_top1": 44.96, "test_top5": 69.18},
        "sec53_birealnet_latent_adam": {"test_top1": 57.47, "test_top5": 79.84},
    }
    for name in sec53:
        baseline = reported[name].get("latent_weight_baseline")
        assert baseline is None or reported[baseline]["section"] == "5.3", name


def test_numbers_without_an_experiment_are_refused(tmp_path):
    """A section of numbers waiting for an experiment (``pending``) is an error, not a row."""
    import yaml

    with open(REPORTED) as f:
        data = yaml.safe_load(f)
    data["pending"] = {"sec99_future": {"section": "beyond", "metrics": {"test_top1": 1.0}}}
    path = tmp_path / "reported.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    with pytest.raises(ValueError, match="only `experiments` may hold published numbers, "
                                         "found pending"):
        report.load_reported(str(path))


def write_run(root, experiment, run_id, *, val, train=None, flips=None, scale="quick", seed=0,
              status="completed", planned=None, config_extra=None, flip_counts=None,
              folder=None):
    """A run folder in the format experiments.engine.train writes (in ``folder``, a
    sweep's, instead of the experiment's)."""
    path = os.path.join(root, folder or experiment, run_id)
    os.makedirs(path)
    train = train or [v + 0.05 for v in val]
    flips = flips or [1e-3] * len(val)
    config = {"scale": scale, "seed": seed, "epochs": planned or len(val), **(config_extra or {})}
    rows = [{"epoch": i + 1, "step": 10 * (i + 1), "train_accuracy": t, "val_accuracy": v,
             "train_loss": 1.0, "val_loss": 1.0, "epoch_time_s": 30.0,
             "flip_ratio": {layer: f for layer in LAYERS}}
            for i, (t, v, f) in enumerate(zip(train, val, flips))]
    summary = {"experiment": experiment, "scale": scale, "status": status, "run_id": run_id,
               "epochs_done": len(val), "epochs_planned": planned or len(val),
               "final_val_accuracy": val[-1], "best_val_accuracy": max(val),
               "wall_time_s": 30.0 * len(val), "updated": "2026-11-25T10:00:00+00:00",
               "hardware": {"label": "CPU (2 cores)"}, "validation_split": "test",
               "binary_layer_order": LAYERS}
    json.dump(config, open(os.path.join(path, "config.json"), "w"))
    json.dump(summary, open(os.path.join(path, "summary.json"), "w"))
    with open(os.path.join(path, "metrics.jsonl"), "w") as f:
        f.writelines(json.dumps(r) + "\n" for r in rows)
    with open(os.path.join(path, "flips.jsonl"), "w") as f:
        for i in range(len(val)):
            f.write(json.dumps({"epoch": i + 1, "step": 10 * (i + 1),
                                "pi_t": {layer: -6.0 for layer in LAYERS},
                                "flips": {layer: (flip_counts or [3] * len(val))[i]
                                          for layer in LAYERS}}) + "\n")
    return path


@pytest.fixture
def run_tree(tmp_path):
    root = str(tmp_path / "runs")
    # two seeds of §5.2 Bop at the quick scale, one incomplete paper-scale run
    write_run(root, "sec52_bop", "quick-seed0-aaaa", val=[0.5, 0.6], seed=0)
    write_run(root, "sec52_bop", "quick-seed1-bbbb", val=[0.5, 0.7], seed=1)
    write_run(root, "sec52_bop", "paper-seed0-cccc", val=[0.3], scale="paper",
              status="interrupted", planned=500)
    write_run(root, "sec52_adam", "paper-seed0-dddd", val=[0.85, 0.9], scale="paper")
    cut = write_run(root, "sec52_adam", "quick-seed0-eeee", val=[0.4])
    with open(os.path.join(cut, "metrics.jsonl"), "a") as f:
        f.write('{"epoch": 2, "train_acc')  # cut short by a kill: that line only is lost
    damaged = write_run(root, "sec52_adam", "quick-seed0-gggg", val=[0.4, 0.5], scale="tiny")
    text = open(os.path.join(damaged, "metrics.jsonl")).read().split("\n")
    with open(os.path.join(damaged, "metrics.jsonl"), "w") as f:
        f.write("\n".join(["{not json"] + text[1:]))  # damaged before the last line
    os.makedirs(os.path.join(root, "sec51_tau_0", "quick-seed0-ffff"))  # killed before epoch 1
    return root


def test_report_tables(run_tree, tmp_path):
    out = tmp_path / "REPORT.md"
    report.main(["--runs", run_tree, "--reported", REPORTED, "--out", str(out),
                 "--figures", str(tmp_path / "figures")])
    text = out.read_text()
    rows = {line.split("|")[1].strip() + line.split("|")[8].strip().split(" · ")[0]: line
            for line in text.splitlines() if line.startswith("| `")}
    bop_quick = rows["`sec52_bop`quick"]
    assert bop_quick.split("|")[8].strip() == "quick · float32"  # scale and precision
    assert "65.00 ± 7.07" in bop_quick  # mean ± sample std of 60 and 70, n = 2
    assert "| 2 |" in bop_quick and "⚠ reduced scale (quick)" in bop_quick
    assert "n/a (not paper scale)" in bop_quick
    bop_paper = rows["`sec52_bop`paper"]
    assert "⚠ incomplete (interrupted)" in bop_paper and "1/500" in bop_paper
    assert "n/a (incomplete)" in bop_paper
    adam = rows["`sec52_adam`paper"]
    assert adam.split("|")[5].strip() == "-0.90"  # 90.00 - 90.9: paper scale and complete
    assert "✓" in adam
    assert "[paper-seed0-dddd](runs/sec52_adam/paper-seed0-dddd)" in adam  # relative link
    cut = rows["`sec52_adam`quick"]
    assert "40.00" in cut and "1/1" in cut  # the cut-short second line is dropped, not the run
    skipped = text.split("## Skipped run folders")[1]
    assert "quick-seed0-gggg`: metrics.jsonl line 1 is not valid JSON" in skipped
    assert "quick-seed0-ffff`: config.json is missing" in skipped
    assert "skipped (corrupt: config.json is missing)" in rows["`sec51_tau_0`"]
    row = rows["`sec53_binary_alexnet`"]
    assert "41.1 (test_top1)" in row and "not run" in row
    assert "54.2 (test_top1), 77.2 (test_top5)" in rows["`sec53_birealnet_arxiv_v1`"]
    # Bop and Beyond: every published number is an experiment's row, none waits unbuilt
    assert "not built yet" not in text
    for name, number in (("sec52_bop2ndorder_unbiased", "91.4"), ("sec53_xnornet_bop2ndorder", "46.9"),
                         ("sec53_birealnet_bop2ndorder", "57.2")):
        assert f"{number} (test_top1)" in rows[f"`{name}`"] and "not run" in rows[f"`{name}`"]
    beyond = text.split("## Beyond the paper")[1].split("\n## ")[0]
    cifar, imagenet = beyond.split("**CIFAR-10**")[1].split("**ImageNet**")
    assert "`sec52_bop2ndorder_unbiased`" in cifar and "top-5" not in cifar
    assert "`sec53_xnornet_bop2ndorder`" in imagenet and "top-5 (%)" in imagenet
    assert rows["`sec53_xnornet_bop2ndorder`"].count("|") == HEADER_CELLS_TOP5 + 1


def _sec51_tree(root, tau0_val, seeds=(0,), epochs=5, gamma_1e2_flips=3e-2):
    """Five §5.1 settings; each seed shifts accuracies by 0.5 pp and flips by 5 %."""
    def stretch(values):  # the same shape over `epochs` epochs
        return [values[min(i * len(values) // epochs, len(values) - 1)] for i in range(epochs)]

    settings = {
        SEC51.centre: ([0.30, 0.40, 0.45, 0.50, 0.55], [0.30, 0.40, 0.46, 0.52, 0.58], 3e-3),
        "sec51_gamma_1e-2": ([0.40, 0.45, 0.44, 0.43, 0.42], [0.40, 0.48, 0.50, 0.51, 0.51],
                             gamma_1e2_flips),
        "sec51_gamma_1e-4": ([0.10, 0.12, 0.15, 0.18, 0.20], [0.10, 0.12, 0.15, 0.18, 0.20], 2e-4),
        "sec51_tau_0": (tau0_val, [0.42, 0.49, 0.51, 0.52, 0.52], 1e-2),
        "sec51_tau_1e-5": ([0.10, 0.11, 0.12, 0.13, 0.14], [0.10, 0.11, 0.12, 0.13, 0.14], 1e-4),
    }
    for seed in seeds:
        for name, (val, train, flip) in settings.items():
            write_run(root, name, f"q{seed}", seed=seed,
                      val=[v + 0.005 * seed for v in stretch(val)],
                      train=[t + 0.005 * seed for t in stretch(train)],
                      flips=[flip * (1 + 0.05 * seed)] * epochs)
    runs, _ = load_runs(root)
    groups = {}
    for r in runs:
        groups.setdefault(r.experiment, []).append(r)
    return groups


def test_sec51_verdicts_state_their_interval_and_follow_the_metrics(tmp_path):
    volatile = [0.42, 0.30, 0.46, 0.35, 0.33]
    verdicts = claims.check_sec51(_sec51_tree(str(tmp_path / "a"), volatile, seeds=(0, 1, 2)), SEC51)
    assert [v.outcome for v in verdicts] == ["holds", "holds", "not testable at this scale",
                                             "not testable at this scale", "holds"]
    assert "γ=1e-3" in verdicts[0].evidence and "(n = 3)" in verdicts[0].evidence
    assert "95 % CI" in verdicts[0].evidence and "paired t, 3 pairs" in verdicts[0].evidence
    assert "these runs have 5" in verdicts[2].evidence
    # one seed: no interval, so nothing can hold or fail
    verdicts = claims.check_sec51(_sec51_tree(str(tmp_path / "b"), volatile), SEC51)
    assert [v.outcome for v in verdicts][:2] == ["inconclusive", "inconclusive"]
    assert "no interval" in verdicts[0].evidence
    # long enough for the over-time claims: a volatile, degrading tau = 0 shows them ...
    verdicts = claims.check_sec51(_sec51_tree(str(tmp_path / "c"), volatile, seeds=(0, 1, 2),
                                              epochs=25), SEC51)
    assert verdicts[2].outcome == "holds"
    # ... a calm, still-improving one contradicts them
    verdicts = claims.check_sec51(_sec51_tree(str(tmp_path / "d"), [0.30, 0.40, 0.45, 0.50, 0.56],
                                              seeds=(0, 1, 2), epochs=25), SEC51)
    assert verdicts[2].outcome == "does not hold" and verdicts[3].outcome == "does not hold"
    # gamma 1e-2 flipping less than the centre on every seed: the first claim fails
    groups = _sec51_tree(str(tmp_path / "e"), volatile, seeds=(0, 1, 2), gamma_1e2_flips=1e-3)
    assert claims.check_sec51(groups, SEC51)[0].outcome == "does not hold"
    del groups["sec51_tau_1e-5"]
    assert claims.check_sec51(groups, SEC51)[1].outcome == "not checked"
    assert "missing runs: sec51_tau_1e-5" in claims.check_sec51(groups, SEC51)[1].evidence


def test_figures_are_drawn_per_scale_from_run_files(run_tree, tmp_path):
    _sec51_tree(run_tree, tau0_val=[0.42, 0.30, 0.46, 0.35, 0.33])
    out = str(tmp_path / "figures")
    paths = figures.draw_all(run_tree, out)
    names = {os.path.basename(p) for p in paths}
    assert {"figure1-quick.png", "figure2-quick.png", "figure2-paper.png"} <= names
    assert "figure1-paper.png" not in names  # no §5.1 run at paper scale
    assert all(p.endswith(".png") for p in paths)  # PNG only
    one = os.path.join(run_tree, "sec51_tau_0", sorted(os.listdir(os.path.join(run_tree, "sec51_tau_0")))[0])
    paths += figures.draw_run(one, out)  # a run's flip heatmap, on demand
    assert paths[-1].startswith(os.path.join(out, "flips"))
    for p in paths:
        assert os.path.getsize(p) > 1000


def _sec3_tree(root, scaled_match=True):
    for seed in range(3):
        path = write_run(root, "sec3_approximation", f"quick-seed{seed}-a", val=[0.4, 0.5], seed=seed)
        json.dump({"binary": {"train": 0.6 + seed / 100, "test": 0.5},
                   "latent": {"train": 0.3, "test": 0.2},
                   "latent_bn_reestimated": {"train": 0.45, "test": 0.4}},
                  open(os.path.join(path, "approximation.json"), "w"))
    write_run(root, "sec3_sgd_lr_1", "q", val=[0.30, 0.40, 0.50])
    write_run(root, "sec3_sgd_lr_0.01", "q", val=[0.20, 0.22, 0.25])
    write_run(root, "sec3_sgd_lr_0.01_init_0.01", "q",
              val=[0.30, 0.40, 0.502] if scaled_match else [0.20, 0.25, 0.30],
              flip_counts=None if scaled_match else [3, 4, 5])
    write_run(root, "sec52_adam", "q", val=[0.3, 0.4, 0.5, 0.55], flips=[1e-2, 1e-2, 1e-3, 1e-3],
              config_extra={"optimizer.lr": "Staircase", "optimizer.lr.every_epochs": 2})
    write_run(root, "sec3_adam_constant", "q", val=[0.3, 0.4, 0.5, 0.5], flips=[1e-2] * 4)
    theorem = os.path.join(root, "sec3_theorem1", "q")
    os.makedirs(theorem)
    json.dump({"scale": "quick", "seed": 0}, open(os.path.join(theorem, "config.json"), "w"))
    json.dump({"experiment": "sec3_theorem1", "kind": "comparison", "scale": "quick",
               "status": "completed", "epochs_done": 2, "epochs_planned": 2,
               "updated": "2026-11-25T10:00:00+00:00"}, open(os.path.join(theorem, "summary.json"), "w"))
    pair = {"steps": 200, "binary_weights": 10000, "flips_reference_run": 500,
            "steps_with_any_difference": 0, "max_differing_fraction": 0.0,
            "final_differing_fraction": 0.0}
    json.dump({"sgd_c100": {**pair, "variant": "sgd", "factor": 100.0, "conditions_hold": True},
               "sgd_c0.01": {**pair, "variant": "sgd", "factor": 0.01, "conditions_hold": True,
                             "max_differing_fraction": 2e-5, "steps_with_any_difference": 3},
               "adam_c100": {**pair, "variant": "adam", "factor": 100.0, "conditions_hold": True,
                             "max_differing_fraction": 0.15, "final_differing_fraction": 0.15},
               "adam_c128": {**pair, "variant": "adam", "factor": 128.0, "conditions_hold": True},
               "sgd_weight_clip_c100": {**pair, "variant": "sgd_weight_clip", "factor": 100.0,
                                        "conditions_hold": False, "final_differing_fraction": 0.3,
                                        "max_differing_fraction": 0.3},
               "sgd_weight_clip_c0.01": {**pair, "variant": "sgd_weight_clip", "factor": 0.01,
                                         "conditions_hold": False,
                                         "max_abs_latent_reference_run": 0.5,
                                         "max_abs_latent_scaled_run": 0.005}},
              open(os.path.join(theorem, "theorem1.json"), "w"))


def test_report_sec3_section(tmp_path):
    root = str(tmp_path / "runs")
    _sec3_tree(root)
    out = tmp_path / "REPORT.md"
    report.main(["--runs", root, "--reported", REPORTED, "--out", str(out),
                 "--figures", str(tmp_path / "figures")])
    text = out.read_text().split("## §5.1")[0]
    assert "over 3 seed(s)" in text
    assert "| (a) binary weights | 61.00 ± 1.00 | 50.00 ± 0.00 |" in text
    assert "| (c) as (b), batch-norm statistics re-estimated | 45.00 ± 0.00 | 40.00 ± 0.00 |" in text
    lines = {line.split("|")[1].strip(): line for line in text.splitlines() if line.startswith("| ")}
    assert "**holds**" in lines["Theorem 1 (sgd, c = 100): the binary-weight sequence is unchanged"]
    assert "identical at every step" in lines["Theorem 1 (sgd, c = 100): the binary-weight sequence is unchanged"]
    assert "up to floating-point rounding" in lines["Theorem 1 (sgd, c = 0.01): the binary-weight sequence is unchanged"]
    assert "**holds**" in lines["Converse (sgd_weight_clip, c = 100): outside the theorem's conditions the sequence changes"]
    small = lines["Converse (sgd_weight_clip, c = 0.01): outside the theorem's conditions the sequence changes"]
    assert "**does not hold**" in small and "reference run 0.5, scaled run 0.005" in small
    assert "neither the clip nor the STE cut at 1 ever acted" in small
    adam = lines["Theorem 1 (adam, c = 100): the binary-weight sequence is unchanged"]
    assert "**does not hold**" in adam and "float32, not the theorem: with c = 128" in adam
    assert "identical at every step" in lines["Theorem 1 (adam, c = 128): the binary-weight sequence is unchanged"]
    lr_claim = [line for line in lines.values() if "lr 0.01 with the initial weights" in line][0]
    # one seed per run: the numbers are shown, the verdicts cannot be more than inconclusive
    assert "**inconclusive**" in lr_claim and "0.20 pp" in lr_claim and "no interval" in lr_claim
    assert "flip counts identical at all 3 recorded steps" in lr_claim
    decay = [line for line in lines.values() if "Learning-rate decay raises inertia" in line][0]
    assert "**inconclusive**" in decay and "constant lr: -2.00" in decay and "with decay: -3.00" in decay


def test_lr_vs_init_verdict_fails_when_the_scaled_run_differs(tmp_path):
    root = str(tmp_path / "runs")
    _sec3_tree(root, scaled_match=False)
    runs_, _ = load_runs(root)
    groups = {n: [r for r in runs_ if r.experiment == n] for n in SEC3.sgd.values()}
    verdict = claims.check_lr_vs_init(groups, SEC3)
    assert verdict.outcome == "inconclusive" and "20.00 pp" in verdict.evidence
    assert ("flip counts identical at every recorded step up to step 10, different from "
            "step 20 on (2 of 3 recorded steps differ)") in verdict.evidence


def test_sec3_figures(tmp_path):
    root = str(tmp_path / "runs")
    _sec3_tree(root)
    names = {os.path.basename(p) for p in figures.draw_all(root, str(tmp_path / "figures"))}
    assert {"figure3-lr-vs-init-quick.png", "figure3-flips-quick.png"} <= names


def test_rows_of_one_experiment_with_different_configs_say_how_they_differ(tmp_path):
    root = str(tmp_path / "runs")
    write_run(root, "sec52_bop", "a", val=[0.5], config_extra={"optimizer.gamma.value": 1e-4})
    write_run(root, "sec52_bop", "b", val=[0.6], config_extra={"optimizer.gamma.value": 1e-3})
    write_run(root, "sec52_bop", "c", val=[0.6], config_extra={"optimizer.gamma.value": 1e-3},
              seed=1)
    out = tmp_path / "REPORT.md"
    report.main(["--runs", root, "--reported", REPORTED, "--out", str(out),
                 "--figures", str(tmp_path / "figures")])
    rows = [line for line in out.read_text().splitlines() if line.startswith("| `sec52_bop`")]
    assert len(rows) == 2  # the two seeds of gamma 1e-3 share a row
    assert any("config: optimizer.gamma.value=0.0001;" in r and "| 1 |" in r for r in rows)
    assert any("config: optimizer.gamma.value=0.001;" in r and "| 2 |" in r for r in rows)


def test_tables_claims_and_figures_choose_the_experiments_own_config_first(tmp_path):
    """A newer variant (the Glorot-initialised sec52_adam of `make sec52-init`) must not
    replace the experiment's own config in Figure 2, the §3 decay claim or the tables."""
    from experiments.analysis.collect import choose_group
    from experiments.engine.experiment import build
    from experiments.report.selection import default_config

    root = str(tmp_path / "runs")
    own = build(EXPERIMENTS["sec52_adam"], {"scale": "quick"}).resolved_config()
    write_run(root, "sec52_adam", "own", val=[0.5, 0.6], config_extra=own)
    glorot = {**own, "model.kernel_init": "glorot_uniform"}
    newer = write_run(root, "sec52_adam", "glorot", val=[0.4, 0.5], config_extra=glorot)
    with open(os.path.join(newer, "summary.json")) as f:
        summary = json.load(f)
    summary["updated"] = "2026-12-01T00:00:00+00:00"
    with open(os.path.join(newer, "summary.json"), "w") as f:
        json.dump(summary, f)
    runs_, _ = load_runs(root)
    chosen = choose_group(runs_, "sec52_adam", "quick", default_config("sec52_adam", "quick"))
    assert [os.path.basename(r.path) for r in chosen] == ["own"]
    assert [os.path.basename(r.path) for r in choose_group(runs_, "sec52_adam", "quick")] == ["glorot"]
    assert figures.pick(runs_, "sec52_adam", "quick").path.endswith("own")


def test_the_init_comparison_pairs_seeds_that_differ_only_in_the_init(tmp_path):
    from experiments.report.tuned import init_section

    root = str(tmp_path / "runs")
    for seed in range(3):
        for init, flips, acc in (("uniform", 1e-4, 0.60), ("glorot_uniform", 1e-2, 0.58)):
            path = write_run(root, "sec52_adam", f"{init}-{seed}", seed=seed,
                             val=[acc - 0.1, acc + 0.004 * seed], flips=[flips * (1 + seed / 10)] * 2,
                             config_extra={"model.kernel_init": init, "validation": "test"})
            with open(os.path.join(path, "summary.json")) as f:
                summary = json.load(f)
            summary["binary_layers"] = {layer: 100 for layer in LAYERS}
            with open(os.path.join(path, "summary.json"), "w") as f:
                json.dump(summary, f)
    runs_, _ = load_runs(root)
    lines = {line.split("|")[1].strip(): line for line in init_section(runs_, str(tmp_path), "sec52_adam")
             if line.startswith("| ") and not line.startswith("| quantity")}
    acc = lines["final test accuracy"]
    assert "U[-1, 1]: 60.40 ± 0.40 (n = 3), Glorot: 58.40 ± 0.40 (n = 3)" in acc
    assert "paired t, 3 pairs" in acc and "higher (95 % interval above 0)" in acc
    assert "lower (95 % interval below 0)" in lines["mean flip ratio per step, all binary layers, whole run"]


def test_time_to_accuracy_reads_the_first_epoch_at_the_threshold(tmp_path):
    from experiments.analysis import speed

    root = str(tmp_path / "runs")
    write_run(root, "sec52_bop", "a", val=[0.30, 0.45, 0.52, 0.50])
    write_run(root, "sec52_bop", "b", val=[0.42, 0.44, 0.46, 0.48], seed=1)
    runs_, _ = load_runs(root)
    a, b = sorted(runs_, key=lambda r: r.seed)
    assert speed.first_reach(a, 0.40) == (20, 60.0)  # epoch 2 ends at step 20, 2 x 30 s
    assert speed.first_reach(b, 0.40) == (10, 30.0)
    assert speed.first_reach(b, 0.50) is None
    rows = speed.table({"Bop": [a, b]}, (0.40, 0.50, 0.60))
    assert "| Bop | 40 % | 2 of 2 | 15 ± 7 | 45 s ± 21 s |" in rows
    assert "| Bop | 50 % | 1 of 2 | 30 | 90 s |" in rows
    assert "| Bop | 60 % | 0 of 2 | not reached | not reached |" in rows


def test_an_experiment_without_a_published_number_still_gets_its_rows(tmp_path):
    """Published numbers are optional: runs of an experiment that reported.yaml does not
    list (e.g. a new optimizer's) appear in their section, marked as unpublished."""
    import yaml

    root = str(tmp_path / "runs")
    path = write_run(root, "sec52_bop2ndorder", "quick-seed0-abcd", val=[0.5, 0.6])
    summary = json.load(open(os.path.join(path, "summary.json")))
    json.dump({**summary, "section": "beyond"}, open(os.path.join(path, "summary.json"), "w"))
    with open(REPORTED) as f:
        data = yaml.safe_load(f)
    data["experiments"].pop("sec52_bop2ndorder")
    trimmed = tmp_path / "reported.yaml"
    trimmed.write_text(yaml.safe_dump(data, allow_unicode=True))
    out = tmp_path / "REPORT.md"
    report.main(["--runs", root, "--reported", str(trimmed), "--out", str(out),
                 "--figures", str(tmp_path / "figures")])
    rows = [line for line in out.read_text().splitlines()
            if line.startswith("| `sec52_bop2ndorder` |")]
    assert len(rows) == 1 and "no number published" in rows[0] and "60.00" in rows[0]


def copy_committed_results(tmp_path):
    """The committed ``results/`` (git ls-files) copied under ``tmp_path``, as a fresh clone
    has it; skips outside a git checkout."""
    import shutil
    import subprocess

    listed = subprocess.run(["git", "ls-files", "results"], cwd=REPO, capture_output=True,
                            text=True)
    files = listed.stdout.split()
    if listed.returncode or not files:
        pytest.skip("not a git checkout")
    for name in files:
        os.makedirs(os.path.dirname(tmp_path / name), exist_ok=True)
        shutil.copy2(os.path.join(REPO, name), tmp_path / name)
    return files


@pytest.mark.slow
def test_make_report_remakes_the_committed_report_and_figures_byte_for_byte(tmp_path):
    """What `make report` does on a fresh clone: from the committed results/ alone (git
    ls-files, copied elsewhere), REPORT.md and the figures come out as committed, byte for
    byte - no date of the day, no software stamp, nothing from outside the folder."""
    files = copy_committed_results(tmp_path)
    results = tmp_path / "results"
    figures.main(["--runs", str(results / "runs"), "--out", str(results / "figures")])
    report.main(["--runs", str(results / "runs"), "--reported", str(results / "reported.yaml"),
                 "--out", str(results / "REPORT.md"), "--figures", str(results / "figures"),
                 "--remade", str(results / "remade")])
    committed = {n for n in files if n.startswith("results/figures/")}
    drawn = {f"results/figures/{n}" for n in os.listdir(results / "figures")}
    assert drawn == committed, "make report draws other figures than the committed ones"
    for name in sorted(committed) + ["results/REPORT.md"]:
        with open(os.path.join(REPO, name), "rb") as a, open(tmp_path / name, "rb") as b:
            assert a.read() == b.read(), f"{name} is not what make report makes"


def test_runs_on_another_dataset_get_their_own_table_and_no_paper_comparison(tmp_path):
    """A paper experiment trained on a plug-in dataset (``dataset=Speckles``, a component
    this process never loaded, as when the report runs without ``BNN_PLUGINS``) is listed in
    a table of that dataset, beside nothing of the paper's, and is never compared with
    the CIFAR-10 number, even at paper scale; the CIFAR-10 run of the same experiment is."""
    root = str(tmp_path / "runs")
    for run_id, dataset, val in (("paper-seed0-aaaa", "Cifar10", [0.9]),
                                 ("paper-seed0-bbbb", "Speckles", [0.98])):
        path = write_run(root, "sec52_bop", run_id, val=val, scale="paper",
                         config_extra={"dataset": dataset})
        summary = json.load(open(os.path.join(path, "summary.json")))
        json.dump({**summary, "dataset": dataset, "section": "5.2"},
                  open(os.path.join(path, "summary.json"), "w"))
    out = tmp_path / "missing" / "folder" / "REPORT.md"  # --out into a folder not made yet
    report.main(["--runs", root, "--reported", REPORTED, "--out", str(out),
                 "--figures", str(tmp_path / "figures")])
    section = out.read_text().split("## §5.2")[1].split("\n## ")[0]
    cifar, speckles = section.split("**Speckles**")
    (own,) = [r for r in cifar.splitlines() if r.startswith("| `sec52_bop` |")]
    assert "91.3 (test_top1)" in own and "| -1.30 |" in own  # 90.00 - 91.3
    (other,) = [r for r in speckles.splitlines() if r.startswith("| `sec52_bop` |")]
    cells = [c.strip() for c in other.split("|")]
    assert cells[2] == "none on this dataset (published on Cifar10)"
    assert cells[3] == "98.00" and cells[5] == "—"  # no final − reported


def test_report_out_must_be_a_path_inside_a_folder(tmp_path):
    (tmp_path / "afile").write_text("")
    with pytest.raises(SystemExit, match="is a file, not a folder"):
        report.main(["--runs", str(tmp_path), "--reported", REPORTED,
                     "--out", str(tmp_path / "afile" / "REPORT.md")])


# Making the report from a current declaration index needs no TensorFlow, no zookeeper and
# no component: the script makes it, then lists the heavy modules loaded.
MAKE_REPORT = """
import json, sys
from experiments.report import tables
tables.main(sys.argv[2:])
print(json.dumps(sorted({m.split(".")[0] for m in sys.modules} & set(sys.argv[1].split(",")))))
"""


@pytest.mark.slow
def test_a_current_declaration_index_makes_the_same_report_without_heavy_imports(tmp_path):
    """From the committed results/: with no index the report imports configs/ (and says
    so on stderr) and writes the index; with it, the same REPORT.md byte for byte and
    none of TensorFlow, zookeeper, larq or the models loaded; an index of other sources
    is not used (the heavy modules are back), so the check is seen to catch them."""
    import subprocess
    import sys

    from tests.test_layout import HEAVY

    copy_committed_results(tmp_path)
    results, index = tmp_path / "results", tmp_path / "index.json"
    env = {**os.environ, "BNN_REPORT_INDEX": str(index)}

    out = results / "REPORT.md"
    committed = out.read_bytes()

    def make_report():
        done = subprocess.run(
            [sys.executable, "-c", MAKE_REPORT, ",".join(HEAVY), "--runs",
             str(results / "runs"), "--reported", str(results / "reported.yaml"),
             "--out", str(out), "--figures", str(results / "figures"),
             "--remade", str(results / "remade")],
            cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
        assert done.returncode == 0, done.stderr[-2000:]
        assert out.read_bytes() == committed
        return json.loads(done.stdout.splitlines()[-1]), done.stderr

    heavy, said = make_report()
    assert {"tensorflow", "zookeeper", "larq", "models", "configs"} <= set(heavy)
    assert "no declaration index yet" in said and index.exists()
    heavy, said = make_report()
    assert heavy == [] and "note:" not in said, said
    data = json.loads(index.read_text())
    index.write_text(json.dumps({**data, "sources": "another checkout"}))
    heavy, said = make_report()
    assert {"tensorflow", "zookeeper", "models", "configs"} <= set(heavy)
    assert "the sources changed" in said


def test_the_declaration_index_holds_the_declarations_as_equal_plain_data():
    """Every tuning, sweep and view the report reads comes back from the index's JSON
    equal to the declaration, with its types (tuples, float keys, dataclasses)."""
    from configs import SWEEPS, TUNINGS, analysis
    from experiments.report.declarations import decode, encode

    views = {k: getattr(analysis, k) for k in dir(analysis) if k.isupper()}
    for declared in (TUNINGS, SWEEPS, views):
        data = json.loads(json.dumps(encode(declared)))
        assert decode(data) == declared
    back = decode(json.loads(json.dumps(encode(SEC51))))
    assert type(back) is type(SEC51) and all(type(g) is float for g in back.gamma)
    assert type(back.tau) is dict and back.centre == SEC51.centre


def test_an_index_answers_only_for_its_sources_and_keeps_only_plain_data(tmp_path, capsys):
    """A stale index computes (and says so), a current one answers without computing,
    and an answer that is not plain data is used but never written."""
    from experiments.report import declarations

    path = tmp_path / "index.json"
    index = declarations.Index(str(path))
    assert index.answer("run", "x", lambda: {"run_id": "a"}) == {"run_id": "a"}
    assert "no declaration index yet" in capsys.readouterr().err
    index.save()
    again = declarations.Index(str(path))
    assert again.answer("run", "x", lambda: pytest.fail("computed")) == {"run_id": "a"}
    path.write_text(json.dumps({**json.loads(path.read_text()), "sources": "other"}))
    stale = declarations.Index(str(path))
    assert stale.answer("run", "x", lambda: {"run_id": "b"}) == {"run_id": "b"}
    assert "the sources changed" in capsys.readouterr().err
    odd = object()
    assert stale.answer("run", "y", lambda: odd) is odd
    assert "cannot hold run 'y'" in capsys.readouterr().err
    stale.save()
    assert json.loads(path.read_text())["sources"] == "other"  # not rewritten


def test_an_entrants_plug_in_is_imported_only_to_compute_and_a_changed_one_is_not_trusted(
        tmp_path, monkeypatch, capsys):
    """``bnn compare`` entrants name plug-in modules: the index hashes them, imports them
    only before an answer has to be computed, and answers nothing after one changed."""
    import sys

    from experiments.report import declarations

    (tmp_path / "entrant_module_x.py").write_text("X = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    path = str(tmp_path / "index.json")
    index = declarations.Index(path)
    index.require_plugins("entrant_module_x")
    assert "entrant_module_x" not in sys.modules
    index.answer("run", "arm", lambda: {"run_id": "a"})
    assert "entrant_module_x" in sys.modules
    index.save()
    monkeypatch.delitem(sys.modules, "entrant_module_x")
    same = declarations.Index(path)
    same.require_plugins("entrant_module_x")
    assert same.answer("run", "arm", lambda: pytest.fail("computed")) == {"run_id": "a"}
    assert "entrant_module_x" not in sys.modules
    (tmp_path / "entrant_module_x.py").write_text("X = 2\n")
    changed = declarations.Index(path)
    changed.require_plugins("entrant_module_x")
    assert changed.answer("run", "arm", lambda: {"run_id": "b"}) == {"run_id": "b"}
    assert "plug-in modules entrant_module_x changed" in capsys.readouterr().err


def test_a_components_copy_of_the_seed_does_not_split_a_group_of_seeds(tmp_path):
    """BayesBiNN keeps the run's seed as ``optimizer.seed`` (its samples' key): runs that
    differ in nothing else are one group of seeds; a run with another setting is not."""
    from experiments.analysis.collect import group_runs

    for seed in (0, 1, 2):
        write_run(str(tmp_path), "x", f"quick-seed{seed}-00000000", val=[0.5], seed=seed,
                  config_extra={"optimizer": "BayesBiNN", "optimizer.seed": seed,
                                "optimizer.temperature": 1e-10})
    write_run(str(tmp_path), "x", "quick-seed0-11111111", val=[0.5],
              config_extra={"optimizer": "BayesBiNN", "optimizer.seed": 0,
                            "optimizer.temperature": 1e-8})
    runs, skipped = load_runs(str(tmp_path))
    assert not skipped and len(runs) == 4
    groups = group_runs(runs)
    assert sorted(len(g) for g in groups.values()) == [1, 3]


def _remade_copy(study_dir, dest, *, record, shift_pp=0.0):
    """The committed bfloat16 runs of one precision study copied as a re-made set, their
    hardware marked (or not) as float32 contractions, final accuracy shifted."""
    import shutil

    from experiments.engine.bf16 import RECORD

    for run in sorted(os.listdir(study_dir)):
        src = os.path.join(study_dir, run)
        with open(os.path.join(src, "config.json")) as f:
            if json.load(f)["precision"] != "mixed_bfloat16":
                continue
        with open(os.path.join(src, "summary.json")) as f:
            summary = json.load(f)
        out = os.path.join(dest, summary["experiment"], run)  # as `bnn remake --out` lays it
        shutil.copytree(src, out)
        if record:
            summary["hardware"]["bf16_contractions"] = RECORD
        with open(os.path.join(out, "summary.json"), "w") as f:
            json.dump(summary, f)
        with open(os.path.join(out, "metrics.jsonl")) as f:
            rows = [json.loads(line) for line in f]
        rows[-1]["val_accuracy"] += shift_pp / 100
        with open(os.path.join(out, "metrics.jsonl"), "w") as f:
            f.write("".join(json.dumps(r) + "\n" for r in rows))


def test_bf16_runs_remade_without_bf16_hardware_are_read_against_the_studys_margins(tmp_path):
    """Only re-made runs whose record says float32 contractions count; a shift beyond
    the margin is read as such, an unchanged copy as equivalent."""
    runs_root = os.path.join(REPO, "results", "runs")
    remade = tmp_path / "remade"
    _remade_copy(os.path.join(runs_root, "precision_bop"), remade / "shifted",
                 record=True, shift_pp=5.0)
    _remade_copy(os.path.join(runs_root, "precision_bop"), remade / "unmarked", record=False)
    _remade_copy(os.path.join(runs_root, "precision_adam"), remade / "same", record=True)
    text = "\n".join(report.precision_section(runs_root, remade_root=str(remade)))
    assert "bfloat16 without its hardware" in text and "`unmarked`" not in text
    rows = {line.split("|")[1].strip(): line for line in text.splitlines()
            if line.startswith("| `shifted`") or line.startswith("| `same`")}
    assert "+5.000 [+5.000, +5.000]" in rows["`shifted`: `precision_bop`"]
    assert "**not equivalent**" in rows["`shifted`: `precision_bop`"]
    assert "+0.000" in rows["`same`: `precision_adam`"]
    assert "**equivalent**" in rows["`same`: `precision_adam`"]
    assert "| 16 |" in rows["`same`: `precision_adam`"]  # every seed paired


def test_the_ladders_figures_are_linked_in_the_order_of_their_rungs(tmp_path):
    names = [f"figure2-tuning-grid-sec52_horizon_{n}.png" for n in (16, 32, 64, 8)]
    names += ["figure2-tuning-grid-sec52_tuned.png", "figure1-flips.png"]
    for name in names:
        (tmp_path / name).write_bytes(b"")
    links = [line for line in report._figure_links("5.2", str(tmp_path), str(tmp_path)) if line]
    assert links == [f"![{n}]({n})" for n in (
        "figure2-tuning-grid-sec52_horizon_8.png", "figure2-tuning-grid-sec52_horizon_16.png",
        "figure2-tuning-grid-sec52_horizon_32.png", "figure2-tuning-grid-sec52_horizon_64.png",
        "figure2-tuning-grid-sec52_tuned.png")]
