"""The member import's shortcuts (docs/import.md "Writes and speed") against the slow,
reference way of deciding the same thing: the same report, in Swedish and English, the same
counts and the same rows, for seeded messy files (Windows-1252, a BOM, bad phones in many
local forms, Swedish letters, repeated ids and addresses, unknown stores, dates on and around
every boundary, bad emails, consents, ids and addresses already in the club, a second run).

The shortcuts: addresses certainly valid for Django's ``validate_email`` skip it
(``EMAIL_SURELY_VALID``); birth dates inside the window every check accepts skip
``birth_date_validate`` (``_birth_date_latest``); ``2024-03-01 14:05`` is read before trying
a date alone (``datetime_parse``); blank lines and the known columns found without a loop
per value (``csv_read``); the file's ids and addresses sent as one JSON parameter instead of
an array (``TEXTS``); the garbage collector paused (``gc_paused``)."""

from __future__ import annotations

import contextlib
import datetime
import gc
import random
import re
from collections.abc import Iterator
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from allauth.account.models import EmailAddress
from django.contrib.auth.hashers import make_password
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.test import override_settings
from django.utils import translation
from hypothesis import given, settings
from hypothesis import strategies as st

from consent import imports as consent_imports
from consent.models import ConsentEvent, ConsentState
from members import import_files, import_lookup, imports
from members.external_ids import external_id_erased_form
from members.import_files import FILE_TIME_ZONE, csv_read
from members.imports import members_import
from members.models import ActivityEvent, EventConsumption, Member, User
from members.services import card_token_generate, membership_number_generate
from members.validators import BIRTH_DATE_EARLIEST, birth_date_validate
from tests.factories import members as mf

STOCKHOLM = ZoneInfo("Europe/Stockholm")
NOW = datetime.datetime(2026, 6, 15, 12, 0, tzinfo=STOCKHOLM)
HEADER = [
    "external_id",
    "first_name",
    "last_name",
    "email",
    "phone",
    "birth_date",
    "postcode",
    "home_store",
    "joined_at",
    "language",
    "consent_marketing_email",
    "consent_marketing_email_at",
    "consent_marketing_email_source",
    "Gammal_kolumn",
]


# --- the reference: the slow way of deciding the same things ---------------------------------

_DATETIME = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})[ T](\d{1,2})[:.](\d{2})(?:[:.](\d{2}))?$")


def _datetime_parse_reference(value: str) -> datetime.datetime | None:
    """``datetime_parse`` before its shortcut: a date alone tried first."""
    day = import_files.date_parse(value)
    if day is not None:
        return datetime.datetime.combine(day, datetime.time(), tzinfo=FILE_TIME_ZONE)
    match = _DATETIME.match(value)
    if match is None:
        return None
    year, month, day_, hour, minute, second = (int(part or 0) for part in match.groups())
    try:
        return datetime.datetime(year, month, day_, hour, minute, second, tzinfo=FILE_TIME_ZONE)
    except ValueError:
        return None


def _members_with_reference(column: str, values: list[str]) -> list[tuple[Any, ...]]:
    return list(
        Member.objects.filter(**{f"{column}__in": values}).values_list(
            column, "pk", "erased_at", "merged_into_id"
        )
    )


def _emails_taken_reference(emails: list[str]) -> dict[str, bool]:
    taken: dict[str, bool] = {}
    for email in emails:
        users = User.objects.filter(email__iexact=email)
        addresses = EmailAddress.objects.filter(email__iexact=email)
        if users.exists() or addresses.exists():
            taken[email] = (
                Member.objects.filter(user__in=users).exists()
                or Member.objects.filter(user__in=addresses.values("user")).exists()
            )
    return taken


@contextlib.contextmanager
def _reference(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every shortcut off: each decision taken the slow way."""
    with monkeypatch.context() as patch:
        patch.setattr(imports, "EMAIL_SURELY_VALID", re.compile(r"(?!)"))  # matches nothing
        patch.setattr(
            imports, "_birth_date_latest", lambda today: BIRTH_DATE_EARLIEST - datetime.timedelta(1)
        )
        patch.setattr(imports, "datetime_parse", _datetime_parse_reference)
        patch.setattr(consent_imports, "datetime_parse", _datetime_parse_reference)
        patch.setattr(imports, "members_with", _members_with_reference)
        patch.setattr(imports, "_emails_taken", _emails_taken_reference)
        patch.setattr(imports, "gc_paused", contextlib.nullcontext)
        yield


def _member(**fields: Any) -> Member:
    return Member.objects.create(
        membership_number=membership_number_generate(), card_token=card_token_generate(), **fields
    )


# --- messy files -------------------------------------------------------------------------------

PHONES = [
    "",
    "070-123 45 67",
    "0701234567",
    "701234567",
    "46701234567",
    "+46 70 123 45 67",
    "0046 70 123 45 67",
    "0761234567",
    "0791234567",
    "+46 (0)70 123 45 67",
    "073 - 123 45 67",
    "0741234567",
    "08-123 456 78",
    "070-12",
    "+47 412 34 567",
    "+1 202 555 0143",
    "07O1234567",
    "070 123 45 678",
]
NAMES = ["Åsa", "Jörgen", "Märta", "Ågren-Öst", "O'Brien", "Zoë", "Ēriks", "李", "Ann Marie"]
BAD_NAMES = ["", "A" * 101, "Bo\u200bEk", "Eva\x1b[31m", "Li\u202esa", "Ali\u200d"]
EMAILS = [
    "medlem{n}@example.se",
    "Medlem{n}@Example.SE",
    "first.last+{n}@sub-domain.example.com",
    "",
    "x_{n}@a--b.se",
    "{n}@localhost",
    "bad{n}@",
    "bad{n}@@example.se",
    "dots..{n}@example.se",
    "trailing{n}.@example.se",
    '"quoted {n}"@example.se',
    "unicode{n}@exämple.se",
    "ünicode{n}@example.se",
    "{n}@example.s",
    "{n}@example.123",
    "{n}@-example.se",
    "{n}@example-.se",
    "{n}@[127.0.0.1]",
    "{n}@" + "a" * 64 + ".se",
    "long{n}" + "x" * 60 + "@example.se",
    "{n}@xn--exmple-cua.se",
    "{n}@example.xn--p1ai",
    "a{n}@example.se.",
    "space {n}@example.se",
]
POSTCODES = ["114 55", "11455", "", "01455", "1145", "114 555", "ABC12", "411 03"]
LANGUAGES = ["sv", "en", "SV", "en_GB", "sv-SE", "svenska", "", "English", "fi"]
JOINED = [
    "2019-06-14 14:05",
    "2019-06-14",
    "2019-06-14T14:05",
    "2019-06-14 14.05",
    "2019-06-14 14:05:30",
    "",
    "2019-6-4 9:05",
    "2019-13-14 14:05",
    "2019-06-14 25:05",
    "2019-02-29 10:00",
    "2020-02-29 10:00",
    "14/06/2019",
    "2027-01-01 00:00",
    "2026-06-15 11:59",
    "2026-06-15 12:01",
]
CONSENTS = [
    ("ja", "2021-05-01 14:05", "webbformulär"),
    ("", "", ""),
    ("x", "2020-01-01", ""),
    ("nej", "", ""),
    ("JA", "2018-05-01", "pappersblankett"),
    ("kanske", "2021-01-01", ""),
    ("yes", "", ""),
    ("", "2021-01-01", ""),
    ("1", "2027-01-01", ""),
    ("ja", "2021-01-01", "s" * 101),
    ("ja", "2021-02-30", ""),
]


def _birth_dates(today: datetime.date, minimum: int) -> list[str]:
    oldest_young = today.replace(year=today.year - minimum)
    return [
        "1984-03-01",
        "",
        oldest_young.isoformat(),
        (oldest_young + datetime.timedelta(days=1)).isoformat(),
        (oldest_young - datetime.timedelta(days=1)).isoformat(),
        today.isoformat(),
        (today + datetime.timedelta(days=1)).isoformat(),
        "1900-01-01",
        "1899-12-31",
        "1984-3-1",
        "1984/03/01",
        "2000-02-29",
        "2001-02-29",
    ]


def _pick(rng: random.Random, values: list[Any], good: int) -> Any:
    """Mostly one of the first ``good`` values (valid ones), now and then any of them."""
    return rng.choice(values[:good] if rng.random() < 0.93 else values)


def _messy_rows(seed: int, *, count: int, cp1252: bool) -> list[list[str]]:
    rng = random.Random(seed)
    births = _birth_dates(NOW.date(), 16)
    rows = []
    for n in range(count):
        external_id = _pick(
            rng,
            [
                *(f"K-{n}", f'K "{n}", \\x', f"K-{n} ö", f"{{K-{n}}}"),
                *(f"K-{rng.randrange(count)}", "", "I" * 65, "FINNS-1", "ERASED-1"),
            ],
            4,
        )
        names = [_pick(rng, NAMES + BAD_NAMES, len(NAMES)) for _ in range(2)]
        email = _pick(rng, EMAILS, 4).format(n=n)
        if rng.random() < 0.04:
            email = rng.choice(["login@example.se", "Medlem@Example.se", "medlem1@example.se"])
        row = [
            external_id,
            *names,
            email,
            _pick(rng, PHONES, 9),
            _pick(rng, births, 3),
            _pick(rng, POSTCODES, 2),
            _pick(rng, ["sthlm-city", "STHLM-CITY", "gbg-nordstan", "", "okänd"], 4),
            _pick(rng, JOINED, 6),
            _pick(rng, LANGUAGES, 7),
            *_pick(rng, CONSENTS, 4),
            rng.choice(["", "gammalt värde"]),
        ]
        if rng.random() < 0.03:
            row = row[: rng.randrange(1, len(row))]  # a line with too few values
        if rng.random() < 0.03:
            row = [" ", "", "  "]  # blanks only: skipped
        if rng.random() < 0.03:
            row = [*row, "", " "]  # a spreadsheet's empty columns at the end
        if cp1252:
            row = [value.encode("cp1252", "replace").decode("cp1252") for value in row]
        rows.append(row)
    # ids the club has already (unchanged) and had (erased), in every file
    rows.insert(rng.randrange(len(rows)), ["FINNS-1", "Ny", "Rad", *[""] * 11])
    rows.insert(rng.randrange(len(rows)), ["ERASED-1", "Åter", "Kommen", *[""] * 11])
    return rows


def _file(rows: list[list[str]], *, sep: str, encoding: str) -> bytes:
    def cell(value: str) -> str:
        if sep in value or '"' in value or "\n" in value:
            return '"' + value.replace('"', '""') + '"'
        return value

    text = "\r\n".join(sep.join(cell(v) for v in row) for row in [HEADER, *rows]) + "\r\n"
    return text.encode(encoding)


def _rows() -> dict[str, Any]:
    """Everything an import writes, without keys, random numbers and tokens (which differ
    from run to run by design): by the member's external id."""

    def member_of(member_id: int) -> str:
        return str(Member.objects.get(pk=member_id).external_id)

    members = {
        m.external_id: (
            m.first_name,
            m.last_name,
            m.phone,
            m.birth_date,
            m.postcode,
            m.preferred_language,
            m.home_store_id,
            m.joined_at,
            m.join_channel,
            m.user.email if m.user else None,
            m.user.has_usable_password() if m.user else None,
            m.user.date_joined if m.user else None,
            len(m.membership_number),
            bool(m.card_token),
        )
        for m in Member.objects.select_related("user")
    }
    addresses = sorted(
        (a.email, a.verified, a.primary, member_of(a.user.member.pk))
        for a in EmailAddress.objects.select_related("user__member")
        if hasattr(a.user, "member")
    )
    events = sorted(
        (
            member_of(e.member_id),
            e.kind,
            sorted((k, v) for k, v in e.data.items() if k != "consent_event_id"),
            e.source,
            e.actor_id,
            e.store_id,
            e.created_at,
            EventConsumption.objects.filter(event=e).count(),
        )
        for e in ActivityEvent.objects.all()
    )
    consents = sorted(
        (
            member_of(c.member_id),
            c.purpose_id,
            c.channel,
            c.granted,
            c.policy_version_id,
            c.source,
            c.actor_id,
            c.created_at,
        )
        for c in ConsentEvent.objects.all()
    )
    states = sorted(
        (member_of(s.member_id), s.purpose_id, s.channel, s.granted, s.changed_at)
        for s in ConsentState.objects.all()
    )
    return {
        "members": members,
        "addresses": addresses,
        "events": events,
        "consents": consents,
        "states": states,
        "users": User.objects.count(),
    }


def _run(data: bytes) -> list[Any]:
    """Dry run and run, twice, with the reports in Swedish and English."""
    out: list[Any] = []
    for language in ("sv", "en"):
        with translation.override(language):
            report = members_import(data=data, dry_run=True)
            out.append((language, "dry", report.summary, report.lines(), report.encoding))
    with translation.override("en"):
        report = members_import(data=data, dry_run=False, batch_size=7)
        out.append(("en", "run", report.summary, report.lines(), report.encoding))
    with translation.override("sv"):
        report = members_import(data=data, dry_run=False)
        out.append(("sv", "again", report.summary, report.lines()))
    out.append(_rows())
    return out


@pytest.mark.django_db
@override_settings(MEMBER_MINIMUM_AGE=16)
@pytest.mark.parametrize(
    ("seed", "sep", "encoding"),
    [(1, ";", "utf-8"), (2, ",", "utf-8-sig"), (3, ";", "cp1252"), (4, "\t", "utf-16")],
)
def test_messy_files_give_the_reference_report_and_rows(seed, sep, encoding, monkeypatch):
    store = mf.store(code="sthlm-city", name="Drottninggatan")
    mf.store(code="gbg-nordstan", name="Nordstan")
    existing = _member(
        first_name="Finns", last_name="Redan", external_id="FINNS-1", home_store=store
    )
    _member(first_name="X", last_name="Y", external_id=external_id_erased_form("ERASED-1"))
    login = User.objects.create(email="login@example.se", password=make_password(None))
    EmailAddress.objects.create(user=login, email="login@example.se", verified=True, primary=True)
    existing.user = User.objects.create(email="medlem@example.se", password=make_password(None))
    existing.save()
    data = _file(
        _messy_rows(seed, count=160, cp1252=encoding == "cp1252"), sep=sep, encoding=encoding
    )

    with time_machine.travel(NOW, tick=False):
        with transaction.atomic():
            with _reference(monkeypatch):
                reference = _run(data)
            transaction.set_rollback(True)
        fast = _run(data)

    assert fast == reference
    # the files are messy enough to exercise every kind of answer
    summary = fast[2][2]
    imported, unchanged, rejected = (int(part.split("=")[1]) for part in summary.split())
    assert imported > 10, summary
    assert unchanged > 0, summary
    assert rejected > 10, summary
    assert fast[3][2] == f"imported=0 unchanged={imported + unchanged} rejected={rejected}"


# --- each shortcut on its own, over many more values ---------------------------------------------


@given(
    st.lists(
        st.sampled_from(
            [*"aZ09_+-.@\"'!#é\u0130\u212a \n", "xn--", "..", "@@", "example", "se", "a" * 30]
        ),
        min_size=1,
        max_size=20,
    ).map("".join)
)
@settings(max_examples=3000, deadline=None)
def test_an_address_certainly_valid_is_valid_for_django(value):
    if (
        len(value) <= imports.EMAIL_SURELY_VALID_LENGTH
        and value.isascii()
        and imports.EMAIL_SURELY_VALID.match(value)
    ):
        validate_email(value)


@pytest.mark.parametrize(
    "value",
    ["asa.oberg@example.se", "Medlem12@Example.SE", "a+b_c-d@x-y--z.co.uk", "1@2.se"],
)
def test_common_addresses_take_the_shortcut(value):
    assert imports.EMAIL_SURELY_VALID.match(value)
    validate_email(value)


@pytest.mark.parametrize("minimum", [0, 13, 16, 18])
@pytest.mark.parametrize(
    "today",
    [
        datetime.date(2026, 6, 15),
        datetime.date(2028, 2, 29),
        datetime.date(2026, 3, 1),
        datetime.date(2026, 1, 1),
    ],
)
def test_the_birth_date_window_is_exactly_what_the_validator_accepts(minimum, today):
    with override_settings(MEMBER_MINIMUM_AGE=minimum):
        latest = imports._birth_date_latest(today)
        for day in [BIRTH_DATE_EARLIEST - datetime.timedelta(1), BIRTH_DATE_EARLIEST]:
            _assert_window(day, latest, today)
        for delta in range(-400, 5):
            _assert_window(latest + datetime.timedelta(days=delta), latest, today)


def _assert_window(day: datetime.date, latest: datetime.date, today: datetime.date) -> None:
    try:
        birth_date_validate(day, today=today)
        accepted = True
    except ValidationError:
        accepted = False
    assert accepted == (BIRTH_DATE_EARLIEST <= day <= latest), (day, latest)


@given(
    st.text(alphabet=st.sampled_from(list("0123456789-: T.x")), max_size=20)
    | st.datetimes(
        min_value=datetime.datetime(1, 1, 1), max_value=datetime.datetime(9999, 12, 31)
    ).map(lambda d: d.strftime("%Y-%m-%d %H:%M"))
)
@settings(max_examples=3000, deadline=None)
def test_datetime_parse_reads_what_the_reference_reads(value):
    assert import_files.datetime_parse(value) == _datetime_parse_reference(value)


@given(
    st.lists(
        st.lists(st.sampled_from(["", " ", "\t", "a", " b ", "\u00a0", "å"]), max_size=5),
        max_size=8,
    )
)
@settings(max_examples=500, deadline=None)
def test_blank_lines_and_known_columns_as_the_reference_reads_them(rows):
    header = ["a", "B", "unknown", ""]
    text = ";".join(header) + "\n" + "\n".join(";".join(r) for r in rows) + "\n"
    parsed = csv_read(text.encode(), known=("a", "b", ""), required=("a",))
    expected: list[tuple[int, dict[str, str] | None]] = []
    for line, values in enumerate(rows, start=2):
        if not any(value.strip() for value in values):
            continue
        if len(values) > 4 and not any(value.strip() for value in values[4:]):
            values = values[:4]
        if len(values) != 4:
            expected.append((line, None))
            continue
        named = zip(["a", "b", "unknown", ""], values, strict=True)
        expected.append((line, {n: v.strip() for n, v in named if n != "unknown"}))
    got = [(r.line, None if r.problem else r.values) for r in parsed.records]
    assert got == expected


@pytest.mark.django_db
def test_ids_and_addresses_with_any_characters_are_found_as_the_orm_finds_them():
    odd = ['K "1"', "K\\2", "K,3", "{K4}", "K'5", "K ö 6", "K\t7", "NULL", "", "K\u00a08", "😀"]
    for n, external_id in enumerate(odd):
        _member(first_name="A", last_name=str(n), external_id=external_id or None)
    asked = [*odd, "missing", 'K "1"']
    assert sorted(map(str, import_lookup.members_with("external_id", asked))) == sorted(
        map(str, _members_with_reference("external_id", asked))
    )
    for n, email in enumerate(['"a b"@example.se', "back\\slash@example.se", "ö@example.se"]):
        user = User.objects.create(email=email, password=make_password(None))
        if n:
            _member(first_name="B", last_name=str(n), user=user)
    emails = ['"a b"@example.se', "back\\slash@example.se", "ö@example.se", "none@example.se"]
    assert imports._emails_taken(emails) == _emails_taken_reference(emails)


@pytest.mark.django_db
def test_the_garbage_collector_runs_again_after_an_import_also_a_failed_one(monkeypatch):
    assert gc.isenabled()
    members_import(data=b"external_id;first_name;last_name\r\nK-1;A;B\r\n", dry_run=True)
    assert gc.isenabled()

    def broken(*args: Any, **kwargs: Any) -> None:
        assert not gc.isenabled()
        raise RuntimeError("the connection went away")

    monkeypatch.setattr(imports, "_external_ids_check", broken)
    with pytest.raises(RuntimeError):
        members_import(data=b"external_id;first_name;last_name\r\nK-1;A;B\r\n", dry_run=True)
    assert gc.isenabled()
