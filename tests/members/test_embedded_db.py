"""The embedded PostgreSQL of `make run` (config/embedded_db.py): made on first start,
reused on the next, stopped cleanly, and found by the local settings through its socket."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from config import embedded_db


def _connect(var_dir: Path) -> psycopg.Connection:
    database = embedded_db.settings_for(var_dir)
    return psycopg.connect(
        host=database["HOST"],
        port=database["PORT"],
        user=database["USER"],
        dbname=database["NAME"],
        connect_timeout=5,
    )


def test_start_stop_and_restart_keep_the_data(tmp_path: Path) -> None:
    var_dir = tmp_path / "var"
    try:
        database = embedded_db.server_start(var_dir)
        assert database["NAME"] == "kundklubb"
        assert Path(database["HOST"]).exists(), "a Unix socket directory, no TCP port"
        with _connect(var_dir) as connection:
            assert connection.execute("SHOW server_version").fetchone()[0].startswith("18")
            assert connection.execute("SHOW listen_addresses").fetchone()[0] == ""
            connection.execute("CREATE TABLE kept (n int)")
            connection.execute("INSERT INTO kept VALUES (42)")
            connection.commit()
        embedded_db.server_stop(var_dir)
        assert not (var_dir / "postgres" / "postmaster.pid").exists()
        with pytest.raises(psycopg.OperationalError):
            _connect(var_dir)

        embedded_db.server_start(var_dir)  # a second `make run`: same data, no initdb
        with _connect(var_dir) as connection:
            assert connection.execute("SELECT n FROM kept").fetchone() == (42,)
        embedded_db.server_start(var_dir)  # already running: reused, not started twice
    finally:
        embedded_db.server_stop(var_dir)
    embedded_db.server_stop(var_dir)  # stopping a stopped server is harmless
