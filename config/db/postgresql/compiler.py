"""Django's PostgreSQL compilers, with a long ``__in`` list as ``= ANY(%s)``.

``pk__in=ids`` with more than ``IN_LIST_MAX`` values becomes ``"id" = ANY(%s::bigint[])``
with one parameter, the list, which psycopg sends as one array. Django's
``"id" IN (%s, %s, ...)`` is one parameter per value, which PostgreSQL refuses beyond
65,535 once they are bound on the server, and a new statement text for every length.

The rewrite happens in ``compile()``, so it covers every field and relation that uses
Django's ``In`` and ``RelatedIn`` (filters, ``exclude``, the delete collector,
``prefetch_related``, ``in_bulk``, many-to-many managers), on connections of this backend
only, without registering lookups on Django's field classes. Everything else is Django's
own rendering: lookups that subclass ``In`` with rules of their own (ArrayField's, JSON key
transforms'), subqueries and expressions, values rendered with a placeholder other than
``%s`` (bilateral transforms such as ``unaccent``), and values that are not all of one
plain scalar type (a list of lists would become a two-dimensional array, which ``ANY``
would flatten; psycopg refuses an array of mixed types).
"""

from __future__ import annotations

import datetime
import decimal
import functools
import uuid
from typing import Any

from django.core.exceptions import EmptyResultSet
from django.db.backends.postgresql import compiler  # type: ignore[attr-defined]
from django.db.models.expressions import ColPairs  # type: ignore[attr-defined]
from django.db.models.fields.related_lookups import RelatedIn
from django.db.models.lookups import In
from django.db.models.sql import compiler as sql_compiler
from django.utils.datastructures import OrderedSet

__all__ = [
    "SQLAggregateCompiler",
    "SQLCompiler",
    "SQLDeleteCompiler",
    "SQLInsertCompiler",
    "SQLUpdateCompiler",
    "in_as_any",
]

# Exactly these lookup classes: a subclass may render its values its own way.
IN_LOOKUPS = frozenset({In, RelatedIn})
# Up to this many values Django's "IN (%s, ...)" stays. Short lists are mostly constants
# (statuses, kinds), one prepared statement each, which PostgreSQL plans once; "= ANY($1)"
# it plans again on every run when the arrays are short. Primary key lookups, prepared,
# PostgreSQL CPU per query: 1-5 values IN 0.07-0.10 ms, ANY 0.12-0.13 ms; 10 values IN
# 0.18, ANY 0.09; 20 values IN 0.23, ANY 0.12 (docs/architecture.md, "Decisions").
IN_LIST_MAX = 8
# Python types psycopg sends as a one-dimensional array whose elements compare with the
# column as the values themselves do (tests/database/test_in_lookup.py, per type).
# Subclasses count as their base: TextChoices and IntegerChoices members are str and int.
ARRAY_SCALARS = frozenset(
    {
        int,
        bool,
        float,
        decimal.Decimal,
        str,
        bytes,
        uuid.UUID,
        datetime.date,
        datetime.datetime,
        datetime.time,
        datetime.timedelta,
    }
)
# Django hands integer fields' values to psycopg typed (Int2, Int4, Int8), but primary keys
# and the foreign keys to them as plain ints, which psycopg sends as smallint[], integer[]
# or bigint[] by the largest value. Compared with a column of another integer type
# PostgreSQL cannot hash the array: NOT (id = ANY(...)) over 70,000 ids took 8 s instead
# of 13 ms. So the array is cast to the column's type whenever every value fits in it.
INTEGER_BOUNDS = {"smallint": 2**15, "integer": 2**31, "bigint": 2**63}


@functools.cache
def _array_scalar(kind: type) -> type | None:
    return next((base for base in kind.__mro__ if base in ARRAY_SCALARS), None)


def _array_cast(lookup: In, connection: Any, scalar: type, values: list[Any]) -> str:
    if scalar is not int:
        return ""  # strings go untyped: PostgreSQL reads them as the column's type
    db_type = lookup.lhs.output_field.db_type(connection)
    bound = INTEGER_BOUNDS.get(db_type)
    if bound is None or min(values) < -bound or max(values) >= bound:
        return ""  # a value the column cannot hold matches nothing, as with Django's IN
    return f"::{db_type}[]"


def in_as_any(lookup: In, compiler: Any, connection: Any) -> tuple[str, list[Any]] | None:
    """``lookup`` as ``lhs = ANY(%s)`` with its values as one list parameter, or None for
    Django's own rendering. Django's meaning is kept: None is dropped from the values (NULL
    equals nothing) and an empty list raises ``EmptyResultSet``."""
    if not lookup.rhs_is_direct_value() or isinstance(lookup.lhs, ColPairs):
        return None
    try:
        distinct = OrderedSet(lookup.rhs)
    except TypeError:  # unhashable values
        return None
    distinct.discard(None)
    if not distinct:
        raise EmptyResultSet
    if len(distinct) <= IN_LIST_MAX:
        return None
    sqls, params = lookup.batch_process_rhs(compiler, connection, distinct)
    if len(params) != len(sqls) or any(sql != "%s" for sql in sqls):
        return None
    scalars = {_array_scalar(kind) for kind in {type(param) for param in params}}
    scalar = scalars.pop()
    if scalars or scalar is None:
        return None
    values = list(params)
    cast = _array_cast(lookup, connection, scalar, values)
    lhs_sql, lhs_params = lookup.process_lhs(compiler, connection)
    return f"{lhs_sql} = ANY(%s{cast})", [*lhs_params, values]


class AnyInMixin:
    def compile(self, node: Any) -> tuple[str, Any]:
        if type(node) in IN_LOOKUPS:
            rendered = in_as_any(node, self, self.connection)  # type: ignore[attr-defined]
            if rendered is not None:
                return rendered
        return super().compile(node)  # type: ignore[misc]


class SQLCompiler(AnyInMixin, compiler.SQLCompiler):
    pass


class SQLInsertCompiler(AnyInMixin, compiler.SQLInsertCompiler):
    pass


class SQLDeleteCompiler(AnyInMixin, sql_compiler.SQLDeleteCompiler):
    pass


class SQLUpdateCompiler(AnyInMixin, sql_compiler.SQLUpdateCompiler):
    pass


class SQLAggregateCompiler(AnyInMixin, sql_compiler.SQLAggregateCompiler):
    pass
