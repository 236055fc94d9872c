"""The campaigns queue: fan-out chunks and send batches are routed to it, a worker without
-Q consumes it with the default queue, and a worker consuming only it lowers its own CPU
priority (docs/deploy.md, "Celery workers"; docs/benchmarks.md, "Mixed")."""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings

import campaigns.tasks
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


@pytest.mark.parametrize(
    ("queues", "pace", "took", "rest"),
    [
        ({"campaigns"}, 1.0, 2.0, 2.0),
        ({"campaigns"}, 0.5, 2.0, 1.0),
        ({"campaigns"}, 1.0, 90.0, 30.0),  # never more than MAX_REST_SECONDS
        ({"campaigns"}, 0.0, 2.0, 0.0),
        ({"celery", "campaigns"}, 1.0, 2.0, 0.0),  # would hold up the default queue
        (None, 1.0, 2.0, 0.0),
    ],
)
def test_only_a_campaigns_worker_rests_in_proportion_to_its_work(
    monkeypatch: pytest.MonkeyPatch,
    settings: Any,
    queues: set[str] | None,
    pace: float,
    took: float,
    rest: float,
) -> None:
    settings.CAMPAIGNS_SEND_PACE = pace
    selected = None if queues is None else {name: app.amqp.queues[name] for name in queues}
    monkeypatch.setattr(app.amqp.queues, "_consume_from", selected)
    slept: list[float] = []
    monkeypatch.setattr(campaigns.tasks.time, "monotonic", lambda: 100.0 + took)
    monkeypatch.setattr(campaigns.tasks.time, "sleep", slept.append)
    assert campaigns.tasks.campaigns_rest(started=100.0) == rest
    assert slept == ([rest] if rest else [])


@pytest.mark.django_db
def test_send_and_fanout_tasks_rest_after_their_work(
    monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    settings.CAMPAIGNS_SEND_PACE = 1.0
    monkeypatch.setattr(
        app.amqp.queues, "_consume_from", {"campaigns": app.amqp.queues["campaigns"]}
    )
    order: list[str] = []
    monkeypatch.setattr(
        campaigns.tasks.batch, "deliveries_send", lambda **_kw: order.append("send") or {}
    )
    monkeypatch.setattr(
        campaigns.tasks, "fanout_chunk_run", lambda **_kw: order.append("fanout") or 0
    )
    monkeypatch.setattr(campaigns.tasks.time, "sleep", lambda _s: order.append("rest"))
    campaigns.tasks.deliveries_send.run([1, 2])
    campaigns.tasks.fanout_chunk.run(7)
    assert order == ["send", "rest", "fanout", "rest"]
