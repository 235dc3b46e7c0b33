"""A killed run loses nothing, Ctrl-C leaves no trial RUNNING, a crash never leaves a half file.

These drive real ``regsearch run`` processes and signal them in the middle of a trial.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time

import optuna
import pytest
import sqlalchemy.exc
import sqlalchemy.pool

from search.cli import main
from search.errors import RegsearchError
from search.export import write_atomic
from search.spec import load_spec
from search.storage import folder_lock, sqlite_path

from .conftest import ROOT
from .test_workers import HEARTBEAT, check_budget_kept, storage_of


def retried_trial_number(trial: optuna.trial.FrozenTrial) -> int | None:
    """The trial a retry stands for, by Optuna's public (experimental) API."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.storages.RetryHeartbeatStaleTrialCallback.retried_trial_number(trial)

ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
#: What the closing summary says once the selection rule has run on the finished study.
SELECTED = "selection (2-fold cross-validation of train+validation)"


def _default_sigint() -> None:
    # A process started with SIGINT ignored (a job run in the background, a test runner's worker)
    # passes that on, and Python then installs no KeyboardInterrupt handler: Ctrl-C would do
    # nothing. The child gets the default, as a command typed in a terminal has.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start(*argv: str) -> subprocess.Popen:
    """``regsearch ARGV`` in a new process (its output collected for the assertion messages)."""
    return subprocess.Popen([sys.executable, "-m", "search.cli", *argv], cwd=ROOT, env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            preexec_fn=_default_sigint)


def trial_in_progress(name: str, url: str, proc: subprocess.Popen,
                      timeout: float = 180) -> optuna.trial.FrozenTrial:
    """Wait for a RUNNING trial that has reported at least one epoch, and return it."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()[0]
        try:
            # No pool: a pooled storage per poll keeps a connection each until it is collected,
            # and a PostgreSQL server (max_connections 100) then refuses the run's own clients.
            # No table creation either; but Optuna still stamps a new file's schema version, so
            # on SQLite the poll opens under the run's own start-up lock, or the two race.
            path = sqlite_path(url)
            with folder_lock(path.parent) if path else contextlib.nullcontext():
                storage = optuna.storages.RDBStorage(
                    url, engine_kwargs={"poolclass": sqlalchemy.pool.NullPool},
                    skip_table_creation=True, skip_compatibility_check=True)
            trials = optuna.load_study(study_name=name, storage=storage).get_trials(
                deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))
        except (KeyError, sqlalchemy.exc.DBAPIError, optuna.exceptions.StorageInternalError):
            trials = []  # no tables or no study yet
        busy = [t for t in trials if t.intermediate_values]
        if busy:
            return busy[0]
        time.sleep(0.1)
    raise AssertionError("no trial got under way in time")


@pytest.mark.slow
def test_a_run_killed_mid_trial_is_finished_by_the_next_run_with_nothing_lost(tiny_spec, capsys):
    spec = tiny_spec("killed", trials=2, epochs=10, extra=HEARTBEAT)
    url = storage_of(spec)
    proc = start("run", str(spec), "--no-progress")
    victim = trial_in_progress("killed", url, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    study = optuna.load_study(study_name="killed", storage=url)
    assert study.trials[victim.number].state.name == "RUNNING"  # a zombie, until its beat is old
    time.sleep(3)  # past the grace period (2 s): the rerun finds the zombie stale as it starts

    assert main(["run", str(spec), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "re-queued 1 trial(s) whose process died mid-trial (last heartbeat older than" in out
    study = optuna.load_study(study_name="killed", storage=url)
    counted = check_budget_kept(study, 2)
    zombie = study.trials[victim.number]
    assert zombie.state.name == "FAIL" and zombie not in counted
    retry = next(t for t in study.trials if retried_trial_number(t) == victim.number)
    assert retry.params == victim.params and retry.state.name in ("COMPLETE", "PRUNED")
    assert SELECTED in out


@pytest.mark.slow
def test_ctrl_c_requeues_the_running_trial_in_one_line_and_the_next_run_reruns_it(tiny_spec,
                                                                                 capsys):
    # No pruner: a trial pruned at its second epoch would end before the signal arrives.
    spec = tiny_spec("interrupted", trials=2, epochs=10, extra='pruner = "none"\n' + HEARTBEAT)
    url = storage_of(spec)
    proc = start("run", str(spec), "--no-progress")
    victim = trial_in_progress("interrupted", url, proc)
    proc.send_signal(signal.SIGINT)
    out = proc.communicate(timeout=60)[0]
    assert proc.returncode == 130, out
    assert "Traceback" not in out and "KeyboardInterrupt" not in out, out
    assert ("interrupted: 1 unfinished trial(s) queued to run again first, costing no slot of "
            "the budget; run the same command again to continue") in out
    # The summary so far: the baseline, and the trial counted as interrupted, not failed.
    assert "baseline" in out and "0 failed, 1 interrupted by Ctrl-C (re-queued), 1 queued to " \
        "run again" in out, out
    study = optuna.load_study(study_name="interrupted", storage=url)
    stopped = study.trials[victim.number]
    assert stopped.state.name == "FAIL"
    assert stopped.user_attrs["fail_reason"] == "interrupted by the user (Ctrl-C)"
    queued = [t for t in study.trials if retried_trial_number(t) == victim.number]
    assert [(t.state.name, t.params) for t in queued] == [("WAITING", victim.params)]
    assert "fail_reason" not in queued[0].user_attrs

    assert main(["run", str(spec), "--no-progress"]) == 0
    study = optuna.load_study(study_name="interrupted", storage=url)
    counted = check_budget_kept(study, 2)
    baseline = study.trials[0]  # evaluated first, a trial outside the budget
    assert baseline.user_attrs["role"] == "baseline" and baseline not in counted
    # The retry ran first and counts in the interrupted trial's place; then one new trial.
    assert [t.number for t in counted] == [victim.number + 1, victim.number + 2]
    assert counted[0].params == victim.params
    assert {t.state.name for t in counted} <= {"COMPLETE", "PRUNED"}
    assert SELECTED in capsys.readouterr().out


def test_a_crash_while_writing_leaves_the_old_file_whole(tmp_path, monkeypatch):
    target = tmp_path / "exports" / "best.json"
    write_atomic(target, '{"old": true}\n')

    def crash(fd):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", crash)
    with pytest.raises(RegsearchError, match="disk full; nothing was written"):
        write_atomic(target, '{"new": "' + "x" * 100_000 + '"}\n')
    assert target.read_text() == '{"old": true}\n'
    assert [p.name for p in target.parent.iterdir()] == ["best.json"]  # no temp file left


@pytest.mark.slow
def test_a_writer_killed_mid_write_leaves_the_old_file_or_the_new_one(tmp_path):
    """For real: a process rewriting a 20 MB file in a loop is killed at a random moment."""
    target = tmp_path / "big.txt"
    write_atomic(target, "old\n")
    code = ("import sys\nfrom search.export import write_atomic\n"
            "text = 'new' * 7_000_000 + '\\n'\nwhile True:\n    write_atomic(sys.argv[1], text)\n")
    proc = subprocess.Popen([sys.executable, "-c", code, str(target)], cwd=ROOT)
    # Kill it mid-write: once a temporary file of a rewrite exists (a real event, not a delay).
    deadline = time.monotonic() + 60
    while not list(tmp_path.glob(".big.txt.*.tmp")):
        assert proc.poll() is None and time.monotonic() < deadline, "the writer never wrote"
        time.sleep(0.005)
    proc.kill()
    proc.wait()
    assert target.read_text() in ("old\n", "new" * 7_000_000 + "\n")


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) / 1024 for line in status if line.startswith("VmRSS:"))


@pytest.mark.parametrize("reuse_model", [True, False])
def test_trial_after_trial_in_one_process_memory_stays_flat(tiny_spec, reuse_model):
    """Rebuilding, each fit here (a trial is one per fold) would leave ~12 MB behind without
    ``trainer._drop_custom_gradients`` (benchmarks/results/memory.md); the reused model traces
    nothing new. Either way four trials (eight fits) must not grow RSS by two fits' worth."""
    import dataclasses

    from tensorflow.python.framework import ops

    from search.folds import study_data
    from search.objective import evaluator_for

    spec = load_spec(tiny_spec("memory", epochs=1))
    folds, _ = study_data(spec)
    training = dataclasses.replace(spec.training, reuse_model=reuse_model)

    def one_trial() -> None:  # every fold, as a search's trial trains them
        evaluator.evaluate({"dropout": 0.2, "regularizer": "l2", "l2": 1e-4}, training=training)

    def custom_gradients() -> int:
        return sum(n.startswith("CustomGradient-") for n in ops._gradient_registry._registry)

    with evaluator_for(spec, folds) as evaluator:
        one_trial()  # warm-up: TensorFlow's one-off caches
        one_trial()  # rebuilding, the first fit frees what earlier tests left behind
        before, registered = rss_mb(), custom_gradients()
        for _ in range(4):
            one_trial()
        grown = rss_mb() - before
        # Rebuilding, each fit frees the last model's entries first: only one trial's remain.
        assert custom_gradients() == registered
    assert grown < 24, f"RSS grew {grown:.0f} MB over 4 trials"


class _FlakySessions:
    """A storage's session factory whose first ``failures`` sessions fail as a dropped server
    connection does (``OperationalError``), then the real ones."""

    def __init__(self, real, failures: int) -> None:
        self.real, self.failures = real, failures

    def __call__(self):
        if self.failures:
            self.failures -= 1
            raise sqlalchemy.exc.OperationalError("SELECT", {}, Exception("server closed the "
                                                                           "connection"))
        return self.real()

    def remove(self) -> None:
        self.real.remove()


def test_the_private_reads_optunas_cache_makes_are_retried_across_a_lost_connection(tmp_path):
    """Optuna puts its own cache in front of an RDBStorage, and the cache calls private methods
    (``_get_trials``: a pruner's ``get_trials``), not the public API: a restart while a pruner
    read the trials failed the trial in progress (seen on PostgreSQL)."""
    from optuna.storages._cached_storage import _CachedStorage

    from search.reconnect import Reconnecting

    storage = Reconnecting(f"sqlite:///{tmp_path / 'r.db'}", reconnect_timeout=10)
    study = optuna.create_study(storage=storage, study_name="r")
    study.enqueue_trial({})
    cache = _CachedStorage(storage)
    storage.scoped_session = _FlakySessions(storage.scoped_session, failures=2)
    assert len(cache.get_all_trials(study._study_id)) == 1
    assert storage.scoped_session.failures == 0
