"""Find a member's identifiers in free text and JSON, and replace them (erasure).

Staff notes, references a till or web shop sent, admin log lines and uploaded lists are text
that may hold a member's email, phone, name or membership number in any spelling. Erasure
keeps those rows (they are the books or the audit trail) and replaces the identifiers in
them: ``identifier_regex`` matches every spelling, ``scrub`` replaces the matches in a
string or, recursively, in a JSON value.

The pattern is written in the subset of regular expressions that Python's ``re`` and
PostgreSQL's ``~*`` read the same way, so the database finds the rows (``__iregex``) and
Python rewrites them.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass
from typing import Any

ERASED = "[erased]"
_SEP = "[ .-]?"  # what people put between digits: 070-123 45 67, 4711 000 011


def _digits(digits: str) -> str:
    """Those digits with an optional space, dot or dash between any two."""
    return _SEP.join(digits)


def _words(text: str) -> str:
    return r"\s+".join(re.escape(part) for part in text.split())


@dataclass(frozen=True)
class Identifiers:
    email: str = ""
    phone: str = ""  # E.164, as stored: +46701234567
    membership_number: str = ""
    first_name: str = ""
    last_name: str = ""
    birth_date: datetime.date | None = None

    def strong(self) -> list[str]:
        """Patterns that name this member and nobody else: email, phone, number, full name,
        birth date written out in full."""
        parts = []
        if self.email:
            parts.append(re.escape(self.email))
        if self.phone.startswith("+") and len(self.phone) > 6:
            national = self.phone[3:] if self.phone.startswith("+46") else self.phone[1:]
            if self.phone.startswith("+46"):
                parts.append(f"(\\+{_SEP}46|0046|0){_SEP}{_digits(national)}")
            else:
                parts.append(f"(\\+|00){_digits(self.phone[1:])}")
        elif self.phone:
            parts.append(_digits(re.sub(r"\D", "", self.phone)))
        number = re.sub(r"\D", "", self.membership_number)
        if len(number) >= 6:
            parts.append(_digits(number))
        if self.first_name and self.last_name:
            parts.append(_words(f"{self.first_name} {self.last_name}"))
        if self.birth_date:
            parts.append(self.birth_date.isoformat())
            parts.append(self.birth_date.strftime("%Y%m%d"))
        return parts

    def names(self) -> list[str]:
        """First and last name on their own: replaced only in rows that belong to the member
        or that another identifier already tied to them (a common name alone is not proof)."""
        return [re.escape(n) for n in (self.first_name, self.last_name) if len(n) >= 2]


def identifier_regex(ids: Identifiers, *, names: bool = False) -> str:
    """One alternation of every pattern ('' when the member has no identifier left)."""
    parts = ids.strong() + (ids.names() if names else [])
    return "|".join(f"({p})" for p in parts)


def scrub(value: Any, regex: str, replacement: str = ERASED) -> Any:
    """``value`` with every match of ``regex`` (case-insensitive) replaced, through JSON."""
    if not regex:
        return value
    compiled = re.compile(regex, re.IGNORECASE)
    return _scrub(value, compiled, replacement)


def _scrub(value: Any, compiled: re.Pattern[str], replacement: str) -> Any:
    if isinstance(value, str):
        return compiled.sub(replacement, value)
    if isinstance(value, list):
        return [_scrub(v, compiled, replacement) for v in value]
    if isinstance(value, dict):
        return {
            _scrub(k, compiled, replacement): _scrub(v, compiled, replacement)
            for k, v in value.items()
        }
    return value
