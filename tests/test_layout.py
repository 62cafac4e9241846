"""The layout shows the architecture: imports run one way, read from the source itself.

errors/locks <- optimizers, datasets <- engine <- inertia, analysis <- cli; models use
only the shared errors; only the command line (``experiments/cli.py``) and the
command-line scripts import ``configs``."""
import ast
import os

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# what each part of the suite may import from the suite (besides itself)
ALLOWED = {
    "experiments.optimizers": {"experiments.errors", "experiments._keras2", "models.base"},
    "experiments.datasets": {"experiments.errors", "experiments._keras2", "experiments.locks"},
    "experiments.engine": {"experiments.errors", "experiments._keras2", "experiments.locks",
                           "experiments.optimizers", "experiments.datasets", "models"},
    "experiments.inertia": {"experiments.errors", "experiments._keras2", "experiments.locks",
                            "experiments.engine", "experiments.optimizers", "models"},
    "experiments.analysis": {"experiments.errors", "experiments._keras2", "experiments.locks",
                             "experiments.engine.runs", "experiments.engine.fingerprint"},
    "models": {"experiments.errors", "experiments._keras2"},
    "configs": {"experiments", "models"},
}


def suite_imports(path: str) -> set:
    """Every module of the suite that ``path`` imports, at any depth of the file."""
    with open(path) as f:
        tree = ast.parse(f.read())
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        else:
            continue
        out.update(n for n in names if n.split(".")[0] in ("experiments", "models", "configs",
                                                           "scripts"))
    return out


def modules(package: str):
    folder = os.path.join(REPO, *package.split("."))
    for root, _, names in os.walk(folder):
        for name in sorted(names):
            if name.endswith(".py"):
                path = os.path.join(root, name)
                rel = os.path.relpath(path, REPO)[:-3].replace(os.sep, ".")
                yield rel.removesuffix(".__init__"), path


def _allowed(module: str, imported: str, allowed: set) -> bool:
    own = module.split(".")[0] if module.startswith(("models", "configs")) else \
        ".".join(module.split(".")[:2])
    if imported == own or imported.startswith(own + "."):
        return True
    # `from experiments.engine import runs` names both the package and the module
    return any(imported == a or imported.startswith(a + ".") for a in allowed) or \
        any(a.startswith(imported + ".") for a in allowed)


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_imports_run_one_way(package):
    wrong = []
    for module, path in modules(package):
        for imported in suite_imports(path):
            if not _allowed(module, imported, ALLOWED[package]):
                wrong.append(f"{module} imports {imported}")
    assert not wrong, "\n".join(wrong)


def test_only_the_command_line_imports_configs():
    importers = {module for package in ("experiments", "models", "configs")
                 for module, path in modules(package)
                 if any(i == "configs" or i.startswith("configs.") for i in suite_imports(path))
                 and not module.startswith("configs")}
    assert importers == {"experiments.cli"}


def test_the_layout_catches_a_backward_import(tmp_path):
    """The check above can fail: an engine module importing the analysis is caught."""
    bad = tmp_path / "bad.py"
    bad.write_text("from experiments.analysis import claims\n")
    imported = suite_imports(str(bad))
    assert not all(_allowed("experiments.engine.bad", i, ALLOWED["experiments.engine"])
                   for i in imported)
