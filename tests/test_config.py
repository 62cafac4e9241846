"""Config validation: every bad input fails before data is loaded, naming the field."""
import os

import pytest

from configs import EXPERIMENTS, GROUPS, TUNINGS
from experiments.cli import main, parse_overrides
from experiments.errors import ConfigError
from experiments.engine.experiment import build

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.parametrize("overrides,match", [
    ({"epochz": 3}, "epochz"),
    ({"optimizer.gama.value": 1e-3}, "gama"),
    ({"epochs": "ten"}, "epochs"),
    ({"epochs": 0}, "epochs must be >= 1"),
    ({"batch_size": -5}, "batch_size must be >= 1"),
    ({"optimizer.gamma.value": 0.0}, r"optimizer.gamma must lie in \(0, 1\]"),
    ({"optimizer.gamma.value": 1.5}, r"optimizer.gamma must lie in \(0, 1\]"),
    ({"optimizer.tau.value": -1e-8}, r"optimizer.tau must lie in \[0"),
    ({"optimizer.gamma.factor": 2.0}, "factor must be in"),
    ({"validation": "val"}, "validation must be"),
    ({"scale": "huge"}, "scale='huge' is not defined"),
    ({"model.first_conv_padding": "full"}, "first_conv_padding"),
    ({"dataset.archive": "/no/such/file.tar.gz"}, "does not exist"),
    ({"distribution": "tpu"}, "distribution must be"),
])
def test_bad_config_is_rejected_with_the_field_name(overrides, match):
    with pytest.raises(ConfigError, match=match):
        build(EXPERIMENTS["sec52_bop"], overrides)


def test_latent_weight_fields_are_validated():
    with pytest.raises(ConfigError, match="optimizer.lr must lie"):
        build(EXPERIMENTS["sec52_adam"], {"optimizer.lr.value": 0.0})
    with pytest.raises(ConfigError, match="not a larq quantizer"):
        build(EXPERIMENTS["sec52_adam"], {"optimizer.ste": "nope"})
    with pytest.raises(ConfigError, match="optimizer.clip"):
        build(EXPERIMENTS["sec52_adam"], {"optimizer.clip": -1.0})
    with pytest.raises(ConfigError, match="optimizer.binary_lr_multiplier must be > 0"):
        build(EXPERIMENTS["sec52_adam"], {"optimizer.binary_lr_multiplier": 0.0})
    with pytest.raises(ConfigError, match="optimizer.ste_clip_value must be >= 0"):
        build(EXPERIMENTS["sec52_adam"], {"optimizer.ste_clip_value": -1.0})
    with pytest.raises(ConfigError, match="model.kernel_init_scale must be > 0"):
        build(EXPERIMENTS["sec52_adam"], {"model.kernel_init_scale": 0.0})


def test_overrides_parse_and_scale_presets_sit_below_them():
    overrides = parse_overrides(["scale=quick", "epochs=3", "optimizer.gamma.value=1e-3"])
    exp = build(EXPERIMENTS["sec52_bop"], overrides)
    config = exp.resolved_config()
    assert config["epochs"] == 3  # the command line beats the preset
    assert config["model.filters"] == 32  # from the quick preset
    assert config["optimizer.gamma.value"] == 1e-3
    assert exp.run_dir().startswith("results/runs/sec52_bop/quick-seed0-")
    with pytest.raises(ConfigError, match="key=value"):
        parse_overrides(["epochs"])


def test_paper_hyperparameters_of_each_experiment():
    c = {name: build(cls).resolved_config() for name, cls in EXPERIMENTS.items()}
    for name in GROUPS["sec51"]:
        assert (c[name]["epochs"], c[name]["batch_size"]) == (100, 100)
        assert c[name]["optimizer"] == "Bop" and c[name]["optimizer.gamma"] == "Constant"
        assert c[name]["optimizer.real_lr.value"] == 1e-2
    sweep = {n: (c[n]["optimizer.gamma.value"], c[n]["optimizer.tau.value"]) for n in GROUPS["sec51"]}
    assert sorted(g for g, t in (sweep[n] for n in GROUPS["sec51_gamma"])) == [1e-4, 1e-3, 1e-2]
    assert {t for g, t in (sweep[n] for n in GROUPS["sec51_gamma"])} == {1e-6}
    assert sorted(t for g, t in (sweep[n] for n in GROUPS["sec51_tau"])) == [0.0, 1e-6, 1e-5]
    assert {g for g, t in (sweep[n] for n in GROUPS["sec51_tau"])} == {1e-3}
    bop, adam = c["sec52_bop"], c["sec52_adam"]
    assert (bop["epochs"], bop["batch_size"], adam["epochs"], adam["batch_size"]) == (500, 50, 500, 50)
    assert (bop["optimizer.gamma"], bop["optimizer.gamma.value"], bop["optimizer.gamma.every_epochs"],
            bop["optimizer.gamma.factor"], bop["optimizer.tau.value"]) == ("Staircase", 1e-4, 100, 0.1, 1e-8)
    assert (adam["optimizer"], adam["optimizer.lr.value"], adam["optimizer.lr.every_epochs"],
            adam["optimizer.clip"], adam["optimizer.xavier_scaling"]) == ("LatentAdam", 1e-3, 100, 1.0, True)
    for name in GROUPS["cifar10"]:
        assert (c[name]["model.filters"], c[name]["model.dense_units"]) == (128, 1024)


def test_every_group_member_is_registered():
    names = {g: {m.split()[0] for m in members} for g, members in GROUPS.items()}
    for members in names.values():
        assert members <= set(EXPERIMENTS) | set(TUNINGS)
    assert (names["cifar10"] | names["sec3"] | names["imagenet"] | names["beyond"]
            | names["beyond_imagenet"] == set(EXPERIMENTS))
    for name in ("sec3_approximation", "sec3_sgd_lr_1", "sec3_sgd_lr_0.01",
                 "sec3_sgd_lr_0.01_init_0.01", "sec3_adam_constant", "sec52_adam"):
        seeds = [build(EXPERIMENTS[name], parse_overrides(m.split()[1:])).seed
                 for m in GROUPS["sec3"] if m.split()[0] == name]
        assert seeds == [0, 1, 2], name  # every §3 claim compares three seeds


def test_make_cifar10_quick_is_sec51_over_three_seeds_and_the_tuned_sec52():
    members = GROUPS["cifar10_quick"]
    # the paper's two optimizers of the tuned comparison (Bop2ndOrder's arms: beyond_quick)
    assert members[-1] == "sec52_tuned arms=sec52_bop,sec52_adam" and "sec52_tuned" in TUNINGS
    assert GROUPS["beyond_quick"] == ["sec52_tuned arms=sec52_bop2ndorder,sec52_bop2ndorder_unbiased"]
    runs = [build(EXPERIMENTS[m.split()[0]], parse_overrides(m.split()[1:])) for m in members[:-1]]
    assert sorted((e.name, e.seed) for e in runs) == sorted(
        (n, s) for n in GROUPS["sec51"] for s in (0, 1, 2))
    assert {(e.scale, e.epochs, e.train_subset) for e in runs} == {("quick", 4, 10000)}
    tuned = TUNINGS["sec52_tuned"]
    assert [(a.experiment, a.key, a.values) for a in tuned.arms] == [
        ("sec52_bop", "optimizer.gamma.value", (1e-4, 1e-3, 3e-3, 1e-2)),
        ("sec52_adam", "optimizer.lr.value", (1e-4, 1e-3, 1e-2)),
        # the same budget as Bop's: four values of its first-moment rate's start, both forms
        ("sec52_bop2ndorder", "optimizer.gamma.value", (1e-4, 1e-3, 3e-3, 1e-2)),
        ("sec52_bop2ndorder_unbiased", "optimizer.gamma.value", (1e-4, 1e-3, 3e-3, 1e-2))]
    assert (tuned.scale, tuned.seeds, tuned.overrides) == ("quick", (0, 1, 2), {"train_subset": 15000})


def test_a_group_runs_the_named_arms_of_a_tuning_only(capsys, tmp_path):
    from experiments.cli import _tuning_arms

    tuned = TUNINGS["sec52_tuned"]
    assert [a.experiment for a in _tuning_arms(tuned, "sec52_bop2ndorder").arms] == [
        "sec52_bop2ndorder"]
    both = _tuning_arms(tuned, "sec52_bop2ndorder,sec52_bop2ndorder_unbiased")  # beyond_quick
    assert [a.experiment for a in both.arms] == ["sec52_bop2ndorder", "sec52_bop2ndorder_unbiased"]
    assert both.comparisons() == [c for c in tuned.comparisons()
                                  if c[:2] == ("sec52_bop2ndorder", "sec52_bop2ndorder_unbiased")]
    assert _tuning_arms(tuned, None) is tuned
    with pytest.raises(ConfigError, match="must name some of its arms: sec52_bop, sec52_adam"):
        _tuning_arms(tuned, "sec52_bop,sec52_sgd")


def test_cli_reports_config_errors_without_traceback(capsys):
    assert main(["run", "sec52_bop", "optimizer.gamma.value=0"]) == 2
    assert "optimizer.gamma must lie" in capsys.readouterr().err
    assert main(["run-group", "cifar10", "epochs=0"]) == 2
    assert main(["run", "sec99"]) == 2
    assert "unknown experiment" in capsys.readouterr().err


def test_default_scale_brings_its_preset():
    """A class whose default scale is quick gets the quick preset without scale=quick."""
    config = build(EXPERIMENTS["sec3_theorem1"]).resolved_config()
    assert config["scale"] == "quick"
    assert (config["model.filters"], config["train_subset"]) == (32, 5000)
    config = build(EXPERIMENTS["sec52_bop"]).resolved_config()
    assert (config["scale"], config["model.filters"]) == ("paper", 128)


def test_make_inertia_runs_at_quick_scale_by_default():
    """`make inertia` promises ~30 minutes: no §3 member may fall back to paper scale
    (sec3_adam_constant inherits from the paper-scale sec52_adam and once did)."""
    for member in GROUPS["sec3"]:
        name, *overrides = member.split()
        config = build(EXPERIMENTS[name], parse_overrides(overrides)).resolved_config()
        assert (config["scale"], config["model.filters"]) == ("quick", 32), member


# Committed run folders (results/runs/) are found by their config hash: adding fields to
# the config (dataset, checkpoint intervals, ...) must not move them.
COMMITTED = {("sec52_bop", ""): "quick-seed0-59d4a3e6",
             ("sec52_adam", ""): "quick-seed0-16988353",
             # the Glorot-initialised baseline run made before U[-1, 1] became the default
             ("sec52_adam", "model.kernel_init=glorot_uniform"): "quick-seed0-e946a10e",
             ("sec51_tau_0", ""): "quick-seed0-93747b01",
             ("sec3_theorem1", ""): "quick-seed0-f8079fe1",
             ("sec3_approximation", ""): "quick-seed0-ab8fa4ba"}


@pytest.mark.parametrize("name,extra,run_id", sorted((n, e, r) for (n, e), r in COMMITTED.items()))
def test_committed_runs_keep_their_run_ids(name, extra, run_id):
    exp = build(EXPERIMENTS[name], {"scale": "quick", **parse_overrides(extra.split())})
    assert exp.run_name() == run_id
    assert os.path.isdir(os.path.join(REPO, "results", "runs", name, run_id))


def test_a_changed_semantic_field_changes_the_run_id():
    base = build(EXPERIMENTS["sec52_bop"], {"scale": "quick"}).run_name()
    for overrides in ({"dataset.augment_padding": 2}, {"sync_batchnorm": False},
                      {"optimizer.gamma.value": 1e-3}, {"seed": 1}):
        assert build(EXPERIMENTS["sec52_bop"], {"scale": "quick", **overrides}).run_name() != base
    for overrides in ({"checkpoint_every_steps": 100}, {"divergence_factor": 10.0},
                      {"data_dir": "/elsewhere"}):
        assert build(EXPERIMENTS["sec52_bop"], {"scale": "quick", **overrides}).run_name() == base


def test_the_suite_installs_as_one_package_with_one_command_and_no_path_edits():
    """`make install` installs the repository editable (pyproject.toml) with the `bnn`
    console command; scripts import the suite as a package, never by editing sys.path."""
    import importlib
    import tomllib

    with open(os.path.join(REPO, "pyproject.toml"), "rb") as f:
        project = tomllib.load(f)
    module, _, function = project["project"]["scripts"]["bnn"].partition(":")
    assert callable(getattr(importlib.import_module(module), function))
    from setuptools import find_packages

    include = project["tool"]["setuptools"]["packages"]["find"]["include"]
    found = set(find_packages(REPO, include=include))
    assert {"configs", "experiments", "models", "scripts", "experiments.engine",
            "experiments.optimizers", "experiments.datasets", "experiments.inertia",
            "experiments.analysis"} <= found
    assert not {p for p in found if p.startswith("tests")}
    for folder in ("scripts", "experiments", "configs", "models"):
        for root, _, names in os.walk(os.path.join(REPO, folder)):
            for name in names:
                if name.endswith(".py"):
                    with open(os.path.join(root, name)) as f:
                        assert "sys.path.insert" not in f.read(), os.path.join(root, name)


def test_bnn_report_runs_the_report_script(tmp_path, capsys):
    out = tmp_path / "REPORT.md"
    assert main(["report", "--runs", str(tmp_path / "none"), "--out", str(out),
                 "--figures", str(tmp_path / "figures")]) == 0
    assert out.read_text().startswith("# Reproduction report")


def _makefile_group_targets() -> list:
    import re

    text = open(os.path.join(REPO, "Makefile")).read()
    block = re.search(r"^GROUP_TARGETS := ((?:.*\\\n)*.*)$", text, re.M).group(1)
    return block.replace("\\\n", " ").split()


def test_make_targets_and_groups_share_one_vocabulary():
    """Every group target is its group's name with - for _ and runs it through
    RUN_GROUP (which derives the group from the target); nothing else runs a group."""
    import re

    text = open(os.path.join(REPO, "Makefile")).read()
    targets = _makefile_group_targets()
    assert targets and all(t.replace("-", "_") in GROUPS for t in targets), targets
    recipes = dict(re.findall(r"^([a-z0-9-]+):[^\n]*\n((?:\t[^\n]*\n)*)", text, re.M))
    for target in targets:
        assert "$(RUN_GROUP)" in recipes[target], target
    commands = [line for line in text.splitlines() if line.startswith("\t")]
    assert not [c for c in commands if "run-group" in c], "a recipe runs a group by hand"


@pytest.mark.slow
def test_make_help_names_the_group_of_each_target():
    import subprocess

    shown = subprocess.run(["make", "-s", "help"], cwd=REPO, capture_output=True, text=True,
                           timeout=60).stdout
    for target in _makefile_group_targets():
        line = next(x for x in shown.splitlines() if x.split()[0] == target)
        assert line.endswith(f"[group {target.replace('-', '_')}]"), line


def test_the_old_source_keys_are_refused_naming_the_dataset_fields_that_replace_them():
    with pytest.raises(ConfigError, match=r"cifar10_archive= is now dataset\.archive="):
        build(EXPERIMENTS["sec52_bop"], {"cifar10_archive": "/x/cifar-10-binary.tar.gz"})
    with pytest.raises(ConfigError, match=r"imagenet_dir= is now dataset\.manual_dir="):
        build(EXPERIMENTS["sec53_birealnet"], {"imagenet_dir": "/data/ilsvrc2012"})
    exp = build(EXPERIMENTS["sec53_birealnet"], {"dataset.manual_dir": "/data/ilsvrc2012"})
    assert exp.dataset.manual_dir == "/data/ilsvrc2012"


def test_preset_keys_are_checked_against_the_component_tree():
    """A scale preset key that names no field of the experiment's own components is a
    mistake in the declaration, refused; one that no longer applies because the command
    line chose another component is left out; a key the user gives must exist."""
    from zookeeper import component

    @component
    class Misdeclared(EXPERIMENTS["sec52_bop"]):
        name = "misdeclared"
        scales = {"paper": {"model.filterz": 3}}

    with pytest.raises(ConfigError, match=r"'paper' preset sets model\.filterz"):
        build(Misdeclared)
    exp = build(EXPERIMENTS["sec52_bop"], {"scale": "quick", "model": "BiRealNet"})
    assert type(exp.model).__name__ == "BiRealNet" and exp.epochs == 8
    with pytest.raises(ConfigError, match=r"model\.filterz: model \(BinaryNet\) has no field"):
        build(EXPERIMENTS["sec52_bop"], {"model.filterz": 3})
    with pytest.raises(ConfigError, match="model='NoNet' is not a known component; choose one of "
                                          "BiRealNet, BinaryAlexNet, BinaryNet, .*XNORNet"):
        build(EXPERIMENTS["sec52_bop"], {"model": "NoNet"})


def test_the_registry_is_found_through_its_entry_point():
    """pyproject.toml declares configs/ as the `bnn.registry` entry point; the suite reads
    it from the installed metadata or, where that predates it, from pyproject.toml, and
    gets configs' own declarations (never by importing configs itself: test_layout.py)."""
    import tomllib

    import configs
    from experiments import registry

    with open(os.path.join(REPO, "pyproject.toml"), "rb") as f:
        project = tomllib.load(f)["project"]
    assert project["entry-points"][registry.GROUP] == {"paper": "configs"}
    assert ("paper", "configs") in registry.declared()
    found = registry.load()
    assert found.experiments is configs.EXPERIMENTS and found.groups is configs.GROUPS
    assert found.tunings is configs.TUNINGS and found.sweeps is configs.SWEEPS
    assert found.views is configs.analysis and set(found.sections) == {
        "3", "5.1", "5.2", "5.3", "beyond"}
    with pytest.raises(ConfigError, match="unknown experiment 'sec99'"):
        found.experiment("sec99")
