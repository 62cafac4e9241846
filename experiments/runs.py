"""The run directory: what one training run leaves behind, and its provenance.

``results/runs/<experiment>/<run-id>/`` holds

* ``config.json``   - the resolved config (every field, with component class names);
* ``metrics.jsonl`` - one JSON object per finished epoch;
* ``flips.jsonl``   - per-step flip counts and pi_t per binary layer, every
  ``flip_log_interval`` steps;
* ``summary.json``  - status, final/best accuracy, epochs done of planned, wall time,
  hardware, package versions, git commit, scale (rewritten after every epoch);
* ``tensorboard/``, ``checkpoints/`` - TensorBoard events, checkpoints with optimizer state.

Later tools (report, figures) read only these files. Files are replaced atomically so
that a killed run never leaves half a JSON document behind.
"""
import datetime
import functools
import hashlib
import json
import os
import platform
import socket
import subprocess
from importlib import metadata

PACKAGES = ("tensorflow", "tf-keras", "larq", "larq-zoo", "zookeeper",
            "tensorflow-datasets", "numpy")
RUN_FILES = ("config.json", "metrics.jsonl", "flips.jsonl", "summary.json")
# Config fields that say where things live or how they are shown, not what is computed:
# they are left out of the run id, so the same command resumes the same run anywhere.
NON_SEMANTIC = {"data_dir", "cifar10_archive", "results_dir", "run_id", "progress",
                "tensorboard", "steps_per_loop", "flip_log_interval"}


def now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def config_hash(config: dict) -> str:
    """A short stable hash of the config values that determine the result."""
    blob = json.dumps(config, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:8]


def write_json(path: str, obj) -> None:
    """Write JSON atomically (temp file + rename)."""
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=2, sort_keys=True, default=str)
        f.write("\n")
    os.replace(tmp, path)


def read_json(path: str):
    with open(path) as f:
        return json.load(f)


def append_jsonl(path: str, rows) -> None:
    with open(path, "a") as f:
        for row in rows:
            f.write(json.dumps(row, sort_keys=True) + "\n")


def read_jsonl(path: str) -> list:
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def truncate_jsonl(path: str, keep) -> None:
    """Keep only rows for which ``keep(row)`` is true: drops what a killed run logged
    after its last checkpoint, so a resumed run does not log those steps twice."""
    if not os.path.exists(path):
        return
    rows = []
    with open(path) as f:
        for line in f:
            try:
                row = json.loads(line)
            except json.JSONDecodeError:  # a line cut short by a kill
                continue
            if keep(row):
                rows.append(row)
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        for row in rows:
            f.write(json.dumps(row, sort_keys=True) + "\n")
    os.replace(tmp, path)


@functools.lru_cache(maxsize=None)
def git_commit() -> dict:
    """The suite's git commit and whether its working tree had local changes, taken once
    per process: the code that runs is what was imported at start, whatever happens to
    the checkout later."""
    here = os.path.dirname(os.path.abspath(__file__))
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True,
                                text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=here, capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}
    return {"commit": commit or None, "dirty": bool(dirty.strip())}


def hardware() -> dict:
    """CPU/GPU description, so that a number carries the machine that produced it."""
    import tensorflow as tf

    gpus = []
    for gpu in tf.config.list_physical_devices("GPU"):
        details = tf.config.experimental.get_device_details(gpu)
        gpus.append(details.get("device_name", gpu.name))
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
        if names:
            cpu = names[0]
    except OSError:
        pass
    return {
        "host": socket.gethostname(),
        "platform": platform.platform(),
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "gpus": gpus,
        "label": f"{len(gpus)}x {gpus[0]}" if gpus else f"CPU ({os.cpu_count()} cores)",
    }


def package_versions() -> dict:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    versions["python"] = platform.python_version()
    return versions
