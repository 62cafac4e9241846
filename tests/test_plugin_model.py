"""A model is one file: every module of ``models/`` is found by the package, so each
model class in one is selectable as ``model=Name``; docs/extending.md's "Add a model" file, as
written, is loaded by ``BNN_PLUGINS`` and trained through the command line."""
import inspect
import json
import os
import subprocess
import sys

import pytest

from configs import EXPERIMENTS
from experiments.engine.experiment import build

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_every_module_of_the_models_package_is_discovered():
    import models
    from experiments.models import Model

    folder = os.path.dirname(models.__file__)
    files = sorted(n[:-3] for n in os.listdir(folder)
                   if n.endswith(".py") and n not in ("__init__.py", "base.py"))
    assert sorted(models.DISCOVERED) == files
    found = []
    for name in files:
        module = sys.modules[f"models.{name}"]
        for cls_name, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, Model) and cls.__module__ == module.__name__:
                exp = build(EXPERIMENTS["sec52_bop"], {"model": cls_name})
                assert type(exp.model) is cls
                found.append(cls_name)
    assert {"BinaryNet", "BinaryAlexNet", "XNORNet", "BiRealNet"} <= set(found)


def test_models_are_found_through_the_registry_and_implement_the_engines_contract():
    """``models/`` is declared in the ``bnn.models`` entry-point group and imported by
    the contract's package; its classes subclass the contract in ``experiments``, and
    the experiment's component slots are the three contracts."""
    from zookeeper.core.field import ComponentField

    import models
    from experiments import models as contract, registry
    from experiments.engine.components import SLOTS
    from experiments.engine.experiment import Experiment

    assert ("paper", "models") in registry.declared(registry.MODELS)
    assert contract.PACKAGES == ["models"] and models.Model is contract.Model
    assert issubclass(sys.modules["models.binarynet"].BinaryNet, contract.Model)
    slots = {name: field.type for name, field in Experiment.__component_fields__.items()
             if isinstance(field, ComponentField)}
    assert slots == SLOTS


def readme_model() -> str:
    readme = open(os.path.join(REPO, "docs", "extending.md")).read()
    section = readme[readme.index("## Add a model"):]
    return section.split("```python\n", 1)[1].split("```", 1)[0]


@pytest.mark.slow
def test_the_readme_model_file_trains_as_written(fake_cifar10, tmp_path):
    """docs/extending.md's "Add a model" file, copied verbatim, trained in a fresh process under Bop
    (binary weights) as the page's command line says; the experiment's scale preset keys
    for BinaryNet's widths are left out, with a note, since they do not apply to it."""
    (tmp_path / "my_mlp.py").write_text(readme_model())
    readme = open(os.path.join(REPO, "docs", "extending.md")).read()
    section = readme[readme.index("## Add a model"):]
    line = next(x for x in section.split("```bash\n", 1)[1].split("```")[0].splitlines()
                if x.startswith("bnn run"))
    root = tmp_path / "runs"
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "BNN_PLUGINS": "my_mlp",
           "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run(
        [sys.executable, "-m", "experiments", *line.split()[1:], "scale=tiny",
         f"data_dir={fake_cifar10[0]}", f"results_dir={root}", "progress=False"],
        env=env, capture_output=True, text=True, timeout=600, cwd=REPO)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "model.dense_units, model.filters do not apply" in done.stderr
    (experiment,) = os.listdir(root)
    (run_id,) = os.listdir(root / experiment)
    folder = root / experiment / run_id
    config = json.loads((folder / "config.json").read_text())
    summary = json.loads((folder / "summary.json").read_text())
    assert config["model"] == "BinaryMLP" and summary["status"] == "completed"
    assert summary["binary_layer_order"] == ["dense1", "dense2", "dense3"]
    row = json.loads((folder / "metrics.jsonl").read_text().splitlines()[0])
    assert set(row["flip_ratio"]) == {"dense1", "dense2", "dense3"}
