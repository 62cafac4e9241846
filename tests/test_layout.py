"""The layout shows the architecture: imports run one way, read from the source itself.

Top-level folders: ``configs`` (declarations) may import ``experiments`` and ``models``;
``scripts`` (thin entry points) only the package's ``report`` and ``tools``; ``models``
only ``models.base`` and ``experiments.errors``; ``experiments`` never ``configs``,
``scripts`` or ``tests`` (it finds the registry through an entry point), and nothing
outside ``tests`` imports ``tests``. Inside the package: errors/locks <- optimizers,
datasets <- engine <- inertia, analysis <- report, tools, deploy, cli; and the engine knows only
the component contracts - it imports no concrete model, dataset or optimizer module, nor
a class defined in one. Imports are read with ``ast``, string imports
(``importlib.import_module("...")``, ``__import__``, a module path held in a string)
included."""
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
    "experiments.optimizers": {"experiments.errors", "experiments._keras2", "models.base"},
    "experiments.datasets": {"experiments.errors", "experiments.locks", "experiments.fakes"},
    "experiments.engine": {"experiments.errors", "experiments._keras2", "experiments.locks",
                           "experiments.optimizers", "experiments.datasets", "models"},
    "experiments.inertia": {"experiments.errors", "experiments.locks", "experiments.engine",
                            "experiments.optimizers", "models"},
    "experiments.analysis": {"experiments.errors", "experiments.locks",
                             "experiments.engine.runs", "experiments.engine.fingerprint"},
    "experiments.report": {"experiments.errors", "experiments.registry", "experiments.plugins",
                           "experiments.analysis", "experiments.engine", "experiments.datasets"},
    "experiments.tools": {"experiments.errors", "experiments.registry", "experiments.cli",
                          "experiments.engine", "experiments.analysis", "experiments.datasets",
                          "experiments.optimizers", "experiments.fakes", "models"},
    "experiments.deploy": {"experiments.errors", "experiments.registry", "experiments.engine",
                           "experiments.analysis", "experiments.optimizers"},
    "experiments.cli": {"experiments.errors", "experiments.registry", "experiments.plugins",
                        "experiments.engine", "experiments.analysis", "experiments.report",
                        "experiments.deploy"},
    "experiments.__main__": {"experiments.cli"},
    "models": {"experiments", "experiments.errors"},
    "configs": {"experiments", "models"},
    "scripts": {"experiments.report", "experiments.tools"},
}
# The component packages: their contract modules (what the engine may know) and, found
# by each package itself, their concrete component modules (what it must not name).
CONTRACTS = {"experiments.optimizers": ("base", "schedules", "flip_rule"),
             "experiments.datasets": ("base",), "models": ("base",)}
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
