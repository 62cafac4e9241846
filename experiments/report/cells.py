"""Table cells shared by REPORT.md's sections: percentages, durations, run links, hardware."""
import json
import os

from experiments.engine import fingerprint


def pct(mean, std=None) -> str:
    """A fraction as a percentage, with its std when there is one; "—" for no value."""
    if mean is None:
        return "—"
    return f"{100 * mean:.2f}" + (f" ± {100 * std:.2f}" if std is not None else "")


def duration(seconds) -> str:
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    return f"{h}h{rest // 60:02d}m" if h else f"{rest // 60}m{rest % 60:02d}s"


def link(path, out_dir) -> str:
    """A markdown link to a run folder, relative to the report's folder."""
    return f"[{os.path.basename(path)}]({os.path.relpath(os.path.abspath(path), out_dir)})"


def hardware(runs) -> tuple[str, str]:
    """The hardware cell of a pool of runs (short labels) and a mark when the pool mixes
    machines: seeds made on different kernels are still draws of one experiment, but no
    longer bit-for-bit re-makable on one machine (``experiments.engine.fingerprint``)."""
    recorded = [fp for r in runs for fp in fingerprint.machines(r.summary)]
    labels = sorted({fingerprint.label(h) for h in recorded})
    keys = {json.dumps(fingerprint.kernel_key(h), sort_keys=True) for h in recorded}
    mixed = len(labels) > 1 or len(keys) > 1
    return ", ".join(labels), ("⚠ seeds made on different hardware" if mixed else "")


def precisions(runs) -> str:
    """The numeric precision(s) of runs ("float32" for runs made before the field)."""
    return "/".join(sorted({r.config.get("precision", "float32") for r in runs})) or "float32"
