"""Fail in one clear line when the PostgreSQL or Redis the tests need is not reachable."""

from __future__ import annotations

import os
import sys

import environ
import psycopg
import redis

env = environ.Env()
database_url = env.str("DATABASE_URL", default="postgres://postgres@127.0.0.1:5432/kundklubb")
redis_url = env.str("REDIS_URL", default="redis://127.0.0.1:6379/1")

db = env.db_url_config(database_url)
try:
    with psycopg.connect(
        host=db.get("HOST") or "127.0.0.1",
        port=int(db.get("PORT") or 5432),
        user=db.get("USER") or "postgres",
        password=db.get("PASSWORD") or None,
        dbname="postgres",
        connect_timeout=3,
    ):
        pass
except Exception as exc:
    line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    sys.exit(
        f"PostgreSQL is not reachable at {db.get('HOST')}:{db.get('PORT')} ({line}); "
        "start it or set DATABASE_URL."
    )
try:
    redis.Redis.from_url(redis_url, socket_connect_timeout=3).ping()
except Exception as exc:
    sys.exit(f"Redis is not reachable at {redis_url} ({exc}); start it or set REDIS_URL.")
if os.environ.get("VERBOSE"):
    print("PostgreSQL and Redis are reachable.")
