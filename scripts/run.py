"""`make run`: the database, migrations, the living demo, then web + Celery worker + beat.

Without ``DATABASE_URL`` it starts the embedded PostgreSQL under ``var/postgres``
(config/embedded_db.py) and stops it cleanly after the other processes, on Ctrl-C or
SIGTERM. A second run reuses the same data. ``SITE_URL`` (links in mails) follows ``PORT``.

    python scripts/run.py                 # everything (make run)
    python scripts/run.py --setup-only    # database, migrations and demo, then stop
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from config import embedded_db  # noqa: E402 - needs ROOT on the path

PYTHON = sys.executable
BIN = Path(PYTHON).parent


def say(message: str) -> None:
    print(f"  [run] {message}", flush=True)


def banner(port: str, embedded: bool, var_dir: Path) -> str:
    database = (
        f"embedded PostgreSQL in {embedded_db.data_dir(var_dir)}" if embedded else "DATABASE_URL"
    )
    return f"""
  Kundklubb is starting (web, Celery worker, Celery beat). Ctrl-C stops them all.

  Member pages:  http://127.0.0.1:{port}/
  Back-office:   http://127.0.0.1:{port}/admin/
  API docs:      http://127.0.0.1:{port}/api/docs/
  Database:      {database}

  Demo member:   medlem@demo.kundklubb.se   / kundklubb-demo
  Demo staff:    admin@demo.kundklubb.se    / kundklubb-demo  (Administrator)
                 butik@demo.kundklubb.se    / kundklubb-demo  (Store staff)
                 marknad@demo.kundklubb.se  / kundklubb-demo  (Marketer)
                 dataskydd@demo.kundklubb.se / kundklubb-demo (Data protection officer)
  Email (verification links, exports) is printed in this terminal.
"""


def manage(env: dict[str, str], *args: str) -> None:
    subprocess.run([PYTHON, "manage.py", *args], cwd=ROOT, env=env, check=True)


def serve(env: dict[str, str], port: str) -> int:
    """honcho runs the three processes of Procfile.dev (each in its own session) and stops
    them all when one ends or it is told to; this waits for it."""
    honcho = subprocess.Popen(
        [str(BIN / "honcho"), "-f", "Procfile.dev", "start", "-p", port], cwd=ROOT, env=env
    )

    stopping = []

    def forward(signum: int, _frame: FrameType | None) -> None:
        stopping.append(signum)
        if honcho.poll() is None:
            honcho.send_signal(signal.SIGTERM if signum == signal.SIGTERM else signal.SIGINT)

    # Ctrl-C reaches honcho through the terminal's process group as well; SIGTERM (a
    # supervisor, a test) is passed on. Either way this waits until honcho has stopped
    # the web server, the worker and beat, before the database goes down.
    signal.signal(signal.SIGINT, forward)
    signal.signal(signal.SIGTERM, forward)
    returncode = honcho.wait()
    return 0 if stopping else returncode  # stopped as asked: not an error


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--setup-only", action="store_true", help="migrate and seed, then stop")
    args = parser.parse_args()

    port = os.environ.get("PORT", "8000")
    var_dir = Path(os.environ.get("VAR_DIR") or ROOT / "var").resolve()
    env = dict(os.environ)
    env.update(
        {
            "PORT": port,
            "VAR_DIR": str(var_dir),
            "SITE_URL": os.environ.get("SITE_URL") or f"http://127.0.0.1:{port}",
            "DJANGO_SETTINGS_MODULE": os.environ.get(
                "DJANGO_SETTINGS_MODULE", "config.settings.local"
            ),
            "PYTHONUNBUFFERED": "1",
        }
    )
    for folder in ("broker/out", "broker/processed", "broker/control"):
        (var_dir / folder).mkdir(parents=True, exist_ok=True)

    embedded = "DATABASE_URL" not in os.environ
    started = time.monotonic()
    if embedded:
        fresh = not (embedded_db.data_dir(var_dir) / "PG_VERSION").exists()
        say(("creating" if fresh else "starting") + " the embedded PostgreSQL")
        embedded_db.server_start(var_dir)
        say(f"PostgreSQL ready in {time.monotonic() - started:.1f} s")
    try:
        manage(env, "migrate", "--no-input", "-v", "0")
        say(f"migrated ({time.monotonic() - started:.1f} s)")
        seed = ["--members", env["DEMO_MEMBERS"]] if env.get("DEMO_MEMBERS") else []
        manage(env, "seed_demo", *seed)
        say(f"demo loaded ({time.monotonic() - started:.1f} s)")
        if args.setup_only:
            return 0
        print(banner(port, embedded, var_dir), flush=True)
        return serve(env, port)
    except KeyboardInterrupt:
        return 130
    except subprocess.CalledProcessError as exc:
        return exc.returncode or 1
    finally:
        if embedded:
            signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut this
            say("stopping the embedded PostgreSQL")
            embedded_db.server_stop(var_dir)


if __name__ == "__main__":
    sys.exit(main())
