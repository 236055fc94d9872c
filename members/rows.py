"""The few statements on the till's hot path, written once per process instead of compiled
by the ORM on every call.

Recording a purchase reads the API key (with its store) and the member (with their tier)
and appends a timeline event on every request. Building and compiling those querysets cost
the web process more CPU than the database spends answering them (docs/benchmarks.md), so
these statements are written once per process from the models' own metadata: column and
table names are never typed by hand, and a field added to a model is read and written
without a change here.

- ``RowReader``: rows become ordinary model instances through ``Model.from_db``, with the
  fields' own database converters (JSONField, ...): the instances the queryset would have
  built. ``relation_cache`` puts a joined instance where ``select_related`` puts it.
- ``RowInserter``: ``INSERT ... RETURNING`` the primary key, the values prepared by each
  field as ``Model.save`` prepares them (defaults, ``auto_now_add``, JSON). Like
  ``bulk_create`` it sends no ``pre_save``/``post_save`` signals; use it only for models
  nothing listens to.

Everything else uses the ORM; tests compare each statement with its queryset.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Field, Model
from django.db.models.fields import AutoFieldMixin

M = TypeVar("M", bound=Model)


@dataclass(frozen=True)
class _Layout:
    select: str  # 'k."id", k."store_id", ...'
    attnames: list[str]
    pk_index: int
    converters: list[tuple[int, Any, list[Callable[..., Any]]]]  # (index, column, functions)


class RowReader(Generic[M]):
    """Every concrete column of ``model`` under the SQL alias ``alias``, and the instance
    built back from those columns of a row."""

    def __init__(self, model: type[M], alias: str) -> None:
        self.model = model
        self.alias = alias
        self._layouts: dict[str, _Layout] = {}

    def layout(self, connection: BaseDatabaseWrapper) -> _Layout:
        layout = self._layouts.get(connection.alias)
        if layout is None:
            fields = self.model._meta.concrete_fields
            quote = connection.ops.quote_name
            converters = []
            for index, field in enumerate(fields):
                column = field.get_col(self.alias)
                functions = connection.ops.get_db_converters(column) + column.get_db_converters(
                    connection
                )
                if functions:
                    converters.append((index, column, functions))
            layout = self._layouts[connection.alias] = _Layout(
                select=", ".join(f"{self.alias}.{quote(field.column)}" for field in fields),
                attnames=[field.attname for field in fields],
                pk_index=[field.primary_key for field in fields].index(True),
                converters=converters,
            )
        return layout

    @property
    def width(self) -> int:
        return len(self.model._meta.concrete_fields)

    def build(self, row: Sequence[Any], start: int, connection: BaseDatabaseWrapper) -> M | None:
        """The instance in ``row[start:start + width]``; None for an outer join's empty side."""
        layout = self.layout(connection)
        values = list(row[start : start + len(layout.attnames)])
        if values[layout.pk_index] is None:
            return None
        for index, column, functions in layout.converters:
            for function in functions:
                values[index] = function(values[index], column, connection)
        return self.model.from_db(connection.alias, layout.attnames, values)


class RowInserter(Generic[M]):
    """``INSERT`` of one ``model`` instance, its primary key set from ``RETURNING``."""

    def __init__(self, model: type[M]) -> None:
        self.model = model
        # Every column but a serial primary key, which the database assigns.
        self._fields = [
            field
            for field in model._meta.concrete_fields
            if not (field.primary_key and isinstance(field, AutoFieldMixin))
        ]
        self._sql: dict[str, str] = {}

    def _statement(self, connection: BaseDatabaseWrapper) -> str:
        sql = self._sql.get(connection.alias)
        if sql is None:
            quote = connection.ops.quote_name
            pk = self.model._meta.pk
            assert pk is not None
            sql = self._sql[connection.alias] = (
                f"INSERT INTO {quote(self.model._meta.db_table)} "  # noqa: S608 - identifiers from metadata
                f"({', '.join(quote(field.column) for field in self._fields)}) "
                f"VALUES ({', '.join(['%s'] * len(self._fields))}) "
                f"RETURNING {quote(pk.column)}"
            )
        return sql

    def insert(self, instance: M, *, using: str = "default") -> M:
        connection = connections[using]
        values = [
            field.get_db_prep_save(field.pre_save(instance, True), connection)
            for field in self._fields
        ]
        row = fetch_one(self._statement(connection), values, using=using)
        assert row is not None
        instance.pk = row[0]
        instance._state.adding = False
        instance._state.db = using
        return instance


def column(model: type[Model], name: str, connection: BaseDatabaseWrapper) -> str:
    """The quoted column of ``model``'s field ``name`` ("pk" for the primary key)."""
    field = model._meta.pk if name == "pk" else model._meta.get_field(name)
    assert isinstance(field, Field)
    return connection.ops.quote_name(field.column)


def table(model: type[Model], connection: BaseDatabaseWrapper) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def fetch_one(sql: str, params: Sequence[Any], *, using: str = "default") -> tuple[Any, ...] | None:
    """The first row of ``sql``, on the connection ``using``."""
    with connections[using].cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()


def relation_cache(instance: Model, accessor: str, value: Model | None) -> None:
    """Put ``value`` where ``instance.<accessor>`` finds it without a query, as
    ``select_related`` does (None: a reverse one-to-one that does not exist)."""
    instance._meta.get_field(accessor).set_cached_value(instance, value)  # type: ignore[union-attr]
