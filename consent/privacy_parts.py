"""What each app contributes to export, erasure, the "my data" page and retention.

consent sits below rewards and campaigns, so it cannot import them. Instead each app has a
``<app>/privacy.py`` whose ``register()`` adds its parts here, called from the app's own
``AppConfig.ready`` (consent registers members' parts with its own). The contract is in
docs/privacy.md:

- ``export_section_register``: one JSON and one CSV file in the member's export ZIP.
- ``erasure_step_register``: anonymise or delete the app's personal data of one member.
  Runs inside the erasure transaction with the member row locked; must be idempotent.
- ``page_section_register``: a group of facts on the "my data" page (segments, messages).
- ``retention_job_register``: purge the app's data past its retention; nightly, idempotent.
- ``free_text_register``: text and JSON fields that may hold a member's identifiers
  (references, notes, import reports); erasure replaces the identifiers in them.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db import models

from members.models import Member

Row = dict[str, Any]


@dataclass(frozen=True)
class ExportSection:
    name: str  # file stem in the ZIP: ``<name>.json`` and ``<name>.csv``
    title: str
    rows: Callable[[Member], Iterable[Row]]
    # The model whose fields the rows carry (one key per field name), so the export can be
    # checked against the processing register. None for derived sections.
    model: type[models.Model] | None = None
    order: int = 100


@dataclass(frozen=True)
class ErasureStep:
    name: str
    run: Callable[[Member], None]
    order: int = 100


@dataclass(frozen=True)
class PageSection:
    """Rows of label -> value shown as a table on the "my data" page."""

    name: str
    title: str
    rows: Callable[[Member], list[dict[str, str]]]
    description: str = ""
    empty_text: str = ""
    order: int = 100
    columns: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class RetentionJob:
    name: str
    run: Callable[[datetime.datetime], int]  # (now) -> rows purged


@dataclass(frozen=True)
class FreeText:
    """Text or JSON fields of ``model`` in which erasure replaces a member's identifiers.

    ``member_path``: the lookup from ``model`` to the member; only that member's rows are
    searched, and their first and last names are replaced too. None: every row is searched
    (small tables: uploads, staff notes), for the member's strong identifiers (email, phone,
    membership number, full name). ``unique``: the fields are unique keys, so a replaced
    value gets the row's id to stay unique."""

    model: type[models.Model]
    fields: tuple[str, ...]
    member_path: str | None = None
    unique: bool = False

    @property
    def name(self) -> str:
        return f"{self.model._meta.label}.{'/'.join(self.fields)}"


_export: dict[str, ExportSection] = {}
_free_text: dict[str, FreeText] = {}
_erasure: dict[str, ErasureStep] = {}
_page: dict[str, PageSection] = {}
_retention: dict[str, RetentionJob] = {}


def export_section_register(
    *,
    name: str,
    title: Any,
    rows: Callable[[Member], Iterable[Row]],
    model: type[models.Model] | None = None,
    order: int = 100,
) -> None:
    _export[name] = ExportSection(name=name, title=title, rows=rows, model=model, order=order)


def erasure_step_register(*, name: str, run: Callable[[Member], None], order: int = 100) -> None:
    _erasure[name] = ErasureStep(name=name, run=run, order=order)


def page_section_register(
    *,
    name: str,
    title: Any,
    rows: Callable[[Member], list[dict[str, str]]],
    columns: list[Any],
    description: Any = "",
    empty_text: Any = "",
    order: int = 100,
) -> None:
    _page[name] = PageSection(
        name=name,
        title=title,
        rows=rows,
        columns=list(columns),
        description=description,
        empty_text=empty_text,
        order=order,
    )


def retention_job_register(*, name: str, run: Callable[[datetime.datetime], int]) -> None:
    _retention[name] = RetentionJob(name=name, run=run)


def free_text_register(
    *,
    model: type[models.Model],
    fields: Iterable[str],
    member_path: str | None = None,
    unique: bool = False,
) -> None:
    entry = FreeText(model=model, fields=tuple(fields), member_path=member_path, unique=unique)
    _free_text[entry.name] = entry


def free_texts() -> list[FreeText]:
    return sorted(_free_text.values(), key=lambda f: f.name)


def export_sections() -> list[ExportSection]:
    return sorted(_export.values(), key=lambda s: (s.order, s.name))


def erasure_steps() -> list[ErasureStep]:
    return sorted(_erasure.values(), key=lambda s: (s.order, s.name))


def page_sections() -> list[PageSection]:
    return sorted(_page.values(), key=lambda s: (s.order, s.name))


def retention_jobs() -> list[RetentionJob]:
    return sorted(_retention.values(), key=lambda j: j.name)


def model_row(obj: models.Model, *, exclude: Iterable[str] = ()) -> Row:
    """Every concrete field of ``obj`` by field name, as JSON-ready values (relations as ids)."""
    row: Row = {}
    skip = set(exclude)
    for f in obj._meta.concrete_fields:
        if f.name in skip:
            continue
        value = getattr(obj, f.attname)
        row[f.name] = _plain(value)
    for f in obj._meta.many_to_many:
        if f.name not in skip:
            row[f.name] = sorted(getattr(obj, f.name).values_list("pk", flat=True))
    return row


def _plain(value: Any) -> Any:
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, str | int | float | bool | list | dict) or value is None:
        return value
    return str(value)
