"""Demo data: campaigns' part, and the whole demo composed (``manage.py seed_demo``).

campaigns is the top app, so the composition lives here: members' stores, staff and members
(``members.demo``), consent's answers (``consent.demo``), rewards' configuration and the
members' year of shopping (``rewards.demo``), and the campaigns: a finished A/B test with a
control group, a personal offer sent this week, a welcome campaign triggered by every new
member, one scheduled for next week, and the personalisation (affinities and
recommendations) computed over the year. Everything happens through the services, in time
order, with the clock set to when it happened (``members.demo.timeline_play``), and the
sending runs in this process (Celery eager, the timeline's consumers inline): the seed never
waits for a worker. See docs/demo.md.

Deterministic and idempotent: the same seed gives the same members and the same history
(relative to the day it is first loaded); a second run, on any later day, finds the history
(the demo login has purchases) and adds nothing.
"""

from __future__ import annotations

import datetime
import logging
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings
from django.core import signing
from django.db import connection, transaction
from django.test.utils import override_settings
from django.utils import timezone

from campaigns.authoring import (
    campaign_launch,
    campaign_save,
    offer_save,
    segment_save,
    variant_save,
)
from campaigns.data_quality.snapshots import data_quality_snapshot_take
from campaigns.models import Campaign, InterestCategory, MemberOffer, Offer
from campaigns.offers import offer_activate
from campaigns.personalisation.recommendations import personalisation_run
from campaigns.sending import rendering
from campaigns.sending.tracking import delivery_clicked, delivery_opened
from consent import demo as consent_demo
from consent.models import ConsentEvent, Interest
from members import demo as members_demo
from members.activity import Dispatch, activity_dispatch
from members.demo import DemoPerson, Step, local_time
from members.demo_old_club import old_club_ensure
from members.errors import DomainError
from members.models import Member, Store, User
from members.pictures.demo import picture_demo_ensure
from rewards import demo as rewards_demo
from rewards.ledger.expiry import points_mature_due
from rewards.loyalty import catalogue, tiers
from rewards.models import Category, Purchase, Reward, Voucher

logger = logging.getLogger(__name__)

DEFAULT_SEED = 20261122
DEFAULT_MEMBERS = 300
DEFAULT_HISTORY = 170

# When things happen, in days before the day the demo is loaded.
DEMO_LOGIN_JOINED_DAYS = 400
FRIEND_JOINED_DAYS = 45
WELCOME_LAUNCHED_DAYS = 120
AB_SENT_DAYS = 75
AB_GOAL_DAYS = 30
PERSONAL_SENT_DAYS = 4
INTEREST_SENT_DAYS = 6
SCHEDULED_LAUNCHED_DAYS = 2
SCHEDULED_SEND_IN_DAYS = 6
CHALLENGES_FROM_DAYS = 14

# Names the seed finds its campaigns by (they are created once, with the history).
AB_CAMPAIGN = "Friluftsliv i höst: A/B-test"
PERSONAL_CAMPAIGN = "Personligt: dubbla poäng på löparkläder"
WELCOME_CAMPAIGN = "Välkommen till klubben"
SCHEDULED_CAMPAIGN = "Vintersäsongen: dubbla poäng på skidor"
INTEREST_CAMPAIGN = "Till dig som gillar friluftsliv"


@dataclass
class DemoSummary:
    stores: int = 0
    members_new: int = 0
    members_total: int = 0
    history_loaded: bool = False
    history_members: int = 0
    steps: int = 0
    purchases: int = 0
    marketing_consent_share: float = 0.0
    arrivals_today: int = 0
    old_club_members: int = 0
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)


# --- the environment the seed runs in -------------------------------------------------------


@contextmanager
def seed_environment() -> Iterator[None]:
    """Run the seed on its own: Celery tasks in this process (the campaign engine's chain of
    tasks), the timeline's consumers inline, nothing sent outside (demo addresses are fake:
    emails to the dummy backend, SMS to the console backend, not logged), no SQL logging
    even with DEBUG, and commits without waiting for the disk (thousands of small
    transactions; a crash may lose the last moments of the load, never consistency)."""
    from celery import current_app

    conf = current_app.conf
    saved_conf = (conf.task_always_eager, conf.task_eager_propagates)
    conf.task_always_eager, conf.task_eager_propagates = True, True
    quiet = {
        name: logging.getLogger(name)
        for name in ("celery.app.trace", "campaigns.sending.channels", "kombu.connection")
    }
    saved_levels = {name: log.level for name, log in quiet.items()}
    for log in quiet.values():
        log.setLevel(logging.ERROR)
    try:
        with (
            override_settings(
                DEBUG=False,
                EMAIL_BACKEND="django.core.mail.backends.dummy.EmailBackend",
                CAMPAIGNS_SMS_BACKEND="console",
                CELERY_TASK_ALWAYS_EAGER=True,
            ),
            activity_dispatch(Dispatch.INLINE),
        ):
            with connection.cursor() as cursor:
                cursor.execute("SET synchronous_commit TO off")
            try:
                yield
            finally:
                with connection.cursor() as cursor:
                    cursor.execute("SET synchronous_commit TO DEFAULT")
    finally:
        conf.task_always_eager, conf.task_eager_propagates = saved_conf
        for name, log in quiet.items():
            log.setLevel(saved_levels[name])


# --- the whole demo -------------------------------------------------------------------------


def demo_load(
    *,
    seed: int = DEFAULT_SEED,
    members: int = DEFAULT_MEMBERS,
    history: int = DEFAULT_HISTORY,
    batch_size: int = 5000,
    log: Callable[[str], None] = logger.info,
) -> DemoSummary:
    """Load the demo: configuration (every run, idempotent), the year of history for the
    first ``history`` members (first run only), then the rest of ``members`` in bulk."""
    started = time.perf_counter()
    summary = DemoSummary()
    mark = started

    def lap(name: str) -> None:
        nonlocal mark
        now = time.perf_counter()
        summary.timings[name] = round(now - mark, 2)
        mark = now

    members_before = Member.objects.count()
    with seed_environment():
        with transaction.atomic():
            stores = members_demo.stores_ensure()
            staff = members_demo.staff_ensure()
        summary.stores = len(stores)
        anchor_day = timezone.localdate()
        rewards = rewards_demo.loyalty_ensure(anchor_day=anchor_day)
        interest_map_ensure()
        lap("configuration")
        history = max(0, min(history, members))
        if history and not rewards_demo.demo_history_exists(email=members_demo.DEMO_MEMBER_EMAIL):
            log(f"Loading a year of history for {history} members (once)...")
            played = history_play(
                seed=seed,
                count=history,
                anchor_day=anchor_day,
                stores=stores,
                staff=staff,
                rewards=rewards,
            )
            summary.history_loaded = True
            summary.history_members = history
            summary.steps = played
            lap("history")
            points_mature_due()
            tiers.tiers_reevaluate()
            personalisation_run()
            lap("personalisation")
        members_demo.members_bulk_ensure(
            seed=seed,
            count=members,
            stores=stores,
            batch_size=batch_size,
        )
        lap("bulk members")
        summary.arrivals_today = rewards_demo.arrivals_today_ensure()
        summary.old_club_members = old_club_ensure(seed=seed, stores=stores)
        # today's data-quality counts, so the page has a bar before the first night
        data_quality_snapshot_take()
        lap("old club")
        offer_pictures_ensure()
        lap("pictures")
    summary.members_total = Member.objects.count()
    summary.members_new = summary.members_total - members_before - summary.old_club_members
    summary.purchases = Purchase.objects.count()
    history_ids = list(
        Member.objects.filter(purchases__isnull=False).distinct().values_list("pk", flat=True)
    )
    summary.marketing_consent_share = consent_demo.marketing_consent_share(member_ids=history_ids)
    summary.seconds = round(time.perf_counter() - started, 2)
    return summary


# The offers' pictures, drawn as staff would upload them (members.pictures.demo): icon,
# colours and the big label; other offers show the placeholder.
_OFFER_PICTURES = {
    "Välkomstpresent: 50 kr": ("gift", ("#0b6e4f", "#1fa37a"), "50 kr"),
    "Friluftsliv: dubbla poäng": ("flag", ("#1c5d3a", "#5fa36b"), "2×"),
    "Friluftsliv: trippla poäng": ("flag", ("#1c3c5d", "#4f86b8"), "3×"),
    "Löparkläder: dubbla poäng": ("bag", ("#b5451b", "#e9804d"), "2×"),
    "Skidor: dubbla poäng": ("star", ("#1d4e89", "#7fb2e5"), "2×"),
}


def offer_pictures_ensure() -> None:
    """Each demo offer its picture, once (again if the files went missing)."""
    for offer in Offer.objects.filter(name__in=_OFFER_PICTURES):
        icon, colours, label = _OFFER_PICTURES[offer.name]
        picture_demo_ensure(offer, icon=icon, colours=colours, label=label)


def interest_map_ensure() -> None:
    """Interests whose code is not a category's: "running" is about running shoes and wear."""
    running = Interest.objects.filter(code="running").first()
    if running is None:
        return
    for category in Category.objects.filter(code__in=rewards_demo.SPORTS["running"]):
        InterestCategory.objects.get_or_create(interest=running, category=category)


# --- the history ----------------------------------------------------------------------------


def _join_days(rng: random.Random, index: int) -> int:
    """How many days before loading the member joined: the demo login well over a year
    ago, the friend they invited six weeks ago, seven in ten others over a year ago."""
    if index == 0:
        return DEMO_LOGIN_JOINED_DAYS
    if index == 1:
        return FRIEND_JOINED_DAYS
    long_ago, this_year = rng.randint(366, 420), rng.randint(25, 365)
    return long_ago if rng.random() < 0.7 else this_year


def history_play(
    *,
    seed: int,
    count: int,
    anchor_day: datetime.date,
    stores: dict[str, Store],
    staff: dict[str, User],
    rewards: dict[str, Reward],
) -> int:
    """Plan every member's year and the campaigns, then play it in time order. Returns the
    number of steps played."""
    end = local_time(anchor_day, 0, 0)  # the history ends before today
    store_staff = staff[members_demo.STORE_STAFF_EMAIL]
    marketer = staff[members_demo.MARKETER_EMAIL]
    rng = random.Random(f"{seed}:history")
    people = []
    for index, row in enumerate(members_demo.demo_members(seed=seed, count=count)):
        days = _join_days(rng, index)
        joined_at = local_time(
            anchor_day - datetime.timedelta(days=days), rng.randint(8, 21), rng.randint(0, 59)
        )
        people.append(DemoPerson(index=index, row=row, joined_at=joined_at, seed=seed))
    members_demo.members_existing(people)
    referrer_of = _referrals(people, rng)

    challenges_from = local_time(anchor_day - datetime.timedelta(days=CHALLENGES_FROM_DAYS), 0, 0)
    offers = ActiveOffers()

    def consume(member: Member, at: datetime.datetime) -> bool:
        # Purchases whose consumers matter: during the running challenges, and while the
        # member has an activated offer to redeem. Older ones stay on the timeline only.
        return at >= challenges_from or offers.active(member, at)

    steps: list[Step] = []
    birthdays: set[tuple[int, int]] = set()  # of the members who tell us theirs
    for person in people:
        steps += _person_steps(
            person,
            referrer=referrer_of.get(person.index),
            anchor_day=anchor_day,
            end=end,
            stores=stores,
            rewards=rewards,
            store_staff=store_staff,
            consume=consume,
            birthdays=birthdays,
        )
    first_day = min(p.joined_at for p in people).date()
    steps += rewards_demo.birthday_steps(
        first=first_day, last=anchor_day - datetime.timedelta(days=1), birthdays=birthdays
    )
    steps += campaign_steps(
        anchor_day=anchor_day, end=end, marketer=marketer, stores=stores, offers=offers
    )
    return members_demo.timeline_play(steps, until=end)


class ActiveOffers:
    """Until when each member has an activated bonus offer (their purchases then redeem it,
    so the timeline's consumers must see them)."""

    def __init__(self) -> None:
        self._until: dict[int, datetime.datetime] = {}

    def activated(self, item: MemberOffer) -> None:
        if item.active_until is not None:
            current = self._until.get(item.member_id)
            self._until[item.member_id] = max(item.active_until, current or item.active_until)

    def active(self, member: Member, at: datetime.datetime) -> bool:
        until = self._until.get(member.pk)
        return until is not None and at < until


def _referrals(people: list[DemoPerson], rng: random.Random) -> dict[int, DemoPerson]:
    """Who invited whom: the demo login their friend, and a few others one who joined
    before them."""
    referrer_of: dict[int, DemoPerson] = {}
    if len(people) > 1:
        referrer_of[1] = people[0]
    for person in people[2:]:
        earlier = [
            p for p in people[2:] if p.joined_at < person.joined_at - datetime.timedelta(days=30)
        ]
        if earlier and rng.random() < 0.06:
            referrer_of[person.index] = rng.choice(earlier)
    return referrer_of


def _person_steps(
    person: DemoPerson,
    *,
    referrer: DemoPerson | None,
    anchor_day: datetime.date,
    end: datetime.datetime,
    stores: dict[str, Store],
    rewards: dict[str, Reward],
    store_staff: User,
    consume: rewards_demo.Consume,
    birthdays: set[tuple[int, int]],
) -> list[Step]:
    row = person.row
    if person.is_demo_login:
        shopper = rewards_demo.DEMO_LOGIN_SHOPPER
    else:
        shopper = rewards_demo.shopper_draw(person.rng("shopper"), home=row["home_store_code"])
    profile = consent_demo.consent_profile_draw(
        person.rng("consent"), sports=shopper.sports, everything=person.is_demo_login
    )
    # Joining and completing the profile reach the timeline's consumers (welcome points, the
    # welcome campaign, the profile challenge) for the members who joined since the welcome
    # campaign started, and for the demo login and their friend. For the others, most of
    # them, who joined long ago, these events are history on the timeline only: loading them
    # all through the consumers would make the seed several seconds slower.
    welcome_at = local_time(anchor_day - datetime.timedelta(days=WELCOME_LAUNCHED_DAYS), 9, 0)
    recent = person.index <= 1 or person.joined_at > welcome_at
    dispatch = Dispatch.INLINE if recent else Dispatch.OFF
    join = _join_step(person, profile, referrer, stores, dispatch, welcome=recent, end=end)
    steps = [Step(person.joined_at, join)]
    if person.index == 1:  # the friend's review waits in the moderation queue
        review_at = local_time(anchor_day - datetime.timedelta(days=1), 19, 30)
        steps.append(Step(review_at, rewards_demo.review_step(person, "RW-002", store_staff, end)))
    steps += consent_demo.consent_steps(person=person, profile=profile, end=end)
    rng = person.rng("profile")
    birth_date = row["birth_date"]
    if person.is_demo_login:
        birth_date = birth_date or datetime.date(1988, 5, 14)
    if birth_date is not None and (person.is_demo_login or rng.random() < 0.8):
        at = person.joined_at + datetime.timedelta(days=rng.randint(0, 20), hours=rng.randint(1, 5))
        if person.is_demo_login:
            at = person.joined_at + datetime.timedelta(days=4, hours=2)
        phone = row["phone"] or ("+46701234567" if person.is_demo_login else "")
        if at < end:
            steps.append(Step(at, _profile_step(person, birth_date, phone, dispatch)))
            birthdays.add((birth_date.month, birth_date.day))
    start = max(person.joined_at + datetime.timedelta(hours=2), end - datetime.timedelta(days=365))
    if person.is_demo_login:
        steps += rewards_demo.demo_login_steps(
            person=person,
            anchor_day=anchor_day,
            stores=stores,
            rewards=rewards,
            staff=store_staff,
            start=person.joined_at,
            consume=consume,
        )
    else:
        steps += rewards_demo.shopper_steps(
            person=person,
            shopper=shopper,
            stores=stores,
            rewards=rewards,
            staff=store_staff,
            start=start,
            end=end,
            consume=consume,
            first_purchase_consumed=referrer is not None,
        )
    return steps


def _join_step(
    person: DemoPerson,
    profile: consent_demo.ConsentProfile,
    referrer: DemoPerson | None,
    stores: dict[str, Store],
    dispatch: Dispatch,
    *,
    welcome: bool,
    end: datetime.datetime,
) -> Callable[[], list[Step]]:
    """Sign-up: the member, the boxes they ticked (one transaction, as the join page), the
    friend's code if invited; the welcome campaign answers at once."""

    def run() -> list[Step]:
        with activity_dispatch(dispatch), transaction.atomic():
            member = members_demo.member_join(person=person, stores=stores)
            if profile.at_signup:
                consent_demo.consents_give(
                    member=member, profile=profile, source=ConsentEvent.Source.SIGNUP
                )
        if referrer is not None and referrer.member is not None:
            rewards_demo.referral_join(referred=member, referrer=referrer.member)
        return _welcome_follow_ups(person, end) if welcome else []

    return run


def _profile_step(
    person: DemoPerson, birth_date: datetime.date, phone: str, dispatch: Dispatch
) -> Callable[[], None]:
    def run() -> None:
        with activity_dispatch(dispatch):
            members_demo.profile_complete(person=person, birth_date=birth_date, phone=phone)

    return run


# --- campaigns --------------------------------------------------------------------------------


def _email_texts(title_sv: str, title_en: str, body_sv: str, body_en: str) -> dict[str, str]:
    site = settings.SITE_URL.rstrip("/")
    link = f"{site}/mina-sidor/erbjudanden/"
    return {
        "email_subject_sv": f"{{{{ first_name }}}}, {title_sv.lower()}",
        "email_subject_en": f"{{{{ first_name }}}}, {title_en.lower()}",
        "email_text_sv": f"Hej {{{{ first_name }}}}!\n\n{body_sv}\n\n{link}",
        "email_text_en": f"Hi {{{{ first_name }}}}!\n\n{body_en}\n\n{link}",
        "email_html_sv": f"<p>Hej {{{{ first_name }}}}!</p><p>{body_sv}</p>"
        f'<p><a href="{link}">Till dina erbjudanden</a></p>',
        "email_html_en": f"<p>Hi {{{{ first_name }}}}!</p><p>{body_en}</p>"
        f'<p><a href="{link}">To your offers</a></p>',
        "sms_text_sv": f"{title_sv}! {body_sv} {link}",
        "sms_text_en": f"{title_en}! {body_en} {link}",
    }


def campaign_steps(
    *,
    anchor_day: datetime.date,
    end: datetime.datetime,
    marketer: User,
    stores: dict[str, Store],
    offers: ActiveOffers,
) -> list[Step]:
    def day(days_ago: int, hour: int, minute: int = 0) -> datetime.datetime:
        return local_time(anchor_day - datetime.timedelta(days=days_ago), hour, minute)

    return [
        Step(day(WELCOME_LAUNCHED_DAYS, 9, 0), _welcome_launch(marketer)),
        Step(day(AB_SENT_DAYS + 2, 14, 0), _ab_create(marketer)),
        Step(day(AB_SENT_DAYS, 10, 0), _ab_launch(marketer, stores, end, offers)),
        Step(day(INTEREST_SENT_DAYS, 10, 30), _interest_launch(marketer)),
        Step(day(PERSONAL_SENT_DAYS, 11, 0), _personal_launch(marketer, stores, end, offers)),
        Step(day(SCHEDULED_LAUNCHED_DAYS, 15, 0), _scheduled_launch(marketer, anchor_day)),
    ]


def _category(code: str) -> Category:
    return Category.objects.get(code=code)


def _welcome_launch(marketer: User) -> Callable[[], None]:
    def run() -> None:
        offer = offer_save(
            name="Välkomstpresent: 50 kr",
            kind=Offer.Kind.REWARD,
            title_sv="Välkomstpresent: 50 kr rabatt",
            title_en="Welcome gift: SEK 50 off",
            body_sv="Hämta din check på 50 kr, den gäller i alla butiker och på webben.",
            body_en="Collect your SEK 50 voucher, valid in every store and online.",
            reward_code="rabatt-50",
        )
        campaign = campaign_save(
            name=WELCOME_CAMPAIGN,
            channels=["email", "sms", "onsite"],
            holdout_percent=10,
            goal=Campaign.Goal.REDEMPTIONS,
            goal_days=30,
            schedule_kind=Campaign.ScheduleKind.TRIGGER,
            trigger=Campaign.Trigger.JOINED,
            priority=10,
        )
        variant_save(
            campaign=campaign,
            code="A",
            weight=100,
            offer=offer,
            **_email_texts(
                "Välkommen till Kundklubben",
                "Welcome to Kundklubben",
                "Som ny medlem får du 50 kr rabatt på ditt nästa köp.",
                "As a new member you get SEK 50 off your next purchase.",
            ),
        )
        campaign_launch(campaign=campaign, actor=marketer)

    return run


def _welcome_follow_ups(person: DemoPerson, end: datetime.datetime) -> list[Step]:
    """A new member who got the welcome gift collects it within days, and some use it."""
    member = person.joined()
    item = (
        MemberOffer.objects.filter(member=member, campaign__name=WELCOME_CAMPAIGN)
        .select_related("offer")
        .first()
    )
    if item is None:
        return []
    rng = person.rng("welcome")
    if rng.random() > 0.6:
        return []
    at = timezone.now() + datetime.timedelta(days=rng.randint(0, 6), hours=rng.randint(1, 10))
    if at >= end:
        return []
    return [Step(at, _collect_step(person, item.pk, use=rng.random() < 0.5, end=end))]


def _collect_step(
    person: DemoPerson, member_offer_id: int, *, use: bool, end: datetime.datetime
) -> Callable[[], list[Step]]:
    def run() -> list[Step]:
        member = person.joined()
        try:
            item = offer_activate(member=member, member_offer_id=member_offer_id)
        except DomainError:
            return []
        if not use:
            return []
        voucher_id = (
            Voucher.objects.filter(claim_key=f"grant:offer:{item.pk}")
            .values_list("pk", flat=True)
            .first()
        )
        if voucher_id is None:
            return []
        at = timezone.now() + datetime.timedelta(days=person.rng("welcome-use").randint(2, 12))
        return [Step(at, _gift_use_step(person, voucher_id))] if at < end else []

    return run


def _gift_use_step(person: DemoPerson, voucher_id: int) -> Callable[[], None]:
    def run() -> None:
        voucher = Voucher.objects.select_related("reward").get(pk=voucher_id)
        if not voucher.usable_at(timezone.now()):
            return
        member = person.joined()
        store = member.home_store or Store.objects.get(code="webshop")
        receipt = f"W{member.membership_number}"
        purchase = rewards_demo.demo_purchase(
            member=member, store=store, items=[("RW-002", 1)], receipt_id=receipt
        )
        catalogue.voucher_redeem(
            code=voucher.code,
            store=store,
            idempotency_key=f"demo-gift-{voucher.code}",
            basket_total_ore=purchase.total_ore,
            reference=receipt,
        )

    return run


def _ab_create(marketer: User) -> Callable[[], None]:
    """The marketer builds the test two days before sending it."""

    def run() -> None:
        segment = segment_save(
            name="Handlat senaste halvåret",
            description="Medlemmar med minst ett köp de senaste 180 dagarna.",
            criteria={
                "op": "and",
                "children": [{"field": "purchase_count", "cmp": "gte", "value": 1, "days": 180}],
            },
            actor=marketer,
        )
        outdoor = _category("outdoor")
        offers = {
            "A": offer_save(
                name="Friluftsliv: dubbla poäng",
                kind=Offer.Kind.BONUS_POINTS,
                title_sv="Dubbla poäng på friluftsliv",
                title_en="Double points on outdoor gear",
                body_sv="Aktivera och få dubbla poäng på allt för friluftslivet i 14 dagar.",
                body_en="Activate and earn double points on all outdoor gear for 14 days.",
                multiplier=Decimal("2"),
                category=outdoor,
                bonus_days=14,
            ),
            "B": offer_save(
                name="Friluftsliv: trippla poäng",
                kind=Offer.Kind.BONUS_POINTS,
                title_sv="Trippla poäng på friluftsliv",
                title_en="Triple points on outdoor gear",
                body_sv="Aktivera och få trippla poäng på allt för friluftslivet i 14 dagar.",
                body_en="Activate and earn triple points on all outdoor gear for 14 days.",
                multiplier=Decimal("3"),
                category=outdoor,
                bonus_days=14,
            ),
        }
        campaign = campaign_save(
            name=AB_CAMPAIGN,
            segment=segment,
            channels=["email", "sms"],
            holdout_percent=25,
            goal=Campaign.Goal.REVENUE,
            goal_days=AB_GOAL_DAYS,
            priority=5,
        )
        for code, offer in offers.items():
            variant_save(
                campaign=campaign,
                code=code,
                weight=50,
                offer=offer,
                **_email_texts(
                    offer.title_sv,
                    offer.title_en,
                    offer.body_sv,
                    offer.body_en,
                ),
            )

    return run


# How members answer the A/B test: (opens, clicks, activates) by variant. Most who
# activate buy within the offer's days; a few who only read the message buy too.
AB_RESPONSE = {"A": (0.55, 0.25, 0.35), "B": (0.65, 0.35, 0.5)}


def _ab_launch(
    marketer: User, stores: dict[str, Store], end: datetime.datetime, offers: ActiveOffers
) -> Callable[[], list[Step]]:
    """Send now (in this process), then plan how each contacted member answers."""

    def run() -> list[Step]:
        campaign = Campaign.objects.get(name=AB_CAMPAIGN)
        campaign_launch(campaign=campaign, actor=marketer)
        return _offer_follow_ups(
            campaign, stores, end, offers, AB_RESPONSE, tag="ab", skip=_demo_login_number()
        )

    return run


def _offer_follow_ups(
    campaign: Campaign,
    stores: dict[str, Store],
    end: datetime.datetime,
    offers: ActiveOffers,
    response: dict[str, tuple[float, float, float]],
    *,
    tag: str,
    skip: frozenset[str] = frozenset(),
) -> list[Step]:
    """Opens, clicks, activations and the purchases that follow, per member offer sent."""
    steps = []
    items = (
        MemberOffer.objects.filter(campaign=campaign)
        .select_related("member", "delivery", "delivery__variant", "offer", "offer__category")
        .order_by("member__membership_number")
    )
    sent = timezone.now()
    for item in items:
        member = item.member
        if member.membership_number in skip or item.delivery is None:
            continue
        rng = random.Random(f"{campaign.name}:{member.membership_number}")
        category = item.offer.category.code if item.offer.category else "outdoor"
        purchases = [(sku, 1) for sku, _name, c, _price in rewards_demo.PRODUCTS if c == category]
        variant = item.delivery.variant.code if item.delivery.variant else "A"
        opens, clicks, activates = response.get(variant, response["A"])
        opened = rng.random() < opens
        clicked = opened and rng.random() < clicks / opens
        activated = rng.random() < activates
        at = sent + datetime.timedelta(hours=rng.randint(1, 30))
        if opened and at < end:
            steps.append(Step(at, _opened_step(item.delivery.pk, clicked)))
        activate_at = at + datetime.timedelta(hours=rng.randint(0, 72))
        buy_at = activate_at + datetime.timedelta(days=rng.randint(1, 10), hours=rng.randint(0, 6))
        basket = rng.sample(purchases, k=min(len(purchases), rng.choice([1, 1, 2])))
        if activated and activate_at < end:
            buys = rng.random() < 0.9 and buy_at < end
            activate = _activate_step(
                member, item.pk, buy_at if buys else None, basket, stores, offers, tag
            )
            steps.append(Step(activate_at, activate))
        elif opened and rng.random() < 0.15 and buy_at < end:
            steps.append(Step(buy_at, _offer_purchase_step(member, basket, stores, tag)))
    return steps


def _demo_login_number() -> frozenset[str]:
    """The demo login's year is written out in ``rewards.demo``: offers sent to them wait,
    unopened, for whoever logs in."""
    demo_login = Member.objects.filter(user__email=members_demo.DEMO_MEMBER_EMAIL)
    return frozenset(demo_login.values_list("membership_number", flat=True))


def _opened_step(delivery_id: int, clicked: bool) -> Callable[[], None]:
    """The member opens the email (the pixel) and perhaps follows its link."""

    def run() -> None:
        pixel = rendering.open_pixel_url(delivery_id)
        delivery_opened(token=pixel.split("/o/", 1)[1].split("/", 1)[0])
        if clicked:
            url = settings.SITE_URL.rstrip("/") + "/mina-sidor/erbjudanden/"
            token = signing.dumps([delivery_id, url], salt=rendering.CLICK_SALT, compress=True)
            delivery_clicked(token=token)

    return run


def _activate_step(
    member: Member,
    member_offer_id: int,
    buy_at: datetime.datetime | None,
    basket: list[tuple[str, int]],
    stores: dict[str, Store],
    offers: ActiveOffers,
    tag: str,
) -> Callable[[], list[Step]]:
    def run() -> list[Step]:
        try:
            activated = offer_activate(member=member, member_offer_id=member_offer_id)
        except DomainError:
            return []
        offers.activated(activated)
        if buy_at is None:
            return []
        return [Step(buy_at, _offer_purchase_step(member, basket, stores, tag))]

    return run


def _offer_purchase_step(
    member: Member, basket: list[tuple[str, int]], stores: dict[str, Store], tag: str
) -> Callable[[], None]:
    def run() -> None:
        store = stores["webshop"]
        if member.home_store_id is not None:
            store = next(s for s in stores.values() if s.pk == member.home_store_id)
        rewards_demo.demo_purchase(
            member=member,
            store=store,
            items=basket,
            receipt_id=f"K{member.membership_number}-{tag}",
        )

    return run


PERSONAL_RESPONSE = {"A": (0.5, 0.2, 0.35)}


def _personal_launch(
    marketer: User, stores: dict[str, Store], end: datetime.datetime, offers: ActiveOffers
) -> Callable[[], list[Step]]:
    """A personal offer to everyone who runs, this week: no control group, on the member
    pages first. The demo login has not activated theirs yet."""

    def run() -> list[Step]:
        segment = segment_save(
            name="Löpare",
            description="Har köpt löparskor eller löparkläder det senaste året.",
            criteria={
                "op": "and",
                "children": [
                    {
                        "field": "bought_category",
                        "value": ["running-shoes", "running-wear"],
                        "days": 365,
                    }
                ],
            },
            actor=marketer,
        )
        offer = offer_save(
            name="Löparkläder: dubbla poäng",
            kind=Offer.Kind.BONUS_POINTS,
            title_sv="Dubbla poäng på löparkläder",
            title_en="Double points on running wear",
            body_sv="Aktivera så får du dubbla poäng på löparkläder i 14 dagar.",
            body_en="Activate to earn double points on running wear for 14 days.",
            multiplier=Decimal("2"),
            category=_category("running-wear"),
            bonus_days=14,
        )
        campaign = campaign_save(
            name=PERSONAL_CAMPAIGN,
            segment=segment,
            channels=["onsite", "email"],
            holdout_percent=0,
            goal=Campaign.Goal.REDEMPTIONS,
            goal_days=14,
            priority=3,
        )
        variant_save(
            campaign=campaign,
            code="A",
            weight=100,
            offer=offer,
            **_email_texts(offer.title_sv, offer.title_en, offer.body_sv, offer.body_en),
        )
        campaign_launch(campaign=campaign, actor=marketer)
        return _offer_follow_ups(
            campaign,
            stores,
            end,
            offers,
            PERSONAL_RESPONSE,
            tag="personal",
            skip=_demo_login_number(),
        )

    return run


def _interest_launch(marketer: User) -> Callable[[], None]:
    """An offer caused by an interest: to the members who said they like the outdoors (the
    demo login among them), on the member pages only. Its "Varför?" reads "Eftersom du sa
    att du gillar friluftsliv" (campaigns.personalisation.segment_reasons)."""

    def run() -> None:
        segment = segment_save(
            name="Gillar friluftsliv",
            description="Har sagt att de gillar friluftsliv (Mina val eller steget efter sign-up).",
            criteria={"op": "and", "children": [{"field": "interest", "value": ["outdoor"]}]},
            actor=marketer,
        )
        offer = offer_save(
            name="Friluftsliv: intresse",
            kind=Offer.Kind.BONUS_POINTS,
            title_sv="Dubbla poäng på vandringskängor",
            title_en="Double points on hiking boots",
            body_sv="Du sa att du gillar friluftsliv: aktivera och få dubbla poäng i 14 dagar.",
            body_en="You said you like the outdoors: activate for double points for 14 days.",
            multiplier=Decimal("2"),
            category=_category("outdoor"),
            bonus_days=14,
        )
        campaign = campaign_save(
            name=INTEREST_CAMPAIGN,
            segment=segment,
            channels=["onsite"],
            holdout_percent=0,
            goal=Campaign.Goal.REDEMPTIONS,
            goal_days=14,
            priority=2,
        )
        variant_save(
            campaign=campaign,
            code="A",
            weight=100,
            offer=offer,
            **_email_texts(offer.title_sv, offer.title_en, offer.body_sv, offer.body_en),
        )
        campaign_launch(campaign=campaign, actor=marketer)

    return run


def _scheduled_launch(marketer: User, anchor_day: datetime.date) -> Callable[[], None]:
    """Next week's campaign, ready and waiting: beat starts it at its time."""

    def run() -> None:
        segment = segment_save(
            name="Skidåkare",
            description="Intresserade av skidåkning, eller har köpt skidutrustning.",
            criteria={
                "op": "or",
                "children": [
                    {"field": "interest", "value": ["skiing"]},
                    {"field": "bought_category", "value": ["skiing"]},
                ],
            },
            actor=marketer,
        )
        offer = offer_save(
            name="Skidor: dubbla poäng",
            kind=Offer.Kind.BONUS_POINTS,
            title_sv="Dubbla poäng på skidor",
            title_en="Double points on skiing gear",
            body_sv="Säsongen är här: aktivera och få dubbla poäng på allt för skidåkning.",
            body_en="The season is here: activate for double points on all skiing gear.",
            multiplier=Decimal("2"),
            category=_category("skiing"),
            bonus_days=21,
        )
        campaign = campaign_save(
            name=SCHEDULED_CAMPAIGN,
            segment=segment,
            channels=["email", "sms", "onsite"],
            holdout_percent=10,
            goal=Campaign.Goal.REVENUE,
            goal_days=21,
            priority=4,
            send_at=local_time(anchor_day + datetime.timedelta(days=SCHEDULED_SEND_IN_DAYS), 9, 0),
        )
        variant_save(
            campaign=campaign,
            code="A",
            weight=100,
            offer=offer,
            **_email_texts(offer.title_sv, offer.title_en, offer.body_sv, offer.body_en),
        )
        campaign_launch(campaign=campaign, actor=marketer)

    return run
