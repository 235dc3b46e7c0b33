"""A throw-away PostgreSQL server, for the PostgreSQL tests and the fault benchmark.

Debian's ``initdb``/``pg_ctl`` make a cluster in a temporary folder, listening on 127.0.0.1 and
a free port, with one empty database ``regsearch`` owned by a trusted user of that name. When run
as root the programs run as the ``postgres`` user: PostgreSQL refuses to run as root. No library
does this: the Python wrappers for throw-away servers are not in the project's dependencies.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .conftest import free_port


def postgres_bin() -> Path | None:
    """The folder of Debian's PostgreSQL server programs (the newest), or of ``initdb`` on PATH;
    None when PostgreSQL is not installed."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"),
                   key=lambda p: int(p.parts[-3]) if p.parts[-3].isdigit() else 0)
    if found:
        return found[-1].parent
    on_path = shutil.which("initdb")
    return Path(on_path).parent if on_path else None


@dataclass(frozen=True)
class Server:
    """A running throw-away server: the URL of its database, and its ``pg_ctl``."""

    url: str
    pg_ctl: Callable[..., None]

    def restart(self, down: float) -> None:
        """Stop the server (closing every connection), keep it down ``down`` s, start it."""
        self.pg_ctl("stop", "-m", "fast")
        time.sleep(down)
        self.pg_ctl("start")


@contextmanager
def throwaway_server(bindir: Path) -> Iterator[Server]:
    """Start a server with the programs in ``bindir``; stop it and delete its files after."""
    root = Path(tempfile.mkdtemp(prefix="regsearch-pg-"))
    as_owner: list[str] = []
    if os.geteuid() == 0:
        owner = pwd.getpwnam("postgres")
        os.chown(root, owner.pw_uid, owner.pw_gid)
        as_owner = ["runuser", "-u", "postgres", "--"]
    data, port = root / "data", free_port()

    def pg(*argv: str) -> None:
        subprocess.run([*as_owner, *argv], check=True, capture_output=True, text=True)

    def pg_ctl(*argv: str) -> None:
        pg(str(bindir / "pg_ctl"), "-D", str(data), "-l", str(root / "server.log"), "-w", "-o",
           f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off", *argv)

    try:
        pg(str(bindir / "initdb"), "-D", str(data), "-U", "regsearch", "--auth=trust", "-E",
           "UTF8", "--no-sync")
        pg_ctl("start")
        try:
            pg(str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "regsearch",
               "regsearch")
            yield Server(f"postgresql://regsearch@127.0.0.1:{port}/regsearch", pg_ctl)
        finally:
            pg_ctl("stop", "-m", "immediate")
    finally:
        shutil.rmtree(root, ignore_errors=True)
