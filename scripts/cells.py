"""Table cells shared by REPORT.md's sections: percentages, durations, run links."""
import os


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
