"""The layout shows the architecture: imports run one way, read from the source itself.

Top-level folders: ``configs`` (declarations) may import ``experiments`` and ``models``;
``scripts`` (thin entry points) only the package's ``report`` and ``tools``; ``models``
only the model contract (``experiments.models``) and ``experiments.errors``, as larq-zoo
imports larq; ``experiments`` never ``configs``, ``models``, ``scripts`` or ``tests`` (it
finds the registry and the model packages through entry points), and nothing outside
``tests`` imports ``tests``. Inside the package: errors/locks <- optimizers, datasets,
models (the contracts) <- engine <- inertia, analysis <- report, tools, cli; and the
engine knows only the component contracts - it imports no concrete model, dataset or
optimizer module, nor a class defined in one. No two modules import each other, even
within one part, directly or round a longer circle. Imports are read with ``ast`` at any
depth of a file (inside functions too), string imports (``importlib.import_module("...")``,
``__import__``, a module path held in a string) included."""
import ast
import importlib
import os
import re

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SUITE = ("experiments", "models", "configs", "scripts", "tests")
# what each part may import from the suite besides itself (a part: the longest key that
# prefixes a module's name)
ALLOWED = {
    "experiments": {"experiments._keras2", "experiments.cli"},
    "experiments._keras2": set(),
    "experiments.errors": set(),
    "experiments.locks": {"experiments.errors"},
    "experiments.plugins": {"experiments.errors"},
    "experiments.registry": {"experiments.errors"},
    "experiments.fakes": set(),
    "experiments.models": {"experiments.errors", "experiments.registry"},
    "experiments.optimizers": {"experiments.errors", "experiments._keras2", "experiments.models"},
    "experiments.datasets": {"experiments.errors", "experiments.locks", "experiments.fakes"},
    "experiments.engine": {"experiments.errors", "experiments._keras2", "experiments.locks",
                           "experiments.plugins",
                           "experiments.optimizers", "experiments.datasets",
                           "experiments.models"},
    "experiments.inertia": {"experiments.errors", "experiments.locks", "experiments.engine",
                            "experiments.optimizers", "experiments.models"},
    "experiments.analysis": {"experiments.errors", "experiments.locks",
                             "experiments.engine.runs", "experiments.engine.fingerprint"},
    "experiments.report": {"experiments.errors", "experiments.registry", "experiments.plugins",
                           "experiments.analysis", "experiments.engine", "experiments.datasets"},
    "experiments.tools": {"experiments.errors", "experiments.registry", "experiments.cli",
                          "experiments.engine", "experiments.analysis", "experiments.datasets",
                          "experiments.optimizers", "experiments.fakes", "experiments.models"},
    "experiments.deploy": {"experiments.errors", "experiments.registry", "experiments.engine",
                           "experiments.analysis", "experiments.optimizers", "experiments.models"},
    "experiments.cli": {"experiments.errors", "experiments.registry", "experiments.plugins",
                        "experiments.engine", "experiments.analysis", "experiments.report",
                        "experiments.deploy"},
    "experiments.__main__": {"experiments.cli"},
    # a pool's worker process (experiments.engine.workers starts it): an entry point, as cli
    "experiments.worker": {"experiments.errors", "experiments.registry", "experiments.plugins",
                           "experiments.engine"},
    "models": {"experiments.models", "experiments.errors"},
    "configs": {"experiments", "models"},
    "scripts": {"experiments.report", "experiments.tools"},
}
# The component packages: their contract modules (what the engine may know) and, found
# by each package itself, their concrete component modules (what it must not name).
CONTRACTS = {"experiments.optimizers": ("base", "schedules", "flip_rule"),
             "experiments.datasets": ("base",), "models": ("base",)}
# Modules that a lower layer starts as a process (`python -m ...`) and never imports: the
# pool starts its workers' entry point, which, like the CLI, may use the registry.
STARTED = {"experiments.engine.workers": {"experiments.worker"}}
MODULE_PATH = re.compile(r"^(?:%s)(?:\.\w+)+$" % "|".join(SUITE))
IMPORTERS = {"import_module", "__import__", "run_module"}


def suite_imports(path: str) -> set:
    """Every module of the suite that ``path`` imports, at any depth of the file: import
    statements, the constant first argument of ``importlib.import_module``,
    ``__import__`` or ``runpy.run_module``, and any string that is a dotted module path
    of the suite (such as a table of modules to import by name)."""
    with open(path) as f:
        tree = ast.parse(f.read())
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names += [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant) \
                and isinstance(node.args[0].value, str):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if called in IMPORTERS:
                names.append(node.args[0].value)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) \
                and MODULE_PATH.match(node.value):
            names.append(node.value)
    return {n for n in names if n.split(".")[0] in SUITE}


def modules(package: str):
    folder = os.path.join(REPO, *package.split("."))
    for root, _, names in os.walk(folder):
        for name in sorted(names):
            if name.endswith(".py"):
                path = os.path.join(root, name)
                rel = os.path.relpath(path, REPO)[:-3].replace(os.sep, ".")
                yield rel.removesuffix(".__init__"), path


def part_of(module: str) -> str:
    return max((p for p in ALLOWED if module == p or module.startswith(p + ".")), key=len)


def _allowed(module: str, imported: str, allowed: set) -> bool:
    own = part_of(module)
    if imported in STARTED.get(module, ()):
        return True
    if imported == "experiments":  # the package itself: it only selects Keras 2
        return True
    if own != "experiments" and (imported == own or imported.startswith(own + ".")):
        return True
    # `from experiments.engine import runs` names both the package and the module
    return any(imported == a or imported.startswith(a + ".") for a in allowed) or \
        any(a.startswith(imported + ".") for a in allowed)


@pytest.mark.parametrize("folder", ["experiments", "models", "configs", "scripts"])
def test_imports_run_one_way(folder):
    wrong = []
    for module, path in modules(folder):
        allowed = ALLOWED[part_of(module)]
        for imported in suite_imports(path):
            if not _allowed(module, imported, allowed):
                wrong.append(f"{module} imports {imported}")
    assert not wrong, "\n".join(wrong)


def import_graph(paths: dict) -> dict:
    """``{module: the modules of paths it imports}`` for ``{module: file}``; an imported
    name counts as the longest module it lies in (``experiments.engine.runs.semantic`` is
    ``experiments.engine.runs``), a package's own modules as themselves."""
    def resolve(name):
        while name and name not in paths:
            name = name.rpartition(".")[0]
        return name or None
    return {m: {resolve(i) for i in suite_imports(p)} - {None, m} for m, p in paths.items()}


def circles(graph: dict) -> list:
    """Every set of two or more modules that import one another round a circle (the
    strongly connected components of the import graph, Tarjan's algorithm), each sorted."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            members = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                members.append(w)
                if w == v:
                    break
            if len(members) > 1:
                found.append(sorted(members))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def suite_modules() -> dict:
    return {m: p for folder in ("experiments", "models", "configs", "scripts")
            for m, p in modules(folder)}


def test_no_import_circle_anywhere():
    """Allowed imports within a part could still go both ways (the experiment importing
    run folders' rules that import the experiment): the whole import graph, imports
    inside functions included, has no circle."""
    found = circles(import_graph(suite_modules()))
    assert not found, "import circles:\n" + "\n".join(" <-> ".join(c) for c in found)


def test_a_planted_circle_is_caught(tmp_path):
    """Two engine modules, one importing the other at the top, the other importing it
    back inside a function (the hidden kind), and a third outside the circle."""
    files = {"experiments.engine.first": "from experiments.engine import second\n",
             "experiments.engine.second": "def late():\n"
                                          "    from experiments.engine.first import x\n",
             "experiments.engine.third": "import experiments.engine.first\n"}
    paths = {}
    for module, text in files.items():
        path = tmp_path / f"{module.rsplit('.', 1)[1]}.py"
        path.write_text(text)
        paths[module] = str(path)
    graph = import_graph(paths)
    assert graph["experiments.engine.second"] == {"experiments.engine.first"}
    assert circles(graph) == [["experiments.engine.first", "experiments.engine.second"]]
    assert circles({**graph, "experiments.engine.second": set()}) == []


def test_every_module_has_a_place_in_the_layout():
    for folder in ("experiments", "models", "configs", "scripts"):
        for module, _ in modules(folder):
            assert part_of(module), module


def test_nothing_imports_configs_scripts_or_tests():
    """The registry is found through its entry point, the report and the tools live in
    the package, the fake datasets too: no module outside ``configs`` imports
    ``configs``, none outside ``tests`` imports ``tests``, and nothing imports
    ``scripts``."""
    wrong = []
    for folder in ("experiments", "models", "configs", "scripts"):
        for module, path in modules(folder):
            for imported in suite_imports(path):
                top = imported.split(".")[0]
                if top in ("tests", "scripts") or (top == "configs" and folder != "configs"):
                    wrong.append(f"{module} imports {imported}")
    assert not wrong, "\n".join(wrong)


def concrete() -> tuple[set, set]:
    """(concrete component modules, the classes defined in them), as found by each
    component package itself (its ``DISCOVERED`` modules, less its contract)."""
    mods, classes = set(), set()
    for package, contract in CONTRACTS.items():
        found = importlib.import_module(package)
        for name in found.DISCOVERED:
            if name in contract:
                continue
            module = importlib.import_module(f"{package}.{name}")
            mods.add(module.__name__)
            classes |= {f"{package}.{k}" for k, v in vars(module).items()
                        if isinstance(v, type) and v.__module__ == module.__name__}
    return mods, classes


def test_the_engine_names_no_concrete_component():
    mods, classes = concrete()
    assert {"experiments.optimizers.bop", "experiments.datasets.cifar10",
            "models.binarynet"} <= mods and "experiments.optimizers.Bop" in classes
    wrong = []
    for module, path in modules("experiments.engine"):
        for imported in suite_imports(path):
            if imported in classes or any(imported == m or imported.startswith(m + ".")
                                          for m in mods):
                wrong.append(f"{module} imports {imported}")
    assert not wrong, "\n".join(wrong)


def test_the_layout_catches_backward_and_string_imports(tmp_path):
    """The checks above can fail: an engine module importing the analysis, a concrete
    optimizer, or configs and tests by name is caught."""
    bad = tmp_path / "bad.py"
    bad.write_text("import importlib\n"
                   "from experiments.analysis import claims\n"
                   "from experiments.optimizers import Bop\n"
                   "importlib.import_module('configs')\n"
                   "__import__('tests.fake')\n"
                   "TABLE = {'report': 'scripts.report'}\n")
    imported = suite_imports(str(bad))
    assert {"configs", "tests.fake", "scripts.report", "experiments.optimizers.Bop"} <= imported
    assert not _allowed("experiments.engine.bad", "experiments.analysis.claims",
                        ALLOWED["experiments.engine"])
    assert "experiments.optimizers.Bop" in concrete()[1]
    assert not _allowed("experiments.engine.bad", "configs", ALLOWED["experiments.engine"])


# Reading run folders needs no TensorFlow, no zookeeper and no component: the script
# reads one folder, lists the heavy modules loaded, then imports the component rules
# (which do need them) and lists again, so the check is seen to catch them.
HEAVY = ("tensorflow", "tf_keras", "zookeeper", "larq", "larq_zoo", "tensorflow_datasets",
         "models", "configs")
READ_A_RUN = """
import json, sys
from experiments.analysis import collect
runs, skipped = collect.load_runs(sys.argv[1])
assert [(r.experiment, r.status, r.complete) for r in runs] == [("x", "completed", True)], \\
    (runs, skipped)
def heavy():
    return sorted({m.split(".")[0] for m in sys.modules} & set(sys.argv[2].split(",")))
print(json.dumps(heavy()))
from experiments.engine import components
print(json.dumps(heavy()))
"""


@pytest.mark.slow
def test_reading_run_folders_imports_no_tensorflow_zookeeper_or_model(tmp_path):
    import json
    import subprocess
    import sys

    folder = tmp_path / "runs" / "x" / "paper-seed0-00000000"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"seed": 0, "model": "BinaryNet"}))
    (folder / "summary.json").write_text(json.dumps(
        {"experiment": "x", "scale": "paper", "status": "completed", "epochs_done": 1,
         "epochs_planned": 1}))
    (folder / "metrics.jsonl").write_text(json.dumps(
        {"epoch": 1, "step": 10, "train_accuracy": 0.5, "val_accuracy": 0.5}) + "\n")
    done = subprocess.run([sys.executable, "-c", READ_A_RUN, str(tmp_path / "runs"),
                           ",".join(HEAVY)], cwd=REPO, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    reading, with_components = map(json.loads, done.stdout.splitlines()[-2:])
    assert reading == []
    assert {"tensorflow", "zookeeper", "larq", "models"} <= set(with_components)
