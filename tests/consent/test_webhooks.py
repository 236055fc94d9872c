"""Webhooks with a real HTTP receiver on loopback (docs/webhooks.md).

Every event type arrives signed and verifies with the receiver helper the docs publish;
tampered and replayed requests fail; rotation signs with both secrets during the overlap;
blocked URLs are refused when saved and when sent; retries carry the same webhook-id; an
endpoint is disabled after a run of given-up deliveries; each delivery about a member is a
share record, shown on Mina data and in the export.
"""

from __future__ import annotations

import datetime
import html
import json
from collections.abc import Iterator
from typing import Any

import pytest
from django.core import mail
from django.utils import timezone, translation

from consent import privacy_parts
from consent.models import (
    PartnerShare,
    Purpose,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
from consent.webhooks import security
from consent.webhooks.admin import WebhookEndpointForm
from consent.webhooks.delivery import (
    webhook_deliveries_resend,
    webhook_endpoint_replay,
    webhooks_send,
    webhooks_sweep,
)
from consent.webhooks.endpoints import (
    webhook_endpoint_create,
    webhook_endpoint_secret_rotate,
    webhook_endpoint_validate,
)
from consent.webhooks.receiver import InvalidWebhook, webhook_verify
from consent.webhooks.shares import partner_share_rows
from consent.webhooks.signing import signed_headers
from members.models import Member, OutboxEvent
from members.outbox import EVENT_TYPES, outbox_emit
from members.roles import ADMINISTRATOR, DATA_PROTECTION_OFFICER
from tests import factories
from tests.consent.webhook_receiver import Receiver
from tests.factories.consent import granted

pytestmark = [pytest.mark.django_db]

ALL_SCOPES = [
    "members:read",
    "purchases:read",
    "points:read",
    "vouchers:read",
    "events:read",
    "events:all_stores",
]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver().start()
    try:
        yield r
    finally:
        r.stop()


@pytest.fixture
def fast_retries(settings: Any) -> None:
    settings.WEBHOOKS_RETRY_SCHEDULE = [0.01, 0.01, 0.01]
    settings.WEBHOOKS_RETRY_JITTER = 0.0


def _endpoint(
    url: str, *, types: list[str] | None = None, purpose: str = "membership", **extra: Any
):
    store = extra.pop("store", None) or factories.store(name="Webbutiken")
    key, _plain = factories.api_key_with_secret(store_obj=store, scopes=ALL_SCOPES, name="Shop")
    return webhook_endpoint_create(
        url=url,
        description="Web shop",
        event_types=types or list(EVENT_TYPES),
        api_key=key,
        purpose=Purpose.objects.get(code=purpose),
        recipient="Webbutiken",
        reason_sv="visa dina poäng i kassan",
        reason_en="show your points at the till",
        **extra,
    )


def _emit(capture: Any, type_: str, member: Member | None, **data: Any) -> OutboxEvent:
    with capture(execute=True):
        return outbox_emit(type_, member=member, store=None, data=data)


def _send_until_quiet(endpoint_id: int, rounds: int = 20) -> None:
    """Play the worker: send due batches, moving the clock past each retry."""
    now = timezone.now()
    for _ in range(rounds):
        now += datetime.timedelta(seconds=1)
        result = webhooks_send(endpoint_id=endpoint_id, now=now)
        if not result.claimed:
            return


def test_every_event_type_arrives_signed_and_verifies(
    receiver: Receiver, member: Member, django_capture_on_commit_callbacks: Any
) -> None:
    endpoint, secret = _endpoint(receiver.url)
    assert secret.startswith("whsec_")
    events = {}
    for type_, spec in EVENT_TYPES.items():
        events[type_] = _emit(
            django_capture_on_commit_callbacks,
            type_,
            member if spec.member_bound else None,
            **spec.example,
        )
    assert len(receiver.requests) == len(EVENT_TYPES)
    for request in receiver.requests:
        payload = webhook_verify(request.body, request.headers, [secret])
        event = events[payload["type"]]
        assert request.headers["webhook-id"] == f"msg_{event.uuid.hex}" == payload["id"]
        assert payload["version"] == 1
        assert request.headers["content-type"] == "application/json"
        if EVENT_TYPES[payload["type"]].member_bound:
            assert payload["data"]["membership_number"] == member.membership_number
        # ids and small facts only: no personal details by default
        assert "member_details" not in payload["data"]
        assert member.first_name not in request.body.decode()
    assert WebhookDelivery.objects.filter(endpoint=endpoint, status="delivered").count() == len(
        EVENT_TYPES
    )
    member_bound = sum(1 for spec in EVENT_TYPES.values() if spec.member_bound)
    assert PartnerShare.objects.filter(member=member, endpoint=endpoint).count() == member_bound


def test_tampered_and_replayed_requests_fail(
    receiver: Receiver, member: Member, django_capture_on_commit_callbacks: Any
) -> None:
    _endpoint_obj, secret = _endpoint(receiver.url, types=["points.changed"])
    _emit(django_capture_on_commit_callbacks, "points.changed", member, points=10)
    (request,) = receiver.requests
    assert webhook_verify(request.body, request.headers, [secret])["type"] == "points.changed"
    tampered = request.body.replace(b'"points":10', b'"points":99999')
    assert tampered != request.body
    with pytest.raises(InvalidWebhook):
        webhook_verify(tampered, request.headers, [secret])
    with pytest.raises(InvalidWebhook):
        webhook_verify(request.body, request.headers, ["whsec_" + "QUFB" * 11])
    # The same request recorded and sent again ten minutes later: too old.
    old = signed_headers(
        msg_id=request.headers["webhook-id"],
        body=request.body,
        secrets_=[secret],
        now=timezone.now() - datetime.timedelta(minutes=10),
    )
    with pytest.raises(InvalidWebhook):
        webhook_verify(request.body, old, [secret])


def test_rotation_signs_with_both_secrets_during_the_overlap(
    receiver: Receiver, member: Member, django_capture_on_commit_callbacks: Any
) -> None:
    endpoint, old_secret = _endpoint(receiver.url, types=["points.changed"])
    new_secret = webhook_endpoint_secret_rotate(
        endpoint=endpoint, overlap=datetime.timedelta(hours=1)
    )
    assert new_secret != old_secret
    _emit(django_capture_on_commit_callbacks, "points.changed", member, points=1)
    request = receiver.requests[-1]
    assert len(request.headers["webhook-signature"].split(" ")) == 2
    webhook_verify(request.body, request.headers, [old_secret])
    webhook_verify(request.body, request.headers, [new_secret])
    # After the overlap only the new secret signs.
    endpoint.refresh_from_db()
    endpoint.previous_secret_until = timezone.now() - datetime.timedelta(seconds=1)
    endpoint.save(update_fields=["previous_secret_until"])
    _emit(django_capture_on_commit_callbacks, "points.changed", member, points=2)
    request = receiver.requests[-1]
    assert len(request.headers["webhook-signature"].split(" ")) == 1
    webhook_verify(request.body, request.headers, [new_secret])
    with pytest.raises(InvalidWebhook):
        webhook_verify(request.body, request.headers, [old_secret])


@pytest.mark.parametrize(
    ("url", "resolves_to", "message"),
    [
        ("http://127.0.0.1:8000/hooks", None, "loopback"),
        ("https://localhost/hooks", ["127.0.0.1"], "loopback"),
        ("https://169.254.169.254/latest/meta-data", None, "metadata"),
        ("https://10.1.2.3/hooks", None, "private"),
        ("https://192.168.1.20/hooks", None, "private"),
        ("https://[fe80::1]/hooks", None, "link-local"),
        ("https://hooks.partner.example/in", ["10.0.0.7"], "private"),
        ("https://hooks.partner.example/in", ["93.184.216.34", "172.16.0.1"], "private"),
        ("http://hooks.partner.example/in", ["93.184.216.34"], "https"),
        ("ftp://hooks.partner.example/in", None, "https"),
    ],
)
def test_blocked_urls_are_refused_when_saved(
    settings: Any, monkeypatch: Any, url: str, resolves_to: list[str] | None, message: str
) -> None:
    settings.WEBHOOKS_ALLOW_LOOPBACK = False
    if resolves_to is not None:
        monkeypatch.setattr(security, "resolve", lambda host, port: resolves_to)
    store = factories.store()
    key, _plain = factories.api_key_with_secret(store_obj=store, scopes=ALL_SCOPES)
    form = WebhookEndpointForm(
        data={
            "url": url,
            "event_types": ["points.changed"],
            "api_key": key.pk,
            "purpose": Purpose.objects.get(code="membership").pk,
            "recipient": "Webbutiken",
            "reason_sv": "visa poäng",
            "reason_en": "show points",
        }
    )
    with translation.override("en"):
        assert not form.is_valid()
        errors = " ".join(str(e) for e in form.errors.get("url", []))
    assert message in errors, form.errors


def test_a_name_that_later_resolves_to_a_blocked_address_is_refused_when_sent(
    settings: Any,
    monkeypatch: Any,
    receiver: Receiver,
    member: Member,
    django_capture_on_commit_callbacks: Any,
) -> None:
    """DNS rebinding: public when saved, loopback when sent. Nothing reaches the receiver,
    and the attempt says why."""
    settings.WEBHOOKS_ALLOW_LOOPBACK = False
    monkeypatch.setattr(security, "resolve", lambda host, port: ["93.184.216.34"])
    endpoint, _secret = _endpoint(
        f"https://hooks.partner.example:{receiver.port}/in", types=["points.changed"]
    )
    monkeypatch.setattr(security, "resolve", lambda host, port: ["127.0.0.1"])
    _emit(django_capture_on_commit_callbacks, "points.changed", member, points=5)
    assert receiver.requests == []
    attempt = WebhookAttempt.objects.get(delivery__endpoint=endpoint)
    assert not attempt.ok
    assert "loopback" in attempt.error
    monkeypatch.setattr(security, "resolve", lambda host, port: ["169.254.169.254"])
    with pytest.raises(security.WebhookUrlRefusedError, match="metadata"):
        security.url_pin(endpoint.url)


def test_the_request_goes_to_the_checked_address_with_the_name_kept(
    monkeypatch: Any, receiver: Receiver, member: Member, django_capture_on_commit_callbacks: Any
) -> None:
    """Resolved once, checked, then connected to that address: the Host header keeps the
    name (a second lookup could not send it elsewhere)."""
    calls: list[str] = []

    def resolve(host: str, port: int) -> list[str]:
        calls.append(host)
        return ["127.0.0.1"]

    monkeypatch.setattr(security, "resolve", resolve)
    url = f"http://hooks.partner.example:{receiver.port}/in?x=1"
    _endpoint_obj, secret = _endpoint(url, types=["points.changed"])
    pinned = security.url_pin(url)
    assert pinned.url == f"http://127.0.0.1:{receiver.port}/in?x=1"
    calls.clear()
    _emit(django_capture_on_commit_callbacks, "points.changed", member, points=5)
    (request,) = receiver.requests
    assert request.headers["host"] == f"hooks.partner.example:{receiver.port}"
    assert request.path == "/in?x=1"
    assert calls == ["hooks.partner.example"]
    webhook_verify(request.body, request.headers, [secret])


def test_a_failing_receiver_gets_retries_with_the_same_webhook_id(
    receiver: Receiver, member: Member, fast_retries: None, django_capture_on_commit_callbacks: Any
) -> None:
    receiver.fail_first = 2
    endpoint, secret = _endpoint(receiver.url, types=["points.changed"])
    event = _emit(django_capture_on_commit_callbacks, "points.changed", member, points=7)
    # Tasks run in-process here: each short retry is queued with its countdown at once.
    _send_until_quiet(endpoint.pk)
    (request,) = receiver.requests
    assert request.headers["webhook-id"] == event.webhook_id
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    assert delivery.status == "delivered"
    assert delivery.attempts == 3
    codes = list(delivery.attempt_log.order_by("number").values_list("status_code", "ok"))
    assert codes == [(503, False), (503, False), (200, True)]
    assert delivery.attempt_log.get(number=1).response_body == "down for now"
    webhook_verify(request.body, request.headers, [secret])


def test_an_endpoint_is_disabled_after_a_run_of_given_up_deliveries(
    settings: Any, receiver: Receiver, member: Member, django_capture_on_commit_callbacks: Any
) -> None:
    settings.WEBHOOKS_RETRY_SCHEDULE = []  # one attempt, then given up
    settings.WEBHOOKS_DISABLE_AFTER = 3
    admin_user = factories.staff_user(email="admin@example.se", role=ADMINISTRATOR)
    receiver.status = 500
    endpoint, _secret = _endpoint(receiver.url, types=["points.changed"])
    for points in range(3):
        _emit(django_capture_on_commit_callbacks, "points.changed", member, points=points)
    endpoint.refresh_from_db()
    assert not endpoint.active
    assert endpoint.failures_in_row == 3
    assert WebhookDelivery.objects.filter(endpoint=endpoint, status="failed").count() == 3
    (message,) = mail.outbox
    assert message.to == [admin_user.email]
    assert endpoint.url in message.body
    # Disabled: a new event is not delivered; a replay after enabling sends it.
    event = _emit(django_capture_on_commit_callbacks, "points.changed", member, points=99)
    assert not WebhookDelivery.objects.filter(event=event).exists()


def test_a_success_resets_the_run(
    settings: Any, receiver: Receiver, member: Member, django_capture_on_commit_callbacks: Any
) -> None:
    settings.WEBHOOKS_RETRY_SCHEDULE = []
    settings.WEBHOOKS_DISABLE_AFTER = 2
    endpoint, _secret = _endpoint(receiver.url, types=["points.changed"])
    receiver.status = 500
    _emit(django_capture_on_commit_callbacks, "points.changed", member, points=1)
    receiver.status = 200
    _emit(django_capture_on_commit_callbacks, "points.changed", member, points=2)
    receiver.status = 500
    _emit(django_capture_on_commit_callbacks, "points.changed", member, points=3)
    endpoint.refresh_from_db()
    assert endpoint.active
    assert endpoint.failures_in_row == 1


def test_send_again_and_replay_since_carry_the_same_ids(
    receiver: Receiver, member: Member, django_capture_on_commit_callbacks: Any
) -> None:
    endpoint, _secret = _endpoint(receiver.url, types=["points.changed", "tier.changed"])
    first = _emit(django_capture_on_commit_callbacks, "points.changed", member, points=1)
    second = _emit(django_capture_on_commit_callbacks, "tier.changed", member, to_tier="gold")
    assert receiver.ids() == [first.webhook_id, second.webhook_id]
    with django_capture_on_commit_callbacks(execute=True):
        webhook_deliveries_resend(
            delivery_ids=[WebhookDelivery.objects.get(event=first, endpoint=endpoint).pk]
        )
    assert receiver.ids()[-1] == first.webhook_id
    with django_capture_on_commit_callbacks(execute=True):
        count = webhook_endpoint_replay(
            endpoint=endpoint, since=timezone.now() - datetime.timedelta(hours=1)
        )
    assert count == 2
    assert sorted(receiver.ids()[-2:]) == sorted([first.webhook_id, second.webhook_id])


def test_the_sweep_fans_out_what_a_lost_task_missed_and_frees_stuck_deliveries(
    receiver: Receiver, member: Member
) -> None:
    """No on-commit hook ran (a process killed after commit): the sweep finds the events."""
    endpoint, _secret = _endpoint(receiver.url, types=["points.changed"])
    event = outbox_emit("points.changed", member=member, data={"points": 3})  # no hook
    found = webhooks_sweep()
    assert found["fanned_out"] == 1
    assert found["endpoints"] == [endpoint.pk]
    delivery = WebhookDelivery.objects.get(event=event)
    # A worker claimed it and was killed: the lease runs out, the sweep frees it.
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        status="sending", claimed_until=timezone.now() - datetime.timedelta(seconds=1)
    )
    found = webhooks_sweep()
    assert found["freed"] == 1
    assert found["fanned_out"] == 0
    webhooks_send(endpoint_id=endpoint.pk)
    assert receiver.ids() == [event.webhook_id]


def test_integration_scopes_limit_the_event_types(member: Member) -> None:
    store = factories.store()
    key, _plain = factories.api_key_with_secret(store_obj=store, scopes=["members:read"])
    with pytest.raises(Exception, match="purchases:read"):
        webhook_endpoint_validate(
            {
                "url": "http://127.0.0.1:9/x",
                "event_types": ["purchase.recorded", "member.joined"],
                "api_key": key,
                "purpose": Purpose.objects.get(code="membership"),
            }
        )


def test_a_purpose_that_needs_consent_sends_only_for_members_who_agreed(
    receiver: Receiver, django_capture_on_commit_callbacks: Any
) -> None:
    _endpoint(
        receiver.url,
        types=["points.changed"],
        purpose="partner_sportresor",
        personal_data=["name", "email"],
    )
    agreed = factories.member_with_user(first_name="Agnes")
    granted(agreed, "partner_sportresor")
    other = factories.member_with_user(first_name="Olle")
    _emit(django_capture_on_commit_callbacks, "points.changed", agreed, points=1)
    _emit(django_capture_on_commit_callbacks, "points.changed", other, points=1)
    (request,) = receiver.requests
    details = json.loads(request.body)["data"]["member_details"]
    assert details["first_name"] == "Agnes"
    assert agreed.user is not None
    assert details["email"] == agreed.user.email
    assert WebhookDelivery.objects.get(event__member=other).status == "skipped"
    share = PartnerShare.objects.get(member=agreed)
    assert share.data_categories == ["email", "membership_number", "name", "points"]
    assert not PartnerShare.objects.filter(member=other).exists()


def test_personal_details_beyond_the_purpose_are_refused(member: Member) -> None:
    key, _plain = factories.api_key_with_secret(scopes=ALL_SCOPES)
    with translation.override("en"), pytest.raises(Exception, match="does not allow"):
        webhook_endpoint_validate(
            {
                "url": "http://127.0.0.1:9/x",
                "event_types": ["points.changed"],
                "api_key": key,
                "purpose": Purpose.objects.get(code="analytics"),
                "personal_data": ["email"],
            }
        )


def test_mina_data_and_the_export_show_the_share(
    receiver: Receiver, member: Member, django_capture_on_commit_callbacks: Any
) -> None:
    _endpoint(receiver.url, types=["points.changed"])
    event = _emit(django_capture_on_commit_callbacks, "points.changed", member, points=10)
    PartnerShare.objects.filter(member=member).update(
        shared_at=datetime.datetime(2026, 12, 4, 12, 0, tzinfo=datetime.UTC)
    )
    with translation.override("en"):
        (row,) = partner_share_rows(member)
    assert row["text"] == (
        "Webbutiken received your membership number and your points on 4 Dec 2026 to show "
        "your points at the till"
    )
    with translation.override("sv"):
        (row,) = partner_share_rows(member)
    assert "4 dec. 2026" in row["text"]
    assert "visa dina poäng i kassan" in row["text"]
    sections = {s.name: s for s in privacy_parts.export_sections()}
    shares = [s for name, s in sections.items() if "partner" in name]
    rows = [row for section in shares for row in section.rows(member)]
    assert any(
        r.get("recipient") == "Webbutiken" and r.get("event_type") == event.type for r in rows
    ), rows


def test_administrators_only_and_the_secret_is_shown_once(client: Any, receiver: Receiver) -> None:
    dpo = factories.staff_user(role=DATA_PROTECTION_OFFICER)
    client.force_login(dpo)
    assert client.get("/admin/consent/webhookendpoint/").status_code == 403
    admin_user = factories.staff_user(role=ADMINISTRATOR)
    client.force_login(admin_user)
    key, _plain = factories.api_key_with_secret(scopes=ALL_SCOPES)
    response = client.post(
        "/admin/consent/webhookendpoint/add/",
        {
            "url": receiver.url,
            "description": "Shop",
            "event_types": ["points.changed"],
            "api_key": key.pk,
            "purpose": Purpose.objects.get(code="membership").pk,
            "recipient": "Webbutiken",
            "reason_sv": "visa dina poäng",
            "reason_en": "show your points",
        },
        follow=True,
    )
    assert response.status_code == 200
    shown = [str(m) for m in response.context["messages"]]
    endpoint = WebhookEndpoint.objects.get()
    assert any(endpoint.secret in m for m in shown)
    page = client.get(f"/admin/consent/webhookendpoint/{endpoint.pk}/change/")
    assert endpoint.secret not in page.content.decode()


def test_the_helper_the_docs_publish_verifies_a_delivery(
    receiver: Receiver, member: Member, django_capture_on_commit_callbacks: Any
) -> None:
    """The Python block under "Verifying a webhook" in docs/webhooks.md, run as written."""
    from pathlib import Path

    from django.conf import settings

    text = (Path(settings.BASE_DIR) / "docs" / "webhooks.md").read_text()
    section = text[text.index("### Verifying a webhook") :]
    code = section[section.index("```python") + len("```python") : section.index("```\n\n")]
    namespace: dict[str, Any] = {}
    exec(compile(code, "docs/webhooks.md", "exec"), namespace)  # noqa: S102 - our own docs
    _endpoint_obj, secret = _endpoint(receiver.url, types=["points.changed"])
    _emit(django_capture_on_commit_callbacks, "points.changed", member, points=4)
    (request,) = receiver.requests
    assert (
        namespace["webhook_verify"](request.body, request.headers, [secret])["data"]["points"] == 4
    )
    with pytest.raises(namespace["InvalidWebhook"]):
        namespace["webhook_verify"](request.body + b" ", request.headers, [secret])


def test_mina_data_page_shows_the_share_in_words(
    client: Any, receiver: Receiver, django_capture_on_commit_callbacks: Any
) -> None:
    member = factories.member_with_user()
    _endpoint(receiver.url, types=["points.changed"])
    _emit(django_capture_on_commit_callbacks, "points.changed", member, points=10)
    client.force_login(member.user)
    page = client.get("/mina-sidor/mina-data/", HTTP_ACCEPT_LANGUAGE="en")
    text = page.content.decode()
    assert page.status_code == 200
    assert "Webbutiken received your membership number and your points on" in text
    assert "to show your points at the till" in text


def test_erasure_keeps_the_share_and_scrubs_the_receivers_answer(
    receiver: Receiver, django_capture_on_commit_callbacks: Any
) -> None:
    """A receiver that echoes the membership number: erasure scrubs it from the log; the
    share record stays (proof of what was shared) without identifying the member."""
    from consent.services.erasure import member_anonymise

    member = factories.member_with_user()
    receiver.answer = f'{{"stored": "{member.membership_number}"}}'.encode()
    endpoint, _secret = _endpoint(receiver.url, types=["points.changed"])
    _emit(django_capture_on_commit_callbacks, "points.changed", member, points=10)
    attempt = WebhookAttempt.objects.get(delivery__endpoint=endpoint)
    assert member.membership_number in attempt.response_body
    number = member.membership_number
    with django_capture_on_commit_callbacks(execute=True):
        assert member_anonymise(member_id=member.pk)
    attempt.refresh_from_db()
    assert number not in attempt.response_body
    share = PartnerShare.objects.get(member=member, endpoint=endpoint)
    assert share.recipient == "Webbutiken"
    assert share.data_categories == ["membership_number", "points"]


def test_https_keeps_the_name_for_tls_while_connecting_to_the_checked_address(
    monkeypatch: Any, settings: Any
) -> None:
    """For https the TLS server name (SNI, and so the certificate check) is the URL's name,
    while the connection goes to the address that was checked."""
    from consent.webhooks import delivery

    settings.WEBHOOKS_ALLOW_LOOPBACK = False
    monkeypatch.setattr(security, "resolve", lambda host, port: ["93.184.216.34"])
    pinned = security.url_pin("https://hooks.partner.example/in")
    assert pinned.url == "https://93.184.216.34/in"
    seen: dict[str, Any] = {}

    class Stream:
        status_code = 204
        is_success = True

        def __enter__(self) -> Stream:
            return self

        def __exit__(self, *args: Any) -> None:
            return None

        def iter_raw(self) -> Iterator[bytes]:
            yield b""

    def stream(method: str, url: str, **kwargs: Any) -> Stream:
        seen.update(url=url, **kwargs)
        return Stream()

    client = delivery._client(pinned.host, pinned.address)
    monkeypatch.setattr(client, "stream", stream)
    outcome = delivery._post(client, pinned, b"{}", {"webhook-id": "msg_x"})
    assert outcome.ok
    assert seen["url"] == "https://93.184.216.34/in"
    assert seen["headers"]["Host"] == "hooks.partner.example"
    assert seen["extensions"] == {"sni_hostname": "hooks.partner.example"}


def test_admin_send_again_and_replay_since(
    client: Any, receiver: Receiver, member: Member, django_capture_on_commit_callbacks: Any
) -> None:
    admin_user = factories.staff_user(role=ADMINISTRATOR)
    client.force_login(admin_user)
    endpoint, _secret = _endpoint(receiver.url, types=["points.changed"])
    event = _emit(django_capture_on_commit_callbacks, "points.changed", member, points=1)
    delivery = WebhookDelivery.objects.get(event=event)
    page = client.get(f"/admin/consent/webhookdelivery/{delivery.pk}/change/")
    assert page.status_code == 200
    assert "200" in page.content.decode()  # the attempt's status code in the log
    # the event type with what it means, in the back-office's language
    with translation.override("sv"):
        described = f"points.changed – {EVENT_TYPES['points.changed'].description}"
    assert "Poäng" in described or "poäng" in described  # (the description is translated)
    listing = client.get("/admin/consent/webhookdelivery/").content.decode()
    assert html.escape(described) in listing
    assert html.escape(described) in page.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            "/admin/consent/webhookdelivery/",
            {"action": "send_again", "_selected_action": [delivery.pk]},
        )
    assert receiver.ids() == [event.webhook_id, event.webhook_id]
    form = client.post(
        "/admin/consent/webhookendpoint/",
        {"action": "replay_since", "_selected_action": [endpoint.pk]},
    )
    assert b'name="since"' in form.content
    refused = client.post(
        "/admin/consent/webhookendpoint/",
        {"action": "replay_since", "_selected_action": [endpoint.pk], "since": "2999-01-01"},
    )
    assert (
        "Välj en tidpunkt som har varit." in refused.content.decode()
    )  # the back-office in Swedish
    since = timezone.localtime() - datetime.timedelta(hours=1)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            "/admin/consent/webhookendpoint/",
            {
                "action": "replay_since",
                "_selected_action": [endpoint.pk],
                "since": since.strftime("%Y-%m-%dT%H:%M"),
            },
        )
    assert receiver.ids() == [event.webhook_id] * 3
