"""The marketer's back-office: live count, CSV upload, campaign with variants, preview,
simulation, launch and progress."""

from __future__ import annotations

import json
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from campaigns.models import Campaign, Delivery, Segment
from members.roles import MARKETER, STORE_STAFF
from tests import factories
from tests.factories import campaigns as cf
from tests.factories import consent as consent_f

pytestmark = pytest.mark.django_db


@pytest.fixture
def marketer(client):
    user = factories.staff_user(role=MARKETER)
    client.force_login(user)
    return user


def test_segment_count_endpoint_counts_and_rejects_bad_criteria(client, marketer):
    en = factories.member_with_user(preferred_language="en")
    factories.member_with_user()
    url = "/admin/campaigns/segment/count/"
    ok = client.post(
        url,
        json.dumps(
            {"criteria": {"op": "and", "children": [{"field": "language", "value": ["en"]}]}}
        ),
        content_type="application/json",
    )
    assert ok.status_code == 200
    assert ok.json()["count"] == 1
    assert ok.json()["sample"][0]["name"] == en.first_name
    bad = client.post(
        url, json.dumps({"criteria": {"field": "nope"}}), content_type="application/json"
    )
    assert bad.status_code == 400
    assert bad.json()["error"]["code"] == "invalid_segment_criteria"
    junk = client.post(url, "{not json", content_type="application/json")
    assert junk.status_code == 400


def test_segment_count_endpoint_is_for_staff_with_the_permission(client):
    client.force_login(factories.staff_user(role=STORE_STAFF))
    response = client.post("/admin/campaigns/segment/count/", "{}", content_type="application/json")
    assert response.status_code == 403


def test_segment_admin_add_saves_through_the_service_and_validates(client, marketer):
    page = client.get("/admin/campaigns/segment/add/")
    assert page.status_code == 200
    assert b"segment_builder.js" in page.content
    bad = client.post(
        "/admin/campaigns/segment/add/",
        {"name": "X", "description": "", "criteria": '{"field": "nope"}'},
    )
    assert bad.status_code == 200
    assert Segment.objects.count() == 0
    response = client.post(
        "/admin/campaigns/segment/add/",
        {
            "name": "English",
            "description": "",
            "criteria": '{"op": "and", "children": [{"field": "language", "value": ["en"]}]}',
        },
    )
    assert response.status_code == 302
    assert Segment.objects.get().criteria["children"][0]["field"] == "language"


def _builder_fields(response) -> dict:
    script = re.search(
        r'<script id="segment-builder-fields" type="application/json">(.*?)</script>',
        response.content.decode(),
        re.S,
    )
    assert script is not None
    return {f["field"]: f for f in json.loads(script.group(1))}


@pytest.mark.parametrize(
    ("language", "tier", "interest", "channel", "purpose"),
    [
        ("sv", "Guld", "Löpning", "Webbutik", "Erbjudanden via e-post"),
        ("en", "Gold", "Running", "Web shop", "Offers by email"),
    ],
)
def test_segment_builder_lists_codes_by_name_in_the_pages_language(
    client, marketer, language, tier, interest, channel, purpose
):
    # Given stores, categories, products and tiers
    from rewards.models import Category, Product
    from tests.factories import rewards as rewards_f

    factories.store(code="sthlm-sodermalm", name="Södermalm")
    shoes = Category.objects.create(code="shoes", name="Skor")
    Product.objects.create(sku="SKU-1", name="Löparsko", category=shoes)
    rewards_f.tier(code="gold", rank=5, name_sv="Guld", name_en="Gold")
    # When a marketer opens the segment builder in one language
    fields = _builder_fields(
        client.get("/admin/campaigns/segment/add/", HTTP_ACCEPT_LANGUAGE=language)
    )

    # Then every field whose values are codes lists them with names in that language
    def labels(field: str) -> dict[str, str]:
        return {c["code"]: c["label"] for c in fields[field]["choices"]}

    assert labels("store")["sthlm-sodermalm"] == "Södermalm"
    assert labels("bought_category")["shoes"] == "Skor"
    assert labels("bought_product")["SKU-1"] == "Löparsko (SKU-1)"
    assert labels("tier")["gold"] == tier
    assert labels("interest")["running"] == interest
    assert labels("channel")["webshop"] == channel
    assert labels("consent")["marketing_email"] == purpose
    assert labels("language") == (
        {"sv": "Svenska", "en": "Engelska"}
        if language == "sv"
        else {"sv": "Swedish", "en": "English"}
    )
    # and fields that take numbers have no list
    assert fields["spend"]["choices"] is None
    assert fields["age"]["choices"] is None
    # and the field names speak of no codes
    assert not any("code" in f["label"].lower() or "kod" in f["label"] for f in fields.values())


def test_segment_builder_types_skus_when_the_catalogue_is_too_long(client, marketer):
    # Given more products than the builder lists
    from campaigns import selectors
    from rewards.models import Product

    Product.objects.bulk_create(
        Product(sku=f"SKU-{n}") for n in range(selectors.BUILDER_PRODUCTS_MAX + 1)
    )
    # Then the builder asks for SKUs typed, not a list of thousands
    fields = _builder_fields(client.get("/admin/campaigns/segment/add/"))
    assert fields["bought_product"]["choices"] is None
    assert fields["store"]["choices"] is not None


def test_segment_builder_words_the_count_and_hides_the_json(client, marketer):
    # Given one member who reads English
    factories.member_with_user(preferred_language="en")
    criteria = {"criteria": {"op": "and", "children": [{"field": "language", "value": ["en"]}]}}
    # When the live count is asked for in Swedish, then it agrees in number
    one = client.post(
        "/admin/campaigns/segment/count/",
        json.dumps(criteria),
        content_type="application/json",
        HTTP_ACCEPT_LANGUAGE="sv",
    )
    assert one.json()["count_label"] == "matchande medlem"
    factories.member_with_user(preferred_language="en")
    two = client.post(
        "/admin/campaigns/segment/count/",
        json.dumps(criteria),
        content_type="application/json",
        HTTP_ACCEPT_LANGUAGE="sv",
    )
    assert two.json()["count_label"] == "matchande medlemmar"
    # and the page has the JSON behind "Visa som JSON" and an error box that starts hidden
    page = client.get("/admin/campaigns/segment/add/", HTTP_ACCEPT_LANGUAGE="sv").content.decode()
    assert "<summary>Visa som JSON</summary>" in page
    assert re.search(r'<p id="live-error"[^>]* hidden>', page)


def test_segment_csv_upload_reports_lines(client, marketer):
    anna = factories.member_with_user()
    upload = SimpleUploadedFile(
        "list.csv", f"{anna.membership_number}\nnobody@example.se\n".encode()
    )
    response = client.post("/admin/campaigns/segment/import/", {"name": "VIP", "file": upload})
    assert response.status_code == 302
    segment = Segment.objects.get(name="VIP")
    assert (segment.import_report["matched"], segment.import_report["rejected"]) == (1, 1)


def test_campaign_admin_preview_simulate_launch_progress(
    client, marketer, django_capture_on_commit_callbacks
):
    anna = factories.member_with_user(first_name="Anna")
    bo = factories.member_with_user(first_name="Bo", preferred_language="en")
    consent_f.granted(anna, "marketing_email")
    campaign = cf.campaign(segment_obj=cf.segment({}), channels=["email"])
    preview = client.get(
        f"/admin/campaigns/campaign/{campaign.pk}/preview/?member={bo.membership_number}"
    )
    assert preview.status_code == 200
    assert "Hello Bo (A)" in preview.content.decode()
    simulate = client.get(f"/admin/campaigns/campaign/{campaign.pk}/simulate/")
    assert simulate.status_code == 200
    assert "Inget samtycke" in simulate.content.decode()  # the reason no_consent, in words
    change = client.get(f"/admin/campaigns/campaign/{campaign.pk}/change/")
    assert change.status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        launched = client.post(f"/admin/campaigns/campaign/{campaign.pk}/launch/")
    assert launched.status_code == 302
    progress = client.get(f"/admin/campaigns/campaign/{campaign.pk}/progress.json").json()
    assert (progress["status"], progress["sent"], progress["suppressed"], progress["percent"]) == (
        "done",
        1,
        1,
        100,
    )
    assert client.get(f"/admin/campaigns/campaign/{campaign.pk}/progress/").status_code == 200
    assert Delivery.objects.filter(member=anna, status="sent").exists()


def test_campaign_admin_add_with_variant_inline(client, marketer):
    segment = cf.segment({})
    data = {
        "name": "Spring",
        "segment": segment.pk,
        "channels": ["email", "onsite"],
        "priority": 0,
        "holdout_percent": 10,
        "test_group_size": "",
        "goal": "revenue",
        "goal_days": 14,
        "schedule_kind": "once",
        "send_at": "",
        "crontab": "",
        "trigger": "",
        "trigger_days": "",
        "variants-TOTAL_FORMS": 1,
        "variants-INITIAL_FORMS": 0,
        "variants-MIN_NUM_FORMS": 1,
        "variants-MAX_NUM_FORMS": 1000,
        "variants-0-code": "A",
        "variants-0-weight": 100,
        "variants-0-offer": "",
        "variants-0-email_subject_sv": "Hej {{ first_name }}",
        "variants-0-email_subject_en": "Hi",
        "variants-0-email_text_sv": "Text",
        "variants-0-email_text_en": "Text",
        "variants-0-email_html_sv": "",
        "variants-0-email_html_en": "",
        "variants-0-sms_text_sv": "",
        "variants-0-sms_text_en": "",
    }
    response = client.post("/admin/campaigns/campaign/add/", data)
    assert response.status_code == 302, response.content.decode()[:2000]
    campaign = Campaign.objects.get(name="Spring")
    assert campaign.channels == ["email", "onsite"]
    assert campaign.variants.get().email_subject_sv == "Hej {{ first_name }}"


def test_offers_and_variants_choose_rewards_categories_and_offers_by_name(client, marketer):
    # Given a reward in the catalogue, a category and an offer
    from rewards.models import Category
    from tests.factories import rewards as rf

    rf.reward(code="kaffe", name_sv="Gratis kaffe", name_en="Free coffee")
    Category.objects.create(code="shoes", name="Skor")
    cf.offer(name="3x skor")

    # When a marketer opens a new offer and a new campaign
    offer_page = client.get("/admin/campaigns/offer/add/", HTTP_ACCEPT_LANGUAGE="sv")
    campaign_page = client.get("/admin/campaigns/campaign/add/", HTTP_ACCEPT_LANGUAGE="sv")

    # Then the reward, the category and the variant's offer are lists of names, not id boxes
    html = offer_page.content.decode()
    assert re.search(r'<select name="reward_code"[^>]*>', html)
    assert '<option value="kaffe">Gratis kaffe (kaffe)</option>' in html
    assert re.search(r'<select name="category"[^>]*>', html)
    assert ">Skor</option>" in html
    assert "vForeignKeyRawIdAdminField" not in html
    assert "admin-autocomplete" in html  # the product: typed by name or SKU
    page = campaign_page.content.decode()
    assert re.search(r'<select name="variants-0-offer"[^>]*>', page)
    assert ">3x skor</option>" in page
    assert "vForeignKeyRawIdAdminField" not in page


def test_a_reward_offer_whose_reward_is_gone_keeps_its_code_and_says_so(client, marketer):
    from rewards.models import Reward
    from tests.factories import rewards as rf

    rf.reward(code="kaffe", name_sv="Gratis kaffe", name_en="Free coffee")
    offer = cf.offer(kind="reward", name="Kaffe på oss", reward_code="kaffe")
    Reward.objects.filter(code="kaffe").update(code="kaffe-old")

    html = client.get(
        f"/admin/campaigns/offer/{offer.pk}/change/", HTTP_ACCEPT_LANGUAGE="en"
    ).content.decode()

    assert '<option value="kaffe" selected>kaffe (no longer in the catalogue)</option>' in html
