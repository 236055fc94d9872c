"""The broker transport (config/broker_transport.py): a channel asked to reach Redis after its
connection was closed raises a connection error, which the worker's consumer recovers from
by reconnecting, never kombu's AttributeError, which makes Celery exit the worker."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis
from django.conf import settings
from kombu import Connection
from kombu.transport import redis as kombu_redis

from config.broker_transport import Transport
from config.celery import app


def test_every_redis_broker_url_gets_the_transport() -> None:
    assert isinstance(app.connection_for_write().transport, Transport)
    for url in ("redis://127.0.0.1:6379/0", "rediss://127.0.0.1:6380/0"):
        assert Connection(url).get_transport_cls() is Transport
    assert not issubclass(Connection("filesystem://").get_transport_cls(), Transport)


@pytest.fixture
def closed_channel(request: pytest.FixtureRequest) -> Iterator[kombu_redis.Channel]:
    """A channel with one message delivered and not acknowledged, whose connection kombu then
    closed (the transport's client cleared, as ``Connection.collect`` does when the consumer
    loses the broker) and whose pools were dropped (as after a fork)."""
    connection = Connection(settings.CELERY_BROKER_URL, transport=request.param)
    channel = connection.channel()
    queue = "kundklubb-transport-test"
    channel.queue_declare(queue)
    channel.basic_publish(channel.prepare_message("hello"), exchange="", routing_key=queue)
    message = channel.basic_get(queue, no_ack=False)
    assert message is not None
    assert len(channel.qos._delivered) == 1
    connection.transport.client = None
    channel._after_fork()
    try:
        yield channel
    finally:
        channel.qos._on_collect.cancel()  # no restore attempt at exit either
        cleanup = redis.Redis.from_url(settings.CELERY_BROKER_URL)
        cleanup.delete(queue, channel.unacked_key, channel.unacked_index_key)
        cleanup.close()


@pytest.mark.parametrize("closed_channel", [Transport], indirect=True)
def test_a_closed_connection_is_a_connection_error(closed_channel: kombu_redis.Channel) -> None:
    with pytest.raises(redis.exceptions.ConnectionError, match="broker connection was closed"):
        closed_channel.qos.restore_unacked()
    with pytest.raises(redis.exceptions.ConnectionError):
        closed_channel.qos.restore_visible(interval=1)
    # which is among what the worker's consumer catches to reconnect
    assert redis.exceptions.ConnectionError in app.connection_for_write().connection_errors


@pytest.mark.parametrize("closed_channel", [kombu_redis.Transport], indirect=True)
def test_kombus_own_transport_still_fails_with_attribute_error(
    closed_channel: kombu_redis.Channel,
) -> None:
    """Why the subclass exists: if a kombu release fixes this, this test fails and the
    subclass can go (the lock file pins kombu, tests/test_lockfile.py)."""
    with pytest.raises(AttributeError, match="hostname"):
        closed_channel.qos.restore_unacked()
