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

import datetime
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


# --- querysets compiled once ----------------------------------------------------------------

# Stand-ins for the per-call values while a queryset is compiled: two sets, so that the
# parameters that change between the two compilations are known to be the stand-ins (and no
# other number of the query that happens to be equal). Small enough for any integer column.
_STAND_INS = (20_011, 20_111)
_EPOCH = datetime.datetime(2001, 2, 3, 4, 5, 6, tzinfo=datetime.UTC)


class CompiledQuery(Generic[M]):
    """A queryset built and compiled by the ORM once per process and database, then run with
    new values for its named parameters: the member pages' hot reads, whose compilation cost
    more CPU than PostgreSQL spent answering them (docs/benchmarks.md "Member pages").

    ``build`` makes the queryset from its parameters (``build(member_id=..., limit=...)``);
    it is called twice with stand-in integers, which must reach the SQL as parameters of their
    own (``member_id=x``, ``rank__lte=x``: yes; ``__in`` lists, slices: no; compiling checks).
    Rows become the queryset's own instances (``select_related`` relations, annotations and
    field converters included), as iterating the queryset would make them. The queryset must
    not depend on anything but its parameters (no ``now()``, no settings read per call).
    """

    def __init__(
        self,
        build: Callable[..., Any],
        *names: str,
        lists: Sequence[str] = (),
        datetimes: Sequence[str] = (),
    ) -> None:
        self.build = build
        self.names = names
        # Names whose values are lists of integers (``pk__in=ids``): the project's backend
        # (config.db.postgresql) sends a list longer than IN_LIST_MAX as one array parameter,
        # ``= ANY(%s)``, the same statement for any length; their stand-ins are that long.
        self.lists = frozenset(lists)
        # Names whose values are aware datetimes (``created_at__gte=since``).
        self.datetimes = frozenset(datetimes)
        self._compiled: dict[str, tuple[Any, ...]] = {}

    def _stand_in(self, name: str, value: int) -> Any:
        if name in self.lists:
            return [value * 100 + k for k in range(12)]
        if name in self.datetimes:
            return _EPOCH + datetime.timedelta(seconds=value)
        return value

    def _stand_ins(self, base: int) -> dict[str, Any]:
        return {name: self._stand_in(name, base + n) for n, name in enumerate(self.names)}

    def _compile(self, alias: str) -> tuple[Any, ...]:
        from django.db.models.query import get_related_populators  # type: ignore[attr-defined]

        builds = []
        for base in _STAND_INS:
            stand_ins = self._stand_ins(base)
            queryset = self.build(**stand_ins)
            if queryset._prefetch_related_lookups or queryset._known_related_objects:
                raise ValueError("prefetch_related and related managers' querysets: not supported")
            compiler = queryset.query.get_compiler(using=alias)
            sql, params = compiler.as_sql()
            builds.append((stand_ins, compiler, sql, list(params)))
        (stand_ins, compiler, sql, params), (other_ins, _c, other_sql, other_params) = builds

        def name_of(param: Any) -> str | None:
            return next((name for name, value in stand_ins.items() if value == param), None)

        slots = [
            (index, name_of(param))
            for index, (param, other) in enumerate(zip(params, other_params, strict=True))
            if param != other
        ]
        if (
            sql != other_sql
            or any(name is None or other_params[index] != other_ins[name] for index, name in slots)
            or {name for _index, name in slots} != set(self.names)
        ):
            raise ValueError(f"{self.names}: each must reach the SQL as a parameter of its own")
        # The fields' converters, found once (results_iter would look them up on every run).
        converters = compiler.get_converters(
            [column[0] for column in compiler.select[0 : compiler.col_count]]
        )
        if self.values_only:
            compiled: tuple[Any, ...] = (
                sql,
                params,
                slots,
                compiler,
                converters,
                self._names_of(queryset.query),
            )
            self._compiled[alias] = compiled
            return compiled
        klass_info = compiler.klass_info
        select = compiler.select
        first, last = klass_info["select_fields"][0], klass_info["select_fields"][-1] + 1
        compiled = (
            sql,
            params,
            slots,
            compiler,
            klass_info["model"],
            [column[0].target.attname for column in select[first:last]],
            (first, last),
            get_related_populators(klass_info, select, alias),
            compiler.annotation_col_map,
            converters,
        )
        self._compiled[alias] = compiled
        return compiled

    values_only = False

    @staticmethod
    def _rows(
        using: str,
        sql: str,
        params: list[Any],
        slots: list[tuple[int, str]],
        values: dict[str, Any],
        compiler: Any,
        converters: dict[int, Any],
    ) -> Any:
        """The rows of the compiled statement run with ``values``, converted as
        ``compiler.results_iter`` converts them."""
        bound = list(params)
        for index, name in slots:
            bound[index] = values[name]
        with connections[using].cursor() as cursor:
            cursor.execute(sql, bound)
            rows = cursor.fetchall()
        if compiler.has_extra_select:
            rows = [row[: compiler.col_count] for row in rows]
        return compiler.apply_converters(rows, converters) if converters else rows

    @staticmethod
    def _names_of(query: Any) -> list[str]:
        return [*query.extra_select, *query.values_select, *query.annotation_select]

    def __call__(self, *, using: str = "default", **values: Any) -> list[M]:
        compiled = self._compiled.get(using) or self._compile(using)
        (
            sql,
            params,
            slots,
            compiler,
            model,
            attnames,
            (first, last),
            populators,
            annotations,
            converters,
        ) = compiled
        out = []
        for row in self._rows(using, sql, params, slots, values, compiler, converters):
            obj = model.from_db(using, attnames, row[first:last])
            for populator in populators:
                populator.populate(row, obj)
            for attr, position in (annotations or {}).items():
                setattr(obj, attr, row[position])
            out.append(obj)
        return out


class CompiledValues(CompiledQuery[Any]):
    """:class:`CompiledQuery` for a ``.values(...)`` queryset: the rows as the dicts that
    iterating the queryset makes (the fields' converters applied). A slice is no parameter
    (``LIMIT 20 OFFSET 40`` is part of the SQL): keep one per slice."""

    values_only = True

    def __call__(self, *, using: str = "default", **values: Any) -> list[dict[str, Any]]:
        compiled = self._compiled.get(using) or self._compile(using)
        sql, params, slots, compiler, converters, names = compiled
        return [
            dict(zip(names, row, strict=True))
            for row in self._rows(using, sql, params, slots, values, compiler, converters)
        ]
