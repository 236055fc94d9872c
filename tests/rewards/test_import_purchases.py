"""The import of historical purchases with their lines (rewards.purchases.imports, manage.py
import_purchases, docs/import.md) with the files Swedish tills write: one row per line, the
purchase repeated, Windows-1252 with semicolons, UTF-8 with a BOM and commas, decimal
commas, unknown stores and members, a purchase with one bad line. A purchase is imported
whole or not at all; a second run writes nothing; the ledger's invariants hold."""

from __future__ import annotations

import codecs
import datetime
import io
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.management import call_command
from django.db.models import Sum
from django.utils import translation

from members.imports import members_import
from members.models import Member
from rewards.models import LedgerEntry, PointBalance, PointLot, Product, Purchase, PurchaseLine
from rewards.purchases.imports import purchases_import
from tests import factories
from tests.factories import rewards as rf
from tests.rewards.invariants import assert_invariants

pytestmark = pytest.mark.django_db

STOCKHOLM = ZoneInfo("Europe/Stockholm")
NOW = datetime.datetime(2026, 6, 15, 12, 0, tzinfo=STOCKHOLM)
HEADER = [
    "purchase_id",
    "external_id",
    "store",
    "purchased_at",
    "total",
    "sku",
    "product",
    "quantity",
    "amount",
]


def _file(
    rows: list[list[str]],
    *,
    sep: str = ";",
    encoding: str = "utf-8",
    bom: bool = False,
    header: list[str] | None = None,
) -> bytes:
    """A file as a Swedish till writes it: Windows line ends, no quotes unless needed."""

    def cell(value: str) -> str:
        return f'"{value}"' if sep in value or '"' in value else value

    text = "\r\n".join(sep.join(cell(v) for v in row) for row in [header or HEADER, *rows])
    data = (text + "\r\n").encode(encoding)
    return codecs.BOM_UTF8 + data if bom else data


@pytest.fixture(autouse=True)
def _today() -> Iterator[None]:
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def english() -> Iterator[None]:
    with translation.override("en"):
        yield


@pytest.fixture
def members() -> dict[str, Member]:
    factories.store(code="sthlm-city", name="Drottninggatan")
    factories.store(code="gbg-nordstan", name="Nordstan")
    data = _file(
        [["K-1", "Åsa", "Öberg"], ["K-2", "Jörgen", "Wäck"], ["K-3", "Lisa", "Ek"]],
        header=["external_id", "first_name", "last_name"],
    )
    assert members_import(data=data, dry_run=False).summary == "imported=3 unchanged=0 rejected=0"
    return {str(m.external_id): m for m in Member.objects.filter(external_id__startswith="K-")}


def _at(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime.datetime:
    return datetime.datetime(year, month, day, hour, minute, tzinfo=STOCKHOLM)


def _written() -> tuple[int, int, int, int]:
    """Everything a purchase import can write, counted."""
    return (
        Purchase.objects.count(),
        PurchaseLine.objects.count(),
        LedgerEntry.objects.count(),
        PointLot.objects.count(),
    )


MESSY = [
    # line 2-3: a purchase of two lines, decimal comma and a space between thousands
    ["A-1", "K-1", "sthlm-city", "2024-03-01 14:05", "1 348,00", "100231", "Sko", "1", "1 099,00"],
    ["A-1", "K-1", "sthlm-city", "2024-03-01 14:05", "1 348,00", "200877", "Strumpor", "2", "249"],
    # line 4: a decimal point, one line
    ["A-2", "K-2", "GBG-NORDSTAN", "2025-11-02", "89.50", "300140", "Flaska", "", "89.50"],
    # line 5-6: a purchase whose second line is bad: rejected whole
    ["A-3", "K-1", "sthlm-city", "2025-01-05", "200,00", "100231", "Löparsko", "1", "100,00"],
    ["A-3", "K-1", "sthlm-city", "2025-01-05", "200,00", "X-9", "Okänd", "två", "100,00"],
    # line 7: an unknown store
    ["A-4", "K-2", "malmo", "2025-01-05", "10,00", "100231", "", "1", "10,00"],
    # line 8: an unknown member
    ["A-5", "K-9", "sthlm-city", "2025-01-05", "10,00", "100231", "", "1", "10,00"],
    # line 9: a negative line
    ["A-6", "K-3", "sthlm-city", "2025-01-05", "10,00", "100231", "", "1", "-10,00"],
    # line 10: a total that is not the sum of the lines
    ["A-7", "K-3", "sthlm-city", "2025-01-05", "50,00", "100231", "", "1", "10,00"],
    # line 11-12: the purchase's time differs between its lines
    ["A-8", "K-3", "sthlm-city", "2025-01-05", "20,00", "100231", "", "1", "10,00"],
    ["A-8", "K-3", "sthlm-city", "2025-01-06", "20,00", "100231", "", "1", "10,00"],
    # line 13: a future purchase, "1.500" refused rather than guessed
    ["A-9", "K-3", "sthlm-city", "2027-01-05", "1.500", "100231", "", "1", "1.500"],
    # line 14: cash rounding (öresavrundning) within 50 öre is fine
    ["A-10", "K-3", "sthlm-city", "2025-02-01 09:30", "100,00", "100231", "", "3", "99,70"],
]

MESSY_REPORT = [
    'line 5; purchase_id; "A-3"; Line 6 of this purchase has a problem; the purchase is '
    "not imported.",
    'line 6; quantity; "två"; The quantity must be a whole number from 1 to 10000.',
    'line 7; store; "malmo"; No store has this code.',
    'line 8; external_id; "K-9"; No member has this external id; import the members first.',
    'line 9; amount; "-10,00"; A line\'s amount cannot be negative; put a discount on the '
    "line it belongs to (its amount after the discount).",
    'line 10; total; "50,00"; The total is not the sum of the purchase\'s lines, 10.00 kr.',
    'line 11; purchase_id; "A-8"; Line 12 of this purchase has a problem; the purchase is '
    "not imported.",
    'line 12; purchased_at; "2025-01-06"; The purchase A-8 has another value in this column on '
    "line 11; a purchase's lines repeat the same values.",
    'line 13; purchased_at; "2027-01-05"; The purchase time is in the future.',
    'line 13; total; "1.500"; Not an amount; write it as 1234,50 or 1 234,50.',
    'line 13; amount; "1.500"; Not an amount; write it as 1234,50 or 1 234,50.',
]


def test_a_windows_1252_till_export_with_semicolons_and_decimal_commas(members, english):
    data = _file(MESSY, encoding="cp1252")

    report = purchases_import(data=data, dry_run=False)

    assert (report.encoding, report.delimiter) == ("cp1252", ";")
    assert sorted(report.lines()) == sorted(MESSY_REPORT)
    assert report.summary == "imported=3 unchanged=0 rejected=7 lines=4"
    first = Purchase.objects.get(receipt_id="A-1")
    assert first.member == members["K-1"]
    assert first.store.code == "sthlm-city"
    assert first.total_ore == 134800
    assert first.purchased_at == _at(2024, 3, 1, 14, 5)
    assert first.points_earned == 0
    lines = list(first.lines.order_by("line_no").values_list("sku", "quantity", "unit_price_ore"))
    assert lines == [("100231", 1, 109900), ("200877", 2, 12450)]
    assert Product.objects.get(sku="100231").name == "Sko"
    assert Purchase.objects.get(receipt_id="A-2").total_ore == 8950
    # 99,70 for three: 33,24 each, less a discount of 2 öre; the total keeps its rounding.
    rounded = PurchaseLine.objects.get(purchase__receipt_id="A-10")
    assert (rounded.quantity, rounded.unit_price_ore, rounded.discount_ore) == (3, 3324, 2)
    assert Purchase.objects.get(receipt_id="A-10").total_ore == 10000
    # Nothing of a rejected purchase, nothing in the ledger.
    assert not Purchase.objects.filter(receipt_id__in=["A-3", "A-6", "A-7", "A-8"]).exists()
    assert LedgerEntry.objects.count() == 0
    assert_invariants(m.pk for m in members.values())


def test_the_same_file_twice_writes_nothing_the_second_time(members, english):
    data = _file(MESSY, sep=",", bom=True)
    first = purchases_import(data=data, dry_run=False)
    written = _written()

    again = purchases_import(data=data, dry_run=False)

    assert first.summary == "imported=3 unchanged=0 rejected=7 lines=4"
    assert again.summary == "imported=0 unchanged=3 rejected=7 lines=0"
    assert sorted(again.lines()) == sorted(MESSY_REPORT)
    assert _written() == written
    assert_invariants(m.pk for m in members.values())


def test_a_corrected_file_imports_what_was_missing_and_refuses_a_changed_purchase(members, english):
    purchases_import(data=_file(MESSY), dry_run=False)
    corrected = [row[:] for row in MESSY]
    corrected[4][7] = "1"  # A-3's second line: a quantity now
    corrected[2][8] = corrected[2][4] = "90,00"  # A-2 changed since: refused, not changed

    report = purchases_import(data=_file(corrected), dry_run=False)

    assert report.summary == "imported=1 unchanged=2 rejected=7 lines=2"
    assert (
        'line 4; purchase_id; "A-2"; The store has a purchase with this id already, with other '
        "contents; it is not changed." in report.lines()
    )
    assert Purchase.objects.get(receipt_id="A-2").total_ore == 8950
    assert Purchase.objects.get(receipt_id="A-3").lines.count() == 2


def test_a_dry_run_writes_nothing_and_counts_what_a_run_would_do(members, english):
    before = _written()

    report = purchases_import(data=_file(MESSY), dry_run=True)

    assert report.summary == "imported=3 unchanged=0 rejected=7 lines=4"
    assert _written() == before


def test_a_membership_number_names_the_member_and_a_merged_member_s_purchases_go_to_the_survivor(
    members, english
):
    """A purchase naming a tombstone (Member.merged_into) lands on the survivor."""
    survivor, merged = members["K-1"], members["K-2"]
    Member.objects.filter(pk=merged.pk).update(merged_into=survivor)
    header = ["purchase_id", "membership_number", "store", "purchased_at", "total", "sku", "amount"]
    data = _file(
        [
            ["B-1", survivor.membership_number, "sthlm-city", "2025-01-01", "10", "1", "10"],
            ["B-2", merged.membership_number, "sthlm-city", "2025-01-01", "10", "1", "10"],
            ["B-3", "0000000000", "sthlm-city", "2025-01-01", "10", "1", "10"],
        ],
        header=header,
    )

    report = purchases_import(data=data, dry_run=False)

    assert report.lines() == [
        'line 4; membership_number; "0000000000"; No member has this membership number.'
    ]
    assert set(Purchase.objects.values_list("receipt_id", "member_id")) == {
        ("B-1", survivor.pk),
        ("B-2", survivor.pk),
    }
    again = purchases_import(
        data=_file([["C-1", "K-2", "sthlm-city", "2025-01-01", "5", "1", "", "1", "5"]]),
        dry_run=False,
    )
    assert again.summary == "imported=1 unchanged=0 rejected=0 lines=1"
    assert Purchase.objects.get(receipt_id="C-1").member_id == survivor.pk


def test_a_member_merged_between_lookup_and_write_has_the_purchase_and_points_on_the_survivor(
    members, english, monkeypatch
):
    """The merge lands after the file's members were looked up: the batch locks the members'
    rows first and writes the purchase, and its points, to the survivor."""
    from members.merging import member_merge
    from rewards.purchases import imports

    rf.base_rule(rate="0.1")
    survivor, merged = members["K-1"], members["K-2"]
    write = imports._purchases_write

    def merge_then_write(*args, **kwargs):
        member_merge(survivor_id=survivor.pk, merged_id=merged.pk)
        return write(*args, **kwargs)

    monkeypatch.setattr(imports, "_purchases_write", merge_then_write)
    row = ["G-1", "K-2", "sthlm-city", "2026-03-01 10:00", "1 000,00", "1", "", "1", "1 000"]

    report = purchases_import(data=_file([row]), dry_run=False, earn=True)

    assert report.summary == "imported=1 unchanged=0 rejected=0 lines=1"
    purchase = Purchase.objects.get(receipt_id="G-1")
    assert purchase.member_id == survivor.pk
    assert LedgerEntry.objects.get(purchase=purchase).member_id == survivor.pk
    assert PointBalance.objects.get(member=survivor).posted == 100
    assert not LedgerEntry.objects.filter(member=merged).exists()
    assert_invariants([survivor.pk, merged.pk])


def test_a_file_without_a_member_column_is_refused_as_a_whole(members, english):
    header = ["purchase_id", "store", "purchased_at", "total", "sku", "amount"]
    data = _file([["D-1", "sthlm-city", "2025-01-01", "10", "1", "10"]], header=header)

    report = purchases_import(data=data, dry_run=False)

    assert report.lines() == [
        'line 1; external_id; ""; The header needs external_id or membership_number: the '
        "member each purchase belongs to."
    ]
    assert report.summary == "imported=0 unchanged=0 rejected=0 lines=0"


def test_without_earn_history_earns_nothing_and_with_earn_by_today_s_rules(members, english):
    rf.base_rule(rate="0.1")  # 1 point per 10 kronor
    old = ["E-1", "K-1", "sthlm-city", "2023-01-10", "500,00", "1", "", "1", "500,00"]
    recent = ["E-2", "K-1", "sthlm-city", "2026-03-01 10:00", "1 000,00", "1", "", "1", "1 000"]
    fresh = ["E-3", "K-1", "sthlm-city", "2026-06-10", "200,00", "1", "", "1", "200,00"]
    plain = ["F-1", "K-2", "sthlm-city", "2026-03-01 10:00", "1 000,00", "1", "", "1", "1 000"]
    purchases_import(data=_file([plain]), dry_run=False)
    assert LedgerEntry.objects.count() == 0
    assert Purchase.objects.get(receipt_id="F-1").points_earned == 0

    report = purchases_import(data=_file([old, recent, fresh]), dry_run=False, earn=True)

    assert report.summary == "imported=3 unchanged=0 rejected=0 lines=3"
    asa = members["K-1"]
    # 2023-01-10: its lot would have expired (24 months from 2023-01-24): not earned.
    assert Purchase.objects.get(receipt_id="E-1").points_earned == 0
    recent_row = Purchase.objects.get(receipt_id="E-2")
    assert recent_row.points_earned == 100
    entry = LedgerEntry.objects.get(purchase=recent_row)
    assert (entry.kind, entry.cause, entry.delta_posted, entry.delta_pending) == (
        "earn",
        "purchase",
        100,
        0,
    )
    lot = PointLot.objects.get(entry=entry)
    assert lot.available_at == _at(2026, 3, 15, 10, 0)  # the return window from the purchase
    assert lot.expires_at == _at(2028, 3, 15)  # the club's expiry from the original date
    # Bought five days ago: still in the return window, so pending as a till's purchase is.
    fresh_entry = LedgerEntry.objects.get(purchase__receipt_id="E-3")
    assert (fresh_entry.delta_posted, fresh_entry.delta_pending) == (0, 20)
    balance = PointBalance.objects.get(member=asa)
    assert (balance.posted, balance.pending) == (100, 20)
    assert PointBalance.objects.aggregate(s=Sum("posted"))["s"] == 100
    assert_invariants(m.pk for m in members.values())
    # Earned once: a second run with --earn is unchanged and writes nothing.
    written = _written()
    again = purchases_import(data=_file([old, recent, fresh]), dry_run=False, earn=True)
    assert again.summary == "imported=0 unchanged=3 rejected=0 lines=0"
    assert _written() == written


def test_the_command_prints_the_report_and_the_counts_last(members, tmp_path: Path):
    path = tmp_path / "kvitton.csv"
    path.write_bytes(_file(MESSY, encoding="cp1252"))
    out = io.StringIO()

    call_command("import_purchases", str(path), "--dry-run", "--language", "sv", stdout=out)

    printed = out.getvalue().splitlines()
    assert printed[-1] == "imported=3 unchanged=0 rejected=7 lines=4"
    assert 'rad 7; store; "malmo"; Ingen butik har den här koden.' in printed
    assert Purchase.objects.count() == 0


def test_the_downloadable_template_imports_as_it_is(english):
    factories.store(code="sthlm-drottning", name="Drottninggatan")
    factories.store(code="gbg-avenyn", name="Avenyn")
    static = Path(__file__).parents[2] / "static" / "import"
    assert members_import(data=(static / "members.csv").read_bytes(), dry_run=False).summary == (
        "imported=2 unchanged=0 rejected=0"
    )

    report = purchases_import(data=(static / "purchases.csv").read_bytes(), dry_run=False)

    assert report.lines() == []
    assert report.summary == "imported=2 unchanged=0 rejected=0 lines=3"


def test_progress_is_reported_per_batch(members, english):
    rows = [
        [f"G-{n}", "K-3", "sthlm-city", "2025-01-01", "10", "1", "", "1", "10"] for n in range(5)
    ]
    seen: list[tuple[int, int]] = []

    purchases_import(
        data=_file(rows), dry_run=False, batch_size=2, progress=lambda d, t: seen.append((d, t))
    )

    assert seen == [(2, 5), (4, 5), (5, 5)]


def test_the_same_id_at_two_stores_is_two_purchases(members, english):
    """Tills number their receipts per store: a purchase is its store's and its id."""
    rows = [
        ["S-1", "K-1", "sthlm-city", "2025-01-05", "10,00", "1", "", "1", "10,00"],
        ["S-1", "K-2", "gbg-nordstan", "2025-01-06", "20,00", "1", "", "1", "20,00"],
    ]

    report = purchases_import(data=_file(rows), dry_run=False)

    assert report.lines() == []
    assert report.summary == "imported=2 unchanged=0 rejected=0 lines=2"
    assert set(Purchase.objects.values_list("store__code", "receipt_id", "total_ore")) == {
        ("sthlm-city", "S-1", 1000),
        ("gbg-nordstan", "S-1", 2000),
    }
    assert purchases_import(data=_file(rows), dry_run=False).summary == (
        "imported=0 unchanged=2 rejected=0 lines=0"
    )
