"""The run directory: what one training run leaves behind, and its provenance.

``results/runs/<experiment>/<run-id>/`` (a declared sweep's points:
``results/runs/<sweep>/<run-id>/``) holds

* ``config.json``   - the resolved config (every field, with component class names);
* ``metrics.jsonl`` - one JSON object per finished epoch;
* ``flips.jsonl``   - per-step flip counts and pi_t per binary layer, every
  ``flip_log_interval`` steps;
* ``summary.json``  - status, final/best accuracy, epochs done of planned, wall time,
  hardware fingerprint (``experiments.engine.fingerprint``; with the earlier machines
  of a run resumed on other hardware), package versions, git commits, scale (rewritten
  after every epoch);
* ``tensorboard/``, ``checkpoints/`` - TensorBoard events, checkpoints with optimizer state;
* ``.lock``         - held by the one process that trains the run (``experiments.locks``).

Later tools (report, figures) read only these files. JSON files are replaced atomically
and JSON lines are appended whole, so a killed run or a full disk never leaves half a
document or half a row behind; non-finite numbers are refused rather than written as
``Infinity`` (which is not JSON).
"""
import datetime
import functools
import hashlib
import json
import os
import platform
import re
import subprocess
import sys
from importlib import metadata

from experiments.errors import ConfigError, RunFolderError
from experiments.plugins import file_hash as plugin_file_hash, provenance as plugin_provenance

PACKAGES = ("tensorflow", "tf-keras", "larq", "larq-zoo", "zookeeper",
            "tensorflow-datasets", "numpy")
RUN_FILES = ("config.json", "metrics.jsonl", "flips.jsonl", "summary.json")
# The experiment's own fields that say where things live or how they are shown, not what
# is computed: left out of the run id, so the same command resumes the same run anywhere.
# Components declare theirs (a dataset's source, e.g. dataset.archive): non_semantic_keys().
NON_SEMANTIC = {"data_dir", "results_dir", "folder", "run_id", "progress", "tensorboard",
                "steps_per_loop", "flip_log_interval", "divergence_factor",
                "checkpoint_every_steps", "checkpoint_every_minutes", "cluster_timeout_s",
                "force_precision"}
# The experiment's fields added after runs were made, at the value that computes what
# those runs computed: left out of the run id and of config comparisons, so existing run
# ids stay valid. Components declare theirs too (``neutral_defaults``).
NEUTRAL_DEFAULTS = {"sync_batchnorm": True, "final_test": False, "precision": "float32",
                    "jit_compile": False}


# The components' rules as a caller read them where they were computed from the same
# sources (the report's declaration index, ``experiments.report.declarations``), so that
# comparing configs needs no component import either.
_GIVEN = []


def give_rules(non_semantic: set, neutral: dict) -> None:
    """Use these components' ``(non-semantic keys, neutral defaults)`` from now on in
    this process, instead of importing the components to learn them."""
    _GIVEN[:] = [(NON_SEMANTIC | set(non_semantic), {**NEUTRAL_DEFAULTS, **neutral})]


def _rules() -> tuple[set, dict]:
    if _GIVEN:
        return _GIVEN[0]
    # Imported here, not above: reading a run folder needs no component, and this
    # brings in every one (and TensorFlow with them).
    from experiments.engine.components import component_rules

    non_semantic, neutral, _ = component_rules()
    return NON_SEMANTIC | non_semantic, {**NEUTRAL_DEFAULTS, **neutral}


def non_semantic_keys() -> set:
    """Every flat config key left out of the run id: the experiment's own
    (``NON_SEMANTIC``) and those its components declare (``dataset.archive``, and the
    experiment-level keys they replaced, which configs written before still hold)."""
    return _rules()[0]


def neutral_defaults() -> dict:
    """``{key: value}`` left out of the run id at that value (``NEUTRAL_DEFAULTS`` and
    the components' own, e.g. ``dataset: Cifar10``)."""
    return _rules()[1]


def semantic(config: dict) -> dict:
    """The part of a flat config that determines the result (what the run id hashes)."""
    non_semantic, neutral = _rules()
    return {k: v for k, v in config.items()
            if k not in non_semantic and not (k in neutral and neutral[k] == v)}


def now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def config_hash(config: dict) -> str:
    """A short stable hash of the config values that determine the result."""
    blob = json.dumps(config, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:8]


def _replace(path: str, text: str) -> None:
    """Replace a file atomically (temp file, fsync, rename): a kill or a full disk leaves
    the old file or the new one, never half of one, and no temp file."""
    tmp = f"{path}.tmp"
    try:
        with open(tmp, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def write_json(path: str, obj) -> None:
    """Write JSON atomically; non-finite numbers are refused (they are not JSON)."""
    _replace(path, json.dumps(obj, indent=2, sort_keys=True, default=str, allow_nan=False) + "\n")


def read_json(path: str, fix: str = ""):
    """Read a JSON file; a missing, cut-short or edited file raises ``RunFolderError``
    naming the file (and ``fix``, what to do about it)."""
    try:
        with open(path) as f:
            return json.load(f)
    except json.JSONDecodeError as e:
        raise RunFolderError(
            f"{path} is not valid JSON ({e}): it was cut short or edited by hand. "
            f"{fix or 'Restore it or remove the run folder.'}") from None


def append_jsonl(path: str, rows) -> None:
    """Append whole lines: the rows go out in one write, and if the write fails (a full
    disk, a kill) the file is cut back to where it was, so it never ends in half a row."""
    text = "".join(json.dumps(row, sort_keys=True, allow_nan=False) + "\n" for row in rows)
    if not text:
        return
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        size = os.fstat(fd).st_size
        try:
            view = memoryview(text.encode())
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        except BaseException:
            os.ftruncate(fd, size)
            raise
    finally:
        os.close(fd)


def read_jsonl(path: str) -> list:
    """All rows of a JSON-lines file ([] if it does not exist).

    A last line cut short (no newline, or not JSON: a kill while writing) is dropped with
    a warning naming the file; a damaged line before the last raises ``RunFolderError``.
    """
    if not os.path.exists(path):
        return []
    with open(path) as f:
        lines = f.read().split("\n")
    # "a\nb\n" splits into [..., ""]; anything else after the last newline is cut short
    tail = lines.pop()
    rows = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            if number == len(lines) and not tail:
                _warn_cut(path, number)
                continue
            problem = f"line {number} is not valid JSON"
            raise RunFolderError(
                f"{path} {problem} (the file was edited or damaged). Remove that line, or "
                "the run folder to start the run again.", problem) from None
    if tail.strip():
        _warn_cut(path, len(lines) + 1)
    return rows


def _warn_cut(path: str, number: int) -> None:
    print(f"warning: {path}: line {number} is cut short (a kill or a full disk while "
          "writing); it is dropped", file=sys.stderr)


def truncate_jsonl(path: str, keep) -> None:
    """Keep only rows for which ``keep(row)`` is true (and drop a cut-short last line):
    a resumed run drops what was logged after the checkpoint it restores, so no epoch
    or step is logged twice."""
    if not os.path.exists(path):
        return
    rows = [row for row in read_jsonl(path) if keep(row)]
    _replace(path, "".join(json.dumps(row, sort_keys=True) + "\n" for row in rows))


RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")


def check_run_id(run_id: str, key: str = "run_id") -> None:
    """``run_id`` names one folder under ``results_dir/<experiment>/`` (``folder``, the
    one under ``results_dir``): a plain name."""
    if run_id and (not RUN_ID.match(run_id) or ".." in run_id or len(run_id) > 128):
        raise ConfigError(
            f"{key}={run_id!r} is not a plain folder name; use letters, digits and . _ + - "
            "(no '/', no '..', not starting with '.' or '-'), e.g. run_id=bop-gamma-1e-3")


# The suite's own packages: a file in them that git does not track is code a run used
# that its commit does not hold.
PACKAGES_OF_THE_SUITE = ("experiments", "models", "configs")


@functools.lru_cache(maxsize=None)
def git_commit() -> dict:
    """The suite's git commit and whether the code that runs is that commit's
    (``code_state``), taken once per process: the code that runs is what was imported at
    start, whatever happens to the checkout later."""
    return code_state(os.path.dirname(os.path.abspath(__file__)))


def code_state(folder: str, plugins: str | None = None) -> dict:
    """The commit of the git checkout holding ``folder``, and ``dirty``: true when tracked
    files have local changes, when the suite's packages hold files git does not track
    (``untracked``: path and sha256, e.g. a dataset added as a new file) or when
    ``BNN_PLUGINS`` (or ``plugins``) names modules (``plugins``: module, path and sha256):
    in each case the commit alone does not say what ran."""
    loaded = plugin_provenance(plugins)
    try:
        commit = _git(["rev-parse", "HEAD"], folder).strip()
        top = _git(["rev-parse", "--show-toplevel"], folder).strip()
        dirty = _git(["status", "--porcelain", "--untracked-files=no"], folder)
        listed = _git(["ls-files", "--others", "--exclude-standard", "--",
                       *PACKAGES_OF_THE_SUITE], top) if top else ""
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None, "untracked": [], "plugins": loaded}
    untracked = [{"path": p, "sha256": plugin_file_hash(os.path.join(top, p))}
                 for p in sorted(listed.splitlines()) if os.path.isfile(os.path.join(top, p))]
    return {"commit": commit or None,
            "dirty": bool(dirty.strip() or untracked or loaded),
            "untracked": untracked, "plugins": loaded}


def _git(args, cwd) -> str:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=10).stdout


def package_versions() -> dict:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    versions["python"] = platform.python_version()
    return versions
