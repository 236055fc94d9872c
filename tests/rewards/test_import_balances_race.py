"""Two runs of the same opening-balances file at once, with real threads on PostgreSQL
(docs/import.md "Idempotency"): every lot is written once, the runs' counts add up, and
the ledger's invariants hold."""

from __future__ import annotations

import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db.models import Sum

from members.imports import members_import
from members.models import Member
from rewards.imports import balances_import
from rewards.models import LedgerEntry, PointBalance, PointLot
from tests.rewards.invariants import assert_invariants
from tests.rewards.test_races import _run_all

pytestmark = [pytest.mark.race, pytest.mark.django_db(transaction=True)]

NOW = datetime.datetime(2026, 6, 15, 12, 0, tzinfo=ZoneInfo("Europe/Stockholm"))
MEMBERS = 150


def test_the_same_file_imported_four_times_at_once_credits_each_lot_once():
    with time_machine.travel(NOW, tick=False):
        people = "\n".join(f"R-{n};Test;Person{n}" for n in range(MEMBERS))
        members_import(data=f"external_id;first_name;last_name\n{people}\n".encode(), dry_run=False)
        lots = "\n".join(
            f"R-{n};{100 + n};2025-0{month}-15 10:00;" for n in range(MEMBERS) for month in (3, 9)
        )
        data = f"external_id;points;earned_at;note\n{lots}\n".encode()

        def run() -> tuple[int, int, int]:
            report = balances_import(data=data, dry_run=False, batch_size=40)
            return report.imported, report.unchanged, report.rejected

        results = _run_all([run] * 4, threads=4)

    assert sum(imported for imported, _unchanged, _rejected in results) == 2 * MEMBERS
    assert all(imported + unchanged == 2 * MEMBERS for imported, unchanged, _ in results)
    assert all(rejected == 0 for _imported, _unchanged, rejected in results)
    assert LedgerEntry.objects.filter(kind="import").count() == 2 * MEMBERS
    assert PointLot.objects.count() == 2 * MEMBERS
    expected = sum(2 * (100 + n) for n in range(MEMBERS))
    assert PointBalance.objects.aggregate(s=Sum("posted"))["s"] == expected
    assert_invariants(Member.objects.values_list("pk", flat=True))
