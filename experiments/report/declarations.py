"""The declaration index: what the report and the figures learn from ``configs/``, kept as
plain JSON so that making them imports no TensorFlow, no zookeeper and no model code.

Knowing which run folders belong to a declaration takes the registry (``configs/``, which
imports the components, larq and TensorFlow) and built experiments (their run ids), yet
the answers are plain data: the views, sections, tunings, sweeps and groups, and per
declared run its folder and run id. They are a function of the suite's source alone, so
the index keeps each answer beside a content hash of the files that decide it (every
``.py`` under ``configs/``, ``experiments/`` and ``models/``, ``pyproject.toml``, the
modules of other registries, and the versions of the libraries a config is built with).

``answer(kind, key, compute)`` returns the index's answer when its hash is the sources'
hash; otherwise it calls ``compute`` (the import of ``configs/``: the slow path, said once
on stderr) and keeps the answer, and ``save()`` rewrites the index. So a report is never
made from a stale declaration, only made more slowly after an edit. Entrants' plug-in
modules (``bnn compare``) are hashed when the report meets them, and loaded only when an
answer has to be computed.

Where: ``BNN_REPORT_INDEX`` names the file; unset, it is ``.cache/declarations.json`` in
the checkout (not committed: a cache, rewritten whenever the sources change); set to
the empty string, there is no index and every answer is computed, as the tests do
in-process (where a test may change a declaration without changing a file).
"""
import dataclasses
import hashlib
import importlib
import importlib.util
import json
import os
import sys
import types
from importlib import metadata

from experiments import plugins, registry

VARIABLE = "BNN_REPORT_INDEX"
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT = os.path.join(ROOT, ".cache", "declarations.json")
SOURCES = ("configs", "experiments", "models")
OWN_PACKAGES = set(SOURCES)
# what a built config is made with besides the suite's own code
LIBRARIES = ("zookeeper", "larq", "larq-zoo", "tensorflow", "tf-keras", "tensorflow-datasets")
FORMAT = 1


def _python_files(folder: str) -> list:
    found = []
    for root, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__" and not d.startswith("."))
        found += [os.path.join(root, n) for n in sorted(names) if n.endswith(".py")]
    return found


def _foreign_packages() -> list:
    """Folders (or files) of registry and model packages that are not the suite's own,
    found without importing them."""
    found = []
    for group in (registry.GROUP, registry.MODELS):
        for _, module in registry.declared(group):
            top = module.split(".")[0]
            if top in OWN_PACKAGES:
                continue
            try:
                spec = importlib.util.find_spec(top)
            except (ImportError, ValueError):
                spec = None
            if spec is None:
                found.append(("missing", top))
            elif spec.submodule_search_locations:
                found += [("package", p) for p in spec.submodule_search_locations]
            elif spec.origin:
                found.append(("module", spec.origin))
    return found


def sources_hash() -> str:
    """A hash of everything that decides the declarations: file reads, no imports."""
    digest = hashlib.sha256()

    def add_file(path):
        digest.update(os.path.relpath(path, ROOT).encode() + b"\0")
        with open(path, "rb") as f:
            digest.update(hashlib.sha256(f.read()).digest())

    for folder in SOURCES:
        for path in _python_files(os.path.join(ROOT, folder)):
            add_file(path)
    if os.path.isfile(os.path.join(ROOT, "pyproject.toml")):
        add_file(os.path.join(ROOT, "pyproject.toml"))
    for kind, where in _foreign_packages():
        digest.update(f"{kind}:{where}\0".encode())
        if kind == "package":
            for path in _python_files(where):
                add_file(path)
        elif kind == "module":
            add_file(where)
    for group in (registry.GROUP, registry.MODELS):
        digest.update(json.dumps(sorted(registry.declared(group))).encode())
    for name in LIBRARIES:
        try:
            version = metadata.version(name)
        except metadata.PackageNotFoundError:
            version = None
        digest.update(f"{name}={version}\0".encode())
    digest.update(f"python={sys.version_info[:2]} format={FORMAT}".encode())
    return digest.hexdigest()


class Unencodable(TypeError):
    """An answer the index cannot hold as plain data."""


def encode(value):
    """``value`` as JSON data that ``decode`` turns back into an equal value: tuples,
    dicts with any keys and dataclasses of the suite's package keep their type."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, list):
        return [encode(v) for v in value]
    if isinstance(value, tuple):
        return {"tuple": [encode(v) for v in value]}
    if isinstance(value, dict):
        return {"dict": [[encode(k), encode(v)] for k, v in value.items()]}
    if isinstance(value, types.SimpleNamespace):
        return {"namespace": encode(vars(value))}
    cls = type(value)
    if dataclasses.is_dataclass(value) and cls.__module__.split(".")[0] == "experiments":
        return {"dataclass": f"{cls.__module__}:{cls.__qualname__}",
                "fields": {f.name: encode(getattr(value, f.name))
                           for f in dataclasses.fields(value)}}
    raise Unencodable(f"{cls.__module__}.{cls.__qualname__}")


def decode(data):
    if isinstance(data, list):
        return [decode(v) for v in data]
    if not isinstance(data, dict):
        return data
    if "tuple" in data:
        return tuple(decode(v) for v in data["tuple"])
    if "dict" in data:
        return {decode(k): decode(v) for k, v in data["dict"]}
    if "namespace" in data:
        return types.SimpleNamespace(**decode(data["namespace"]))
    module, name = data["dataclass"].split(":")
    cls = importlib.import_module(module)
    for part in name.split("."):
        cls = getattr(cls, part)
    fields = {k: decode(v) for k, v in data["fields"].items()}
    init = {f.name for f in dataclasses.fields(cls) if f.init}
    value = cls(**{k: v for k, v in fields.items() if k in init})
    for k, v in fields.items():
        if k not in init:
            object.__setattr__(value, k, v)
    return value


class Index:
    """The answers of one index file, checked against the sources once per process."""

    def __init__(self, path):
        self.path = path
        self.sources = sources_hash()
        self.why = None  # why an answer had to be computed, once said
        self.changed = False
        self.pending = []  # plug-in modules to import before computing an answer
        self.kept = True  # False once an answer was not plain data: nothing is written
        self._decoded = {}
        data = None
        try:
            with open(path) as f:
                data = json.load(f)
        except FileNotFoundError:
            self.stale = "no declaration index yet"
        except (OSError, ValueError) as e:
            self.stale = f"the declaration index {path} is unreadable ({e})"
        if data is not None:
            same = data.get("sources") == self.sources
            self.stale = None if same else "the sources changed since the declaration index"
        keep = data if data is not None and self.stale is None else {}
        self.answers = keep.get("answers", {})
        self.plugins = keep.get("plugins", {})

    def _reset(self, why):
        self.answers, self.plugins, self._decoded = {}, {}, {}
        self.stale, self.changed = why, True

    def require_plugins(self, value: str) -> None:
        """Entrants' ``BNN_PLUGINS`` modules: hashed now, imported before any answer is
        computed (a changed module invalidates every answer)."""
        if not value:
            return
        found = plugins.provenance(value)
        if value in self.plugins and self.plugins[value] != found:
            self._reset(f"plug-in modules {value} changed since the declaration index")
        if self.plugins.get(value) != found:
            self.plugins[value], self.changed = found, True
        if value not in self.pending:
            self.pending.append(value)

    def answer(self, kind: str, key: str, compute):
        """The answer ``kind``/``key``: the index's, or ``compute()``'s, kept for ``save``."""
        if (kind, key) in self._decoded:
            return self._decoded[(kind, key)]
        table = self.answers.setdefault(kind, {})
        if key not in table:
            if self.why is None:
                self.why = self.stale or f"the declaration index has no {kind} {key!r}"
                print(f"note: {self.why}: importing configs/ for the declarations (slower); "
                      f"{self.path} is rewritten for the next report", file=sys.stderr)
            for value in self.pending:
                plugins.load(value)
            self.pending = []
            value = compute()
            try:
                table[key] = encode(value)
            except Unencodable as e:
                if self.kept:
                    print(f"note: the declaration index cannot hold {kind} {key!r} ({e} is "
                          "not plain data): this report reads configs/ itself and keeps no "
                          "index; declare it with dataclasses of the suite's package to make "
                          "reports fast again", file=sys.stderr)
                self.kept = False
                self._decoded[(kind, key)] = value
                return value
            self.changed = True
        self._decoded[(kind, key)] = decode(table[key])
        return self._decoded[(kind, key)]

    def save(self) -> None:
        """Rewrite the file if an answer was added (atomically: reports may run side by
        side); a folder that cannot be written only costs the next report its speed."""
        if not self.changed or not self.kept:
            return
        data = {"format": FORMAT, "sources": self.sources, "plugins": self.plugins,
                "answers": self.answers}
        try:
            os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
            tmp = f"{self.path}.{os.getpid()}.tmp"
            with open(tmp, "w") as f:
                json.dump(data, f, sort_keys=True)
            os.replace(tmp, self.path)
        except OSError as e:
            print(f"note: could not write the declaration index {self.path} ({e}); the "
                  "next report imports configs/ again", file=sys.stderr)
            return
        self.changed = False


class _NoIndex:
    """Every answer computed, nothing kept (``BNN_REPORT_INDEX=``)."""

    def require_plugins(self, value: str) -> None:
        if value:
            plugins.load(value)

    def answer(self, kind, key, compute):
        return compute()

    def save(self) -> None:
        pass


_CURRENT = []


def current():
    """This process's index (``BNN_REPORT_INDEX``, read once)."""
    if not _CURRENT:
        path = os.environ.get(VARIABLE, DEFAULT)
        _CURRENT.append(Index(path) if path else _NoIndex())
    return _CURRENT[0]


def enabled() -> bool:
    """Whether this process reads and keeps a declaration index."""
    return isinstance(current(), Index)


def save() -> None:
    """Keep the answers computed in this process for the next report."""
    if _CURRENT:
        _CURRENT[0].save()
