"""On a phone, a member opens a receipt from their points page, reads its lines and total,
and downloads its PDF (issue 16, "Digital receipts"), in Swedish and in English."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client

from rewards.models import Category
from rewards.purchases.products import products_cache_clear
from tests.factories import rewards as rf
from tests.rewards.test_receipts import _pdf_text

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def shopper(member, store) -> tuple[str, int]:
    """A member with one purchase (food at 12 %, shoes at 25 %, a discount): their session
    cookie and the purchase's id. Set up before the browser starts (Playwright's loop)."""
    products_cache_clear()
    rf.base_rule(name_sv="1 poäng per krona", name_en="1 point per krona")
    Category.objects.create(code="sportnaring", name="Sportnäring", vat_rate_bp=1200)
    purchase = rf.purchase(
        store=store,
        member=member,
        receipt_id="K7-0099",
        lines=[
            rf.line("RUN-1", 1, 129_800, name="Löparsko Fart", discount_ore=10_000),
            rf.line("BAR-1", 3, 2_900, name="Proteinbar", category="sportnaring"),
        ],
    ).purchase
    client = Client()
    client.force_login(member.user)
    return client.cookies[settings.SESSION_COOKIE_NAME].value, purchase.pk


@pytest.mark.parametrize(
    ("language", "locale", "total", "vat_12"),
    [
        ("sv", "sv-SE", "1\u00a0285\u00a0kr", "9,32\u00a0kr"),
        ("en", "en-GB", "1,285\u00a0kr", "9.32\u00a0kr"),
    ],
)
def test_a_member_opens_a_receipt_from_the_points_page_and_downloads_its_pdf(
    live_server, shopper, new_page, language, locale, total, vat_12
):
    session, purchase_id = shopper
    page = new_page(locale=locale)
    page.context.add_cookies(
        [
            {"name": settings.SESSION_COOKIE_NAME, "value": session, "url": live_server.url},
            {"name": settings.LANGUAGE_COOKIE_NAME, "value": language, "url": live_server.url},
        ]
    )
    # Given the points page on a phone
    page.goto(f"{live_server.url}/mina-sidor/poang/")

    # When the member follows the purchase's receipt link in the history
    page.locator(f'a[href="/mina-sidor/kvitton/{purchase_id}/"]').first.click()
    page.wait_for_url(f"**/mina-sidor/kvitton/{purchase_id}/")

    # Then the receipt shows the store, both lines and the total, without sideways scrolling
    assert page.get_by_test_id("receipt-store").inner_text() == "Drottninggatan"
    lines = page.get_by_test_id("receipt-line")
    assert lines.count() == 2
    assert "Löparsko Fart" in lines.nth(0).inner_text()
    assert "Proteinbar" in lines.nth(1).inner_text()
    assert page.get_by_test_id("receipt-total").inner_text() == total
    vat_rows = page.get_by_test_id("receipt-vat-rate")
    assert vat_rows.count() == 2
    assert vat_12 in vat_rows.nth(1).inner_text()  # 12 % of 87 kr
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    download_link = page.get_by_test_id("receipt-pdf")
    box = download_link.bounding_box()
    assert box is not None
    assert box["height"] >= 44

    # And the PDF downloads with the same lines and total
    with page.expect_download() as info:
        download_link.click()
    download = info.value
    assert download.suggested_filename.endswith("-K7-0099.pdf")
    pdf = Path(download.path()).read_bytes()
    assert pdf.startswith(b"%PDF-")
    text = _pdf_text(pdf)
    for expected in ("Löparsko Fart", "Proteinbar", total):
        assert expected in text, (expected, text)
