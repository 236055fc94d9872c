"""Demo data, rewards' part: the catalogue, earning and event rules, the tier ladder and its
benefits, the reward catalogue (with images drawn here), challenges, and the members'
year of purchases, claims, vouchers, returns, reviews, check-ins and referrals.

The configuration is what staff set up in the back-office (admin saves the models; the
partner codes and the products go through their upload services); idempotent by code. The
history is a list of ``members.demo.Step``: each calls the service a till, a member or staff
would call (``purchase_record``, ``reward_claim``, ``voucher_redeem``, ...), played in time
order by ``members.demo.timeline_play``. See docs/demo.md.
"""

from __future__ import annotations

import contextlib
import datetime
import random
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db.models import Q
from django.utils import timezone

from members.activity import Dispatch, activity_dispatch
from members.demo import DEMO_MEMBER_EMAIL, DemoPerson, Step, local_time, timeline_play
from members.errors import DomainError
from members.models import Member, Store, User
from members.pictures.demo import picture_demo_ensure
from rewards.ledger.points import points_adjust
from rewards.loyalty import catalogue, referrals, reviews, tier_ladder, tiers
from rewards.models import (
    Badge,
    Benefit,
    Category,
    Challenge,
    EarningRule,
    EventRule,
    PointBalance,
    Product,
    Purchase,
    Reward,
    Tier,
    Voucher,
)
from rewards.purchases.products import catalogue_import_csv, products_cache_clear
from rewards.purchases.recording import purchase_record_for_till
from rewards.purchases.returns import purchase_return
from rewards.purchases.types import LineInput
from rewards.rules.earning import rules_cache_clear
from rewards.rules.events import checkin_record, checkin_record_at_door
from rewards.tasks import birthday_points_award

# --- the catalogue: a Swedish sports chain ---------------------------------------------------

# Category code -> name as a shopper says it (personalisation's "Because you bought ...").
CATEGORIES = {
    "running-shoes": "löparskor",
    "running-wear": "löparkläder",
    "outdoor": "friluftsliv",
    "football": "fotboll",
    "yoga": "yoga",
    "cycling": "cykel",
    "skiing": "skidor",
    "nutrition": "sportnäring",
    "accessories": "tillbehör",
    "tobacco": "tobak",
    "gift-cards": "presentkort",
}

# (SKU, name, category code, price in SEK)
PRODUCTS: list[tuple[str, str, str, int]] = [
    ("RS-001", "Löparsko Fart 3", "running-shoes", 1299),
    ("RS-002", "Löparsko Terräng GTX", "running-shoes", 1599),
    ("RS-003", "Löparsko Lätt 2", "running-shoes", 999),
    ("RS-004", "Tävlingssko Karbon", "running-shoes", 2199),
    ("RW-001", "Löpartröja Andas", "running-wear", 399),
    ("RW-002", "Löpartights Vinter", "running-wear", 599),
    ("RW-003", "Löparjacka Vindtät", "running-wear", 899),
    ("RW-004", "Löparstrumpor 3-pack", "running-wear", 199),
    ("RW-005", "Pannband Reflex", "running-wear", 149),
    ("OD-001", "Vandringsryggsäck 30 l", "outdoor", 1199),
    ("OD-002", "Fleecetröja Fjäll", "outdoor", 699),
    ("OD-003", "Termos 0,75 l", "outdoor", 299),
    ("OD-004", "Vandringskängor Mid", "outdoor", 1799),
    ("OD-005", "Regnjacka Skal", "outdoor", 1499),
    ("FB-001", "Fotboll Match", "football", 349),
    ("FB-002", "Fotbollsskor Gräs", "football", 1099),
    ("FB-003", "Benskydd", "football", 199),
    ("FB-004", "Målvaktshandskar", "football", 449),
    ("YG-001", "Yogamatta 4 mm", "yoga", 399),
    ("YG-002", "Yogablock 2-pack", "yoga", 149),
    ("YG-003", "Yogatights", "yoga", 499),
    ("CY-001", "Cykelhjälm Urban", "cycling", 899),
    ("CY-002", "Cykellampa Set", "cycling", 349),
    ("CY-003", "Cykeltröja", "cycling", 599),
    ("CY-004", "Cykelpump", "cycling", 249),
    ("SK-001", "Längdskidor Klassisk", "skiing", 2499),
    ("SK-002", "Skidvalla Kit", "skiing", 299),
    ("SK-003", "Skidglasögon", "skiing", 799),
    ("SK-004", "Underställ Merino", "skiing", 899),
    ("NU-001", "Sportdryck 50 cl", "nutrition", 25),
    ("NU-002", "Proteinbar", "nutrition", 29),
    ("NU-003", "Energigel 4-pack", "nutrition", 89),
    ("NU-004", "Vattenflaska 0,75 l", "nutrition", 129),
    ("AC-001", "Träningsväska", "accessories", 499),
    ("AC-002", "Pulsklocka", "accessories", 2499),
    ("AC-003", "Keps", "accessories", 199),
    ("TB-001", "Snus Portion", "tobacco", 59),
    ("GC-500", "Presentkort 500 kr", "gift-cards", 500),
]
PRICE = {sku: price for sku, _name, _category, price in PRODUCTS}
CATEGORY_OF = {sku: category for sku, _name, category, _price in PRODUCTS}
NUTRITION = [sku for sku, _n, category, _p in PRODUCTS if category == "nutrition"]
# What is bought together: the affinities personalisation finds ("they are often bought
# together") come from these.
COMPANIONS = {
    "RS-001": ["RW-004", "RW-005"],
    "RS-002": ["RW-004", "OD-003"],
    "RS-003": ["RW-004", "RW-001"],
    "RS-004": ["RW-004", "NU-003"],
    "RW-002": ["RW-001", "RW-005"],
    "RW-003": ["RW-005"],
    "OD-001": ["OD-003", "NU-004"],
    "OD-004": ["OD-002", "RW-004"],
    "OD-005": ["OD-002"],
    "FB-002": ["FB-003", "FB-001"],
    "FB-001": ["FB-003"],
    "YG-001": ["YG-002", "NU-004"],
    "YG-003": ["YG-002"],
    "CY-001": ["CY-002", "CY-004"],
    "CY-003": ["CY-002"],
    "SK-001": ["SK-002", "SK-004"],
    "SK-003": ["SK-004"],
}
# Interest code (consent's interests) -> the categories a fan of it buys.
SPORTS: dict[str, tuple[str, ...]] = {
    "running": ("running-shoes", "running-wear"),
    "outdoor": ("outdoor",),
    "football": ("football",),
    "yoga": ("yoga",),
    "cycling": ("cycling",),
    "skiing": ("skiing",),
}
SPORT_WEIGHTS = {
    "running": 35,
    "outdoor": 20,
    "football": 12,
    "yoga": 12,
    "cycling": 11,
    "skiing": 10,
}


# VAT rates (basis points) for the receipts: sports nutrition is food (12 %), a gift card is a
# multi-purpose voucher (no VAT when sold, 0 %), everything else 25 %, the categories' default;
# a water bottle sold among the nutrition is no food.
CATEGORY_VAT = {"nutrition": 1200, "gift-cards": 0}
PRODUCT_VAT = {"NU-004": 2500}


def catalogue_ensure() -> None:
    """Products and categories, through the CSV import staff use (skipped when all exist),
    with their VAT rates."""
    if Product.objects.filter(sku__in=PRICE).count() != len(PRICE):
        catalogue_import_csv(
            rows=[
                {
                    "sku": sku,
                    "name": name,
                    "category_code": category,
                    "category_name": CATEGORIES[category],
                }
                for sku, name, category, _price in PRODUCTS
            ]
        )
    for code, rate in CATEGORY_VAT.items():
        Category.objects.filter(code=code).exclude(vat_rate_bp=rate).update(vat_rate_bp=rate)
    for sku, rate in PRODUCT_VAT.items():
        Product.objects.filter(sku=sku).exclude(vat_rate_bp=rate).update(vat_rate_bp=rate)
    products_cache_clear()  # the rates apply to the next purchase


# --- rules, tiers, benefits ----------------------------------------------------------------

TIERS = [
    # code, sv, en, rank, points earned in 12 months, benefits to choose, sv text, en text
    (
        "brons",
        "Brons",
        "Bronze",
        0,
        0,
        0,
        "Poäng på allt du köper och erbjudanden som passar dig.",
        "Points on everything you buy and offers that suit you.",
    ),
    (
        "silver",
        "Silver",
        "Silver",
        1,
        8000,
        1,
        "Välj en förmån varje månad och få fler belöningar att välja på.",
        "Choose one benefit a month and more rewards to choose from.",
    ),
    (
        "guld",
        "Guld",
        "Gold",
        2,
        20000,
        2,
        "25 % extra poäng på allt, två förmåner i månaden och personlig service.",
        "25 % extra points on everything, two benefits a month and personal service.",
    ),
]

EVENT_RULES = [
    # event, sv, en, points, cap, period, who earns
    ("joined", "Välkommen till klubben", "Welcome to the club", 100, 1, "ever", "member"),
    ("profile_completed", "Komplett profil", "Profile completed", 50, 1, "ever", "member"),
    ("birthday", "Grattis på födelsedagen", "Happy birthday", 200, 1, "month", "member"),
    ("review", "Tack för din recension", "Thank you for your review", 25, 3, "month", "member"),
    ("social_share", "Tack för att du delade", "Thanks for sharing", 25, 2, "month", "member"),
    ("referral", "Tipsa en vän", "Invite a friend", 250, 5, "month", "both"),
    ("check_in", "Incheckning i butik", "Checked in at a store", 10, 1, "day", "member"),
    # The first time a member tells what they like (the sign-up step or Mina val).
    (
        "interests_told",
        "Tack för att du berättade vad du gillar",
        "Thanks for telling us what you like",
        50,
        1,
        "ever",
        "member",
    ),
]


def tiers_ensure() -> dict[str, Tier]:
    for code, sv, en, rank, points, picks, text_sv, text_en in TIERS:
        Tier.objects.get_or_create(
            code=code,
            defaults={
                "name_sv": sv,
                "name_en": en,
                "rank": rank,
                "threshold_points": points,
                "threshold_spend_ore": points * 100,
                "benefit_picks": picks,
                "description_sv": text_sv,
                "description_en": text_en,
            },
        )
    tier_ladder.ladder_cache_clear()
    return {tier.code: tier for tier in Tier.objects.filter(code__in=[t[0] for t in TIERS])}


def _categories() -> dict[str, Category]:
    return {c.code: c for c in Category.objects.filter(code__in=CATEGORIES)}


def benefits_ensure(tier_by_code: dict[str, Tier]) -> None:
    categories = _categories()
    silver, gold = tier_by_code["silver"], tier_by_code["guld"]
    rows: list[tuple[str, str, str, str, str, str, Tier, str | None]] = [
        (
            "fri-frakt",
            Benefit.Kind.FREE_DELIVERY,
            "Fri frakt i webbutiken",
            "Free delivery from the web shop",
            "Gäller alla beställningar under månaden.",
            "On every order this month.",
            silver,
            None,
        ),
        (
            "dubbla-loparklader",
            Benefit.Kind.CATEGORY_MULTIPLIER,
            "Dubbla poäng på löparkläder",
            "Double points on running wear",
            "Allt i löparkläder ger dubbla poäng hela månaden.",
            "Everything in running wear earns double points all month.",
            silver,
            "running-wear",
        ),
        (
            "dubbla-friluftsliv",
            Benefit.Kind.CATEGORY_MULTIPLIER,
            "Dubbla poäng på friluftsliv",
            "Double points on outdoor gear",
            "Allt för friluftslivet ger dubbla poäng hela månaden.",
            "Everything for the outdoors earns double points all month.",
            silver,
            "outdoor",
        ),
        (
            "fika-partner",
            Benefit.Kind.PARTNER,
            "Fika för två på Kafé Lyktan",
            "Coffee and a bun for two at Kafé Lyktan",
            "Visa ditt medlemskort i kassan.",
            "Show your membership card at the counter.",
            gold,
            None,
        ),
        (
            "personlig-shopping",
            Benefit.Kind.OTHER,
            "Personlig shopping med en expert",
            "Personal shopping with an expert",
            "Boka en timme med en av våra experter i butiken.",
            "Book an hour with one of our experts in store.",
            gold,
            None,
        ),
    ]
    for code, kind, sv, en, desc_sv, desc_en, min_tier, category in rows:
        Benefit.objects.get_or_create(
            code=code,
            defaults={
                "kind": kind,
                "name_sv": sv,
                "name_en": en,
                "description_sv": desc_sv,
                "description_en": desc_en,
                "min_tier": min_tier,
                "category": categories.get(category or ""),
                "multiplier": Decimal("2"),
            },
        )


def earning_rules_ensure(tier_by_code: dict[str, Tier]) -> None:
    """A base rate, two category multipliers, tobacco and gift cards excluded, and the Gold
    tier's extra (kept by name: staff may edit them freely afterwards)."""
    categories = _categories()
    Kind = EarningRule.Kind
    rules: list[dict[str, Any]] = [
        {"kind": Kind.BASE, "name_sv": "1 poäng per krona", "name_en": "1 point per krona"},
        {
            "kind": Kind.MULTIPLIER,
            "name_sv": "Dubbla poäng på löparskor",
            "name_en": "Double points on running shoes",
            "multiplier": Decimal("2"),
            "category": categories["running-shoes"],
        },
        {
            "kind": Kind.MULTIPLIER,
            "name_sv": "1,5 x poäng på friluftsliv",
            "name_en": "1.5 x points on outdoor gear",
            "multiplier": Decimal("1.5"),
            "category": categories["outdoor"],
        },
        {
            "kind": Kind.EXCLUSION,
            "name_sv": "Tobak ger inga poäng",
            "name_en": "Tobacco earns no points",
            "category": categories["tobacco"],
        },
        {
            "kind": Kind.EXCLUSION,
            "name_sv": "Presentkort ger inga poäng",
            "name_en": "Gift cards earn no points",
            "category": categories["gift-cards"],
        },
        {
            "kind": Kind.MULTIPLIER,
            "name_sv": "Guld: 25 % extra poäng",
            "name_en": "Gold: 25 % extra points",
            "multiplier": Decimal("1.25"),
            "tier": tier_by_code["guld"],
        },
    ]
    for rule in rules:
        defaults = {k: v for k, v in rule.items() if k not in ("kind", "name_sv")}
        EarningRule.objects.get_or_create(
            kind=rule["kind"], name_sv=rule["name_sv"], defaults=defaults
        )
    for event, sv, en, points, cap, period, who in EVENT_RULES:
        EventRule.objects.get_or_create(
            event=event,
            name_sv=sv,
            defaults={
                "name_en": en,
                "points": points,
                "cap": cap,
                "period": period,
                "beneficiary": who,
            },
        )
    rules_cache_clear()


# --- rewards and their images ---------------------------------------------------------------


@dataclass(frozen=True)
class DemoReward:
    code: str
    kind: str
    name_sv: str
    name_en: str
    description_sv: str
    description_en: str
    points: int
    label: str  # the big text on the image
    fields: dict[str, Any]


def demo_rewards(*, anchor_day: datetime.date) -> list[DemoReward]:
    K = Reward.Kind
    event = local_time(anchor_day + datetime.timedelta(days=18), 18, 0)
    return [
        DemoReward(
            "rabatt-50",
            K.DISCOUNT_AMOUNT,
            "50 kr rabatt",
            "SEK 50 off",
            "50 kr rabatt när du handlar för minst 300 kr, i butik eller på webben.",
            "SEK 50 off a purchase of SEK 300 or more, in store or online.",
            500,
            "50 kr",
            {"amount_off_ore": 5000, "min_basket_ore": 30000, "valid_days": 60},
        ),
        DemoReward(
            "rabatt-10",
            K.DISCOUNT_PERCENT,
            "10 % rabatt på ett köp",
            "10 % off one purchase",
            "Tio procent rabatt på hela köpet.",
            "Ten per cent off the whole purchase.",
            800,
            "10 %",
            {"percent_off": 10, "valid_days": 30, "per_member_limit": 2},
        ),
        DemoReward(
            "rabatt-200",
            K.DISCOUNT_AMOUNT,
            "200 kr rabatt för Silver och Guld",
            "SEK 200 off for Silver and Gold",
            "200 kr rabatt när du handlar för minst 1 000 kr.",
            "SEK 200 off a purchase of SEK 1,000 or more.",
            1800,
            "200 kr",
            {"amount_off_ore": 20000, "min_basket_ore": 100000, "valid_days": 60},
        ),
        DemoReward(
            "sportdryck",
            K.FREE_PRODUCT,
            "En sportdryck",
            "A sports drink",
            "En sportdryck på 50 cl, hämta den i valfri butik.",
            "A 50 cl sports drink, collect it in any store.",
            150,
            "Gratis",
            {"product_sku": "NU-001", "valid_days": 30},
        ),
        DemoReward(
            "loparstrumpor",
            K.FREE_PRODUCT,
            "Löparstrumpor 3-pack",
            "Running socks, 3 pairs",
            "Tre par löparstrumpor som andas.",
            "Three pairs of breathable running socks.",
            700,
            "3-pack",
            {"product_sku": "RW-004", "valid_days": 60, "stock_total": 120},
        ),
        DemoReward(
            "biobiljett",
            K.PARTNER,
            "Biobiljett hos Biograf Saga",
            "A cinema ticket at Biograf Saga",
            "En biljett till valfri föreställning. Koden visas direkt.",
            "One ticket for any screening. The code is shown at once.",
            1200,
            "Bio",
            {"valid_days": 90, "per_member_limit": 2},
        ),
        DemoReward(
            "klatterpass",
            K.PARTNER,
            "Dagspass på Klätterhallen",
            "A day pass at Klätterhallen",
            "Klättra en hel dag, utrustning ingår.",
            "Climb all day, gear included.",
            900,
            "Klättra",
            {"valid_days": 90, "per_member_limit": 1},
        ),
        DemoReward(
            "kvallsshopping",
            K.INVITATION,
            "Kvällsshopping för medlemmar: löpning",
            "Members' evening: running",
            "Stängd butik, löpexperter och 20 % på allt för löpning. Begränsat antal platser.",
            "The store closed for members, running experts and 20 % off. Limited places.",
            300,
            "Inbjudan",
            {
                "event_starts_at": event,
                "event_place": "Drottninggatan, Stockholm",
                "stock_total": 40,
                "per_member_limit": 1,
            },
        ),
        DemoReward(
            "gava-barn-i-rorelse",
            K.DONATION,
            "Skänk 50 kr till Barn i rörelse",
            "Give SEK 50 to Barn i rörelse",
            "Vi skänker 50 kr till föreningsidrott för barn för dina poäng.",
            "We give SEK 50 to sports clubs for children for your points.",
            250,
            "Gåva",
            {"charity": "Stiftelsen Barn i rörelse"},
        ),
    ]


PARTNER_POOLS = {"biobiljett": ("SAGA", 40), "klatterpass": ("KLATTER", 30)}

_KIND_COLOURS: dict[str, tuple[str, str]] = {
    Reward.Kind.DISCOUNT_AMOUNT: ("#0b6e4f", "#1fa37a"),
    Reward.Kind.DISCOUNT_PERCENT: ("#1d4e89", "#3f88c5"),
    Reward.Kind.FREE_PRODUCT: ("#b5451b", "#e9804d"),
    Reward.Kind.PARTNER: ("#5b2a86", "#9a5fc7"),
    Reward.Kind.INVITATION: ("#1c1c3c", "#4a4a8a"),
    Reward.Kind.DONATION: ("#a4133c", "#e05780"),
}
# The icon members.pictures.demo draws on each kind's picture.
_KIND_ICONS: dict[str, str] = {
    Reward.Kind.DISCOUNT_AMOUNT: "ticket",
    Reward.Kind.DISCOUNT_PERCENT: "percent",
    Reward.Kind.FREE_PRODUCT: "gift",
    Reward.Kind.PARTNER: "star",
    Reward.Kind.INVITATION: "envelope",
    Reward.Kind.DONATION: "heart",
}


def _partner_codes(prefix: str, count: int) -> list[str]:
    rng = random.Random(f"partner:{prefix}")
    alphabet = catalogue.CODE_ALPHABET
    return [f"{prefix}-{''.join(rng.choice(alphabet) for _ in range(8))}" for _ in range(count)]


def rewards_ensure(*, anchor_day: datetime.date) -> dict[str, Reward]:
    """The reward catalogue, as staff would add it in admin, each with its image; partner
    rewards get their code pool through the upload service."""
    starts = local_time(anchor_day - datetime.timedelta(days=430), 8, 0)
    by_code = {}
    for spec in demo_rewards(anchor_day=anchor_day):
        fields = dict(spec.fields)
        min_tier = Tier.objects.filter(code="silver").first() if spec.code == "rabatt-200" else None
        reward, created = Reward.objects.get_or_create(
            code=spec.code,
            defaults={
                "kind": spec.kind,
                "name_sv": spec.name_sv,
                "name_en": spec.name_en,
                "description_sv": spec.description_sv,
                "description_en": spec.description_en,
                "image_alt_sv": spec.name_sv,
                "image_alt_en": spec.name_en,
                "points_cost": spec.points,
                "min_tier": min_tier,
                "starts_at": starts,
                # admin sets the stock left to the total when a reward is created
                "stock_left": fields.get("stock_total"),
                **fields,
            },
        )
        _reward_image_ensure(reward, spec)
        if created and spec.code in PARTNER_POOLS:
            prefix, count = PARTNER_POOLS[spec.code]
            catalogue.partner_codes_upload(
                reward=reward, lines=["code", *_partner_codes(prefix, count)], batch="demo"
            )
            reward.refresh_from_db()
        by_code[spec.code] = reward
    return by_code


def _reward_image_ensure(reward: Reward, spec: DemoReward) -> None:
    """Draw the picture once, as staff would upload it; again only if its files went missing
    (var/media removed)."""
    picture_demo_ensure(
        reward, icon=_KIND_ICONS[spec.kind], colours=_KIND_COLOURS[spec.kind], label=spec.label
    )


# --- challenges -----------------------------------------------------------------------------


def challenges_ensure(*, anchor_day: datetime.date) -> None:
    """Two challenges running now, and the profile challenge that is always on."""
    badges = [
        ("stammis", "Stammis", "Regular", "★"),
        ("upptackare", "Upptäckare", "Explorer", "◆"),
        ("profilproffs", "Profilproffs", "Profile pro", "✓"),
    ]
    for code, sv, en, symbol in badges:
        Badge.objects.get_or_create(
            code=code, defaults={"name_sv": sv, "name_en": en, "symbol": symbol}
        )
    badge = {b.code: b for b in Badge.objects.filter(code__in=[b[0] for b in badges])}
    for code, (icon, colours) in _BADGE_PICTURES.items():
        picture_demo_ensure(badge[code], icon=icon, colours=colours, square=True)

    def day(offset: int) -> datetime.datetime:
        return local_time(anchor_day + datetime.timedelta(days=offset), 0, 0)

    specs: list[dict[str, Any]] = [
        {
            "code": "fem-kop-30-dagar",
            "kind": Challenge.Kind.PURCHASES,
            "name_sv": "Handla fem gånger på 30 dagar",
            "name_en": "Shop five times in 30 days",
            "description_sv": "Fem köp inom 30 dagar, i butik eller på webben, ger 300 poäng.",
            "description_en": "Five purchases within 30 days, in store or online, earn 300 points.",
            "target": 5,
            "window_days": 30,
            "points": 300,
            "badge": badge["stammis"],
            "starts_at": day(-14),
            "ends_at": day(40),
        },
        {
            "code": "tre-butiker",
            "kind": Challenge.Kind.STORES,
            "name_sv": "Besök tre av våra butiker",
            "name_en": "Visit three of our stores",
            "description_sv": "Handla eller checka in i tre olika butiker (webbutiken räknas).",
            "description_en": "Shop or check in at three different stores (the web shop counts).",
            "target": 3,
            "window_days": None,
            "points": 200,
            "badge": badge["upptackare"],
            "starts_at": day(-14),
            "ends_at": day(30),
        },
        {
            "code": "komplett-profil",
            "kind": Challenge.Kind.PROFILE,
            "name_sv": "Fyll i din profil",
            "name_en": "Complete your profile",
            "description_sv": "Mobilnummer och födelsedag, så kan vi gratulera dig.",
            "description_en": "Your mobile number and birthday, so we can celebrate with you.",
            "target": 1,
            "window_days": None,
            "points": 0,
            "badge": badge["profilproffs"],
            "starts_at": day(-500),
            "ends_at": None,
        },
    ]
    for spec in specs:
        challenge, _created = Challenge.objects.get_or_create(code=spec.pop("code"), defaults=spec)
        icon, colours = _CHALLENGE_PICTURES[challenge.code]
        picture_demo_ensure(challenge, icon=icon, colours=colours)


# Drawn pictures (members.pictures.demo): the challenges' and their badges'.
_CHALLENGE_PICTURES = {
    "fem-kop-30-dagar": ("bag", ("#b5451b", "#e9804d")),
    "tre-butiker": ("pin", ("#1d4e89", "#3f88c5")),
    "komplett-profil": ("person", ("#0b6e4f", "#1fa37a")),
}
_BADGE_PICTURES = {
    "stammis": ("star", ("#8a5a00", "#e0a526")),
    "upptackare": ("pin", ("#5b2a86", "#9a5fc7")),
}


def loyalty_ensure(*, anchor_day: datetime.date) -> dict[str, Reward]:
    """Everything staff configure before members shop: idempotent, by code or name."""
    catalogue_ensure()
    tier_by_code = tiers_ensure()
    benefits_ensure(tier_by_code)
    earning_rules_ensure(tier_by_code)
    challenges_ensure(anchor_day=anchor_day)
    return rewards_ensure(anchor_day=anchor_day)


def demo_history_exists(*, email: str) -> bool:
    """Has the history been loaded? (The demo login has purchases.)"""
    return Purchase.objects.filter(member__user__email=email).exists()


# --- shoppers -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Shopper:
    """How a member shops: what they love, how often, where."""

    sports: tuple[str, ...]
    per_year: int
    home: str | None
    webshop_share: float
    max_price: int | None = None  # SEK: what they usually spend on one thing
    categories: tuple[str, ...] = ()  # what they buy, when not simply what they love


def shopper_draw(rng: random.Random, *, home: str | None) -> Shopper:
    count = rng.choices([1, 2, 3], weights=[45, 40, 15])[0]
    sports: list[str] = []
    while len(sports) < count:
        pick = rng.choices(list(SPORT_WEIGHTS), weights=list(SPORT_WEIGHTS.values()))[0]
        if pick not in sports:
            sports.append(pick)
    per_year = rng.choices(
        [1, 2, 3, 4, 5, 6, 8, 10, 12, 18],
        weights=[10, 13, 14, 14, 12, 10, 9, 7, 6, 5],
    )[0]
    return Shopper(
        sports=tuple(sports),
        per_year=per_year,
        home=home,
        webshop_share=rng.choice([0.05, 0.15, 0.3, 0.6]),
    )


# The demo login: a runner who also hikes, every three weeks or so, mostly smaller things
# (so that they are Silver, on their way to Gold).
DEMO_LOGIN_SHOPPER = Shopper(
    sports=("running", "outdoor"),
    per_year=18,
    home="sthlm-drottning",
    webshop_share=0.15,
    max_price=450,
    categories=("running-wear", "running-wear", "outdoor", "nutrition"),
)


def basket_draw(rng: random.Random, shopper: Shopper, day: datetime.date) -> list[tuple[str, int]]:
    """One receipt's lines: a product the member loves (sometimes something else), maybe
    what goes with it, maybe a drink or a bar; now and then snus or a gift card."""
    if rng.random() < 0.012:
        return [("GC-500", 1)]
    winter = day.month in (11, 12, 1, 2, 3)
    sports = [s for s in shopper.sports if s != "skiing" or winter] or list(shopper.sports)
    if shopper.categories:
        category = rng.choice(shopper.categories)
    elif rng.random() < 0.15:
        category = rng.choice(["accessories", *CATEGORIES_WITH_SPORTS])
    else:
        sport = sports[0] if rng.random() < 0.6 else rng.choice(sports)
        category = rng.choice(SPORTS[sport])
    choices = [sku for sku, _n, c, _p in PRODUCTS if c == category]
    affordable = [sku for sku in choices if PRICE[sku] <= (shopper.max_price or PRICE[sku])]
    primary = rng.choice(affordable or choices)
    items = {primary: 1}
    if primary in COMPANIONS and rng.random() < 0.45:
        items.setdefault(rng.choice(COMPANIONS[primary]), 1)
    if rng.random() < 0.3:
        items[rng.choice(NUTRITION)] = rng.randint(1, 3)
    if rng.random() < 0.04:
        items["TB-001"] = rng.randint(1, 2)
    return list(items.items())


CATEGORIES_WITH_SPORTS = sorted({c for categories in SPORTS.values() for c in categories})


def _store_pick(rng: random.Random, shopper: Shopper, stores: dict[str, Store]) -> Store:
    physical = sorted(code for code, store in stores.items() if store.kind == Store.Kind.STORE)
    roll = rng.random()
    if roll < shopper.webshop_share:
        return stores["webshop"]
    if shopper.home and roll < 0.88:
        return stores[shopper.home]
    return stores[rng.choice(physical)]


def demo_purchase(
    *,
    member: Member,
    store: Store,
    items: list[tuple[str, int]],
    receipt_id: str,
    consume: bool = True,
) -> Purchase:
    """A till records a purchase now: it identifies the member by number (their tier and
    personal multipliers in one read), as the API does (``purchase_record_for_till``).

    ``consume``: the timeline's consumers (challenges, referrals, offer redemptions) see the
    purchase at once; without it the event stays on the timeline only (old history)."""
    now = timezone.now()
    lines = [
        LineInput(
            sku=sku,
            quantity=quantity,
            unit_price_ore=PRICE[sku] * 100,
            category=CATEGORY_OF[sku],
        )
        for sku, quantity in items
    ]
    with activity_dispatch(Dispatch.INLINE if consume else Dispatch.OFF):
        result = purchase_record_for_till(
            store=store,
            receipt_id=receipt_id,
            member_identifiers={"membership_number": member.membership_number},
            total_ore=sum(line.unit_price_ore * line.quantity for line in lines),
            purchased_at=now,
            lines=lines,
        )
    return result.purchase


# Whether the timeline's consumers must see this member's purchase now (asked when it
# happens): during a running challenge, while an activated offer can be redeemed, ...
Consume = Callable[[Member, datetime.datetime], bool]


def consume_always(member: Member, at: datetime.datetime) -> bool:
    return True


def _times(
    rng: random.Random, *, start: datetime.datetime, end: datetime.datetime, per_year: float
) -> list[datetime.datetime]:
    """Shopping times between ``start`` and ``end``: about ``per_year`` a year, in opening
    hours (09-20, Stockholm)."""
    days = (end - start).days
    if days <= 0:
        return []
    count = max(0, round(per_year * days / 365 * rng.uniform(0.8, 1.2)))
    first = timezone.localtime(start).date()
    times = []
    for _ in range(count):
        day = first + datetime.timedelta(days=rng.randint(1, days))
        at = local_time(day, rng.randint(9, 19), rng.randint(0, 59))
        if start < at < end:
            times.append(at)
    return sorted(times)


def shopper_steps(
    *,
    person: DemoPerson,
    shopper: Shopper,
    stores: dict[str, Store],
    rewards: dict[str, Reward],
    staff: User,
    start: datetime.datetime,
    end: datetime.datetime,
    consume: Consume,
    first_purchase_consumed: bool = False,
) -> list[Step]:
    """A member's purchases (and a few returns), now and then a reward claimed with points
    and its voucher used, a review, a check-in. ``first_purchase_consumed``: a referred
    member's first purchase completes the referral, so its consumers must see it."""
    rng = person.rng("purchases")
    number = person.row["membership_number"]
    steps: list[Step] = []
    times = _times(rng, start=start, end=end, per_year=shopper.per_year)
    for n, at in enumerate(times):
        items = basket_draw(rng, shopper, timezone.localtime(at).date())
        store = _store_pick(rng, shopper, stores)
        receipt = f"D{number}-{n:03d}"
        returns = rng.random() < 0.02
        return_after = datetime.timedelta(days=rng.randint(2, 10), hours=rng.randint(0, 3))
        steps.append(
            Step(
                at,
                _purchase_step(
                    person,
                    store,
                    items,
                    receipt,
                    consume=consume_always if first_purchase_consumed and n == 0 else consume,
                    return_after=return_after if returns and at + return_after < end else None,
                ),
            )
        )
    extra = person.rng("extras")
    # Rewards chosen with points, once or twice a year for those who shop enough.
    claim_times = _times(extra, start=start + datetime.timedelta(days=45), end=end, per_year=0.7)
    for n, at in enumerate(claim_times[:2]):
        treat = _treat_step(person, rewards, stores, shopper, n, end, extra.random(), consume)
        steps.append(Step(at, treat))
    if times and extra.random() < 0.1:
        at = times[-1] + datetime.timedelta(days=extra.randint(1, 5), hours=2)
        if at < end:
            sku = basket_draw(extra, shopper, timezone.localtime(at).date())[0][0]
            steps.append(Step(at, review_step(person, sku, staff, end)))
    if shopper.home and extra.random() < 0.07:
        for n, at in enumerate(_times(extra, start=start, end=end, per_year=2)[:3]):
            steps.append(Step(at, _checkin_step(person, stores[shopper.home], n, consume)))
    return steps


def _purchase_step(
    person: DemoPerson,
    store: Store,
    items: list[tuple[str, int]],
    receipt: str,
    *,
    consume: Consume,
    return_after: datetime.timedelta | None = None,
) -> Callable[[], list[Step]]:
    def run() -> list[Step]:
        member = person.joined()
        demo_purchase(
            member=member,
            store=store,
            items=items,
            receipt_id=receipt,
            consume=consume(member, timezone.now()),
        )
        if return_after is None:
            return []
        return [Step(timezone.now() + return_after, _return_step(store, receipt))]

    return run


def _return_step(store: Store, receipt: str) -> Callable[[], None]:
    def run() -> None:
        # The first line goes back: inside the return window the pending points shrink.
        purchase_return(store=store, receipt_id=receipt, return_id=f"R{receipt}", lines=[(1, 1)])

    return run


def _treat_step(
    person: DemoPerson,
    rewards: dict[str, Reward],
    stores: dict[str, Store],
    shopper: Shopper,
    n: int,
    end: datetime.datetime,
    roll: float,
    consume: Consume,
) -> Callable[[], list[Step]]:
    """The member looks at the catalogue and picks something they can afford."""

    def run() -> list[Step]:
        member = person.joined()
        balance = PointBalance.objects.filter(member=member).first()
        available = balance.available if balance else 0
        options = list(
            Reward.objects.filter(code__in=rewards, points_cost__lte=available)
            .filter(Q(stock_left__isnull=True) | Q(stock_left__gt=0))
            .order_by("points_cost", "code")
        )
        if not options:
            return []
        reward = options[int(roll * len(options))]
        try:
            voucher = catalogue.reward_claim(
                member=member,
                reward=reward,
                idempotency_key=f"demo-{member.membership_number}-{n}",
                actor=member.user,
            )
        except DomainError:
            return []  # over the member's limit, or their tier is too low: next time
        use_at = timezone.now() + datetime.timedelta(days=3 + int(roll * 20), hours=1)
        if voucher.status != Voucher.Status.ISSUED or use_at >= min(end, voucher.valid_until):
            return []
        if reward.kind in (Reward.Kind.PARTNER, Reward.Kind.INVITATION) or roll > 0.7:
            return []
        store = stores[shopper.home] if shopper.home else stores["webshop"]
        return [Step(use_at, _voucher_use_step(person, voucher, store, n, consume))]

    return run


def _voucher_use_step(
    person: DemoPerson, voucher: Voucher, store: Store, n: int, consume: Consume
) -> Callable[[], None]:
    """The member shops and hands over the voucher: the purchase, then the till redeems it."""

    def run() -> None:
        reward = voucher.reward
        items: list[tuple[str, int]] = [("RW-003", 1)]
        if reward.min_basket_ore > PRICE["RW-003"] * 100:
            items.append(("OD-001", 1))  # enough for the voucher's minimum basket
        if reward.kind == Reward.Kind.FREE_PRODUCT and reward.product_sku:
            items = [(reward.product_sku, 1), ("NU-002", 1)]
        receipt = f"V{person.row['membership_number']}-{n}"
        member = person.joined()
        consumed = consume(member, timezone.now())
        purchase = demo_purchase(
            member=member, store=store, items=items, receipt_id=receipt, consume=consumed
        )
        # A voucher claimed with points redeems no campaign offer: its "used" event is only
        # history, unless a running challenge or an active offer needs the timeline now.
        with activity_dispatch(Dispatch.INLINE if consumed else Dispatch.OFF):
            catalogue.voucher_redeem(
                code=voucher.code,
                store=store,
                idempotency_key=f"demo-use-{voucher.code}",
                basket_total_ore=purchase.total_ore,
                reference=receipt,
            )

    return run


REVIEW_TEXTS = [
    "Sköna och lätta, perfekta för långpassen. Rekommenderas!",
    "Bra kvalitet för priset och snabb leverans till butiken.",
    "Personalen hjälpte mig hitta rätt storlek, mycket nöjd.",
    "Great fit and it has held up well after a few months of use.",
    "Håller värmen bra även i blåst. Köper gärna igen.",
]


def review_step(
    person: DemoPerson, sku: str, staff: User, end: datetime.datetime
) -> Callable[[], list[Step]]:
    """A member reviews something they bought; staff moderate it the next day (the last
    days' reviews are still in the queue)."""

    def run() -> list[Step]:
        rng = person.rng("review")
        review = reviews.review_submit(
            member=person.joined(),
            kind="review",
            text=rng.choice(REVIEW_TEXTS),
            product=Product.objects.filter(sku=sku).first(),
        )
        moderate_at = timezone.now() + datetime.timedelta(days=1, hours=rng.randint(0, 5))
        if moderate_at >= end - datetime.timedelta(days=3):
            return []
        return [Step(moderate_at, _moderate_step(review.pk, staff, rng.random() < 0.9))]

    return run


def _moderate_step(review_id: int, staff: User, approve: bool) -> Callable[[], None]:
    def run() -> None:
        if approve:
            reviews.review_approve(review_id=review_id, actor=staff)
        else:
            reviews.review_reject(
                review_id=review_id, actor=staff, reason="Handlar om leveransen, inte varan."
            )

    return run


def _checkin_step(person: DemoPerson, store: Store, n: int, consume: Consume) -> Callable[[], None]:
    def run() -> None:
        member = person.joined()
        dispatch = Dispatch.INLINE if consume(member, timezone.now()) else Dispatch.OFF
        with activity_dispatch(dispatch):
            checkin_record(
                member=member,
                store=store,
                idempotency_key=f"demo-{member.membership_number}-checkin-{n}",
            )

    return run


# --- birthdays and referrals ------------------------------------------------------------------


def birthday_steps(
    *, first: datetime.date, last: datetime.date, birthdays: set[tuple[int, int]]
) -> list[Step]:
    """The daily beat job that gives birthday points, at 06:00 on the days of the history
    that are someone's birthday ``(month, day)`` (on the others it would find nobody)."""
    steps = []
    day = first
    while day <= last:
        leap_day = day.month == 3 and day.day == 1 and (2, 29) in birthdays
        if (day.month, day.day) in birthdays or leap_day:
            steps.append(Step(local_time(day, 6, 0), _birthday_job))
        day += datetime.timedelta(days=1)
    return steps


def _birthday_job() -> None:
    birthday_points_award()


def referral_join(*, referred: Member, referrer: Member) -> None:
    """The new member enters the code a friend gave them (right after joining)."""
    code = referrals.referral_code_for(member=referrer)
    # The same phone number under two memberships is refused, as it should be.
    with contextlib.suppress(DomainError):
        referrals.referral_register(referred=referred, code=code.code, actor=referred.user)


# --- the demo login's year --------------------------------------------------------------------


def demo_login_steps(
    *,
    person: DemoPerson,
    anchor_day: datetime.date,
    stores: dict[str, Store],
    rewards: dict[str, Reward],
    staff: User,
    start: datetime.datetime,
    consume: Consume,
) -> list[Step]:
    """The year of medlem@demo.kundklubb.se, written so that every member page has
    something to show: a regular shopper in running and outdoor gear, Silver and on the way
    to Gold, with pending points from the last two weeks, two challenges under way, vouchers
    to use, a reward used, a donation, a partner code, an invitation, a return, a staff
    correction, a review, a shared post, check-ins and a friend invited."""
    rng = person.rng("demo-login")
    A = anchor_day

    def at(days_ago: int, hour: int, minute: int = 0) -> datetime.datetime:
        return local_time(A - datetime.timedelta(days=days_ago), hour, minute)

    number = person.row["membership_number"]
    home, soder, webshop = stores["sthlm-drottning"], stores["sthlm-sodermalm"], stores["webshop"]
    steps: list[Step] = []

    # A regular year (until four weeks ago), then the last four weeks as scripted below.
    times = _times(
        rng,
        start=start + datetime.timedelta(days=2),
        end=at(25, 0),
        per_year=DEMO_LOGIN_SHOPPER.per_year,
    )
    for n, when in enumerate(times):
        items = basket_draw(rng, DEMO_LOGIN_SHOPPER, timezone.localtime(when).date())
        store = webshop if rng.random() < 0.15 else home
        steps.append(
            Step(
                when,
                _purchase_step(person, store, items, f"D{number}-{n:03d}", consume=consume),
            )
        )
    scripted: list[tuple[datetime.datetime, Store, list[tuple[str, int]]]] = [
        (at(160, 17, 40), home, [("RW-003", 1), ("RW-002", 1)]),
        (at(19, 18, 5), webshop, [("RW-001", 1), ("NU-001", 2)]),
        (at(12, 16, 15), home, [("RS-001", 1), ("RW-004", 1)]),
        (at(9, 12, 30), soder, [("OD-003", 1), ("NU-002", 3)]),
        (at(5, 18, 45), home, [("RW-004", 1), ("NU-004", 1)]),
        (at(1, 17, 50), home, [("RW-005", 1), ("NU-003", 1), ("TB-001", 1)]),
    ]
    for n, (when, store, items) in enumerate(scripted):
        receipt = f"S{number}-{n}"
        return_after = datetime.timedelta(days=4, hours=1) if n == 0 else None
        steps.append(
            Step(
                when,
                _purchase_step(
                    person,
                    store,
                    items,
                    receipt,
                    consume=consume,
                    return_after=return_after,
                ),
            )
        )

    # Rewards: a voucher used in store, a free drink, a donation, a partner code, an unused
    # 10 % voucher and a ticket for the members' evening.
    claims = [
        (300, "rabatt-50", 290),
        (180, "sportdryck", 172),
        (95, "gava-barn-i-rorelse", None),
        (60, "biobiljett", None),
        (20, "rabatt-10", None),
        (6, "kvallsshopping", None),
    ]
    for n, (days_ago, code, used_days_ago) in enumerate(claims):
        steps.append(
            Step(
                at(days_ago, 21, 10),
                _claim_step(
                    person,
                    rewards[code],
                    n,
                    used_at=at(used_days_ago, 16, 20) if used_days_ago else None,
                    store=home,
                    consume=consume,
                ),
            )
        )

    steps.append(Step(at(140, 14, 5), _adjust_step(person, staff)))
    review_sku = "RS-001"
    steps.append(Step(at(30, 19, 30), _demoreview_step(person, review_sku, staff, at(29, 10, 15))))
    steps.append(Step(at(50, 21, 0), _demo_post_step(person, staff, at(49, 9, 40))))
    for n, days_ago in enumerate([70, 35, 2]):
        store = soder if days_ago == 35 else home
        steps.append(Step(at(days_ago, 11, 15), _checkin_step(person, store, n, consume)))
    # The chosen benefit, the first day of each of the last three months (from Silver).
    month = (A - datetime.timedelta(days=1)).replace(day=1)
    for _ in range(3):
        when = local_time(month, 8, 30)
        if start < when:
            steps.append(Step(when, _benefit_step(person)))
        month = (month - datetime.timedelta(days=1)).replace(day=1)
    return steps


def _claim_step(
    person: DemoPerson,
    reward: Reward,
    n: int,
    *,
    used_at: datetime.datetime | None,
    store: Store,
    consume: Consume,
) -> Callable[[], list[Step]]:
    def run() -> list[Step]:
        member = person.joined()
        voucher = catalogue.reward_claim(
            member=member,
            reward=Reward.objects.get(pk=reward.pk),
            idempotency_key=f"demo-login-{n}",
            actor=member.user,
        )
        if used_at is None:
            return []
        return [Step(used_at, _voucher_use_step(person, voucher, store, 100 + n, consume))]

    return run


def _adjust_step(person: DemoPerson, staff: User) -> Callable[[], None]:
    def run() -> None:
        points_adjust(
            member=person.joined(),
            points=150,
            reason="Kompensation: dragkedjan på löparjackan gick sönder",
            actor=staff,
            idempotency_key=f"demo-adjust-{person.row['membership_number']}",
        )

    return run


def _demoreview_step(
    person: DemoPerson, sku: str, staff: User, approve_at: datetime.datetime
) -> Callable[[], list[Step]]:
    def run() -> list[Step]:
        review = reviews.review_submit(
            member=person.joined(),
            kind="review",
            text="Sköna och lätta, perfekta för långpassen på helgerna. Rekommenderas!",
            product=Product.objects.filter(sku=sku).first(),
        )
        return [Step(approve_at, _moderate_step(review.pk, staff, True))]

    return run


def _demo_post_step(
    person: DemoPerson, staff: User, approve_at: datetime.datetime
) -> Callable[[], list[Step]]:
    def run() -> list[Step]:
        post = reviews.review_submit(
            member=person.joined(),
            kind="social",
            url="https://www.instagram.com/p/kundklubben-demo/",
        )
        return [Step(approve_at, _moderate_step(post.pk, staff, True))]

    return run


def _benefit_step(person: DemoPerson) -> Callable[[], None]:
    def run() -> None:
        member = person.joined()
        benefit = Benefit.objects.get(code="dubbla-loparklader")
        with contextlib.suppress(DomainError):  # not Silver yet that month
            tiers.benefit_choose(member=member, benefit_ids=[benefit.pk], actor=member.user)

    return run


# --- today's arrivals -------------------------------------------------------------------------

ARRIVALS_TODAY = 6
ARRIVALS_WINDOW = datetime.timedelta(hours=2, minutes=30)


def arrivals_today_ensure(*, now: datetime.datetime | None = None) -> int:
    """A few members with history scanned their home store's door poster in the last couple
    of hours, so the desk's "Arrived today" has someone in it whenever the demo is started
    (every run, not only the first: the list is today's). One visit per member, store and
    day (``checkin_record_at_door``), so running again the same day adds nothing. The demo
    login is left out: the newcomer checks in by themselves with a door poster. Returns how
    many check-ins were new."""
    now = now or timezone.now()
    midnight = local_time(timezone.localtime(now).date(), 0, 0)
    start = max(midnight, now - ARRIVALS_WINDOW)
    members = list(
        Member.objects.filter(
            purchases__isnull=False, home_store__isnull=False, erased_at__isnull=True
        )
        .exclude(user__email=DEMO_MEMBER_EMAIL)
        .select_related("home_store", "user")
        .distinct()
        .order_by("pk")[:ARRIVALS_TODAY]
    )
    if not members or now - start < datetime.timedelta(minutes=1):
        return 0
    step_gap = (now - start) / (len(members) + 1)
    new = 0

    def arrive(member: Member) -> Callable[[], None]:
        def run() -> None:
            nonlocal new
            assert member.home_store is not None
            with activity_dispatch(Dispatch.INLINE):
                _checkin, _entries, created = checkin_record_at_door(
                    member=member, store=member.home_store
                )
            new += int(created)

        return run

    timeline_play(
        [Step(start + step_gap * (n + 1), arrive(m)) for n, m in enumerate(members)],
        until=now,
    )
    return new
