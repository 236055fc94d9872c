"""The back-office in plain language (issue 14): no admin page shows a raw status, channel,
event, reason or source code, for any of the four staff roles; amounts are kronor.

Every registered model's changelist and change page (one object each, made by the
factories) is rendered for each role, in Swedish. The visible text (tags, scripts, styles and
attribute values removed) is split into words, and no word may be one of the codes taken from
the models' choices and the apps' label maps (``members.labels``, ``consent.labels``,
``campaigns.labels``). Codes are compared case-sensitively as whole words: the labels are
capitalised or Swedish, so "Skickat" is a label and "sent" a code.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

import pytest
from django.contrib import admin
from django.db import models
from django.urls import reverse

from campaigns.labels import CHANNEL_LABELS, DELIVERY_REASON_LABELS
from campaigns.models import Campaign
from consent.labels import ACCESS_VIEW_LABELS
from members.labels import EVENT_KIND_LABELS, EVENT_SOURCE_LABELS
from members.models import Member
from members.roles import ADMINISTRATOR, DATA_PROTECTION_OFFICER, MARKETER, STORE_STAFF
from tests import factories
from tests.factories import consent as consent_factories

pytestmark = pytest.mark.django_db

ROLES = [STORE_STAFF, MARKETER, DATA_PROTECTION_OFFICER, ADMINISTRATOR]

# Codes that are also ordinary Swedish words of the pages ("Delning med en partner",
# "Skicka test", "en", "efter en import"), "A", a campaign variant's name that marketers
# choose, and "sv", which the factories' reward names end with ("x-cancel sv").
NOT_CODES = {"A", "partner", "test", "en", "sv", "import"}
# Texts that are data, shown as they were written: a purpose's code and its English texts, the
# privacy policy's English text. Per page, the words that may appear there.
DATA_WORDS = {
    "/admin/consent/purpose/": {"membership", "email", "marketing", "profiling", "partner"},
    "/admin/consent/policyversion/": {"membership", "change", "email", "marketing"},
    # an interest's code is shown as its code ("running": Löpning), like a purpose's
    "/admin/consent/interest/": {"running"},
    # an import's report names the file's columns as the file's header has them
    "/admin/members/importjob/": {"email"},
}
# What staff typed is shown as typed: a text area's content is a field's value, like an
# input's value attribute (a purpose's English description says "email").
HIDDEN = ("script", "style", "template", "textarea")
# Django's permission names ("Can change campaign") are stored in English by Django itself,
# not codes of ours: the permission pickers on the role and user pages are not checked.
PERMISSION_PICKERS = ("permissions", "user_permissions")


class _VisibleText(HTMLParser):
    """The text a reader sees: no tags, no attribute values, nothing inside ``HIDDEN``."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag in HIDDEN or (tag == "select" and dict(attrs).get("name") in PERMISSION_PICKERS):
            self._hidden += 1

    def handle_endtag(self, tag: str) -> None:
        if (tag in HIDDEN or tag == "select") and self._hidden:
            self._hidden -= 1

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.parts.append(data)


def visible_text(html: str) -> str:
    parser = _VisibleText()
    parser.feed(html)
    return " ".join(" ".join(parser.parts).split())


def visible_words(html: str) -> set[str]:
    return {word.strip(".,:;!?()[]{}\"'«»”“’") for word in visible_text(html).split()}


def _context(text: str, word: str) -> str:
    at = re.search(rf"(?<![\w-]){re.escape(word)}(?![\w-])", text)
    return text[max(0, at.start() - 40) : at.end() + 40] if at else ""


def _choice_codes() -> dict[str, str]:
    """Every code of a field with choices on a model the back-office shows -> where from."""
    codes: dict[str, str] = {}
    for model in admin.site._registry:
        for field in model._meta.get_fields():
            choices = getattr(field, "flatchoices", None)
            if not choices or isinstance(field, models.BooleanField):
                continue
            for value, label in choices:
                if isinstance(value, str) and value and str(label).lower() != value.lower():
                    codes[value] = f"{model._meta.label}.{field.name}"
    return codes


def all_codes() -> dict[str, str]:
    codes = _choice_codes()
    for name, labels in (
        ("event kind", EVENT_KIND_LABELS),
        ("event source", EVENT_SOURCE_LABELS),
        ("access log view", ACCESS_VIEW_LABELS),
        ("channel", CHANNEL_LABELS),
        ("delivery reason", DELIVERY_REASON_LABELS),
    ):
        codes.update(dict.fromkeys(labels, name))
    return {code: where for code, where in codes.items() if code not in NOT_CODES}


@pytest.fixture
def world(django_capture_on_commit_callbacks: Any) -> Member:
    store = factories.store(code="sthlm-sodermalm", name="Södermalm")
    return consent_factories.member_with_data_everywhere(store, django_capture_on_commit_callbacks)


def _pages(member: Member) -> list[str]:
    """The changelist of every registered model (searched for the member, so that member-level
    lists show rows to store staff too) and the change page of its first object, and the
    back-office's own pages that show codes (points, campaign progress and simulation)."""
    pages = ["/admin/"]
    for model, model_admin in admin.site._registry.items():
        opts = model._meta
        changelist = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
        pages.append(
            f"{changelist}?q={member.membership_number}"
            if model_admin.search_fields
            else changelist
        )
        first = model._default_manager.order_by("pk").first()
        if first is not None:
            pages.append(
                reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[first.pk])
            )
    pages.append(reverse("admin:rewards_member_points", args=[member.pk]))
    campaign = Campaign.objects.order_by("pk").first()
    assert campaign is not None
    for name in ("progress", "simulate", "preview"):
        pages.append(reverse(f"admin:campaigns_campaign_{name}", args=[campaign.pk]))
    pages += [reverse("desk:home"), reverse("desk:member", args=[member.pk])]
    return pages


def test_every_code_has_a_label_in_swedish_and_english():
    # Given the label maps, when each label is shown in each language, then it is text, not
    # the code, and the Swedish differs from the English (it has been translated)
    from django.utils import translation

    for labels in (
        EVENT_KIND_LABELS,
        EVENT_SOURCE_LABELS,
        ACCESS_VIEW_LABELS,
        CHANNEL_LABELS,
        DELIVERY_REASON_LABELS,
    ):
        for code, label in labels.items():
            with translation.override("en"):
                english = str(label)
            with translation.override("sv"):
                swedish = str(label)
            assert english != code
            assert swedish != code
            if english not in ("SMS", "Import", "System"):  # the same word in Swedish
                assert swedish != english, f"{code!r} has no Swedish label"


def test_every_code_the_apps_write_has_a_label():
    # Given the codes the apps write without model choices, then each has a label
    from campaigns.sending.batch import CHANNEL_REASONS
    from campaigns.sending.channels import CHANNELS
    from consent.models import ConsentEvent
    from members.activity import Kind

    assert set(Kind) - EVENT_KIND_LABELS.keys() == set()
    assert set(ConsentEvent.Source.values) - EVENT_SOURCE_LABELS.keys() == set()
    assert set(CHANNELS) - CHANNEL_LABELS.keys() == set()
    assert CHANNEL_REASONS - DELIVERY_REASON_LABELS.keys() == set()


@pytest.mark.parametrize("role", ROLES)
def test_no_admin_page_shows_a_raw_code(client, world, role):
    # Given a member with a row in every member-level model, and staff in one role
    client.force_login(factories.staff_user(role=role))
    codes = all_codes()
    shown: dict[str, list[str]] = {}
    rendered = 0

    # When they open every list and change page, in Swedish
    for url in _pages(world):
        response = client.get(url, HTTP_ACCEPT_LANGUAGE="sv")
        if response.status_code in (302, 403, 404):
            continue  # not for this role
        assert response.status_code == 200, (url, response.status_code)
        rendered += 1
        html = response.content.decode()
        allowed = next((w for prefix, w in DATA_WORDS.items() if url.startswith(prefix)), set())
        found = (visible_words(html) & codes.keys()) - allowed
        if found:
            text = visible_text(html)
            shown[url] = sorted(
                f"{code} ({codes[code]}): …{_context(text, code)}…" for code in found
            )

    # Then no page shows a code as text
    assert rendered > 10
    assert shown == {}, "\n".join(f"{url}: {' | '.join(found)}" for url, found in shown.items())


def test_no_admin_page_shows_oere(client, world):
    # Given an administrator, when they open every page, then no amount is in öre
    client.force_login(factories.staff_user(role=ADMINISTRATOR))
    offending = []
    for url in _pages(world):
        response = client.get(url, HTTP_ACCEPT_LANGUAGE="sv")
        if response.status_code != 200:
            continue
        text = " ".join(visible_words(response.content.decode()))
        if re.search(r"\böre\b", text):
            offending.append(url)
    assert offending == []


def test_no_admin_page_shows_a_compound_code_in_english(client, world):
    # Given an administrator reading English, where labels are English words too ("Consent
    # withdrawn"): the codes that are never words ("no_consent", "consent_granted") must not
    # show either
    client.force_login(factories.staff_user(role=ADMINISTRATOR))
    codes = {code: where for code, where in all_codes().items() if "_" in code}
    shown = {}
    for url in _pages(world):
        response = client.get(url, HTTP_ACCEPT_LANGUAGE="en")
        if response.status_code == 200:
            found = visible_words(response.content.decode()) & codes.keys()
            if found:
                shown[url] = sorted(found)
    assert shown == {}


ENGLISH_MONTH = (
    r"(January|February|March|April|May|June|July|August|September|October|November|December"
    r"|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)"
)
MONTH_DAY = rf"\b{ENGLISH_MONTH}\.? \d{{1,2}}\b(?!:)"  # "Dec. 5", "December 5, 2026"
AMERICAN = r"\b[ap]\.m\.|\b\d{1,2}/\d{1,2}/\d{2,4}\b"  # "2:05 p.m.", "12/05/2026"
# "5 Dec 2026", "Dec. 5, 2026", "December 5", "2:05 p.m.", "12/05/2026": not how dates are
# written on a Swedish page ("5 december 2026", "2026-12-05 14:05"), nor on an English one
# in this club ("5 December 2026", "2026-12-05 14:05": config/formats/en).
NOT_SWEDISH_STYLE = re.compile(rf"\b\d{{1,2}} {ENGLISH_MONTH}\b|{MONTH_DAY}|{AMERICAN}")
NOT_EUROPEAN_STYLE = re.compile(rf"{MONTH_DAY}|{AMERICAN}")


@pytest.mark.parametrize(
    ("language", "pattern", "example"),
    [("sv", NOT_SWEDISH_STYLE, "december 20"), ("en", NOT_EUROPEAN_STYLE, "December 20")],
)
def test_dates_on_every_page_are_written_the_pages_way(client, world, language, pattern, example):
    # Given an administrator, when they open every page (and the desk) in one language
    client.force_login(factories.staff_user(role=ADMINISTRATOR))
    shown: dict[str, list[str]] = {}
    seen_example = False
    for url in _pages(world):
        response = client.get(url, HTTP_ACCEPT_LANGUAGE=language)
        if response.status_code != 200:
            continue
        text = visible_text(response.content.decode())
        seen_example = seen_example or example in text
        found = [m.group(0) for m in pattern.finditer(text)]
        if found:
            shown[url] = found[:5]
    # Then dates read "5 december 2026" / "2026-12-05 14:05" (Swedish), "5 December 2026"
    # (English), never "Dec. 5, 2026", "5 Dec 2026" on a Swedish page or "2:05 p.m."
    assert seen_example  # the check saw dates at all
    assert shown == {}, shown


def test_scheduling_and_roles_read_in_swedish(client):
    # Given an administrator, when they open the back-office's index and the users list
    client.force_login(factories.staff_user(role=ADMINISTRATOR))
    index = visible_text(client.get("/admin/", HTTP_ACCEPT_LANGUAGE="sv").content.decode())
    users = visible_text(
        client.get("/admin/members/user/", HTTP_ACCEPT_LANGUAGE="sv").content.decode()
    )

    # Then django-celery-beat's section and models have Swedish names, and roles their labels
    assert "Schemaläggning" in index
    assert "Cron-scheman" in index
    assert "Periodic Tasks" not in index
    assert "Crontabs" not in index
    assert "Butikspersonal" in users
    assert "Store staff" not in users
