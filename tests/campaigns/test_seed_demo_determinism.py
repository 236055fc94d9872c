"""The demo is deterministic: the same seed on a fresh database gives the same data, row for
row (what is random on purpose, such as voucher codes and card secrets, aside), and another
seed gives other data. A fresh database is an emptied one with its id sequences reset: the
campaign engine splits members by a hash of their id."""

from __future__ import annotations

import datetime
import io
from typing import Any

import pytest
import time_machine
from django.apps import apps
from django.core.management import call_command
from django.core.management.color import no_style
from django.core.management.sql import sql_flush
from django.db import connection
from django.db.models.functions import Coalesce

from campaigns.models import Delivery, MemberOffer, MemberRecommendation, ProductAffinity
from consent.defaults import defaults_ensure
from consent.models import ConsentState
from members.models import Member
from rewards.models import (
    ChallengeProgress,
    LedgerEntry,
    MemberTier,
    PointBalance,
    Purchase,
    Referral,
    Review,
    Voucher,
)

pytestmark = pytest.mark.django_db(transaction=True)

# Loaded "at" a fixed moment, so that even the jobs run after the history (maturing,
# tiers, personalisation) stamp the same times.
LOADED_AT = datetime.datetime(2026, 6, 15, 10, 30, tzinfo=datetime.UTC)


def _fresh_database() -> None:
    sql = sql_flush(no_style(), connection, reset_sequences=True, allow_cascade=False)
    connection.ops.execute_sql_flush(sql)
    defaults_ensure(apps)


def _load(seed: int) -> dict[str, Any]:
    _fresh_database()
    with time_machine.travel(LOADED_AT, tick=False):
        call_command(
            "seed_demo", "--members", "20", "--history", "16", "--seed", seed, stdout=io.StringIO()
        )
    return _snapshot()


def _snapshot() -> dict[str, Any]:
    # Members brought over from the old club (members.demo_old_club) get fresh random numbers,
    # as every import does; their id in the old club names them instead.
    # A merged twin's tombstone is named by its survivor's.
    number = Coalesce(
        "member__external_id", "member__merged_into__external_id", "member__membership_number"
    )
    return {
        "members": sorted(
            Member.objects.filter(merged_into__isnull=True).values_list(
                Coalesce("external_id", "membership_number"),
                "first_name",
                "last_name",
                "phone",
                "birth_date",
                "joined_at",
                "join_channel",
                "home_store__code",
            )
        ),
        "purchases": sorted(
            Purchase.objects.values_list(
                number,
                "store__code",
                "receipt_id",
                "total_ore",
                "points_earned",
                "points_reversed",
                "purchased_at",
                "points_available_at",
            )
        ),
        "ledger": sorted(
            (*row[:-1], str(row[-1]))
            for row in LedgerEntry.objects.values_list(
                number, "kind", "points", "cause", "created_at", "reason", "explanation"
            )
        ),
        "balances": sorted(
            PointBalance.objects.values_list(number, "pending", "posted", "reserved")
        ),
        "tiers": sorted(MemberTier.objects.values_list(number, "tier__code", "since")),
        "consent": sorted(
            ConsentState.objects.values_list(number, "purpose__code", "granted", "changed_at")
        ),
        "vouchers": sorted(
            Voucher.objects.values_list(
                number,
                "reward__code",
                "status",
                "points_spent",
                "partner_code",
                "issued_at",
                "valid_until",
                "used_at",
            )
        ),
        "deliveries": sorted(
            Delivery.objects.values_list(
                "campaign__name",
                number,
                "channel",
                "status",
                "reason",
                "variant__code",
                "sent_at",
                "opened_at",
                "activated_at",
                "redeemed_at",
            ),
            key=str,
        ),
        "offers": sorted(
            MemberOffer.objects.values_list(number, "offer__name", "status", "activated_at"),
            key=str,
        ),
        "challenges": sorted(
            ChallengeProgress.objects.values_list(
                number, "challenge__code", "progress", "completed_at"
            ),
            key=str,
        ),
        "recommendations": sorted(
            MemberRecommendation.objects.values_list(number, "product__sku", "rank", "reason")
        ),
        "affinities": sorted(
            ProductAffinity.objects.values_list(
                "basis", "product_a__sku", "product_b__sku", "pair_count"
            )
        ),
        "reviews": sorted(Review.objects.values_list(number, "kind", "status", "text")),
        "referrals": sorted(
            Referral.objects.values_list(
                "referrer__membership_number", "referred__membership_number", "status"
            )
        ),
    }


def test_seed_demo_same_seed_same_data_other_seed_other_data():
    first = _load(seed=4711)
    again = _load(seed=4711)
    other = _load(seed=4712)

    assert first["purchases"]
    assert first["deliveries"]
    assert first["recommendations"]
    for part in first:
        assert again[part] == first[part], part
    assert other["members"] != first["members"]
    assert other["purchases"] != first["purchases"]
