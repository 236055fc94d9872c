"""Digital receipts (issue 16): the VAT per rate, the member's receipt page and PDF, the
desk's receipt page, the till's VAT rate per line (docs/member-pages.md "Receipts")."""

from __future__ import annotations

import re
import zlib
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from hypothesis import given, settings
from hypothesis import strategies as st

from consent.models import AccessLog
from members.models import Member
from members.roles import MARKETER, STORE_STAFF
from rewards.models import Category, Product, PurchaseLine
from rewards.purchases.products import products_cache_clear
from rewards.purchases.receipt_pdf import receipt_pdf_render
from rewards.purchases.receipts import receipt_read, receipt_vat_by_rate, receipt_vat_of
from rewards.purchases.returns import purchase_return
from rewards.receipt_views import receipt_texts
from tests import factories
from tests.factories import rewards as rf
from tests.members.test_member_pages_language import visible_text

RATES = (0, 600, 1200, 2500)

# --- VAT per rate -----------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 10**9), st.sampled_from(RATES)), max_size=30))
def test_vat_and_net_add_up_to_the_gross_per_rate_and_in_total(lines):
    parts = receipt_vat_by_rate(lines)
    # one part per rate, highest first
    assert [p.rate_bp for p in parts] == sorted({rate for _g, rate in lines}, reverse=True)
    for part in parts:
        assert part.vat_ore + part.net_ore == part.gross_ore
        assert part.gross_ore == sum(g for g, rate in lines if rate == part.rate_bp)
        # rounded once per rate, to the nearest öre of gross × r / (1 + r)
        exact = Decimal(part.gross_ore) * part.rate_bp / (10_000 + part.rate_bp)
        assert abs(part.vat_ore - exact) <= Decimal("0.5")
        if part.rate_bp == 0:
            assert part.vat_ore == 0
    assert sum(p.vat_ore + p.net_ore for p in parts) == sum(g for g, _r in lines)


def test_vat_is_rounded_half_up_on_the_rates_sum_not_per_line():
    # 25 % of 1,00 kr incl. VAT is 0,20 kr; 12 % of 1 298 kr is 139,07 kr
    assert receipt_vat_of(100, 2500) == 20
    assert receipt_vat_of(129_800, 1200) == 13_907  # 13 907,14...
    assert receipt_vat_of(53, 600) == 3  # 3,0000 -> 3
    assert receipt_vat_of(9, 2500) == 2  # 1,8 -> 2
    assert receipt_vat_of(10, 2500) == 2  # 2,0
    assert receipt_vat_of(106, 600) == 6  # 6,0
    assert receipt_vat_of(114, 1200) == 12  # 12,21... -> 12
    # three lines of 0,09 kr at 25 %: per line 2 + 2 + 2 = 6 öre; on the sum 27 öre: 5 öre
    (part,) = receipt_vat_by_rate([(9, 2500)] * 3)
    assert (part.gross_ore, part.vat_ore, part.net_ore) == (27, 5, 22)
    assert [p.percent for p in receipt_vat_by_rate([(1, r) for r in RATES])] == [
        "25",
        "12",
        "6",
        "0",
    ]


# --- the purchase's VAT rates ----------------------------------------------------------------


@pytest.fixture
def rules(db: Any) -> None:
    rf.base_rule(name_sv="1 poäng per krona", name_en="1 point per krona")


@pytest.fixture
def catalogue(db: Any) -> None:
    products_cache_clear()
    food = Category.objects.create(code="mat", name="Mat", vat_rate_bp=1200)
    Category.objects.create(code="bocker", name="Böcker", vat_rate_bp=600)
    Product.objects.create(sku="BANAN", name="Bananer", category=food)
    # a product's own rate wins over its category's
    Product.objects.create(sku="PANT", name="Pant", category=food, vat_rate_bp=0)


def _bought(store, member) -> Any:
    """Two lines at 12 %, one at 6 % (a new product in a known category), one at 25 %."""
    return rf.purchase(
        store=store,
        member=member,
        receipt_id="K1-0042",
        lines=[
            rf.line(sku="BANAN", quantity=3, price_ore=1_250, discount_ore=250),
            rf.line(sku="PANT", quantity=2, price_ore=200),
            rf.line(sku="BOK-1", name="Röda rummet", category="bocker", price_ore=19_900),
            rf.line(sku="SOCKA", name="Strumpor å ä ö", quantity=2, price_ore=4_950),
        ],
        total_ore=3 * 1_250 - 250 + 2 * 200 + 19_900 + 2 * 4_950,
    )


@pytest.mark.django_db
def test_lines_take_the_products_or_categorys_rate_and_the_tills_when_sent(
    store, member, rules, catalogue
):
    result = _bought(store, member)
    rates = dict(
        PurchaseLine.objects.filter(purchase=result.purchase).values_list("sku", "vat_rate_bp")
    )
    assert rates == {"BANAN": 1200, "PANT": 0, "BOK-1": 600, "SOCKA": 2500}
    # the till's rate wins
    sent = rf.purchase(
        store=store, member=member, lines=[rf.line(sku="BANAN", price_ore=100, vat_rate_bp=2500)]
    )
    assert [line.vat_rate_bp for line in sent.purchase.lines.all()] == [2500]


@pytest.mark.django_db
def test_the_till_api_takes_an_optional_swedish_vat_rate_per_line(till, member, rules):
    client, _key = till
    body = {
        "receipt_id": "VAT-1",
        "member": {"membership_number": member.membership_number},
        "total_ore": 3_000,
        "lines": [
            {"sku": "A", "quantity": 1, "unit_price_ore": 1_000, "vat_rate_bp": 1200},
            {"sku": "B", "quantity": 1, "unit_price_ore": 1_000, "vat_rate_bp": None},
            {"sku": "C", "quantity": 1, "unit_price_ore": 1_000},
        ],
    }
    assert client.post("/api/v1/purchases/", body, format="json").status_code == 201
    lines = PurchaseLine.objects.filter(purchase__receipt_id="VAT-1").order_by("line_no")
    assert [line.vat_rate_bp for line in lines] == [1200, 2500, 2500]
    # a rate that is not Swedish: 400 naming the field, nothing written
    bad = {**body, "receipt_id": "VAT-2"}
    bad["lines"] = [{"sku": "A", "quantity": 1, "unit_price_ore": 1_000, "vat_rate_bp": 1900}]
    response = client.post("/api/v1/purchases/", bad, format="json")
    assert response.status_code == 400
    assert "vat_rate_bp" in response.content.decode()
    assert not PurchaseLine.objects.filter(purchase__receipt_id="VAT-2").exists()


# --- the member's receipt ----------------------------------------------------------------------


def _shown(html: str, testid: str) -> str:
    """The text of the element (or its first header cell) with this test id."""
    found = re.search(rf'data-testid="{testid}">(?:<th scope="row">)?([^<]+)<', html)
    assert found is not None, testid
    return found.group(1)


def _client(member) -> Client:
    client = Client()
    client.force_login(member.user)
    return client


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("language", "total", "vat_total", "time_re"),
    [
        ("sv", "337\u00a0kr", "34,81\u00a0kr", r"\d{1,2} [a-z]+\.? 20\d\d \d\d:\d\d"),
        ("en", "337\u00a0kr", "34.81\u00a0kr", r"\d{1,2} [A-Z][a-z]{2} 20\d\d \d\d:\d\d"),
    ],
)
def test_the_member_reads_their_receipt_in_their_language(
    store, member, rules, catalogue, language, total, vat_total, time_re
):
    result = _bought(store, member)
    url = reverse("rewards:receipt", args=[result.purchase.pk])
    response = _client(member).get(url, HTTP_ACCEPT_LANGUAGE=language)
    assert response.status_code == 200
    html = response.content.decode()
    text = visible_text(html)
    # the store, the time, every line with its quantity, unit price and discount
    assert "Drottninggatan" in text
    assert re.search(time_re, text), text[:300]
    for name in ("Bananer", "Pant", "Röda rummet", "Strumpor å ä ö"):
        assert name in text
    assert len(re.findall(r'data-testid="receipt-line"', html)) == 4
    assert ("3 × 12,50\u00a0kr" if language == "sv" else "3 × 12.50\u00a0kr") in html
    assert ("−2,50\u00a0kr" if language == "sv" else "−2.50\u00a0kr") in html
    # the total, the VAT per rate
    assert _shown(html, "receipt-total") == total
    rates = re.findall(r'data-testid="receipt-vat-rate"><th scope="row">([^<]+)</th>', html)
    assert rates == ["25\u00a0%", "12\u00a0%", "6\u00a0%", "0\u00a0%"]
    # 25 %: 99,00 -> 19,80; 12 %: 35,00 -> 3,75; 6 %: 199,00 -> 11,26; 0 %: 4,00 -> 0
    assert _shown(html, "receipt-vat-total") == vat_total
    assert ("11,26\u00a0kr" if language == "sv" else "11.26\u00a0kr") in html  # 6 % of 199 kr
    # the points each rule gave, in the member's language
    rule_name = "1 poäng per krona" if language == "sv" else "1 point per krona"
    assert _shown(html, "receipt-rule") == rule_name
    assert _shown(html, "receipt-points") == ("337 poäng" if language == "sv" else "337 points")
    # a link to the PDF
    assert reverse("rewards:receipt-pdf", args=[result.purchase.pk]) in html


@pytest.mark.django_db
def test_the_receipt_shows_returns_against_it(store, member, rules, catalogue):
    result = _bought(store, member)
    purchase_return(store=store, receipt_id="K1-0042", return_id="RET-1", lines=[(4, 1)])
    html = (
        _client(member)
        .get(reverse("rewards:receipt", args=[result.purchase.pk]), HTTP_ACCEPT_LANGUAGE="en")
        .content.decode()
    )
    text = visible_text(html)
    assert "Returns" in text
    assert len(re.findall('data-testid="receipt-return"', html)) == 1
    assert "1 × Strumpor å ä ö" in text
    assert "1 returned" in text
    # the points a return took back: half of the socks' 99 points, rounded down
    assert "Taken back by returns" in text
    assert "−49 points" in text


@pytest.mark.django_db
def test_another_members_receipt_is_not_found(store, member, rules):
    other = factories.member_with_user(email="berit@example.se", first_name="Berit")
    theirs = rf.purchase(store=store, member=other).purchase
    client = _client(member)
    for name in ("rewards:receipt", "rewards:receipt-pdf"):
        assert client.get(reverse(name, args=[theirs.pk])).status_code == 404
        assert client.get(reverse(name, args=[theirs.pk + 1000])).status_code == 404
    # a purchase without a member is nobody's receipt
    anonymous = rf.purchase(store=store, member=None).purchase
    assert client.get(reverse("rewards:receipt", args=[anonymous.pk])).status_code == 404


def _pdf_text(pdf: bytes) -> str:
    """The text shown by the PDF's pages: each content stream inflated, its strings joined."""
    texts = []
    for stream in re.findall(rb"stream\r?\n(.*?)\r?\nendstream", pdf, re.S):
        try:
            data = zlib.decompress(stream)
        except zlib.error:
            data = stream
        for found in re.findall(rb"\(((?:\\.|[^\\)])*)\)\s*Tj", data):
            texts.append(re.sub(rb"\\(.)", rb"\1", found).decode("latin-1"))
    return "\n".join(texts)


@pytest.mark.django_db
def test_the_receipt_downloads_as_a_pdf_with_its_lines_and_total(store, member, rules, catalogue):
    result = _bought(store, member)
    purchase_return(store=store, receipt_id="K1-0042", return_id="RET-1", lines=[(4, 1)])
    response = _client(member).get(
        reverse("rewards:receipt-pdf", args=[result.purchase.pk]), HTTP_ACCEPT_LANGUAGE="sv"
    )
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    # "kvitto-K1-0042.pdf" ("receipt-..." until the catalogue has the word)
    assert re.fullmatch(
        r'attachment; filename="[a-z]+-K1-0042\.pdf"', response["Content-Disposition"]
    )
    cache = {part.strip() for part in response["Cache-Control"].split(",")}
    assert {"private", "no-store"} <= cache
    assert "public" not in cache
    pdf = response.content
    assert pdf.startswith(b"%PDF-")
    text = _pdf_text(pdf)
    for expected in (
        "Drottninggatan",
        "K1-0042",
        "Bananer",
        "Strumpor å ä ö (1 returnerad)",
        "12,50\u00a0kr",
        "−2,50\u00a0kr".replace("\u2212", "-"),
        "337\u00a0kr",  # the total
        "12\u00a0%",
        "34,81\u00a0kr",  # the VAT
        "19,80\u00a0kr",  # 25 % of 99 kr
        "1 poäng per krona",
        "337 poäng",
        "-49 poäng",
    ):
        assert expected in text, (expected, text)


def test_the_pdf_writes_every_swedish_letter_and_replaces_what_latin_1_lacks():
    texts: dict[str, Any] = {
        "title": "Kvitto",
        "club": "Kundklubben",
        "store": "Götgatan",
        "time": "4 dec. 2026 14:05",
        "receipt_id": "R1",
        "lines": [
            {
                "name": "Smörgåsbord ÅÄÖ Ελλάδα",
                "quantity": "1",
                "unit_price": "10\u00a0kr",
                "discount": "−1\u00a0kr",
                "vat": "12\u00a0%",
                "amount": "9\u00a0kr",
                "returned": "",
            }
        ],
        "total": "9\u00a0kr",
        "adjustment": "",
        "vat": [],
        "vat_total": "0\u00a0kr",
        "rules": [],
        "points_earned": "0 poäng",
        "points_reversed": "",
        "returns": [],
        "labels": dict.fromkeys(
            [
                "store",
                "time",
                "receipt_id",
                "item",
                "quantity",
                "unit_price",
                "discount",
                "vat_rate",
                "rate",
                "amount",
                "total",
                "adjustment",
                "vat_heading",
                "vat",
                "net",
                "gross",
                "vat_total",
                "points_heading",
                "points_earned",
                "points_reversed",
                "no_points",
                "returns_heading",
            ],
            "x",
        ),
    }
    text = _pdf_text(receipt_pdf_render(texts, compress=False))
    assert "Smörgåsbord ÅÄÖ ??????" in text
    assert "-1\u00a0kr" in text
    assert "Götgatan" in text


@pytest.mark.django_db
def test_the_receipt_texts_match_the_stored_purchase(store, member, rules, catalogue):
    result = _bought(store, member)
    receipt = receipt_read(purchase_id=result.purchase.pk, member_id=member.pk)
    assert receipt is not None
    assert receipt.lines_total_ore == result.purchase.total_ore
    assert receipt.adjustment_ore == 0
    assert sum(p.gross_ore for p in receipt.vat) == result.purchase.total_ore
    assert receipt.rules("sv") == [("1 poäng per krona", result.purchase.points_earned)]
    texts = receipt_texts(receipt, "sv")
    assert texts["adjustment"] == ""
    # another member's id: nothing
    assert receipt_read(purchase_id=result.purchase.pk, member_id=member.pk + 1) is None


# --- links: the points page, the desk -----------------------------------------------------------


@pytest.mark.django_db
def test_the_points_page_links_each_purchase_to_its_receipt(store, member, rules):
    purchase = rf.purchase(store=store, member=member).purchase
    html = _client(member).get(reverse("rewards:points"), HTTP_ACCEPT_LANGUAGE="sv").content
    url = reverse("rewards:receipt", args=[purchase.pk])
    # the history's earn row and the purchase list
    assert html.decode().count(f'href="{url}"') == 2


@pytest.mark.django_db
def test_store_staff_open_a_members_receipt_from_the_desk_and_it_is_logged(
    store, member, rules, catalogue
):
    result = _bought(store, member)
    staff = Client()
    staff.force_login(factories.staff_user(role=STORE_STAFF))
    desk = staff.get(reverse("desk:member", args=[member.pk])).content.decode()
    url = reverse("desk-rewards:receipt", args=[member.pk, result.purchase.pk])
    assert f'href="{url}"' in desk
    AccessLog.objects.all().delete()
    response = staff.get(url)
    assert response.status_code == 200
    assert "Röda rummet" in response.content.decode()
    assert list(AccessLog.objects.values_list("member_id", "view")) == [(member.pk, "desk:receipt")]
    # another member's purchase under this member's address: 404
    other = factories.member_with_user(email="berit@example.se")
    theirs = rf.purchase(store=store, member=other).purchase
    assert staff.get(reverse("desk-rewards:receipt", args=[member.pk, theirs.pk])).status_code == (
        404
    )


@pytest.mark.django_db
def test_the_desk_hands_an_english_member_a_receipt_copy_in_english_and_it_is_logged(
    store, member, rules, catalogue
):
    # given an English-speaking member's purchase and store staff on a Swedish back-office
    Member.objects.filter(pk=member.pk).update(preferred_language="en")
    result = _bought(store, member)
    staff = Client()
    staff.force_login(factories.staff_user(role=STORE_STAFF))
    url = reverse("desk-rewards:receipt-pdf", args=[member.pk, result.purchase.pk])
    page = staff.get(
        reverse("desk-rewards:receipt", args=[member.pk, result.purchase.pk]),
        HTTP_ACCEPT_LANGUAGE="sv",
    ).content.decode()
    assert f'href="{url}"' in page
    AccessLog.objects.all().delete()

    # when they download the copy
    response = staff.get(url, HTTP_ACCEPT_LANGUAGE="sv")

    # then it is the member's receipt as a PDF in English, never kept by a shared cache
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert re.fullmatch(
        r'attachment; filename="receipt-K1-0042\.pdf"', response["Content-Disposition"]
    )
    assert "no-store" in response["Cache-Control"]
    text = _pdf_text(response.content)
    for expected in ("Receipt", "Drottninggatan", "K1-0042", "Bananer", "337 points"):
        assert expected in text, (expected, text)
    assert "Kvitto" not in text
    # and the staff access is in the member's access log
    assert list(AccessLog.objects.values_list("member_id", "view")) == [
        (member.pk, "desk:receipt-pdf")
    ]
    # another member's purchase under this member's address: 404
    other = factories.member_with_user(email="berit@example.se")
    theirs = rf.purchase(store=store, member=other).purchase
    assert staff.get(
        reverse("desk-rewards:receipt-pdf", args=[member.pk, theirs.pk])
    ).status_code == (404)


@pytest.mark.django_db
def test_the_marketer_sees_no_receipt(store, member, rules):
    purchase = rf.purchase(store=store, member=member).purchase
    marketer = Client()
    marketer.force_login(factories.staff_user(role=MARKETER))
    for name in ("desk-rewards:receipt", "desk-rewards:receipt-pdf"):
        assert marketer.get(reverse(name, args=[member.pk, purchase.pk])).status_code == 403


@pytest.mark.django_db
def test_a_replay_matches_its_first_request_and_the_rate_counts_only_when_sent(till, member):
    client, _key = till
    line = {"sku": "A", "quantity": 1, "unit_price_ore": 1_000}
    body = {"receipt_id": "VAT-R", "total_ore": 1_000, "lines": [line]}
    assert client.post("/api/v1/purchases/", body, format="json").status_code == 201
    replay = client.post("/api/v1/purchases/", body, format="json")
    assert replay.status_code == 201
    assert replay["Idempotent-Replayed"] == "true"
    with_rate = {**body, "lines": [{**line, "vat_rate_bp": 1200}]}
    assert client.post("/api/v1/purchases/", with_rate, format="json").status_code == 409


@pytest.mark.django_db
def test_the_receipt_texts_are_all_in_the_language_asked_for(store, member, rules, catalogue):
    result = _bought(store, member)
    receipt = receipt_read(purchase_id=result.purchase.pk)
    assert receipt is not None
    english = receipt_texts(receipt, "en")
    assert english["labels"]["vat_heading"] == "VAT per rate"
    assert english["points_earned"] == "337 points"
    assert english["total"] == "337\u00a0kr"
    assert english["lines"][0]["unit_price"] == "12.50\u00a0kr"
