"""Several workers on one study: exact budget, distinct settings, shared cores, SQLite that holds."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import optuna
import pytest

from search import workers
from search.backends import optuna_backend
from search.cli import main
from search.study import counted_trials, started

from .conftest import ROOT, free_port
from .test_cli import check_confirmed

HEARTBEAT = "\n[workers]\nheartbeat_interval = 1\ngrace_period = 2\n"


def storage_of(spec_path) -> str:
    return f"sqlite:///{spec_path.parent / 'regsearch.db'}"


def check_budget_kept(study: optuna.Study, budget: int) -> list[optuna.trial.FrozenTrial]:
    """The invariants of a finished study: exactly the budget counted, nothing left running or
    queued, every trial numbered once; returns the counted trials."""
    trials = study.get_trials(deepcopy=False)
    assert sorted(t.number for t in trials) == list(range(len(trials)))
    assert not [t.number for t in trials if not t.state.is_finished()], \
        [(t.number, t.state.name) for t in trials]
    counted = counted_trials(study)
    assert len(counted) == budget, [(t.number, t.state.name) for t in trials]
    return counted


@pytest.mark.slow
def test_two_worker_processes_run_exactly_the_budget_with_distinct_settings(tiny_spec, capsys):
    spec = tiny_spec("pair", trials=4, epochs=2, extra=HEARTBEAT)
    assert main(["run", str(spec), "--workers", "2", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "2 workers, 1 TensorFlow thread(s) each, 4 trials" in out and "ANSWER: " in out
    study = optuna.load_study(study_name="pair", storage=storage_of(spec))
    counted = check_budget_kept(study, 4)
    assert len({t.user_attrs["worker"] for t in counted}) == 2  # the work was shared
    settings = [tuple(sorted(t.params.items())) for t in counted]
    assert len(set(settings)) == 4, "workers seeded alike would sample the same settings"
    assert study.user_attrs["budget"] == 4
    check_confirmed(study)  # the answer, confirmed once the workers were done

    # The budget is reached: running again starts no trial (4 and the baseline).
    assert main(["run", str(spec), "--workers", "2", "--no-progress"]) == 0
    assert len(optuna.load_study(study_name="pair", storage=storage_of(spec)).trials) == 5


@pytest.mark.slow
def test_a_worker_joins_an_existing_study_and_fills_its_budget(tiny_spec, capsys):
    spec = tiny_spec("join", trials=3, epochs=2, extra=HEARTBEAT)
    assert main(["run", str(spec), "--trials", "1", "--no-progress"]) == 0
    assert main(["worker", "join", "--storage", storage_of(spec), "--no-progress"]) == 0
    assert "ran 2 trial(s) of study join" in capsys.readouterr().out
    study = optuna.load_study(study_name="join", storage=storage_of(spec))
    check_budget_kept(study, 3)
    assert main(["worker", str(spec), "--trials", "1", "--no-progress"]) == 0  # nothing left
    assert "ran 0 trial(s)" in capsys.readouterr().out


def test_worker_of_an_unknown_study_says_which_studies_there_are(tiny_spec, capsys):
    spec = tiny_spec("known", trials=1, epochs=2)
    optuna.create_study(study_name="known", storage=storage_of(spec))
    assert main(["worker", "nope", "--storage", storage_of(spec)]) == 1
    assert "no study named 'nope'" in capsys.readouterr().err


@pytest.mark.parametrize("argv,message", [
    (["--workers", "0"], "--workers must be a positive integer, got 0"),
    (["--workers", "2", "--backend", "keras-tuner"],
     "--workers 2: only the optuna backend runs several workers"),
])
def test_bad_worker_counts_are_refused_before_anything_is_written(tiny_spec, capsys, argv,
                                                                  message):
    spec = tiny_spec("count", trials=1, epochs=2)
    assert main(["run", str(spec), *argv]) == 1
    assert message in capsys.readouterr().err
    assert list(spec.parent.iterdir()) == [spec]


def test_shares_and_threads_split_the_budget_and_the_cores():
    assert workers.shares(7, 3) == [3, 2, 2] and workers.shares(1, 4) == [1]
    assert sum(workers.shares(60, 7)) == 60
    assert workers.threads_per_worker(2, cpus=2) == 1
    assert workers.threads_per_worker(4, cpus=2) == 1
    assert workers.threads_per_worker(2, cpus=16) == 8


def test_workers_are_capped_at_what_the_memory_holds_and_the_cap_is_said():
    assert workers.machine_cap(2, memory=24 << 30) == (2, None)
    assert workers.machine_cap(10_000, memory=24 << 30) == (24, (
        "--workers 10000: running 24, as many as this machine's memory holds (24.0 GiB "
        "available, about 1 GiB a worker)"))
    assert workers.machine_cap(3, memory=100 << 20)[0] == 1  # one always runs
    assert 0 < workers.available_memory()


def test_sampler_seeds_differ_by_worker_and_by_continuation_but_not_for_a_fresh_study():
    assert workers.sampler_seed(7, 0) == 7  # one process, fresh study: reproducible
    seeds = {workers.sampler_seed(7, 5), workers.sampler_seed(7, 0, "a:1"),
             workers.sampler_seed(7, 0, "a:2"), workers.sampler_seed(7, 5, "a:1")}
    assert len(seeds) == 4


def test_a_requeued_trial_counts_once_through_its_retry():
    """What ``RetryHeartbeatStaleTrialCallback`` leaves behind: the stale trial FAILED, and a
    WAITING copy that lists it in ``retry_history``. The budget counts the copy only."""
    study = optuna.create_study()
    dist = {"x": optuna.distributions.FloatDistribution(0, 1)}
    for _ in range(2):
        study.add_trial(optuna.create_trial(params={"x": 0.5}, distributions=dist, value=1.0))
    study.add_trial(optuna.create_trial(params={"x": 0.1}, distributions=dist,
                                        state=optuna.trial.TrialState.FAIL))
    study.add_trial(optuna.create_trial(
        params={"x": 0.1}, distributions=dist, state=optuna.trial.TrialState.WAITING,
        system_attrs={"failed_trial": 2, "retry_history": [2]}))
    assert [t.number for t in counted_trials(study)] == [0, 1, 3]
    assert started(study) == 2  # the retry still has to run
    budget = optuna_backend.TrialBudget(3)
    budget(study, study.trials[0])
    assert not study._stop_flag  # noqa: SLF001 - the flag is what study.stop() sets

    ran = []
    study.optimize(lambda t: ran.append(t.suggest_float("x", 0, 1)) or 0.0, n_trials=5,
                   callbacks=[budget])
    assert ran == [0.1]  # the queued retry ran, and then the budget was used
    assert len(counted_trials(study)) == 3


SQLITE_WORKER = textwrap.dedent("""
    import sys, time, optuna
    from search.backends.optuna_backend import TrialBudget
    from search.spec import WorkersSpec
    from search.storage import open_storage

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = open_storage(sys.argv[1], workers=WorkersSpec(1, 5, 2))
    study = optuna.load_study(study_name="stress", storage=storage,
                              sampler=optuna.samplers.RandomSampler())

    def objective(trial):
        x = trial.suggest_float("x", 0, 1)
        for step in range(5):  # a write per step, as the trainer's per-epoch report does
            trial.report(x * step, step)
            time.sleep(0.01)
        trial.set_user_attr("worker", sys.argv[2])
        return x

    study.optimize(objective, n_trials=int(sys.argv[3]), callbacks=[TrialBudget(120)])
""")


@pytest.mark.slow
def test_sqlite_in_wal_mode_holds_eight_writing_processes(tmp_path):
    """Why SQLite is enough on one machine: eight processes (four times the cores here) writing
    a report per step and a heartbeat per second, sharing a budget: no lock error, no loss."""
    url = f"sqlite:///{tmp_path / 'stress.db'}"
    from search.storage import open_storage

    optuna.create_study(study_name="stress", storage=open_storage(url))
    procs = [subprocess.Popen([sys.executable, "-c", SQLITE_WORKER, url, str(i), str(share)],
                              cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True)
             for i, share in enumerate(workers.shares(120, 8))]
    outputs = [p.communicate(timeout=300)[0] for p in procs]
    assert [p.returncode for p in procs] == [0] * 8, "\n".join(outputs)
    assert not any("locked" in o for o in outputs), "\n".join(outputs)
    study = optuna.load_study(study_name="stress", storage=url)
    trials = check_budget_kept(study, 120)
    assert all(len(t.intermediate_values) == 5 for t in trials)
    assert len({t.user_attrs["worker"] for t in trials}) == 8
    with open_storage(url).engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"


def test_dashboard_binds_to_loopback_unless_told_and_warns_when_told(tiny_spec, monkeypatch,
                                                                      capsys):
    spec = tiny_spec("dash", trials=1, epochs=2)
    optuna.create_study(study_name="dash", storage=storage_of(spec))  # the dashboard reads one
    calls = []
    monkeypatch.setattr("os.execv", lambda exe, argv: calls.append(argv))
    port = str(free_port())  # the default 8080 may be taken on a busy machine
    assert main(["dashboard", str(spec), "--port", port]) == 0
    argv = calls[-1]
    assert argv[argv.index("--host") + 1] == "127.0.0.1"
    assert "warning" not in capsys.readouterr().err

    assert main(["dashboard", str(spec), "--host", "0.0.0.0", "--port", port]) == 0
    argv = calls[-1]
    assert argv[argv.index("--host") + 1] == "0.0.0.0" and argv[argv.index("--port") + 1] == port
    err = capsys.readouterr().err
    assert "warning: binding the dashboard to 0.0.0.0: anyone who can reach this machine" in err
