"""Database sessions, read with one plain statement (issue 12, docs/benchmarks.md "Member
pages").

Every logged-in request reads its session. Django's database backend builds that read
through the ORM on each request (``Session.objects.get(...)``), which costs more Python than
the statement itself; this backend sends the same ``SELECT`` directly. Everything else
(writes, expiry, ``clearsessions``, the table) is Django's database backend: sessions stay
in PostgreSQL only, so logging out and erasure (``consent.privacy``) remove them at once and
a Redis outage does not log anyone out.
"""

from __future__ import annotations

from typing import Any

from django.contrib.sessions.backends.db import SessionStore as DatabaseStore
from django.db import connections, router
from django.utils import timezone


class SessionStore(DatabaseStore):
    def _get_session_from_db(self) -> Any:
        key = self.session_key
        if not key:
            self._session_key = None
            return None
        model = self.model
        table = connections[router.db_for_read(model)].ops.quote_name(model._meta.db_table)
        with connections[router.db_for_read(model)].cursor() as cursor:
            cursor.execute(
                f"SELECT session_data, expire_date FROM {table} "  # noqa: S608 (the model's table)
                "WHERE session_key = %s AND expire_date > %s",
                [key, timezone.now()],
            )
            row = cursor.fetchone()
        if row is None:
            self._session_key = None
            return None
        return model(session_key=key, session_data=row[0], expire_date=row[1])
