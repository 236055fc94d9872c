"""Reading the files other systems export (docs/import.md): the part every import shares.

The member import (``members.imports``) uses it now; the opening balances and historical
purchases (rewards) will read their files the same way. Files come from Swedish tills,
spreadsheets and old club systems:

- UTF-8 with or without a byte-order mark, or Windows-1252 (Excel's "CSV" on a Swedish
  Windows): a BOM decides; otherwise the text is tried as strict UTF-8 and read as
  Windows-1252 when it is not (a Windows-1252 file with å, ä or ö is never valid UTF-8);
- ``;`` (Excel in Swedish), ``,`` or a tab between values, sniffed from the header line;
- a header line whose names are matched without regard to case or surrounding spaces;
- dates as ``2024-03-01`` and times as ``2024-03-01 14:05`` in Swedish time.

Problems are reported per line as ``ReportLine``s (line, column, value, reason), with
reasons in the active language.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import datetime
import gc
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from django.utils.translation import gettext as _

# The files come from Swedish systems: a time without a zone is Swedish time.
FILE_TIME_ZONE = ZoneInfo("Europe/Stockholm")
DELIMITERS = (";", ",", "\t")
# A value longer than this is cut in the report (the whole value stays in the file).
REPORT_VALUE_MAX = 60


class ImportFileError(Exception):
    """The file as a whole cannot be read (its encoding or its header)."""

    def __init__(self, problem: ReportLine) -> None:
        self.problem = problem
        super().__init__(str(problem))


@dataclass(frozen=True)
class ReportLine:
    """One problem: the file's line number (the header is line 1), the column's name as the
    header has it, the value as the file has it, and the reason in words."""

    line: int
    column: str
    value: str
    reason: str

    def __str__(self) -> str:
        value = self.value
        if len(value) > REPORT_VALUE_MAX:
            value = value[: REPORT_VALUE_MAX - 1] + "…"
        return _('line %(line)d; %(column)s; "%(value)s"; %(reason)s') % {
            "line": self.line,
            "column": self.column,
            "value": value,
            "reason": self.reason,
        }


@dataclass
class ImportReport:
    """What an import did (or, in a dry run, would do).

    ``problems`` are the rejected lines' reasons (a line may have several);
    ``notices`` are about the file and reject nothing (an unknown column)."""

    dry_run: bool
    encoding: str = ""
    delimiter: str = ""
    imported: int = 0
    unchanged: int = 0
    rejected: int = 0
    problems: list[ReportLine] = field(default_factory=list)
    notices: list[ReportLine] = field(default_factory=list)

    @property
    def summary(self) -> str:
        """The command's last line, in every language."""
        return f"imported={self.imported} unchanged={self.unchanged} rejected={self.rejected}"

    def lines(self) -> list[str]:
        """Every report line in words: the notices, then the problems in file order."""
        return [str(line) for line in [*self.notices, *self.problems]]


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Python's cyclic garbage collector paused while an import runs. A file of 100,000 lines
    is a million live objects (records, their values, the checked lines), and the collector
    walks all of them again and again as they are made: half the CPU time of checking a
    member file. Reference counting still frees what is let go; the collector runs again
    afterwards (it is process-wide: this pauses it for the process, as long as the import)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


# --- the file --------------------------------------------------------------------------------


def text_decode(data: bytes) -> tuple[str, str]:
    """The file's text and the name of its encoding: ``utf-8-sig`` (a BOM), ``utf-8`` or
    ``cp1252``. UTF-16 (Excel's "Unicode text") is read when it starts with its BOM."""
    if data.startswith(codecs.BOM_UTF8):
        return data[len(codecs.BOM_UTF8) :].decode("utf-8", errors="strict"), "utf-8-sig"
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16"), "utf-16"
    try:
        return data.decode("utf-8", errors="strict"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252", errors="strict"), "cp1252"
    except UnicodeDecodeError as exc:
        raise ImportFileError(
            ReportLine(
                line=data[: exc.start].count(b"\n") + 1,
                column="",
                value=f"0x{data[exc.start]:02X}",
                reason=_("The file is neither UTF-8 nor Windows-1252; save it as UTF-8."),
            )
        ) from exc


def delimiter_sniff(header: str) -> str:
    """The separator the header line uses most (outside quotes): ``;``, ``,`` or a tab."""
    unquoted = re.sub(r'"[^"]*"', "", header)
    counts = {sep: unquoted.count(sep) for sep in DELIMITERS}
    best = max(DELIMITERS, key=lambda sep: counts[sep])
    return best if counts[best] else ","


@dataclass(frozen=True)
class Record:
    """One line of values: its line number in the file and its values by column name, or
    the problem that keeps the line from being read (then ``values`` is empty)."""

    line: int
    values: dict[str, str]
    problem: ReportLine | None = None


@dataclass
class CsvFile:
    """The file read: its header (names as written, and lower-cased) and its records."""

    encoding: str
    delimiter: str
    header: list[str]
    records: list[Record]
    notices: list[ReportLine]


def csv_read(data: bytes, *, known: tuple[str, ...], required: tuple[str, ...]) -> CsvFile:
    """Decode, sniff and split the file into records keyed by lower-cased column names.

    Raises ``ImportFileError`` when the file cannot be read or a ``required`` column is
    missing. Unknown columns become ``CsvFile.notices`` (once each, line 1); a line with
    another number of values than the header has gets its ``Record.problem``. Empty lines
    are skipped."""
    text, encoding = text_decode(data)
    first = text.split("\n", 1)[0]
    delimiter = delimiter_sniff(first)
    rows = _rows(text, delimiter)
    try:
        header_line, header = next(rows)
    except StopIteration:
        raise ImportFileError(
            ReportLine(line=1, column="", value="", reason=_("The file is empty."))
        ) from None
    names = [name.strip().lstrip("\ufeff").lower() for name in header]
    notices: list[ReportLine] = []
    seen: set[str] = set()
    for raw, name in zip(header, names, strict=True):
        if name in seen:
            raise ImportFileError(
                ReportLine(
                    line=header_line,
                    column=raw.strip(),
                    value="",
                    reason=_("The column is in the header twice."),
                )
            )
        seen.add(name)
        if name and name not in known:
            notices.append(
                ReportLine(
                    line=header_line,
                    column=raw.strip(),
                    value="",
                    reason=_("Unknown column: its values are not imported."),
                )
            )
    for name in required:
        if name not in seen:
            raise ImportFileError(
                ReportLine(
                    line=header_line,
                    column=name,
                    value="",
                    reason=_("The column is missing from the header; every line needs it."),
                )
            )
    records: list[Record] = []
    # The known columns' positions, looked up once rather than per line.
    kept = [(index, name) for index, name in enumerate(names) if name in known]
    for line, values in rows:
        joined = "".join(values)
        if not joined.strip():  # only blanks: the same as no value but blanks
            continue
        if "\x00" in joined:  # PostgreSQL text cannot hold it: the line, not the run, fails
            nul_columns = (
                raw.strip() for raw, value in zip(header, values, strict=False) if "\x00" in value
            )
            column = next(nul_columns, "")
            problem = ReportLine(
                line=line,
                column=column,
                value=delimiter.join(values).replace("\x00", "\\0")[:80],
                reason=_("The line has a NUL character (shown as \\0), which text cannot hold."),
            )
            records.append(Record(line=line, values={}, problem=problem))
            continue
        if len(values) != len(names):
            extra = values[len(names) :]
            if len(values) > len(names) and not any(value.strip() for value in extra):
                values = values[: len(names)]  # separators at the end of the line
            else:
                problem = ReportLine(
                    line=line,
                    column="",
                    value=delimiter.join(values),
                    reason=_(
                        "The line has %(found)d values but the header has %(expected)d "
                        "columns (a value with the separator in it needs quotes)."
                    )
                    % {"found": len(values), "expected": len(names)},
                )
                records.append(Record(line=line, values={}, problem=problem))
                continue
        records.append(
            Record(line=line, values={name: values[index].strip() for index, name in kept})
        )
    return CsvFile(
        encoding=encoding,
        delimiter=delimiter,
        header=[raw.strip() for raw in header],
        records=records,
        notices=notices,
    )


def _rows(text: str, delimiter: str) -> Iterator[tuple[int, list[str]]]:
    """The file's rows with the line each starts on (a quoted value may span lines)."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    previous = 0
    while True:
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise ImportFileError(
                ReportLine(
                    line=previous + 1,
                    column="",
                    value="",
                    reason=_("The line cannot be read: %(error)s") % {"error": exc},
                )
            ) from exc
        start = previous + 1
        previous = reader.line_num
        yield start, values


# --- values ------------------------------------------------------------------------------------

_DATE = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")
_DATETIME = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})[ T](\d{1,2})[:.](\d{2})(?:[:.](\d{2}))?$")


def date_parse(value: str) -> datetime.date | None:
    """``2024-03-01`` as a date; ``None`` for anything else."""
    if len(value) == 10 and value[4] == "-" and value[7] == "-" and value.isascii():
        # The common form, read in C (the same answer as the pattern below).
        try:
            return datetime.date.fromisoformat(value)
        except ValueError:
            return None
    match = _DATE.match(value)
    if match is None:
        return None
    try:
        return datetime.date(*(int(part) for part in match.groups()))
    except ValueError:
        return None


def datetime_parse(value: str) -> datetime.datetime | None:
    """``2024-03-01`` (midnight) or ``2024-03-01 14:05`` (seconds allowed), Swedish time,
    as an aware datetime; ``None`` for anything else."""
    if len(value) == 16 and value[10] == " " and value[13] == ":" and value.isascii():
        # "2024-03-01 14:05", read in C (first: sixteen characters are never a date alone)
        try:
            return datetime.datetime.fromisoformat(value).replace(tzinfo=FILE_TIME_ZONE)
        except ValueError:
            pass  # the pattern below decides
    else:
        day = date_parse(value)
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


# "1 234,50", "1234.50", "1234,5", "1234", "-12,00": spaces (also no-break and narrow
# no-break spaces) group thousands, a comma or a dot before one or two digits is the decimal
# mark. "1.500" and "1,500" are refused rather than guessed: in some systems the mark before
# three digits groups thousands, in others it is a decimal point.
_AMOUNT = re.compile(r"^([+\-\u2212]?)(\d{1,3}(?: \d{3})+|\d+)(?:[,.](\d{1,2}))?$")


def amount_parse(value: str) -> int | None:
    """An amount in kronor as öre (``"1 234,50"`` -> 123450), negative allowed; ``None`` for
    anything else (see ``_AMOUNT``)."""
    text = value.replace("\u00a0", " ").replace("\u202f", " ").strip()
    match = _AMOUNT.match(text)
    if match is None:
        return None
    sign, digits, fraction = match.groups()
    ore = int(digits.replace(" ", "")) * 100 + int((fraction or "0").ljust(2, "0"))
    return -ore if sign in ("-", "\u2212") else ore
