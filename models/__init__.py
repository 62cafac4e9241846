"""The paper's models, one module each, implementing the contract in
``experiments.models.base`` (as larq-zoo's models implement larq's).

Every module of this package is imported here, and the package is declared in the
``bnn.models`` entry-point group (``pyproject.toml``), which ``experiments.models``
imports: a model added as a new file in ``models/`` is selectable as ``model=ClassName``
with nothing else to edit; a model kept outside the suite is loaded with
``BNN_PLUGINS=module`` (``experiments.plugins``). A model module may import only the
model contract (``experiments.models``) and ``experiments.errors``.
"""
import importlib
import pkgutil

from experiments.models import Model  # noqa: F401  (the contract; selects Keras 2 first)

DISCOVERED = [info.name for info in pkgutil.iter_modules(__path__) if info.name != "base"]
for _name in DISCOVERED:
    importlib.import_module(f"{__name__}.{_name}")
