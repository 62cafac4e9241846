"""A plan's runs on this machine's cores: how many workers, how long it will take, and the
pool that trains them (``bnn run-group``, ``sweep``, ``compare`` with ``workers=``).

Before any training it prints the runs pending and the estimated wall time with the
chosen workers (``experiments.engine.eta``: from completed runs made on this kind of
machine with the same cores per process, else from a short warm-up); at the paper's
scale on a machine without a GPU it says so prominently, with the time of the reduced
scale beside it, and goes on. With one worker the runs are trained in this process,
one after another, as before; with more, by ``experiments.engine.workers.Pool``.
"""
import os
import sys

from experiments.engine import eta
from experiments.engine.fingerprint import fingerprint
from experiments.engine.schedule import Schedule
from experiments.engine.signals import sigterm_as_interrupt
from experiments.engine.workers import Pool, resolve, shares

BANNER = "=" * 78


def _say(text: str = "") -> None:
    print(text, flush=True)


def rates_for(schedules, cores_per_worker: int, pool_factory, warmup_s: float) -> dict:
    """``{speed key: Rate}`` for every kind of run in ``schedules``: from completed runs on
    this kind of machine with ``cores_per_worker`` cores per process, the rest measured in
    a warm-up on the pool that ``pool_factory()`` starts (only if one is needed)."""
    here = fingerprint()
    hardware = {**here, "cpu_count": cores_per_worker,
                "threads": {"intra_op": cores_per_worker, "inter_op": cores_per_worker}}
    needed = {}
    for schedule in schedules:
        for key, job in eta.classes(schedule).items():
            needed.setdefault(key, job)
    roots = {os.path.abspath(job.exp.results_dir) for job in needed.values()}
    known = eta.history(sorted(roots), hardware)
    rates = {k: known[k] for k in needed if k in known}
    missing = {k: job for k, job in needed.items() if k not in known}
    if missing and warmup_s > 0:
        _say(f"estimate: no completed run of {len(missing)} kind(s) on this machine "
             f"({hardware.get('label', '?').split(' · ')[0]}, {cores_per_worker} core(s) per "
             f"run); measuring each in a warm-up of about {warmup_s:g} s of training")
        measured = pool_factory().measure(list(missing.values()), warmup_s)
        for (key, job), m in zip(missing.items(), measured):
            if m:
                rates[key] = eta.Rate(m["train_images_per_s"], m["eval_images_per_s"],
                                      m["setup_s"], "warm-up")
    return rates


def describe(schedule, estimate, workers: int, parts) -> tuple:
    """The estimate's lines, and its total seconds (None where no run has a rate)."""
    tasks, unknown = estimate.tasks(schedule)
    waiting = schedule.waiting()
    label = fingerprint().get("label", "?").split(" · ")[0]
    per = ", ".join("CPU " + ",".join(map(str, p)) for p in parts)
    lines = [f"{len(schedule.ready) + waiting} run(s) pending"
             + (f" ({waiting} of them seeds that start once their arm's grid is done)"
                if waiting else "")
             + (f", {len(schedule.done_before)} already completed" if schedule.done_before else "")
             + f"; {workers} worker(s) on {label} ({per})"]
    if not tasks:
        return lines + ["estimated wall time: unknown (no rate for these runs on this "
                        "machine; warm-up off or failed)"], None
    total = eta.makespan(tasks, workers)
    sources = sorted({r.source for r in estimate.rates.values() if r.source})
    speeds = sorted(r.train_images_per_s for r in estimate.rates.values())
    rate_text = (f"{speeds[0]:.0f}" if speeds[0] == speeds[-1] or len(speeds) == 1
                 else f"{speeds[0]:.0f}-{speeds[-1]:.0f}") + " training images/s per worker"
    lines.append(f"estimated wall time: {eta.duration(total)} ({rate_text}; rates from "
                 f"{', '.join(sources)})"
                 + (f"; {len(unknown)} run(s) without an estimate" if unknown else ""))
    return lines, total


def execute(plan, build, serial, shard=None, workers="auto", poll_s: float = 10.0,
            warmup_s: float = 15.0, alternative=None) -> int:
    """Train ``plan`` (built through ``build``, an ``experiments.engine.schedule.Recorder``).
    ``serial()`` trains it in this process (one worker); ``alternative``: ``(words, plan)``
    of the reduced scale, estimated beside a paper-scale plan on a machine without a GPU.
    Returns the exit code."""
    schedule = Schedule(plan, build, shard)
    pending = len(schedule.ready) + schedule.waiting()
    here = fingerprint()
    n = resolve(workers, pending, here.get("gpus"))
    parts = shares(n)
    pool = None

    def pool_factory():
        nonlocal pool
        pool = pool or Pool(parts)
        return pool

    with sigterm_as_interrupt():
        try:
            if pending:
                paper = not here.get("gpus") and any(
                    getattr(j.exp, "scale", "") == "paper" for j in schedule.ready)
                alt = Schedule(alternative[1], build) if paper and alternative else None
                rates = rates_for([schedule] + ([alt] if alt else []), len(parts[0]),
                                  pool_factory, warmup_s)
                lines, total = describe(schedule, eta.Estimate(rates, n), n, parts)
                if paper:
                    _paper_banner(lines, total, alt, alternative, rates, n)
                else:
                    for line in lines:
                        _say(line)
                estimate = eta.Estimate(rates, n) if total is not None else None
            else:
                estimate = None
            if n == 1:
                if pool is not None:
                    pool.close()
                    pool = None
                return serial()
            outcome = pool_factory().run(schedule, estimate, poll_s)
        except KeyboardInterrupt:
            if pool is not None:
                _say("\nstopping: every worker records its run as interrupted (resumable)")
                pool.close(interrupt=True)
                pool = None
            raise
        finally:
            if pool is not None:
                pool.close()
    return _exit_code(outcome, schedule)


def _paper_banner(lines, total, alt, alternative, rates, n) -> None:
    _say(BANNER)
    _say("This is the paper's scale, on a machine with no GPU.")
    for line in lines:
        _say(line)
    if alt is not None:
        alt_tasks, _ = eta.Estimate(rates, n).tasks(alt)
        alt_time = eta.duration(eta.makespan(alt_tasks, n)) if alt_tasks else "an unknown time"
        _say(f"{alternative[0]} runs the reduced comparison in {alt_time} on this machine.")
    _say("Training starts now; Ctrl-C stops it, and the same command resumes it.")
    _say(BANNER)


def _exit_code(outcome, schedule) -> int:
    """1 if a run failed or was lost, or a comparison has no pick (or one that waits for
    a wider grid); 3 if only runs that other processes hold are left; else 0 (as
    ``drive.Outcomes.exit_code``)."""
    for job, why in outcome["failed"] + outcome["lost"]:
        print(f"failed: {job.title} ({job.run_dir}): {why}", file=sys.stderr)
    if schedule.no_pick:
        print(f"\nno pick (and so no seeds) for: {', '.join(schedule.no_pick)}; re-run the "
              "same command once the grid runs can complete", file=sys.stderr)
    for why in schedule.edge:
        print(f"\n{why}", file=sys.stderr)
    if outcome["busy"]:
        print(f"\n{len(outcome['busy'])} run(s) are being trained by other processes: "
              f"{', '.join(j.run_dir for j in outcome['busy'])}", file=sys.stderr)
    if outcome["failed"] or outcome["lost"] or schedule.no_pick or schedule.edge:
        n = len(outcome["failed"]) + len(outcome["lost"])
        if n:
            print(f"\n{n} run(s) failed or stopped (listed above); re-run the same command "
                  "to resume them", file=sys.stderr)
        return 1
    return 3 if outcome["busy"] else 0
