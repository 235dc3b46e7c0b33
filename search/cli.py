"""The ``regsearch`` command line. Thin: parse, call one function, map errors to exit codes.

Nothing heavy is imported at module level, so ``regsearch --help`` never loads TensorFlow.
"""

from __future__ import annotations

import argparse
import errno
import ipaddress
import os
import shutil
import socket
import sys
import threading

EXIT_ERROR = 1
EXIT_INTERRUPTED = 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="regsearch",
        description="Find the dropout rate and L1/L2 penalty that close a Keras model's "
                    "train/validation gap without giving accuracy away.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="run or continue a study from its spec file",
                         description="Run a study up to its trial budget (continuing it if it "
                                     "exists), then print the baseline and the chosen setting.")
    run.add_argument("spec", help="study spec, e.g. studies/default.toml")
    run.add_argument("--trials", type=int, metavar="N",
                     help="run N more trials instead of filling up to the spec's budget")
    run.add_argument("--backend", choices=("optuna", "keras-tuner"),
                     help="override study.backend from the spec")
    run.add_argument("--workers", type=int, default=1, metavar="N",
                     help="run N worker processes on this machine, sharing its cores "
                          "(default 1: in this process)")
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    run.add_argument("--allow-no-learning", action="store_true",
                     help="search even when the unregularized baseline is within noise of "
                          "always answering the most common class (normally the run stops)")
    run.add_argument("--restart", action="store_true",
                     help="delete the stored study of this name, trials and all, and start "
                          "afresh (needed when the spec changes what a trial means)")

    work = sub.add_parser("worker", help="join an existing study and run its trials",
                          description="Join a study that `regsearch run` created (on this or "
                                      "another machine, e.g. with a PostgreSQL storage) and run "
                                      "its trials until its budget is used.")
    work.add_argument("study", help="a study spec file, or a study name (with --storage)")
    work.add_argument("--storage", metavar="URL",
                      help="storage URL when STUDY is a name, e.g. postgresql://user@host/db")
    work.add_argument("--trials", type=int, metavar="N",
                      help="run at most N trials (default: until the study's budget is used)")
    work.add_argument("--threads", type=int, metavar="N",
                      help="TensorFlow threads (default: one per core)")
    work.add_argument("--no-progress", action="store_true", help="no progress bar")

    exp = sub.add_parser("export", help="write the chosen setting as JSON or TOML",
                         description="Write the chosen setting (params, metrics, baseline, "
                                     "selection rule, spec) and print a Keras snippet.")
    exp.add_argument("study", help="a study spec file, or a study name (with --storage)")
    exp.add_argument("-o", "--output", metavar="FILE",
                     help="where to write (default: studies/exports/<study>.<format>)")
    exp.add_argument("--format", choices=("json", "toml"),
                     help="file format (default: from the file name, else json)")
    exp.add_argument("--storage", metavar="URL", help="storage URL when STUDY is a name")
    exp.add_argument("--backend", choices=("optuna", "keras-tuner"),
                     help="which backend's study of a spec file (default: the spec's)")
    exp.add_argument("--force", action="store_true",
                     help="export even a study whose baseline learns nothing (with a warning)")

    rep = sub.add_parser("report", help="write an HTML report: the confirmed answer and figures",
                         description="Confirm the answer if it is not yet, write report.html "
                                     "and PNG figures, put the answer in the dashboard's study "
                                     "note, and print a short summary.")
    rep.add_argument("study", help="a study spec file, or a study name (with --storage)")
    rep.add_argument("-o", "--output", metavar="DIR",
                     help="where to write (default: studies/reports/<study>/)")
    rep.add_argument("--storage", metavar="URL", help="storage URL when STUDY is a name")
    rep.add_argument("--backend", choices=("optuna", "keras-tuner"),
                     help="which backend's study of a spec file (default: the spec's)")

    summ = sub.add_parser("summary", help="print a study's baseline vs chosen table")
    summ.add_argument("study", help="a study spec file, or a study name (with --storage)")
    summ.add_argument("--storage", metavar="URL", help="storage URL when STUDY is a name")
    summ.add_argument("--backend", choices=("optuna", "keras-tuner"),
                     help="which backend's study of a spec file (default: the spec's)")

    dash = sub.add_parser("dashboard", help="serve optuna-dashboard over a study's storage",
                          description="Start optuna-dashboard on the storage; binds to "
                                      "127.0.0.1 unless --host says otherwise.")
    dash.add_argument("study", nargs="?", default="studies/default.toml",
                      help="a study spec file (default: studies/default.toml), or a name")
    dash.add_argument("--storage", metavar="URL", help="storage URL when STUDY is a name")
    dash.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    dash.add_argument("--port", type=int, default=8080, help="port (default 8080)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``regsearch`` console script."""
    args = build_parser().parse_args(argv)
    threading.excepthook = _thread_failure
    from .commands import Interrupted
    from .errors import RegsearchError

    try:
        if args.command == "run":
            from .commands import run_study

            run_study(spec_path=args.spec, trials=args.trials, backend=args.backend,
                      workers=args.workers, progress=not args.no_progress,
                      allow_no_learning=args.allow_no_learning, restart=args.restart)
        elif args.command == "worker":
            from .commands import run_worker

            run_worker(study=args.study, storage=args.storage, trials=args.trials,
                       threads=args.threads, progress=not args.no_progress)
        elif args.command == "export":
            from .commands import export_study

            export_study(study=args.study, storage=args.storage, backend=args.backend,
                         output=args.output, fmt=args.format, force=args.force)
        elif args.command == "report":
            from .commands import report_study

            report_study(study=args.study, storage=args.storage, backend=args.backend,
                         output=args.output)
        elif args.command == "summary":
            from .commands import summarize

            summarize(study=args.study, storage=args.storage, backend=args.backend)
        elif args.command == "dashboard":
            return dashboard(args.study, args.storage, args.host, args.port)
    except Interrupted:
        return EXIT_INTERRUPTED
    except KeyboardInterrupt:  # Ctrl-C outside a trial (loading data, the baseline): no trace
        print("\nregsearch: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except RegsearchError as exc:
        print(f"regsearch: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except OSError as exc:  # a file that cannot be written or read: a full disk, permissions
        where = f"{exc.filename}: " if exc.filename is not None else ""
        print(f"regsearch: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return EXIT_ERROR
    except _storage_errors() as exc:  # the database failed under a command: say which and why
        print(f"regsearch: error: {_storage_failure(exc, args)}", file=sys.stderr)
        return EXIT_ERROR
    return 0


def _thread_failure(args: threading.ExceptHookArgs) -> None:
    """A background thread's error (Optuna's heartbeat, when the disk is full) in one line: the
    command's own error says what stopped it; no traceback reaches the user."""
    lines = str(args.exc_value).strip().splitlines()
    name = args.thread.name if args.thread is not None else "a thread"
    print(f"regsearch: warning: background thread {name} stopped: "
          f"{type(args.exc_value).__name__}: {lines[0] if lines else ''}", file=sys.stderr)


def _storage_errors() -> tuple[type[Exception], ...]:
    """SQLAlchemy's and Optuna's storage errors, from the modules already loaded: an error of a
    module never imported cannot have been raised, and ``--help`` must not import them."""
    loaded = ((sys.modules.get("sqlalchemy.exc"), "SQLAlchemyError"),
              (sys.modules.get("optuna.exceptions"), "StorageInternalError"))
    return tuple(getattr(module, name) for module, name in loaded if module is not None)


def _storage_failure(exc: Exception, args: argparse.Namespace) -> str:
    """One line for a storage error: the storage URL (password masked) and the database's own
    reason (Optuna wraps SQLAlchemy's error, which wraps the driver's)."""
    from .commands import resolve_study
    from .errors import RegsearchError
    from .spec import load_spec
    from .storage import display_url

    cause = exc.__cause__ if exc.__cause__ is not None else exc
    cause = getattr(cause, "orig", None) or cause
    lines = str(cause).strip().splitlines()
    reason = f"{lines[0] if lines else type(cause).__name__} ({type(cause).__name__})"
    try:
        url = (load_spec(args.spec).storage if args.command == "run"
               else resolve_study(args.study, args.storage)[1])
    except RegsearchError:
        return f"the study's storage failed: {reason}"
    return f"storage {display_url(url)!r} failed: {reason}"


def dashboard(study: str, storage: str | None, host: str, port: int) -> int:
    """Replace this process with optuna-dashboard on the study's storage and its artifacts.

    The study must exist (nothing is created for a mistyped name or path), and ``host:port``
    must be free to listen on: optuna-dashboard would say "Listening on ..." and then die."""
    from .commands import resolve_study
    from .storage import artifact_dir, load_study

    name, url = resolve_study(study, storage)
    load_study(name, url)
    _check_address(host, port)
    if not _is_loopback(host):
        print(f"regsearch: warning: binding the dashboard to {host}: anyone who can reach this "
              "machine can read and edit the studies", file=sys.stderr)
    exe = shutil.which("optuna-dashboard") or os.path.join(os.path.dirname(sys.executable),
                                                           "optuna-dashboard")
    artifacts = artifact_dir(url)  # where `regsearch report` attaches its figures
    artifacts.mkdir(parents=True, exist_ok=True)
    print(f"optuna-dashboard on {url}\n  open http://{host}:{port}/", flush=True)
    os.execv(exe, [exe, url, "--host", host, "--port", str(port),
                   "--artifact-dir", str(artifacts)])
    return 0  # not reached


def _check_address(host: str, port: int) -> None:
    """Bind a socket to ``host:port`` as optuna-dashboard's server will (IPv4, address reuse on),
    then close it; raise ``RegsearchError`` saying whether the host or the port is wrong."""
    from .errors import RegsearchError

    if not 0 < port < 65536:
        raise RegsearchError(f"--port {port}: must be in 1-65535")
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, family=socket.AF_INET, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as exc:
        raise RegsearchError(f"--host {host!r}: cannot resolve it to an IPv4 address "
                             f"({exc.strerror}); give a name or address of this machine, e.g. "
                             "127.0.0.1, or 0.0.0.0 for all its addresses") from None
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise RegsearchError(f"--port {port}: the port is in use on {host} "
                                     f"({exc.strerror}); stop what listens there or choose "
                                     "another --port") from None
            if exc.errno == errno.EADDRNOTAVAIL:
                raise RegsearchError(f"--host {host!r}: not an address of this machine "
                                     f"({exc.strerror}); give one of its addresses, e.g. "
                                     "127.0.0.1, or 0.0.0.0 for all of them") from None
            raise RegsearchError(f"cannot listen on {host}:{port} ({exc.strerror})") from None


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


if __name__ == "__main__":
    sys.exit(main())
