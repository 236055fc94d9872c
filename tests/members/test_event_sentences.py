"""The timeline as sentences (issue 14, docs/desk.md): every kind of event the apps record
reads as a sentence in the page's language, with names (a reward's, a tier's, a campaign's,
an interest's) looked up, never a code; a name whose row is gone falls back to the kind's
label and its facts."""

from __future__ import annotations

import datetime
import re
from types import SimpleNamespace
from typing import Any

import pytest
from django.utils import timezone, translation

from campaigns.models import Campaign, Offer
from consent.models import Interest
from members.activity_kinds import Kind
from members.labels import EVENT_KIND_LABELS, EVENT_SENTENCES, event_sentence
from rewards.models import Badge, Challenge
from tests import factories
from tests.factories import campaigns as cf
from tests.factories import rewards as rf

pytestmark = pytest.mark.django_db


@pytest.fixture
def names() -> dict[str, Any]:
    """Rows whose names the sentences look up."""
    shop = factories.store(name="Södermalm")
    reward = rf.reward(code="tygkasse", name_sv="Tygkasse", name_en="Tote bag")
    tier = rf.tier(code="guld", rank=2, name_sv="Guld", name_en="Gold")
    challenge = Challenge.objects.create(
        code="run3",
        kind="purchases",
        name_sv="Tre löprundor",
        name_en="Three runs",
        target=3,
        badge=Badge.objects.create(code="runner", name_sv="Löpare", name_en="Runner"),
        starts_at=timezone.now() - datetime.timedelta(days=1),
    )
    Interest.objects.get_or_create(
        code="running", defaults={"name_sv": "Löpning", "name_en": "Running"}
    )
    Interest.objects.get_or_create(code="yoga", defaults={"name_sv": "Yoga", "name_en": "Yoga"})
    campaign = cf.campaign(name="Vårkampanj")
    offer = cf.offer(name="Dubbla poäng på skor")
    return {
        "shop": shop,
        "reward": reward.pk,
        "tier": tier.pk,
        "challenge": challenge.pk,
        "campaign": campaign.pk,
        "offer": offer.pk,
    }


def _event(kind: str, data: dict[str, Any], store: Any = None) -> SimpleNamespace:
    return SimpleNamespace(
        kind=kind, data=data, store=store, store_id=store.pk if store is not None else None
    )


def _every_kind(n: dict[str, Any]) -> dict[str, SimpleNamespace]:
    """One event of each kind, with the facts its service records."""
    shop = n["shop"]
    return {
        Kind.JOINED: _event(Kind.JOINED, {"channel": "web", "home_store_id": shop.pk}),
        Kind.EMAIL_VERIFIED: _event(Kind.EMAIL_VERIFIED, {}),
        Kind.ACCOUNT_ACTIVATED: _event(Kind.ACCOUNT_ACTIVATED, {"channel": "email"}),
        Kind.PROFILE_UPDATED: _event(Kind.PROFILE_UPDATED, {"fields": ["phone"]}),
        Kind.CARD_ROTATED: _event(Kind.CARD_ROTATED, {}),
        Kind.LANGUAGE_CHANGED: _event(Kind.LANGUAGE_CHANGED, {"language": "en"}),
        Kind.PURCHASED: _event(Kind.PURCHASED, {"total_ore": 129800, "points": 129}, shop),
        Kind.RETURNED: _event(Kind.RETURNED, {"return_id": 3, "points": -20}, shop),
        Kind.PURCHASE_CLAIMED: _event(Kind.PURCHASE_CLAIMED, {"purchase_id": 1, "points": 40}),
        Kind.CHECKED_IN: _event(Kind.CHECKED_IN, {"checkin_id": 1}, shop),
        Kind.POINTS_ADJUSTED: _event(Kind.POINTS_ADJUSTED, {"entry_id": 1, "points": 150}),
        Kind.POINTS_REDEEMED: _event(Kind.POINTS_REDEEMED, {"entry_id": 1, "points": 500}),
        Kind.POINTS_EXPIRED: _event(Kind.POINTS_EXPIRED, {"entry_id": 1, "points": 75}),
        Kind.REWARD_CLAIMED: _event(
            Kind.REWARD_CLAIMED, {"reward_id": n["reward"], "voucher_id": 1, "points": 100}
        ),
        Kind.VOUCHER_USED: _event(Kind.VOUCHER_USED, {"reward_id": n["reward"]}, shop),
        Kind.TIER_CHANGED: _event(
            Kind.TIER_CHANGED, {"to": n["tier"], "to_code": "guld", "reason": "purchase"}
        ),
        Kind.BENEFIT_CHOSEN: _event(Kind.BENEFIT_CHOSEN, {"benefit_ids": [1], "period": "x"}),
        Kind.VOUCHER_CANCELLED: _event(Kind.VOUCHER_CANCELLED, {"voucher_id": 1, "points": 100}),
        Kind.WAITLIST_JOINED: _event(Kind.WAITLIST_JOINED, {"reward_id": n["reward"]}),
        Kind.REFERRAL_JOINED: _event(Kind.REFERRAL_JOINED, {"referral_id": 1}),
        Kind.REVIEW_SUBMITTED: _event(Kind.REVIEW_SUBMITTED, {"review_id": 1, "kind": "review"}),
        Kind.CHALLENGE_COMPLETED: _event(
            Kind.CHALLENGE_COMPLETED, {"challenge_id": n["challenge"], "points": 200}
        ),
        Kind.REFERRAL_COMPLETED: _event(Kind.REFERRAL_COMPLETED, {"referral_id": 1}),
        Kind.REVIEW_APPROVED: _event(Kind.REVIEW_APPROVED, {"review_id": 1, "kind": "review"}),
        Kind.CONSENT_GRANTED: _event(Kind.CONSENT_GRANTED, {"purpose": "marketing_email"}),
        Kind.CONSENT_WITHDRAWN: _event(Kind.CONSENT_WITHDRAWN, {"purpose": "marketing_sms"}),
        Kind.PREFERENCES_CHANGED: _event(Kind.PREFERENCES_CHANGED, {"paused_days": 30}),
        Kind.INTERESTS_CHANGED: _event(
            Kind.INTERESTS_CHANGED, {"added": ["running", "yoga"], "removed": []}
        ),
        Kind.INTERESTS_ASKED: _event(Kind.INTERESTS_ASKED, {}),
        Kind.MESSAGE_RECEIVED: _event(
            Kind.MESSAGE_RECEIVED, {"campaign_id": n["campaign"], "channel": "email"}
        ),
        Kind.OFFER_ACTIVATED: _event(Kind.OFFER_ACTIVATED, {"offer_id": n["offer"]}),
        Kind.DATA_EXPORTED: _event(Kind.DATA_EXPORTED, {"privacy_request_id": 1}),
        Kind.ERASURE_REQUESTED: _event(Kind.ERASURE_REQUESTED, {"privacy_request_id": 1}),
        Kind.ERASURE_CANCELLED: _event(Kind.ERASURE_CANCELLED, {"privacy_request_id": 1}),
        Kind.ERASED: _event(Kind.ERASED, {}),
        Kind.MERGED: _event(Kind.MERGED, {"merge": 1, "merged_member": 2}),
    }


SWEDISH = {
    Kind.JOINED: "Blev medlem via webb",
    Kind.ACCOUNT_ACTIVATED: "Aktiverade sitt konto på webben via e-post",
    Kind.LANGUAGE_CHANGED: "Valde engelska som språk",
    Kind.RETURNED: "Lämnade tillbaka varor i Södermalm",
    Kind.POINTS_REDEEMED: "Använde 500 poäng",
    Kind.POINTS_EXPIRED: "75 poäng gick ut",
    Kind.REWARD_CLAIMED: "Valde belöningen Tygkasse",
    Kind.VOUCHER_USED: "Använde värdechecken för Tygkasse i Södermalm",
    Kind.TIER_CHANGED: "Ny nivå: Guld",
    Kind.WAITLIST_JOINED: "Ställde sig i kö för Tygkasse",
    Kind.CHALLENGE_COMPLETED: "Klarade utmaningen Tre löprundor: 200 p",
    Kind.CONSENT_WITHDRAWN: "Drog tillbaka samtycket till Erbjudanden via SMS",
    Kind.PREFERENCES_CHANGED: "Pausade erbjudanden i 30 dagar",
    Kind.INTERESTS_CHANGED: "Ändrade sina intressen: lade till Löpning, Yoga, tog bort —",
    Kind.MESSAGE_RECEIVED: "Fick Vårkampanj via e-post",
    Kind.OFFER_ACTIVATED: "Aktiverade erbjudandet Dubbla poäng på skor",
}
ENGLISH = {
    Kind.JOINED: "Became a member via web",
    Kind.ACCOUNT_ACTIVATED: "Activated their online account via email",
    Kind.REWARD_CLAIMED: "Chose the reward Tote bag",
    Kind.TIER_CHANGED: "New tier: Gold",
    Kind.CHALLENGE_COMPLETED: "Completed the challenge Three runs: 200 p",
    Kind.INTERESTS_CHANGED: "Changed their interests: added Running, Yoga, removed —",
    Kind.MESSAGE_RECEIVED: "Received Vårkampanj via email",
}
CODE = re.compile(r"\b[a-z]+_[a-z_]+\b")  # consent_granted, marketing_email, to_code ...


def test_every_kind_of_event_has_a_sentence() -> None:
    assert set(EVENT_SENTENCES) == set(Kind)
    assert set(EVENT_KIND_LABELS) == set(Kind)


@pytest.mark.parametrize(("language", "expected"), [("sv", SWEDISH), ("en", ENGLISH)])
def test_every_event_reads_as_a_sentence_with_names_and_no_codes(
    names: dict[str, Any], language: str, expected: dict[str, str]
) -> None:
    with translation.override(language):
        sentences = {kind: event_sentence(event) for kind, event in _every_kind(names).items()}
    assert set(sentences) == set(Kind)
    for kind, sentence in sentences.items():
        assert not CODE.search(sentence), (kind, sentence)
        assert ":" not in sentence or kind in (
            Kind.POINTS_ADJUSTED,
            Kind.PURCHASE_CLAIMED,
            Kind.TIER_CHANGED,
            Kind.CHALLENGE_COMPLETED,
            Kind.INTERESTS_CHANGED,
        ), (kind, sentence)  # a sentence, not "label: facts"
    for kind, sentence in expected.items():
        assert sentences[kind] == sentence


def test_a_name_whose_row_is_gone_falls_back_to_the_label(names: dict[str, Any]) -> None:
    Campaign.objects.all().delete()
    Offer.objects.all().delete()
    with translation.override("en"):
        gone = event_sentence(_event(Kind.MESSAGE_RECEIVED, {"campaign_id": 1, "channel": "sms"}))
    assert gone == "Received a message: channel: SMS"
