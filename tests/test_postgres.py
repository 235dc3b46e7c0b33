"""Workers on a real PostgreSQL server: the engine for a study shared by many machines.

A throw-away cluster (``tests/pgserver.py``) is made with Debian's ``initdb``/``pg_ctl`` in a
temporary folder, on 127.0.0.1 and a free port. Without PostgreSQL installed these tests skip,
unless REGSEARCH_REQUIRE_POSTGRES is set, as ``.ci/run`` does after installing it.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest

from search.cli import main

from .conftest import SPACE, TINY_STUDY
from .pgserver import Server, postgres_bin, throwaway_server
from .test_cli import check_confirmed
from .test_recovery import retried_trial_number, start, trial_in_progress
from .test_workers import HEARTBEAT, check_budget_kept

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def postgres_server() -> Iterator[Server]:
    """A running throw-away PostgreSQL server with an empty database."""
    bindir = postgres_bin()
    if bindir is None:
        reason = ("PostgreSQL is not installed (Debian: apt-get install postgresql; .ci/run "
                  "installs it)")
        if os.environ.get("REGSEARCH_REQUIRE_POSTGRES"):
            pytest.fail(reason)
        pytest.skip(reason)
    with throwaway_server(bindir) as server:
        yield server


@pytest.fixture
def postgres(postgres_server: Server) -> str:
    """The URL of the throw-away server's database."""
    return postgres_server.url


def pg_spec(tmp_path: Path, url: str, name: str, trials: int, epochs: int) -> Path:
    path = tmp_path / f"{name}.toml"
    text = TINY_STUDY.format(name=name, space=SPACE.as_posix(), trials=trials, epochs=epochs)
    path.write_text(text.replace("seed = 3\n", f'seed = 3\nstorage = "{url}"\n') + HEARTBEAT)
    return path


def test_two_workers_share_one_study_on_postgresql(postgres, tmp_path, capsys):
    spec = pg_spec(tmp_path, postgres, "pg-pair", trials=4, epochs=2)
    assert main(["run", str(spec), "--workers", "2", "--no-progress"]) == 0
    assert "regsearch@127.0.0.1" in capsys.readouterr().out
    study = optuna.load_study(study_name="pg-pair", storage=postgres)
    counted = check_budget_kept(study, 4)
    assert len({t.user_attrs["worker"] for t in counted}) == 2
    assert len({tuple(sorted(t.params.items())) for t in counted}) == 4
    check_confirmed(study)
    assert list(tmp_path.iterdir()) == [spec]  # nothing written beside the spec: all in the server


def test_workers_join_by_name_from_elsewhere_with_shares(postgres, tmp_path, capsys):
    spec = pg_spec(tmp_path, postgres, "pg-join", trials=4, epochs=2)
    assert main(["run", str(spec), "--trials", "1", "--no-progress"]) == 0
    # Two machines' worth of workers, each told its share: exact by construction.
    procs = [start("worker", "pg-join", "--storage", postgres, "--trials", str(n), "--threads",
                   "1", "--no-progress") for n in (2, 1)]
    outs = [p.communicate(timeout=300)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert "ran 2 trial(s)" in outs[0] and "ran 1 trial(s)" in outs[1]
    check_budget_kept(optuna.load_study(study_name="pg-join", storage=postgres), 4)


def test_a_killed_worker_on_postgresql_is_requeued_and_the_run_still_finishes(postgres,
                                                                              tmp_path):
    spec = pg_spec(tmp_path, postgres, "pg-kill", trials=3, epochs=10)
    proc = start("run", str(spec), "--workers", "2", "--no-progress")
    victim = trial_in_progress("pg-kill", postgres, proc)
    os.kill(int(victim.user_attrs["worker"].rsplit(":", 1)[1]), signal.SIGKILL)
    out = proc.communicate(timeout=300)[0]
    assert proc.returncode == 0, out
    assert "was killed by signal SIGKILL" in out and "re-queued" in out and "ANSWER: " in out

    study = optuna.load_study(study_name="pg-kill", storage=postgres)
    counted = check_budget_kept(study, 3)
    # The trial the kill cut short: the one seen running, or, when that one finished between
    # the poll and the kill (seen on a fast CPU), the killed worker's next one.
    killed = [t for t in study.trials if t.state.name == "FAIL"
              and t.user_attrs.get("worker") == victim.user_attrs["worker"]]
    assert len(killed) == 1 and killed[0].number >= victim.number
    assert killed[0] not in counted
    retry = next(t for t in study.trials if retried_trial_number(t) == killed[0].number)
    assert retry.params == killed[0].params and retry in counted


def test_a_run_survives_a_postgresql_restart_mid_trial(postgres_server, tmp_path):
    url = postgres_server.url
    spec = pg_spec(tmp_path, url, "pg-restart", trials=2, epochs=30)
    proc = start("run", str(spec), "--no-progress")
    victim = trial_in_progress("pg-restart", url, proc)
    postgres_server.restart(down=3)  # every connection closed; calls meanwhile are refused
    out = proc.communicate(timeout=300)[0]
    assert proc.returncode == 0, out
    assert "the storage server does not answer; retrying for up to 60 s" in out
    assert "Traceback" not in out and "ANSWER: " in out, out
    study = optuna.load_study(study_name="pg-restart", storage=url)
    counted = check_budget_kept(study, 2)
    # The trial under way when the server went down finished in place: nothing failed.
    assert study.trials[victim.number] in counted
    assert study.trials[victim.number].state.name in ("COMPLETE", "PRUNED")
    assert not [t.number for t in study.trials if t.state.name == "FAIL"]
