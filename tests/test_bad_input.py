"""Bad input and bad trials, through the CLI: each gets its exact message, exit status 1, no
stack trace, and a storage that is left exactly as it was.

Bad input (the table below): malformed TOML, unknown key, wrong type, missing space file,
unknown dataset / backend / sampler / pruner, a zero or negative budget, a dropout bound >= 1,
a storage URL with an unknown scheme, PostgreSQL unreachable, export of an unknown study.
Bad trials: a diverging one is stopped at its first bad epoch and recorded with its reason; a
study whose every trial fails stops at its failure budget.
"""

from __future__ import annotations

import dataclasses
import re
import socket
import time
from pathlib import Path

import optuna
import pytest

from search.backends import optuna_backend
from search.cli import main
from search.objective import evaluator_for
from search.spec import load_spec
from search.storage import open_storage

from .conftest import SPACE


@pytest.fixture
def kept(tmp_path: Path):
    """A storage holding one study, made before the bad command runs; yields its URL."""
    url = f"sqlite:///{tmp_path / 'kept.db'}"
    storage = open_storage(url)
    study = optuna.create_study(study_name="kept", storage=storage)
    study.set_user_attr("note", "untouched")
    study.enqueue_trial({"x": 0.5})
    storage.engine.dispose()  # no connection left open: the folder holds kept.db alone
    yield url


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file in the folder with its size and modification time (nanoseconds)."""
    return {p.name: (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.iterdir()}


def studies(url: str) -> list[tuple[str, int, dict]]:
    return [(s.study_name, s.n_trials, s.user_attrs)
            for s in optuna.get_all_study_summaries(url)]


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens there once the socket is closed


HEAD = '[study]\nname = "bad"\nspace = "{space}"\nstorage = "{url}"\n'

BAD_SPECS = [
    # (id, what follows or replaces the head, the exact message)
    ("malformed TOML", "[search\ntrials = 3\n", "malformed TOML: Expected ']' at the end of a "
                                                 "table declaration (at line 5, column 8)"),
    ("unknown key", "[training]\nepochs = 3\n",
     "training.epochs: unknown key; allowed keys: batch_size, learning_rate, max_epochs, min_steps, "
     "optimizer, patience, reuse_model, train_eval_samples"),
    ("wrong type", '[training]\nbatch_size = "100"\n',
     "training.batch_size: must be an integer, got string '100'"),
    ("missing space file", "SPACE=nowhere.toml",
     "study.space: bad space file {dir}/nowhere.toml: space file not found"),
    ("unknown dataset", '[data]\ndataset = "imagenet"\n',
     "data.dataset: must be one of 'digits', 'npz', 'csv', 'parquet', 'mnist', "
     "'fashion_mnist', 'images', 'imdb', 'synthetic_text', got 'imagenet'"),
    ("unknown backend", 'HEAD+backend = "ray"\n',
     "study.backend: must be one of 'optuna', 'keras-tuner', got 'ray'"),
    ("unknown sampler", '[search]\nsampler = "grid"\n',
     "search.sampler: must be one of 'tpe', 'random', 'qmc', got 'grid'"),
    ("unknown pruner", '[search]\npruner = "hyperband"\n',
     "search.pruner: must be one of 'median', 'percentile', 'none', got 'hyperband'"),
    ("zero budget", "[search]\ntrials = 0\n", "search.trials: must be > 0, got 0"),
    ("negative budget", "[search]\ntrials = -5\n", "search.trials: must be > 0, got -5"),
    ("dropout bound >= 1", "SPACE=dropout-one.toml",
     "study.space: bad space file {dir}/dropout-one.toml: dropout: dropout bounds must lie in "
     "[0, 1), got low=0.1, high=1.0"),
    ("unknown storage scheme", "URL=redis://localhost/0",
     "study.storage: unknown storage scheme 'redis'; allowed: sqlite, postgresql, "
     "postgresql+psycopg2, postgresql+psycopg, mysql, mysql+pymysql, got 'redis://localhost/0'"),
]


def write_spec(folder: Path, url: str, edit: str) -> Path:
    space, tail = str(SPACE), edit
    if edit.startswith("SPACE="):
        space, tail = edit[len("SPACE="):], ""
    elif edit.startswith("URL="):
        url, tail = edit[len("URL="):], ""
    head = HEAD.format(space=space, url=url)
    if edit.startswith("HEAD+"):
        head, tail = head + edit[len("HEAD+"):], ""
    path = folder / "bad.toml"
    path.write_text(head + tail)
    return path


@pytest.mark.parametrize("edit,message", [b[1:] for b in BAD_SPECS],
                         ids=[b[0] for b in BAD_SPECS])
def test_a_bad_spec_gets_its_message_and_writes_nothing(tmp_path, kept, capsys, edit, message):
    (tmp_path / "dropout-one.toml").write_text(
        '[dropout]\ntype = "float"\nlow = 0.1\nhigh = 1.0\n')
    spec = write_spec(tmp_path, kept, edit)
    before = snapshot(tmp_path)
    assert main(["run", str(spec), "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"regsearch: error: {spec}: 1 problem\n"), err
    assert message.format(dir=tmp_path) in err
    assert "Traceback" not in err
    assert snapshot(tmp_path) == before  # the storage was not even opened


def test_cli_flags_out_of_range_are_refused_before_the_storage(tmp_path, kept, capsys):
    spec = write_spec(tmp_path, kept, "")
    before = snapshot(tmp_path)
    assert main(["run", str(spec), "--trials", "0"]) == 1
    assert "regsearch: error: --trials must be a positive integer, got 0" in capsys.readouterr().err
    assert main(["summary", "kept", "--storage", "redis://localhost/0"]) == 1
    assert ("regsearch: error: storage 'redis://localhost/0': unknown storage scheme 'redis'; "
            "allowed: sqlite, postgresql") in capsys.readouterr().err
    assert snapshot(tmp_path) == before


def test_export_of_an_unknown_study_names_the_ones_there_and_changes_nothing(kept, capsys):
    before = studies(kept)
    assert main(["export", "nope", "--storage", kept]) == 1
    err = capsys.readouterr().err
    assert err == f"regsearch: error: no study named 'nope' in {kept}; studies there: kept\n"
    assert studies(kept) == before


def test_postgresql_refusing_connections_is_reported_at_once(tmp_path, capsys):
    port = closed_port()
    url = f"postgresql://someone:secret@127.0.0.1:{port}/regsearch"
    spec = write_spec(tmp_path, url, "")
    start = time.monotonic()
    assert main(["run", str(spec), "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert time.monotonic() - start < 30  # most of it is TensorFlow's import, not the wait
    assert (f"regsearch: error: cannot connect to the database server of storage "
            f"'postgresql://someone:***@127.0.0.1:{port}/regsearch': connection failed: "
            f"connection to server at \"127.0.0.1\", port {port} failed: Connection refused. Is "
            "the server running, and does it accept connections from this machine?") in err
    assert "secret" not in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == [spec]


def test_postgresql_that_never_answers_is_given_up_within_the_connect_timeout(capsys):
    """A host that takes the connection but never speaks (a firewall, a hung server) is the
    case that would hang without ``connect_timeout``."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"postgresql://someone@127.0.0.1:{silent.getsockname()[1]}/regsearch"
        start = time.monotonic()
        assert main(["summary", "any", "--storage", url]) == 1
        waited = time.monotonic() - start
    err = capsys.readouterr().err
    assert 4 <= waited < 15, waited  # CONNECT_TIMEOUT = 5 s
    assert "connection timeout expired. Is the server running" in err
    assert "(waited at most 5 s)" in err


DIVERGING_SPACE = """\
[dropout]
type = "float"
low = 0.1
high = 0.2
[regularizer]
type = "choice"
choices = {choices}
[l2]
type = "float"
low = 50.0
high = 100.0
when = {{ regularizer = ["l2"] }}
"""

# Plain SGD at learning rate 2 trains the MLP on digits (val accuracy ~0.97 in 3 epochs on a
# fold), but an L2 penalty of 50 or more makes every step multiply the weights by
# 1 - 2 * 2 * 50 = -199: the loss is NaN within the first epoch of a fold (8 steps of a 2-fold
# split; an L2 of 5, -19 a step, takes two). (L1 0.1 at learning rate 1.0 does not diverge here:
# an L1 step is bounded by lr * l1; digits needs an L2 this strong, or a learning rate that makes
# the unregularized baseline diverge as well.)
DIVERGING_TRAINING = ('\n[training]\noptimizer = "sgd"\nlearning_rate = 2.0\nmax_epochs = 3\n'
                      'patience = 3\n\n[evaluation]\nfolds = 2\n')


def diverging_spec(folder: Path, choices: str, search: str) -> Path:
    space = folder / "space.toml"
    space.write_text(DIVERGING_SPACE.format(choices=choices))
    spec = folder / "diverge.toml"
    spec.write_text(f'[study]\nname = "diverge"\nspace = "space.toml"\nseed = 1\n'
                    f'{DIVERGING_TRAINING}\n[search]\n{search}')
    return spec


def test_a_diverging_trial_is_failed_at_its_first_bad_epoch_and_the_study_goes_on(tmp_path):
    from search.folds import study_data

    spec = load_spec(diverging_spec(tmp_path, '["none", "l2"]', "trials = 2\n"))
    spec = dataclasses.replace(spec, search=dataclasses.replace(spec.search, sampler="random"))
    folds, _ = study_data(spec)
    with evaluator_for(spec, folds) as evaluator:
        study = optuna_backend.open_study(spec, stride=evaluator.stride)
        study.enqueue_trial({"dropout": 0.1, "regularizer": "l2", "l2": 50.0})
        study.enqueue_trial({"dropout": 0.1, "regularizer": "none"})
        optuna_backend.run(study, spec, evaluator, progress=False)
    diverged, fine = study.trials
    assert diverged.state.name == "FAIL"
    assert diverged.user_attrs["fail_reason"] == \
        "TrialFailure: non-finite training loss (nan) at epoch 1"
    assert diverged.intermediate_values == {}  # stopped before the pruner saw a value
    assert fine.state.name == "COMPLETE" and fine.user_attrs["val_accuracy"] > 0.5
    assert len(fine.user_attrs["folds"]) == 2  # the study goes on, over every fold


def test_a_study_whose_every_trial_diverges_stops_at_its_failure_budget(tmp_path, capsys):
    spec = diverging_spec(tmp_path, '["l2"]', "trials = 6\nmax_failures = 2\n")
    assert main(["run", str(spec), "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert re.search(r"regsearch: error: study 'diverge' stopped: 2 trials in a row failed "
                     r"\(search\.max_failures = 2\); last reason: TrialFailure: non-finite "
                     r"training loss \(nan\) at epoch \d", err), err
    study = optuna.load_study(study_name="diverge", storage=f"sqlite:///{tmp_path}/regsearch.db")
    # The unregularized baseline trained (it is a trial, outside the budget); then the two
    # trials of the budget failed and the study stopped.
    baseline, *trials = study.trials
    assert baseline.state.name == "COMPLETE" and baseline.user_attrs["role"] == "baseline"
    assert [t.state.name for t in trials] == ["FAIL", "FAIL"]


def test_a_baseline_that_diverges_stops_the_run_and_leaves_no_empty_study(tmp_path, capsys):
    spec = diverging_spec(tmp_path, '["none", "l2"]', "trials = 2\n")
    spec.write_text(spec.read_text().replace("learning_rate = 2.0", "learning_rate = 1e4"))
    assert main(["run", str(spec), "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert re.search(r"regsearch: error: the unregularized baseline could not be trained \(non-"
                     r"finite training loss \(nan\) at epoch 1\): .*; the study was not kept", err)
    assert optuna.get_all_study_summaries(f"sqlite:///{tmp_path / 'regsearch.db'}") == []
