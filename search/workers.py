"""Several workers on one study: ``regsearch run --workers N`` and ``regsearch worker``.

There is no coordinator of our own: the storage is the meeting point. Each worker is an
ordinary ``study.optimize`` loop (``optuna_backend.run``) that asks the study for its next trial,
beats a heartbeat while it trains, and stops when the study's budget is started. What this
module adds is the budget split, the processes and their threads, and waiting for stragglers:

* ``fill`` runs a study to its budget on this machine. It gives each of N worker processes a
  fixed share of what is left, so the budget is exact (two workers that finish at the same
  instant cannot both take the last slot, as they could with a shared stop rule alone), then
  looks again: a trial re-queued meanwhile (its worker died) is run in a next round.
* ``work`` is one worker joining an existing study from any machine (PostgreSQL storage).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
import warnings
import zlib
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import optuna

from .backends import optuna_backend
from .errors import RegsearchError
from .spec import StudySpec
from .storage import display_url, load_study, open_storage
from .study import WORKER, counted_trials, record_budget, started, stored_spec, worker_budget
from .study import budget as study_budget

#: Seconds a worker process gets to record its trial as FAILED after Ctrl-C before it is killed.
INTERRUPT_GRACE = 60


def cpu_count() -> int:
    """The CPUs this process may run on (the affinity mask, not the machine's total)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def threads_per_worker(workers: int, cpus: int | None = None) -> int:
    """TensorFlow threads for each of ``workers`` processes so that together they fill the CPUs
    without oversubscribing them (each TF process would otherwise start one thread per core)."""
    return max(1, (cpus or cpu_count()) // workers)


#: Memory one worker process holds: TensorFlow, the data and one compiled model are about
#: 0.7 GB resident on digits (``benchmarks/memory.py``); 1 GiB leaves room for larger data.
WORKER_MEMORY = 1 << 30


def available_memory() -> int:
    """Bytes this machine can give new processes without swapping (Linux: ``MemAvailable``,
    which counts reclaimable caches; elsewhere the free pages)."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def machine_cap(requested: int, memory: int | None = None) -> tuple[int, str | None]:
    """As many workers as the available memory holds at ``WORKER_MEMORY`` each (at least one),
    with the line that says so when ``requested`` is more. More workers than CPUs only share
    the cores (``threads_per_worker``); more than memory holds would swap or be killed."""
    memory = available_memory() if memory is None else memory
    cap = max(1, memory // WORKER_MEMORY)
    if requested <= cap:
        return requested, None
    return cap, (f"--workers {requested}: running {cap}, as many as this machine's memory holds "
                 f"({memory / 2**30:.1f} GiB available, about {WORKER_MEMORY / 2**30:g} GiB a "
                 "worker)")


def shares(trials: int, workers: int) -> list[int]:
    """Split ``trials`` into at most ``workers`` positive shares that differ by at most one."""
    base, extra = divmod(trials, workers)
    return [base + (i < extra) for i in range(workers) if base + (i < extra) > 0]


def sampler_seed(spec_seed: int, n_trials: int, worker: str | None = None) -> int:
    """The sampler's seed for one process.

    A fresh study run by one process uses the spec's seed, so it is reproducible. A continued
    study, or a second worker, mixes in the study's size and the worker's name: a sampler
    seeded alike would replay the same random start-up trials (Optuna samples them from its own
    seeded generator), and the budget would be spent twice on the same settings.
    """
    if n_trials == 0 and worker is None:
        return spec_seed
    entropy = [spec_seed, n_trials] + ([zlib.crc32(worker.encode())] if worker else [])
    return int(np.random.SeedSequence(entropy).generate_state(1)[0])


def fail_stale_trials(study: optuna.Study) -> int:
    """Mark FAILED the trials whose heartbeat is older than the grace period, and re-queue them;
    how many were re-queued.

    Optuna does this itself before each trial a worker starts; a run also does it before it
    counts what is left, so a dead worker's trial is retried now rather than after a trial.
    """
    def queued() -> int:
        return len(study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.WAITING,)))

    before = queued()
    with warnings.catch_warnings():  # marked experimental; heartbeats are what we rely on
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)
    return queued() - before


def fill(study: optuna.Study, spec: StudySpec, evaluator, *, url: str,
         extra_trials: int | None = None, workers: int = 1, progress: bool = True,
         out: TextIO | None = None) -> None:
    """Run ``study`` until its budget (the spec's, or ``extra_trials`` more) is done.

    One worker, or a single trial left, runs in this process; more run as ``regsearch worker``
    processes with a share each, no more than the machine holds (``machine_cap``). Returns when
    nothing is left to run and no trial is running, or when trials still running elsewhere
    outlast one heartbeat grace period (they are not this run's to wait for).
    """
    out = out or sys.stdout
    workers, capped = machine_cap(workers)
    if capped:
        print(capped, file=out, flush=True)
    _requeue_stale(study, spec, out)
    budget = study_budget(study, spec, extra_trials)
    record_budget(study, spec, budget)
    n_trials = len(study.get_trials(deepcopy=False))
    if n_trials:
        study.sampler = optuna_backend.make_sampler(spec.search, sampler_seed(spec.seed, n_trials))
    beat = spec.workers
    waiting_since: float | None = None
    while True:
        _requeue_stale(study, spec, out)
        room = budget - started(study)
        if room > 0:
            waiting_since = None
            if workers == 1 or room == 1:  # one trial left needs no new process
                optuna_backend.run(study, spec, evaluator, extra_trials=room, budget=budget,
                                   progress=progress)
            else:
                before = _finished(study)
                killed = _run_processes(study, url, room, workers, progress, out)
                for obituary in killed:
                    print(f"{obituary}\n  its trial is re-queued once its last heartbeat is "
                          f"{beat.grace_period} s old, and run again", file=out, flush=True)
                if killed and _finished(study) == before:
                    raise RegsearchError("workers were killed before any trial of theirs "
                                         "finished; stopping rather than starting more")
            continue
        running = [t.number for t in study.get_trials(
            deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))]
        if not running:
            return
        if waiting_since is None:
            waiting_since = time.monotonic()
            print(f"waiting for trial(s) {', '.join(map(str, running))} running in other "
                  f"workers (a dead worker's trial is re-queued {beat.grace_period} s after its "
                  "last heartbeat)", file=out, flush=True)
        elif time.monotonic() - waiting_since > beat.grace_period + 2 * beat.heartbeat_interval:
            print(f"trial(s) {', '.join(map(str, running))} still running elsewhere; "
                  "`regsearch summary` shows them once they finish", file=out)
            return
        time.sleep(beat.heartbeat_interval)


def _requeue_stale(study: optuna.Study, spec: StudySpec, out: TextIO) -> None:
    """``fail_stale_trials``, saying what it re-queued."""
    requeued = fail_stale_trials(study)
    if requeued:
        print(f"re-queued {requeued} trial(s) whose process died mid-trial (last heartbeat "
              f"older than {spec.workers.grace_period} s): they run first", file=out, flush=True)


def _run_processes(study: optuna.Study, url: str, trials: int, workers: int, progress: bool,
                   out: TextIO) -> list[str]:
    """Run ``trials`` trials of the study in ``workers`` ``regsearch worker`` processes.

    Each gets its share and ``cpus // workers`` TensorFlow threads, and its own process group,
    so Ctrl-C reaches the workers once, through this process, and each records its trial as
    FAILED before exiting. Returns what became of workers killed by a signal (their trials are
    the heartbeats' to re-queue); a worker that exits with an error raises it, with the end of
    its log.
    """
    threads = threads_per_worker(workers)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "3")}
    with tempfile.TemporaryDirectory(prefix="regsearch-workers-") as logs:
        procs: list[tuple[Path, subprocess.Popen]] = []
        for i, share in enumerate(shares(trials, workers), start=1):
            log = Path(logs) / f"worker-{i}.log"
            with log.open("wb") as sink:
                procs.append((log, subprocess.Popen(
                    [sys.executable, "-m", "search.cli", "worker", study.study_name,
                     "--storage", url, "--trials", str(share), "--threads", str(threads),
                     "--no-progress"],
                    stdin=subprocess.DEVNULL, stdout=sink, stderr=subprocess.STDOUT, env=env,
                    start_new_session=True)))
        print(f"{len(procs)} workers, {threads} TensorFlow thread(s) each, {trials} trials",
              file=out, flush=True)
        _watch(study, [p for _, p in procs], trials, progress)
        failed = [_obituary(log, p) for log, p in procs if p.returncode > 0]
        if failed:
            raise RegsearchError("\n".join(failed))
        return [_obituary(log, p) for log, p in procs if p.returncode < 0]


def _watch(study: optuna.Study, procs: list[subprocess.Popen], trials: int,
           progress: bool) -> None:
    """Wait for the worker processes, with a progress bar over the study's finished trials."""
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=trials, desc="trials", unit="trial")
    start = _finished(study)
    try:
        while any(p.poll() is None for p in procs):
            time.sleep(1)
            if bar is not None and (done := min(trials, _finished(study) - start)) > bar.n:
                bar.update(done - bar.n)
    except KeyboardInterrupt:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGINT)
        for p in procs:
            try:
                p.wait(timeout=INTERRUPT_GRACE)
            except subprocess.TimeoutExpired:
                p.kill()
        raise
    finally:
        if bar is not None:
            bar.close()


def _finished(study: optuna.Study) -> int:
    return sum(t.state.is_finished() for t in counted_trials(study))


def _obituary(log: Path, proc: subprocess.Popen) -> str:
    code = proc.returncode
    how = (f"was killed by signal {signal.Signals(-code).name}" if code < 0
           else f"exited with status {code}")
    tail = [line for line in log.read_text(errors="replace").splitlines() if line.strip()][-3:]
    return f"worker {proc.pid} {how}" + "".join(f"\n  | {line}" for line in tail)


def work(*, name: str, url: str, trials: int | None = None, threads: int | None = None,
         progress: bool = True, out: TextIO | None = None) -> dict[str, Any]:
    """``regsearch worker``: join an existing study and run its trials until its budget is
    started, or ``trials`` of them. Everything else comes from the study itself: the spec it was
    created with (data, model, space, heartbeats) and its budget."""
    out = out or sys.stdout
    from .folds import study_data
    from .objective import evaluator_for
    from .trainer import configure_tensorflow

    configure_tensorflow(threads=threads)  # before TensorFlow starts its thread pools
    spec = stored_spec(load_study(name, url))
    if spec.backend != "optuna":
        raise RegsearchError(f"study {name!r} is run by {spec.backend!r}; workers run Optuna "
                             "studies only")
    folds, _ = study_data(spec)
    with evaluator_for(spec, folds) as evaluator:
        study = optuna_backend.open_study(spec, stride=evaluator.stride, name=name,
                                          storage=open_storage(url, workers=spec.workers))
        study.sampler = optuna_backend.make_sampler(
            spec.search, sampler_seed(spec.seed, len(study.get_trials(deepcopy=False)),
                                     WORKER))
        fail_stale_trials(study)
        budget = worker_budget(study, spec)
        mine = len(_trials_of(study, WORKER))
        optuna_backend.run(study, spec, evaluator, extra_trials=trials, budget=budget,
                           progress=progress)
    ran = len(_trials_of(study, WORKER)) - mine
    print(f"worker {WORKER}: ran {ran} trial(s) of study {name} in "
          f"{display_url(url)}; {started(study)} of its {budget} started",
          file=out)
    return {"worker": WORKER, "trials": ran, "budget": budget}


def _trials_of(study: optuna.Study, worker: str) -> list[optuna.trial.FrozenTrial]:
    return [t for t in study.get_trials(deepcopy=False) if t.user_attrs.get("worker") == worker]
