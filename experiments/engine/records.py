"""What a run leaves in its folder while it trains and when it ends: the summary, the
logs cut back to the checkpoint a resume starts from, and what a re-run will find.

The file formats and their safe writing are ``experiments.engine.runs``; this module
says *what* the training loop records: ``summary.json`` (rewritten after every epoch,
and once more with the run's end: completed, failed or interrupted), the check that a
folder holds this run's config, and which checkpoint survives a failure
(:class:`Progress`), for the messages that tell the user how to resume.
"""
import os
import sys

from experiments.engine import runs
from experiments.errors import ConfigError


class Progress:
    """What the latest checkpoint holds, for messages and for cutting the logs back:
    read from the checkpoint files themselves (``ckpt-<global step>``), so an interrupt
    that lands right after a save still counts that save."""

    def __init__(self, steps_per_epoch: int):
        self.steps_per_epoch = steps_per_epoch
        self.manager = None
        self.restored = 0
        self.epoch_times = []  # this process's finished epochs' seconds, for the time left

    @property
    def step(self) -> int:
        latest = self.manager.latest_checkpoint if self.manager else None
        return int(latest.rsplit("-", 1)[1]) if latest else self.restored

    def kept(self) -> str:
        if not self.step:
            return "There is no checkpoint yet, so a re-run starts from scratch."
        epochs, within = divmod(self.step, self.steps_per_epoch)
        where = f"{epochs} epochs" + (f" and {within} steps" if within else "")
        return f"The checkpoint at step {self.step} ({where} done) is kept."


def time_left(steps_done: int, seconds: float, steps_left: int, epochs_after: int,
              past_epoch_s=()) -> tuple:
    """(seconds left in this epoch, seconds left in the run) from this epoch's pace so far
    (``steps_done`` steps in ``seconds``) and the finished epochs' times (their median,
    evaluation included; this epoch's projected training time where none has finished)."""
    per_step = seconds / steps_done if steps_done else 0.0
    epoch_left = steps_left * per_step
    if past_epoch_s:
        per_epoch = sorted(past_epoch_s)[len(past_epoch_s) // 2]
    else:
        per_epoch = (steps_done + steps_left) * per_step
    return epoch_left, epoch_left + epochs_after * per_epoch


def clock(seconds: float) -> str:
    """``3h05m``, ``12m40s``, ``45s``."""
    seconds = int(round(max(seconds, 0.0)))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def cut_logs(run_dir: str, step: int) -> None:
    """Drop log rows of steps after ``step`` (the checkpoint a resume starts from)."""
    for name in ("metrics.jsonl", "flips.jsonl"):
        runs.truncate_jsonl(os.path.join(run_dir, name), lambda row: row["step"] <= step)


def write_summary(exp, run_dir, status, started, extra=None) -> dict:
    """Write ``summary.json`` from the epochs logged so far and ``extra`` (provenance,
    memory, the end's error); return it. Top-5 accuracy is recorded only for a dataset
    that declares it (``Dataset.top5``)."""
    rows = runs.read_jsonl(os.path.join(run_dir, "metrics.jsonl"))
    best = max(rows, key=lambda r: r["val_accuracy"]) if rows else None
    summary = {
        "experiment": exp.name,
        "section": exp.section,
        "run_id": exp.run_name(),
        "status": status,
        "scale": exp.scale,
        "dataset": type(exp.dataset).__name__,
        "epochs_done": len(rows),
        "epochs_planned": exp.epochs,
        "validation_split": exp.validation,
        "final_val_accuracy": rows[-1]["val_accuracy"] if rows else None,
        "final_train_accuracy": rows[-1]["train_accuracy"] if rows else None,
        "best_val_accuracy": best["val_accuracy"] if best else None,
        "best_epoch": best["epoch"] if best else None,
        "wall_time_s": round(sum(r["epoch_time_s"] for r in rows), 1),
        "started": started,
        "updated": runs.now(),
    }
    if exp.dataset.top5:
        summary["final_val_top5_accuracy"] = rows[-1].get("val_top5_accuracy") if rows else None
    summary.update(extra or {})
    runs.write_json(os.path.join(run_dir, "summary.json"), summary)
    return summary


def record_end(exp, run_dir, status, started, extra, saved_step: int) -> bool:
    """Record how a run ended, its logs cut back to its last checkpoint so that the
    folder states what a resume will start from. Best effort: a full disk may refuse
    these writes too; then the summary keeps saying ``running``, and readers see from
    the released claim that no process runs it."""
    try:
        cut_logs(run_dir, saved_step)
        write_summary(exp, run_dir, status, started, extra)
        return True
    except Exception as e:  # noqa: BLE001 -- the original error matters more
        print(f"warning: could not record status {status!r} in {run_dir}/summary.json: "
              f"{type(e).__name__}: {e}", file=sys.stderr)
        return False


SUMMARY_FIX = ("It is rewritten after every epoch: delete it and re-run the same command "
                "(the run resumes from its checkpoint and writes it again).")


def existing_run(run_dir: str, config: dict):
    """Refuse a folder holding another config; return its summary if it is complete.
    Reads only: nothing is written before the run's folder is claimed."""
    config_path = os.path.join(run_dir, "config.json")
    summary_path = os.path.join(run_dir, "summary.json")
    if os.path.exists(config_path):
        old = runs.semantic(runs.read_json(
            config_path, fix="Remove the run folder to start the run again."))
        new = runs.semantic(config)
        changed = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
        if changed:
            raise ConfigError(
                f"{run_dir} holds a run with a different config ({', '.join(changed)}); "
                "choose another run_id= or remove that folder")
    if os.path.exists(summary_path):
        previous = runs.read_json(summary_path, fix=SUMMARY_FIX)
        if previous.get("status") == "completed":
            return previous
    return None
