"""kombu's Redis transport, with one failure turned into the kind the worker recovers from.

When Redis goes away, the worker's consumer closes its broker connection: kombu sets the
transport's ``client`` to None. A channel of that connection can still be asked to reach
Redis afterwards: restoring its unacknowledged messages on close or on the hub's periodic
``restore_visible``. When its connection pool was already dropped, kombu builds a new one
from ``self.connection.client.hostname`` and raises
``AttributeError: 'NoneType' object has no attribute 'hostname'``. That is no connection
error, so Celery calls it unrecoverable and the worker process exits: under load this was
seen in the broker-restart tests and the soak, and no supervisor was needed before it.

Here the same moment raises redis-py's ``ConnectionError``: the consumer treats it like any
other lost connection and reconnects. Nothing is lost by not restoring: a broker that
restarted without persistence has no queue to restore to (the sweeper queues the work
again from the database, docs/campaigns.md "After a broker restart"), and one with
persistence keeps the unacknowledged messages and returns them after the visibility
timeout.

``config/celery.py`` maps the ``redis://`` and ``rediss://`` schemes to this transport.
"""

from __future__ import annotations

from typing import Any

import redis
from kombu.transport import redis as kombu_redis


class Channel(kombu_redis.Channel):
    def _connparams(self, asynchronous: bool = False) -> dict[str, Any]:
        transport = self.connection
        if transport is None or transport.client is None:
            raise redis.exceptions.ConnectionError("the broker connection was closed")
        # kombu's stubs leave out this private method
        params: dict[str, Any] = super()._connparams(asynchronous=asynchronous)  # type: ignore[misc]
        return params


class Transport(kombu_redis.Transport):
    Channel = Channel
