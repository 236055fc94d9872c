"""The campaigns queue: fan-out chunks and send batches are routed to it, a worker without
-Q consumes it with the default queue, and a worker consuming only it lowers its own CPU
priority (docs/deploy.md, "Celery workers"; docs/benchmarks.md, "Mixed")."""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings

import config.celery
from config.celery import app, campaigns_only_nice


def test_campaign_work_is_routed_to_its_queue() -> None:
    router = app.amqp.router
    for name in ("campaigns.tasks.fanout_chunk", "campaigns.tasks.deliveries_send"):
        assert router.route({}, name)["queue"].name == settings.CAMPAIGNS_QUEUE == "campaigns"
    for name in (
        "campaigns.tasks.campaign_start",
        "campaigns.tasks.deliveries_sweep",
        "members.tasks.activity_drain",
        "members.tasks.email_send",
    ):
        assert router.route({}, name)["queue"].name == "celery"


def test_a_worker_without_q_consumes_both_queues() -> None:
    assert set(app.amqp.queues.consume_from) == {"celery", "campaigns"}


@pytest.mark.parametrize(
    ("queues", "expected"),
    [({"campaigns"}, 10), ({"celery", "campaigns"}, 0), ({"celery"}, 0), (None, 0)],
)
def test_only_a_campaigns_worker_lowers_its_priority(
    monkeypatch: pytest.MonkeyPatch, queues: set[str] | None, expected: int
) -> None:
    calls: list[tuple[Any, ...]] = []
    selected = None if queues is None else {name: app.amqp.queues[name] for name in queues}
    monkeypatch.setattr(app.amqp.queues, "_consume_from", selected)
    monkeypatch.setattr(config.celery.os, "getpriority", lambda *_args: 0)
    monkeypatch.setattr(config.celery.os, "setpriority", lambda *args: calls.append(args))
    monkeypatch.setattr(config.celery, "autogroup_nice", lambda n: calls.append(("group", n)))
    assert campaigns_only_nice() == expected
    assert calls == ([(config.celery.os.PRIO_PROCESS, 0, 10), ("group", 10)] if expected else [])


def test_the_session_is_lowered_too_never_raised(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    group = tmp_path / "autogroup"
    monkeypatch.setattr(config.celery, "AUTOGROUP", group)
    group.write_text("/autogroup-7 nice 0\n")
    config.celery.autogroup_nice(10)
    assert group.read_text() == "10"
    group.write_text("/autogroup-7 nice 15\n")
    config.celery.autogroup_nice(10)
    assert group.read_text() == "/autogroup-7 nice 15\n"
    group.unlink()
    config.celery.autogroup_nice(10)  # no autogroups: nothing happens


def test_already_lower_priority_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        app.amqp.queues, "_consume_from", {"campaigns": app.amqp.queues["campaigns"]}
    )
    monkeypatch.setattr(config.celery.os, "getpriority", lambda *_args: 15)
    monkeypatch.setattr(
        config.celery.os, "setpriority", lambda *_args: pytest.fail("must not raise priority")
    )
    assert campaigns_only_nice() == 15
