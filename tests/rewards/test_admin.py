"""Back-office: a member's points, manual adjustment, simulate, CSV import, liability."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from members.models import User
from rewards.models import LedgerEntry, Product
from tests.factories import rewards as rf

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(db) -> Client:
    user = User.objects.create_superuser(email="boss@example.se", password="x" * 12)
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def viewer_client(db) -> Client:
    """Staff who may look at points but not adjust them."""
    user = User.objects.create_user(email="viewer@example.se", password="x" * 12, is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_pointbalance"))
    client = Client()
    client.force_login(user)
    return client


def test_member_points_adjust_with_reason_is_audited(admin_client, member):
    url = f"/admin/rewards/pointbalance/member/{member.pk}/"
    page = admin_client.get(url)
    assert page.status_code == 200
    key = page.context["form"].initial["idempotency_key"]
    missing_reason = admin_client.post(url, {"points": 100, "reason": "", "idempotency_key": key})
    assert missing_reason.status_code == 200
    assert not LedgerEntry.objects.exists()
    done = admin_client.post(url, {"points": 100, "reason": "Trasig vara", "idempotency_key": key})
    assert done.status_code == 302
    # a double-click posts the same key again: still one adjustment
    admin_client.post(url, {"points": 100, "reason": "Trasig vara", "idempotency_key": key})
    entry = LedgerEntry.objects.get()
    assert (entry.kind, entry.points, entry.reason, entry.actor.email) == (
        "adjust",
        100,
        "Trasig vara",
        "boss@example.se",
    )
    assert b"Trasig vara" in admin_client.get(url).content


def test_member_points_adjust_needs_permission(viewer_client, member):
    url = f"/admin/rewards/pointbalance/member/{member.pk}/"
    page = viewer_client.get(url)
    assert page.status_code == 200
    assert page.context["form"] is None
    response = viewer_client.post(url, {"points": 100, "reason": "x", "idempotency_key": "k"})
    assert response.status_code == 403
    assert not LedgerEntry.objects.exists()


def test_liability_summary_on_balance_list(admin_client, member, settings):
    settings.REWARDS_POINT_VALUE_ORE = 10
    rf.earned(member, 1234)
    page = admin_client.get("/admin/rewards/pointbalance/")
    assert page.status_code == 200
    assert page.context["liability"] == {
        "points": 1234,
        "posted": 1234,
        "pending": 0,
        "value_ore": 12340,
    }


def test_simulate_shows_points_per_rule(admin_client, store):
    rf.base_rule()
    rf.multiplier_rule(multiplier="2", name_sv="Dubbla poäng", name_en="Double points")
    page = admin_client.post(
        "/admin/rewards/earningrule/simulate/",
        {"store": store.pk, "basket": "RUN-1;1;1199\nSOCK;2;49,50"},
    )
    assert page.status_code == 200
    result = page.context["result"]
    assert result["total"] == 2 * (1199 + 99)
    assert [p["sv"] for p in result["explanation"]] == ["1 p per krona", "Dubbla poäng"]
    bad = admin_client.post(
        "/admin/rewards/earningrule/simulate/", {"store": store.pk, "basket": "x"}
    )
    assert bad.context["result"] is None
    assert bad.context["form"].errors


def test_product_csv_import(admin_client):
    upload = SimpleUploadedFile(
        "p.csv", b"sku,name,category_code,category_name\nA1,Sko,skor,Skor\n", "text/csv"
    )
    response = admin_client.post("/admin/rewards/product/import/", {"file": upload})
    assert response.status_code == 302
    assert Product.objects.get(sku="A1").category.code == "skor"


@pytest.mark.parametrize(
    "path",
    [
        "/admin/rewards/ledgerentry/",
        "/admin/rewards/purchase/",
        "/admin/rewards/reservation/",
        "/admin/rewards/earningrule/",
        "/admin/rewards/eventrule/",
        "/admin/rewards/product/",
        "/admin/rewards/earningrule/simulate/",
        "/admin/rewards/product/import/",
    ],
)
def test_admin_pages_load(admin_client, member, store, path):
    rf.base_rule()
    rf.purchase(store=store, member=member)
    assert admin_client.get(path).status_code == 200


def test_ledger_entries_cannot_be_changed_in_admin(admin_client, member):
    entry = rf.earned(member, 5)
    response = admin_client.post(f"/admin/rewards/ledgerentry/{entry.pk}/delete/", {"post": "yes"})
    assert response.status_code == 403
    assert LedgerEntry.objects.filter(pk=entry.pk).exists()
