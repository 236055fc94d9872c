"""The member import (members.imports, manage.py import_members, docs/import.md) with the
messy files real Swedish systems write: Windows-1252 and UTF-8 with a BOM, semicolons and
commas, bad phones, impossible dates, repeated external ids, unknown stores."""

from __future__ import annotations

import codecs
import datetime
import io
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from allauth.account.models import EmailAddress
from django.core.management import call_command
from django.db import IntegrityError
from django.utils import timezone, translation

from members import imports
from members.activity import Kind, activity_sweep, consumers_for
from members.imports import members_import
from members.models import ActivityEvent, EventConsumption, Member, User
from tests import factories

pytestmark = pytest.mark.django_db

STOCKHOLM = ZoneInfo("Europe/Stockholm")
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
]


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


@pytest.fixture
def stores() -> dict[str, Any]:
    return {
        "sthlm": factories.store(code="sthlm-city", name="Drottninggatan"),
        "gbg": factories.store(code="gbg-nordstan", name="Nordstan"),
    }


@pytest.fixture
def english() -> Any:
    with translation.override("en"):
        yield


def _counts() -> tuple[int, int, int, int]:
    return (
        Member.objects.count(),
        User.objects.count(),
        EmailAddress.objects.count(),
        ActivityEvent.objects.count(),
    )


def test_a_windows_1252_file_with_semicolons_imports_swedish_letters(stores, english):
    data = _file(
        [
            [
                "K-1001",
                "Åsa",
                "Öberg",
                "Asa.Oberg@Example.se",
                "070-123 45 67",
                "1984-03-01",
                "114 55",
                "STHLM-CITY",
                "2019-06-14 14:05",
                "sv",
            ],
            [
                "K-1002",
                "Jörgen",
                "Wäck",
                "",
                "0046 70 765 43 21",
                "",
                "41103",
                "",
                "2020-01-02",
                "EN",
            ],
        ],
        encoding="cp1252",
    )

    report = members_import(data=data, dry_run=False)

    assert (report.encoding, report.delimiter) == ("cp1252", ";")
    assert report.lines() == []
    assert report.summary == "imported=2 unchanged=0 rejected=0"
    asa = Member.objects.select_related("user", "home_store").get(external_id="K-1001")
    assert (asa.first_name, asa.last_name) == ("Åsa", "Öberg")
    assert asa.phone == "+46701234567"
    assert asa.birth_date == datetime.date(1984, 3, 1)
    assert asa.postcode == "114 55"
    assert asa.home_store == stores["sthlm"]
    assert asa.joined_at == datetime.datetime(2019, 6, 14, 14, 5, tzinfo=STOCKHOLM)
    assert asa.preferred_language == "sv"
    assert asa.join_channel == Member.JoinChannel.IMPORT
    assert len(asa.membership_number) == 10
    # The email waits on a login that cannot log in until the member sets a password.
    assert asa.user is not None
    assert asa.user.email == "asa.oberg@example.se"
    assert not asa.user.has_usable_password()
    address = EmailAddress.objects.get(user=asa.user)
    assert (address.email, address.verified, address.primary) == (
        "asa.oberg@example.se",
        False,
        True,
    )
    event = ActivityEvent.objects.get(member=asa)
    assert (event.kind, event.source, event.store_id) == (Kind.JOINED, "import", stores["sthlm"].pk)
    assert event.created_at == asa.joined_at
    assert event.data == {"channel": "import", "home_store_id": stores["sthlm"].pk}
    jorgen = Member.objects.get(external_id="K-1002")
    assert (jorgen.first_name, jorgen.last_name, jorgen.user) == ("Jörgen", "Wäck", None)
    assert jorgen.phone == "+46707654321"
    assert jorgen.postcode == "411 03"
    assert jorgen.preferred_language == "en"
    assert jorgen.joined_at == datetime.datetime(2020, 1, 2, tzinfo=STOCKHOLM)


def test_a_utf8_file_with_a_bom_and_commas_and_its_unknown_column(stores, english):
    header = ["External_ID", " First_Name ", "LAST_NAME", "Phone", "favourite_colour", "Language"]
    data = _file(
        [
            ["A1", "Märta", "Ängström", "+46 70 111 22 33", "grön", "en"],
            ["A2", "Örjan", "Nilsson, jr", "0701112234", "blå", ""],
        ],
        sep=",",
        bom=True,
        header=header,
    )

    report = members_import(data=data, dry_run=False)

    assert (report.encoding, report.delimiter) == ("utf-8-sig", ",")
    assert report.lines() == [
        'line 1; favourite_colour; ""; Unknown column: its values are not imported.'
    ]
    assert report.summary == "imported=2 unchanged=0 rejected=0"
    assert Member.objects.get(external_id="A1").last_name == "Ängström"
    orjan = Member.objects.get(external_id="A2")
    assert (orjan.last_name, orjan.preferred_language, orjan.user) == ("Nilsson, jr", "sv", None)


MESSY = [
    # line 2: fine
    ["M-1", "Anna", "Berg", "anna.berg@example.se", "070-111 11 11", "1990-05-17", "", "", "", ""],
    # line 3: a phone number too short, a landline
    ["M-2", "Bo", "Ek", "", "070-12", "", "", "", "", ""],
    ["M-3", "Cilla", "Ek", "", "08-123 456 78", "", "", "", "", ""],
    # line 5: born in the future, line 6 before 1900
    ["M-4", "Dan", "Ek", "", "", "2999-01-01", "", "", "", ""],
    ["M-5", "Eva", "Ek", "", "", "1899-12-31", "", "", "", ""],
    # lines 7 and 8: the same external id twice
    ["M-6", "Fia", "Ek", "", "", "", "", "", "", ""],
    ["M-6", "Fia", "Eklund", "", "", "", "", "", "", ""],
    # line 9: an unknown store, a bad email, an unknown language
    ["M-7", "Gun", "Ek", "gun@", "", "", "", "lund", "", "de"],
    # line 10: no external id; line 11: joined in the future, no last name
    ["", "Hans", "Ek", "", "", "", "", "", "", ""],
    ["M-8", "Ida", "", "", "", "", "", "", "2999-01-01 10:00", ""],
    # line 12: an email a member already has; line 13: a date that is no date
    ["M-9", "Jan", "Ek", "taken@example.se", "", "", "", "", "", ""],
    ["M-10", "Kim", "Ek", "", "", "17/05/1990", "1234", "", "2024-13-01", ""],
]


def test_the_report_names_line_column_value_and_reason(stores, english):
    factories.member_with_user(email="Taken@example.se")

    report = members_import(data=_file(MESSY), dry_run=False)

    assert report.lines() == [
        'line 3; phone; "070-12"; 070-12 is not a valid phone number.',
        'line 4; phone; "08-123 456 78"; 08-123 456 78 is not a mobile number; '
        "we need one that can receive SMS.",
        'line 5; birth_date; "2999-01-01"; The birth date is in the future.',
        'line 6; birth_date; "1899-12-31"; The birth date is before 1900.',
        'line 7; external_id; "M-6"; The external id is on line 8 too; none of them is imported.',
        'line 8; external_id; "M-6"; The external id is on line 7 too; none of them is imported.',
        'line 9; email; "gun@"; Not a valid email address.',
        'line 9; home_store; "lund"; No store has this code.',
        'line 9; language; "de"; Unknown language: write sv or en.',
        'line 10; external_id; ""; The external id is missing.',
        'line 11; last_name; ""; The name is missing.',
        'line 11; joined_at; "2999-01-01 10:00"; The join date is in the future.',
        'line 12; email; "taken@example.se"; The email address already belongs to another member.',
        'line 13; birth_date; "17/05/1990"; Not a date; write it as 1984-03-01.',
        'line 13; postcode; "1234"; Not a Swedish postcode: five digits, such as 114 55.',
        'line 13; joined_at; "2024-13-01"; '
        "Not a date and time; write it as 2024-03-01 or 2024-03-01 14:05.",
    ]
    assert report.summary == "imported=1 unchanged=0 rejected=11"
    assert list(Member.objects.filter(external_id__isnull=False).values_list("external_id")) == [
        ("M-1",)
    ]


def test_a_line_of_the_wrong_length_and_an_email_twice_in_the_file(stores, english):
    rows = [
        ["W-1", "Anna", "Berg", "same@example.se", "", "", "", "", "", ""],
        ["W-2", "Bo", "Berg", "Same@Example.se", "", "", "", "", "", ""],
        ["W-3", "Cia", "Berg", "", "", "", "", "", ""],
        ["W-4", "Dag", "Berg", "", "", "", "", "", "", "", "", ""],
    ]

    report = members_import(data=_file(rows), dry_run=False)

    assert report.lines() == [
        'line 2; email; "same@example.se"; The email address is on line 3 too; '
        "an address belongs to one member.",
        'line 3; email; "Same@Example.se"; The email address is on line 2 too; '
        "an address belongs to one member.",
        'line 4; ; "W-3;Cia;Berg;;;;;;"; The line has 9 values but the header has 10 columns '
        "(a value with the separator in it needs quotes).",
    ]
    # Separators at the end of a line (a spreadsheet's empty columns) are no problem.
    assert report.summary == "imported=1 unchanged=0 rejected=3"


def test_a_nul_character_rejects_its_line_and_the_rest_imports(stores, english):
    rows = [
        ["N-1", "Anna", "Berg", "", "", "", "", "", "", ""],
        ["N-\x002", "Bo", "Berg", "", "", "", "", "", "", ""],
    ]

    report = members_import(data=_file(rows), dry_run=False)

    assert report.lines() == [
        'line 3; external_id; "N-\\02;Bo;Berg;;;;;;;"; The line has a NUL character '
        "(shown as \\0), which text cannot hold."
    ]
    assert report.summary == "imported=1 unchanged=0 rejected=1"
    assert list(Member.objects.values_list("external_id", flat=True)) == ["N-1"]


def test_a_file_without_a_required_column_imports_nothing(english):
    data = _file([["X-1", "Anna"]], header=["external_id", "first_name"])

    report = members_import(data=data, dry_run=False)

    assert report.lines() == [
        'line 1; last_name; ""; The column is missing from the header; every line needs it.'
    ]
    assert report.summary == "imported=0 unchanged=0 rejected=0"
    assert Member.objects.count() == 0


def test_the_same_file_twice_writes_nothing_the_second_time(stores, english):
    factories.member_with_user(email="taken@example.se")
    data = _file(MESSY, encoding="cp1252")
    first = members_import(data=data, dry_run=False)
    before = _counts()

    second = members_import(data=data, dry_run=False)

    assert _counts() == before
    assert first.summary == "imported=1 unchanged=0 rejected=11"
    assert second.summary == "imported=0 unchanged=1 rejected=11"
    assert second.lines() == first.lines()


def test_a_corrected_file_imports_only_the_lines_that_were_missing(stores, english):
    factories.member_with_user(email="taken@example.se")
    members_import(data=_file(MESSY), dry_run=False)
    imported = Member.objects.get(external_id="M-1")
    corrected = [list(row) for row in MESSY]
    corrected[0][1] = "Annika"  # a changed name: the import never overwrites a member
    corrected[1][4] = "070-122 22 22"
    corrected[3][5] = "1979-01-01"
    corrected[6][0] = "M-6b"
    corrected[7][9] = "sv"  # still a bad email and an unknown store

    report = members_import(data=_file(corrected), dry_run=False)

    assert report.summary == "imported=4 unchanged=1 rejected=7"
    assert {m.external_id for m in Member.objects.filter(external_id__isnull=False)} == {
        "M-1",
        "M-2",
        "M-4",
        "M-6",
        "M-6b",
    }
    imported.refresh_from_db()
    assert imported.first_name == "Anna"
    assert Member.objects.get(external_id="M-6").last_name == "Ek"
    assert Member.objects.get(external_id="M-6b").last_name == "Eklund"


def test_a_dry_run_writes_nothing_and_counts_what_a_run_would_do(stores, english):
    factories.member_with_user(email="taken@example.se")
    before = _counts()

    dry = members_import(data=_file(MESSY), dry_run=True)

    assert _counts() == before
    real = members_import(data=_file(MESSY), dry_run=False)
    assert dry.summary == real.summary == "imported=1 unchanged=0 rejected=11"
    assert dry.lines() == real.lines()


def test_no_consumer_acts_on_an_imported_joined_event(stores, english):
    """A member who joined the old club yesterday gets no welcome points or welcome campaign
    from the import, now or from the timeline's sweep: their joining is history."""
    yesterday = timezone.localtime() - datetime.timedelta(hours=20)
    data = _file(
        [["N-1", "Nils", "Ek", "", "", "", "", "", yesterday.strftime("%Y-%m-%d %H:%M"), ""]]
    )

    members_import(data=data, dry_run=False)

    event = ActivityEvent.objects.get(member__external_id="N-1")
    handled = set(EventConsumption.objects.filter(event=event).values_list("consumer", flat=True))
    assert handled == {consumer.name for consumer in consumers_for(Kind.JOINED)}
    assert handled, "rewards and campaigns consume joined events"
    assert activity_sweep() == 0


def test_a_batch_that_collides_is_written_line_by_line(stores, english, monkeypatch):
    """A sign-up takes an address between the check and the write: that line is reported,
    the rest of its batch is imported, and nothing of the line is half-written."""
    factories.member_with_user(email="late@example.se")
    monkeypatch.setattr(imports, "_emails_taken", _taken_only_when_asked_alone)
    rows = [
        ["B-1", "Anna", "Berg", "one@example.se", "", "", "", "", "", ""],
        ["B-2", "Bo", "Berg", "late@example.se", "", "", "", "", "", ""],
        ["B-3", "Cia", "Berg", "", "", "", "", "", "", ""],
    ]
    users_before = User.objects.count()

    report = members_import(data=_file(rows), dry_run=False, batch_size=3)

    assert report.lines() == [
        'line 3; email; "late@example.se"; The email address already belongs to another member.'
    ]
    assert report.summary == "imported=2 unchanged=0 rejected=1"
    assert set(
        Member.objects.filter(external_id__isnull=False).values_list("external_id", flat=True)
    ) == {
        "B-1",
        "B-3",
    }
    assert User.objects.count() == users_before + 1


_real_emails_taken = imports._emails_taken


def _taken_only_when_asked_alone(emails: list[str]) -> dict[str, bool]:
    """The check before the batch finds nothing (the sign-up comes later); the check of a
    single line after the collision finds the address."""
    return _real_emails_taken(emails) if len(emails) == 1 else {}


def test_the_command_prints_the_report_and_the_counts_last(stores, tmp_path: Path):
    factories.member_with_user(email="taken@example.se")
    path = tmp_path / "medlemmar.csv"
    path.write_bytes(_file(MESSY, encoding="cp1252"))

    dry = io.StringIO()
    call_command("import_members", str(path), "--dry-run", "--language", "en", stdout=dry)
    assert Member.objects.filter(external_id__isnull=False).count() == 0
    out = io.StringIO()
    call_command("import_members", str(path), "--language", "en", stdout=out)
    again = io.StringIO()
    call_command("import_members", str(path), stdout=again)

    dry_lines = dry.getvalue().splitlines()
    assert dry_lines[-1] == "imported=1 unchanged=0 rejected=11"
    assert dry_lines[0] == 'line 3; phone; "070-12"; 070-12 is not a valid phone number.'
    assert len(dry_lines) == 17
    assert out.getvalue().splitlines() == dry_lines
    # The site's language is Swedish: so is the report, but not its last line.
    swedish = again.getvalue().splitlines()
    assert swedish[-1] == "imported=0 unchanged=1 rejected=11"
    assert swedish[4] == (
        'rad 7; external_id; "M-6"; Externt id finns även på rad 8; ingen av dem importeras.'
    )
    assert 'rad 5; birth_date; "2999-01-01"; Födelsedatumet ligger i framtiden.' in swedish


def test_the_downloadable_template_imports_as_it_is(english):
    """static/import/members.csv (docs/import.md): the demo's store codes, UTF-8, `;`."""
    factories.store(code="sthlm-drottning", name="Drottninggatan")
    factories.store(code="gbg-avenyn", name="Avenyn")
    data = (Path(__file__).parents[2] / "static" / "import" / "members.csv").read_bytes()

    report = members_import(data=data, dry_run=False)

    assert (report.encoding, report.delimiter) == ("utf-8", ";")
    assert report.lines() == []
    assert report.summary == "imported=2 unchanged=0 rejected=0"
    assert data.decode().splitlines()[0].split(";") == HEADER


def test_staff_find_an_imported_member_by_their_old_id_and_correct_the_postcode(stores):
    from django.core.exceptions import ValidationError

    from members.selectors import member_search_q
    from members.services import member_update_profile

    members_import(data=_file([["K-77", "Per", "Ek", "", "", "", "", "", "", ""]]), dry_run=False)
    member = Member.objects.get(external_id="K-77")

    assert list(Member.objects.filter(member_search_q("K-77"))) == [member]
    updated = member_update_profile(member=member, actor=None, source="admin", postcode="41103")
    assert updated.postcode == "411 03"
    with pytest.raises(ValidationError):
        member_update_profile(member=member, actor=None, source="admin", postcode="4110")


def test_an_imported_member_with_an_email_sets_a_password_and_logs_in_as_themselves(
    stores, client, django_capture_on_commit_callbacks
):
    """Besides activation (tests/members/test_activation.py), "Forgot your password?" also
    opens the login the import made: the member sets a password, their first login then
    asks them to confirm the address (a second mail), and they are the same member."""
    import re

    from django.core import mail

    def link_in(message: Any) -> str:
        found = re.search(r"https?://[^/\s]+(/\S+)", message.body)
        assert found is not None
        return found.group(1)

    members_import(
        data=_file([["P-1", "Pia", "Ek", "pia@example.se", "", "", "", "", "", ""]]),
        dry_run=False,
    )
    member = Member.objects.get(external_id="P-1")
    password = "Grön-Tulpan-1987"
    client.post("/konto/login/", {"login": "pia@example.se", "password": password})
    assert "_auth_user_id" not in client.session

    with django_capture_on_commit_callbacks(execute=True):
        client.post("/konto/password/reset/", {"email": "pia@example.se"})
    form = client.get(link_in(mail.outbox[-1]), follow=True)
    client.post(form.redirect_chain[-1][0], {"password1": password, "password2": password})
    with django_capture_on_commit_callbacks(execute=True):
        login = client.post("/konto/login/", {"login": "pia@example.se", "password": password})
    assert login["Location"] == "/konto/confirm-email/"
    with django_capture_on_commit_callbacks(execute=True):
        client.post(link_in(mail.outbox[-1]))

    assert client.session["_auth_user_id"] == str(member.user_id)
    assert EmailAddress.objects.get(user_id=member.user_id).verified
    assert [message.to for message in mail.outbox][:1] == [["pia@example.se"]]
    assert Member.objects.filter(user__email="pia@example.se").get() == member


@pytest.mark.parametrize(
    ("data", "line"),
    [
        (b"", 'line 1; ; ""; The file is empty.'),
        (
            b"external_id;first_name;last_name;First_Name\nX;A;B;C\n",
            'line 1; First_Name; ""; The column is in the header twice.',
        ),
        (
            b"external_id;first_name;last_name\nX;\x81;B\n",
            'line 2; ; "0x81"; The file is neither UTF-8 nor Windows-1252; save it as UTF-8.',
        ),
    ],
)
def test_a_file_that_cannot_be_read_is_refused_as_a_whole(data, line, english):
    report = members_import(data=data, dry_run=False)

    assert report.lines() == [line]
    assert report.summary == "imported=0 unchanged=0 rejected=0"


def test_excel_unicode_text_with_tabs_and_the_progress_of_the_batches(english):
    rows = [[f"T-{n}", "Tove", f"Ek{n}"] for n in range(5)]
    text = "\r\n".join(
        "\t".join(row) for row in [["external_id", "first_name", "last_name"], *rows]
    )
    seen: list[tuple[int, int]] = []

    report = members_import(
        data=text.encode("utf-16"),
        dry_run=False,
        batch_size=2,
        progress=lambda done, total: seen.append((done, total)),
    )

    assert (report.encoding, report.delimiter) == ("utf-16", "\t")
    assert report.summary == "imported=5 unchanged=0 rejected=0"
    assert seen == [(2, 5), (4, 5), (5, 5)]


def test_the_member_sees_their_imported_postcode_on_their_data_page(client):
    """The right of access: "Mina data" lists the postcode with the rest of the profile."""
    member = factories.member_with_user(email="post@example.se", postcode="11455")
    client.force_login(member.user)

    page = client.get("/mina-sidor/mina-data/", HTTP_ACCEPT_LANGUAGE="sv").content.decode()

    assert "Postnummer" in page
    assert "114 55" in page


def test_an_erased_member_keeps_no_external_id_and_is_not_imported_again(stores, english):
    from consent.privacy import erase_member_core

    row = ["OLD-42", "Karin", "Lind", "", "", "", "", "", "", "sv"]
    data = _file([row])
    assert members_import(data=data, dry_run=False).summary == "imported=1 unchanged=0 rejected=0"
    member = Member.objects.get(external_id="OLD-42")

    # when the member is erased, the old system's id is gone: only a keyed hash is left
    erase_member_core(member)
    member.refresh_from_db()
    assert member.external_id is not None
    assert "OLD-42" not in member.external_id
    assert member.external_id.startswith("erased:")

    # and the old file cannot bring the person back
    again = members_import(data=data, dry_run=False)
    assert again.summary == "imported=0 unchanged=0 rejected=1"
    assert "erased at their own request" in "\n".join(again.lines())
    assert not Member.objects.filter(external_id="OLD-42").exists()


def test_the_fast_path_for_swedish_mobiles_agrees_with_phone_normalise():
    """members.imports reads common Swedish mobile forms without the phonenumbers library:
    for every form and range it gives what members.phone.phone_normalise gives."""
    import random

    from members.phone import phone_normalise

    rng = random.Random(15)
    for prefix in ("70", "72", "73", "76", "79"):
        for _ in range(200):
            digits = f"{prefix}{rng.randrange(10**7):07d}"
            for form in (
                f"0{digits}",
                f"0{digits[:2]}-{digits[2:5]} {digits[5:7]} {digits[7:]}",
                f"+46 {digits[:2]} {digits[2:5]} {digits[5:7]} {digits[7:]}",
                f"0046{digits}",
                f"46{digits}",
                digits,
            ):
                assert imports._phone_normalise(form) == phone_normalise(form), form
    for other in ("08-123 456 78", "070-12", "+4570123456", "0711234567"):
        try:
            expected = phone_normalise(other)
        except Exception as exc:  # the same error either way
            with pytest.raises(type(exc)):
                imports._phone_normalise(other)
        else:
            assert imports._phone_normalise(other) == expected


def test_a_line_whose_member_a_concurrent_run_just_committed_is_unchanged_not_rejected(
    monkeypatch,
):
    # Given a batch that collided with a concurrent run of the same file, so its lines are
    # written one by one, and that run commits this very member (its external id and its
    # email) between the line's look-up of the id and its look-up of the email
    from members import imports

    data = b"external_id;first_name;last_name;email\nK-RACE-1;Lena;Berg;lena@example.se\n"
    real_write, real_taken = imports._members_write, imports._emails_taken
    calls = {"write": 0, "taken": 0}

    def write_colliding_once(lines, **kwargs):
        calls["write"] += 1
        if calls["write"] == 1:
            raise IntegrityError("a concurrent run wrote the same external id")
        return real_write(lines, **kwargs)

    def taken_after_the_other_run(emails):
        calls["taken"] += 1
        if calls["taken"] == 2:  # the lone line's look-up: the other run commits first
            monkeypatch.setattr(imports, "_members_write", real_write)
            assert imports.members_import(data=data, dry_run=False).imported == 1
            monkeypatch.setattr(imports, "_members_write", write_colliding_once)
        return real_taken(emails)

    monkeypatch.setattr(imports, "_members_write", write_colliding_once)
    monkeypatch.setattr(imports, "_emails_taken", taken_after_the_other_run)

    # When this run writes the line
    report = imports.members_import(data=data, dry_run=False)

    # Then it counts the member as unchanged, as a replay of the same file does
    assert (report.imported, report.unchanged, report.rejected) == (0, 1, 0), report.problems
    assert Member.objects.filter(external_id="K-RACE-1").count() == 1
