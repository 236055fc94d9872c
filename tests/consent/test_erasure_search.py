"""Erasure finds everything (issue 11, finding 8): after the real erasure, no text, varchar
or JSON column of any table, no file in the private storage and no cache entry holds the
member's identifiers, in any of the spellings people and tills write them.

The member's data is put in through the real features: an uploaded list in the admin, the
till API (purchase, return, redeem, reservation with references), a staff adjustment with a
note, a failed log-in, an admin log line, an export. The columns are found in
``information_schema.columns``, not in a hand-kept list, so a new table is searched too.
"""

from __future__ import annotations

import datetime
import io
import os
import zipfile
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.contrib.admin.models import CHANGE, LogEntry
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from rest_framework.test import APIClient

from consent.services.erasure import member_anonymise
from consent.services.export import privacy_export_request
from members.api.scopes import SCOPES
from members.models import Member
from rewards.ledger.points import points_adjust
from rewards.models import Purchase
from tests import factories
from tests.factories import rewards as rf

pytestmark = [pytest.mark.django_db, pytest.mark.privacy]

TEXT_TYPES = ["text", "character varying", "character", "json", "jsonb"]
EMAIL = "Ingegerd.Zettervall@Example.se"
BIRTH = datetime.date(1979, 8, 23)


def _needles(member: Member) -> list[str]:
    number = member.membership_number
    return [
        EMAIL.lower(),
        EMAIL.upper(),
        "+46701234567",  # E.164, as stored
        "0701234567",  # national
        "070-123 45 67",  # spaced, as people write it
        "070 123 45 67",
        "070-1234567",
        number,
        member.formatted_membership_number,  # with spaces, as on the card
        " ".join([number[:3], number[3:6], number[6:]]),
        "Ingegerd",
        "Zettervall",
        BIRTH.isoformat(),
        BIRTH.strftime("%Y%m%d"),
    ]


def _text_columns() -> list[tuple[str, str]]:
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT c.table_name, c.column_name FROM information_schema.columns c
            JOIN information_schema.tables t
                ON t.table_schema = c.table_schema AND t.table_name = c.table_name
            WHERE c.table_schema = 'public' AND t.table_type = 'BASE TABLE'
                AND c.data_type = ANY(%s)
            ORDER BY 1, 2
            """,
            [TEXT_TYPES],
        )
        return list(cursor.fetchall())


def _database_hits(needles: list[str]) -> list[str]:
    """``table.column: needle in value`` for every row of every text/JSON column that holds a
    needle (case-insensitive)."""
    hits = []
    with connection.cursor() as cursor:
        for table, column in _text_columns():
            for needle in needles:
                cursor.execute(
                    f'SELECT "{column}"::text FROM "{table}" '  # noqa: S608
                    f'WHERE "{column}"::text ILIKE %s LIMIT 3',
                    [f"%{needle}%"],
                )
                for (value,) in cursor.fetchall():
                    hits.append(f"{table}.{column}: {needle!r} in {value[:200]!r}")
    return hits


def _file_texts(root: Path) -> list[tuple[str, str]]:
    """Every file under ``root`` as text; a ZIP's members one by one."""
    out = []
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            path = Path(dirpath) / name
            data = path.read_bytes()
            if zipfile.is_zipfile(io.BytesIO(data)):
                with zipfile.ZipFile(io.BytesIO(data)) as archive:
                    for member in archive.namelist():
                        text = archive.read(member).decode("utf-8", "replace")
                        out.append((f"{path}!{member}", text))
            else:
                out.append((str(path), data.decode("utf-8", "replace")))
    return out


def _storage_hits(needles: list[str]) -> list[str]:
    private: Any = settings.STORAGES["private"]
    root = Path(private["OPTIONS"]["location"])
    return [
        f"private file {name}: {needle!r}"
        for name, text in _file_texts(root)
        for needle in needles
        if needle.lower() in text.lower()
    ]


def _cache_hits(needles: list[str]) -> list[str]:
    client = cache._cache.get_client()  # type: ignore[attr-defined]
    hits = []
    for key in client.scan_iter(match="*"):
        value = client.get(key) if client.type(key) == b"string" else b""
        text = (key + b" " + (value or b"")).decode("utf-8", "replace").lower()
        hits += [f"cache {key!r}: {n!r}" for n in needles if n.lower() in text]
    return hits


@pytest.fixture
def ingegerd(store, client, django_capture_on_commit_callbacks, settings, tmp_path):
    """A member whose identifiers were typed into every free-text place the club has."""
    # A private storage of this test's own, so that every file in it is this test's.
    private = {**settings.STORAGES["private"]}
    private["OPTIONS"] = {**private.get("OPTIONS", {}), "location": str(tmp_path / "private")}
    settings.STORAGES = {**settings.STORAGES, "private": private}
    rf.base_rule()
    member = factories.member_with_user(
        email=EMAIL,
        first_name="Ingegerd",
        last_name="Zettervall",
        phone="0701234567",
        birth_date=BIRTH,
        home_store=store,
    )
    number = member.membership_number
    staff = factories.staff_user(superuser=True)

    # A marketer uploads a list: the member's email matches, the rest are rejected lines.
    client.force_login(staff)
    upload = SimpleUploadedFile(
        "lista.csv",
        (
            f"{EMAIL.upper()}\n+46701234567\n070-123 45 67\n{member.formatted_membership_number}\n"
            "Ingegerd Zettervall\n"
        ).encode(),
    )
    response = client.post(
        "/admin/campaigns/segment/import/",
        {"name": "Kunder som ringt (Ingegerd Zettervall m.fl.)", "file": upload},
    )
    assert response.status_code == 302, response.content[:500]
    client.logout()

    # The till and the web shop: ids and references that carry the member's phone or email.
    _key, secret = factories.api_key_with_secret(store_obj=store, scopes=list(SCOPES))
    till = APIClient()
    till.credentials(HTTP_AUTHORIZATION=f"Api-Key {secret}")
    ref = {"membership_number": number}
    with django_capture_on_commit_callbacks(execute=True):
        bought = till.post(
            "/api/v1/purchases/",
            {
                "receipt_id": "web-0701234567-1",
                "member": ref,
                "total_ore": 20000,
                "purchased_at": (
                    datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=60)
                ).isoformat(),
                "lines": [{"sku": "SKO-1", "quantity": 2, "unit_price_ore": 10000}],
            },
            format="json",
        )
        assert bought.status_code == 201, bought.json()
        returned = till.post(
            "/api/v1/purchases/web-0701234567-1/returns/",
            {"return_id": f"RET-{number}", "lines": [{"line_no": 1, "quantity": 1}]},
            format="json",
        )
        assert returned.status_code == 201, returned.json()
        redeemed = till.post(
            "/api/v1/points/redeem/",
            {"member": ref, "points": 10, "idempotency_key": "red-1", "reference": EMAIL},
            format="json",
        )
        assert redeemed.status_code == 200, redeemed.json()
        reserved = till.post(
            "/api/v1/points/reservations/",
            {
                "member": ref,
                "points": 10,
                "idempotency_key": "res-1",
                "reference": "Zettervall 070 123 45 67",
            },
            format="json",
        )
        assert reserved.status_code == 201, reserved.json()

    # Staff's note on an adjustment, and an admin log line about her purchase.
    points_adjust(
        member=member,
        points=25,
        reason=f"Goodwill: Ingegerd Zettervall ringde från 070-123 45 67 ({number})",
        actor=staff,
        idempotency_key="adj-1",
    )
    LogEntry.objects.log_actions(
        user_id=staff.pk,
        queryset=[Purchase.objects.get(receipt_id="web-0701234567-1")],
        action_flag=CHANGE,
        change_message=f"Kvitto kopplat till {member.formatted_membership_number}, "
        f"kund {EMAIL} född {BIRTH:%Y%m%d}",
        single_object=True,
    )

    # A mistyped password: django-axes keeps the attempt under the typed email.
    client.post("/konto/login/", {"login": EMAIL, "password": "wrong-password"})

    # An export, built and stored in the private storage.
    with django_capture_on_commit_callbacks(execute=True):
        privacy_export_request(member=member, actor=member.user)
    member.refresh_from_db()
    return member


def test_erasure_leaves_no_identifier_in_any_column_file_or_cache(ingegerd):
    needles = _needles(ingegerd)
    # Given the identifiers are in the database, files and cache, in many spellings
    before = _database_hits(needles)
    assert any(h.startswith("campaigns_segment.") for h in before), before
    assert any(h.startswith("rewards_ledgerentry.reason") for h in before), before
    assert _storage_hits(needles), "the export was not written"

    # When she is erased
    member_anonymise(member_id=ingegerd.pk)

    # Then nothing holds any of them
    hits = _database_hits(needles) + _storage_hits(needles) + _cache_hits(needles)
    assert hits == [], "\n".join(hits)


def test_erasure_keeps_the_books_while_pseudonymising_references(ingegerd):
    purchase = Purchase.objects.get(member=ingegerd)
    totals = (purchase.total_ore, purchase.points_earned, purchase.points_reversed)
    ledger = list(ingegerd.ledger.order_by("pk").values_list("pk", "points", "kind"))

    member_anonymise(member_id=ingegerd.pk)

    purchase.refresh_from_db()
    assert (purchase.total_ore, purchase.points_earned, purchase.points_reversed) == totals
    assert purchase.receipt_id == f"web-[erased]{purchase.pk}-1"
    assert list(ingegerd.ledger.order_by("pk").values_list("pk", "points", "kind")) == (ledger)
    adjust = ingegerd.ledger.get(kind="adjust")
    assert adjust.reason.startswith("Goodwill: [erased] ringde från [erased]")
    # a second run changes nothing
    assert member_anonymise(member_id=ingegerd.pk) is False
    adjust.refresh_from_db()
    assert adjust.reason.startswith("Goodwill: [erased]")


def test_ledger_amounts_stay_immutable_even_during_an_erasure(ingegerd):
    from django.db import IntegrityError, transaction

    entry = ingegerd.ledger.get(kind="adjust")

    def change_points_as_an_erasure() -> None:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SELECT set_config('kundklubb.erasure', 'on', true)")
            type(entry).objects.filter(pk=entry.pk).update(points=1)

    with pytest.raises(IntegrityError):
        change_points_as_an_erasure()
    with pytest.raises(IntegrityError), transaction.atomic():
        type(entry).objects.filter(pk=entry.pk).update(reason="rewritten")
