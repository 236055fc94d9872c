"""Import opening points balances from the chain's old club (docs/import.md, "Opening points
balances"): one line per lot of points a member had, with the date they were earned.

``balances_import`` reads the file as the member import does (``members.import_files``:
encodings, separators, header, dates, report lines), checks every line, and hands the
valid ones to ``rewards.ledger.imports.points_import`` in batches. Each line becomes an
entry of the kind ``import`` and a lot that expires by the club's rules counted from the
original earn date; points that have expired already are refused. A line is written whole
or not at all.

Idempotent by the ledger key ``import:<member>:<earned_at>``: a line whose member and earn
time were imported already counts as unchanged when its points are the same, and is
rejected when they differ (a balance is corrected by an adjustment in the back-office).
"""

from __future__ import annotations

import datetime
import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from django.utils import formats, timezone
from django.utils.translation import gettext as _

from members.import_files import (
    ImportFileError,
    ImportReport,
    Record,
    ReportLine,
    csv_read,
    datetime_parse,
)
from members.import_lookup import members_find
from members.models import User
from rewards.ledger.imports import (
    NOTE_MAX,
    POINTS_MAX,
    OpeningLot,
    opening_key,
    points_import,
    points_imported,
)
from rewards.ledger.lots import lot_expiry

COLUMNS = ("external_id", "points", "earned_at", "note")
REQUIRED = ("external_id", "points", "earned_at")
EXTERNAL_ID_MAX = 64
BATCH_SIZE = 1000

# "1500", "1 500" (a space, no-break space or narrow no-break space between thousands),
# "1500,00" (a decimal comma, whole only), with an optional sign (also Unicode's minus).
_POINTS = re.compile(r"^([+\-\u2212]?)(\d{1,3}(?: \d{3})+|\d+)(?:,(\d+))?$")

Progress = Callable[[int, int], None]


@dataclass(eq=False)
class Line:
    """One line of the file on its way in: its cleaned values and its problems."""

    record: Record
    external_id: str = ""
    member_id: int | None = None
    points: int | None = None
    earned_at: datetime.datetime | None = None
    note: str = ""
    problems: list[ReportLine] = field(default_factory=list)
    # Its member and earn time are in the ledger already, with the same points.
    unchanged: bool = False

    def reject(self, column: str, reason: str) -> None:
        self.problems.append(
            ReportLine(
                line=self.record.line,
                column=column,
                value=self.record.values.get(column, ""),
                reason=reason,
            )
        )

    @property
    def key(self) -> str:
        assert self.member_id is not None
        assert self.earned_at is not None
        return opening_key(member_id=self.member_id, earned_at=self.earned_at)

    def lot(self) -> OpeningLot:
        assert self.member_id is not None
        assert self.earned_at is not None
        assert self.points is not None
        return OpeningLot(
            member_id=self.member_id, points=self.points, earned_at=self.earned_at, note=self.note
        )


def balances_import(
    *,
    data: bytes,
    dry_run: bool,
    actor: User | None = None,
    batch_size: int = BATCH_SIZE,
    progress: Progress | None = None,
) -> ImportReport:
    """Import the opening balances in ``data`` (the file's bytes); see the module's
    docstring. ``dry_run``: check everything and count what would happen, writing nothing.
    ``actor``: the staff member who uploaded the file (the entries name them).
    ``progress(done, total)``: called after each batch. Reasons are in the active language."""
    report = ImportReport(dry_run=dry_run)
    try:
        parsed = csv_read(data, known=COLUMNS, required=REQUIRED)
    except ImportFileError as exc:
        report.problems.append(exc.problem)
        return report
    report.encoding, report.delimiter = parsed.encoding, parsed.delimiter
    report.notices.extend(parsed.notices)
    now = timezone.now()
    lines = [Line(record=record) for record in parsed.records]
    readable = []
    for line in lines:
        if line.record.problem is not None:
            line.problems.append(line.record.problem)
        else:
            _line_clean(line, now=now)
            readable.append(line)
    _members_find(readable)
    _imported_check(readable)
    candidates = [line for line in readable if not line.unchanged]
    _repeats_check(candidates)
    expiries: dict[datetime.date, datetime.datetime] = {}
    for line in candidates:
        if line.earned_at is not None and not line.problems:
            _expiry_check(line, now=now, expiries=expiries)
    valid = [line for line in candidates if not line.problems]
    if not dry_run:
        for start in range(0, len(valid), batch_size):
            _batch_write(valid[start : start + batch_size], actor=actor, now=now)
            if progress is not None:
                progress(min(start + batch_size, len(valid)), len(valid))
    for line in lines:
        if line.problems:
            report.rejected += 1
            report.problems.extend(line.problems)
        elif line.unchanged:
            report.unchanged += 1
        else:
            report.imported += 1
    report.problems.sort(key=lambda problem: problem.line)
    return report


# --- checks ------------------------------------------------------------------------------


def _line_clean(line: Line, *, now: datetime.datetime) -> None:
    """Check and normalise the line's own values, collecting every problem."""
    values = line.record.values
    external_id = values.get("external_id", "")
    if not external_id:
        line.reject("external_id", _("The external id is missing."))
    elif len(external_id) > EXTERNAL_ID_MAX:
        line.reject(
            "external_id",
            _("The external id is too long: at most %(max)d characters.")
            % {"max": EXTERNAL_ID_MAX},
        )
    else:
        line.external_id = external_id
    _points_clean(line, values.get("points", ""))
    _earned_at_clean(line, values.get("earned_at", ""), now=now)
    note = values.get("note", "")
    if len(note) > NOTE_MAX:
        line.reject(
            "note", _("The note is too long: at most %(max)d characters.") % {"max": NOTE_MAX}
        )
    else:
        line.note = note


def points_parse(value: str) -> tuple[int | None, str]:
    """The points in ``value`` and, when they cannot be imported, the reason (then the points
    are ``None``): a whole number above zero; a decimal comma only with a zero fraction."""
    text = value.replace("\u00a0", " ").replace("\u202f", " ")
    if not text:
        return None, _("The points are missing.")
    match = _POINTS.match(text)
    if match is None:
        return None, _("Not a whole number of points; write it as 1500.")
    sign, digits, fraction = match.groups()
    if fraction and fraction.strip("0"):
        return None, _("Points are whole numbers; this one has a fraction.")
    points = int(digits.replace(" ", ""))
    if sign in ("-", "\u2212"):
        points = -points
    if points <= 0:
        return None, _(
            "The points must be more than zero; a zero or negative balance is not imported."
        )
    if points > POINTS_MAX:
        return None, _("At most %(max)s points on one line.") % {
            "max": formats.number_format(POINTS_MAX, force_grouping=True)
        }
    return points, ""


def _points_clean(line: Line, value: str) -> None:
    points, reason = points_parse(value)
    if points is None:
        line.reject("points", reason)
    else:
        line.points = points


def _earned_at_clean(line: Line, value: str, *, now: datetime.datetime) -> None:
    if not value:
        line.reject("earned_at", _("The earn date is missing."))
        return
    earned_at = datetime_parse(value)
    if earned_at is None:
        line.reject(
            "earned_at", _("Not a date and time; write it as 2024-03-01 or 2024-03-01 14:05.")
        )
    elif earned_at > now:
        line.reject("earned_at", _("The earn date is in the future."))
    else:
        line.earned_at = earned_at


def _members_find(lines: list[Line]) -> None:
    """The member each external id names (a merged member's survivor), in a few queries for
    the whole file; an unknown or erased member rejects the line."""
    found = members_find(external_ids=[line.external_id for line in lines])
    for line in lines:
        if not line.external_id:
            continue
        member = found[("external_id", line.external_id)]
        if member.erased:
            line.reject(
                "external_id",
                _("This member was erased at their own request; their points are not imported."),
            )
        elif member.member_id is None:
            line.reject(
                "external_id", _("No member has this external id; import the members first.")
            )
        else:
            line.member_id = member.member_id


def _imported_check(lines: list[Line]) -> None:
    """A line whose member and earn time are in the ledger already is unchanged when its
    points are the same and rejected when they differ (one query for the whole file)."""
    known = [line for line in lines if line.member_id is not None and line.earned_at is not None]
    imported = points_imported(line.key for line in known)
    for line in known:
        if line.key in imported:
            _imported_mark(line, imported[line.key])


def _imported_mark(line: Line, points: int) -> None:
    if line.points is None:
        return  # its points are reported already
    if line.points != points:
        line.reject("points", _imported_reason(points))
    elif not line.problems:
        line.unchanged = True


def _imported_reason(points: int) -> str:
    return _(
        "This member's points earned at this time were imported already, %(points)s points; "
        "correct a balance with an adjustment in the back-office."
    ) % {"points": points}


def _repeats_check(lines: list[Line]) -> None:
    """The same external id and earn time on two or more lines: all of them are rejected."""
    by_lot: dict[tuple[str, datetime.datetime], list[Line]] = defaultdict(list)
    for line in lines:
        if line.external_id and line.earned_at is not None:
            by_lot[(line.external_id, line.earned_at)].append(line)
    for same in by_lot.values():
        if len(same) < 2:
            continue
        for line in same:
            others = ", ".join(str(o.record.line) for o in same if o is not line)
            line.reject(
                "earned_at",
                _(
                    "The same member and earn time are on line %(lines)s too; none of them is "
                    "imported (add their points up on one line)."
                )
                % {"lines": others},
            )


def _expiry_check(
    line: Line, *, now: datetime.datetime, expiries: dict[datetime.date, datetime.datetime]
) -> None:
    """Points already expired under the club's rules are refused. ``expiries``: each earn
    day's expiry, worked out once per run (it depends on the day alone)."""
    assert line.earned_at is not None
    day = timezone.localtime(line.earned_at).date()
    expires_at = expiries.get(day)
    if expires_at is None:
        expires_at = expiries[day] = lot_expiry(line.earned_at)
    if expires_at <= now:
        last_day = timezone.localtime(expires_at).date() - datetime.timedelta(days=1)
        line.reject(
            "earned_at",
            _(
                "The points have expired under the club's rules: their last day was "
                "%(date)s. Expired points are not imported."
            )
            % {"date": last_day.isoformat()},
        )


# --- writes -------------------------------------------------------------------------------


def _batch_write(lines: list[Line], *, actor: User | None, now: datetime.datetime) -> None:
    """One batch through the ledger's service; a line that a concurrent run of the same file
    wrote meanwhile is unchanged (or rejected when its points differ)."""
    there = points_import(lots=[line.lot() for line in lines], actor=actor, now=now)
    for line in lines:
        if line.key in there:
            _imported_mark(line, there[line.key])
