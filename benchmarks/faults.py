"""The fault table: real faults injected into real ``regsearch run`` processes, and what a rerun
makes of what they left.

Each scenario runs a fresh tiny study (digits, 2 folds, no pruner, a heartbeat every second and a
2 s grace period) in its own folder under ``benchmarks/work/faults/``, starts ``python -m
search.cli run SPEC --no-progress``, waits until a search trial is RUNNING and has reported an
epoch, and injects its fault:

- ``sigint``: SIGINT (Ctrl-C) to ``run``;
- ``sigint-workers``: SIGINT to the parent of ``run --workers 2`` only (it forwards it);
- ``sigkill``: SIGKILL to ``run``;
- ``sigkill-worker``: SIGKILL to the worker process of ``run --workers 2`` running the trial
  (its pid is in the trial's ``worker`` attribute, ``host:pid``); the run goes on;
- ``postgres-restart``: the storage on a throw-away PostgreSQL server (Debian's ``initdb`` and
  ``pg_ctl``, as the ``postgres`` user when run as root), stopped (``-m fast``), kept down 3 s
  and started again mid-trial;
- ``disk-full``: the SQLite storage on its own small tmpfs (``mount -t tmpfs``, root on Linux),
  filled up with a filler file mid-trial; the filler is removed before the rerun;
- ``corrupt``: a finished study's SQLite file with one page in the middle overwritten with
  random bytes; ``run`` must refuse it and write nothing; then it is recovered as the message
  says (``sqlite3 FILE .recover | sqlite3 NEW``, the spec pointed at NEW) and run again.

For each it records the faulted command's exit status and message (no ``Traceback`` allowed),
the trials by state after the fault, then reruns the same command to its end and records the
states again and whether the budget is exact: as many trials counted against the budget
(``search.study.counted_trials``) as the spec's budget, and none RUNNING or WAITING. States are
of the search's trials; the baseline (a COMPLETE trial outside the budget) is left out.

Writes benchmarks/results/faults.md and faults.json.

    .venv/bin/python benchmarks/faults.py [--quick] [--only NAME ...] [--no-mount]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

from _common import RESULTS, ROOT, WORK as BENCH_WORK, write_result

WORK = BENCH_WORK / "faults"
SPACE = ROOT / "spaces" / "regularization.toml"
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
#: Seconds any one command may take before it is killed and the row says so.
COMMAND_TIMEOUT = 400
STATES = ("COMPLETE", "PRUNED", "FAIL", "RUNNING", "WAITING")

# The tests' tiny study (tests/conftest.py TINY_STUDY) with no pruner and no early stopping, so a
# trial lasts long enough to be hit, and the tests' short heartbeats (tests/test_workers.py).
SPEC = """\
[study]
name = "{name}"
space = "{space}"
seed = 3
{storage}
[training]
max_epochs = {epochs}
patience = {epochs}
min_steps = 0

[evaluation]
folds = 2

[confirm]
seeds = 2

[search]
trials = {trials}
sampler_startup = 2
pruner = "none"

[workers]
heartbeat_interval = 1
grace_period = 2
"""


class Setup:
    """One scenario's study: its folder, spec, storage URL and budget."""

    def __init__(self, name: str, trials: int, epochs: int, storage: str | None = None):
        self.name, self.trials = name, trials
        self.folder = WORK / name
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder.mkdir(parents=True)
        self.url = storage or f"sqlite:///{self.folder / 'regsearch.db'}"
        self.spec = self.folder / f"{name}.toml"
        self.write_spec(epochs)
        self.epochs = epochs

    def write_spec(self, epochs: int, storage: str | None = None) -> None:
        self.url = storage or self.url
        line = f'storage = "{self.url}"\n'
        self.spec.write_text(SPEC.format(name=self.name, space=SPACE.as_posix(), trials=self.trials,
                                         epochs=epochs, storage=line))

    def command(self, *extra: str) -> list[str]:
        return [sys.executable, "-m", "search.cli", "run", str(self.spec), "--no-progress",
                *extra]

    def start(self, argv: list[str], log: str) -> tuple[subprocess.Popen, Path]:
        path = self.folder / log
        with path.open("wb") as sink:
            proc = subprocess.Popen(argv, cwd=ROOT, env=ENV, stdin=subprocess.DEVNULL,
                                    stdout=sink, stderr=subprocess.STDOUT,
                                    preexec_fn=_default_sigint)
        return proc, path


def _default_sigint() -> None:
    # Run in the background (nohup, &), this script starts with SIGINT ignored and its children
    # would inherit that: Ctrl-C would do nothing. A typed command has the default.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


# -- reading the storage -------------------------------------------------------------------------

def _study_exists(url: str, name: str) -> bool:
    """Whether ``run`` has created the study yet, by a read-only look (nothing is created)."""
    from search.storage import sqlite_path

    path = sqlite_path(url)
    try:
        if path is not None:
            if not path.exists():
                return False
            with sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True) as db:
                return db.execute("SELECT 1 FROM studies WHERE study_name = ?",
                                  (name,)).fetchone() is not None
        import sqlalchemy

        engine = sqlalchemy.create_engine(url, connect_args={"connect_timeout": 5})
        try:
            with engine.connect() as db:
                return db.execute(sqlalchemy.text("SELECT 1 FROM studies WHERE study_name = :n"),
                                  {"n": name}).first() is not None
        finally:
            engine.dispose()
    except Exception:  # noqa: BLE001 - tables not there yet, a file being created: not yet
        return False


class Reader:
    """The study as another process sees it, through regsearch's own storage opening; closed
    (its connections dropped) on exit, so a file system under it can be unmounted."""

    def __init__(self, url: str, name: str):
        import optuna

        from search.storage import open_storage

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.storage = open_storage(url, create=False)
        self.study = optuna.load_study(study_name=name, storage=self.storage)

    def __enter__(self) -> "Reader":
        return self

    def __exit__(self, *exc: object) -> None:
        self.storage.engine.dispose()


def states(url: str, name: str, budget: int) -> dict[str, Any]:
    """The search's trials by state, how many count against the budget, and whether it is
    exact; ``{"error": ...}`` when the storage cannot be read."""
    from search.objective import BASELINE_ROLE
    from search.study import counted_trials

    try:
        with Reader(url, name) as reader:
            trials = reader.study.get_trials(deepcopy=False)
            counted = counted_trials(reader.study)
    except Exception as exc:  # noqa: BLE001 - a damaged or unreachable storage is a result
        return {"error": " ".join(f"{type(exc).__name__}: {exc}".split())}
    search = [t for t in trials if t.user_attrs.get("role") != BASELINE_ROLE]
    found = {s: sum(t.state.name == s for t in search) for s in STATES}
    unfinished = found["RUNNING"] + found["WAITING"]
    return {**found, "baseline": len(trials) - len(search), "counted": len(counted),
            "budget": budget, "exact": len(counted) == budget and not unfinished,
            "trials": [(t.number, t.state.name) for t in trials]}


def wait_for_trial(setup: Setup, proc: subprocess.Popen, timeout: float = 300) -> dict[str, Any]:
    """Wait until a search trial is RUNNING and has reported an epoch; its number, epochs and
    worker (``host:pid``)."""
    import optuna

    deadline = time.monotonic() + timeout
    while not _study_exists(setup.url, setup.name):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{setup.name}: the study was never created (exit "
                               f"{proc.returncode})")
        time.sleep(0.2)
    with Reader(setup.url, setup.name) as reader:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"{setup.name}: run ended (exit {proc.returncode}) before a "
                                   "trial was under way")
            running = reader.study.get_trials(deepcopy=False,
                                              states=(optuna.trial.TrialState.RUNNING,))
            busy = [t for t in running if t.intermediate_values]
            if busy:
                t = busy[0]
                return {"number": t.number, "epochs": len(t.intermediate_values),
                        "worker": t.user_attrs.get("worker")}
            time.sleep(0.1)
    raise RuntimeError(f"{setup.name}: no trial got under way in {timeout:.0f} s")


# -- commands ------------------------------------------------------------------------------------

def finish(proc: subprocess.Popen, log: Path, timeout: float = COMMAND_TIMEOUT) -> dict[str, Any]:
    """Wait for ``proc``; its exit status, the line that says what happened, and its output."""
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        code: Any = f"killed after {timeout} s"
    else:
        code = proc.returncode
    out = log.read_text(errors="replace")
    said = (f"(none: killed by {signal.Signals(-code).name})"
            if isinstance(code, int) and code < 0 else message(out))
    return {"exit": code, "message": said, "traceback": "Traceback" in out,
            "warnings": [line.strip() for line in out.splitlines() if "Warning:" in line],
            # the storage calls in a traceback: which write a full disk or a dead server hit
            "storage_calls": [m for m in re.findall(r'_rdb/storage\.py", line \d+, in (\w+)', out)
                              if m != "_create_scoped_session"],
            "tail": [line for line in out.splitlines() if line.strip()][-8:]}


def message(out: str) -> str:
    """The line of a command's output that says what happened: an error, an interrupt, a dead
    worker, a retry of the server; else the answer; else the last line."""
    lines = [line.strip() for line in out.splitlines() if line.strip()]
    for pattern in (r"^regsearch: error", r"^interrupted", r"^regsearch: interrupted",
                    r"killed by signal", r"does not answer", r"^ANSWER"):
        found = [line for line in lines if re.search(pattern, line)]
        if found:
            return found[0]
    return lines[-1] if lines else "(no output)"


def run_to_end(setup: Setup, argv: list[str], log: str) -> dict[str, Any]:
    start = time.perf_counter()
    proc, path = setup.start(argv, log)
    result = finish(proc, path)
    result["seconds"] = round(time.perf_counter() - start, 1)
    return result


def faulted(setup: Setup, argv: list[str], inject: Callable[[subprocess.Popen, dict], str],
            settle: float = 0) -> dict[str, Any]:
    """Start ``argv``, inject the fault once a trial is under way, let the command end, and
    read the states; then rerun the same command and read them again."""
    start = time.perf_counter()
    proc, log = setup.start(argv, "faulted.log")
    try:
        victim = wait_for_trial(setup, proc)
        how = inject(proc, victim)
        result = finish(proc, log)
    except BaseException:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        raise
    result["seconds"] = round(time.perf_counter() - start, 1)
    time.sleep(settle)
    row = {"fault": how, "victim": victim, "faulted": result,
           "after_fault": states(setup.url, setup.name, setup.trials)}
    row["victim_after_fault"] = dict(row["after_fault"].get("trials", [])).get(victim["number"])
    row["rerun"] = run_to_end(setup, argv, "rerun.log")
    row["after_rerun"] = states(setup.url, setup.name, setup.trials)
    return row


# -- the scenarios -------------------------------------------------------------------------------

def sigint(trials: int, epochs: int) -> dict[str, Any]:
    setup = Setup("sigint", trials, epochs)

    def inject(proc: subprocess.Popen, victim: dict) -> str:
        proc.send_signal(signal.SIGINT)
        return f"SIGINT to `run` in trial {victim['number']} after {victim['epochs']} epoch(s)"

    return {"command": "regsearch run SPEC", **faulted(setup, setup.command(), inject)}


def sigint_workers(trials: int, epochs: int) -> dict[str, Any]:
    setup = Setup("sigint-workers", trials, epochs)

    def inject(proc: subprocess.Popen, victim: dict) -> str:
        proc.send_signal(signal.SIGINT)  # the parent only: it forwards the interrupt
        return (f"SIGINT to the parent of `run --workers 2` (trial {victim['number']} after "
                f"{victim['epochs']} epoch(s))")

    return {"command": "regsearch run SPEC --workers 2",
            **faulted(setup, setup.command("--workers", "2"), inject)}


def sigkill(trials: int, epochs: int) -> dict[str, Any]:
    setup = Setup("sigkill", trials, epochs)

    def inject(proc: subprocess.Popen, victim: dict) -> str:
        proc.send_signal(signal.SIGKILL)
        return f"SIGKILL to `run` in trial {victim['number']} after {victim['epochs']} epoch(s)"

    return {"command": "regsearch run SPEC", **faulted(setup, setup.command(), inject)}


def sigkill_worker(trials: int, epochs: int) -> dict[str, Any]:
    setup = Setup("sigkill-worker", trials, epochs)

    def inject(proc: subprocess.Popen, victim: dict) -> str:
        pid = int(victim["worker"].rsplit(":", 1)[1])
        if pid == proc.pid:
            raise RuntimeError("the trial runs in the parent, not in a worker")
        os.kill(pid, signal.SIGKILL)
        return (f"SIGKILL to the worker running trial {victim['number']} (after "
                f"{victim['epochs']} epoch(s)) of `run --workers 2`")

    return {"command": "regsearch run SPEC --workers 2",
            **faulted(setup, setup.command("--workers", "2"), inject)}


def postgres_restart(trials: int, epochs: int) -> dict[str, Any]:
    from search.storage import display_url
    from tests.pgserver import postgres_bin, throwaway_server

    bindir = postgres_bin()
    if bindir is None:
        return {"skipped": "not measured: PostgreSQL is not installed (Debian: apt-get install "
                           "postgresql)"}
    with throwaway_server(bindir) as server:
        setup = Setup("postgres-restart", trials, epochs, storage=server.url)

        def inject(proc: subprocess.Popen, victim: dict) -> str:
            t0 = time.perf_counter()
            server.restart(down=3)
            return (f"PostgreSQL stopped (`pg_ctl stop -m fast`), down 3 s, started (trial "
                    f"{victim['number']} after {victim['epochs']} epoch(s); "
                    f"{time.perf_counter() - t0:.1f} s in all)")

        row = {"command": "regsearch run SPEC", **faulted(setup, setup.command(), inject)}
        row["storage"] = display_url(server.url)
        return row


def _mount_tmpfs(target: Path, size: str) -> str | None:
    """Mount a tmpfs of ``size`` on ``target``; None, or why it could not be."""
    if platform.system() != "Linux":
        return f"tmpfs mounts are Linux's, this is {platform.system()}"
    if os.geteuid() != 0:
        return "mounting a file system needs root"
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(target)],
                          capture_output=True, text=True)
    if done.returncode:
        return f"`mount -t tmpfs` failed: {(done.stderr or done.stdout).strip()}"
    return None


def _fill(folder: Path) -> int:
    """Write a filler file in ``folder`` until the file system is full; its size."""
    block = b"\0" * 65536
    filler = folder / "filler"
    written = 0
    with filler.open("wb", buffering=0) as f:
        while True:
            try:
                written += f.write(block)
            except OSError:
                break
        while True:  # the last few bytes too, so that no write of a page still fits
            try:
                written += f.write(b"\0" * 512)
            except OSError:
                break
    return written


def disk_full(trials: int, epochs: int, mount: bool = True) -> dict[str, Any]:
    setup = Setup("disk-full", trials, epochs)
    fs = setup.folder / "fs"
    fs.mkdir()
    why_not = _mount_tmpfs(fs, "16m") if mount else "--no-mount was given"
    if why_not is None:
        setup.write_spec(epochs, storage=f"sqlite:///{fs / 'regsearch.db'}")

        def inject(proc: subprocess.Popen, victim: dict) -> str:
            size = _fill(fs)
            return (f"the storage's 16 MB tmpfs filled up by another file ({size / 2**20:.1f} "
                    f"MB) in trial {victim['number']} after {victim['epochs']} epoch(s)")

        try:
            start = time.perf_counter()
            proc, log = setup.start(setup.command(), "faulted.log")
            try:
                victim = wait_for_trial(setup, proc)
                how = inject(proc, victim)
                result = finish(proc, log)
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
            result["seconds"] = round(time.perf_counter() - start, 1)
            row = {"command": "regsearch run SPEC", "fault": how, "victim": victim,
                   "faulted": result,
                   "after_fault": states(setup.url, setup.name, setup.trials)}
            row["victim_after_fault"] = dict(row["after_fault"].get("trials", [])).get(
                victim["number"])
            row["df_after_fault"] = subprocess.run(["df", "-k", str(fs)], capture_output=True,
                                                   text=True).stdout.splitlines()[-1]
            row["files_after_fault"] = {p.name: p.stat().st_size for p in fs.iterdir()}
            (fs / "filler").unlink()
            row["freed"] = "the filler file removed"
            row["rerun"] = run_to_end(setup, setup.command(), "rerun.log")
            row["after_rerun"] = states(setup.url, setup.name, setup.trials)
            return row
        finally:
            (fs / "filler").unlink(missing_ok=True)
            done = subprocess.run(["umount", str(fs)], capture_output=True, text=True)
            if done.returncode:  # something still holds it open: detach it anyway
                subprocess.run(["umount", "-l", str(fs)], capture_output=True, text=True)
    return disk_capped(setup, why_not)


def disk_capped(setup: Setup, why_not: str) -> dict[str, Any]:
    """The substitute where no small file system can be mounted: the run's file size limit
    (RLIMIT_FSIZE, through ``prlimit``) lowered mid-trial to what the storage's files hold, so
    the next write that would grow them fails (Python ignores SIGXFSZ, so the write gets EFBIG).

    ``PRAGMA max_page_count`` would be SQLite's own cap, but it is a setting of one connection,
    not of the file, so it cannot be put on another process's connections from outside.
    """
    import resource

    db = Path(setup.url[len("sqlite:///"):])

    def inject(proc: subprocess.Popen, victim: dict) -> str:
        sizes = [p.stat().st_size for p in (db, db.with_name(db.name + "-wal"))
                 if p.exists()]
        limit = max(sizes)
        resource.prlimit(proc.pid, resource.RLIMIT_FSIZE, (limit, limit))
        return (f"the run's file size limit lowered to {limit} bytes (its largest storage "
                f"file) in trial {victim['number']} after {victim['epochs']} epoch(s)")

    row = {"command": "regsearch run SPEC", "substitute": True,
           "not_measured": f"disk full not measured: {why_not}",
           **faulted(setup, setup.command(), inject)}
    row["freed"] = "the rerun runs without the limit"
    return row


def corrupt(trials: int, epochs: int) -> dict[str, Any]:
    setup = Setup("corrupt", trials, epochs)
    first = run_to_end(setup, setup.command("--trials", "1"), "first.log")
    before_fault = states(setup.url, setup.name, setup.trials)
    db = Path(setup.url[len("sqlite:///"):])
    leftovers = [p.name for p in db.parent.iterdir() if p.name.startswith(db.name + "-")]
    healthy = db.with_name(f"{db.stem}-before-damage{db.suffix}")
    shutil.copyfile(db, healthy)  # to tell a damaged file's recovery from the tool's own limits
    data = bytearray(db.read_bytes())
    page_size = int.from_bytes(data[16:18], "big") or 65536
    pages = len(data) // page_size
    page = pages // 2 + 1  # 1-based, as SQLite numbers them
    rng = random.Random(15)
    data[(page - 1) * page_size:page * page_size] = rng.randbytes(page_size)
    db.write_bytes(bytes(data))
    digest = hashlib.sha256(db.read_bytes()).hexdigest()
    def storage_files() -> dict[str, int]:  # the file and any -wal/-shm beside it
        return {p.name: p.stat().st_size for p in db.parent.glob(db.name + "*")}

    names = storage_files()
    how = (f"page {page} of {pages} ({page_size} bytes) of the file of a finished `run "
           "--trials 1` overwritten with random bytes")
    after_fault = states(setup.url, setup.name, setup.trials)

    refused = run_to_end(setup, setup.command(), "faulted.log")
    unchanged = hashlib.sha256(db.read_bytes()).hexdigest() == digest
    same_files = storage_files() == names
    row = {"command": "regsearch run SPEC", "fault": how, "first_run": first,
           "files_before": names, "files_after": storage_files(),
           "before_fault": before_fault, "sidecars_before_fault": leftovers,
           "faulted": refused, "after_fault": after_fault,
           "file_unchanged": unchanged, "no_file_added": same_files}

    recovered = db.with_name(f"{db.stem}-recovered{db.suffix}")
    if shutil.which("sqlite3"):
        dump = subprocess.run(["sqlite3", str(db), ".recover"], capture_output=True)
        load = subprocess.run(["sqlite3", str(recovered)], input=dump.stdout,
                              capture_output=True)
        said = " ".join((dump.stderr + load.stderr).decode(errors="replace").split())
        row["recovery"] = (f"`sqlite3 {db.name} .recover | sqlite3 {recovered.name}`, exit "
                           f"{dump.returncode} | {load.returncode}"
                           + (f" (`{said[:100]}`)" if said else "")
                           + f", the spec's storage pointed at {recovered.name}")
        if dump.returncode:  # the same on the file before it was damaged?
            control = subprocess.run(["sqlite3", str(healthy), ".recover"], capture_output=True)
            row["recovery"] += (f"; `.recover` of a copy taken before the damage: exit "
                                f"{control.returncode}")
        setup.write_spec(setup.epochs, storage=f"sqlite:///{recovered}")
        row["after_recovery"] = states(setup.url, setup.name, setup.trials)
    else:
        shutil.move(db, db.with_name(f"{db.stem}-damaged{db.suffix}"))
        row["recovery"] = "no sqlite3 program: the damaged file moved away, a new study started"
    row["rerun"] = run_to_end(setup, setup.command(), "rerun.log")
    row["after_rerun"] = states(setup.url, setup.name, setup.trials)
    return row


SCENARIOS: dict[str, Callable[..., dict[str, Any]]] = {
    "sigint": sigint, "sigint-workers": sigint_workers, "sigkill": sigkill,
    "sigkill-worker": sigkill_worker, "postgres-restart": postgres_restart,
    "disk-full": disk_full, "corrupt": corrupt,
}
#: ``--quick``: one signal, a dead worker and the damaged file, with 2 trials each.
QUICK = ("sigint", "sigkill-worker", "corrupt")


# -- the table -----------------------------------------------------------------------------------

def code(text: str) -> str:
    """``text`` as a Markdown code span, even when it holds backticks."""
    return f"`` {text} ``" if "`" in text else f"`{text}`"


def short(text: str, advice: bool = True) -> str:
    """Paths relative to the repository; without ``advice``, a refusal's reason only."""
    text = text.replace(f"{ROOT}/", "")
    return text if advice else text.split("; nothing was written")[0]


def show_states(found: dict[str, Any]) -> str:
    if "error" in found:
        return f"unreadable: {code(short(found['error'], advice=False))}"
    parts = [f"{found[s]} {s}" for s in STATES if found[s]]
    return f"{', '.join(parts) or 'none'}; {found['counted']}/{found['budget']} counted"


def show_exit(result: dict[str, Any]) -> str:
    said = result["message"]
    if said.startswith("ANSWER") and len(said) > 60:  # the answer itself is not the point here
        said = said[:57] + "..."
    trace = " **Traceback**" if result["traceback"] else ""
    warned = "".join(f" **and** {code(' '.join(w.split()[1:])[:100])}"
                     for w in result.get("warnings", []))
    calls = list(dict.fromkeys(result.get("storage_calls", [])))
    failed = (f" (storage calls that failed: {', '.join(f'`{c}`' for c in calls)})"
              if calls else "")
    return f"{result['exit']}: {code(short(said))}{trace}{failed}{warned}"


def table(rows: dict[str, dict[str, Any]]) -> list[str]:
    lines = ["| scenario | fault | faulted command: exit status, message | trials after the "
             "fault | rerun: exit status, trials after it | budget exact | reproduce |",
             "|---|---|---|---|---|---|---|"]
    for name, r in rows.items():
        reproduce = f"`.venv/bin/python benchmarks/faults.py --only {name}`"
        if "skipped" in r:
            lines.append(row([name, r["skipped"], "", "", "", "", reproduce]))
            continue
        fault = r["fault"]
        if r.get("not_measured"):
            fault = f"{r['not_measured']}; substitute: {fault}"
        rerun = f"{show_exit(r['rerun'])}; {show_states(r['after_rerun'])}"
        if name == "corrupt":
            kept = r["file_unchanged"] and r["no_file_added"]
            fault += (f" (before: {show_states(r['before_fault'])}); file unchanged by the "
                      f"refused run: {'yes' if kept else 'NO'}; recovered: {r['recovery']}")
            if "after_recovery" in r:
                fault += f" ({show_states(r['after_recovery'])} in the recovered file)"
                if "error" in r["after_recovery"]:
                    rerun += (f"; a **new** study: the {r['before_fault']['counted']} trial(s) "
                              "of the damaged file are not in it")
        elif r.get("freed"):
            fault += f"; before the rerun: {r['freed']}"
        exact = "error" not in r["after_rerun"] and r["after_rerun"]["exact"]
        verdict = "yes" if exact else "**no**"
        if "error" in r.get("after_recovery", {}):
            verdict += " (of the new study)"
        after = show_states(r["after_fault"])
        if r.get("victim_after_fault"):
            after += f" (trial {r['victim']['number']}: {r['victim_after_fault']})"
        lines.append(row([name, f"{fault} (`{r['command']}`)", show_exit(r["faulted"]), after,
                          rerun, verdict, reproduce]))
    return lines


def row(cells: list[str]) -> str:
    """A Markdown table row; a ``|`` inside a cell (a shell pipe) escaped."""
    return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help=f"only {', '.join(QUICK)}, 2 trials each")
    parser.add_argument("--only", nargs="+", choices=list(SCENARIOS), metavar="NAME",
                        help=f"these scenarios only: {', '.join(SCENARIOS)}")
    parser.add_argument("--trials", type=int, default=None, help="budget (default 3; quick 2)")
    parser.add_argument("--epochs", type=int, default=6, help="epochs per trial (default 6)")
    parser.add_argument("--no-mount", action="store_true",
                        help="disk-full: measure the substitute (a file size limit) instead")
    args = parser.parse_args()
    trials = args.trials or (2 if args.quick else 3)
    names = args.only or (list(QUICK) if args.quick else list(SCENARIOS))

    rows: dict[str, dict[str, Any]] = {}
    previous = RESULTS / "faults.json"
    if args.only and previous.exists():  # one scenario again: the others' rows are kept
        kept = json.loads(previous.read_text())
        if (kept["trials"], kept["epochs"]) == (trials, args.epochs):
            rows = {k: v for k, v in kept["scenarios"].items() if k in SCENARIOS}
    for name in names:
        print(f"== {name}", flush=True)
        start = time.perf_counter()
        kwargs = {"mount": not args.no_mount} if name == "disk-full" else {}
        try:
            rows[name] = SCENARIOS[name](trials, args.epochs, **kwargs)
        except Exception as exc:  # noqa: BLE001 - a scenario that breaks is a row too
            rows[name] = {"skipped": f"not measured: the scenario broke: "
                                     f"{type(exc).__name__}: {exc}"}
        rows[name]["wall_s"] = round(time.perf_counter() - start, 1)
        print({k: v for k, v in rows[name].items() if k not in ("first_run",)}, flush=True)
    wall = sum(r.get("wall_s", 0) for r in rows.values())  # every scenario's, kept ones too

    from search.workers import cpu_count

    lines = [
        "# Fault table",
        "",
        f"`benchmarks/faults.py{' --quick' if args.quick else ''}` on {cpu_count()} CPUs "
        f"({wall / 60:.1f} min): each scenario a fresh study (digits, 2 folds, {trials} trials of "
        f"{args.epochs} epochs, no pruner, heartbeat 1 s, grace period 2 s), the fault injected "
        "once a trial was RUNNING and had reported an epoch, then the same command run again "
        "to its end. Trials by state are the search's (the baseline, outside the budget, "
        "aside); `n/N counted` is how many count against the budget of N "
        "(`search.study.counted_trials`); the budget is exact when n = N and no trial is "
        "RUNNING or WAITING.",
        "",
        *table({name: rows[name] for name in SCENARIOS if name in rows}),
        "",
    ]
    write_result("faults", "\n".join(lines),
                 {"trials": trials, "epochs": args.epochs, "wall_s": round(wall, 1),
                  "scenarios": rows})


if __name__ == "__main__":
    main()
