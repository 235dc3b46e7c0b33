"""Failures of the machine and the files around a study, each one line from the CLI.

A storage that is missing, damaged or not a database; a folder that cannot be made; an export
path that cannot be written; a dashboard address that is taken or does not resolve; a seed or
a data limit out of range; OSError and database errors anywhere under a command; and many
processes creating one SQLite file at once. None of these tests trains a model.
"""

from __future__ import annotations

import errno
import random
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
import sqlalchemy.exc

from search.cli import main
from search.errors import RegsearchError
from search.export import write_atomic
from search.folds import study_data
from search.spec import load_spec
from search.storage import open_storage

from .conftest import ROOT, SPACE

NO_STORAGE = "no storage at {path} (no such file); studies are created by `regsearch run SPEC`"


@pytest.fixture
def kept(tmp_path: Path) -> str:
    """A SQLite storage holding study 'kept' with a few finished trials; its URL."""
    url = f"sqlite:///{tmp_path / 'kept.db'}"
    storage = open_storage(url)
    study = optuna.create_study(study_name="kept", storage=storage)
    for value in (0.2, 0.5, 0.9):
        trial = study.ask({"x": optuna.distributions.FloatDistribution(0, 1)})
        study.tell(trial, value)
    storage.engine.dispose()
    return url


@pytest.fixture
def no_exec(monkeypatch) -> list:
    """``os.execv`` recorded instead of run: the dashboard command's last step."""
    calls: list = []
    monkeypatch.setattr("os.execv", lambda exe, argv: calls.append(argv))
    return calls


def error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err


# --- a storage the read-only commands must not create ------------------------------------------

@pytest.mark.parametrize("argv", [["summary", "s"], ["export", "s"], ["report", "s"],
                                  ["dashboard", "s"], ["worker", "s"]])
def test_a_missing_storage_is_named_and_nothing_is_created(tmp_path, capsys, no_exec, argv):
    path = tmp_path / "typo" / "regsearch.db"
    assert main([*argv, "--storage", f"sqlite:///{path}"]) == 1
    assert error_line(capsys) == f"regsearch: error: {NO_STORAGE.format(path=path)}\n"
    assert list(tmp_path.iterdir()) == [] and no_exec == []


def test_a_spec_whose_study_never_ran_creates_no_storage(tmp_path, capsys):
    spec = tmp_path / "s.toml"
    spec.write_text(f'[study]\nname = "s"\nspace = "{SPACE.as_posix()}"\n'
                    'storage = "sqlite:///db/s.db"\n')
    assert main(["summary", str(spec)]) == 1
    expected = NO_STORAGE.format(path=tmp_path / "db" / "s.db")
    assert error_line(capsys) == f"regsearch: error: {expected}\n"
    assert list(tmp_path.iterdir()) == [spec]


def test_dashboard_of_a_name_refuses_a_missing_default_storage(tmp_path, monkeypatch, capsys,
                                                               no_exec):
    monkeypatch.chdir(tmp_path)
    assert main(["dashboard", "nope"]) == 1
    expected = NO_STORAGE.format(path="studies/regsearch.db")
    assert error_line(capsys) == f"regsearch: error: {expected}\n"
    assert list(tmp_path.iterdir()) == [] and no_exec == []


def test_dashboard_of_an_unknown_name_lists_the_studies_there(kept, capsys, no_exec):
    assert main(["dashboard", "nope", "--storage", kept]) == 1
    assert error_line(capsys) == (f"regsearch: error: no study named 'nope' in {kept}; studies "
                                  "there: kept\n")
    assert no_exec == []


def test_a_sqlite_file_without_studies_is_refused_and_left_empty(tmp_path, capsys):
    empty = tmp_path / "empty.db"
    empty.touch()
    assert main(["summary", "s", "--storage", f"sqlite:///{empty}"]) == 1
    assert error_line(capsys) == (f"regsearch: error: {empty} holds no studies (a SQLite "
                                  "database without Optuna's tables); studies are created by "
                                  "`regsearch run SPEC`\n")
    assert empty.stat().st_size == 0 and list(tmp_path.iterdir()) == [empty]


# --- damaged storage ---------------------------------------------------------------------------

def test_a_damaged_sqlite_file_is_refused_before_anything_writes_to_it(kept, tmp_path, capsys):
    path = Path(kept[len("sqlite:///"):])
    data = bytearray(path.read_bytes())
    data[4096:8192] = random.Random(0).randbytes(4096)  # one page of random bytes
    path.write_bytes(bytes(data))
    expected = (f"the SQLite storage {path} is damaged (database disk image is malformed); "
                "nothing was written to it. Restore it from a backup, or move it away to start "
                "a new study; a sqlite3 shell built with .recover (3.40 and later with "
                f"SQLITE_ENABLE_DBPAGE_VTAB) salvages readable rows: `sqlite3 {path} .recover | "
                f"sqlite3 {tmp_path / 'kept-recovered.db'}`")
    assert main(["summary", "kept", "--storage", kept]) == 1
    assert error_line(capsys) == f"regsearch: error: {expected}\n"
    with pytest.raises(RegsearchError) as raised:  # what `regsearch run` opens it with
        open_storage(kept, create=True)
    assert str(raised.value) == expected
    assert path.read_bytes() == data
    assert list(tmp_path.iterdir()) == [path]  # not even the -wal and -shm of the check


def test_a_file_that_is_not_a_database_is_refused(tmp_path, capsys):
    path = tmp_path / "notes.db"
    path.write_text("a,label\n1,0\n" * 100)
    assert main(["summary", "s", "--storage", f"sqlite:///{path}"]) == 1
    assert error_line(capsys) == (f"regsearch: error: {path} is not a SQLite database (file is "
                                  "not a database); the storage must be a study database that "
                                  "`regsearch run` wrote, or a path where no file is yet\n")
    with pytest.raises(RegsearchError, match="is not a SQLite database"):
        open_storage(f"sqlite:///{path}", create=True)
    assert path.read_text() == "a,label\n1,0\n" * 100 and list(tmp_path.iterdir()) == [path]


def test_a_storage_folder_that_cannot_be_created_is_one_line():
    url = "sqlite:////proc/regsearch-test/x.db"
    with pytest.raises(RegsearchError) as raised:
        open_storage(url, create=True)
    assert str(raised.value) == ("cannot create the folder /proc/regsearch-test of storage "
                                 f"{url!r}: No such file or directory")


# --- the error boundary of main() --------------------------------------------------------------

def failing(exc: BaseException):
    """A stand-in for a command or a system call that raises ``exc``."""
    def call(*_args, **_kwargs):
        raise exc
    return call


def test_an_oserror_under_a_command_is_one_line_naming_the_file(monkeypatch, capsys):
    monkeypatch.setattr("search.commands.summarize", failing(
        OSError(errno.ENOSPC, "No space left on device", "/data/studies/regsearch.db-wal")))
    assert main(["summary", "s", "--storage", "sqlite:////data/studies/regsearch.db"]) == 1
    assert error_line(capsys) == ("regsearch: error: /data/studies/regsearch.db-wal: No space "
                                  "left on device\n")


def full_disk() -> sqlalchemy.exc.OperationalError:
    """What SQLAlchemy raises when SQLite finds the disk full."""
    try:
        raise sqlalchemy.exc.OperationalError("INSERT INTO trials ...", {},
                                              sqlite3.OperationalError("database or disk is full"))
    except sqlalchemy.exc.OperationalError as exc:
        return exc


def test_a_database_error_under_a_command_names_the_storage(monkeypatch, capsys):
    monkeypatch.setattr("search.commands.summarize", failing(full_disk()))
    assert main(["summary", "s", "--storage", "sqlite:////data/regsearch.db"]) == 1
    assert error_line(capsys) == ("regsearch: error: storage 'sqlite:////data/regsearch.db' "
                                  "failed: database or disk is full (OperationalError)\n")


def test_optunas_storage_error_shows_its_cause_and_hides_the_password(monkeypatch, capsys):
    try:
        raise optuna.exceptions.StorageInternalError("An exception is raised during the "
                                                     "commit.") from full_disk()
    except optuna.exceptions.StorageInternalError as exc:
        wrapped = exc
    monkeypatch.setattr("search.commands.summarize", failing(wrapped))
    assert main(["summary", "s", "--storage", "postgresql://me:secret@db.example/rs"]) == 1
    assert error_line(capsys) == ("regsearch: error: storage 'postgresql://me:***@db.example/rs' "
                                  "failed: database or disk is full (OperationalError)\n")


# --- export -o ---------------------------------------------------------------------------------

def test_writing_onto_a_folder_is_refused(tmp_path):
    with pytest.raises(RegsearchError) as raised:
        write_atomic(tmp_path, "{}")
    assert str(raised.value) == f"cannot write {tmp_path}: it is a folder; give a file path"
    assert list(tmp_path.iterdir()) == []


def test_export_onto_a_folder_is_refused_before_anything_is_read(tmp_path, capsys):
    spec = tmp_path / "never.toml"  # never run: a refusal after reading would name the storage
    spec.write_text(f'[study]\nname = "never"\nspace = "{SPACE.as_posix()}"\n')
    out = tmp_path / "out"
    out.mkdir()
    assert main(["export", str(spec), "-o", str(out)]) == 1
    assert error_line(capsys) == f"regsearch: error: cannot write {out}: it is a folder; give " \
                                 "a file path\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["never.toml", "out"]


def test_writing_where_no_folder_can_be_made_is_refused():
    with pytest.raises(RegsearchError) as raised:
        write_atomic("/proc/regsearch-test/out.json", "{}")
    assert str(raised.value) == ("cannot write /proc/regsearch-test/out.json: cannot create "
                                 "the folder /proc/regsearch-test (No such file or directory)")


@pytest.mark.parametrize("patched,error", [
    ("tempfile.mkstemp", OSError(errno.EROFS, "Read-only file system")),
    ("os.fsync", OSError(errno.ENOSPC, "No space left on device")),
], ids=["read-only", "full disk"])
def test_a_failed_write_names_the_file_and_keeps_the_old_one(tmp_path, monkeypatch, patched,
                                                             error):
    target = tmp_path / "out.json"
    target.write_text("old\n")
    monkeypatch.setattr(patched, failing(error))
    with pytest.raises(RegsearchError) as raised:
        write_atomic(target, "new\n")
    assert str(raised.value) == f"cannot write {target}: {error.strerror}; nothing was written"
    assert target.read_text() == "old\n" and list(tmp_path.iterdir()) == [target]


# --- the dashboard's address -------------------------------------------------------------------

def test_dashboard_on_a_port_in_use_says_so_before_starting(kept, capsys, no_exec):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        assert main(["dashboard", "kept", "--storage", kept, "--port", str(port)]) == 1
    assert error_line(capsys) == (f"regsearch: error: --port {port}: the port is in use on "
                                  "127.0.0.1 (Address already in use); stop what listens there "
                                  "or choose another --port\n")
    assert no_exec == []


def test_dashboard_on_a_host_that_does_not_resolve_says_so(kept, capsys, no_exec):
    host = "no-such-host.invalid"
    with pytest.raises(socket.gaierror) as lookup:
        socket.getaddrinfo(host, 8080, family=socket.AF_INET)
    assert main(["dashboard", "kept", "--storage", kept, "--host", host]) == 1
    assert error_line(capsys) == (f"regsearch: error: --host {host!r}: cannot resolve it to an "
                                  f"IPv4 address ({lookup.value.strerror}); give a name or "
                                  "address of this machine, e.g. 127.0.0.1, or 0.0.0.0 for all "
                                  "its addresses\n")
    assert no_exec == []


def test_dashboard_of_an_existing_study_on_a_free_port_starts(kept, no_exec):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    assert main(["dashboard", "kept", "--storage", kept, "--port", str(port)]) == 0
    argv = no_exec[-1]
    assert argv[1] == kept and argv[argv.index("--port") + 1] == str(port)


# --- spec values out of range ------------------------------------------------------------------

def write_spec(folder: Path, extra: str) -> Path:
    spec = folder / "s.toml"
    spec.write_text(f'[study]\nname = "s"\nspace = "{SPACE.as_posix()}"\n{extra}')
    return spec


@pytest.mark.parametrize("seed,problem", [
    (4294967296, "must be in [0, 4294967295] (NumPy, scikit-learn and Keras take 32-bit seeds), "
                 "got 4294967296"),
    # 3 folds, then confirmation seeds that may grow to confirm.max_seeds (20)
    (4294967295, "must be at most 4294967273: the 23 seeds the folds and the confirmation use "
                 "count up from it and must stay <= 4294967295, got 4294967295"),
])
def test_a_seed_numpy_cannot_take_is_refused_with_the_range(tmp_path, capsys, seed, problem):
    spec = write_spec(tmp_path, f"seed = {seed}\n")
    assert main(["run", str(spec)]) == 1
    assert error_line(capsys) == (f"regsearch: error: {spec}: 1 problem\n  {spec}: study.seed: "
                                  f"{problem}\n")
    assert load_spec(write_spec(tmp_path, "seed = 4294967273\n")).seed == 4294967273
    # A confirmation that may not grow (max_seeds at seeds) leaves 8 seeds to count.
    fixed = "seed = 4294967288\n[confirm]\nmax_seeds = 5\n"
    assert load_spec(write_spec(tmp_path, fixed)).seed == 4294967288


def test_a_limit_leaving_too_few_rows_for_the_folds_names_data_limit(tmp_path):
    spec = load_spec(write_spec(tmp_path, "[data]\nlimit = 47\n[evaluation]\nfolds = 5\n"))
    with pytest.raises(RegsearchError) as raised:
        study_data(spec)
    assert str(raised.value) == ("digits: evaluation.folds = 5 needs at least 5 rows of every "
                                 "class in train + validation, the smallest class has 3; use "
                                 "evaluation.folds = 3 or fewer, or keep more rows with a larger "
                                 "data.limit (now 47)")


# --- simultaneous starts -----------------------------------------------------------------------

STARTER = """\
import sys, time
from pathlib import Path
from search.storage import open_storage
folder, me, rounds = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
(folder / f"ready-{me}").touch()
for r in range(rounds):
    while not (folder / f"go-{r}").exists():
        time.sleep(0.001)
    open_storage(f"sqlite:///{folder / f'round-{r}.db'}").engine.dispose()
    (folder / f"done-{r}-{me}").touch()
"""


@pytest.mark.slow
def test_processes_starting_together_on_a_fresh_sqlite_file_all_open_it(tmp_path):
    """Optuna creates a new file's schema outside one transaction; without the lock in
    ``open_storage`` one start in ten died of ``UNIQUE constraint failed``."""
    n, rounds = 6, 5
    procs = [subprocess.Popen([sys.executable, "-c", STARTER, str(tmp_path), str(i),
                               str(rounds)], cwd=ROOT, stderr=subprocess.PIPE, text=True)
             for i in range(n)]
    try:
        for r in range(-1, rounds):  # -1: every process has imported and waits
            names = [f"ready-{i}" if r < 0 else f"done-{r}-{i}" for i in range(n)]
            deadline = time.monotonic() + 60
            while not all((tmp_path / name).exists() for name in names):
                failed = [p.stderr.read() for p in procs if p.poll() not in (None, 0)]
                assert not failed, failed[0]
                assert time.monotonic() < deadline, "the starters hung"
                time.sleep(0.01)
            if r + 1 < rounds:
                (tmp_path / f"go-{r + 1}").touch()  # all of them at once, on a fresh file
    except BaseException:
        for p in procs:
            p.kill()
        raise
    finally:
        for p in procs:
            p.wait(timeout=60)
    assert [p.returncode for p in procs] == [0] * n, [p.stderr.read() for p in procs]
    for r in range(rounds):
        summaries = optuna.get_all_study_summaries(f"sqlite:///{tmp_path / f'round-{r}.db'}")
        assert summaries == []
