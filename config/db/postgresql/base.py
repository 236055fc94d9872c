"""PostgreSQL without the 65,535-parameter ceiling (docs/architecture.md, "Decisions").

With server-side binding (``database_tune``: prepared statements) every ``%s`` is a
parameter of the protocol's Bind message, which counts them in 16 bits: PostgreSQL refuses
a statement with more than 65,535. Django's PostgreSQL backend never counts, so an
``__in`` of 70,000 ids, the delete collector's lookups over 100,000 rows and an unbatched
``bulk_update`` fail. This backend is Django's, plus:

- a long ``__in`` list is ``column = ANY(%s)`` with the list as one array parameter
  (``compiler.py``), the same statement for any length;
- a statement carrying a long array is not prepared (``ServerBindingCursor``);
- ``bulk_batch_size`` keeps every ``bulk_create``/``bulk_update`` statement within the
  limit, in batches as large as it allows;
- ``max_query_params`` tells Django the limit (``in_bulk`` batches by it);
- the health check before a request's first statement (``CONN_HEALTH_CHECKS``) asks the
  socket instead of the server (``close_if_health_check_failed``).

``database_tune`` in ``config/settings/base.py`` selects it for every PostgreSQL database,
whether parameters are bound on the server or not.
"""

from __future__ import annotations

import select
from collections.abc import Sequence
from typing import Any

from django.db.backends.postgresql import base, features, operations
from psycopg import pq

# The Bind message counts its parameters in a 16-bit integer.
MAX_QUERY_PARAMS = 65_535
# An array parameter longer than this runs as an unprepared statement, planned for its
# actual values. A prepared "= ANY($1)" may get a generic plan, chosen on short arrays,
# that cannot hash the array: NOT (id = ANY($1)) with 60,000 ids over 70,000 rows took
# 168 s under it and 0.17 s planned for the values.
PREPARED_ARRAY_MAX = 100


class DatabaseFeatures(features.DatabaseFeatures):
    max_query_params = MAX_QUERY_PARAMS


class DatabaseOperations(operations.DatabaseOperations):
    compiler_module = "config.db.postgresql.compiler"

    def bulk_batch_size(self, fields: Sequence[Any], objs: Sequence[Any]) -> int:
        """Objects per statement for ``bulk_create`` (``fields``: the inserted columns),
        ``bulk_update`` (``[pk, pk, *fields]``) and the delete collector (the relations it
        follows), within ``MAX_QUERY_PARAMS``."""
        fields = list(fields)
        if len(fields) > 2 and fields[0] is fields[1] and getattr(fields[0], "primary_key", False):
            # bulk_update: per object and field "WHEN pk = %s THEN %s", and the object's pk
            # in the WHERE list (one array for all of them, unless Django renders the list).
            per_object = 2 * (len(fields) - 2) + 1
        else:
            # bulk_create: a value per column (Django's UNNEST form sends an array per
            # column instead, which this over-counts; batches of 1,000 to 9,362 rows insert
            # equally fast); the collector: one per relation.
            per_object = len(fields)
        if not per_object:
            return len(objs)
        return max(1, min(len(objs), MAX_QUERY_PARAMS // per_object))


# Django's cursor for server-side binding (psycopg 3, which the project requires).
_DjangoServerBindingCursor: Any = base.ServerBindingCursor  # type: ignore[attr-defined]


class ServerBindingCursor(_DjangoServerBindingCursor):
    def execute(
        self, query: Any, params: Any = None, *, prepare: bool | None = None, **kwargs: Any
    ) -> Any:
        if prepare is None and isinstance(params, list | tuple):
            for param in params:
                if type(param) is list and len(param) > PREPARED_ARRAY_MAX:
                    prepare = False
                    break
        return super().execute(query, params, prepare=prepare, **kwargs)


class DatabaseWrapper(base.DatabaseWrapper):
    features_class = DatabaseFeatures
    ops_class = DatabaseOperations

    def get_connection_params(self) -> dict[str, Any]:
        params = super().get_connection_params()
        if params.get("cursor_factory") is _DjangoServerBindingCursor:
            params["cursor_factory"] = ServerBindingCursor
        return params

    def close_if_health_check_failed(self) -> None:
        """Django's health check sends ``SELECT 1`` before each request's first statement on
        a kept connection: a round trip and a statement for PostgreSQL on every request,
        about a tenth of a logged-in page's floor (docs/benchmarks.md "Member pages").

        A connection the server has ended (``pg_terminate_backend``, a restart, an idle
        timeout, a pooler going away) is ended with a message and a closed socket, so the
        idle connection's socket turns readable. Here a connection that is idle, in no
        transaction, with nothing waiting on its socket is taken as usable without asking
        the server; anything else (something to read, a broken or busy state) gets Django's
        ``SELECT 1`` and is closed and replaced if that fails. A server that vanished
        without a word (a cut network) is found by neither check before the request's first
        statement fails; Django closes that connection at the end of the request.
        ``tests/database/test_health_check.py``."""
        state: Any = self  # django-stubs does not declare the health-check attributes
        if self.connection is None or not state.health_check_enabled or state.health_check_done:
            return
        if _quiet(self.connection):
            state.health_check_done = True
            return
        super().close_if_health_check_failed()


def _quiet(connection: Any) -> bool:
    """Whether a psycopg connection is open, idle outside any transaction, and has nothing
    waiting to be read on its socket (checked without blocking)."""
    info = connection.info
    if (
        connection.closed
        or info.status != pq.ConnStatus.OK
        or info.transaction_status != pq.TransactionStatus.IDLE
    ):
        return False
    try:
        poller = select.poll()
        poller.register(connection.fileno(), select.POLLIN | select.POLLPRI)
        return not poller.poll(0)
    except (OSError, ValueError):
        return False
