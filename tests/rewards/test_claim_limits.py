"""A forgot-card claim is proven by the receipt's amount, so the amount must not be guessable:
wrong claims are limited per member and per receipt (docs/security.md)."""

from __future__ import annotations

import pytest
from django.test import Client

from rewards.errors import PurchaseClaimLimitedError, PurchaseNotClaimableError
from rewards.models import LedgerEntry, Purchase
from rewards.purchases.claims import purchase_claim
from tests import factories
from tests.factories import rewards as rf

pytestmark = pytest.mark.django_db
URL = "/mina-sidor/poang/registrera-kop/"


def _client(member, language: str = "sv") -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE=language)
    client.force_login(member.user)
    return client


@pytest.fixture
def receipt(store):
    rf.base_rule()
    rf.purchase(store=store, member=None, receipt_id="K-55", lines=[rf.line("A", 1, 24950)])
    return "K-55"


@pytest.mark.parametrize(
    ("language", "text"),
    [
        ("sv", "För många försök att registrera ett köp"),
        ("en", "Too many attempts to register a purchase"),
    ],
)
def test_claim_guessing_the_total_is_stopped_before_the_right_one(
    member, store, receipt, language, text
):
    # Given a member guessing the total of someone else's receipt, one krona at a time
    client = _client(member, language)
    for kronor in range(200, 240):
        client.post(URL, {"store": store.pk, "receipt_id": receipt, "total": f"{kronor}.50"})

    # When they then try the right total
    response = client.post(URL, {"store": store.pk, "receipt_id": receipt, "total": "249.50"})

    # Then they are told clearly, in their language, and nothing is claimed
    assert response.status_code == 200
    assert text in response.content.decode()
    assert Purchase.objects.get(receipt_id=receipt).member is None
    assert not LedgerEntry.objects.filter(member=member).exists()


def test_claim_limit_counts_per_receipt_across_members(member, store, receipt):
    # Given two accounts sharing the guessing of one receipt, under each one's own limit
    helper = factories.member_with_user(email="helper@example.se")
    for n, who in enumerate([member, helper, member, helper, member]):
        with pytest.raises(PurchaseNotClaimableError):
            purchase_claim(member=who, store=store, receipt_id=receipt, total_ore=1000 + n)

    # When one of them tries the right total
    # Then the receipt is closed to claims for now
    with pytest.raises(PurchaseClaimLimitedError):
        purchase_claim(member=helper, store=store, receipt_id=receipt, total_ore=24950)
    assert Purchase.objects.get(receipt_id=receipt).member is None


def test_claim_limit_counts_per_member_across_receipts(member, store, receipt):
    # Given a member who tried five receipts that do not exist
    for n in range(5):
        with pytest.raises(PurchaseNotClaimableError):
            purchase_claim(member=member, store=store, receipt_id=f"X-{n}", total_ore=100)

    # When they claim a real receipt with the right total
    # Then they must wait
    with pytest.raises(PurchaseClaimLimitedError):
        purchase_claim(member=member, store=store, receipt_id=receipt, total_ore=24950)


def test_claim_a_few_typos_still_claim(member, store, receipt):
    # Given a member who mistyped the total twice
    for total in (24590, 25950):
        with pytest.raises(PurchaseNotClaimableError):
            purchase_claim(member=member, store=store, receipt_id=receipt, total_ore=total)

    # When they type it right
    purchase = purchase_claim(member=member, store=store, receipt_id=receipt, total_ore=24950)

    # Then the purchase is theirs
    assert purchase.member == member
