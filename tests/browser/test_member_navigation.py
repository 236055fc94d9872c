"""The member pages' navigation, "My pages" and sign-up on a 390x844 phone and a wide screen,
in Swedish and English (issue 16): the tab bar reaches every page, "More" holds the rest and
Logga ut, the current page is marked for screen readers, nothing scrolls sideways, and a
sign-up with a known address looks like any other."""

from __future__ import annotations

import datetime
import re
from typing import Any

import pytest
from django.conf import settings
from django.core import mail
from django.test import Client
from django.utils import timezone

from campaigns.models import MemberOffer
from members.models import Member
from rewards.loyalty.tiers import tiers_reevaluate
from tests import factories
from tests.browser.fixtures import PHONE_VIEWPORT
from tests.factories import campaigns as cf
from tests.factories import rewards as rf

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WIDE_VIEWPORT = {"width": 1280, "height": 800}

TEXT: dict[str, dict[str, Any]] = {
    "sv": {
        "menu": "Huvudmeny",
        "tabs": [
            ("Hem", "/mina-sidor/"),
            ("Kort", "/mina-sidor/kort/"),
            ("Poäng", "/mina-sidor/poang/"),
            ("Erbjudanden", "/mina-sidor/erbjudanden/"),
        ],
        "more": "Mer",
        "more_links": [
            ("Belöningar", "/mina-sidor/beloningar/"),
            ("Mina värdecheckar", "/mina-sidor/vouchers/"),
            ("Utmaningar", "/mina-sidor/utmaningar/"),
            ("Nivåer och förmåner", "/mina-sidor/nivaer/"),
            ("Tipsa en vän", "/mina-sidor/tipsa/"),
            ("Recensioner och inlägg", "/mina-sidor/recensioner/"),
            ("Mina val", "/mina-sidor/installningar/"),
            ("Mina data", "/mina-sidor/mina-data/"),
            ("Profil", "/mina-sidor/profil/"),
        ],
        "logout": "Logga ut",
        "login": "Logga in",
        "pending": re.compile(
            r"^[\d\s]+ poäng väntar\s+[\d\s]+ poäng tillgängliga? från \d{1,2} \w+ \d{4}$"
        ),
        "tier": re.compile(r"^[\d\s]+ poäng kvar till (Guld|Platina)$"),
        "expiry": re.compile(r"^[\d\s]+ poäng förfaller efter \d{1,2} \w+ \d{4}$"),
        "points_empty": "Du får poäng varje gång du handlar med ditt kort.",
        "offers_empty": "Inga erbjudanden just nu.",
        "first_tier": "Ditt första köp ger dig nivån Bas.",
        "copy": "Kopiera koden",
        "copied": "Kopierad!",
        "check_email": "Bekräfta din e-postadress",
        "already_subject": "Du har redan ett konto",
        "already_body": "Du har redan ett konto med den adressen",
    },
    "en": {
        "menu": "Main menu",
        "tabs": [
            ("Home", "/mina-sidor/"),
            ("Card", "/mina-sidor/kort/"),
            ("Points", "/mina-sidor/poang/"),
            ("Offers", "/mina-sidor/erbjudanden/"),
        ],
        "more": "More",
        "more_links": [
            ("Reward catalogue", "/mina-sidor/beloningar/"),
            ("My vouchers", "/mina-sidor/vouchers/"),
            ("Challenges", "/mina-sidor/utmaningar/"),
            ("Tiers and benefits", "/mina-sidor/nivaer/"),
            ("Invite a friend", "/mina-sidor/tipsa/"),
            ("Reviews and posts", "/mina-sidor/recensioner/"),
            ("My choices", "/mina-sidor/installningar/"),
            ("My data", "/mina-sidor/mina-data/"),
            ("Profile", "/mina-sidor/profil/"),
        ],
        "logout": "Log out",
        "login": "Log in",
        "pending": re.compile(
            r"^[\d,]+ points pending\s+[\d,]+ points? available from \d{1,2} \w+ \d{4}$"
        ),
        "tier": re.compile(r"^[\d,]+ points left to (Gold|Platinum)$"),
        "expiry": re.compile(r"^[\d,]+ points? expires? after \d{1,2} \w+ \d{4}$"),
        "points_empty": "You earn points every time you shop with your card.",
        "offers_empty": "No offers right now.",
        "first_tier": "Your first purchase makes you a Basic member.",
        "copy": "Copy code",
        "copied": "Copied!",
        "check_email": "Confirm your email address",
        "already_subject": "You already have an account",
        "already_body": "You already have an account with that address",
    },
}


def _open(new_page: Any, live_server: Any, member: Member, language: str, viewport=None) -> Any:
    """A page logged in as ``member`` with the site in ``language``."""
    client = Client()
    assert member.user is not None
    client.force_login(member.user)
    page = new_page(locale="sv-SE" if language == "sv" else "en-GB", viewport=viewport)
    page.context.add_cookies(
        [
            {
                "name": settings.SESSION_COOKIE_NAME,
                "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
                "url": live_server.url,
            },
            {"name": settings.LANGUAGE_COOKIE_NAME, "value": language, "url": live_server.url},
        ]
    )
    return page


def _fits_sideways(page: Any, width: int) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= width


def _inside_viewport(box: dict[str, float] | None, viewport: dict[str, int]) -> None:
    assert box is not None
    assert box["x"] >= 0
    assert box["x"] + box["width"] <= viewport["width"]
    assert box["y"] >= 0
    assert box["y"] + box["height"] <= viewport["height"]


@pytest.mark.parametrize("language", ["sv", "en"])
def test_tab_bar_reaches_every_member_page_and_logga_ut(live_server, new_page, member, language):
    text = TEXT[language]
    page = _open(new_page, live_server, member, language)
    page.goto(f"{live_server.url}/mina-sidor/")
    nav = page.get_by_role("navigation", name=text["menu"])
    summary = nav.locator("summary")

    # the four tabs: each at the bottom of the screen, at least 44 px, marked when current
    for label, path in text["tabs"]:
        nav.get_by_role("link", name=label, exact=True).click()
        page.wait_for_url(f"**{path}")
        tab = nav.get_by_role("link", name=label, exact=True)
        assert tab.get_attribute("aria-current") == "page"
        assert nav.locator("[aria-current=page]").count() == 1
        assert summary.get_attribute("aria-current") is None
        box = tab.bounding_box()
        _inside_viewport(box, PHONE_VIEWPORT)
        assert box["height"] >= 44
        assert box["width"] >= 44
        assert box["y"] + box["height"] >= PHONE_VIEWPORT["height"] - 80  # a bottom bar
        _fits_sideways(page, PHONE_VIEWPORT["width"])

    # "More": every other page, each link at least 44 px and on the screen
    for label, path in text["more_links"]:
        summary.click()
        link = nav.get_by_role("link", name=label, exact=True)
        assert link.is_visible()
        box = link.bounding_box()
        _inside_viewport(box, PHONE_VIEWPORT)
        assert box["height"] >= 44
        link.click()
        page.wait_for_url(f"**{path}")
        # the page is marked in the menu (closed again, so found by its address), and
        # "More" as holding it
        assert summary.get_attribute("aria-current") == "true"
        assert nav.locator(f"a[href='{path}']").get_attribute("aria-current") == "page"
        _fits_sideways(page, PHONE_VIEWPORT["width"])

    # the end of a long page is not hidden behind the bar
    page.goto(f"{live_server.url}/mina-sidor/installningar/")
    page.evaluate("window.scrollTo(0, document.documentElement.scrollHeight)")
    footer = page.locator("footer a").last.bounding_box()
    bar = nav.bounding_box()
    assert footer is not None
    assert bar is not None
    assert footer["y"] + footer["height"] <= bar["y"]

    # Logga ut: under "More", on the screen without scrolling sideways, a real button
    summary.click()
    logout = nav.get_by_role("button", name=text["logout"])
    assert logout.is_visible()
    box = logout.bounding_box()
    _inside_viewport(box, PHONE_VIEWPORT)
    assert box["height"] >= 44
    _fits_sideways(page, PHONE_VIEWPORT["width"])
    logout.click()
    page.wait_for_load_state()
    assert (
        page.get_by_role("navigation", name=text["menu"])
        .get_by_role("link", name=text["login"])
        .is_visible()
    )
    page.goto(f"{live_server.url}/mina-sidor/")
    assert "/konto/login/" in page.url


def test_more_opens_and_closes_from_the_keyboard(live_server, new_page, member):
    page = _open(new_page, live_server, member, "sv")
    page.goto(f"{live_server.url}/mina-sidor/")
    summary = page.locator(".more-menu summary")
    details = page.locator(".more-menu")

    # Enter on the focused "Mer" opens it, with a visible focus ring
    summary.focus()
    page.keyboard.press("Enter")
    assert details.get_attribute("open") is not None
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline not in ("none", "")
    # Escape closes it and leaves focus on "Mer"
    page.keyboard.press("Escape")
    assert details.get_attribute("open") is None
    assert page.evaluate("document.activeElement.tagName") == "SUMMARY"


@pytest.mark.parametrize("language", ["sv", "en"])
def test_wide_screen_has_the_same_destinations_in_the_header(
    live_server, new_page, member, language
):
    text = TEXT[language]
    page = _open(new_page, live_server, member, language, viewport=WIDE_VIEWPORT)
    page.goto(f"{live_server.url}/mina-sidor/poang/")
    nav = page.get_by_role("navigation", name=text["menu"])

    # the menu sits in the header at the top, not fixed to the bottom
    header = page.locator("header.site-header").bounding_box()
    assert header is not None
    for label, _path in text["tabs"]:
        box = nav.get_by_role("link", name=label, exact=True).bounding_box()
        assert box is not None
        assert box["y"] + box["height"] <= header["y"] + header["height"]
        assert box["height"] >= 44
    assert nav.evaluate("el => getComputedStyle(el).position") == "static"
    assert (
        nav.get_by_role("link", name=text["tabs"][2][0], exact=True).get_attribute("aria-current")
        == "page"
    )
    # "More" drops down with every other page and Logga ut, on the screen
    nav.locator("summary").click()
    for label, _path in text["more_links"]:
        assert nav.get_by_role("link", name=label, exact=True).is_visible()
    _inside_viewport(nav.get_by_role("button", name=text["logout"]).bounding_box(), WIDE_VIEWPORT)
    _fits_sideways(page, WIDE_VIEWPORT["width"])
    # and no room is kept for a tab bar
    assert page.evaluate("getComputedStyle(document.body).paddingBottom") == "0px"


def _busy(member: Member, store: Any) -> Member:
    """A year of purchases, points available and pending, a tier, an offer, a challenge."""
    rf.base_rule(name_sv="1 poäng per krona", name_en="1 point per krona")
    rf.ladder()
    now = timezone.now()
    for n in range(11):
        rf.purchase(
            store=store,
            member=member,
            purchased_at=now - datetime.timedelta(days=330 - n * 30),
            lines=[rf.line(f"SKU-{n}", 1, 10_000)],
        )
    rf.earned(member, 1250)
    rf.earned(member, 120, pending_days=14)
    tiers_reevaluate()
    segment = cf.segment({"field": "language", "value": ["sv"]}, name="Svensktalande")
    offer = cf.offer(title_sv="Dubbla poäng på löparskor", title_en="Double points on shoes")
    MemberOffer.objects.create(
        member=member, offer=offer, campaign=cf.campaign(segment_obj=segment, offer_obj=offer)
    )
    return member


@pytest.mark.parametrize("language", ["sv", "en"])
def test_my_pages_show_balance_pending_tier_and_expiry(
    live_server, new_page, member, store, language
):
    text = TEXT[language]
    page = _open(new_page, live_server, _busy(member, store), language)
    page.goto(f"{live_server.url}/mina-sidor/")

    balance = page.get_by_test_id("points-available")
    assert balance.is_visible()
    assert int(re.sub(r"\D", "", balance.inner_text())) > 1000
    assert float(balance.evaluate("el => parseFloat(getComputedStyle(el).fontSize)")) >= 32
    assert text["pending"].match(page.get_by_test_id("points-pending").inner_text().strip())
    assert text["tier"].match(page.get_by_test_id("tier-remaining").inner_text().strip())
    assert page.locator("main progress.tier-bar").is_visible()
    assert text["expiry"].match(page.get_by_test_id("points-expiry").inner_text().strip())
    assert page.get_by_test_id("newest-offer").is_visible()
    _fits_sideways(page, PHONE_VIEWPORT["width"])


@pytest.mark.parametrize("language", ["sv", "en"])
def test_my_pages_for_a_new_member(live_server, new_page, member, language):
    text = TEXT[language]
    rf.ladder()
    page = _open(new_page, live_server, member, language)
    page.goto(f"{live_server.url}/mina-sidor/")

    assert page.get_by_test_id("points-available").inner_text() == "0"
    assert page.get_by_test_id("points-empty").inner_text() == text["points_empty"]
    assert page.get_by_test_id("tier-remaining").inner_text() == text["first_tier"]
    assert text["offers_empty"] in page.get_by_test_id("offers-empty").inner_text()
    assert page.get_by_test_id("points-pending").count() == 0
    assert page.get_by_test_id("points-expiry").count() == 0
    _fits_sideways(page, PHONE_VIEWPORT["width"])


def test_referral_code_copies_and_stays_selectable(live_server, new_page, member):
    text = TEXT["sv"]
    page = _open(new_page, live_server, member, "sv")
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    page.goto(f"{live_server.url}/mina-sidor/tipsa/")
    code = page.get_by_test_id("referral-code").inner_text()

    button = page.get_by_role("button", name=text["copy"])
    assert button.is_visible()
    button.click()
    page.get_by_role("status").filter(has_text=text["copied"]).wait_for()
    assert page.evaluate("navigator.clipboard.readText()") == code
    # the code is text anyone can select, with or without the button
    assert page.get_by_test_id("referral-code").evaluate(
        "el => getComputedStyle(el).userSelect"
    ) in ("all", "auto", "text")


@pytest.mark.parametrize("language", ["sv", "en"])
def test_signup_with_a_known_email_gets_the_neutral_answer_and_a_mail(
    live_server, new_page, member, language
):
    text = TEXT[language]
    page = new_page(locale="sv-SE" if language == "sv" else "en-GB")
    page.context.add_cookies(
        [{"name": settings.LANGUAGE_COOKIE_NAME, "value": language, "url": live_server.url}]
    )
    users_before = Member.objects.count()
    mail.outbox.clear()

    # someone signs up with an address that is already a member's
    page.goto(f"{live_server.url}/konto/signup/")
    page.fill("input[name=first_name]", "Okänd")
    page.fill("input[name=last_name]", "Person")
    page.fill("input[name=email]", member.user.email)
    page.fill("input[name=password1]", "Grön-Tulpan-1987")
    page.fill("input[name=password2]", "Grön-Tulpan-1987")
    page.locator("main form button[type=submit]").last.click()

    # then they get the same "check your email" answer as any newcomer, and no word of it
    page.wait_for_url(re.compile(r"/konto/confirm-email/$"))
    body = page.locator("main").inner_text()
    assert text["check_email"].lower() in body.lower()
    assert "redan" not in body
    assert "already" not in body
    assert Member.objects.count() == users_before
    # and the owner gets a mail saying they already have an account, and how to log in
    assert [m.to for m in mail.outbox] == [[member.user.email]]
    message = mail.outbox[0]
    assert text["already_subject"] in message.subject
    assert text["already_body"] in message.body
    assert f"{live_server.url}/konto/login/" in message.body


def test_small_things_checkboxes_time_fields_secondary_actions_and_share_buttons(
    live_server, new_page, member
):
    rf.earned(member, 500)
    voucher = rf.claim(member, rf.reward(code="kaffe", points_cost=100))
    page = _open(new_page, live_server, member, "sv")

    # "Avboka värdechecken" is a secondary action: outlined, not the filled main button
    page.goto(f"{live_server.url}/mina-sidor/vouchers/{voucher.pk}/")
    cancel = page.get_by_role("button", name="Avboka värdechecken")
    assert cancel.evaluate("el => getComputedStyle(el).backgroundColor") == "rgb(255, 255, 255)"
    assert cancel.evaluate("el => getComputedStyle(el).borderTopWidth") == "2px"

    # a checkbox is 24 px and its whole 44 px row toggles it
    page.goto(f"{live_server.url}/mina-sidor/beloningar/")
    box = page.locator("#id_rad")
    size = box.bounding_box()
    assert size is not None
    assert size["width"] == size["height"] == 24
    label = page.locator("label[for=id_rad]").bounding_box()
    assert label is not None
    assert label["height"] >= 44
    assert label["x"] <= size["x"]  # the label reaches under the box
    page.mouse.click(label["x"] + label["width"] - 5, label["y"] + label["height"] - 3)
    assert box.is_checked()

    # the quiet-hours time fields look like the other fields
    page.goto(f"{live_server.url}/mina-sidor/installningar/")
    time_field = page.locator("input[type=time]").first
    assert time_field.evaluate("el => getComputedStyle(el).borderTopWidth") == "2px"
    height = time_field.bounding_box()
    assert height is not None
    assert height["height"] >= 44

    # the share buttons do not touch
    page.goto(f"{live_server.url}/mina-sidor/tipsa/")
    email, sms = (
        page.locator(".share-buttons a").nth(0).bounding_box(),
        page.locator(".share-buttons a").nth(1).bounding_box(),
    )
    assert email is not None
    assert sms is not None
    apart = max(sms["x"] - (email["x"] + email["width"]), sms["y"] - (email["y"] + email["height"]))
    assert apart >= 8


# Every page a member reaches, as a phone shows it (docs/member-pages.md "Checked on a phone").
MEMBER_PAGES = [
    "/mina-sidor/",
    "/mina-sidor/kort/",
    "/mina-sidor/poang/",
    "/mina-sidor/erbjudanden/",
    "/mina-sidor/beloningar/",
    "/mina-sidor/vouchers/",
    "/mina-sidor/utmaningar/",
    "/mina-sidor/nivaer/",
    "/mina-sidor/tipsa/",
    "/mina-sidor/recensioner/",
    "/mina-sidor/installningar/",
    "/mina-sidor/mina-data/",
    "/mina-sidor/profil/",
    "/mina-sidor/vad-gillar-du/",
    "/offline/",
    "/integritet/",
]
# Where a page's content reaches past its panel (pictures fill the card's width on purpose),
# and links standing alone in a paragraph, or controls, under 44 px.
_PAST_THE_PANEL = """() => [...document.querySelectorAll('main .card-panel')].flatMap(panel => {
  const edge = panel.getBoundingClientRect();
  return [...panel.querySelectorAll('*:not(.picture):not(.picture *)')]
    .filter(el => {
      const r = el.getBoundingClientRect();
      return r.width > 0 && (r.right > edge.right + 0.5 || r.left < edge.left - 0.5);
    })
    .map(el => `${el.tagName}.${el.className} "${(el.innerText || '').slice(0, 30)}"`);
})"""
_TARGETS = ", ".join(
    [
        "main p.link-row a",
        "main .pager a",
        "main td a",
        "main h2 > a",
        "main button",
        "main select",
        "main input:not([type=hidden]):not([type=checkbox]):not([type=radio])",
        ".language-switch button",
    ]
)
_SMALL_TARGETS = (
    f"() => [...document.querySelectorAll('{_TARGETS}')]"
    """
  .filter(el => { const r = el.getBoundingClientRect(); return r.width > 0 && r.height < 44; })
  .map(el => {
    const name = (el.innerText || el.name || '').trim().slice(0, 30);
    return `${el.tagName} "${name}" ${Math.round(el.getBoundingClientRect().height)}`;
  })"""
)


@pytest.mark.parametrize("language", ["sv", "en"])
def test_every_member_page_fits_a_phone(live_server, new_page, store, language):
    """At 390 px nothing scrolls sideways, nothing reaches past its panel (a long e-mail
    address in Mina data, the receipt's VAT table), and every control and stand-alone link is
    a 44 px target, on every member page of a member with a year of data."""
    member = factories.member_with_user(
        email="anna-katarina.svensson-lindqvist@exempelforetaget-i-sverige.se",
        first_name="Anna-Katarina",
        last_name="Svensson-Lindqvist",
    )
    _busy(member, store)
    receipt = rf.purchase(
        store=store,
        member=member,
        lines=[rf.line("SKU-A", 2, 14_990), rf.line("SKU-B", 1, 8_900, vat_rate_bp=1200)],
    ).purchase
    reward = rf.reward(code="kaffe", points_cost=100)
    voucher = rf.claim(member, reward)
    pages = [
        *MEMBER_PAGES,
        f"/mina-sidor/kvitton/{receipt.pk}/",
        f"/mina-sidor/beloningar/{reward.code}/",
        f"/mina-sidor/vouchers/{voucher.pk}/",
    ]
    page = _open(new_page, live_server, member, language)

    problems = {}
    for path in pages:
        page.goto(live_server.url + path)
        found = {
            "width": page.evaluate("document.documentElement.scrollWidth"),
            "past the panel": page.evaluate(_PAST_THE_PANEL),
            "small": page.evaluate(_SMALL_TARGETS),
        }
        if found["width"] > PHONE_VIEWPORT["width"] or found["past the panel"] or found["small"]:
            problems[path] = found
    assert problems == {}

    # and the pages a visitor sees before logging in
    visitor = new_page(locale="sv-SE" if language == "sv" else "en-GB")
    visitor.context.add_cookies(
        [{"name": settings.LANGUAGE_COOKIE_NAME, "value": language, "url": live_server.url}]
    )
    for path in ["/", "/konto/login/", "/konto/signup/", "/konto/aktivera/"]:
        visitor.goto(live_server.url + path)
        assert visitor.evaluate("document.documentElement.scrollWidth") <= PHONE_VIEWPORT["width"]
        assert visitor.evaluate(_SMALL_TARGETS) == []
