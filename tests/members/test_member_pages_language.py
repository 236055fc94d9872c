"""Every page a member sees, in the member's language and formats (issue 16, "Language and
formats").

Every member page (the routes under /mina-sidor/ and the door pages, as the authorization
matrix classifies them) and the public pages a member reads (the landing page, the privacy
notice, the offline page, signed links) are rendered with GET for a member with no data and
for one with a year of data (``member_with_data_everywhere`` and purchases in twelve months),
in Swedish and English. The visible text (``visible_text`` from the back-office's plain
language test: no tags, attribute values, scripts or text areas) must not hold:

- a US date or clock ("12/04/2026", "5:34 p.m."), nor on a Swedish page an English month;
- an amount in öre: the word "öre", or kronor with more than two decimals;
- a raw code from the models' choices and the label maps (``all_codes``), as a whole word;
- on a Swedish page, a common English word that Swedish never uses;

and no page has the same page or section title (h1, h2) twice.
"""

from __future__ import annotations

import datetime
import re
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from members.models import Member
from tests import factories
from tests.factories import consent as consent_factories
from tests.factories import rewards as rf
from tests.members.test_admin_plain_language import all_codes, visible_text, visible_words
from tests.security.test_authorization_matrix import all_routes, route_class

pytestmark = pytest.mark.django_db

ENGLISH_MONTH = (
    r"(?:January|February|March|April|May|June|July|August|September|October|November|December"
    r"|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)"
)
US_DATE = re.compile(
    rf"\b\d{{1,2}}/\d{{1,2}}/\d{{2,4}}\b|\b[ap]\.m\.|\b\d{{1,2}}:\d\d ?[AaPp][Mm]\b"
    rf"|\b{ENGLISH_MONTH}\.? \d{{1,2}}\b(?!:)"  # "Dec. 4", "December 4, 2026"
)
ENGLISH_MONTH_ON_SWEDISH = re.compile(rf"\b\d{{1,2}} {ENGLISH_MONTH}\b")
# "öre" as a unit, or four digits or more before "kr"
# without a thousands separator: öre shown as kronor ("129800 kr" for 1 298 kr) or an amount
# not grouped ("1298 kr"). Grouped amounts read "1 298 kr" (a no-break space) or "1,298 kr".
ORE = re.compile(r"\böre\b|(?<![\d,.])\d{4,}(?:[.,]\d\d)?\s?kr\b", re.IGNORECASE)

# Words that are English and never Swedish: on a Swedish page, each is an untranslated string.
ENGLISH_WORDS = {
    "the", "and", "your", "you", "points", "point", "offer", "offers", "added", "event",
    "member", "members", "campaign", "delivery", "with", "from", "for", "this", "that",
    "have", "has", "are", "was", "will", "not", "our", "we", "of", "to", "when", "which",
    "used", "tokens", "token", "created", "updated", "date", "status", "email", "reward",
    "rewards", "voucher", "vouchers", "purchase", "purchases", "store", "consent", "since",
    "none", "yes", "no", "true", "false", "at", "on", "by", "or", "is", "it",
    "download", "delete", "cancel", "save", "back", "next", "previous", "more", "less",
    "challenge", "challenges", "tier", "level", "benefits", "profile", "settings", "privacy",
    "notice", "data", "field", "fields", "name", "value", "kind", "source", "reason",
}  # fmt: skip
# Words that are Swedish too, or data the factories wrote in English (a reward's name ends in
# " en"; a product or store may be named anything).
SWEDISH_TOO = {"data", "status", "no", "at", "on", "kind", "back", "ok"}

GOOD_SWEDISH_DATE = re.compile(r"\b\d{1,2} (?:jan|feb|mars|apr|maj|juni|juli|aug|sep|okt|nov|dec)")


def _member_routes() -> list[tuple[str, str]]:
    """(URL name, pattern) of every member page, and the public pages members read."""
    public = {
        "members:landing",
        "members:offline",
        "consent:privacy-notice",
        "consent:erasure-confirm",
        "consent:unsubscribe",
        "rewards:referral-link",
    }
    routes = []
    for route in all_routes():
        cls = route_class(route)
        if cls == "member page" or (cls == "public" and route.name in public):
            routes.append((route.name, route.pattern))
    return routes


def _year_of_purchases(member: Member, store: Any) -> None:
    now = timezone.now()
    for month in range(12):
        rf.purchase(
            store=store,
            member=member,
            lines=[rf.line(sku=f"YEAR-{month}", quantity=1, price_ore=129_800 + month * 50)],
            purchased_at=now - datetime.timedelta(days=30 * month + 3, hours=month),
        )


@pytest.fixture
def members(django_capture_on_commit_callbacks: Any) -> dict[str, Member]:
    store = factories.store(code="sthlm-sodermalm", name="Södermalm")
    rich = consent_factories.member_with_data_everywhere(store, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        _year_of_purchases(rich, store)
    rf.earned(rich, 5000)
    empty = factories.member_with_user(email="tom.tom@example.se", first_name="Tom")
    return {"empty": empty, "rich": rich}


def _kwargs(name: str, member: Member) -> dict[str, Any] | None:
    """URL arguments for a page, or None to leave it out (nothing of the member's to show)."""
    from consent.models import PrivacyRequest
    from members.door import store_door_token
    from members.models import Store
    from rewards.loyalty.referrals import referral_code_for
    from rewards.models import Reward, Voucher

    if name in ("rewards:reward", "rewards:waitlist"):
        reward = Reward.objects.order_by("pk").first()
        return {"code": reward.code} if reward else None
    if name in ("rewards:voucher", "rewards:voucher-cancel"):
        voucher = Voucher.objects.filter(member=member).order_by("pk").first()
        return {"voucher_id": voucher.pk} if voucher else None
    if name in ("rewards:receipt", "rewards:receipt-pdf"):
        from rewards.models import Purchase

        purchase = Purchase.objects.filter(member=member).order_by("pk").first()
        return {"purchase_id": purchase.pk} if purchase else None
    if name == "consent:export-download":
        export = PrivacyRequest.objects.filter(
            member=member, kind=PrivacyRequest.Kind.EXPORT
        ).first()
        return {"pk": export.pk} if export else None
    if name in ("campaigns:door", "campaigns:door-offer"):
        return {"token": store_door_token(Store.objects.order_by("pk")[0])}
    if name == "rewards:referral-link":
        return {"code": referral_code_for(member=member).code}
    if name in ("consent:erasure-confirm", "consent:unsubscribe"):
        return {"token": "not-a-valid-token"}
    if name == "campaigns:offer-activate":
        return None  # POST only
    return {}


def _pages(client: Client, member: Member, language: str) -> dict[str, str]:
    """URL -> visible text of every member page that renders as HTML for ``member``."""
    pages: dict[str, str] = {}
    for name, _pattern in _member_routes():
        kwargs = _kwargs(name, member)
        if kwargs is None:
            continue
        url = reverse(name, kwargs=kwargs)
        response = client.get(url, HTTP_ACCEPT_LANGUAGE=language)
        if response.status_code in (302, 405) or not response.get("Content-Type", "").startswith(
            "text/html"
        ):
            continue
        assert response.status_code in (200, 400, 404), (url, response.status_code)
        html = response.content.decode()
        pages[url] = visible_text(html)
        titles = [visible_text(t) for t in re.findall(r"<h[12]\b[^>]*>(.*?)</h[12]>", html, re.S)]
        twice = sorted({t for t in titles if titles.count(t) > 1})
        assert twice == [], f"{url}: section titles shown twice: {twice}"
    return pages


# Names staff give things (a campaign, a reward, a product, a store, an offer) are data, shown
# as written: the factories name some in English ("Campaign 6", "x-used en").
DATA_NAME_FIELDS = {"name", "name_sv", "name_en", "title", "title_sv", "title_en"}


def _data_names() -> list[str]:
    from django.apps import apps

    names: set[str] = set()
    for label in ("members", "rewards", "campaigns"):
        for model in apps.get_app_config(label).get_models():
            fields = [
                f.name
                for f in model._meta.concrete_fields
                if f.name in DATA_NAME_FIELDS and f.get_internal_type() == "CharField"
            ]
            for row in model._default_manager.values_list(*fields) if fields else []:
                names.update(value for value in row if value)
    return sorted(names, key=len, reverse=True)


def _without(text: str, names: list[str]) -> str:
    for name in names:
        text = text.replace(name, " ")
    return text


def _context(text: str, at: re.Match[str]) -> str:
    return "…" + text[max(0, at.start() - 50) : at.end() + 50] + "…"


def _problems(
    pages: dict[str, str],
    language: str,
    codes: dict[str, str],
    data_names: list[str] = [],  # noqa: B006 (read only)
) -> list[str]:
    problems = []
    for url, text in pages.items():
        for found in US_DATE.finditer(text):
            problems.append(f"{url}: US date {found.group(0)!r} {_context(text, found)}")
        if language == "sv":
            for found in ENGLISH_MONTH_ON_SWEDISH.finditer(text):
                problems.append(f"{url}: English month {found.group(0)!r} {_context(text, found)}")
        for found in ORE.finditer(text):
            problems.append(f"{url}: amount in öre {found.group(0)!r} {_context(text, found)}")
        words = {word.strip(".,:;!?()[]{}\"'«»”“’…") for word in text.split()}
        # English labels are English words ("Sent"), so an English page is checked for the
        # codes that are never words ("marketing_email"); a Swedish page for every code.
        shown = words & codes.keys()
        if language != "sv":
            shown = {code for code in shown if "_" in code}
        for code in sorted(shown):
            at = re.search(rf"(?<![\w-]){re.escape(code)}(?![\w-])", text)
            where = _context(text, at) if at else ""
            problems.append(f"{url}: raw code {code!r} ({codes[code]}) {where}")
        if language == "sv":
            plain = _without(text, data_names)
            lowered = {word.strip(".,:;!?()[]{}\"'«»”“’…").lower() for word in plain.split()}
            for word in sorted(lowered & (ENGLISH_WORDS - SWEDISH_TOO)):
                at = re.search(rf"(?<![\w-]){re.escape(word)}(?![\w-])", text, re.IGNORECASE)
                where = _context(text, at) if at else ""
                problems.append(f"{url}: English word {word!r} {where}")
    return problems


# Codes that are ordinary words on a member's page, or data: "email"/"sms" are also how the
# channel is written, a purpose's code is never shown (its label is), "bas"/"silver"/"guld" are
# tier codes and names alike.
MEMBER_PAGE_NOT_CODES = {"bas", "silver", "guld", "platina", "SMS", "sms", "shoes"}


@pytest.mark.parametrize("language", ["sv", "en"])
@pytest.mark.parametrize("who", ["empty", "rich"])
def test_every_member_page_is_in_the_members_language_and_formats(
    members: dict[str, Member], who: str, language: str
) -> None:
    # Given a member with no data, or with a year of it, logged in
    member = members[who]
    client = Client()
    assert member.user is not None
    client.force_login(member.user)
    codes = {c: w for c, w in all_codes().items() if c not in MEMBER_PAGE_NOT_CODES}

    # When they open every member page in one language
    pages = _pages(client, member, language)

    # Then every page rendered, and none shows a US date, öre, a code or (in Swedish) English
    assert len(pages) >= 20, sorted(pages)
    problems = _problems(pages, language, codes, _data_names())
    assert problems == [], "\n".join(problems)


def test_the_rich_member_sees_dates_and_amounts_in_the_swedish_way(members) -> None:
    # Given the member with a year of purchases, when they open their points page in Swedish
    client = Client()
    client.force_login(members["rich"].user)
    html = client.get("/mina-sidor/poang/", HTTP_ACCEPT_LANGUAGE="sv").content.decode()
    points = visible_text(html)
    english = visible_text(
        client.get("/mina-sidor/poang/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    )

    # Then dates read "4 dec. 2026" and the amounts "1 298 kr", grouped with a no-break space
    assert GOOD_SWEDISH_DATE.search(points), points[:400]
    assert "1\u00a0298\u00a0kr" in html
    assert "1298 kr" not in points
    # and the English page writes the day before the month
    assert re.search(rf"\b\d{{1,2}} {ENGLISH_MONTH}\b", english), english[:400]


def test_the_checks_catch_what_they_are_for() -> None:
    # A check that cannot fail is no check: each pattern finds its example
    codes = {"added_at": "x", "marketing_email": "y"}
    bad = {
        "/a/": "Köpt 12/04/2026 5:34 p.m.",
        "/b/": "Totalt 129800 öre",
        "/c/": "Summa 129800 kr",
        "/c2/": "Summa 1298,00 kr",
        "/d/": "Samtycke marketing_email",
        "/e/": "Your points and the offer",
        "/f/": "4 Dec 2026",
    }
    problems = "\n".join(_problems(bad, "sv", codes))
    for url in bad:
        assert url in problems, url
    good = {"/g/": "Köpt 4 dec. 2026 14:05 för 1\u00a0298 kr och 12,50 kr. Dina poäng."}
    assert _problems(good, "sv", codes) == []
    assert visible_words("<p>the</p>") == {"the"}
