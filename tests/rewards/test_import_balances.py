"""The import of opening points balances (rewards.imports, rewards.ledger.imports,
manage.py import_balances, docs/import.md) with the messy files real Swedish systems write:
Windows-1252 with semicolons, UTF-8 with a BOM and commas, negative balances, fractions,
unknown members, future and expired earn dates, lines repeated. After every import the
ledger's invariants hold, and a second run writes nothing."""

from __future__ import annotations

import codecs
import datetime
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db.models import Sum
from django.test import Client, override_settings
from django.utils import translation

from members.external_ids import external_id_erased_form
from members.imports import members_import
from members.merging import member_merge
from members.models import Member
from rewards.imports import balances_import
from rewards.ledger import imports as ledger_imports
from rewards.ledger.expiry import points_expire_due
from rewards.ledger.imports import OpeningLot, opening_key, points_import
from rewards.ledger.points import points_redeem
from rewards.loyalty.tier_ladder import qualifying_value
from rewards.models import LedgerEntry, PointBalance, PointLot
from tests import factories
from tests.factories import rewards as rf
from tests.rewards.invariants import assert_invariants

pytestmark = pytest.mark.django_db

STOCKHOLM = ZoneInfo("Europe/Stockholm")
# Every test runs on this day: the earn dates below are fixed, and so is what has expired.
NOW = datetime.datetime(2026, 6, 15, 12, 0, tzinfo=STOCKHOLM)
HEADER = ["external_id", "points", "earned_at", "note"]


def _file(
    rows: list[list[str]],
    *,
    sep: str = ";",
    encoding: str = "utf-8",
    bom: bool = False,
    header: list[str] | None = None,
) -> bytes:
    """A file as a Swedish system writes it: Windows line ends, no quotes unless needed."""

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
    """Four members brought over by the member import, as a real move does it first."""
    data = _file(
        [
            ["K-1", "Åsa", "Öberg"],
            ["K-2", "Jörgen", "Wäck"],
            ["K-3", "Lisa", "Ek"],
            ["K-4", "Erik", "Berg"],
        ],
        header=["external_id", "first_name", "last_name"],
    )
    assert members_import(data=data, dry_run=False).summary == "imported=4 unchanged=0 rejected=0"
    return {str(m.external_id): m for m in Member.objects.filter(external_id__startswith="K-")}


def _at(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime.datetime:
    return datetime.datetime(year, month, day, hour, minute, tzinfo=STOCKHOLM)


def _posted(member: Member) -> tuple[int, int, int]:
    balance = PointBalance.objects.filter(member=member).first()
    return (balance.pending, balance.posted, balance.reserved) if balance else (0, 0, 0)


def _books() -> tuple[int, int, int]:
    """Everything an import writes, counted: entries, lots and the balances' points."""
    posted = PointBalance.objects.aggregate(s=Sum("posted", default=0))["s"]
    return LedgerEntry.objects.count(), PointLot.objects.count(), posted


def test_a_windows_1252_file_with_semicolons_credits_lots_with_their_earn_dates(members, english):
    data = _file(
        [
            ["K-1", "1 500", "2025-03-01", "Julbonus från gamla klubben"],
            ["K-1", "200,00", "2026-01-10 14:05", ""],
            ["K-2", "75", "2024-07-01", "Välkomstpoäng"],
        ],
        encoding="cp1252",
    )

    report = balances_import(data=data, dry_run=False)

    assert (report.encoding, report.delimiter) == ("cp1252", ";")
    assert report.lines() == []
    assert report.summary == "imported=3 unchanged=0 rejected=0"
    asa, jorgen = members["K-1"], members["K-2"]
    assert _posted(asa) == (0, 1700, 0)
    assert _posted(jorgen) == (0, 75, 0)
    entry = LedgerEntry.objects.get(member=asa, points=1500)
    assert (entry.kind, entry.cause) == ("import", "import")
    assert (entry.delta_pending, entry.delta_posted, entry.delta_reserved) == (0, 1500, 0)
    assert entry.reason == "Julbonus från gamla klubben"
    assert entry.idempotency_key == f"import:{asa.pk}:2025-02-28T23:00:00Z"
    assert entry.idempotency_key == opening_key(member_id=asa.pk, earned_at=_at(2025, 3, 1))
    assert "K-1" not in entry.idempotency_key  # the old system's id is not in the ledger
    assert entry.explanation == [
        {
            "rule": None,
            "sv": "Intjänat i den gamla klubben 1 mars 2025",
            "en": "Earned in the old club on 1 March 2025",
            "points": 1500,
        }
    ]
    # The lots keep the original earn dates: expiry is 24 months on, at a Stockholm midnight.
    lots = {
        lot.amount: lot
        for lot in PointLot.objects.filter(member__in=[asa, jorgen]).select_related("entry")
    }
    assert lots[1500].available_at == _at(2025, 3, 1)
    assert lots[1500].expires_at == _at(2027, 3, 1)
    assert lots[200].available_at == _at(2026, 1, 10, 14, 5)
    assert lots[200].expires_at == _at(2028, 1, 10)
    assert lots[75].expires_at == _at(2026, 7, 1)
    assert all(lot.matured and lot.remaining == lot.amount for lot in lots.values())
    assert_invariants(m.pk for m in members.values())


def test_a_utf8_file_with_a_bom_and_commas_reports_each_bad_line_and_imports_the_rest(
    members, english
):
    data = _file(
        [
            ["K-1", "100", "2025-05-01", ""],  # line 2
            ["K-9", "100", "2025-05-01", ""],
            ["K-2", "-50", "2025-05-01", ""],
            ["K-2", "0", "2025-05-02", ""],
            ["K-2", "12,5", "2025-05-03", ""],
            ["K-2", "1.500", "2025-05-04", ""],
            ["K-3", "100", "2027-01-01", ""],
            ["K-3", "100", "2024-06-01", ""],
            ["K-3", "100", "2024-13-01", ""],  # line 10
            ["K-4", "300", "2025-09-09 10:00", ""],
            ["K-4", "300", "2025-09-09 10:00", ""],
            ["", "100", "2025-05-01", ""],
            ["K-3", "100", "2025-05-01", "x" * 201],
            ["K-3", "100"],
            ["K-3", "2 000", "2025-05-01 08:00", "Öppningssaldo"],
            ["K-2", "10 000 001", "2025-05-05", ""],
        ],
        sep=",",
        bom=True,
    )

    report = balances_import(data=data, dry_run=False)

    assert (report.encoding, report.delimiter) == ("utf-8-sig", ",")
    assert report.lines() == [
        'line 3; external_id; "K-9"; No member has this external id; import the members first.',
        'line 4; points; "-50"; The points must be more than zero; a zero or negative '
        "balance is not imported.",
        'line 5; points; "0"; The points must be more than zero; a zero or negative '
        "balance is not imported.",
        'line 6; points; "12,5"; Points are whole numbers; this one has a fraction.',
        'line 7; points; "1.500"; Not a whole number of points; write it as 1500.',
        'line 8; earned_at; "2027-01-01"; The earn date is in the future.',
        'line 9; earned_at; "2024-06-01"; The points have expired under the club\'s rules: '
        "their last day was 2026-05-31. Expired points are not imported.",
        'line 10; earned_at; "2024-13-01"; Not a date and time; write it as 2024-03-01 or '
        "2024-03-01 14:05.",
        'line 11; earned_at; "2025-09-09 10:00"; The same member and earn time are on line 12 '
        "too; none of them is imported (add their points up on one line).",
        'line 12; earned_at; "2025-09-09 10:00"; The same member and earn time are on line 11 '
        "too; none of them is imported (add their points up on one line).",
        'line 13; external_id; ""; The external id is missing.',
        f'line 14; note; "{"x" * 59}…"; The note is too long: at most 200 characters.',
        'line 15; ; "K-3,100"; The line has 2 values but the header has 4 columns (a value '
        "with the separator in it needs quotes).",
        'line 17; points; "10 000 001"; At most 10,000,000 points on one line.',
    ]
    assert report.summary == "imported=2 unchanged=0 rejected=14"
    # Invalid lines are never half-written: two entries, two lots, two balances.
    assert _books() == (2, 2, 2100)
    assert _posted(members["K-1"]) == (0, 100, 0)
    assert _posted(members["K-3"]) == (0, 2000, 0)
    assert _posted(members["K-2"]) == (0, 0, 0)
    assert not PointBalance.objects.filter(member__in=[members["K-2"], members["K-4"]]).exists()
    assert_invariants(m.pk for m in members.values())

    # The same file again writes nothing and says so.
    again = balances_import(data=data, dry_run=False)
    assert again.lines() == report.lines()
    assert again.summary == "imported=0 unchanged=2 rejected=14"
    assert _books() == (2, 2, 2100)
    assert_invariants(m.pk for m in members.values())


def test_a_corrected_file_imports_only_what_was_missing_and_refuses_changed_points(
    members, english
):
    first = _file(
        [
            ["K-1", "100", "2025-05-01", ""],
            ["K-2", "-50", "2025-05-01", ""],
            ["K-4", "300", "2025-09-09 10:00", ""],
            ["K-4", "300", "2025-09-09 10:00", ""],
        ]
    )
    assert balances_import(data=first, dry_run=False).summary == (
        "imported=1 unchanged=0 rejected=3"
    )
    corrected = _file(
        [
            ["K-1", "120", "2025-05-01 00:00", ""],  # the same lot, other points
            ["K-2", "50", "2025-05-01", ""],
            ["K-4", "600", "2025-09-09 10:00", ""],
            ["K-1", "100", "2025-05-01", "the line as before"],
        ]
    )

    report = balances_import(data=corrected, dry_run=False)

    assert report.lines() == [
        'line 2; points; "120"; This member\'s points earned at this time were imported '
        "already, 100 points; correct a balance with an adjustment in the back-office.",
    ]
    assert report.summary == "imported=2 unchanged=1 rejected=1"
    assert _posted(members["K-1"]) == (0, 100, 0)
    assert _posted(members["K-2"]) == (0, 50, 0)
    assert _posted(members["K-4"]) == (0, 600, 0)
    assert_invariants(m.pk for m in members.values())


def test_a_dry_run_writes_nothing_and_counts_what_a_run_would_do(members, english):
    data = _file([["K-1", "100", "2025-05-01", ""], ["K-9", "5", "2025-05-01", ""]])

    dry = balances_import(data=data, dry_run=True)

    assert dry.summary == "imported=1 unchanged=0 rejected=1"
    assert _books() == (0, 0, 0)
    real = balances_import(data=data, dry_run=False)
    assert real.summary == dry.summary
    assert real.lines() == dry.lines()
    assert _books() == (1, 1, 100)


def test_imported_points_expire_from_their_original_earn_date(members):
    data = _file(
        [
            ["K-1", "1500", "2025-03-01", ""],
            ["K-1", "75", "2024-07-01", ""],  # last day 2026-06-30
        ]
    )
    assert balances_import(data=data, dry_run=False).summary == (
        "imported=2 unchanged=0 rejected=0"
    )
    asa = members["K-1"]
    with time_machine.travel(_at(2026, 6, 30, 23, 59), tick=False):
        assert points_expire_due() == 0
    with time_machine.travel(_at(2026, 7, 1, 3, 10), tick=False):
        assert points_expire_due() == 75
        assert points_expire_due() == 0
    assert _posted(asa) == (0, 1500, 0)
    with time_machine.travel(_at(2027, 3, 1, 3, 10), tick=False):
        assert points_expire_due() == 1500
    assert _posted(asa) == (0, 0, 0)
    assert list(
        LedgerEntry.objects.filter(member=asa).order_by("id").values_list("kind", "points")
    ) == [("import", 1500), ("import", 75), ("expire", 75), ("expire", 1500)]
    assert_invariants([asa.pk])


@override_settings(REWARDS_EXPIRY_MODE="end_of_following_year")
def test_expiry_follows_the_clubs_rule_from_the_earn_date(members, english):
    data = _file([["K-1", "1500", "2025-03-01", ""], ["K-1", "75", "2024-07-01", ""]])

    report = balances_import(data=data, dry_run=False)

    # Earned in 2024: expired on 1 January 2026, so not imported.
    assert report.lines() == [
        'line 3; earned_at; "2024-07-01"; The points have expired under the club\'s rules: '
        "their last day was 2025-12-31. Expired points are not imported."
    ]
    assert PointLot.objects.get(member=members["K-1"]).expires_at == _at(2027, 1, 1)
    assert_invariants([members["K-1"].pk])


def test_an_existing_balance_gets_the_points_and_the_tier_basis_does_not(members):
    asa = members["K-1"]
    rf.earned(asa, 40)  # a campaign's points today: they qualify for a tier
    before = qualifying_value(member_id=asa.pk)
    assert before == 40

    data = _file([["K-1", "1500", "2025-03-01", ""]])
    assert balances_import(data=data, dry_run=False).summary == (
        "imported=1 unchanged=0 rejected=0"
    )

    assert _posted(asa) == (0, 1540, 0)
    # Opening balances are not points earned in this club's window: tiers are untouched.
    assert qualifying_value(member_id=asa.pk) == before
    # Spending takes the oldest expiry first: the imported lot (March 2027) before today's.
    points_redeem(member=asa, points=100, idempotency_key="spend-1")
    remaining = dict(PointLot.objects.filter(member=asa).values_list("entry__kind", "remaining"))
    assert remaining == {"import": 1400, "earn": 40}
    assert_invariants([asa.pk])


def test_an_erased_member_gets_no_points(members, english):
    erik = members["K-4"]
    Member.objects.filter(pk=erik.pk).update(
        external_id=external_id_erased_form("K-4"), erased_at=NOW
    )
    data = _file([["K-4", "300", "2025-09-09", ""]])

    report = balances_import(data=data, dry_run=False)

    assert report.lines() == [
        'line 2; external_id; "K-4"; This member was erased at their own request; their '
        "points are not imported."
    ]
    assert _books() == (0, 0, 0)


def test_the_command_prints_the_problems_and_then_the_counts(members, tmp_path: Path):
    path = tmp_path / "saldon.csv"
    path.write_bytes(
        _file(
            [["K-1", "1500", "2025-03-01", ""], ["K-9", "5", "2025-05-01", ""]], encoding="cp1252"
        )
    )

    def run(*args: str) -> list[str]:
        out = io.StringIO()
        call_command("import_balances", str(path), *args, stdout=out)
        return out.getvalue().splitlines()

    assert run("--dry-run", "--language", "en") == [
        'line 3; external_id; "K-9"; No member has this external id; import the members first.',
        "imported=1 unchanged=0 rejected=1",
    ]
    assert _books() == (0, 0, 0)
    assert run("--language", "sv") == [
        'rad 3; external_id; "K-9"; Ingen medlem har det här externa id:t; importera '
        "medlemmarna först.",
        "imported=1 unchanged=0 rejected=1",
    ]
    assert run()[-1] == "imported=0 unchanged=1 rejected=1"
    assert _books() == (1, 1, 1500)
    assert_invariants([members["K-1"].pk])


def test_batches_report_their_progress(members):
    data = _file([["K-1", str(n), f"2025-05-0{n}", ""] for n in range(1, 6)])
    seen: list[tuple[int, int]] = []

    report = balances_import(
        data=data,
        dry_run=False,
        batch_size=2,
        progress=lambda done, total: seen.append((done, total)),
    )

    assert report.summary == "imported=5 unchanged=0 rejected=0"
    assert seen == [(2, 5), (4, 5), (5, 5)]
    assert _posted(members["K-1"]) == (0, 15, 0)
    assert_invariants([members["K-1"].pk])


def test_points_import_after_a_concurrent_run_wrote_the_lots_writes_nothing_twice(
    members, monkeypatch: pytest.MonkeyPatch
):
    asa, lisa = members["K-1"], members["K-3"]
    lots = [
        OpeningLot(member_id=asa.pk, points=100, earned_at=_at(2025, 5, 1)),
        OpeningLot(member_id=lisa.pk, points=200, earned_at=_at(2025, 5, 1)),
    ]
    assert points_import(lots=lots[:1]) == {}
    # The other run committed the first lot after this one looked: the batch collides on
    # the key and is written again lot by lot.
    real = ledger_imports.points_imported
    calls: list[int] = []

    def missed_first_look(keys: Any) -> dict[str, int]:
        calls.append(1)
        return {} if len(calls) == 1 else real(keys)

    monkeypatch.setattr(ledger_imports, "points_imported", missed_first_look)

    there = points_import(lots=lots)

    assert there == {lots[0].key: 100}
    assert _posted(asa) == (0, 100, 0)
    assert _posted(lisa) == (0, 200, 0)
    assert LedgerEntry.objects.filter(kind="import").count() == 2
    assert_invariants([asa.pk, lisa.pk])


@pytest.mark.parametrize(
    ("points", "earned_at", "note"),
    [
        (0, _at(2025, 5, 1), ""),
        (-5, _at(2025, 5, 1), ""),
        (10_000_001, _at(2025, 5, 1), ""),
        (5, _at(2026, 7, 1), ""),  # the future
        (5, _at(2024, 6, 1), ""),  # expired 2026-06-01
        (5, _at(2025, 5, 1), "x" * 201),
    ],
)
def test_points_import_refuses_a_lot_it_cannot_import(members, points, earned_at, note):
    lot = OpeningLot(member_id=members["K-1"].pk, points=points, earned_at=earned_at, note=note)
    with pytest.raises(ValidationError):
        points_import(lots=[lot])
    assert _books() == (0, 0, 0)


def test_the_entry_kind_has_a_swedish_name(members):
    with translation.override("sv"):
        assert str(LedgerEntry.Kind.IMPORT.label) == "Överfört från den gamla klubben"
        assert str(LedgerEntry.Cause.IMPORT.label) == "Den gamla klubben"


def test_the_downloadable_template_imports_as_it_is(english):
    """static/import/balances.csv (docs/import.md) after static/import/members.csv."""
    factories.store(code="sthlm-drottning", name="Drottninggatan")
    factories.store(code="gbg-avenyn", name="Avenyn")
    folder = Path(__file__).parents[2] / "static" / "import"
    members_import(data=(folder / "members.csv").read_bytes(), dry_run=False)
    data = (folder / "balances.csv").read_bytes()

    report = balances_import(data=data, dry_run=False)

    assert (report.encoding, report.delimiter) == ("utf-8", ";")
    assert report.lines() == []
    assert report.summary == "imported=3 unchanged=0 rejected=0"
    assert data.decode().splitlines()[0].split(";") == HEADER
    assert _books() == (3, 3, 1825)
    assert_invariants(Member.objects.values_list("pk", flat=True))


def test_the_member_reads_the_imported_points_on_their_points_page(member):
    Member.objects.filter(pk=member.pk).update(external_id="K-50")
    data = _file([["K-50", "1500", "2025-03-01", "internal: migrated lot 77"]])
    assert balances_import(data=data, dry_run=False).summary == (
        "imported=1 unchanged=0 rejected=0"
    )
    client = Client(HTTP_ACCEPT_LANGUAGE="sv")
    client.force_login(member.user)

    html = client.get("/mina-sidor/poang/").content.decode()

    assert 'data-testid="available">1\u00a0500 p' in html
    assert "Överfört från den gamla klubben" in html
    assert "+1\u00a0500 p: Intjänat i den gamla klubben 1 mars 2025" in html
    assert "28 februari 2027" in html  # the last day: 24 months from the earn date
    assert "migrated lot 77" not in html  # the note is for staff


def test_points_of_a_merged_member_s_old_id_go_to_the_survivor(members, english):
    """A line naming a tombstone (Member.merged_into) credits the member it was merged into
    and never the tombstone."""
    survivor, merged = members["K-1"], members["K-2"]
    Member.objects.filter(pk=merged.pk).update(merged_into=survivor)
    data = _file([["K-2", "300", "2025-05-01", ""], ["K-1", "100", "2025-05-02", ""]])

    report = balances_import(data=data, dry_run=False)

    assert report.summary == "imported=2 unchanged=0 rejected=0"
    assert _posted(survivor) == (0, 400, 0)
    assert not LedgerEntry.objects.filter(member=merged).exists()
    assert balances_import(data=data, dry_run=False).summary == (
        "imported=0 unchanged=2 rejected=0"
    )
    assert_invariants([survivor.pk, merged.pk])


def test_points_for_a_member_merged_since_the_file_was_read_go_to_the_survivor():
    # given a line read for a member who is merged into another before the batch is written
    merged = factories.member_with_user(email="old@example.se")
    survivor = factories.member_with_user(email="new@example.se")
    earned_at = datetime.datetime(2026, 3, 1, 12, tzinfo=ZoneInfo("Europe/Stockholm"))
    lot = OpeningLot(member_id=merged.pk, points=300, earned_at=earned_at)
    member_merge(survivor_id=survivor.pk, merged_id=merged.pk)

    # when the batch is written
    assert points_import(lots=[lot]) == {}

    # then the survivor has the points, keyed as a run of the file now would key them,
    # and the merged member none
    entry = LedgerEntry.objects.get(kind="import")
    assert (entry.member_id, entry.points) == (survivor.pk, 300)
    assert entry.idempotency_key == opening_key(member_id=survivor.pk, earned_at=earned_at)
    assert PointBalance.objects.get(member=survivor).posted == 300
    assert not PointLot.objects.filter(member=merged).exists()
    assert_invariants([survivor.pk, merged.pk])
    # and a run that looks the survivor up writes nothing more
    again = OpeningLot(member_id=survivor.pk, points=300, earned_at=earned_at)
    assert points_import(lots=[again]) == {again.key: 300}
