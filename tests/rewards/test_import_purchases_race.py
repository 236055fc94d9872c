"""Two runs of the same purchase file at once, and two of the same member file, with real
threads on PostgreSQL (docs/import.md "Idempotency"): every purchase and member is written
once, whole, the runs' counts add up, and with --earn the ledger's invariants hold."""

from __future__ import annotations

import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine

from members.imports import members_import
from members.models import Member
from rewards.models import LedgerEntry, Purchase, PurchaseLine
from rewards.purchases.imports import purchases_import
from tests import factories
from tests.factories import rewards as rf
from tests.rewards.invariants import assert_invariants
from tests.rewards.test_races import _run_all

pytestmark = [pytest.mark.race, pytest.mark.django_db(transaction=True)]

NOW = datetime.datetime(2026, 6, 15, 12, 0, tzinfo=ZoneInfo("Europe/Stockholm"))
MEMBERS = 120


def test_the_same_files_imported_four_times_at_once_write_each_member_and_purchase_once():
    factories.store(code="sthlm", name="Drottninggatan")
    rf.base_rule(rate="0.1")
    with time_machine.travel(NOW, tick=False):
        people = "\n".join(f"T-{n};Test;Person{n};t{n}@example.se" for n in range(MEMBERS))
        member_file = f"external_id;first_name;last_name;email\n{people}\n".encode()

        def members_run() -> tuple[int, int, int]:
            report = members_import(data=member_file, dry_run=False, batch_size=30)
            return report.imported, report.unchanged, report.rejected

        member_results = _run_all([members_run] * 4, threads=4)
        lines = "\n".join(
            f"P-{n};T-{n};sthlm;2026-05-{1 + n % 28:02d} 10:00;300,00;SKU-{k};1;100,00"
            for n in range(MEMBERS)
            for k in range(3)
        )
        purchase_file = (
            f"purchase_id;external_id;store;purchased_at;total;sku;quantity;amount\n{lines}\n"
        ).encode()

        def purchases_run() -> tuple[int, int, int]:
            report = purchases_import(data=purchase_file, dry_run=False, earn=True, batch_size=25)
            return report.imported, report.unchanged, report.rejected

        purchase_results = _run_all([purchases_run] * 4, threads=4)

    assert sum(imported for imported, _u, _r in member_results) == MEMBERS
    assert all(imported + unchanged == MEMBERS for imported, unchanged, _r in member_results)
    assert all(rejected == 0 for _i, _u, rejected in member_results)
    assert Member.objects.filter(external_id__startswith="T-").count() == MEMBERS
    assert sum(imported for imported, _u, _r in purchase_results) == MEMBERS
    assert all(imported + unchanged == MEMBERS for imported, unchanged, _r in purchase_results)
    assert all(rejected == 0 for _i, _u, rejected in purchase_results)
    assert Purchase.objects.count() == MEMBERS
    assert PurchaseLine.objects.count() == 3 * MEMBERS
    # Earned once each: 30 points for 300 kronor at 0.1 a krona.
    assert LedgerEntry.objects.filter(kind="earn").count() == MEMBERS
    assert set(Purchase.objects.values_list("points_earned", flat=True)) == {30}
    assert_invariants(Member.objects.values_list("pk", flat=True))
