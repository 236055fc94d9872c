"""The purposes, interests and first policy version a new installation starts from.

Used by migration 0003 and by ``defaults_ensure`` (tests whose database was flushed).
The data protection officer edits purposes and interests in admin afterwards.
"""

import datetime
import hashlib
from typing import Any

PURPOSES = [
    # code, category, lawful basis, channel, retention, order, sv name, en name, sv text, en text
    (
        "membership",
        "membership",
        "contract",
        "",
        "membership",
        10,
        "Medlemskapet",
        "Your membership",
        "Vi behöver ditt namn, din e-post och ditt medlemsnummer för att ge dig poäng, bonus och "
        "ditt digitala kort. Det är villkoret för medlemskapet.",
        "We need your name, email and membership number to give you points, rewards and your "
        "digital card. This is what the membership is.",
    ),
    (
        "marketing_email",
        "marketing",
        "consent",
        "email",
        "until_withdrawn",
        20,
        "Erbjudanden via e-post",
        "Offers by email",
        "Vi skickar erbjudanden och nyheter till din e-post, högst så ofta du själv väljer.",
        "We send offers and news to your email, at most as often as you choose.",
    ),
    (
        "marketing_sms",
        "marketing",
        "consent",
        "sms",
        "until_withdrawn",
        30,
        "Erbjudanden via SMS",
        "Offers by SMS",
        "Vi skickar erbjudanden till din mobil, aldrig under dina tysta timmar.",
        "We text offers to your mobile, never during your quiet hours.",
    ),
    (
        "profiling",
        "profiling",
        "consent",
        "",
        "until_withdrawn",
        40,
        "Personliga erbjudanden",
        "Personal offers",
        "Vi använder dina köp och intressen för att välja erbjudanden som passar just dig.",
        "We use your purchases and interests to pick offers that suit you.",
    ),
    (
        "analytics",
        "analytics",
        "consent",
        "",
        "until_withdrawn",
        50,
        "Statistik",
        "Statistics",
        "Vi räknar på hur klubben används, för att göra den bättre. Du syns aldrig som person.",
        "We count how the club is used, to improve it. You never show up as a person.",
    ),
    (
        "partner_sportresor",
        "partner",
        "consent",
        "",
        "until_withdrawn",
        60,
        "Dela med Sportresor AB",
        "Share with Sportresor AB",
        "Vi skickar ditt namn och din e-post till vår partner Sportresor AB så att de kan ge dig "
        "medlemspris på resor.",
        "We send your name and email to our partner Sportresor AB so they can give you member "
        "prices on trips.",
    ),
    (
        "bookkeeping",
        "legal",
        "legal_obligation",
        "",
        "bookkeeping",
        80,
        "Bokföring",
        "Bookkeeping",
        "Köp och poäng sparas i sju år enligt bokföringslagen, utan personuppgifter efter "
        "radering.",
        "Purchases and points are kept for seven years as the Bookkeeping Act requires, without "
        "personal data after erasure.",
    ),
    (
        "consent_proof",
        "legal",
        "legal_obligation",
        "",
        "consent_proof",
        90,
        "Bevis om samtycke",
        "Proof of consent",
        "Vi sparar vad du har sagt ja och nej till och när, så att vi kan visa det.",
        "We keep what you said yes and no to, and when, so that we can prove it.",
    ),
    (
        "security",
        "legal",
        "legitimate_interest",
        "",
        "security_log",
        95,
        "Säkerhet",
        "Security",
        "Vi loggar när personal öppnar ditt medlemskort i systemet, för att skydda dina uppgifter.",
        "We log when staff open your record in the system, to protect your data.",
    ),
]

INTERESTS = [
    ("running", "Löpning", "Running"),
    ("football", "Fotboll", "Football"),
    ("outdoor", "Friluftsliv", "Outdoor"),
    ("yoga", "Yoga", "Yoga"),
    ("cycling", "Cykling", "Cycling"),
    ("skiing", "Skidåkning", "Skiing"),
]

POLICY_SV = (
    "Kundklubben sparar de uppgifter du ger oss för att sköta ditt medlemskap. Allt annat "
    "gör vi bara om du säger ja, och du kan ändra dig när som helst under Mina sidor."
)
POLICY_EN = (
    "Kundklubben keeps the data you give us to run your membership. Everything else we only "
    "do if you say yes, and you can change your mind at any time on My pages."
)


def defaults_ensure(apps: Any) -> None:
    """Create what is missing; never overwrite what the data protection officer changed."""
    Purpose = apps.get_model("consent", "Purpose")
    Interest = apps.get_model("consent", "Interest")
    PolicyVersion = apps.get_model("consent", "PolicyVersion")
    if (
        Purpose.objects.filter(code__in=[p[0] for p in PURPOSES]).count() == len(PURPOSES)
        and Interest.objects.filter(code__in=[i[0] for i in INTERESTS]).count() == len(INTERESTS)
        and PolicyVersion.objects.exists()
    ):
        return  # the common case: three cheap queries
    for (
        code,
        category,
        basis,
        channel,
        retention,
        order,
        name_sv,
        name_en,
        desc_sv,
        desc_en,
    ) in PURPOSES:
        Purpose.objects.get_or_create(
            code=code,
            defaults={
                "category": category,
                "lawful_basis": basis,
                "channel": channel,
                "retention": retention,
                "order": order,
                "name_sv": name_sv,
                "name_en": name_en,
                "description_sv": desc_sv,
                "description_en": desc_en,
                "partner_name": "Sportresor AB" if category == "partner" else "",
            },
        )
    for order, (code, sv, en) in enumerate(INTERESTS, start=1):
        Interest.objects.get_or_create(
            code=code, defaults={"name_sv": sv, "name_en": en, "order": order * 10}
        )
    if not PolicyVersion.objects.exists():
        PolicyVersion.objects.create(
            version="2026-1",
            text_sv=POLICY_SV,
            text_en=POLICY_EN,
            content_hash=hashlib.sha256(f"sv\n{POLICY_SV}\nen\n{POLICY_EN}".encode()).hexdigest(),
            # In force from before any member joined: the first version covers them all.
            effective_at=datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC),
        )
