"""Import members from another club's or till system's file (docs/import.md).

``members_import`` reads the file (``members.import_files``), checks every line, and writes
the valid lines in batches: a user with an unusable password and an unconfirmed email
address when the line has an email, the member (join channel "import", the original join
time) and their "joined" event (source "import"). A batch is one transaction; a batch that
collides with a concurrent write (another import of the same file, a sign-up with the same
email) is written again line by line, each line in its own savepoint, so a line is either
written whole or reported, never half-written.

Idempotent by the external id: a line whose external id is already a member's counts as
unchanged and is not read further. The import never overwrites a member; corrections are
made in the back-office.
"""

from __future__ import annotations

import datetime
import re
import secrets
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from allauth.account.models import EmailAddress
from django.contrib.auth.hashers import UNUSABLE_PASSWORD_PREFIX
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from members.activity import Kind, consumers_for
from members.duplicates import duplicates_find_later
from members.external_ids import external_id_erased_form
from members.import_copy import copy_insert, ids_reserve
from members.import_files import (
    ImportFileError,
    ImportReport,
    Record,
    ReportLine,
    csv_read,
    date_parse,
    datetime_parse,
    gc_paused,
)
from members.import_lookup import TEXTS, erased_external_ids, members_with, texts_param
from members.models import ActivityEvent, EventConsumption, Member, Store, User
from members.phone import phone_normalise
from members.services import card_token_generate, membership_number_generate
from members.validators import (
    BIRTH_DATE_EARLIEST,
    birth_date_validate,
    email_length_validate,
    name_validate,
    postcode_normalise,
)

COLUMNS = (
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
)
REQUIRED = ("external_id", "first_name", "last_name")
EXTERNAL_ID_MAX = 64
NAME_MAX = 100
# Lines per transaction: each commit checks the batch's foreign keys and flushes the WAL, so
# fewer, larger batches are faster; a batch that collides is written again line by line.
BATCH_SIZE = 5000
# How far back the timeline's beat sweep looks for events no consumer has handled
# (``members.activity.activity_sweep``), with room to spare: an imported "joined" event
# newer than this is marked handled, so no consumer acts on it (see ``_events_write``).
SWEEP_WINDOW = datetime.timedelta(days=2)

LANGUAGES = {
    "sv": Member.Language.SWEDISH,
    "svenska": Member.Language.SWEDISH,
    "swedish": Member.Language.SWEDISH,
    "en": Member.Language.ENGLISH,
    "engelska": Member.Language.ENGLISH,
    "english": Member.Language.ENGLISH,
}

Progress = Callable[[int, int], None]


@dataclass(eq=False, slots=True)
class Line:
    """One line of the file on its way in: its cleaned values and its problems."""

    record: Record
    external_id: str = ""
    first_name: str = ""
    last_name: str = ""
    email: str = ""
    phone: str = ""
    birth_date: datetime.date | None = None
    postcode: str = ""
    home_store: Store | None = None
    joined_at: datetime.datetime | None = None
    language: str = Member.Language.SWEDISH
    problems: list[ReportLine] = field(default_factory=list)
    # Its external id is a member's already (found before writing, or written meanwhile by a
    # concurrent run of the same file).
    unchanged: bool = False
    # What a registered step (``import_step_register``) checked and will write, by its name.
    steps: dict[str, Any] = field(default_factory=dict)
    # Reported with the line, rejecting nothing (a consent that is not recorded, and why).
    notes: list[ReportLine] = field(default_factory=list)
    # The member written for it.
    member_id: int | None = None

    def reject(self, column: str, reason: str) -> None:
        self.problems.append(
            ReportLine(
                line=self.record.line,
                column=column,
                value=self.record.values.get(column, ""),
                reason=reason,
            )
        )

    def note(self, column: str, reason: str) -> None:
        self.notes.append(
            ReportLine(
                line=self.record.line,
                column=column,
                value=self.record.values.get(column, ""),
                reason=reason,
            )
        )


@dataclass(frozen=True)
class ImportStep:
    """A higher app's columns in the member import (consent's consents, ``consent.imports``).

    ``columns()``: the columns it reads, asked once per run (they may depend on data, such as
    the club's purposes). ``check(lines, now)``: called with the lines still valid after the
    import's own checks; rejects a line (``Line.reject``: the member is not imported) or notes
    something about it (``Line.note``), and keeps what it will write in
    ``Line.steps[name]``. ``write(lines, actor, now)``: called inside the batch's
    transaction with the lines just written (``Line.member_id`` set), in bulk."""

    name: str
    columns: Callable[[], tuple[str, ...]]
    check: Callable[[list[Line], datetime.datetime], None]
    write: Callable[[list[Line], User | None, datetime.datetime], None]


_steps: dict[str, ImportStep] = {}


def import_step_register(
    *,
    name: str,
    columns: Callable[[], tuple[str, ...]],
    check: Callable[[list[Line], datetime.datetime], None],
    write: Callable[[list[Line], User | None, datetime.datetime], None],
) -> None:
    """Add (or replace, by name) a higher app's part of the member import; call it from the
    app's ``AppConfig.ready``."""
    _steps[name] = ImportStep(name=name, columns=columns, check=check, write=write)


def import_steps() -> list[ImportStep]:
    return [_steps[name] for name in sorted(_steps)]


def members_import(
    *,
    data: bytes,
    dry_run: bool,
    actor: User | None = None,
    batch_size: int = BATCH_SIZE,
    progress: Progress | None = None,
) -> ImportReport:
    """Import the members in ``data`` (the file's bytes); see the module's docstring.

    ``dry_run``: check everything and count what would happen, writing nothing.
    ``actor``: the staff member who uploaded the file (their events name them).
    ``progress(done, total)``: called after each batch with the valid lines written so far
    and all valid lines.
    The reasons in the report are in the active language."""
    with gc_paused():
        return _members_import(
            data=data, dry_run=dry_run, actor=actor, batch_size=batch_size, progress=progress
        )


def _members_import(
    *,
    data: bytes,
    dry_run: bool,
    actor: User | None,
    batch_size: int,
    progress: Progress | None,
) -> ImportReport:
    report = ImportReport(dry_run=dry_run)
    steps = import_steps()
    known = COLUMNS + tuple(column for step in steps for column in step.columns())
    try:
        parsed = csv_read(data, known=known, required=REQUIRED)
    except ImportFileError as exc:
        report.problems.append(exc.problem)
        return report
    report.encoding, report.delimiter = parsed.encoding, parsed.delimiter
    report.notices.extend(parsed.notices)
    now = timezone.now()
    lines = [Line(record=record) for record in parsed.records]
    for line in lines:
        if line.record.problem is not None:
            line.problems.append(line.record.problem)
    candidates = _external_ids_check(lines)
    stores = {store.code.lower(): store for store in Store.objects.all()}
    today = timezone.localdate(now)
    latest_allowed = _birth_date_latest(today)
    for line in candidates:
        _line_clean(line, stores=stores, now=now, today=today, latest_allowed=latest_allowed)
    _emails_check(candidates)
    for step in steps:
        step.check([line for line in candidates if not line.problems], now)
    valid = [line for line in candidates if not line.problems]
    if not dry_run:
        for start in range(0, len(valid), batch_size):
            batch = valid[start : start + batch_size]
            _batch_write(batch, actor=actor, now=now, steps=steps)
            # Committed: the new members are checked against everyone else for duplicates.
            duplicates_find_later(
                member_ids=[line.member_id for line in batch if line.member_id is not None]
            )
            if progress is not None:
                progress(min(start + batch_size, len(valid)), len(valid))
    written = {id(line) for line in valid}
    for line in valid:
        if not line.problems and not line.unchanged:
            report.notices.extend(line.notes)
    for line in lines:
        if line.problems:
            report.rejected += 1
            report.problems.extend(line.problems)
        elif line.unchanged:
            report.unchanged += 1
        elif id(line) in written:
            report.imported += 1
    report.problems.sort(key=lambda problem: problem.line)
    return report


# --- checks ------------------------------------------------------------------------------


def _external_ids_check(lines: list[Line]) -> list[Line]:
    """Missing and repeated external ids are problems; an external id that is already a
    member's makes its line unchanged. Returns the lines to check further."""
    by_id: dict[str, list[Line]] = defaultdict(list)
    for line in lines:
        if line.record.problem is not None:
            continue
        line.external_id = line.record.values.get("external_id", "")
        if not line.external_id:
            line.reject("external_id", _("The external id is missing."))
        elif len(line.external_id) > EXTERNAL_ID_MAX:
            line.reject(
                "external_id",
                _("The external id is too long: at most %(max)d characters.")
                % {"max": EXTERNAL_ID_MAX},
            )
        else:
            by_id[line.external_id].append(line)
    existing = {row[0] for row in members_with("external_id", list(by_id))}
    erased = erased_external_ids([e for e in by_id if e not in existing])
    candidates: list[Line] = []
    for external_id, same in by_id.items():
        if external_id in existing:
            for line in same:
                line.unchanged = True
            continue
        if external_id in erased:
            for line in same:
                line.reject(
                    "external_id",
                    _("This member was erased at their own request and is not imported again."),
                )
            continue
        if len(same) > 1:
            # Which of them is right cannot be known: all of them wait for a corrected file.
            for line in same:
                others = ", ".join(str(o.record.line) for o in same if o is not line)
                line.reject(
                    "external_id",
                    _("The external id is on line %(lines)s too; none of them is imported.")
                    % {"lines": others},
                )
            continue
        candidates.extend(same)
    return candidates


def _line_clean(
    line: Line,
    *,
    stores: dict[str, Store],
    now: datetime.datetime,
    today: datetime.date,
    latest_allowed: datetime.date,
) -> None:
    """Check and normalise the line's values, collecting every problem."""
    values = line.record.values
    for column in ("first_name", "last_name"):
        _name_clean(line, column, values.get(column, ""))
    _email_clean(line, values.get("email", ""))
    try:
        line.phone = _phone_normalise(values.get("phone", ""))
    except ValidationError as exc:
        line.reject("phone", exc.messages[0])
    _birth_date_clean(
        line, values.get("birth_date", ""), today=today, latest_allowed=latest_allowed
    )
    try:
        line.postcode = postcode_normalise(values.get("postcode", ""))
    except ValidationError as exc:
        line.reject("postcode", exc.messages[0])
    code = values.get("home_store", "")
    if code:
        line.home_store = stores.get(code.lower())
        if line.home_store is None:
            line.reject("home_store", _("No store has this code."))
    _joined_at_clean(line, values.get("joined_at", ""), now=now)
    language = values.get("language", "").lower().replace("_", "-")
    if language:
        found = LANGUAGES.get(language) or LANGUAGES.get(language.split("-")[0])
        if found is None:
            line.reject("language", _("Unknown language: write sv or en."))
        else:
            line.language = found


# A Swedish mobile number in its common local forms (070-123 45 67, 0701234567, +46 70 ...,
# 0046 70 ..., 46701234567, 701234567): 07[02369] and seven digits are mobile numbers in every
# form (tests/members/test_import.py compares with phone_normalise), so most lines of a
# Swedish file skip the phonenumbers library, which is a fifth of the import's checking.
_SWEDISH_MOBILE = re.compile(r"^(?:\+46|0046|46|0)?(7[02369]\d{7})$")
_PHONE_PUNCTUATION = re.compile(r"[\s\-]")


def _phone_normalise(value: str) -> str:
    """``members.phone.phone_normalise``, with a fast path for Swedish mobile numbers."""
    match = _SWEDISH_MOBILE.match(_PHONE_PUNCTUATION.sub("", value))
    if match is not None:
        return "+46" + match.group(1)
    return phone_normalise(value)


def _name_clean(line: Line, column: str, value: str) -> None:
    if not value:
        line.reject(column, _("The name is missing."))
        return
    if len(value) > NAME_MAX:
        line.reject(
            column, _("The name is too long: at most %(max)d characters.") % {"max": NAME_MAX}
        )
        return
    # A printable name has no control, format or separator character (str.isprintable, in
    # C): only the others need name_validate's look at each character's category.
    if not value.isprintable():
        try:
            name_validate(value)
        except ValidationError as exc:
            line.reject(column, exc.messages[0])
            return
    setattr(line, column, value)


# Certainly valid for Django's ``validate_email`` (a strict subset of its rules, as
# ``campaigns.data_quality.counts.EMAIL_SURELY_VALID``): a dot-atom of common ASCII characters,
# host labels of letters and digits with inner hyphens, a top-level domain of letters, and at
# most 64 characters in all (so no label can pass the 63 Django allows). Most addresses of a
# file match and skip the validator (``tests/members/test_import_fast.py`` checks the subset).
EMAIL_SURELY_VALID = re.compile(
    r"[A-Za-z0-9_+-]+(?:\.[A-Za-z0-9_+-]+)*@[A-Za-z0-9]+(?:-+[A-Za-z0-9]+)*"
    r"(?:\.[A-Za-z0-9]+(?:-+[A-Za-z0-9]+)*)*\.[A-Za-z][A-Za-z]+\Z"
)
EMAIL_SURELY_VALID_LENGTH = 64


def _email_clean(line: Line, value: str) -> None:
    if not value:
        return
    try:
        email_length_validate(value)
    except ValidationError as exc:
        line.reject("email", exc.messages[0])
        return
    if not (
        len(value) <= EMAIL_SURELY_VALID_LENGTH
        and value.isascii()
        and EMAIL_SURELY_VALID.match(value) is not None
    ):
        try:
            validate_email(value)
        except ValidationError:
            line.reject("email", _("Not a valid email address."))
            return
    line.email = value.lower()


def _joined_at_clean(line: Line, value: str, *, now: datetime.datetime) -> None:
    if not value:
        return
    line.joined_at = datetime_parse(value)
    if line.joined_at is None:
        line.reject(
            "joined_at", _("Not a date and time; write it as 2024-03-01 or 2024-03-01 14:05.")
        )
    elif line.joined_at > now:
        line.reject("joined_at", _("The join date is in the future."))


def _birth_date_clean(
    line: Line, value: str, *, today: datetime.date, latest_allowed: datetime.date
) -> None:
    if not value:
        return
    birth_date = date_parse(value)
    if birth_date is None:
        line.reject("birth_date", _("Not a date; write it as 1984-03-01."))
        return
    if BIRTH_DATE_EARLIEST <= birth_date <= latest_allowed:
        # Passes every check of birth_date_validate (``_birth_date_latest``).
        line.birth_date = birth_date
        return
    try:
        birth_date_validate(birth_date, today=today)
    except ValidationError as exc:
        if exc.code == "too_young":
            reason = _("The member is younger than the club's minimum age.")
        elif exc.code == "future":
            reason = _("The birth date is in the future.")
        else:
            reason = _("The birth date is before 1900.")
        line.reject("birth_date", reason)
        return
    line.birth_date = birth_date


def _birth_date_latest(today: datetime.date) -> datetime.date:
    """The latest birth date ``birth_date_validate`` accepts ``today``, asked once per file:
    the dates it accepts are those from ``BIRTH_DATE_EARLIEST`` to one latest date (not in
    the future, old enough), found by halving; the day before the earliest when none."""

    def passes(ordinal: int) -> bool:
        try:
            birth_date_validate(datetime.date.fromordinal(ordinal), today=today)
        except ValidationError:
            return False
        return True

    low, high = BIRTH_DATE_EARLIEST.toordinal() - 1, max(today, BIRTH_DATE_EARLIEST).toordinal()
    while low < high:  # passes(low) or low is the day before the earliest; high is the top
        middle = (low + high + 1) // 2
        if passes(middle):
            low = middle
        else:
            high = middle - 1
    return datetime.date.fromordinal(low)


def _emails_check(lines: list[Line]) -> None:
    """An email may belong to one login: an address on two lines of the file rejects both
    (which person owns it cannot be known), an address that is already a login's rejects
    its line."""
    by_email: dict[str, list[Line]] = defaultdict(list)
    for line in lines:
        if line.email:
            by_email[line.email].append(line)
    for same in by_email.values():
        if len(same) > 1:
            for line in same:
                others = ", ".join(str(o.record.line) for o in same if o is not line)
                line.reject(
                    "email",
                    _(
                        "The email address is on line %(lines)s too; an address belongs to "
                        "one member."
                    )
                    % {"lines": others},
                )
    taken = _emails_taken(list(by_email))
    for email, has_member in taken.items():
        for line in by_email.get(email, []):
            line.reject("email", _email_taken_reason(has_member))


def _emails_taken(emails: list[str]) -> dict[str, bool]:
    """Which of the (lower-case) addresses a login already has, as its user's or as one of
    allauth's addresses: address -> whether that login is a member's."""
    if not emails:
        return {}
    taken: dict[str, bool] = {}
    member = Member._meta.db_table
    # One parameter each, however many addresses (``TEXTS``, as in members_with).
    param = texts_param(emails)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT lower(u.email), m.id FROM {User._meta.db_table} u "  # noqa: S608
            f"LEFT JOIN {member} m ON m.user_id = u.id WHERE lower(u.email) IN {TEXTS}",
            [param],
        )
        for email, member_id in cursor.fetchall():
            taken[email] = member_id is not None
        cursor.execute(
            f"SELECT lower(a.email), m.id FROM {EmailAddress._meta.db_table} a "  # noqa: S608
            f"LEFT JOIN {member} m ON m.user_id = a.user_id WHERE lower(a.email) IN {TEXTS}",
            [param],
        )
        for email, member_id in cursor.fetchall():
            taken[email] = taken.get(email, False) or member_id is not None
    return taken


def _email_taken_reason(has_member: bool) -> str:
    if has_member:
        return _("The email address already belongs to another member.")
    return _("The email address already belongs to a login that is not a member's.")


# --- writes -------------------------------------------------------------------------------


def _batch_write(
    lines: list[Line], *, actor: User | None, now: datetime.datetime, steps: list[ImportStep]
) -> None:
    """Write a batch in one transaction; after a collision with a concurrent write, line by
    line, each in its own savepoint."""
    try:
        with transaction.atomic():
            _members_write(lines, actor=actor, now=now, steps=steps)
        return
    except IntegrityError:
        for line in lines:
            line.member_id = None
    for line in lines:
        _line_write_alone(line, actor=actor, now=now, steps=steps)


def _line_write_alone(
    line: Line, *, actor: User | None, now: datetime.datetime, steps: list[ImportStep]
) -> None:
    """One line after its batch collided: checked again against what is there now."""
    for _attempt in range(3):
        if Member.objects.filter(external_id=line.external_id).exists():
            line.unchanged = True
            return
        if Member.objects.filter(external_id=external_id_erased_form(line.external_id)).exists():
            line.reject(
                "external_id",
                _("This member was erased at their own request and is not imported again."),
            )
            return
        if line.email:
            taken = _emails_taken([line.email])
            if line.email in taken:
                # A concurrent run of the same file may have committed this very member
                # (its email with its external id) since the look-up above.
                if Member.objects.filter(external_id=line.external_id).exists():
                    line.unchanged = True
                    return
                line.reject("email", _email_taken_reason(taken[line.email]))
                return
        try:
            with transaction.atomic():
                _members_write([line], actor=actor, now=now, steps=steps)
            return
        except IntegrityError:
            line.member_id = None
            continue  # a membership number drawn at the same moment: draw again
    line.problems.append(  # pragma: no cover - three collisions in a row
        ReportLine(
            line=line.record.line,
            column="",
            value="",
            reason=_("The line could not be saved; run the import again."),
        )
    )


def _unusable_password() -> str:
    """What ``make_password(None)`` stores (the prefix and 40 random characters), at a
    fraction of its cost: ``get_random_string`` draws each character on its own."""
    return UNUSABLE_PASSWORD_PREFIX + secrets.token_urlsafe(30)


def _numbers_draw(count: int) -> list[str]:
    """``count`` free membership numbers: drawn, then checked against the table at once."""
    numbers: set[str] = set()
    while len(numbers) < count:
        drawn = {membership_number_generate() for _ in range(count - len(numbers))}
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT membership_number FROM {Member._meta.db_table} "  # noqa: S608
                f"WHERE membership_number IN {TEXTS}",
                [texts_param(drawn)],
            )
            drawn -= {row[0] for row in cursor.fetchall()}
        numbers |= drawn
    return sorted(numbers)


def _members_write(
    lines: list[Line], *, actor: User | None, now: datetime.datetime, steps: list[ImportStep]
) -> None:
    """Logins and unconfirmed addresses for the lines with an email, then the members and
    their "joined" events, each table in one ``COPY`` (``members.import_copy``); then the
    registered steps. Call inside a transaction."""
    with_email = [line for line in lines if line.email]
    user_ids = ids_reserve(User, len(with_email))
    copy_insert(
        User,
        ["id", "email", "password", "date_joined"],
        (
            (pk, line.email, _unusable_password(), line.joined_at or now)
            for pk, line in zip(user_ids, with_email, strict=True)
        ),
    )
    copy_insert(
        EmailAddress,
        ["id", "user_id", "email", "verified", "primary"],
        (
            (pk, user_id, line.email, False, True)
            for pk, user_id, line in zip(
                ids_reserve(EmailAddress, len(with_email)), user_ids, with_email, strict=True
            )
        ),
    )
    user_for = {id(line): user_id for line, user_id in zip(with_email, user_ids, strict=True)}
    member_ids = ids_reserve(Member, len(lines))
    copy_insert(
        Member,
        [
            "id",
            "user_id",
            "external_id",
            "membership_number",
            "card_token",
            "first_name",
            "last_name",
            "phone",
            "birth_date",
            "postcode",
            "preferred_language",
            "home_store_id",
            "joined_at",
            "join_channel",
        ],
        (
            (
                pk,
                user_for.get(id(line)),
                line.external_id,
                number,
                card_token_generate(),
                line.first_name,
                line.last_name,
                line.phone,
                line.birth_date,
                line.postcode,
                line.language,
                line.home_store.pk if line.home_store is not None else None,
                line.joined_at or now,
                Member.JoinChannel.IMPORT,
            )
            for pk, line, number in zip(member_ids, lines, _numbers_draw(len(lines)), strict=True)
        ),
    )
    for line, pk in zip(lines, member_ids, strict=True):
        line.member_id = pk
    _events_write(lines, actor=actor, now=now)
    for step in steps:
        step.write(lines, actor, now)


def _events_write(lines: list[Line], *, actor: User | None, now: datetime.datetime) -> None:
    """Each member's "joined" event at their original join time, source "import".

    The event is history: no consumer acts on it (no welcome points, no welcome campaign,
    no challenge progress). It is inserted without being handed to the consumers, and an
    event recent enough for the timeline's sweep to find is marked handled by each of them."""
    acted_by = actor.pk if actor is not None and actor.is_authenticated else None
    event_ids = ids_reserve(ActivityEvent, len(lines))
    events = [
        (
            pk,
            line.member_id,
            Kind.JOINED,
            {
                "channel": Member.JoinChannel.IMPORT,
                "home_store_id": line.home_store.pk if line.home_store is not None else None,
            },
            "import",
            acted_by,
            line.home_store.pk if line.home_store is not None else None,
            line.joined_at or now,
        )
        for pk, line in zip(event_ids, lines, strict=True)
    ]
    copy_insert(
        ActivityEvent,
        ["id", "member_id", "kind", "data", "source", "actor_id", "store_id", "created_at"],
        events,
    )
    history_events_handled(
        [HistoryEvent(pk=event[0], kind=Kind.JOINED, created_at=event[7]) for event in events],
        now=now,
    )


@dataclass(frozen=True)
class HistoryEvent:
    """A timeline event an import wrote as history (see ``history_events_handled``)."""

    pk: int
    kind: str
    created_at: datetime.datetime


def history_events_handled(events: list[HistoryEvent], *, now: datetime.datetime) -> None:
    """Events an import inserted as history (bulk, without handing them to the consumers):
    those recent enough for the timeline's sweep to find are marked handled by each of their
    consumers, so none acts on them later either."""
    recent = [event for event in events if event.created_at >= now - SWEEP_WINDOW]
    EventConsumption.objects.bulk_create(
        [
            EventConsumption(consumer=consumer.name, event_id=event.pk, processed_at=now)
            for event in recent
            for consumer in consumers_for(event.kind)
        ]
    )
