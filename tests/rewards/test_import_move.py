"""A whole move from an old club, as the files come: the members with their consents
(Windows-1252, semicolons, bad phones, future birth dates, a repeated external id, an
unknown store), then their opening balances (UTF-8 with a BOM, commas, a negative balance,
a decimal comma), then their purchases (a BOM, decimal commas, an unknown store). The exact
report of each is checked, the ledger's invariants hold after each import, and running
every file a second time writes nothing."""

from __future__ import annotations

import codecs
import datetime
from collections.abc import Iterator
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.utils import translation

from consent.models import ConsentEvent, ConsentState
from members.imports import members_import
from members.models import ActivityEvent, Member, User
from rewards.imports import balances_import
from rewards.models import LedgerEntry, PointBalance, PointLot, Purchase, PurchaseLine
from rewards.purchases.imports import purchases_import
from tests import factories
from tests.rewards.invariants import assert_invariants

pytestmark = pytest.mark.django_db

STOCKHOLM = ZoneInfo("Europe/Stockholm")
NOW = datetime.datetime(2026, 6, 15, 12, 0, tzinfo=STOCKHOLM)


def _file(rows: list[list[str]], *, sep: str, encoding: str = "utf-8", bom: bool = False) -> bytes:
    text = "\r\n".join(sep.join(row) for row in rows) + "\r\n"
    data = text.encode(encoding)
    return codecs.BOM_UTF8 + data if bom else data


MEMBERS = _file(
    [
        [
            "external_id",
            "first_name",
            "last_name",
            "phone",
            "birth_date",
            "home_store",
            "consent_marketing_sms",
            "consent_marketing_sms_at",
            "consent_marketing_sms_source",
        ],
        [
            "G-1",
            "Åsa",
            "Öberg",
            "070-123 45 67",
            "1984-03-01",
            "sthlm",
            "ja",
            "2022-04-01",
            "kassa",
        ],
        ["G-2", "Jörgen", "Wäck", "070-12", "1990-01-01", "sthlm", "", "", ""],
        ["G-3", "Märta", "Ek", "", "2030-01-01", "sthlm", "", "", ""],
        ["G-4", "Nils", "Berg", "0046 70 765 43 21", "", "malmö", "", "", ""],
        ["G-5", "Per", "Sjö", "", "", "", "", "", ""],
        ["G-5", "Pär", "Sjö", "", "", "", "", "", ""],
        ["G-6", "Lisa", "Åkesson", "+46 73 111 22 33", "", "gbg", "nej", "", ""],
    ],
    sep=";",
    encoding="cp1252",
)
MEMBERS_REPORT = [
    'line 3; phone; "070-12"; 070-12 is not a valid phone number.',
    'line 4; birth_date; "2030-01-01"; The birth date is in the future.',
    'line 5; home_store; "malmö"; No store has this code.',
    'line 6; external_id; "G-5"; The external id is on line 7 too; none of them is imported.',
    'line 7; external_id; "G-5"; The external id is on line 6 too; none of them is imported.',
]
BALANCES = _file(
    [
        ["external_id", "points", "earned_at", "note"],
        ["G-1", "1 500", "2025-09-01", "Öppningssaldo"],
        ["G-1", "-200", "2025-10-01", "Skuld"],
        ["G-6", '"250,00"', "2026-01-10 14:05", ""],  # quoted: a comma file
        ["G-2", "100", "2025-09-01", ""],
    ],
    sep=",",
    bom=True,
)
BALANCES_REPORT = [
    'line 3; points; "-200"; The points must be more than zero; a zero or negative balance '
    "is not imported.",
    'line 5; external_id; "G-2"; No member has this external id; import the members first.',
]
PURCHASES = _file(
    [
        [
            "purchase_id",
            "external_id",
            "store",
            "purchased_at",
            "total",
            "sku",
            "quantity",
            "amount",
        ],
        ["R-1", "G-1", "sthlm", "2025-12-01 10:15", "1 298,50", "SKO-1", "1", "1 099,00"],
        ["R-1", "G-1", "sthlm", "2025-12-01 10:15", "1 298,50", "STRUMPA", "2", "199,50"],
        ["R-2", "G-6", "umea", "2026-01-05", "99,00", "FLASKA", "1", "99,00"],
        ["R-3", "G-6", "gbg", "2026-02-05", "49.90", "FLASKA", "1", "49.90"],
    ],
    sep=";",
    bom=True,
)
PURCHASES_REPORT = ['line 4; store; "umea"; No store has this code.']


@pytest.fixture(autouse=True)
def _today() -> Iterator[None]:
    with time_machine.travel(NOW, tick=False), translation.override("en"):
        yield


def _everything() -> tuple[int, ...]:
    return (
        Member.objects.count(),
        User.objects.count(),
        ActivityEvent.objects.count(),
        ConsentEvent.objects.count(),
        ConsentState.objects.count(),
        LedgerEntry.objects.count(),
        PointLot.objects.count(),
        Purchase.objects.count(),
        PurchaseLine.objects.count(),
    )


def test_a_whole_move_from_messy_files_keeps_the_books_and_runs_twice_as_once():
    factories.store(code="sthlm", name="Drottninggatan")
    factories.store(code="gbg", name="Nordstan")

    members = members_import(data=MEMBERS, dry_run=False)
    assert members.lines() == MEMBERS_REPORT
    assert members.summary == "imported=2 unchanged=0 rejected=5"
    ids = list(Member.objects.values_list("pk", flat=True))
    assert_invariants(ids)

    balances = balances_import(data=BALANCES, dry_run=False)
    assert balances.lines() == BALANCES_REPORT
    assert balances.summary == "imported=2 unchanged=0 rejected=2"
    assert_invariants(ids)

    purchases = purchases_import(data=PURCHASES, dry_run=False)
    assert purchases.lines() == PURCHASES_REPORT
    assert purchases.summary == "imported=2 unchanged=0 rejected=1 lines=3"
    assert_invariants(ids)

    asa = Member.objects.get(external_id="G-1")
    assert asa.phone == "+46701234567"
    assert ConsentState.objects.get(member=asa).purpose.code == "marketing_sms"
    assert PointBalance.objects.get(member=asa).posted == 1500
    assert Purchase.objects.get(receipt_id="R-1").total_ore == 129850
    assert Purchase.objects.get(receipt_id="R-3").total_ore == 4990

    written = _everything()
    assert members_import(data=MEMBERS, dry_run=False).summary == (
        "imported=0 unchanged=2 rejected=5"
    )
    assert balances_import(data=BALANCES, dry_run=False).summary == (
        "imported=0 unchanged=2 rejected=2"
    )
    assert purchases_import(data=PURCHASES, dry_run=False).summary == (
        "imported=0 unchanged=2 rejected=1 lines=0"
    )
    assert _everything() == written
    assert_invariants(ids)
