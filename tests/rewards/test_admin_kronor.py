"""Amounts in the back-office are typed and shown in kronor, stored in öre (issue 14)."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from django.db.models.fields.files import FieldFile
from django.utils import timezone

from members.kronor import KronorField, kronor_display
from members.roles import ADMINISTRATOR
from rewards.models import Reward, Tier
from tests import factories
from tests.factories import rewards as rf

pytestmark = pytest.mark.django_db


def _form_data(response: Any) -> dict[str, Any]:
    """The change form's fields as the browser would post them back unchanged."""
    form = response.context["adminform"].form
    data: dict[str, Any] = {}
    for name in form.fields:
        value = form[name].value()
        if isinstance(value, FieldFile):
            continue  # no file chosen: the saved one (none) stays
        if isinstance(value, datetime.datetime):  # the admin's split date and time inputs
            local = timezone.localtime(value)
            data[f"{name}_0"], data[f"{name}_1"] = local.date().isoformat(), f"{local:%H:%M:%S}"
            continue
        if value is None:
            value = ""
        elif isinstance(value, bool):
            if not value:
                continue
            value = "on"
        data[name] = value
    return data


@pytest.fixture
def admin_client(client):
    client.force_login(factories.staff_user(role=ADMINISTRATOR))
    return client


def test_reward_amount_is_shown_and_typed_in_kronor(admin_client):
    # Given a reward worth 50 kronor (5,000 öre)
    reward = rf.reward(code="fifty", amount_off_ore=5000, min_basket_ore=0)
    url = f"/admin/rewards/reward/{reward.pk}/change/"

    # When an administrator opens it, then the form shows kronor with öre, in Swedish style
    page = admin_client.get(url, HTTP_ACCEPT_LANGUAGE="sv")
    html = page.content.decode()
    assert 'name="amount_off_ore" value="50,00"' in html
    assert "rabatt (kr)" in html.lower()
    assert "(öre)" not in html

    # When they type 12,50 kronor and a minimum basket of 1 298 kr and save
    data = _form_data(page)
    data.update(amount_off_ore="12,50", min_basket_ore="1 298")
    saved = admin_client.post(url, data, HTTP_ACCEPT_LANGUAGE="sv")

    # Then the reward keeps 1,250 and 129,800 öre
    assert saved.status_code == 302, saved.context["adminform"].form.errors
    reward.refresh_from_db()
    assert (reward.amount_off_ore, reward.min_basket_ore) == (1250, 129800)


@pytest.mark.parametrize("typed", ["12,505", "tolv", "12,5,0", "-5", "1e3"])
def test_bad_amount_gives_a_clear_error_and_saves_nothing(admin_client, typed):
    # Given a tier that qualifies at 1,000 kronor of spend
    tier = rf.tier(code="silver", rank=1, threshold_spend_ore=100000)
    url = f"/admin/rewards/tier/{tier.pk}/change/"
    data = _form_data(admin_client.get(url))

    # When an administrator types an amount that is not kronor with at most two decimals
    data.update(threshold_spend_ore=typed, name_en="Changed")
    response = admin_client.post(url, data, HTTP_ACCEPT_LANGUAGE="sv")

    # Then the page says what to write, and nothing is saved
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors["threshold_spend_ore"]
    assert errors in (
        ["Skriv ett belopp i kronor med högst två decimaler, till exempel 12,50."],
        ["Beloppet kan inte vara negativt."],
    )
    tier.refresh_from_db()
    assert (tier.threshold_spend_ore, tier.name_en) == (100000, "Silver")
    assert Tier.objects.count() == 1


@pytest.mark.parametrize(
    ("typed", "ore"),
    [("12,50", 1250), ("12.50", 1250), ("12", 1200), ("0,5", 50), ("1 298,00 kr", 129800)],
)
def test_kronor_field_reads_kronor_as_oere(typed, ore):
    assert KronorField().clean(typed) == ore


def test_amounts_in_lists_read_as_kronor(settings):
    from django.utils import translation

    with translation.override("sv"):
        assert kronor_display(1250) == "12,50 kr"
        assert kronor_display(129800) == "1\xa0298,00 kr"
    with translation.override("en"):
        assert kronor_display(1250) == "12.50 kr"


def test_purchase_list_shows_kronor(admin_client, store, member):
    # Given a purchase of 1,298 kronor
    rf.purchase(store=store, member=member, receipt_id="KR-1", lines=[rf.line(price_ore=129800)])

    # When an administrator lists purchases, then the total reads in kronor
    html = admin_client.get("/admin/rewards/purchase/", HTTP_ACCEPT_LANGUAGE="sv").content.decode()
    assert "1\xa0298,00 kr" in html
    assert Reward.objects.count() == 0
