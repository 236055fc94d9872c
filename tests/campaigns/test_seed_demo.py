"""The demo (docs/demo.md): deterministic rows, idempotent loading, and what the demo login
and a marketer see once it is loaded.

The demo is loaded once for this module (a small one: 60 members, 45 of them with a year of
history); each test then runs in its own rolled-back transaction on top of it.
"""

from __future__ import annotations

import datetime
import io
import re
from collections.abc import Iterator
from typing import Any

import pytest
import time_machine
from allauth.account.models import EmailAddress
from django.apps import apps
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from campaigns.demo import AB_CAMPAIGN, PERSONAL_CAMPAIGN, SCHEDULED_CAMPAIGN, WELCOME_CAMPAIGN
from campaigns.models import (
    Campaign,
    Delivery,
    MemberOffer,
    MemberRecommendation,
    Offer,
    ProductAffinity,
)
from consent.defaults import defaults_ensure
from consent.models import ConsentEvent, ConsentProof, ConsentState, MemberInterest
from members.demo import DEMO_MEMBER_EMAIL, DEMO_PASSWORD, demo_members
from members.models import ActivityEvent, Member, Store, User
from members.phone import phone_normalise
from members.services import membership_number_is_valid
from rewards.demo import ARRIVALS_TODAY
from rewards.invariants import ledger_violations
from rewards.models import (
    Badge,
    Challenge,
    CheckIn,
    EarningRule,
    EventRule,
    LedgerEntry,
    MemberTier,
    PartnerCode,
    PointBalance,
    PointLot,
    Purchase,
    PurchaseLine,
    Referral,
    Review,
    Reward,
    Tier,
    Voucher,
)

pytestmark = pytest.mark.django_db

MEMBERS, HISTORY = 60, 45


def _flush() -> None:
    call_command("flush", interactive=False, verbosity=0)


@pytest.fixture(scope="module")
def demo(django_db_setup: Any, django_db_blocker: Any) -> Iterator[str]:
    """Load the demo once (committed), hand the command's output to the tests, then empty
    the database again for the other test modules."""
    with django_db_blocker.unblock():
        _flush()
        defaults_ensure(apps)
        out = io.StringIO()
        try:
            call_command("seed_demo", "--members", MEMBERS, "--history", HISTORY, stdout=out)
            yield out.getvalue()
        finally:
            _flush()


def _counts() -> dict[str, int]:
    models = [
        User,
        EmailAddress,
        Member,
        Store,
        ActivityEvent,
        Purchase,
        PurchaseLine,
        LedgerEntry,
        PointLot,
        PointBalance,
        CheckIn,
        Voucher,
        PartnerCode,
        Reward,
        Tier,
        EarningRule,
        EventRule,
        Challenge,
        ConsentEvent,
        ConsentProof,
        Campaign,
        Delivery,
        MemberOffer,
        ProductAffinity,
        MemberRecommendation,
    ]
    return {model.__name__: model.objects.count() for model in models}


def _login(client: Client, email: str = DEMO_MEMBER_EMAIL) -> None:
    if email == DEMO_MEMBER_EMAIL:
        response = client.post("/konto/login/", {"login": email, "password": DEMO_PASSWORD})
    else:
        response = client.post(
            "/admin/login/", {"username": email, "password": DEMO_PASSWORD, "next": "/admin/"}
        )
    assert response.status_code == 302, response.content[:500]


def _text(response: Any) -> str:
    assert response.status_code == 200
    return re.sub(r"\s+", " ", response.content.decode())


# --- the rows -----------------------------------------------------------------------------


def test_demo_members_same_seed_same_rows():
    first = list(demo_members(seed=7, count=200))
    again = list(demo_members(seed=7, count=200))
    other = list(demo_members(seed=8, count=200))

    assert first == again
    assert first != other
    # A larger run starts with exactly the rows of the smaller one
    assert list(demo_members(seed=7, count=300))[:200] == first


def test_demo_members_look_valid():
    rows = list(demo_members(seed=1, count=500))

    assert len({r["membership_number"] for r in rows}) == 500
    assert all(membership_number_is_valid(r["membership_number"]) for r in rows)
    assert len({r["email"] for r in rows}) == 500
    assert rows[0]["email"] == DEMO_MEMBER_EMAIL
    for row in rows:
        if row["phone"]:
            assert phone_normalise(row["phone"]) == row["phone"]


# --- loading ------------------------------------------------------------------------------


def _club_numbers() -> set[str]:
    """The demo's own members, not the old club's (members.demo_old_club)."""
    members = Member.objects.exclude(join_channel=Member.JoinChannel.IMPORT)
    return set(members.values_list("membership_number", flat=True))


def test_seed_demo_loads_members_from_the_rows_and_a_history(demo):
    numbers = _club_numbers()
    expected = {r["membership_number"] for r in demo_members(seed=20261122, count=MEMBERS)}

    assert numbers == expected
    assert f"{MEMBERS} new members" in demo
    assert f"a year of history for {HISTORY} members" in demo
    # the history members bought over a year, the others (bulk) never
    buyers = Member.objects.filter(purchases__isnull=False).distinct().count()
    assert 0.8 * HISTORY <= buyers <= HISTORY
    first, last = (
        Purchase.objects.order_by(field).values_list("purchased_at", flat=True).first()
        for field in ("purchased_at", "-purchased_at")
    )
    assert first is not None
    assert last is not None
    assert last - first > datetime.timedelta(days=330)
    assert last < timezone.now()


def test_seed_demo_configures_rules_tiers_rewards_and_challenges(demo):
    kinds = list(EarningRule.objects.values_list("kind", flat=True))
    assert kinds.count("base") == 1
    assert EarningRule.objects.filter(kind="multiplier", category__isnull=False).count() == 2
    excluded = set(
        EarningRule.objects.filter(kind="exclusion").values_list("category__code", flat=True)
    )
    assert excluded == {"tobacco", "gift-cards"}
    events = set(EventRule.objects.values_list("event", flat=True))
    assert {"joined", "profile_completed", "birthday", "review", "referral", "check_in"} <= events
    assert list(Tier.objects.order_by("rank").values_list("code", flat=True)) == [
        "brons",
        "silver",
        "guld",
    ]
    assert Tier.objects.get(code="silver").benefits.count() >= 2
    rewards = list(Reward.objects.all())
    assert 8 <= len(rewards) <= 10
    assert {r.kind for r in rewards} >= {
        "discount_amount",
        "free_product",
        "partner",
        "invitation",
        "donation",
    }
    # every reward, challenge and demo offer, and two of the three badges, carry a picture
    # drawn at load (the third badge shows its symbol): three widths of WebP in the storage
    pictured = [*rewards, *Challenge.objects.all(), *Badge.objects.exclude(code="profilproffs")]
    pictured += list(Offer.objects.exclude(image_sizes=[]))
    assert Offer.objects.exclude(image_sizes=[]).count() >= 4
    for item in pictured:
        assert [size[0] for size in item.image_sizes] == [160, 320, 640], item
        with default_storage.open(item.image.name) as image:
            assert image.read(12)[8:12] == b"WEBP"
    assert PartnerCode.objects.filter(reward__kind="partner").count() >= 40
    assert Reward.objects.get(code="kvallsshopping").stock_total == 40
    now = timezone.now()
    running = Challenge.objects.filter(starts_at__lte=now, ends_at__gt=now)
    assert running.count() == 2


def test_seed_demo_consent_about_sixty_percent_with_proof(demo):
    buyers = list(Member.objects.filter(purchases__isnull=False).distinct())
    marketing = set(
        ConsentState.objects.filter(
            member__in=buyers,
            granted=True,
            purpose__code__in=["marketing_email", "marketing_sms"],
        ).values_list("member_id", flat=True)
    )
    assert 0.4 <= len(marketing) / len(buyers) <= 0.8
    granted = ConsentEvent.objects.filter(granted=True)
    assert granted.exists()
    # every web or sign-up choice has its proof (documentation addresses, a user agent)
    for event in granted.filter(source__in=["signup", "web"]).select_related("proof")[:20]:
        assert event.proof.ip_address.startswith("192.0.2.")
        assert event.proof.user_agent


def test_seed_demo_campaigns_ab_scheduled_welcome(demo):
    ab = Campaign.objects.get(name=AB_CAMPAIGN)
    assert ab.status == Campaign.Status.DONE
    assert ab.variants.count() == 2
    statuses = set(Delivery.objects.filter(campaign=ab).values_list("status", flat=True))
    assert {"sent", "control"} <= statuses
    assert Delivery.objects.filter(campaign=ab, redeemed_at__isnull=False).exists()

    scheduled = Campaign.objects.get(name=SCHEDULED_CAMPAIGN)
    assert scheduled.status == Campaign.Status.SCHEDULED
    assert scheduled.send_at > timezone.now()
    assert not Delivery.objects.filter(campaign=scheduled).exists()

    welcome = Campaign.objects.get(name=WELCOME_CAMPAIGN)
    assert welcome.status == Campaign.Status.SENDING
    assert welcome.schedule_kind == Campaign.ScheduleKind.TRIGGER
    assert welcome.trigger == Campaign.Trigger.JOINED
    assert Delivery.objects.filter(campaign=welcome).exists()

    assert Campaign.objects.get(name=PERSONAL_CAMPAIGN).status == Campaign.Status.DONE
    assert ProductAffinity.objects.exists()
    assert MemberRecommendation.objects.exists()


def test_seed_demo_other_members_shop_claim_review_and_refer(demo):
    assert Voucher.objects.exclude(member__user__email=DEMO_MEMBER_EMAIL).exists()
    assert Review.objects.filter(status=Review.Status.APPROVED).exists()
    assert Review.objects.filter(status=Review.Status.PENDING).exists()  # the staff's queue
    assert Referral.objects.filter(status=Referral.Status.COMPLETED).exists()
    assert MemberTier.objects.values("tier").distinct().count() == 3
    assert LedgerEntry.objects.filter(kind="reverse", cause="return").exists()


def test_seed_demo_ledger_balances_equal_their_entries(demo):
    for balance in PointBalance.objects.all():
        entries = LedgerEntry.objects.filter(member_id=balance.member_id)
        assert balance.pending == sum(entries.values_list("delta_pending", flat=True))
        assert balance.posted == sum(entries.values_list("delta_posted", flat=True))


def test_seed_demo_twice_adds_nothing(demo, capsys):
    before = _counts()

    call_command("seed_demo", "--members", MEMBERS, "--history", HISTORY)

    assert _counts() == before
    out = capsys.readouterr().out
    assert "0 new members" in out
    assert "history already loaded" in out


def test_seed_demo_on_a_later_day_adds_only_that_days_arrivals(demo, capsys):
    before = _counts()
    later = timezone.now() + datetime.timedelta(days=9, hours=5)

    with time_machine.travel(later):
        call_command("seed_demo", "--members", MEMBERS, "--history", HISTORY)

    after = _counts()
    # that day's arrivals: check-ins, their timeline events and points; nothing else
    arrivals = {"ActivityEvent", "LedgerEntry", "PointLot", "CheckIn"}
    assert {k: v for k, v in after.items() if k not in arrivals} == {
        k: v for k, v in before.items() if k not in arrivals
    }
    day = timezone.localtime(later).date()
    checked_in = CheckIn.objects.filter(created_at__date=day)
    assert checked_in.count() == ARRIVALS_TODAY
    assert after["CheckIn"] == before["CheckIn"] + ARRIVALS_TODAY
    out = capsys.readouterr().out
    assert "history already loaded" in out
    assert f"{ARRIVALS_TODAY} arrived at a store today" in out


def test_the_desk_has_arrivals_today_and_the_demo_login_is_not_among_them(demo, client):
    """After `make run` the desk's "Arrived today" is not empty: a few members scanned their
    home store's door poster in the last hours; the demo login checks in by themselves."""
    assert f"{ARRIVALS_TODAY} arrived at a store today" in demo
    today = CheckIn.objects.filter(created_at__date=timezone.localdate())
    assert today.count() == ARRIVALS_TODAY
    assert not today.filter(member__user__email=DEMO_MEMBER_EMAIL).exists()
    assert all(c.created_at <= timezone.now() for c in today)
    _login(client, "butik@demo.kundklubb.se")
    page = _text(client.get("/admin/desk/"))
    for checkin in today.select_related("member"):
        assert f"{checkin.member.first_name} {checkin.member.last_name}" in page


def test_seed_demo_more_members_adds_only_members_without_history(demo):
    purchases = Purchase.objects.count()

    call_command("seed_demo", "--members", MEMBERS + 15, "--history", HISTORY, "--batch-size", "7")

    assert Member.objects.exclude(join_channel=Member.JoinChannel.IMPORT).count() == MEMBERS + 15
    assert Purchase.objects.count() == purchases
    expected = {r["membership_number"] for r in demo_members(seed=20261122, count=MEMBERS + 15)}
    assert _club_numbers() == expected


# --- what the demo login sees ----------------------------------------------------------------


def test_demo_login_my_pages(demo, client):
    _login(client)

    page = _text(client.get("/mina-sidor/"))

    available = re.search(r'data-testid="points-available">([\d ]+)<', page)
    assert available is not None
    assert int(available.group(1).replace(" ", "")) > 0
    # pending points, with the date they become available
    assert re.search(r"poäng väntar</strong>", page), page
    assert re.search(r"[\d ]+ poäng tillgängligae? från \d{1,2} \w+ \d{4}", page), page
    # a tier, and how far to the next
    assert re.search(r'data-testid="tier-name">(Brons|Silver)<', page)
    assert re.search(r'data-testid="tier-remaining">[\d ]+ poäng kvar till (Silver|Guld)<', page)
    assert '<progress class="progress tier-bar"' in page


def test_demo_login_points_page_explains_the_history(demo, client):
    _login(client)

    page = _text(client.get("/mina-sidor/poang/"))

    pending = r'data-testid="pending-dates"><li>\d[\d\s]* p den \d{1,2} \w+ \d{4}'
    assert re.search(pending, page), page
    for explanation in (
        "p: 1 poäng per krona",
        "Dubbla poäng på löparkläder",
        "Tack för din recension",
        "Tipsa en vän",
        "Incheckning i butik",
    ):
        assert explanation in page
    assert "Kvällsshopping för medlemmar: löpning" in page  # points spent, on what
    older = _text(client.get("/mina-sidor/poang/?page=2"))
    assert "Kompensation: dragkedjan på löparjackan gick sönder" in page + older


def test_demo_login_vouchers_and_rewards(demo, client):
    _login(client)

    vouchers = _text(client.get("/mina-sidor/vouchers/"))
    catalogue = _text(client.get("/mina-sidor/beloningar/"))

    assert "10 % rabatt på ett köp" in vouchers
    assert "Biobiljett hos Biograf Saga" in vouchers
    assert "Används" in vouchers or "Använd" in vouchers  # a used voucher in the past list
    # each reward with its picture drawn at load, in three widths on this host
    assert re.search(
        r'<img class="picture picture-card" src="/media/pictures/reward/[0-9a-f]{16}-320\.webp" '
        r'srcset="[^"]+-160\.webp 160w, [^"]+-320\.webp 320w, [^"]+-640\.webp 640w"[^>]* '
        r'alt="50 kr rabatt"',
        catalogue,
    )


def test_demo_login_offer_with_its_reason(demo, client):
    _login(client)

    page = _text(client.get("/mina-sidor/erbjudanden/"))

    assert "Dubbla poäng på löparkläder" in page
    assert 'data-testid="offer-why">Varför? Eftersom du köpte löparkläder.' in page


def test_seed_demo_members_told_their_interests_and_got_the_points_once(demo):
    rule = EventRule.objects.get(event="interests_told")
    assert (rule.points, rule.cap, rule.period, rule.active) == (50, 1, "ever", True)
    paid = list(LedgerEntry.objects.filter(event_rule=rule).values_list("member_id", flat=True))
    told = set(MemberInterest.objects.values_list("member_id", flat=True))
    assert len(paid) >= 5
    assert len(paid) == len(set(paid))  # once each
    assert set(paid) <= told


def test_demo_login_offer_caused_by_an_interest(demo, client):
    _login(client)

    page = _text(client.get("/mina-sidor/erbjudanden/"))

    assert "Dubbla poäng på vandringskängor" in page
    assert 'data-testid="offer-why">Varför? Eftersom du sa att du gillar friluftsliv.' in page


def test_demo_login_challenge_in_progress(demo, client):
    _login(client)

    page = _text(client.get("/mina-sidor/utmaningar/"))

    assert "Handla fem gånger på 30 dagar" in page
    assert re.search(r"\b4 / 5\b", page), page
    assert 'data-testid="next-challenge"' in page
    assert "Profilproffs" in page  # a badge


# --- what staff see ----------------------------------------------------------------------------


def test_ab_campaign_results_page_shows_charts(demo, client):
    _login(client, "marknad@demo.kundklubb.se")
    campaign = Campaign.objects.get(name=AB_CAMPAIGN)

    page = _text(client.get(f"/admin/campaigns/results/{campaign.pk}/"))

    assert page.count("<svg") >= 3
    assert "Variant A" in page
    assert "Variant B" in page
    assert "Kontrollgrupp" in page or "Control group" in page


def test_reward_admin_shows_the_image(demo, client):
    _login(client, "admin@demo.kundklubb.se")
    reward = Reward.objects.get(code="biobiljett")

    page = _text(client.get(f"/admin/rewards/reward/{reward.pk}/change/"))
    listing = _text(client.get("/admin/rewards/reward/"))

    assert f'<img src="/media/{reward.image_sizes[1][2]}" alt="Biobiljett' in page
    assert f"/media/{reward.image_sizes[0][2]}" in listing


def test_staff_logins_work(demo, client):
    for email in (
        "admin@demo.kundklubb.se",
        "butik@demo.kundklubb.se",
        "marknad@demo.kundklubb.se",
        "dataskydd@demo.kundklubb.se",
    ):
        client.logout()
        _login(client, email)
        assert client.get("/admin/").status_code == 200


def test_seed_demo_brings_the_old_club_over(demo, client):
    """The old club's first week (members.demo_old_club): the member file and the balances
    uploaded, checked by a dry run and imported; twins proposed, one pair merged by the data
    protection officer, a namesake pair set aside, one pair waiting in the queue."""
    from members.demo_old_club import BALANCES_FILE, MEMBERS_FILE, OLD_MEMBERS
    from members.models import DuplicateCandidate, ImportJob, MemberMerge

    jobs = {(job.file_name, job.dry_run): job for job in ImportJob.objects.all()}
    assert set(jobs) == {
        (MEMBERS_FILE, True),
        (MEMBERS_FILE, False),
        (BALANCES_FILE, True),
        (BALANCES_FILE, False),
    }
    real = jobs[(MEMBERS_FILE, False)]
    assert real.summary == f"imported={OLD_MEMBERS + 3} unchanged=0 rejected=3"
    assert real.status == "done"
    assert any("rad" in line and "phone" in line for line in real.report)
    assert jobs[(BALANCES_FILE, False)].summary == f"imported={OLD_MEMBERS} unchanged=0 rejected=0"
    merge = MemberMerge.objects.get()
    assert merge.merged.external_id is None or merge.merged.external_id == "GK-T1"
    assert merge.actor is not None
    assert merge.actor.email == "dataskydd@demo.kundklubb.se"
    statuses = set(DuplicateCandidate.objects.values_list("status", flat=True))
    assert {"merged", "dismissed", "open"} <= statuses
    assert ledger_violations(member_ids=Member.objects.values_list("pk", flat=True)) == []
    # the data protection officer finds the waiting pair in the queue
    client.force_login(User.objects.get(email="dataskydd@demo.kundklubb.se"))
    page = client.get("/admin/members/duplicatecandidate/")
    assert page.status_code == 200
    assert DuplicateCandidate.objects.filter(status="open").exists()


def test_demo_login_receipts_add_up_with_vat_per_rate(demo, client):
    from rewards.purchases.receipts import receipt_read

    _login(client)
    member = Member.objects.get(user__email=DEMO_MEMBER_EMAIL)
    purchases = list(Purchase.objects.filter(member=member).order_by("-purchased_at")[:10])
    assert purchases
    for purchase in purchases:
        receipt = receipt_read(purchase_id=purchase.pk, member_id=member.pk)
        assert receipt is not None
        # every demo receipt's lines add up to its total, VAT and net to the gross per rate
        assert receipt.lines_total_ore == purchase.total_ore
        assert all(part.vat_ore + part.net_ore == part.gross_ore for part in receipt.vat)
        page = _text(client.get(f"/mina-sidor/kvitton/{purchase.pk}/"))
        assert 'data-testid="receipt-line"' in page
        assert re.search(r'data-testid="receipt-vat-rate"><th scope="row">\d+ %<', page)
    # the demo's rates: sports nutrition is food (12 %), gift cards 0 %, the rest 25 %
    rates = dict(
        PurchaseLine.objects.filter(sku__in=["NU-001", "NU-004", "GC-500", "RS-001"])
        .values_list("sku", "vat_rate_bp")
        .distinct()
    )
    assert rates.get("NU-001", 1200) == 1200
    assert rates.get("NU-004", 2500) == 2500
    assert rates.get("GC-500", 0) == 0
    assert rates.get("RS-001", 2500) == 2500
    assert set(PurchaseLine.objects.values_list("vat_rate_bp", flat=True)) >= {1200, 2500}
